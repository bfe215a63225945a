//! The host cluster's kubeconfig for `existing` and `vcluster`: found (option, `$KUBECONFIG`,
//! `~/.kube/config`), its context chosen, and copied into the cluster's folder so that the
//! cluster's record works on its own, in any process.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use ::kube::config::Kubeconfig;

use super::{ProviderKind, ProviderOptions};
use crate::errors::ClusterError;

/// Where the host kubeconfig comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// One file.
    File(PathBuf),
    /// A `$KUBECONFIG` list of files, merged the way kubectl merges them.
    List(OsString),
}

impl Source {
    /// For messages.
    fn path(&self) -> PathBuf {
        match self {
            Self::File(path) => path.clone(),
            Self::List(list) => PathBuf::from(list),
        }
    }
}

/// The kubeconfig option, else a non-empty `$KUBECONFIG`, else `HOME/.kube/config` if it
/// exists.
fn locate(
    explicit: Option<&Path>,
    variable: Option<OsString>,
    home: Option<PathBuf>,
) -> Option<Source> {
    if let Some(path) = explicit {
        return Some(Source::File(path.to_owned()));
    }
    if let Some(list) = variable.filter(|list| !list.is_empty()) {
        return Some(Source::List(list));
    }
    home.map(|home| home.join(".kube/config"))
        .filter(|path| path.is_file())
        .map(Source::File)
}

fn read(source: &Source) -> Result<Kubeconfig, ::kube::config::KubeconfigError> {
    match source {
        Source::File(path) => Kubeconfig::read_from(path),
        Source::List(list) => std::env::split_paths(list)
            .filter(|path| !path.as_os_str().is_empty())
            .try_fold(Kubeconfig::default(), |merged, path| {
                Kubeconfig::read_from(path).and_then(|next| merged.merge(next))
            }),
    }
}

/// Makes `config` use `context` (which must exist), or checks it has a current context.
fn choose_context(
    config: &mut Kubeconfig,
    context: Option<&str>,
    source: &Source,
) -> Result<(), ClusterError> {
    let fail = |message: String| ClusterError::Kubeconfig {
        path: source.path(),
        message,
    };
    match context {
        Some(context) => {
            if !config.contexts.iter().any(|named| named.name == context) {
                let names: Vec<&str> = config.contexts.iter().map(|c| c.name.as_str()).collect();
                return Err(fail(format!(
                    "has no context `{context}`; it has: {}",
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                )));
            }
            config.current_context = Some(context.to_owned());
            Ok(())
        }
        None if config.current_context.as_deref().is_none_or(str::is_empty) => Err(fail(
            "has no current-context; choose one with the context option".to_owned(),
        )),
        None => Ok(()),
    }
}

/// Writes the host kubeconfig, with the chosen context current, to `destination` (mode 0600,
/// JSON, which every kubeconfig reader accepts as YAML).
pub(super) fn copy_host(
    provider: ProviderKind,
    options: &ProviderOptions,
    name: &str,
    destination: &Path,
) -> Result<(), ClusterError> {
    let source = locate(
        options.kubeconfig.as_deref(),
        std::env::var_os("KUBECONFIG"),
        std::env::home_dir(),
    )
    .ok_or(ClusterError::NotConfigured {
        provider,
        what: "a kubeconfig for the host cluster",
        hint: "set the kubeconfig option or $KUBECONFIG, or create ~/.kube/config",
    })?;
    let mut config = read(&source).map_err(|error| ClusterError::Kubeconfig {
        path: source.path(),
        message: error.to_string(),
    })?;
    choose_context(&mut config, options.context.as_deref(), &source)?;
    config.kind.get_or_insert_with(|| "Config".to_owned());
    config.api_version.get_or_insert_with(|| "v1".to_owned());
    let text = serde_json::to_vec_pretty(&config).map_err(|error| ClusterError::Kubeconfig {
        path: source.path(),
        message: error.to_string(),
    })?;
    write_private(name, destination, &text)
}

/// Writes a file only its owner may read (kubeconfigs hold credentials).
pub(super) fn write_private(name: &str, path: &Path, contents: &[u8]) -> Result<(), ClusterError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(contents))
        .map_err(|error| ClusterError::Io {
            name: name.to_owned(),
            action: "write",
            path: path.to_owned(),
            message: error.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use ::kube::config::Kubeconfig;

    use super::{Source, choose_context, locate};

    #[test]
    fn the_option_wins_then_the_variable_then_the_home_file() {
        let home = tempfile::tempdir().unwrap();
        let explicit = Path::new("/etc/chorale/host.yaml");
        assert_eq!(
            locate(Some(explicit), Some("/a:/b".into()), None),
            Some(Source::File(explicit.to_owned()))
        );
        assert_eq!(
            locate(None, Some("/a:/b".into()), Some(home.path().to_owned())),
            Some(Source::List("/a:/b".into()))
        );
        assert_eq!(
            locate(None, Some("".into()), Some(home.path().to_owned())),
            None
        );
        std::fs::create_dir(home.path().join(".kube")).unwrap();
        std::fs::write(home.path().join(".kube/config"), "{}").unwrap();
        assert_eq!(
            locate(None, None, Some(home.path().to_owned())),
            Some(Source::File(home.path().join(".kube/config")))
        );
        assert_eq!(locate(None, None, None), None);
    }

    #[test]
    fn a_context_must_exist_and_becomes_current() {
        let mut config = Kubeconfig::from_yaml(
            "contexts:\n- name: a\n  context: {cluster: a}\n- name: b\n  context: {cluster: b}\ncurrent-context: a\n",
        )
        .unwrap();
        let source = Source::File(PathBuf::from("/host.yaml"));
        choose_context(&mut config, Some("b"), &source).unwrap();
        assert_eq!(config.current_context.as_deref(), Some("b"));
        let error = choose_context(&mut config, Some("c"), &source).unwrap_err();
        assert_eq!(
            error.to_string(),
            "kubeconfig /host.yaml: has no context `c`; it has: a, b"
        );
        config.current_context = None;
        let error = choose_context(&mut config, None, &source).unwrap_err();
        assert_eq!(
            error.to_string(),
            "kubeconfig /host.yaml: has no current-context; choose one with the context option"
        );
    }
}
