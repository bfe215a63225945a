//! [`DemoProduct`]: the demo product of `product-manifests/demo`, published to a test's own
//! registry and git daemon by the same script the README's demo uses (`infra/demo/seed`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::errors::Error;
use crate::git::{GitDaemon, copy_tree};
use crate::helm::helm;
use crate::image::probe_binary;
use crate::process;
use crate::registry::Registry;
use crate::workspace_root;

/// The registry and git daemon the committed demo manifests name.
const DEMO_REGISTRY: &str = "127.0.0.1:5000";
const DEMO_GIT: &str = "127.0.0.1:9418";

/// The demo product, copied into a work directory with its URLs pointing at a test's
/// fixtures, and everything it names published there: git repositories (deterministic
/// commits), images (`demo/NAME:main`, `chorale/probe:VERSION`) and the OCI chart versions.
#[derive(Debug, Clone)]
pub struct DemoProduct {
    dir: PathBuf,
    commits: BTreeMap<(String, String), String>,
    charts: BTreeMap<(String, String), String>,
    images: BTreeMap<String, String>,
}

impl DemoProduct {
    /// Copies `product-manifests/demo` into `workdir` (created if needed), rewrites
    /// `127.0.0.1:5000` and `127.0.0.1:9418` in its manifests to `registry` and `git`, and runs
    /// `infra/demo/seed` against them. The registry must be anonymous.
    pub fn seed(registry: &Registry, git: &GitDaemon, workdir: &Path) -> Result<Self, Error> {
        let source = workspace_root().join("product-manifests/demo");
        copy_tree(&source, workdir)?;
        rewrite_manifests(workdir, &registry.host(), &git.host())?;

        let scratch = tempfile::Builder::new()
            .prefix("chorale-demo-seed-")
            .tempdir()
            .map_err(|source| Error::io("creating a temp dir in", std::env::temp_dir(), source))?;
        let script = workspace_root().join("infra/demo/seed");
        let output = process::run(
            Command::new(&script)
                .env("CHORALE_REGISTRY", registry.host())
                .env("CHORALE_GIT_BASE", git.base_dir())
                .env("CHORALE_DEMO_DIR", workdir)
                .env("CHORALE_PROBE_BIN", probe_binary()?)
                .env("CHORALE_HELM", helm()?)
                .env("CHORALE_BUILDAH_ROOT", scratch.path().join("buildah"))
                .env("HELM_CACHE_HOME", scratch.path().join("helm/cache"))
                .env("HELM_CONFIG_HOME", scratch.path().join("helm/config"))
                .env("HELM_DATA_HOME", scratch.path().join("helm/data")),
        )?;
        Self::from_seed_output(workdir, &output).ok_or_else(|| Error::UnexpectedOutput {
            command: script.display().to_string(),
            output,
        })
    }

    /// Reads the lines `infra/demo/seed` prints: `seed: git NAME REF COMMIT (…)`,
    /// `seed: chart NAME VERSION DIGEST (…)` and `seed: image REFERENCE@DIGEST`.
    fn from_seed_output(dir: &Path, output: &str) -> Option<Self> {
        let mut demo = Self {
            dir: dir.to_owned(),
            commits: BTreeMap::new(),
            charts: BTreeMap::new(),
            images: BTreeMap::new(),
        };
        for line in output.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["seed:", "git", name, reference, commit, ..] => {
                    let key = ((*name).to_owned(), (*reference).to_owned());
                    demo.commits.insert(key, (*commit).to_owned());
                }
                ["seed:", "chart", name, version, digest, ..] => {
                    let key = ((*name).to_owned(), (*version).to_owned());
                    demo.charts.insert(key, (*digest).to_owned());
                }
                ["seed:", "image", pinned] => {
                    let (reference, digest) = pinned.split_once('@')?;
                    demo.images.insert(reference.to_owned(), digest.to_owned());
                }
                _ => return None,
            }
        }
        (!demo.commits.is_empty() && !demo.images.is_empty()).then_some(demo)
    }

    /// The work directory holding the rewritten product.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The product manifest, `DIR/product.yaml`.
    pub fn manifest(&self) -> PathBuf {
        self.dir.join("product.yaml")
    }

    /// The commit a git ref of a component's repository points at, e.g. `("api", "release-2")`.
    pub fn commit(&self, repository: &str, reference: &str) -> Option<&str> {
        self.commits
            .get(&(repository.to_owned(), reference.to_owned()))
            .map(String::as_str)
    }

    /// The manifest digest of a pushed OCI chart version, e.g. `("cache", "1.1.0")`.
    pub fn chart_digest(&self, name: &str, version: &str) -> Option<&str> {
        self.charts
            .get(&(name.to_owned(), version.to_owned()))
            .map(String::as_str)
    }

    /// The digest of a pushed image, by its reference as the manifests name it
    /// (`HOST:PORT/demo/api:main`).
    pub fn image_digest(&self, reference: &str) -> Option<&str> {
        self.images.get(reference).map(String::as_str)
    }

    /// Every pushed image: reference → digest.
    pub fn images(&self) -> &BTreeMap<String, String> {
        &self.images
    }
}

/// Points the manifests (`*.yaml` outside `sources/`) at the fixtures.
fn rewrite_manifests(dir: &Path, registry: &str, git: &str) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::io("reading", dir, source))?;
    for entry in entries {
        let path = entry
            .map_err(|source| Error::io("reading", dir, source))?
            .path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name != "sources") {
                rewrite_manifests(&path, registry, git)?;
            }
        } else if path
            .extension()
            .is_some_and(|extension| extension == "yaml")
        {
            let text = std::fs::read_to_string(&path)
                .map_err(|source| Error::io("reading", &path, source))?;
            let rewritten = text.replace(DEMO_REGISTRY, registry).replace(DEMO_GIT, git);
            std::fs::write(&path, rewritten)
                .map_err(|source| Error::io("writing", &path, source))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::DemoProduct;

    #[test]
    fn reads_what_the_seed_script_prints() {
        let output = "\
seed: git api release-2 8c867618b1071f16f7ff4b3801007fe93347fd9b (new)
seed: chart cache 1.1.0 sha256:a6 (pushed)
seed: image 127.0.0.1:1/demo/api:main@sha256:7b
";
        let demo = DemoProduct::from_seed_output(Path::new("/w"), output).unwrap();
        assert_eq!(
            demo.commit("api", "release-2"),
            Some("8c867618b1071f16f7ff4b3801007fe93347fd9b")
        );
        assert_eq!(demo.chart_digest("cache", "1.1.0"), Some("sha256:a6"));
        assert_eq!(
            demo.image_digest("127.0.0.1:1/demo/api:main"),
            Some("sha256:7b")
        );
        assert_eq!(demo.manifest(), Path::new("/w/product.yaml"));
        assert!(DemoProduct::from_seed_output(Path::new("/w"), "seed: surprise\n").is_none());
    }
}
