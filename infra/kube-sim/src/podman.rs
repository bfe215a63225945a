//! Running podman (and `ip`) as child processes, with every created object labelled for its
//! cluster.

use std::process::Stdio;

use tokio::process::Command;

use crate::errors::Error;

/// The label every podman object of a sim cluster carries.
pub const CLUSTER_LABEL: &str = "dev.chorale.kube-sim/cluster";

/// Runs a program and returns its trimmed stdout, or an error with its stderr.
pub async fn run(program: &str, args: &[String]) -> Result<String, Error> {
    run_with_env(program, args, &[]).await
}

/// [`run`] with extra environment variables for the child process (values that must not
/// appear on its command line).
pub async fn run_with_env(
    program: &str,
    args: &[String],
    env: &[(String, String)],
) -> Result<String, Error> {
    let output = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| Error::Spawn {
            program: program.to_owned(),
            source,
        })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(Error::Command {
            command: format!("{program} {}", args.join(" ")),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// The shell script of [`watched`]: runs podman in the background, kills it when stdin closes
/// (kube-sim exited, even by SIGKILL) and exits with podman's status otherwise.
const WATCHDOG: &str = r#"exec 3<&0
podman "$@" 2>&1 &
child=$!
( read -r _ <&3; kill "$child" 2>/dev/null ) &
watchdog=$!
wait "$child"
status=$?
kill "$watchdog" 2>/dev/null
exit "$status""#;

/// A long-running `podman ARGS` (stdout and stderr merged on stdout) that cannot outlive
/// kube-sim: the caller must keep the child's stdin open; when it closes, podman is killed.
pub fn watched(args: &[&str]) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(WATCHDOG)
        .arg("sh")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    command
}

/// How many times [`Podman::remove_all`] looks again for what a late podman command made.
const SWEEPS: usize = 5;

/// The pause before each of those looks.
const SWEEP_PAUSE: std::time::Duration = std::time::Duration::from_millis(300);

/// Podman for one cluster.
#[derive(Debug, Clone)]
pub struct Podman {
    cluster: String,
}

impl Podman {
    /// Podman for the cluster `name`.
    pub fn new(cluster: &str) -> Self {
        Self {
            cluster: cluster.to_owned(),
        }
    }

    /// The cluster's name.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// `KEY=VALUE` of the cluster label, for `--label` and `--filter label=`.
    pub fn label(&self) -> String {
        format!("{CLUSTER_LABEL}={}", self.cluster)
    }

    /// Runs `podman ARGS`.
    pub async fn run<S: AsRef<str>>(&self, args: &[S]) -> Result<String, Error> {
        let args: Vec<String> = args.iter().map(|a| a.as_ref().to_owned()).collect();
        run("podman", &args).await
    }

    /// Removes every container, pod and network with the cluster label. Idempotent; returns
    /// how many objects were removed.
    ///
    /// A podman command under way when the cluster stopped ends a moment later (its watchdog
    /// kills it once kube-sim is gone) and may still make a pod or a container: the sweep is
    /// repeated, after a pause, until one finds nothing.
    pub async fn remove_all(&self) -> Result<usize, Error> {
        let mut removed = self.remove_once().await?;
        for _ in 0..SWEEPS {
            tokio::time::sleep(SWEEP_PAUSE).await;
            match self.remove_once().await? {
                0 => break,
                more => removed += more,
            }
        }
        Ok(removed)
    }

    async fn remove_once(&self) -> Result<usize, Error> {
        let filter = format!("label={}", self.label());
        let mut removed = 0;
        let pods = self.run(&["pod", "ps", "-q", "--filter", &filter]).await?;
        let pods: Vec<&str> = pods.lines().filter(|l| !l.is_empty()).collect();
        if !pods.is_empty() {
            let mut args = vec!["pod", "rm", "-f", "-t", "0"];
            args.extend(&pods);
            self.run(&args).await?;
            removed += pods.len();
        }
        let containers = self.run(&["ps", "-aq", "--filter", &filter]).await?;
        let containers: Vec<&str> = containers.lines().filter(|l| !l.is_empty()).collect();
        if !containers.is_empty() {
            let mut args = vec!["rm", "-f", "-t", "0"];
            args.extend(&containers);
            self.run(&args).await?;
            removed += containers.len();
        }
        let networks = self
            .run(&["network", "ls", "-q", "--filter", &filter])
            .await?;
        let networks: Vec<&str> = networks.lines().filter(|l| !l.is_empty()).collect();
        if !networks.is_empty() {
            let mut args = vec!["network", "rm", "-f"];
            args.extend(&networks);
            self.run(&args).await?;
            removed += networks.len();
        }
        Ok(removed)
    }
}
