//! [`GitDaemon`]: `git daemon` serving real `git://` remotes, and [`GitRepo`]: a repository
//! in it whose commits are deterministic.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::errors::Error;
use crate::process::{self, Daemon};

/// The date of a repository's first commit; each later commit is one minute later.
const EPOCH: u64 = 1_704_067_200; // 2024-01-01T00:00:00Z

/// A running `git daemon` that exports every repository under its base directory (pushes
/// allowed). Stops and deletes its repositories when dropped.
#[derive(Debug)]
pub struct GitDaemon {
    port: u16,
    daemon: Daemon,
    dir: TempDir,
}

impl GitDaemon {
    /// Starts `git daemon` on a free loopback port with an empty base directory.
    pub fn start() -> Result<Self, Error> {
        process::require("git", "to serve git:// remotes")?;
        // `git-daemon` itself, not the `git daemon` wrapper: the wrapper runs it as a child
        // that outlives the wrapper when the fixture stops it.
        let exec_path = process::run(Command::new("git").arg("--exec-path"))?;
        let program = Path::new(exec_path.trim()).join("git-daemon");
        let dir = tempfile::Builder::new()
            .prefix("chorale-git-")
            .tempdir()
            .map_err(|source| Error::io("creating a temp dir in", std::env::temp_dir(), source))?;
        let base = dir.path().join("repos");
        std::fs::create_dir_all(&base).map_err(|source| Error::io("creating", &base, source))?;
        std::fs::create_dir_all(dir.path().join("work"))
            .map_err(|source| Error::io("creating", dir.path().join("work"), source))?;
        let log = dir.path().join("git-daemon.log");
        let (port, daemon) = process::start_on_free_port(|port| {
            let mut daemon = Daemon::spawn(
                &format!("git daemon on 127.0.0.1:{port}"),
                Command::new(&program)
                    .args(["--export-all", "--enable=receive-pack", "--reuseaddr"])
                    .args(["--informative-errors", "--listen=127.0.0.1"])
                    .arg(format!("--port={port}"))
                    .arg(format!("--base-path={}", base.display())),
                &log,
            )?;
            daemon.wait_for_port(port)?;
            Ok((port, daemon))
        })?;
        Ok(Self { port, daemon, dir })
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Makes the daemon hang (`SIGSTOP`): new connections (fetches, pushes) are accepted by the
    /// kernel and never served until [`GitDaemon::resume`]. Repositories are still readable on
    /// disk.
    pub fn pause(&self) {
        self.daemon.pause();
    }

    /// Lets a paused daemon serve again (`SIGCONT`); the connections that waited are served.
    pub fn resume(&self) {
        self.daemon.resume();
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory the daemon serves: repository `NAME` is `base_dir()/NAME.git`.
    pub fn base_dir(&self) -> PathBuf {
        self.dir.path().join("repos")
    }

    /// `git://127.0.0.1:PORT/NAME.git`.
    pub fn url(&self, name: &str) -> String {
        format!("git://{}/{name}.git", self.host())
    }

    /// Creates the bare repository `NAME.git` (default branch `main`) and a work tree to fill
    /// it from.
    pub fn create_repo(&self, name: &str) -> Result<GitRepo, Error> {
        let bare = self.base_dir().join(format!("{name}.git"));
        let work = self.dir.path().join("work").join(name);
        std::fs::create_dir_all(&work).map_err(|source| Error::io("creating", &work, source))?;
        process::run(
            deterministic_git()
                .args(["init", "--quiet", "--bare", "--initial-branch=main"])
                .arg(&bare),
        )?;
        Ok(GitRepo {
            name: name.to_owned(),
            url: self.url(name),
            bare,
            work,
            commits: Cell::new(0),
        })
    }
}

/// `git` with no user or system configuration.
fn deterministic_git() -> Command {
    let mut command = Command::new("git");
    command
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Chorale Test")
        .env("GIT_AUTHOR_EMAIL", "test@chorale.dev")
        .env("GIT_COMMITTER_NAME", "Chorale Test")
        .env("GIT_COMMITTER_EMAIL", "test@chorale.dev");
    command
}

/// A repository served by a [`GitDaemon`]: a bare repository plus a work tree in which tests
/// write files, commit, branch and tag. Commits have a fixed author and committer and dates
/// that advance one minute per commit from 2024-01-01, so the same steps always give the same
/// commit ids.
#[derive(Debug)]
pub struct GitRepo {
    name: String,
    url: String,
    bare: PathBuf,
    work: PathBuf,
    commits: Cell<u64>,
}

impl GitRepo {
    /// The repository's name (without `.git`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `git://127.0.0.1:PORT/NAME.git`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `file:///…/NAME.git`.
    pub fn file_url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// The bare repository's path (a plain-path remote).
    pub fn path(&self) -> &Path {
        &self.bare
    }

    /// The work tree that [`GitRepo::write_file`] writes into.
    pub fn work_dir(&self) -> &Path {
        &self.work
    }

    fn git(&self) -> Command {
        let mut command = deterministic_git();
        command
            .arg(format!("--git-dir={}", self.bare.display()))
            .arg(format!("--work-tree={}", self.work.display()));
        command
    }

    /// Writes a file (creating its directories), relative to the work tree.
    pub fn write_file(&self, path: &str, contents: impl AsRef<[u8]>) -> Result<&Self, Error> {
        let target = self.work.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|source| Error::io("creating", parent, source))?;
        }
        std::fs::write(&target, contents)
            .map_err(|source| Error::io("writing", &target, source))?;
        Ok(self)
    }

    /// Copies a host directory (e.g. a chart) into the work tree at `path`.
    pub fn copy_dir(&self, from: &Path, path: &str) -> Result<&Self, Error> {
        copy_tree(from, &self.work.join(path))?;
        Ok(self)
    }

    /// Removes a file or directory from the work tree.
    pub fn remove(&self, path: &str) -> Result<&Self, Error> {
        let target = self.work.join(path);
        let removed = if target.is_dir() {
            std::fs::remove_dir_all(&target)
        } else {
            std::fs::remove_file(&target)
        };
        removed.map_err(|source| Error::io("removing", &target, source))?;
        Ok(self)
    }

    /// Commits everything in the work tree on the current branch (an empty commit when
    /// nothing changed) and returns the commit id.
    pub fn commit(&self, message: &str) -> Result<String, Error> {
        let count = self.commits.get();
        let date = format!("@{} +0000", EPOCH + 60 * count);
        process::run(
            self.git()
                .args(["add", "--all", "."])
                .current_dir(&self.work),
        )?;
        process::run(
            self.git()
                .args(["commit", "--quiet", "--allow-empty", "-m", message])
                .env("GIT_AUTHOR_DATE", &date)
                .env("GIT_COMMITTER_DATE", &date),
        )?;
        self.commits.set(count + 1);
        self.rev_parse("HEAD")
    }

    /// Creates branch `name` at the current commit (without switching to it).
    pub fn branch(&self, name: &str) -> Result<&Self, Error> {
        process::run(self.git().args(["branch", name]))?;
        Ok(self)
    }

    /// Switches to the existing branch `name`; the work tree follows.
    pub fn switch(&self, name: &str) -> Result<&Self, Error> {
        process::run(self.git().args(["checkout", "--quiet", "--force", name]))?;
        Ok(self)
    }

    /// Creates the lightweight tag `name` at the current commit.
    pub fn tag(&self, name: &str) -> Result<&Self, Error> {
        process::run(self.git().args(["tag", name]))?;
        Ok(self)
    }

    /// Creates the annotated tag `name` at the current commit (fixed tagger date).
    pub fn annotated_tag(&self, name: &str, message: &str) -> Result<&Self, Error> {
        let date = format!("@{EPOCH} +0000");
        process::run(
            self.git()
                .args(["tag", "--annotate", name, "-m", message])
                .env("GIT_COMMITTER_DATE", date),
        )?;
        Ok(self)
    }

    /// The commit id a revision names (`HEAD`, a branch, a tag).
    pub fn rev_parse(&self, revision: &str) -> Result<String, Error> {
        let output = process::run(
            self.git()
                .args(["rev-parse", "--verify", "--quiet"])
                .arg(format!("{revision}^{{commit}}")),
        )?;
        Ok(output.trim().to_owned())
    }
}

/// Copies a directory tree (files and directories; permissions kept).
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(to).map_err(|source| Error::io("creating", to, source))?;
    let entries = std::fs::read_dir(from).map_err(|source| Error::io("reading", from, source))?;
    for entry in entries {
        let entry = entry.map_err(|source| Error::io("reading", from, source))?;
        let source_path = entry.path();
        let target = to.join(entry.file_name());
        if source_path.is_dir() {
            copy_tree(&source_path, &target)?;
        } else {
            std::fs::copy(&source_path, &target)
                .map_err(|source| Error::io("copying", &source_path, source))?;
        }
    }
    Ok(())
}
