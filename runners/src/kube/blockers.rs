//! What keeps a pod from making progress on its own: an image that cannot be pulled, a pod no
//! node can take, a claim no volume is bound to, a sandbox the node cannot create. Waits that depend on the cluster (a Job, a
//! helm release) watch for these beside their own condition, so they end early with a message
//! that names the object and its condition instead of running into their whole timeout.
//!
//! [`pod_blocker`] is a pure function of a Pod, [`sandbox_blocker`] of a Pod and the namespace's
//! `FailedCreatePodSandBox` events (both tested on YAML fixtures); [`Kube::blocked`] polls the
//! pods of a selector and answers once a blocker has lasted long enough.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use ::kube::Api;
use k8s_openapi::api::core::v1::{Event, PersistentVolumeClaim, Pod};
use tokio::time::Instant;

use super::{Kube, api_error};
use crate::errors::KubeError;

/// How often [`Kube::blocked`] looks at the pods.
const POLL: Duration = Duration::from_secs(2);

/// Container waiting reasons that mean the image cannot be had (yet).
const IMAGE_REASONS: [&str; 4] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
];

/// Container waiting reasons that mean the container cannot be created from its spec.
const CREATE_REASONS: [&str; 2] = ["CreateContainerConfigError", "CreateContainerError"];

/// The event reason of a pod whose sandbox (its network and pause container) the node cannot
/// make: its status only says `ContainerCreating`.
const SANDBOX_REASON: &str = "FailedCreatePodSandBox";

/// Why a pod cannot go on by itself, read from its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodBlocker {
    /// The pod's name.
    pub pod: String,
    /// The container that waits, when a container is the reason.
    pub container: Option<String>,
    /// The Kubernetes reason: `ImagePullBackOff`, `Unschedulable`, …
    pub reason: String,
    /// The message Kubernetes gives with it.
    pub message: String,
    /// Whether waiting cannot help (an invalid image name, a pull the pod forbids): such a
    /// blocker ends a wait at once; the others only once they have lasted.
    pub permanent: bool,
    /// The claims the pod mounts: an unschedulable pod is often waiting for one of them.
    pub claims: Vec<String>,
}

impl PodBlocker {
    /// What identifies a blocker over time: the pod, the container and the kind of reason
    /// (an image, a container's creation, scheduling).
    fn key(&self) -> (String, Option<String>, &'static str) {
        let kind = if IMAGE_REASONS.contains(&self.reason.as_str()) {
            "image"
        } else if CREATE_REASONS.contains(&self.reason.as_str()) {
            "create"
        } else if self.reason == SANDBOX_REASON {
            "sandbox"
        } else {
            "schedule"
        };
        (self.pod.clone(), self.container.clone(), kind)
    }
}

/// A wait ended early: the object that blocks it, its condition and what Kubernetes says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// The object, e.g. `Pod demo/test-smoke-x7k2p` or `PersistentVolumeClaim demo/data`.
    pub object: String,
    /// Its condition, e.g. `ImagePullBackOff`, `Unschedulable` or `Pending`.
    pub reason: String,
    /// What Kubernetes says about it, with what would help where that is known.
    pub message: String,
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is {}: {}", self.object, self.reason, self.message)
    }
}

/// Why `pod` cannot go on by itself, if something outside it holds it: a container waiting on
/// its image or on its creation, or the pod not scheduled because no node can take it.
/// A container that crashes is not a blocker: that is the workload's own failure.
pub fn pod_blocker(pod: &Pod) -> Option<PodBlocker> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let spec = pod.spec.as_ref();
    let claims: Vec<String> = spec
        .and_then(|spec| spec.volumes.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|volume| Some(volume.persistent_volume_claim.as_ref()?.claim_name.clone()))
        .collect();
    let status = pod.status.as_ref()?;
    if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
        return None;
    }
    let statuses = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    for container in statuses {
        let Some(waiting) = container.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
            continue;
        };
        let reason = waiting.reason.as_deref().unwrap_or_default();
        if IMAGE_REASONS.contains(&reason) || CREATE_REASONS.contains(&reason) {
            let message = match waiting.message.as_deref() {
                Some(message) if !message.is_empty() => message.to_owned(),
                _ if IMAGE_REASONS.contains(&reason) => {
                    format!("cannot pull image {}", container.image)
                }
                _ => "the container cannot be created".to_owned(),
            };
            return Some(PodBlocker {
                pod: name,
                container: Some(container.name.clone()),
                reason: reason.to_owned(),
                message,
                permanent: matches!(reason, "InvalidImageName" | "ErrImageNeverPull"),
                claims,
            });
        }
    }
    let unschedulable = status.conditions.iter().flatten().find(|condition| {
        condition.type_ == "PodScheduled"
            && condition.status == "False"
            && condition.reason.as_deref() == Some("Unschedulable")
    })?;
    Some(PodBlocker {
        pod: name,
        container: None,
        reason: "Unschedulable".to_owned(),
        message: unschedulable
            .message
            .clone()
            .unwrap_or_else(|| "no node can take the pod".to_owned()),
        permanent: false,
        claims,
    })
}

/// Why `pod` cannot start, when the node keeps failing to create its sandbox: the pod waits
/// (`ContainerCreating`, no container started) and `events` (the namespace's
/// `FailedCreatePodSandBox` events) hold one about this pod. The newest event's message says
/// why (a pause image that cannot be pulled, a network plugin that fails).
pub fn sandbox_blocker(pod: &Pod, events: &[Event]) -> Option<PodBlocker> {
    let name = pod.metadata.name.as_deref()?;
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() != Some("Pending") {
        return None;
    }
    let started = status
        .container_statuses
        .iter()
        .flatten()
        .any(|c| c.state.as_ref().is_some_and(|s| s.waiting.is_none()));
    if started {
        return None;
    }
    let event = events
        .iter()
        .filter(|event| {
            event.reason.as_deref() == Some(SANDBOX_REASON)
                && event.involved_object.name.as_deref() == Some(name)
                && (event.involved_object.uid.is_none()
                    || event.involved_object.uid == pod.metadata.uid)
        })
        .max_by_key(|event| event.last_timestamp.as_ref().map(|t| t.0))?;
    Some(PodBlocker {
        pod: name.to_owned(),
        container: None,
        reason: SANDBOX_REASON.to_owned(),
        message: event
            .message
            .clone()
            .unwrap_or_else(|| "the node cannot create the pod's sandbox".to_owned()),
        permanent: false,
        claims: Vec::new(),
    })
}

impl Kube {
    /// Watches the pods of `namespace` that match the label `selector` and resolves once one
    /// of them has been blocked (see [`pod_blocker`]) for `after` (at once for a permanent
    /// blocker). An unschedulable pod whose claim is not bound is reported as that claim.
    /// Resolves only then; callers race it against their own wait. A failing API call is
    /// retried at the next poll.
    pub async fn blocked(&self, namespace: &str, selector: &str, after: Duration) -> Blocked {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let params = ::kube::api::ListParams::default().labels(selector);
        // (pod, container, kind of blocker) → when it was first seen. `ErrImagePull` and
        // `ImagePullBackOff` alternate while the kubelet retries: one kind, one clock.
        let mut since: BTreeMap<(String, Option<String>, &str), Instant> = BTreeMap::new();
        let events: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        let sandbox_events =
            ::kube::api::ListParams::default().fields(&format!("reason={SANDBOX_REASON}"));
        loop {
            if let Ok(pods) = api.list(&params).await {
                let now = Instant::now();
                let (mut blockers, mut pending) = (Vec::new(), Vec::new());
                for pod in &pods.items {
                    match pod_blocker(pod) {
                        Some(blocker) => blockers.push(blocker),
                        None if pod.status.as_ref().and_then(|s| s.phase.as_deref())
                            == Some("Pending") =>
                        {
                            pending.push(pod);
                        }
                        None => {}
                    }
                }
                // A sandbox that cannot be made shows only in the pod's events.
                if !pending.is_empty()
                    && let Ok(found) = events.list(&sandbox_events).await
                {
                    blockers.extend(
                        (pending.into_iter()).filter_map(|pod| sandbox_blocker(pod, &found.items)),
                    );
                }
                since.retain(|key, _| blockers.iter().any(|b| &b.key() == key));
                for blocker in blockers {
                    let first = *since.entry(blocker.key()).or_insert(now);
                    if blocker.permanent || now.duration_since(first) >= after {
                        return self.describe(namespace, blocker).await;
                    }
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// What to tell about a blocked pod: the first of its claims that is not bound, else the
    /// pod itself.
    async fn describe(&self, namespace: &str, blocker: PodBlocker) -> Blocked {
        if blocker.reason == "Unschedulable" {
            let claims: Api<PersistentVolumeClaim> =
                Api::namespaced(self.client.clone(), namespace);
            for claim in &blocker.claims {
                let phase = match claims.get(claim).await {
                    Ok(found) => found.status.and_then(|s| s.phase),
                    Err(error) => {
                        let error = api_error("read", format!("claim {claim}"), &error);
                        Some(format!("unreadable ({error})"))
                    }
                };
                if phase.as_deref() != Some("Bound") {
                    return Blocked {
                        object: format!("PersistentVolumeClaim {namespace}/{claim}"),
                        reason: phase.unwrap_or_else(|| "Pending".to_owned()),
                        message: format!(
                            "no volume is bound to it, so pod {} cannot be scheduled ({}); \
                             the cluster may have no default StorageClass or no matching \
                             PersistentVolume",
                            blocker.pod, blocker.message
                        ),
                    };
                }
            }
        }
        let object = format!("Pod {namespace}/{}", blocker.pod);
        Blocked {
            object: match &blocker.container {
                Some(container) => format!("{object} (container {container})"),
                None => object,
            },
            reason: blocker.reason,
            message: blocker.message,
        }
    }

    /// The label selector of the Job `name` (`controller-uid=…` before Kubernetes 1.27,
    /// `batch.kubernetes.io/controller-uid=…` from 1.27): what finds its pods on every
    /// version.
    pub async fn job_selector(&self, namespace: &str, name: &str) -> Result<String, KubeError> {
        let api: Api<k8s_openapi::api::batch::v1::Job> =
            Api::namespaced(self.client.clone(), namespace);
        let object = format!("Job {namespace}/{name}");
        let job = api
            .get(name)
            .await
            .map_err(|error| api_error("read", object.clone(), &error))?;
        job.spec
            .and_then(|spec| spec.selector)
            .and_then(|selector| selector.match_labels)
            .filter(|labels| !labels.is_empty())
            .map(|labels| {
                labels
                    .iter()
                    .map(|(key, value)| format!("{key}={value}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .ok_or(KubeError::InvalidObject {
                object,
                message: "its spec.selector has no matchLabels".to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(yaml: &str) -> Pod {
        serde_saphyr::from_str(yaml).expect("a Pod fixture")
    }

    #[test]
    fn an_image_that_cannot_be_pulled_blocks_the_pod() {
        let blocker = pod_blocker(&pod("metadata: { name: docs-1 }
spec: { containers: [ { name: docs, image: reg/docs@sha256:ab } ] }
status:
  phase: Pending
  containerStatuses:
    - name: docs
      image: reg/docs@sha256:ab
      imageID: ''
      ready: false
      restartCount: 0
      state:
        waiting:
          reason: ImagePullBackOff
          message: 'Back-off pulling image \"reg/docs@sha256:ab\"'
"))
        .expect("blocked");
        assert_eq!(blocker.pod, "docs-1");
        assert_eq!(blocker.container.as_deref(), Some("docs"));
        assert_eq!(blocker.reason, "ImagePullBackOff");
        assert!(blocker.message.contains("Back-off pulling"));
        assert!(!blocker.permanent, "a registry may come back");
    }

    fn events(yaml: &str) -> Vec<Event> {
        serde_saphyr::from_str(yaml).expect("Event fixtures")
    }

    #[test]
    fn a_sandbox_the_node_cannot_make_blocks_a_pod_that_only_says_container_creating() {
        let creating = pod("metadata: { name: db-0, uid: u1 }
spec: { containers: [ { name: db, image: reg/db@sha256:ab } ] }
status:
  phase: Pending
  containerStatuses:
    - { name: db, image: reg/db@sha256:ab, imageID: '', ready: false, restartCount: 0,
        state: { waiting: { reason: ContainerCreating } } }
");
        assert_eq!(
            pod_blocker(&creating),
            None,
            "its status says nothing is wrong"
        );
        let found = events(
            "- metadata: { name: db-0.1, namespace: demo }
  involvedObject: { kind: Pod, name: db-0, uid: u1 }
  reason: FailedCreatePodSandBox
  lastTimestamp: '2026-12-04T02:30:00Z'
  message: 'Failed to create pod sandbox: pull image k8s.local/pause:1: no such host'
- metadata: { name: db-0.2, namespace: demo }
  involvedObject: { kind: Pod, name: db-0, uid: u1 }
  reason: FailedCreatePodSandBox
  lastTimestamp: '2026-12-04T02:31:00Z'
  message: 'Failed to create pod sandbox: still no pause image'
- metadata: { name: other.1, namespace: demo }
  involvedObject: { kind: Pod, name: db-0, uid: an-earlier-pod }
  reason: FailedCreatePodSandBox
  lastTimestamp: '2026-12-04T02:32:00Z'
  message: 'of a pod of the same name that is gone'
",
        );
        let blocker = sandbox_blocker(&creating, &found).expect("blocked");
        assert_eq!(blocker.reason, "FailedCreatePodSandBox");
        assert_eq!(
            blocker.message,
            "Failed to create pod sandbox: still no pause image"
        );
        assert!(!blocker.permanent, "a node may recover");
        assert_eq!(blocker.key().2, "sandbox");
        assert_eq!(
            sandbox_blocker(&creating, &found[2..]),
            None,
            "another pod's event"
        );

        let running = pod("metadata: { name: db-0, uid: u1 }
spec: { containers: [ { name: db, image: reg/db@sha256:ab } ] }
status:
  phase: Running
  containerStatuses:
    - { name: db, image: reg/db@sha256:ab, imageID: '', ready: true, restartCount: 0,
        state: { running: {} } }
");
        assert_eq!(
            sandbox_blocker(&running, &found),
            None,
            "an old event of a pod that started"
        );
    }

    #[test]
    fn an_invalid_image_name_is_permanent_and_an_init_container_counts() {
        let blocker = pod_blocker(&pod("metadata: { name: p }
spec: { containers: [ { name: main, image: x } ] }
status:
  phase: Pending
  initContainerStatuses:
    - { name: setup, image: 'UPPER/case', imageID: '', ready: false, restartCount: 0,
        state: { waiting: { reason: InvalidImageName } } }
  containerStatuses:
    - { name: main, image: x, imageID: '', ready: false, restartCount: 0,
        state: { waiting: { reason: PodInitializing } } }
"))
        .expect("blocked");
        assert_eq!(blocker.container.as_deref(), Some("setup"));
        assert!(blocker.permanent);
        assert_eq!(blocker.message, "cannot pull image UPPER/case");
    }

    #[test]
    fn an_unschedulable_pod_names_its_claims() {
        let blocker = pod_blocker(&pod("metadata: { name: test-x }
spec:
  containers: [ { name: t, image: x } ]
  volumes:
    - { name: results, persistentVolumeClaim: { claimName: test-x-results } }
    - { name: scratch, emptyDir: {} }
status:
  phase: Pending
  conditions:
    - type: PodScheduled
      status: 'False'
      reason: Unschedulable
      message: '0/1 nodes are available: 1 pod has unbound immediate PersistentVolumeClaims.'
"))
        .expect("blocked");
        assert_eq!(blocker.reason, "Unschedulable");
        assert_eq!(blocker.claims, ["test-x-results"]);
        assert!(blocker.message.contains("unbound immediate"));
    }

    #[test]
    fn running_crashing_and_finished_pods_are_not_blocked() {
        for yaml in [
            "metadata: { name: ok }
status: { phase: Running, conditions: [ { type: PodScheduled, status: 'True' } ] }",
            "metadata: { name: crash }
status:
  phase: Running
  containerStatuses:
    - { name: c, image: x, imageID: '', ready: false, restartCount: 3,
        state: { waiting: { reason: CrashLoopBackOff } } }",
            "metadata: { name: done }
status:
  phase: Failed
  containerStatuses:
    - { name: c, image: x, imageID: '', ready: false, restartCount: 0,
        state: { waiting: { reason: ErrImagePull } } }",
            "metadata: { name: new }",
        ] {
            assert_eq!(pod_blocker(&pod(yaml)), None, "{yaml}");
        }
    }

    #[test]
    fn pull_errors_and_back_off_are_one_blocker_over_time() {
        let blocker = |reason: &str| PodBlocker {
            pod: "p".to_owned(),
            container: Some("c".to_owned()),
            reason: reason.to_owned(),
            message: String::new(),
            permanent: false,
            claims: Vec::new(),
        };
        assert_eq!(
            blocker("ErrImagePull").key(),
            blocker("ImagePullBackOff").key()
        );
        assert_ne!(
            blocker("ErrImagePull").key(),
            blocker("CreateContainerConfigError").key()
        );
    }

    #[test]
    fn a_blocked_wait_reads_as_a_sentence() {
        let blocked = Blocked {
            object: "Pod demo/docs-1 (container docs)".to_owned(),
            reason: "ImagePullBackOff".to_owned(),
            message: "Back-off pulling image".to_owned(),
        };
        assert_eq!(
            blocked.to_string(),
            "Pod demo/docs-1 (container docs) is ImagePullBackOff: Back-off pulling image"
        );
    }
}
