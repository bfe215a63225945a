//! kube-sim, the stand-in cluster: the binary built from this workspace, and [`SimCluster`], a
//! cluster it serves for one test.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kube_sim::cluster::ClusterInfo;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::errors::Error;
use crate::process::{self, log_tail, wait_for};
use crate::workspace_root;

/// How long kube-sim may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_mins(1);

/// How long kube-sim may take to stop after SIGTERM (it removes its containers and network).
const STOP_TIMEOUT: Duration = Duration::from_mins(1);

/// The `kube-sim` binary of this workspace, built with cargo (`cargo build -p kube-sim --bin
/// kube-sim`, `$CARGO` or `cargo`, from the workspace root, so `CARGO_TARGET_DIR` is honoured)
/// the first time it is asked for in a process. A file lock keeps parallel test processes
/// from building it at the same time.
pub fn kube_sim_binary() -> Result<PathBuf, Error> {
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    process::cached_path(&BUILT, || {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let cargo = process::require(&cargo, "to build kube-sim")?;
        let lock_path = std::env::temp_dir().join("chorale-testkit-kube-sim.lock");
        let lock =
            File::create(&lock_path).map_err(|source| Error::io("creating", &lock_path, source))?;
        lock.lock()
            .map_err(|source| Error::io("locking", &lock_path, source))?;
        let mut command = Command::new(&cargo);
        command.current_dir(workspace_root()).args([
            "build",
            "--quiet",
            "-p",
            "kube-sim",
            "--bin",
            "kube-sim",
            "--message-format=json-render-diagnostics",
        ]);
        let output = process::run(&mut command);
        drop(lock);
        let output = output?;
        built_executable(&output, "kube-sim").ok_or_else(|| Error::UnexpectedOutput {
            command: process::describe(&command),
            output: "no compiler-artifact message names the kube-sim executable".to_owned(),
        })
    })
}

/// The executable of the binary target `name` in cargo's JSON messages.
fn built_executable(messages: &str, name: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact" && message["target"]["name"] == name
        })
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .filter(|path| path.is_file())
}

/// A cluster served by `kube-sim serve` in a temp dir for one test; stopped with SIGTERM
/// (which removes its containers and network) when dropped.
#[derive(Debug)]
pub struct SimCluster {
    name: String,
    server: String,
    kubeconfig: PathBuf,
    binary: PathBuf,
    child: Child,
    dir: TempDir,
}

impl SimCluster {
    /// Starts a cluster named `PREFIX-PID-N` (unique in this machine while this process
    /// lives). `prefix` is lowercase letters, digits and dashes, at most 24 characters.
    pub fn start(prefix: &str) -> Result<Self, Error> {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        );
        process::require("podman", "to run the sim cluster's pods")?;
        let binary = kube_sim_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("chorale-kube-sim-")
            .tempdir()
            .map_err(|source| Error::io("creating a temp dir in", std::env::temp_dir(), source))?;
        let log = dir.path().join("kube-sim.log");
        let log_file = File::create(&log).map_err(|source| Error::io("creating", &log, source))?;
        let mut command = Command::new(&binary);
        command
            .arg("serve")
            .arg("--dir")
            .arg(dir.path().join("state"))
            .args(["--name", &name])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file);
        let mut child = command.spawn().map_err(|source| Error::Spawn {
            command: process::describe(&command),
            source,
        })?;
        let fail = |child: &mut Child| {
            let _ = child.kill();
            let _ = child.wait();
        };
        let line = match read_ready_line(&mut child) {
            ReadyLine::Line(line) => line,
            ReadyLine::Closed => {
                let status = child
                    .wait()
                    .map_err(|source| Error::io("waiting for", &binary, source))?;
                return Err(Error::Exited {
                    server: "kube-sim".to_owned(),
                    status,
                    log: log.clone(),
                    tail: log_tail(&log),
                });
            }
            ReadyLine::Silent => {
                fail(&mut child);
                return Err(Error::NotReady {
                    server: "kube-sim".to_owned(),
                    timeout: READY_TIMEOUT,
                    log: log.clone(),
                    tail: log_tail(&log),
                });
            }
        };
        let Ok(ClusterInfo {
            server, kubeconfig, ..
        }) = ClusterInfo::from_ready_line(&line)
        else {
            fail(&mut child);
            return Err(Error::UnexpectedOutput {
                command: process::describe(&command),
                output: line,
            });
        };
        Ok(Self {
            name,
            server,
            kubeconfig,
            binary,
            child,
            dir,
        })
    }

    /// The cluster name (also the podman label `dev.chorale.kube-sim/cluster`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The API server URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The kubeconfig (bearer token, file mode 0600).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The process id of `kube-sim serve`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A folder for the test's own files, removed with the cluster.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// kube-sim's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("kube-sim.log")).unwrap_or_default()
    }
}

/// What `kube-sim serve` printed first.
enum ReadyLine {
    /// A line.
    Line(String),
    /// Nothing: it closed stdout (it exited).
    Closed,
    /// Nothing within [`READY_TIMEOUT`].
    Silent,
}

fn read_ready_line(child: &mut Child) -> ReadyLine {
    let Some(stdout) = child.stdout.take() else {
        return ReadyLine::Closed;
    };
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let _ = sender.send(match read {
            Ok(bytes) if bytes > 0 => ReadyLine::Line(line),
            _ => ReadyLine::Closed,
        });
    });
    receiver
        .recv_timeout(READY_TIMEOUT)
        .unwrap_or(ReadyLine::Silent)
}

impl Drop for SimCluster {
    fn drop(&mut self) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(i32::MAX));
        let _ = kill(pid, Signal::SIGTERM);
        let stopped = wait_for(STOP_TIMEOUT, || {
            matches!(self.child.try_wait(), Ok(Some(_)) | Err(_))
        });
        if !stopped {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = Command::new(&self.binary)
                .args(["cleanup", "--name", &self.name])
                .output();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::built_executable;

    #[test]
    fn finds_the_executable_in_cargo_messages() {
        let binary = std::env::current_exe().unwrap();
        let messages = format!(
            "{{\"reason\":\"compiler-artifact\",\"target\":{{\"name\":\"kube_sim\"}},\"executable\":null}}\nnot json\n{{\"reason\":\"compiler-artifact\",\"target\":{{\"name\":\"kube-sim\"}},\"executable\":{}}}\n{{\"reason\":\"build-finished\",\"success\":true}}\n",
            serde_json::to_string(&binary).unwrap()
        );
        assert_eq!(built_executable(&messages, "kube-sim"), Some(binary));
        assert_eq!(
            built_executable(
                "{\"reason\":\"compiler-artifact\",\"target\":{\"name\":\"kube-sim\"},\"executable\":\"/nonexistent/kube-sim\"}",
                "kube-sim"
            ),
            None::<PathBuf>
        );
    }
}
