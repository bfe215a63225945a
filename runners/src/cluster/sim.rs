//! The `sim` provider: `kube-sim serve`, started detached so that it outlives chorale (a
//! reaper tears it down later from the recorded pid), in its own process group so that a
//! Ctrl-C of chorale does not reach it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use super::{
    Cluster, ClusterHandle, ClusterProvider, ClusterSpec, ProviderKind, ProviderOptions, cluster,
    create_dir, run_step, wrong_provider,
};
use crate::errors::ClusterError;
use crate::kube::Kube;
use crate::process;

/// The variable that names the kube-sim binary.
const KUBE_SIM_VARIABLE: &str = "CHORALE_KUBE_SIM";

/// How long kube-sim may take to stop after SIGTERM (it removes its containers and network)
/// before it is killed.
const STOP_GRACE: Duration = Duration::from_mins(1);

/// How long a killed kube-sim may take to go away.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// How long `kube-sim cleanup` may take.
const CLEANUP_TIMEOUT: Duration = Duration::from_mins(2);

/// How often a stopping kube-sim is looked at.
const POLL: Duration = Duration::from_millis(100);

/// Clusters run by kube-sim.
pub(super) struct SimProvider {
    options: ProviderOptions,
}

impl SimProvider {
    pub(super) fn new(options: ProviderOptions) -> Self {
        Self { options }
    }

    /// The kube-sim binary: the option, else `$CHORALE_KUBE_SIM`, else `kube-sim` next to the
    /// running program, else on the search path.
    fn binary(&self) -> Result<PathBuf, ClusterError> {
        let search_path = self.options.search_path.as_deref();
        let find = |program: &str, hint: &str| {
            process::find_program(program, search_path).ok_or_else(|| ClusterError::MissingCli {
                provider: ProviderKind::Sim,
                program: program.to_owned(),
                hint: hint.to_owned(),
            })
        };
        if let Some(path) = &self.options.kube_sim {
            return find(
                &path.to_string_lossy(),
                "the kube_sim option names no executable file; build kube-sim with `cargo build -p kube-sim` and name target/debug/kube-sim",
            );
        }
        if let Some(value) = std::env::var_os(KUBE_SIM_VARIABLE).filter(|value| !value.is_empty()) {
            return find(
                &value.to_string_lossy(),
                "CHORALE_KUBE_SIM names no executable file; build kube-sim with `cargo build -p kube-sim` and name target/debug/kube-sim",
            );
        }
        let beside = std::env::current_exe()
            .ok()
            .and_then(|program| Some(program.parent()?.join("kube-sim")))
            .and_then(|path| process::find_program(&path.to_string_lossy(), None));
        match beside {
            Some(path) => Ok(path),
            None => find(
                "kube-sim",
                "build it with `cargo build -p kube-sim` (it lands next to the chorale binary) or set CHORALE_KUBE_SIM",
            ),
        }
    }

    async fn provision(&self, spec: &ClusterSpec) -> Result<Cluster, ClusterError> {
        let binary = self.binary()?;
        create_dir(spec)?;
        let deadline = Instant::now() + spec.create_timeout;
        let state = spec.dir.join("sim");
        let log = spec.dir.join("kube-sim.log");
        let (mut child, starting) = self.start(&binary, spec, &state, &log, deadline).await?;
        // kube-sim serves: its kubeconfig is `DIR/kubeconfig`, and the process is the one
        // started here (see kube-sim's README for what `serve` writes).
        let pid = child.id().ok_or_else(|| ClusterError::UnexpectedOutput {
            name: spec.name.clone(),
            command: binary.display().to_string(),
            message: "exited right after it printed its ready line".to_owned(),
        })?;
        let cluster = cluster(
            ProviderKind::Sim,
            spec,
            state.join("kubeconfig"),
            None,
            ClusterHandle::Sim {
                pid,
                dir: state,
                binary,
            },
        );
        let answers = tokio::time::timeout_at(deadline, async {
            Kube::connect(&cluster.kubeconfig).await?.ready().await
        })
        .await;
        let failure = match answers {
            Ok(Ok(())) => None,
            Ok(Err(source)) => Some(ClusterError::Kube {
                name: spec.name.clone(),
                source,
            }),
            Err(_) => Some(timeout(spec, "the API server to answer /readyz", &log)),
        };
        if let Some(error) = failure {
            if let Err(teardown) = self.teardown(&cluster).await {
                tracing::warn!(cluster = %spec.name, error = %teardown, "stopping a kube-sim that does not answer failed");
            }
            starting.abandon(&mut child).await;
            return Err(error);
        }
        starting.detach();
        Ok(cluster)
    }

    /// Spawns `kube-sim serve` and waits for its ready line (its content is kube-sim's to
    /// describe; the line says the cluster serves); on any failure, kube-sim is killed and what
    /// it made removed.
    async fn start(
        &self,
        binary: &Path,
        spec: &ClusterSpec,
        state: &Path,
        log: &Path,
        deadline: Instant,
    ) -> Result<(Child, Starting), ClusterError> {
        let io_error = |action, path: &Path, error: std::io::Error| ClusterError::Io {
            name: spec.name.clone(),
            action,
            path: path.to_owned(),
            message: error.to_string(),
        };
        let log_file =
            std::fs::File::create(log).map_err(|error| io_error("create", log, error))?;
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .arg("--dir")
            .arg(state)
            .arg("--name")
            .arg(&spec.name)
            // Killed without a chance to tear its cluster down, this process leaves nothing:
            // kube-sim tears itself down when its owner is gone.
            .arg("--owner-pid")
            .arg(std::process::id().to_string());
        for registry in &self.options.insecure_registries {
            command.arg("--insecure-registry").arg(registry);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .process_group(0)
            .kill_on_drop(false);
        let line = process::describe(&command);
        let mut child = command.spawn().map_err(|error| ClusterError::Spawn {
            name: spec.name.clone(),
            command: line.clone(),
            message: error.to_string(),
        })?;
        let starting = Starting {
            pid: child.id(),
            binary: binary.to_owned(),
            name: spec.name.clone(),
        };
        let Some(stdout) = child.stdout.take() else {
            starting.abandon(&mut child).await;
            return Err(ClusterError::UnexpectedOutput {
                name: spec.name.clone(),
                command: line,
                message: "has no stdout to read".to_owned(),
            });
        };
        let mut lines = BufReader::new(stdout).lines();
        let ready = match tokio::time::timeout_at(deadline, lines.next_line()).await {
            Ok(Ok(Some(_))) => Ok(()),
            Ok(Ok(None)) => Err(match child.wait().await {
                Ok(status) => ClusterError::SimExited {
                    name: spec.name.clone(),
                    status: status.to_string(),
                    log: log.to_owned(),
                    tail: log_tail(log),
                },
                Err(error) => io_error("wait for", binary, error),
            }),
            Ok(Err(error)) => Err(io_error("read the ready line of", binary, error)),
            Err(_) => Err(timeout(spec, "starting kube-sim", log)),
        };
        match ready {
            Ok(()) => Ok((child, starting)),
            Err(error) => {
                starting.abandon(&mut child).await;
                Err(error)
            }
        }
    }

    async fn teardown(&self, cluster: &Cluster) -> Result<(), ClusterError> {
        let ClusterHandle::Sim { pid, dir, binary } = &cluster.handle else {
            return Err(wrong_provider(ProviderKind::Sim, cluster));
        };
        stop(*pid, &cluster.name).await?;
        cleanup(binary, &cluster.name).await?;
        match std::fs::remove_dir_all(dir) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(ClusterError::Io {
                name: cluster.name.clone(),
                action: "remove",
                path: dir.clone(),
                message: error.to_string(),
            }),
            _ => Ok(()),
        }
    }
}

impl ClusterProvider for SimProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Sim
    }

    fn provision<'a>(
        &'a self,
        spec: &'a ClusterSpec,
    ) -> BoxFuture<'a, Result<Cluster, ClusterError>> {
        self.provision(spec).boxed()
    }

    fn teardown<'a>(&'a self, cluster: &'a Cluster) -> BoxFuture<'a, Result<(), ClusterError>> {
        self.teardown(cluster).boxed()
    }
}

/// A kube-sim that is starting: until it is [detached](Starting::detach) into a recorded
/// cluster, it is killed and cleaned up after, also when provisioning is cancelled (the
/// future dropped).
struct Starting {
    pid: Option<u32>,
    binary: PathBuf,
    name: String,
}

impl Starting {
    /// Leaves kube-sim running on its own: its `Child` is dropped without kill_on_drop, so it
    /// outlives chorale.
    fn detach(mut self) {
        self.pid = None;
    }

    /// Kills kube-sim, reaps it, and removes what it made.
    async fn abandon(mut self, child: &mut Child) {
        self.pid = None;
        let _ = child.start_kill();
        let _ = child.wait().await;
        if let Err(error) = cleanup(&self.binary, &self.name).await {
            tracing::warn!(cluster = %self.name, %error, "cleaning up after a kube-sim that did not start failed");
        }
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        let Some(pid) = self.pid else {
            return;
        };
        // Cancelled: nothing can be awaited here, so the cleanup runs on its own.
        let _ = kill(
            Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX)),
            Signal::SIGKILL,
        );
        let spawned = std::process::Command::new(&self.binary)
            .args(["cleanup", "--name", &self.name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Err(error) = spawned {
            tracing::warn!(cluster = %self.name, %error, "cannot clean up after a cancelled kube-sim start");
        }
    }
}

fn timeout(spec: &ClusterSpec, what: &str, log: &Path) -> ClusterError {
    ClusterError::Timeout {
        name: spec.name.clone(),
        what: what.to_owned(),
        timeout: spec.create_timeout,
        log: Some(log.to_owned()),
        tail: log_tail(log),
    }
}

fn log_tail(log: &Path) -> String {
    process::tail(
        &std::fs::read_to_string(log).unwrap_or_default(),
        process::TAIL_LINES,
    )
}

fn process_id(pid: u32) -> Pid {
    Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX))
}

/// Whether `pid` is still the kube-sim serving `name`: its command line names kube-sim and
/// the cluster. (A process that exited, even one not yet reaped, has an empty command line; a
/// pid taken over by another program has another one.)
fn is_our_kube_sim(pid: u32, name: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|byte| *byte == 0).collect();
    args.iter()
        .any(|arg| String::from_utf8_lossy(arg).contains("kube-sim"))
        && args.contains(&name.as_bytes())
}

/// Stops the kube-sim of `name`: SIGTERM (it removes everything it made), SIGKILL when it has
/// not exited after [`STOP_GRACE`]. A process that is gone, or no longer that kube-sim, is
/// left alone.
async fn stop(pid: u32, name: &str) -> Result<(), ClusterError> {
    for (signal, wait) in [(Signal::SIGTERM, STOP_GRACE), (Signal::SIGKILL, KILL_WAIT)] {
        if !is_our_kube_sim(pid, name) {
            return Ok(());
        }
        match kill(process_id(pid), signal) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(error) => {
                return Err(ClusterError::Stop {
                    name: name.to_owned(),
                    pid,
                    message: error.desc().to_owned(),
                });
            }
        }
        let deadline = Instant::now() + wait;
        while is_our_kube_sim(pid, name) && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
        if signal == Signal::SIGTERM && is_our_kube_sim(pid, name) {
            tracing::warn!(
                cluster = name,
                pid,
                "kube-sim did not stop after SIGTERM; killing it"
            );
        }
    }
    if is_our_kube_sim(pid, name) {
        return Err(ClusterError::Stop {
            name: name.to_owned(),
            pid,
            message: format!("it is still running {}s after SIGKILL", KILL_WAIT.as_secs()),
        });
    }
    Ok(())
}

/// `kube-sim cleanup --name NAME`: removes the podman containers, pods and network labelled
/// for the cluster (idempotent).
async fn cleanup(binary: &Path, name: &str) -> Result<(), ClusterError> {
    let program = binary.to_string_lossy();
    let binary = process::find_program(&program, None).ok_or_else(|| ClusterError::MissingCli {
        provider: ProviderKind::Sim,
        program: program.into_owned(),
        hint: format!(
            "the kube-sim that ran the cluster is gone; run `kube-sim cleanup --name {name}` with another one"
        ),
    })?;
    let mut command = Command::new(binary);
    command.args(["cleanup", "--name", name]);
    run_step(name, &mut command, CLEANUP_TIMEOUT)
        .await
        .map(drop)
}
