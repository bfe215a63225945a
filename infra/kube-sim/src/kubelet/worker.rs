//! One pod's life on the node: volumes, the podman pod (its network namespace), init
//! containers in order, main containers side by side, the active deadline, and teardown when
//! the pod is deleted.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Context;
use super::container::{self, Run};
use super::status::{PodFailure, PodRuntime, State, Terminated};
use super::volumes::{self, VolumeContext};
use crate::events;
use crate::object::ObjectExt;
use crate::storage::Target;

/// How long a deleted pod's containers get at most to stop.
const MAX_GRACE: i64 = 30;
/// How often missing volume sources are looked for again.
const RETRY: Duration = Duration::from_secs(2);

/// What the containers of one pod share.
#[derive(Debug)]
pub struct PodContext {
    /// The kubelet.
    pub ctx: Arc<Context>,
    /// The pod as stored when the kubelet picked it up.
    pub pod: Value,
    /// The typed pod.
    pub typed: Pod,
    /// The podman pod name.
    pub podman_pod: String,
    /// The pod IP.
    pub pod_ip: String,
    /// Host paths of the volumes by name.
    pub volumes: HashMap<String, PathBuf>,
    /// The directory of this pod's files.
    pub dir: PathBuf,
    /// What is known about the pod.
    pub runtime: Arc<Mutex<PodRuntime>>,
}

impl PodContext {
    /// Changes the runtime and writes the pod status, in one step so that writes stay ordered.
    pub fn update(&self, change: impl FnOnce(&mut PodRuntime)) {
        let mut runtime = self.runtime.lock().expect("pod runtime lock poisoned");
        change(&mut runtime);
        publish(&self.ctx, &self.pod, &mut runtime);
    }

    /// Records an event about the pod from the kubelet.
    pub fn event(&self, kind: events::Kind, reason: &str, message: &str) {
        events::record(
            &self.ctx.storage,
            &self.pod,
            "kubelet",
            kind,
            reason,
            message,
        );
    }

    /// The pod's restart policy.
    pub fn restart_policy(&self) -> &str {
        self.typed
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.as_deref())
            .unwrap_or("Always")
    }
}

/// Writes the status of `runtime` to the pod, if the pod is still the same object.
pub fn publish(ctx: &Context, pod: &Value, runtime: &mut PodRuntime) {
    let status = runtime.render_status();
    let pods = ctx.storage.resource("", "pods");
    let uid = pod.uid().to_owned();
    let _ = ctx.storage.modify(
        &pods,
        pod.namespace(),
        pod.name(),
        Target::Status,
        |object| {
            if object.uid() == uid {
                object.map_mut().insert("status".into(), status);
            }
        },
    );
}

/// The podman pod name of a pod.
pub fn podman_pod_name(cluster: &str, pod: &Value) -> String {
    let uid: String = pod.uid().chars().take(8).collect();
    format!("{cluster}.{}.{}.{uid}", pod.namespace(), pod.name())
}

/// Runs a pod until it is deleted. `force` is set when the pod object is already gone.
pub async fn run(
    ctx: Arc<Context>,
    pod: Value,
    terminate: CancellationToken,
    force: CancellationToken,
) {
    let podman_pod = podman_pod_name(ctx.podman.cluster(), &pod);
    let dir = ctx.volumes_dir.join(pod.uid());
    let runtime = Arc::new(Mutex::new(PodRuntime::new(
        &pod,
        &ctx.network.gateway.to_string(),
    )));
    ctx.runtimes
        .lock()
        .expect("runtimes lock poisoned")
        .insert(pod.uid().to_owned(), runtime.clone());
    {
        let mut state = runtime.lock().expect("pod runtime lock poisoned");
        publish(&ctx, &pod, &mut state);
    }
    let assigned = format!(
        "Successfully assigned {}/{} to {}",
        pod.namespace(),
        pod.name(),
        ctx.storage.admission.node_name
    );
    events::record(
        &ctx.storage,
        &pod,
        "default-scheduler",
        events::Kind::Normal,
        "Scheduled",
        &assigned,
    );
    tokio::select! {
        () = live(ctx.clone(), pod.clone(), podman_pod.clone(), dir.clone(), runtime.clone()) => {
            terminate.cancelled().await;
        }
        () = terminate.cancelled() => {}
    }
    teardown(&ctx, &pod, &podman_pod, &dir, force.is_cancelled()).await;
}

async fn live(
    ctx: Arc<Context>,
    pod: Value,
    podman_pod: String,
    dir: PathBuf,
    runtime: Arc<Mutex<PodRuntime>>,
) {
    let typed: Pod = match serde_json::from_value(pod.clone()) {
        Ok(typed) => typed,
        Err(error) => {
            let mut state = runtime.lock().expect("pod runtime lock poisoned");
            state.failure = Some(PodFailure {
                reason: "InvalidPod".into(),
                message: format!("kube-sim could not read the pod spec: {error}"),
            });
            publish(&ctx, &pod, &mut state);
            return;
        }
    };
    let volume_context = VolumeContext {
        store: ctx.storage.store.clone(),
        pod_dir: dir.clone(),
        claims_dir: ctx.volumes_dir.join("claims"),
        ca_pem: ctx.ca_pem.clone(),
        token: secrecy::ExposeSecret::expose_secret(&ctx.token).to_owned(),
    };
    let volumes = loop {
        let (context, pod_copy, typed_copy) = (volume_context.clone(), pod.clone(), typed.clone());
        let prepared =
            tokio::task::spawn_blocking(move || volumes::prepare(&context, &pod_copy, &typed_copy))
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
        match prepared {
            Ok(volumes) => break volumes,
            Err(message) => {
                let message = format!("MountVolume.SetUp failed: {message}");
                events::record(
                    &ctx.storage,
                    &pod,
                    "kubelet",
                    events::Kind::Warning,
                    "FailedMount",
                    &message,
                );
                all_waiting(&ctx, &pod, &runtime, &message);
                tokio::time::sleep(RETRY).await;
            }
        }
    };
    let pod_ip = loop {
        match create_sandbox(&ctx, &pod, &typed, &podman_pod).await {
            Ok(ip) => break ip,
            Err(message) => {
                tracing::warn!(pod = pod.name(), %message, "creating the pod sandbox failed");
                all_waiting(
                    &ctx,
                    &pod,
                    &runtime,
                    &format!("Failed to create pod sandbox: {message}"),
                );
                let _ = ctx
                    .podman
                    .run(&["pod", "rm", "-f", "-t", "0", &podman_pod])
                    .await;
                tokio::time::sleep(RETRY).await;
            }
        }
    };
    let context = Arc::new(PodContext {
        ctx: ctx.clone(),
        pod: pod.clone(),
        typed: typed.clone(),
        podman_pod: podman_pod.clone(),
        pod_ip: pod_ip.clone(),
        volumes,
        dir,
        runtime: runtime.clone(),
    });
    context.update(|state| state.pod_ip = Some(pod_ip));

    let deadline = typed
        .spec
        .as_ref()
        .and_then(|s| s.active_deadline_seconds)
        .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0)));
    let containers = run_containers(context.clone());
    match deadline {
        Some(deadline) => {
            tokio::select! {
                () = containers => {}
                () = tokio::time::sleep(deadline) => {
                    // Dropping `containers` stopped the restart loops; now stop the processes.
                    let _ = ctx.podman.run(&["pod", "stop", "-t", "0", &podman_pod]).await;
                    let now = crate::object::now_rfc3339();
                    context.update(|state| {
                        state.failure = Some(PodFailure {
                            reason: "DeadlineExceeded".into(),
                            message: "Pod was active on the node longer than the specified deadline".into(),
                        });
                        for container in state.containers.iter_mut().chain(state.init.iter_mut()) {
                            container.finished = true;
                            if let State::Running { started_at, container_id } = &container.state {
                                container.state = State::Terminated(Terminated {
                                    exit_code: 137,
                                    reason: "Error".into(),
                                    message: None,
                                    started_at: started_at.clone(),
                                    finished_at: now.clone(),
                                    container_id: container_id.clone(),
                                });
                            }
                        }
                    });
                }
            }
        }
        None => containers.await,
    }
    context.update(|state| {
        for container in state.containers.iter_mut().chain(state.init.iter_mut()) {
            container.ready = false;
        }
    });
    // The pod is done: stop its sandbox; the containers and their logs stay until deletion.
    let _ = ctx
        .podman
        .run(&["pod", "stop", "-t", "0", &podman_pod])
        .await;
}

/// Shows every container as waiting in `ContainerCreating` with a message.
fn all_waiting(ctx: &Context, pod: &Value, runtime: &Mutex<PodRuntime>, message: &str) {
    let mut guard = runtime.lock().expect("pod runtime lock poisoned");
    let state = &mut *guard;
    for container in state.init.iter_mut().chain(state.containers.iter_mut()) {
        container.state = State::Waiting {
            reason: "ContainerCreating".into(),
            message: Some(message.to_owned()),
        };
    }
    publish(ctx, pod, state);
}

async fn run_containers(context: Arc<PodContext>) {
    let init = context
        .typed
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.clone())
        .unwrap_or_default();
    for (index, spec) in init.into_iter().enumerate() {
        let run = Run {
            pod: context.clone(),
            init: true,
            index,
            spec,
        };
        if container::supervise(run).await != Some(0) {
            return;
        }
    }
    context.update(|state| state.initialized = true);
    let main = context
        .typed
        .spec
        .as_ref()
        .map(|s| s.containers.clone())
        .unwrap_or_default();
    let mut running = JoinSet::new();
    for (index, spec) in main.into_iter().enumerate() {
        running.spawn(container::supervise(Run {
            pod: context.clone(),
            init: false,
            index,
            spec,
        }));
        // As the kubelet does, start the containers one after the other, in spec order: a
        // container may rely on the ones before it having started (a results collector that
        // waits for the test containers of its pod to end).
        started(&context, index).await;
    }
    while running.join_next().await.is_some() {}
}

/// How often [`started`] looks.
const START_POLL: Duration = Duration::from_millis(20);

/// Waits until the main container `index` runs, has ended, or could not be started (its
/// image cannot be pulled, it failed to start).
async fn started(context: &PodContext, index: usize) {
    loop {
        let settled = {
            let runtime = context.runtime.lock().expect("pod runtime lock poisoned");
            let container = &runtime.containers[index];
            container.finished
                || !matches!(&container.state, State::Waiting { reason, .. } if reason == "ContainerCreating")
        };
        if settled {
            return;
        }
        tokio::time::sleep(START_POLL).await;
    }
}

/// Creates and starts the podman pod (the sandbox that holds the network namespace); returns
/// the pod IP.
async fn create_sandbox(
    ctx: &Context,
    pod: &Value,
    typed: &Pod,
    podman_pod: &str,
) -> Result<String, String> {
    let spec = typed.spec.as_ref();
    let namespace = pod.namespace();
    let hostname: String = spec
        .and_then(|s| s.hostname.clone())
        .unwrap_or_else(|| pod.name().to_owned())
        .chars()
        .take(63)
        .collect();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    // `shareProcessNamespace`: the containers see each other's processes, the sandbox's
    // pause process is PID 1.
    let share_pid = spec
        .and_then(|s| s.share_process_namespace)
        .unwrap_or(false);
    let mut args: Vec<String> = vec![
        "pod".into(),
        "create".into(),
        "--name".into(),
        podman_pod.to_owned(),
        "--infra-name".into(),
        format!("{podman_pod}.infra"),
        "--label".into(),
        ctx.podman.label(),
        "--label".into(),
        format!("dev.chorale.kube-sim/pod-uid={}", pod.uid()),
    ];
    if share_pid {
        args.extend(["--share".into(), "ipc,net,uts,pid".into()]);
    }
    if host_network {
        args.extend(["--network".into(), "host".into()]);
    } else {
        args.extend([
            "--network".into(),
            ctx.network.name.clone(),
            "--hostname".into(),
            hostname,
        ]);
    }
    let dns_policy = spec
        .and_then(|s| s.dns_policy.as_deref())
        .unwrap_or("ClusterFirst");
    let cluster_dns = matches!(dns_policy, "ClusterFirst" | "ClusterFirstWithHostNet")
        && !host_network
        || dns_policy == "ClusterFirstWithHostNet";
    if cluster_dns {
        args.extend(["--dns".into(), ctx.network.gateway.to_string()]);
        for search in [
            format!("{namespace}.svc.cluster.local"),
            "svc.cluster.local".into(),
            "cluster.local".into(),
        ] {
            args.extend(["--dns-search".into(), search]);
        }
        args.extend(["--dns-option".into(), "ndots:5".into()]);
    }
    if let Some(config) = spec.and_then(|s| s.dns_config.as_ref()) {
        for server in config.nameservers.iter().flatten() {
            args.extend(["--dns".into(), server.clone()]);
        }
        for search in config.searches.iter().flatten() {
            args.extend(["--dns-search".into(), search.clone()]);
        }
        for option in config.options.iter().flatten() {
            let text = match (&option.name, &option.value) {
                (Some(name), Some(value)) => format!("{name}:{value}"),
                (Some(name), None) => name.clone(),
                _ => continue,
            };
            args.extend(["--dns-option".into(), text]);
        }
    }
    for alias in spec
        .and_then(|s| s.host_aliases.as_ref())
        .into_iter()
        .flatten()
    {
        for name in alias.hostnames.iter().flatten() {
            args.extend(["--add-host".into(), format!("{name}:{}", alias.ip)]);
        }
    }
    ctx.podman.run(&args).await.map_err(|e| e.to_string())?;
    ctx.podman
        .run(&["pod", "start", podman_pod])
        .await
        .map_err(|e| e.to_string())?;
    if host_network {
        return Ok(ctx.network.gateway.to_string());
    }
    let infra = format!("{podman_pod}.infra");
    let format = format!(
        "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
        ctx.network.name
    );
    let ip = ctx
        .podman
        .run(&["inspect", "--format", &format, &infra])
        .await
        .map_err(|e| e.to_string())?;
    if ip.is_empty() {
        return Err(format!("podman gave pod {podman_pod} no address"));
    }
    Ok(ip)
}

async fn teardown(
    ctx: &Context,
    pod: &Value,
    podman_pod: &str,
    dir: &std::path::Path,
    force: bool,
) {
    if !force {
        let pods = ctx.storage.resource("", "pods");
        let grace = ctx
            .storage
            .store
            .get(&pods.key(), pod.namespace(), pod.name())
            .filter(|current| current.uid() == pod.uid())
            .and_then(|current| current.i64_at("/metadata/deletionGracePeriodSeconds"))
            .unwrap_or(MAX_GRACE)
            .clamp(0, MAX_GRACE);
        let _ = ctx
            .podman
            .run(&["pod", "stop", "-t", &grace.to_string(), podman_pod])
            .await;
    }
    if let Err(error) = ctx
        .podman
        .run(&["pod", "rm", "-f", "-t", "0", podman_pod])
        .await
    {
        tracing::debug!(%error, pod = pod.name(), "removing the podman pod");
    }
    let dir = dir.to_owned();
    let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
    ctx.runtimes
        .lock()
        .expect("runtimes lock poisoned")
        .remove(pod.uid());
    let pods = ctx.storage.resource("", "pods");
    ctx.storage
        .remove(&pods, pod.namespace(), pod.name(), pod.uid());
    ctx.workers
        .lock()
        .expect("workers lock poisoned")
        .remove(pod.uid());
    tracing::debug!(pod = pod.name(), namespace = pod.namespace(), "pod removed");
}
