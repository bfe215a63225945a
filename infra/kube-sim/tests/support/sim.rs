//! A sim cluster started from the `kube-sim` binary, with the real clients pointed at it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use super::{require, run, run_ok, wait_for};

/// A running `kube-sim serve`, stopped with SIGTERM on drop.
pub struct Sim {
    /// The cluster name.
    pub name: String,
    /// The API server URL.
    pub server: String,
    /// The kubeconfig.
    pub kubeconfig: PathBuf,
    /// The ready line, parsed.
    pub ready: Value,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

/// The kube-sim binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_kube-sim")
}

/// A cluster name unique to this test process.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", std::process::id())
}

impl Sim {
    /// Starts a cluster named `name`.
    pub fn start(name: &str) -> Self {
        Self::start_with(name, &[])
    }

    /// Starts a cluster named `name` with more arguments for `kube-sim serve`
    /// (`--kubernetes-version 1.33`).
    pub fn start_with(name: &str, args: &[&str]) -> Self {
        require("podman");
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut child = Command::new(binary())
            .args(["serve", "--dir"])
            .arg(dir.path())
            .args(["--name", name])
            .args(args)
            .env("KUBE_SIM_LOG", "info,kube_sim=debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("kube-sim.log")).expect("a log file"),
            ))
            .spawn()
            .expect("starting kube-sim");
        let stdout = child.stdout.take().expect("kube-sim stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("reading the ready line");
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            let log = std::fs::read_to_string(dir.path().join("kube-sim.log")).unwrap_or_default();
            panic!("kube-sim did not print its ready line ({e}): {line:?}\n{log}")
        });
        Self {
            name: ready["name"].as_str().expect("name").to_owned(),
            server: ready["server"].as_str().expect("server").to_owned(),
            kubeconfig: PathBuf::from(ready["kubeconfig"].as_str().expect("kubeconfig")),
            ready,
            child: Some(child),
            dir,
        }
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id of `kube-sim serve`.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// kube-sim's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("kube-sim.log")).unwrap_or_default()
    }

    /// Runs kubectl against the cluster.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        run("kubectl", args, &self.kubectl_env())
    }

    /// Runs kubectl; it must succeed. Returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        run_ok("kubectl", args, &self.kubectl_env())
    }

    /// kubectl's environment: the kubeconfig and a discovery cache in the state directory.
    fn kubectl_env(&self) -> [(&str, &Path); 2] {
        [
            ("KUBECONFIG", &self.kubeconfig),
            ("KUBECACHEDIR", self.dir.path()),
        ]
    }

    /// Applies YAML with `kubectl apply -f -`.
    pub fn apply(&self, yaml: &str) -> String {
        let file = self
            .dir
            .path()
            .join(format!("apply-{}.yaml", rand_suffix()));
        std::fs::write(&file, yaml).expect("writing a manifest");
        self.kubectl_ok(&["apply", "-f", &file.to_string_lossy()])
    }

    /// `kubectl get -o json` of one object, or `None` when it does not exist.
    pub fn get(&self, kind: &str, name: &str, namespace: &str) -> Option<Value> {
        let output = self.kubectl(&["get", kind, name, "-n", namespace, "-o", "json"]);
        output
            .status
            .success()
            .then(|| serde_json::from_slice(&output.stdout).expect("kubectl printed JSON"))
    }

    /// Waits until the object exists and `check` accepts it; returns it.
    pub fn wait(
        &self,
        kind: &str,
        name: &str,
        namespace: &str,
        timeout: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        wait_for(
            &format!("{kind}/{name} in {namespace}"),
            timeout,
            || self.get(kind, name, namespace).filter(|o| check(o)),
            || {
                let object = self
                    .get(kind, name, namespace)
                    .map_or_else(|| "(missing)".to_owned(), |o| o.to_string());
                format!(
                    "{object}\n--- kube-sim log (tail) ---\n{}",
                    tail(&self.log(), 40)
                )
            },
        )
    }

    /// Waits until the object is gone.
    pub fn wait_gone(&self, kind: &str, name: &str, namespace: &str, timeout: Duration) {
        wait_for(
            &format!("{kind}/{name} in {namespace} to be gone"),
            timeout,
            || self.get(kind, name, namespace).is_none().then_some(()),
            || {
                self.get(kind, name, namespace)
                    .map_or_else(String::new, |o| o.to_string())
            },
        );
    }

    /// Runs helm against the cluster.
    pub fn helm(&self, args: &[&str]) -> Output {
        let cache = self.dir.path().join("helm");
        run(
            "helm",
            args,
            &[
                ("KUBECONFIG", &self.kubeconfig),
                ("KUBECACHEDIR", self.dir.path()),
                ("HELM_CACHE_HOME", &cache.join("cache")),
                ("HELM_CONFIG_HOME", &cache.join("config")),
                ("HELM_DATA_HOME", &cache.join("data")),
            ],
        )
    }

    /// Stops the cluster with SIGTERM and waits for the process; returns its exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("a pid"));
        kill(pid, Signal::SIGTERM).expect("sending SIGTERM");
        wait_exit(&mut child, Duration::from_secs(30))
    }

    /// Kills the cluster with SIGKILL (nothing is cleaned up).
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    wait_for(
        "kube-sim to exit",
        timeout,
        || child.try_wait().ok().flatten(),
        || "still running".to_owned(),
    )
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed).to_string()
}

/// The last `lines` lines of a text.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(0));
            let _ = kill(pid, Signal::SIGTERM);
            let stopped = (0..150).any(|_| {
                std::thread::sleep(Duration::from_millis(100));
                child.try_wait().ok().flatten().is_some()
            });
            if !stopped {
                let _ = child.kill();
                let _ = child.wait();
                let _ = Command::new(binary())
                    .args(["cleanup", "--name", &self.name])
                    .status();
            }
        }
    }
}
