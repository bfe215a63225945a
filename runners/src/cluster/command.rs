//! The `command` provider: shell commands of the operator's choice make and delete the
//! cluster.

use std::path::{Path, PathBuf};

use futures::FutureExt as _;
use futures::future::BoxFuture;
use tokio::process::Command;

use super::{
    Cluster, ClusterHandle, ClusterProvider, ClusterSpec, DELETE_TIMEOUT, ProviderKind,
    ProviderOptions, clean_up_failed_create, cluster, create_dir, run_step, wrong_provider,
};
use crate::errors::ClusterError;

/// Clusters made by `sh -c CREATE_COMMAND` and deleted by `sh -c DELETE_COMMAND`.
pub(super) struct CommandProvider {
    options: ProviderOptions,
}

/// `sh -c SCRIPT` in the cluster's folder with the cluster's variables.
fn shell(script: &str, name: &str, dir: &Path, kubeconfig: Option<&Path>) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("CHORALE_CLUSTER_NAME", name)
        .env("CHORALE_CLUSTER_DIR", dir);
    if let Some(kubeconfig) = kubeconfig {
        command.env("CHORALE_KUBECONFIG", kubeconfig);
    }
    command
}

impl CommandProvider {
    pub(super) fn new(options: ProviderOptions) -> Self {
        Self { options }
    }

    fn configured(
        value: Option<&String>,
        what: &'static str,
        hint: &'static str,
    ) -> Result<String, ClusterError> {
        value
            .filter(|script| !script.trim().is_empty())
            .cloned()
            .ok_or(ClusterError::NotConfigured {
                provider: ProviderKind::Command,
                what,
                hint,
            })
    }

    async fn provision(&self, spec: &ClusterSpec) -> Result<Cluster, ClusterError> {
        let create = Self::configured(
            self.options.create_command.as_ref(),
            "a create command",
            "set create_command: a shell command that makes the cluster and prints its kubeconfig path as its last line",
        )?;
        let delete = Self::configured(
            self.options.delete_command.as_ref(),
            "a delete command",
            "set delete_command: a shell command that deletes the cluster (and succeeds when it is already gone)",
        )?;
        create_dir(spec)?;
        let mut command = shell(&create, &spec.name, &spec.dir, None);
        let created = run_step(&spec.name, &mut command, spec.create_timeout).await;
        let kubeconfig = created.and_then(|finished| {
            kubeconfig_path(&finished.stdout, &spec.dir).map_err(|message| {
                ClusterError::UnexpectedOutput {
                    name: spec.name.clone(),
                    command: format!("sh -c {create}"),
                    message,
                }
            })
        });
        let kubeconfig = match kubeconfig {
            Ok(kubeconfig) => kubeconfig,
            Err(error) => {
                let mut command = shell(&delete, &spec.name, &spec.dir, None);
                clean_up_failed_create(&spec.name, &mut command).await;
                return Err(error);
            }
        };
        Ok(cluster(
            ProviderKind::Command,
            spec,
            kubeconfig.clone(),
            None,
            ClusterHandle::Command {
                delete_command: delete,
                dir: spec.dir.clone(),
                kubeconfig,
            },
        ))
    }
}

/// The kubeconfig path a create command printed as its last non-blank line (relative paths
/// are relative to the cluster's folder); it must be a file.
fn kubeconfig_path(stdout: &str, dir: &Path) -> Result<PathBuf, String> {
    let line = stdout
        .lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty())
        .ok_or("printed nothing; its last line must be the kubeconfig path")?;
    let path = dir.join(line);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "printed `{line}` as the kubeconfig path, but {} is not a file",
            path.display()
        ))
    }
}

impl ClusterProvider for CommandProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Command
    }

    fn provision<'a>(
        &'a self,
        spec: &'a ClusterSpec,
    ) -> BoxFuture<'a, Result<Cluster, ClusterError>> {
        self.provision(spec).boxed()
    }

    fn teardown<'a>(&'a self, cluster: &'a Cluster) -> BoxFuture<'a, Result<(), ClusterError>> {
        async move {
            let ClusterHandle::Command {
                delete_command,
                dir,
                kubeconfig,
            } = &cluster.handle
            else {
                return Err(wrong_provider(ProviderKind::Command, cluster));
            };
            // The folder may be gone already; the command then runs where chorale runs.
            let mut command = shell(delete_command, &cluster.name, dir, Some(kubeconfig));
            if !dir.is_dir() {
                command.current_dir(".");
            }
            run_step(&cluster.name, &mut command, DELETE_TIMEOUT)
                .await
                .map(drop)
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::kubeconfig_path;

    #[test]
    fn the_last_printed_line_names_an_existing_kubeconfig() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kubeconfig"), "{}").unwrap();
        assert_eq!(
            kubeconfig_path("starting\nkubeconfig\n\n", dir.path()).unwrap(),
            dir.path().join("kubeconfig")
        );
        let absolute = dir.path().join("kubeconfig").display().to_string();
        assert_eq!(
            kubeconfig_path(&absolute, Path::new("/elsewhere")).unwrap(),
            dir.path().join("kubeconfig")
        );
        assert_eq!(
            kubeconfig_path(" \n", dir.path()).unwrap_err(),
            "printed nothing; its last line must be the kubeconfig path"
        );
        assert!(
            kubeconfig_path("missing.yaml", dir.path())
                .unwrap_err()
                .starts_with("printed `missing.yaml` as the kubeconfig path, but ")
        );
    }
}
