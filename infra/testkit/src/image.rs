//! Images built `FROM scratch` with buildah (deterministic timestamps) and pushed to a
//! [`Registry`]; and the static probe binary they usually carry.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use tempfile::TempDir;

use crate::errors::Error;
use crate::process;
use crate::registry::Registry;
use crate::workspace_root;

/// Where the probe sits in images built [`ScratchImage::with_probe`].
pub const PROBE_PATH: &str = "/chorale-probe";

/// The static `chorale-probe` binary (x86_64, `+crt-static`), built with cargo through
/// `infra/images/probe-binary` the first time it is asked for in a process. A file lock keeps
/// parallel test processes from building it at the same time.
pub fn probe_binary() -> Result<PathBuf, Error> {
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    process::cached_path(&BUILT, || {
        process::require("cargo", "to build the static probe binary")?;
        let lock_path = std::env::temp_dir().join("chorale-testkit-probe.lock");
        let lock =
            File::create(&lock_path).map_err(|source| Error::io("creating", &lock_path, source))?;
        lock.lock()
            .map_err(|source| Error::io("locking", &lock_path, source))?;
        let script = workspace_root().join("infra/images/probe-binary");
        let output = process::run(&mut Command::new(&script));
        drop(lock);
        let path = PathBuf::from(output?.trim());
        if path.is_file() {
            Ok(path)
        } else {
            Err(Error::UnexpectedOutput {
                command: script.display().to_string(),
                output: path.display().to_string(),
            })
        }
    })
}

/// Where a pushed image or index is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedImage {
    /// `HOST:PORT/REPOSITORY:TAG`, as pushed.
    pub reference: String,
    /// The manifest (or index) digest, `sha256:…`.
    pub digest: String,
}

impl PushedImage {
    /// `HOST:PORT/REPOSITORY@DIGEST`.
    pub fn pinned(&self) -> String {
        let repository = match self.reference.rsplit_once(':') {
            Some((repository, tag)) if !tag.contains('/') => repository,
            _ => &self.reference,
        };
        format!("{repository}@{}", self.digest)
    }
}

#[derive(Debug, Clone)]
enum Contents {
    Bytes(Vec<u8>),
    Host(PathBuf),
}

/// An image built `FROM scratch`: files, entrypoint, command, environment and labels.
/// Built with buildah in a private storage (vfs driver, deleted afterwards), committed with
/// timestamp 0, so the same inputs give the same digest.
#[derive(Debug, Clone)]
pub struct ScratchImage {
    files: Vec<(String, Contents, u32)>,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    env: Vec<(String, String)>,
    labels: BTreeMap<String, String>,
    arch: String,
    user: Option<String>,
    stop_signal: Option<String>,
}

impl Default for ScratchImage {
    fn default() -> Self {
        Self::new()
    }
}

impl ScratchImage {
    /// An empty image for linux/amd64.
    pub fn new() -> Self {
        Self {
            files: Vec::new(),
            entrypoint: Vec::new(),
            cmd: Vec::new(),
            env: Vec::new(),
            labels: BTreeMap::new(),
            arch: "amd64".to_owned(),
            user: None,
            stop_signal: None,
        }
    }

    /// An image like `infra/images/build` makes: the static probe at [`PROBE_PATH`] as its
    /// entrypoint, `serve` as its command, user 65534 and stop signal `SIGKILL` (the probe has
    /// no SIGTERM handler, and as PID 1 it would ignore SIGTERM). Builds the probe if needed,
    /// see [`probe_binary`].
    pub fn with_probe() -> Result<Self, Error> {
        Ok(Self::new()
            .executable(PROBE_PATH, probe_binary()?)
            .entrypoint(&[PROBE_PATH])
            .cmd(&["serve"])
            .user("65534:65534")
            .stop_signal("SIGKILL"))
    }

    /// Adds a regular file (mode 0644) with the given contents.
    #[must_use]
    pub fn file(mut self, path_in_image: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.files.push((
            path_in_image.to_owned(),
            Contents::Bytes(contents.into()),
            0o644,
        ));
        self
    }

    /// Adds a file copied from the host, executable (mode 0755).
    #[must_use]
    pub fn executable(mut self, path_in_image: &str, host_path: impl Into<PathBuf>) -> Self {
        self.files.push((
            path_in_image.to_owned(),
            Contents::Host(host_path.into()),
            0o755,
        ));
        self
    }

    /// Sets the entrypoint.
    #[must_use]
    pub fn entrypoint(mut self, args: &[&str]) -> Self {
        self.entrypoint = args.iter().map(|&arg| arg.to_owned()).collect();
        self
    }

    /// Sets the command.
    #[must_use]
    pub fn cmd(mut self, args: &[&str]) -> Self {
        self.cmd = args.iter().map(|&arg| arg.to_owned()).collect();
        self
    }

    /// Adds an environment variable.
    #[must_use]
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds a label (labels make otherwise equal images differ).
    #[must_use]
    pub fn label(mut self, name: &str, value: &str) -> Self {
        self.labels.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Sets the user the container runs as (`UID[:GID]` or a name).
    #[must_use]
    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(user.to_owned());
        self
    }

    /// Sets the signal that stops the container (e.g. `SIGKILL`).
    #[must_use]
    pub fn stop_signal(mut self, signal: &str) -> Self {
        self.stop_signal = Some(signal.to_owned());
        self
    }

    /// Sets the architecture in the image config (default `amd64`); the files are not checked.
    #[must_use]
    pub fn arch(mut self, arch: &str) -> Self {
        arch.clone_into(&mut self.arch);
        self
    }

    /// Builds the image and pushes it to `registry` as `repository:tag` (e.g. `demo/api:main`),
    /// with the registry's credentials if it has any. Returns the manifest digest.
    pub fn push(
        &self,
        registry: &Registry,
        repository_and_tag: &str,
    ) -> Result<PushedImage, Error> {
        let buildah = Buildah::new()?;
        buildah.build(self, "localhost/chorale-testkit/image:latest")?;
        buildah.push(
            &["push"],
            "localhost/chorale-testkit/image:latest",
            registry,
            repository_and_tag,
        )
    }
}

/// One image built for several architectures and pushed as an OCI image index.
#[derive(Debug, Clone)]
pub struct MultiArchImage {
    image: ScratchImage,
    arches: Vec<String>,
}

impl MultiArchImage {
    /// `image` built once per architecture (e.g. `["amd64", "arm64"]`).
    pub fn new(image: ScratchImage, arches: &[&str]) -> Self {
        Self {
            image,
            arches: arches.iter().map(|&arch| arch.to_owned()).collect(),
        }
    }

    /// Builds every per-architecture image, creates a manifest list with buildah and pushes it
    /// with all its images (`buildah manifest push --all`). Returns the index digest.
    pub fn push(
        &self,
        registry: &Registry,
        repository_and_tag: &str,
    ) -> Result<PushedImage, Error> {
        let buildah = Buildah::new()?;
        let list = "localhost/chorale-testkit/index:latest";
        buildah.run(&["manifest", "create", list])?;
        for arch in &self.arches {
            let name = format!("localhost/chorale-testkit/image-{arch}:latest");
            buildah.build(&self.image.clone().arch(arch), &name)?;
            buildah.run(&[
                "manifest",
                "add",
                "--arch",
                arch,
                "--os",
                "linux",
                list,
                &format!("containers-storage:{name}"),
            ])?;
        }
        buildah.push(
            &["manifest", "push", "--all"],
            list,
            registry,
            repository_and_tag,
        )
    }
}

/// A buildah with its own storage in a temp dir.
struct Buildah {
    dir: TempDir,
}

impl Buildah {
    fn new() -> Result<Self, Error> {
        process::require("buildah", "to build images from scratch")?;
        let dir = tempfile::Builder::new()
            .prefix("chorale-buildah-")
            .tempdir()
            .map_err(|source| Error::io("creating a temp dir in", std::env::temp_dir(), source))?;
        Ok(Self { dir })
    }

    fn command(&self) -> Command {
        let mut command = Command::new("buildah");
        command
            .arg("--root")
            .arg(self.dir.path().join("root"))
            .arg("--runroot")
            .arg(self.dir.path().join("run"))
            .args(["--storage-driver", "vfs"]);
        command
    }

    fn run(&self, args: &[&str]) -> Result<String, Error> {
        process::run(self.command().args(args))
    }

    fn build(&self, image: &ScratchImage, name: &str) -> Result<(), Error> {
        let container = self.run(&["from", "--quiet", "scratch"])?.trim().to_owned();
        for (index, (path, contents, mode)) in image.files.iter().enumerate() {
            let host_path = match contents {
                Contents::Host(path) => path.clone(),
                Contents::Bytes(bytes) => {
                    let path = self.dir.path().join(format!("file-{index}"));
                    std::fs::write(&path, bytes)
                        .map_err(|source| Error::io("writing", &path, source))?;
                    path
                }
            };
            process::run(
                self.command()
                    .args([
                        "add",
                        "--quiet",
                        "--chmod",
                        &format!("{mode:o}"),
                        &container,
                    ])
                    .arg(host_path)
                    .arg(path),
            )?;
        }
        let json = |args: &[String]| serde_json::to_string(args).unwrap_or_default();
        let mut config = self.command();
        config.args(["config", "--os", "linux", "--arch", &image.arch]);
        if !image.entrypoint.is_empty() {
            config.args(["--entrypoint", &json(&image.entrypoint)]);
        }
        if !image.cmd.is_empty() {
            config.args(["--cmd", &json(&image.cmd)]);
        }
        if let Some(user) = &image.user {
            config.args(["--user", user]);
        }
        if let Some(signal) = &image.stop_signal {
            config.args(["--stop-signal", signal]);
        }
        for (name, value) in &image.env {
            config.args(["--env", &format!("{name}={value}")]);
        }
        for (name, value) in &image.labels {
            config.args(["--label", &format!("{name}={value}")]);
        }
        process::run(config.arg(&container))?;
        self.run(&[
            "commit",
            "--quiet",
            "--rm",
            "--format",
            "oci",
            "--timestamp",
            "0",
            &container,
            name,
        ])?;
        Ok(())
    }

    /// Runs `buildah <verb…> … --digestfile F SOURCE docker://REGISTRY/TARGET` and returns
    /// the pushed digest.
    fn push(
        &self,
        verb: &[&str],
        source: &str,
        registry: &Registry,
        repository_and_tag: &str,
    ) -> Result<PushedImage, Error> {
        let digest_file = self.dir.path().join("digest");
        let reference = format!("{}/{repository_and_tag}", registry.host());
        let mut command = self.command();
        command
            .args(verb)
            .args(["--quiet", "--tls-verify=false", "--format", "oci"])
            .args(registry.creds_args())
            .arg("--digestfile")
            .arg(&digest_file)
            .arg(source)
            .arg(format!("docker://{reference}"));
        process::run(&mut command)?;
        let digest = read_digest(&digest_file)?;
        Ok(PushedImage { reference, digest })
    }
}

fn read_digest(path: &Path) -> Result<String, Error> {
    let digest = std::fs::read_to_string(path)
        .map_err(|source| Error::io("reading", path, source))?
        .trim()
        .to_owned();
    if digest.starts_with("sha256:") {
        Ok(digest)
    } else {
        Err(Error::UnexpectedOutput {
            command: format!("buildah push --digestfile {}", path.display()),
            output: digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::PushedImage;

    #[test]
    fn pins_a_reference_by_digest() {
        let pushed = |reference: &str| PushedImage {
            reference: reference.to_owned(),
            digest: "sha256:ab".to_owned(),
        };
        assert_eq!(
            pushed("127.0.0.1:5000/demo/api:main").pinned(),
            "127.0.0.1:5000/demo/api@sha256:ab"
        );
        assert_eq!(
            pushed("127.0.0.1:5000/demo/api").pinned(),
            "127.0.0.1:5000/demo/api@sha256:ab"
        );
    }
}
