//! Container probes, performed for real (HTTP GET and TCP connect against the pod IP, exec
//! with `podman exec`; gRPC probes are approximated by a TCP connect), and the loop that runs
//! a container's startup, readiness and liveness probes.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerPort, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::status::ContainerRuntime;
use super::worker::PodContext;
use crate::events::Kind;
use crate::podman::Podman;

/// What a probe talks to.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    /// The pod IP.
    pub pod_ip: String,
    /// The container's declared ports (for named ports).
    pub ports: Vec<ContainerPort>,
    /// The podman container (for exec probes).
    pub container: String,
    /// Podman.
    pub podman: Podman,
    /// HTTP client for httpGet probes.
    pub http: reqwest::Client,
}

impl ProbeTarget {
    fn port(&self, port: &IntOrString) -> Option<u16> {
        match port {
            IntOrString::Int(n) => u16::try_from(*n).ok(),
            IntOrString::String(name) => self
                .ports
                .iter()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok())
                .or_else(|| name.parse().ok()),
        }
    }
}

/// Runs a probe once; true when it passed.
pub async fn check(target: &ProbeTarget, probe: &Probe) -> bool {
    let timeout =
        Duration::from_secs(u64::try_from(probe.timeout_seconds.unwrap_or(1).max(1)).unwrap_or(1));
    if let Some(get) = &probe.http_get {
        let Some(port) = target.port(&get.port) else {
            return false;
        };
        let scheme = get.scheme.as_deref().unwrap_or("HTTP").to_lowercase();
        let host = get
            .host
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| target.pod_ip.clone());
        let path = get.path.as_deref().unwrap_or("/");
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        let mut request = target
            .http
            .get(format!("{scheme}://{host}:{port}{path}"))
            .timeout(timeout);
        for header in get.http_headers.iter().flatten() {
            request = request.header(header.name.as_str(), header.value.as_str());
        }
        return request
            .send()
            .await
            .is_ok_and(|r| (200..400).contains(&r.status().as_u16()));
    }
    if let Some(socket) = &probe.tcp_socket {
        let Some(port) = target.port(&socket.port) else {
            return false;
        };
        let host = socket
            .host
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| target.pod_ip.clone());
        return matches!(
            tokio::time::timeout(timeout, TcpStream::connect((host.as_str(), port))).await,
            Ok(Ok(_))
        );
    }
    if let Some(grpc) = &probe.grpc {
        let Ok(port) = u16::try_from(grpc.port) else {
            return false;
        };
        return matches!(
            tokio::time::timeout(timeout, TcpStream::connect((target.pod_ip.as_str(), port))).await,
            Ok(Ok(_))
        );
    }
    if let Some(exec) = &probe.exec {
        let mut args = vec!["exec".to_owned(), target.container.clone()];
        args.extend(exec.command.iter().flatten().cloned());
        return matches!(
            tokio::time::timeout(timeout, target.podman.run(&args)).await,
            Ok(Ok(_))
        );
    }
    false
}

/// The probes of one running container.
pub struct ProbeLoop {
    /// The startup probe.
    pub startup: Option<Probe>,
    /// The readiness probe.
    pub readiness: Option<Probe>,
    /// The liveness probe.
    pub liveness: Option<Probe>,
    /// What the probes talk to.
    pub target: ProbeTarget,
    /// The pod (to publish readiness).
    pub pod: Arc<PodContext>,
    /// An init container.
    pub init: bool,
    /// The container's index.
    pub index: usize,
}

fn seconds(value: Option<i32>, default: i32) -> Duration {
    Duration::from_secs(u64::try_from(value.unwrap_or(default).max(0)).unwrap_or(0))
}

/// Probes a running container: startup first, then readiness and liveness each on its own
/// period. Sends a reason on `kill` when the container must be restarted.
pub async fn probe_loop(probes: ProbeLoop, kill: mpsc::Sender<String>) {
    let set = |change: &dyn Fn(&mut ContainerRuntime)| {
        probes
            .pod
            .update(|state| change(state.container_mut(probes.init, probes.index)));
    };
    if let Some(startup) = &probes.startup {
        tokio::time::sleep(seconds(startup.initial_delay_seconds, 0)).await;
        let mut failures = 0;
        loop {
            if check(&probes.target, startup).await {
                break;
            }
            failures += 1;
            if failures >= startup.failure_threshold.unwrap_or(3) {
                let _ = kill.send("Startup".into()).await;
                return;
            }
            tokio::time::sleep(seconds(startup.period_seconds, 10)).await;
        }
        let ready_without_probe = probes.readiness.is_none();
        set(&|c| {
            c.started = true;
            c.ready = ready_without_probe;
        });
    }
    let readiness = probes.readiness.clone().map(|probe| {
        let target = probes.target.clone();
        let pod = probes.pod.clone();
        let (init, index) = (probes.init, probes.index);
        async move {
            tokio::time::sleep(seconds(probe.initial_delay_seconds, 0)).await;
            let (mut successes, mut failures) = (0, 0);
            loop {
                if check(&target, &probe).await {
                    successes += 1;
                    failures = 0;
                    if successes >= probe.success_threshold.unwrap_or(1) {
                        pod.update(|state| state.container_mut(init, index).ready = true);
                    }
                } else {
                    failures += 1;
                    successes = 0;
                    if failures == probe.failure_threshold.unwrap_or(3) {
                        pod.event(Kind::Warning, "Unhealthy", "Readiness probe failed");
                    }
                    if failures >= probe.failure_threshold.unwrap_or(3) {
                        pod.update(|state| state.container_mut(init, index).ready = false);
                    }
                }
                tokio::time::sleep(seconds(probe.period_seconds, 10)).await;
            }
        }
    });
    let liveness = probes.liveness.clone().map(|probe| {
        let target = probes.target.clone();
        let kill = kill.clone();
        async move {
            tokio::time::sleep(seconds(probe.initial_delay_seconds, 0)).await;
            let mut failures = 0;
            loop {
                if check(&target, &probe).await {
                    failures = 0;
                } else {
                    failures += 1;
                    if failures >= probe.failure_threshold.unwrap_or(3) {
                        let _ = kill.send("Liveness".into()).await;
                        return;
                    }
                }
                tokio::time::sleep(seconds(probe.period_seconds, 10)).await;
            }
        }
    });
    let mut tasks = JoinSet::new();
    if let Some(readiness) = readiness {
        tasks.spawn(readiness);
    }
    if let Some(liveness) = liveness {
        tasks.spawn(liveness);
    }
    while tasks.join_next().await.is_some() {}
    std::future::pending::<()>().await;
}
