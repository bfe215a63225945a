//! The Kubernetes API through kube-rs: namespaces, the state of workloads and pods, pod logs,
//! creating and deleting any namespaced object, and waiting for Jobs and Pods to finish.
//!
//! [`Kube`] takes a kubeconfig path and names objects by namespace and name; it returns plain
//! summaries ([`Workload`], [`PodSummary`], [`JobResult`]) rather than the API's types, so
//! callers need no Kubernetes types of their own. Every wait is a watch with an explicit end
//! on success and on failure, under a timeout, and a wait on pods also ends when something
//! outside them blocks them ([`blockers`]).

mod blockers;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::Path;
use std::time::Duration;

use ::kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, LogParams,
    ObjectMeta, PostParams,
};
use ::kube::config::{KubeConfigOptions, Kubeconfig};
use ::kube::runtime::wait::await_condition;
use ::kube::{Client, Config, Resource};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use serde::de::DeserializeOwned;

use crate::errors::KubeError;

pub use blockers::{Blocked, PodBlocker, pod_blocker};

/// A connection to one cluster, made from a kubeconfig.
#[derive(Clone)]
pub struct Kube {
    client: Client,
}

impl Debug for Kube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kube")
            .field("namespace", &self.client.default_namespace())
            .finish_non_exhaustive()
    }
}

/// The rollout state of a Deployment, StatefulSet or DaemonSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// `Deployment`, `StatefulSet` or `DaemonSet`.
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// How many pods it should have (`spec.replicas`, or the DaemonSet's scheduled count).
    pub desired: i32,
    /// How many of its pods are ready.
    pub ready: i32,
    /// How many of its pods run the current template.
    pub updated: i32,
    /// How many of its pods are available (ready for `minReadySeconds`).
    pub available: i32,
    /// Whether the controller has seen the latest spec (`observedGeneration >= generation`).
    pub observed: bool,
    /// The object's labels.
    pub labels: BTreeMap<String, String>,
}

impl Workload {
    /// Whether the rollout is done: the controller saw the latest spec and every desired pod
    /// is updated, ready and available.
    pub fn is_ready(&self) -> bool {
        self.observed
            && self.ready >= self.desired
            && self.updated >= self.desired
            && self.available >= self.desired
    }
}

/// What a person needs to know about a pod when a deployment or a test goes wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSummary {
    /// The pod's name.
    pub name: String,
    /// `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`.
    pub phase: String,
    /// Whether its `Ready` condition is true.
    pub ready: bool,
    /// Restarts of all its containers together.
    pub restarts: i32,
    /// Its containers' names (init containers not included).
    pub containers: Vec<String>,
    /// Why containers (init containers included) wait, as `Reason: message`, e.g.
    /// `ImagePullBackOff: Back-off pulling image "…"`.
    pub waiting: Vec<String>,
    /// The pod's labels.
    pub labels: BTreeMap<String, String>,
    /// The controller that owns it, as `(kind, name)`.
    pub owner: Option<(String, String)>,
}

/// How a Job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobResult {
    /// Its `Complete` condition is true.
    Succeeded,
    /// Its `Failed` condition is true.
    Failed {
        /// The condition's reason, e.g. `BackoffLimitExceeded` or `DeadlineExceeded`.
        reason: String,
        /// The condition's message.
        message: String,
    },
    /// Neither happened within the timeout.
    TimedOut,
    /// A pod of the Job could not go on (an image that cannot be pulled, no node for it, an
    /// unbound claim) for longer than the wait allows.
    Blocked(Blocked),
}

impl Kube {
    /// Connects with the kubeconfig at `kubeconfig` (its current context).
    pub async fn connect(kubeconfig: &Path) -> Result<Self, KubeError> {
        let fail = |message: String| KubeError::Kubeconfig {
            path: kubeconfig.to_owned(),
            message,
        };
        let file = Kubeconfig::read_from(kubeconfig).map_err(|error| fail(error.to_string()))?;
        let config = Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
            .await
            .map_err(|error| fail(error.to_string()))?;
        let client = Client::try_from(config).map_err(|error| fail(error.to_string()))?;
        Ok(Self { client })
    }

    /// The kube-rs client, for calls this API does not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Checks that the API server answers `GET /readyz` with `ok`.
    pub async fn ready(&self) -> Result<(), KubeError> {
        let request = http::Request::get("/readyz")
            .body(Vec::new())
            .map_err(|error| api_failure("read", "/readyz", &error))?;
        self.client
            .request_text(request)
            .await
            .map(drop)
            .map_err(|error| api_error("read", "/readyz".to_owned(), &error))
    }

    /// Creates the namespace `name` with `labels`; a namespace that already exists is left as
    /// it is.
    pub async fn create_namespace(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), KubeError> {
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                labels: Some(labels.clone()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        let api: Api<Namespace> = Api::all(self.client.clone());
        match api.create(&PostParams::default(), &namespace).await {
            Ok(_) => Ok(()),
            Err(::kube::Error::Api(status)) if status.is_already_exists() => Ok(()),
            Err(error) => Err(api_error("create", format!("namespace {name}"), &error)),
        }
    }

    /// Deletes the namespace `name` and waits until it is gone (its objects with it), at most
    /// `wait`. A namespace that does not exist is fine.
    pub async fn delete_namespace(&self, name: &str, wait: Duration) -> Result<(), KubeError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let object = format!("namespace {name}");
        match api.delete(name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(::kube::Error::Api(status)) if status.is_not_found() => return Ok(()),
            Err(error) => return Err(api_error("delete", object, &error)),
        }
        let gone = await_condition(api, name, |namespace: Option<&Namespace>| {
            namespace.is_none()
        });
        match tokio::time::timeout(wait, gone).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(api_failure("watch", &object, &error)),
            Err(_) => Err(KubeError::Timeout {
                object,
                what: "go away",
                timeout: wait,
            }),
        }
    }

    /// The Deployments, StatefulSets and DaemonSets of `namespace` (matching the label
    /// `selector`, if given), in that order, each sorted by name.
    pub async fn workloads(
        &self,
        namespace: &str,
        selector: Option<&str>,
    ) -> Result<Vec<Workload>, KubeError> {
        let mut workloads = Vec::new();
        for deployment in self.list::<Deployment>(namespace, selector).await? {
            let status = deployment.status.unwrap_or_default();
            workloads.push(Workload {
                kind: "Deployment".to_owned(),
                desired: deployment.spec.and_then(|spec| spec.replicas).unwrap_or(1),
                ready: status.ready_replicas.unwrap_or(0),
                updated: status.updated_replicas.unwrap_or(0),
                available: status.available_replicas.unwrap_or(0),
                observed: observed(&deployment.metadata, status.observed_generation),
                ..named(deployment.metadata)
            });
        }
        for stateful_set in self.list::<StatefulSet>(namespace, selector).await? {
            let status = stateful_set.status.unwrap_or_default();
            workloads.push(Workload {
                kind: "StatefulSet".to_owned(),
                desired: stateful_set
                    .spec
                    .and_then(|spec| spec.replicas)
                    .unwrap_or(1),
                ready: status.ready_replicas.unwrap_or(0),
                updated: status.updated_replicas.unwrap_or(0),
                available: status.available_replicas.unwrap_or(0),
                observed: observed(&stateful_set.metadata, status.observed_generation),
                ..named(stateful_set.metadata)
            });
        }
        for daemon_set in self.list::<DaemonSet>(namespace, selector).await? {
            let status = daemon_set.status.unwrap_or_default();
            workloads.push(Workload {
                kind: "DaemonSet".to_owned(),
                desired: status.desired_number_scheduled,
                ready: status.number_ready,
                updated: status.updated_number_scheduled.unwrap_or(0),
                available: status.number_available.unwrap_or(0),
                observed: observed(&daemon_set.metadata, status.observed_generation),
                ..named(daemon_set.metadata)
            });
        }
        Ok(workloads)
    }

    /// The pods of `namespace` (matching the label `selector`, if given), sorted by name.
    pub async fn pods(
        &self,
        namespace: &str,
        selector: Option<&str>,
    ) -> Result<Vec<PodSummary>, KubeError> {
        Ok(self
            .list::<Pod>(namespace, selector)
            .await?
            .into_iter()
            .map(summarize)
            .collect())
    }

    /// The log of a pod's container (the pod's only or default container when `container` is
    /// `None`).
    pub async fn pod_logs(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
    ) -> Result<String, KubeError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let params = LogParams {
            container: container.map(str::to_owned),
            ..LogParams::default()
        };
        api.logs(pod, &params).await.map_err(|error| {
            let object = match container {
                Some(container) => {
                    format!("the log of container {container} of pod {namespace}/{pod}")
                }
                None => format!("the log of pod {namespace}/{pod}"),
            };
            api_error("read", object, &error)
        })
    }

    /// Deletes a pod; one that does not exist is fine.
    pub async fn delete_pod(&self, namespace: &str, name: &str) -> Result<(), KubeError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        delete_with(&api, name, format!("Pod {namespace}/{name}")).await
    }

    /// Creates a namespaced object of any kind the cluster serves (a PVC, a Job, a Pod, a
    /// ConfigMap, a custom resource…) from its JSON form, which names `apiVersion`, `kind` and
    /// `metadata.name` (or `metadata.generateName`).
    pub async fn create(
        &self,
        namespace: &str,
        object: &serde_json::Value,
    ) -> Result<(), KubeError> {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let kind = object["kind"].as_str().unwrap_or_default();
        let name = object["metadata"]["name"]
            .as_str()
            .or_else(|| object["metadata"]["generateName"].as_str())
            .unwrap_or_default();
        let described = format!(
            "{} {namespace}/{name}",
            if kind.is_empty() { "object" } else { kind }
        );
        if api_version.is_empty() || kind.is_empty() || name.is_empty() {
            return Err(KubeError::InvalidObject {
                object: described,
                message: "an object needs `apiVersion`, `kind` and `metadata.name`".to_owned(),
            });
        }
        let dynamic: DynamicObject =
            serde_json::from_value(object.clone()).map_err(|error| KubeError::InvalidObject {
                object: described.clone(),
                message: error.to_string(),
            })?;
        let api = self.dynamic_api(namespace, api_version, kind).await?;
        api.create(&PostParams::default(), &dynamic)
            .await
            .map(drop)
            .map_err(|error| api_error("create", described, &error))
    }

    /// Deletes a namespaced object by `apiVersion`, kind and name, with background
    /// propagation (its dependents, e.g. a Job's pods, go afterwards); one that does not exist
    /// is fine.
    pub async fn delete(
        &self,
        namespace: &str,
        api_version: &str,
        kind: &str,
        name: &str,
    ) -> Result<(), KubeError> {
        let api = self.dynamic_api(namespace, api_version, kind).await?;
        delete_with(&api, name, format!("{kind} {namespace}/{name}")).await
    }

    /// Waits until the Job `name` completes or fails, at most `timeout`; ends early with
    /// [`JobResult::Blocked`] when one of its pods has been blocked for `blocked_after`.
    pub async fn wait_job(
        &self,
        namespace: &str,
        name: &str,
        timeout: Duration,
        blocked_after: Duration,
    ) -> Result<JobResult, KubeError> {
        let api: Api<Job> = Api::namespaced(self.client.clone(), namespace);
        let object = format!("Job {namespace}/{name}");
        let selector = self.job_selector(namespace, name).await?;
        let finished = |job: Option<&Job>| job.is_none_or(|job| job_result(job).is_some());
        let job = tokio::select! {
            job = self.wait_for(api, name, &object, timeout, finished) => job?,
            blocked = self.blocked(namespace, &selector, blocked_after) => {
                return Ok(JobResult::Blocked(blocked));
            }
        };
        let Some(job) = job else {
            return Ok(JobResult::TimedOut);
        };
        job_result(&job).ok_or(KubeError::Gone {
            object,
            what: "finish",
        })
    }

    /// The pods of the Job `job` in the order they were created (its attempts), found by the
    /// Job's own selector, which works on every Kubernetes version.
    pub async fn job_pods(&self, namespace: &str, job: &str) -> Result<Vec<PodSummary>, KubeError> {
        let selector = self.job_selector(namespace, job).await?;
        let mut pods: Vec<Pod> = self
            .list::<Pod>(namespace, Some(&selector))
            .await?
            .into_iter()
            .filter(|pod| {
                pod.metadata.owner_references.iter().flatten().any(|owner| {
                    owner.kind == "Job" && owner.name == job && owner.controller == Some(true)
                })
            })
            .collect();
        pods.sort_by(|a, b| {
            let created = |pod: &Pod| pod.metadata.creation_timestamp.clone().map(|t| t.0);
            created(a)
                .cmp(&created(b))
                .then_with(|| a.metadata.name.cmp(&b.metadata.name))
        });
        Ok(pods.into_iter().map(summarize).collect())
    }

    /// Lists one kind in a namespace, sorted by name.
    async fn list<K>(&self, namespace: &str, selector: Option<&str>) -> Result<Vec<K>, KubeError>
    where
        K: Resource<Scope = ::kube::core::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + Debug
            + DeserializeOwned,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        let params = selector.map_or_else(ListParams::default, |selector| {
            ListParams::default().labels(selector)
        });
        let mut items = api.list(&params).await.map_err(|error| {
            let selected = selector.map_or_else(String::new, |s| format!(" matching {s}"));
            api_error(
                "list",
                format!("{}s in {namespace}{selected}", K::kind(&())),
                &error,
            )
        })?;
        items
            .items
            .sort_by(|a, b| a.meta().name.cmp(&b.meta().name));
        Ok(items.items)
    }

    /// An API for a kind named by `apiVersion` and kind, found through discovery.
    async fn dynamic_api(
        &self,
        namespace: &str,
        api_version: &str,
        kind: &str,
    ) -> Result<Api<DynamicObject>, KubeError> {
        let unknown = |message: String| KubeError::Api {
            action: "find",
            object: format!("the kind {kind} of {api_version}"),
            status: None,
            message,
        };
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let kind_ref = GroupVersionKind::gvk(group, version, kind);
        let (resource, _): (ApiResource, _) =
            ::kube::discovery::pinned_kind(&self.client, &kind_ref)
                .await
                .map_err(|error| unknown(error.to_string()))?;
        Ok(Api::namespaced_with(
            self.client.clone(),
            namespace,
            &resource,
        ))
    }

    /// Checks the object exists, then watches it until `done` holds or `timeout` passes
    /// (`Ok(None)`).
    async fn wait_for<K>(
        &self,
        api: Api<K>,
        name: &str,
        object: &str,
        timeout: Duration,
        done: impl Fn(Option<&K>) -> bool,
    ) -> Result<Option<K>, KubeError>
    where
        K: Resource + Clone + Debug + DeserializeOwned + Send + 'static,
    {
        api.get(name)
            .await
            .map_err(|error| api_error("read", object.to_owned(), &error))?;
        match tokio::time::timeout(timeout, await_condition(api, name, done)).await {
            Err(_) => Ok(None),
            Ok(Ok(Some(found))) => Ok(Some(found)),
            Ok(Ok(None)) => Err(KubeError::Gone {
                object: object.to_owned(),
                what: "finish",
            }),
            Ok(Err(error)) => Err(api_failure("watch", object, &error)),
        }
    }
}

/// Deletes `name` with background propagation; not found is fine.
async fn delete_with<K>(api: &Api<K>, name: &str, object: String) -> Result<(), KubeError>
where
    K: Resource + Clone + Debug + DeserializeOwned,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(::kube::Error::Api(status)) if status.is_not_found() => Ok(()),
        Err(error) => Err(api_error("delete", object, &error)),
    }
}

/// A [`Workload`] with only its name and labels filled in.
fn named(metadata: ObjectMeta) -> Workload {
    Workload {
        kind: String::new(),
        name: metadata.name.unwrap_or_default(),
        desired: 0,
        ready: 0,
        updated: 0,
        available: 0,
        observed: false,
        labels: metadata.labels.unwrap_or_default(),
    }
}

fn observed(metadata: &ObjectMeta, observed_generation: Option<i64>) -> bool {
    match (metadata.generation, observed_generation) {
        (Some(generation), Some(observed)) => observed >= generation,
        (None, _) => true,
        (Some(_), None) => false,
    }
}

fn summarize(pod: Pod) -> PodSummary {
    let spec = pod.spec.unwrap_or_default();
    let status = pod.status.unwrap_or_default();
    let statuses: Vec<_> = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .collect();
    let waiting = statuses
        .iter()
        .filter_map(|container| container.state.as_ref()?.waiting.as_ref())
        .filter_map(|waiting| {
            let reason = waiting.reason.as_deref()?;
            Some(match waiting.message.as_deref() {
                Some(message) if !message.is_empty() => format!("{reason}: {message}"),
                _ => reason.to_owned(),
            })
        })
        .collect();
    let owners = pod.metadata.owner_references.unwrap_or_default();
    let owner = owners
        .iter()
        .find(|owner| owner.controller == Some(true))
        .or(owners.first())
        .map(|owner| (owner.kind.clone(), owner.name.clone()));
    PodSummary {
        name: pod.metadata.name.unwrap_or_default(),
        phase: status.phase.clone().unwrap_or_else(|| "Unknown".to_owned()),
        ready: status
            .conditions
            .iter()
            .flatten()
            .any(|condition| condition.type_ == "Ready" && condition.status == "True"),
        restarts: status
            .container_statuses
            .iter()
            .flatten()
            .map(|container| container.restart_count)
            .sum(),
        containers: spec
            .containers
            .into_iter()
            .map(|container| container.name)
            .collect(),
        waiting,
        labels: pod.metadata.labels.unwrap_or_default(),
        owner,
    }
}

/// How a Job ended, once it has.
fn job_result(job: &Job) -> Option<JobResult> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    let holds = |kind: &str| {
        conditions
            .iter()
            .find(|condition| condition.type_ == kind && condition.status == "True")
    };
    if holds("Complete").is_some() {
        return Some(JobResult::Succeeded);
    }
    holds("Failed").map(|failed| JobResult::Failed {
        reason: failed.reason.clone().unwrap_or_default(),
        message: failed.message.clone().unwrap_or_default(),
    })
}

fn api_error(action: &'static str, object: String, error: &::kube::Error) -> KubeError {
    match error {
        ::kube::Error::Api(status) => KubeError::Api {
            action,
            object,
            status: Some(status.code),
            message: if status.message.is_empty() {
                status.reason.clone()
            } else {
                status.message.clone()
            },
        },
        other => KubeError::Api {
            action,
            object,
            status: None,
            message: other.to_string(),
        },
    }
}

fn api_failure(action: &'static str, object: &str, error: &dyn std::error::Error) -> KubeError {
    KubeError::Api {
        action,
        object: object.to_owned(),
        status: None,
        message: error.to_string(),
    }
}
