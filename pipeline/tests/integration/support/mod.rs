//! A world for end-to-end tests: a real registry and git daemon on free ports, a state folder,
//! and helpers to publish charts and images into them.

pub mod builds;
pub mod outage;

use std::path::{Path, PathBuf};
use std::process::Command;

use chorale::Context;
use chorale_runners::registry::RegistryOptions;
use chorale_testkit::{GitDaemon, GitRepo, PushedImage, Registry, ScratchImage};

/// Servers and a state folder for one test.
pub struct World {
    pub registry: Registry,
    pub git: GitDaemon,
    pub dir: tempfile::TempDir,
}

impl World {
    /// An anonymous registry and a git daemon.
    pub fn new() -> Self {
        Self::with_registry(Registry::start().expect("docker-registry starts"))
    }

    /// A world around a given registry.
    pub fn with_registry(registry: Registry) -> Self {
        Self {
            registry,
            git: GitDaemon::start().expect("git daemon starts"),
            dir: tempfile::tempdir().expect("a temp dir"),
        }
    }

    /// The state folder.
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A fresh context on the state folder.
    pub async fn context(&self) -> Context {
        Context::open(&self.state(), None, RegistryOptions::default())
            .await
            .expect("the state store opens")
    }

    /// A git repository holding a chart named `chart` at `path`, committed once.
    pub fn chart_repo(&self, repo: &str, path: &str, chart: &str) -> GitRepo {
        let repo = self.git.create_repo(repo).expect("a repository");
        write_chart(&repo, path, chart, "0.1.0");
        repo.commit("add the chart").expect("commit");
        repo
    }

    /// Build a small image FROM scratch and push it as `repository:tag`.
    pub fn push_image(&self, repository_and_tag: &str) -> PushedImage {
        ScratchImage::new()
            .file("/etc/chorale-test", repository_and_tag.as_bytes().to_vec())
            .label("dev.chorale.test", repository_and_tag)
            .push(&self.registry, repository_and_tag)
            .expect("the image is pushed")
    }

    /// Package a chart `name` at `version` with the real helm and push it to
    /// `oci://REGISTRY/charts`; returns the pushed manifest digest.
    pub fn push_oci_chart(&self, name: &str, version: &str) -> String {
        let work = self
            .dir
            .path()
            .join("helm-work")
            .join(format!("{name}-{version}"));
        let chart_dir = work.join(name);
        std::fs::create_dir_all(chart_dir.join("templates")).unwrap();
        std::fs::write(
            chart_dir.join("Chart.yaml"),
            format!("apiVersion: v2\nname: {name}\nversion: {version}\n"),
        )
        .unwrap();
        std::fs::write(chart_dir.join("templates/cm.yaml"), CONFIGMAP).unwrap();
        std::fs::write(chart_dir.join("values.yaml"), "image: {}\n").unwrap();
        let package = helm(self.dir.path())
            .args(["package", "--destination"])
            .arg(&work)
            .arg(&chart_dir)
            .output()
            .unwrap();
        assert!(
            package.status.success(),
            "{}",
            String::from_utf8_lossy(&package.stderr)
        );
        let pushed = helm(self.dir.path())
            .arg("push")
            .arg(work.join(format!("{name}-{version}.tgz")))
            .arg(format!("oci://{}/charts", self.registry.host()))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&pushed.stderr).into_owned()
            + &String::from_utf8_lossy(&pushed.stdout);
        assert!(pushed.status.success(), "{text}");
        text.lines()
            .find_map(|l| l.strip_prefix("Digest: "))
            .expect("helm prints the digest")
            .trim()
            .to_owned()
    }

    /// Write a product manifest into the world's folder.
    pub fn product(&self, yaml: &str) -> PathBuf {
        let path = self.dir.path().join("product.yaml");
        std::fs::write(&path, yaml).unwrap();
        path
    }
}

/// A ConfigMap showing where the chart's image values point.
pub const CONFIGMAP: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
data:
  image: \"{{ .Values.image.repository }}@{{ .Values.image.digest }}\"
";

/// Write a minimal chart into a repository's work tree.
pub fn write_chart(repo: &GitRepo, path: &str, name: &str, version: &str) {
    repo.write_file(
        &format!("{path}/Chart.yaml"),
        format!(
            "apiVersion: v2\nname: {name}\ndescription: test chart {name}\nversion: {version}\n"
        ),
    )
    .unwrap();
    repo.write_file(&format!("{path}/values.yaml"), "image: {}\n")
        .unwrap();
    repo.write_file(&format!("{path}/templates/cm.yaml"), CONFIGMAP)
        .unwrap();
}

/// The pinned helm with its caches and registry config inside `dir`.
pub fn helm(dir: &Path) -> Command {
    let mut command = Command::new(chorale_testkit::helm().expect("helm 3.10.1 is installed"));
    command
        .env("HELM_CACHE_HOME", dir.join("helm/cache"))
        .env("HELM_CONFIG_HOME", dir.join("helm/config"))
        .env("HELM_DATA_HOME", dir.join("helm/data"));
    command
}

/// The tree id of `path` at `revision` of `repo`.
pub fn tree_id(repo: &GitRepo, revision: &str, path: &str) -> String {
    let output = Command::new("git")
        .arg(format!("--git-dir={}", repo.path().display()))
        .args(["rev-parse", &format!("{revision}:{path}")])
        .output()
        .unwrap();
    assert!(output.status.success(), "git rev-parse {revision}:{path}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// An observer of builds that ignores their events.
pub fn quiet() -> chorale::engine::events::Ignore {
    chorale::engine::events::Ignore
}

/// `skopeo` with the given arguments; its stdout, or a panic with its stderr.
pub fn skopeo(args: &[&str]) -> String {
    let output = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo runs");
    assert!(
        output.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `git ARGS` in `dir`, which must succeed; its trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args(["-c", "user.name=ci", "-c", "user.email=ci@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}
