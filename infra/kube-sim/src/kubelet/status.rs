//! What the kubelet knows about a running pod, and the Pod `status` it publishes from it.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::object::now_rfc3339;

/// A container that stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminated {
    /// The exit code (128 and up for failures to start).
    pub exit_code: i32,
    /// `Completed`, `Error`, `StartError`, ...
    pub reason: String,
    /// Details, when there are any.
    pub message: Option<String>,
    /// When it started.
    pub started_at: String,
    /// When it stopped.
    pub finished_at: String,
    /// `podman://ID`.
    pub container_id: String,
}

/// A container's state, as `containerStatuses[].state` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Not running: being created, pulling, backing off.
    Waiting {
        /// `ContainerCreating`, `ErrImagePull`, `ImagePullBackOff`, `CrashLoopBackOff`, ...
        reason: String,
        /// Details.
        message: Option<String>,
    },
    /// Running since `started_at`.
    Running {
        /// When it started.
        started_at: String,
        /// `podman://ID`.
        container_id: String,
    },
    /// Stopped.
    Terminated(Terminated),
}

/// One container of a pod.
#[derive(Debug, Clone)]
pub struct ContainerRuntime {
    /// The container name.
    pub name: String,
    /// The image as the spec names it.
    pub image: String,
    /// `REPOSITORY@DIGEST` once pulled.
    pub image_id: String,
    /// The current state.
    pub state: State,
    /// The previous run, after a restart.
    pub last_terminated: Option<Terminated>,
    /// Passed its readiness probe (or has none and runs).
    pub ready: bool,
    /// Passed its startup probe (or has none and runs).
    pub started: bool,
    /// How often it was restarted.
    pub restart_count: i32,
    /// The podman container of the current run.
    pub current: Option<String>,
    /// The podman container of the previous run.
    pub previous: Option<String>,
    /// Will not run again (its restart policy says so).
    pub finished: bool,
}

impl ContainerRuntime {
    /// A container that has not been created yet.
    pub fn new(name: &str, image: &str) -> Self {
        Self {
            name: name.to_owned(),
            image: image.to_owned(),
            image_id: String::new(),
            state: State::Waiting {
                reason: "ContainerCreating".into(),
                message: None,
            },
            last_terminated: None,
            ready: false,
            started: false,
            restart_count: 0,
            current: None,
            previous: None,
            finished: false,
        }
    }

    fn has_run(&self) -> bool {
        self.restart_count > 0
            || self.last_terminated.is_some()
            || !matches!(self.state, State::Waiting { .. })
    }

    fn succeeded(&self) -> bool {
        matches!(&self.state, State::Terminated(t) if t.exit_code == 0)
    }

    fn to_status(&self) -> Value {
        let mut status = json!({
            "name": self.name,
            "image": self.image,
            "imageID": self.image_id,
            "ready": self.ready,
            "started": self.started,
            "restartCount": self.restart_count,
            "state": state_json(&self.state),
            "lastState": self.last_terminated.as_ref().map_or(json!({}), |t| json!({"terminated": terminated_json(t)})),
        });
        match &self.state {
            State::Running { container_id, .. } => status["containerID"] = json!(container_id),
            State::Terminated(t) => status["containerID"] = json!(t.container_id),
            State::Waiting { .. } => {}
        }
        status
    }
}

fn terminated_json(t: &Terminated) -> Value {
    let mut value = json!({
        "exitCode": t.exit_code,
        "reason": t.reason,
        "startedAt": t.started_at,
        "finishedAt": t.finished_at,
        "containerID": t.container_id,
    });
    if let Some(message) = &t.message {
        value["message"] = json!(message);
    }
    value
}

fn state_json(state: &State) -> Value {
    match state {
        State::Waiting { reason, message } => {
            let mut waiting = json!({"reason": reason});
            if let Some(message) = message {
                waiting["message"] = json!(message);
            }
            json!({"waiting": waiting})
        }
        State::Running { started_at, .. } => json!({"running": {"startedAt": started_at}}),
        State::Terminated(t) => json!({"terminated": terminated_json(t)}),
    }
}

/// A pod-level failure that ends the pod (active deadline exceeded).
#[derive(Debug, Clone)]
pub struct PodFailure {
    /// `DeadlineExceeded`, ...
    pub reason: String,
    /// Details.
    pub message: String,
}

/// Everything the kubelet tracks about one pod.
#[derive(Debug, Clone)]
pub struct PodRuntime {
    /// The pod IP, once the sandbox runs.
    pub pod_ip: Option<String>,
    /// The node's IP.
    pub host_ip: String,
    /// When the kubelet started the pod.
    pub start_time: String,
    /// The QoS class admission chose.
    pub qos_class: Value,
    /// All init containers completed.
    pub initialized: bool,
    /// Init containers.
    pub init: Vec<ContainerRuntime>,
    /// Main containers.
    pub containers: Vec<ContainerRuntime>,
    /// A pod-level failure.
    pub failure: Option<PodFailure>,
    /// When each condition last changed, and to what.
    transitions: HashMap<&'static str, (bool, String)>,
    /// The PodScheduled condition as admission wrote it.
    scheduled: Value,
}

impl PodRuntime {
    /// The runtime of a pod about to start.
    pub fn new(pod: &Value, host_ip: &str) -> Self {
        let containers = |pointer: &str| -> Vec<ContainerRuntime> {
            pod.pointer(pointer)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| {
                    ContainerRuntime::new(
                        c.get("name").and_then(Value::as_str).unwrap_or(""),
                        c.get("image").and_then(Value::as_str).unwrap_or(""),
                    )
                })
                .collect()
        };
        let init = containers("/spec/initContainers");
        let scheduled = pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|c| c["type"] == "PodScheduled").cloned())
            .unwrap_or_else(|| json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now_rfc3339()}));
        Self {
            pod_ip: None,
            host_ip: host_ip.to_owned(),
            start_time: now_rfc3339(),
            qos_class: pod
                .pointer("/status/qosClass")
                .cloned()
                .unwrap_or(json!("BestEffort")),
            initialized: init.is_empty(),
            init,
            containers: containers("/spec/containers"),
            failure: None,
            transitions: HashMap::new(),
            scheduled,
        }
    }

    /// The container called `name`, init or main.
    pub fn container_mut(&mut self, init: bool, index: usize) -> &mut ContainerRuntime {
        if init {
            &mut self.init[index]
        } else {
            &mut self.containers[index]
        }
    }

    /// Finds a container by name.
    pub fn find(&self, name: &str) -> Option<&ContainerRuntime> {
        self.containers
            .iter()
            .chain(&self.init)
            .find(|c| c.name == name)
    }

    /// The pod phase.
    pub fn phase(&self) -> &'static str {
        if self.failure.is_some() {
            return "Failed";
        }
        if self.init.iter().any(|c| c.finished && !c.succeeded()) {
            return "Failed";
        }
        if !self.initialized {
            return "Pending";
        }
        if self.containers.iter().all(|c| c.finished) {
            return if self.containers.iter().all(ContainerRuntime::succeeded) {
                "Succeeded"
            } else {
                "Failed"
            };
        }
        if self.containers.iter().all(ContainerRuntime::has_run) {
            "Running"
        } else {
            "Pending"
        }
    }

    fn condition(
        &mut self,
        kind: &'static str,
        status: bool,
        reason: Option<&str>,
        message: Option<String>,
    ) -> Value {
        let now = now_rfc3339();
        let entry = self
            .transitions
            .entry(kind)
            .or_insert((status, now.clone()));
        if entry.0 != status {
            *entry = (status, now);
        }
        let mut condition = json!({
            "type": kind,
            "status": if status { "True" } else { "False" },
            "lastProbeTime": null,
            "lastTransitionTime": entry.1,
        });
        if let Some(reason) = reason {
            condition["reason"] = json!(reason);
        }
        if let Some(message) = message {
            condition["message"] = json!(message);
        }
        condition
    }

    /// The Pod `status` object.
    pub fn render_status(&mut self) -> Value {
        let phase = self.phase();
        let terminal = matches!(phase, "Succeeded" | "Failed");
        let unready: Vec<String> = self
            .containers
            .iter()
            .filter(|c| !c.ready)
            .map(|c| c.name.clone())
            .collect();
        let all_ready = unready.is_empty() && !terminal;
        let (ready_reason, ready_message) = if all_ready {
            (None, None)
        } else if terminal {
            (
                Some(if phase == "Succeeded" {
                    "PodCompleted"
                } else {
                    "PodFailed"
                }),
                None,
            )
        } else {
            (
                Some("ContainersNotReady"),
                Some(format!(
                    "containers with unready status: [{}]",
                    unready.join(" ")
                )),
            )
        };
        let sandbox = self.pod_ip.is_some() && !terminal;
        let uninitialized: Vec<String> = self
            .init
            .iter()
            .filter(|c| !c.finished)
            .map(|c| c.name.clone())
            .collect();
        let initialized_message = (!self.initialized).then(|| {
            format!(
                "containers with incomplete status: [{}]",
                uninitialized.join(" ")
            )
        });
        let conditions = vec![
            self.condition("PodReadyToStartContainers", sandbox, None, None),
            self.condition(
                "Initialized",
                self.initialized,
                (!self.initialized).then_some("ContainersNotInitialized"),
                initialized_message,
            ),
            self.condition("Ready", all_ready, ready_reason, ready_message.clone()),
            self.condition("ContainersReady", all_ready, ready_reason, ready_message),
            self.scheduled.clone(),
        ];
        let mut status = json!({
            "phase": phase,
            "conditions": conditions,
            "hostIP": self.host_ip,
            "hostIPs": [{"ip": self.host_ip}],
            "startTime": self.start_time,
            "qosClass": self.qos_class,
            "containerStatuses": self.containers.iter().map(ContainerRuntime::to_status).collect::<Vec<_>>(),
        });
        if !self.init.is_empty() {
            status["initContainerStatuses"] = json!(
                self.init
                    .iter()
                    .map(ContainerRuntime::to_status)
                    .collect::<Vec<_>>()
            );
        }
        if let Some(ip) = &self.pod_ip {
            status["podIP"] = json!(ip);
            status["podIPs"] = json!([{"ip": ip}]);
        }
        if let Some(failure) = &self.failure {
            status["reason"] = json!(failure.reason);
            status["message"] = json!(failure.message);
        }
        status
    }
}
