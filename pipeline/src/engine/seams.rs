//! The seams between the engine and a cluster: what the deploy and test stages ask of the
//! Kubernetes API ([`ClusterApi`]) and of helm ([`Releases`]). The real implementations are
//! the runners' [`Kube`] and [`Helm`]; the engine's verdict logic, test-plan evaluation and
//! failure messages are unit-tested against fakes, without a cluster.

use std::time::Duration;

use chorale_runners::helm::{Helm, HelmOutput, Release};
use chorale_runners::kube::{Blocked, JobResult, Kube, PodSummary, Workload};
use chorale_runners::{HelmError, KubeError};
use futures::FutureExt as _;
use futures::future::BoxFuture;
use serde_json::Value;

/// What the engine asks of a cluster's API (see [`Kube`] for each call's meaning).
pub trait ClusterApi: Send + Sync {
    /// The Deployments, StatefulSets and DaemonSets of `namespace` (matching `selector`).
    fn workloads<'a>(
        &'a self,
        namespace: &'a str,
        selector: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<Workload>, KubeError>>;
    /// The pods of `namespace` (matching `selector`), sorted by name.
    fn pods<'a>(
        &'a self,
        namespace: &'a str,
        selector: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<PodSummary>, KubeError>>;
    /// The log of a pod's container.
    fn pod_logs<'a>(
        &'a self,
        namespace: &'a str,
        pod: &'a str,
        container: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String, KubeError>>;
    /// Deletes a pod.
    fn delete_pod<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<(), KubeError>>;
    /// Creates an object from its JSON form.
    fn create<'a>(
        &'a self,
        namespace: &'a str,
        object: &'a Value,
    ) -> BoxFuture<'a, Result<(), KubeError>>;
    /// Deletes an object by `apiVersion`, kind and name.
    fn delete<'a>(
        &'a self,
        namespace: &'a str,
        api_version: &'a str,
        kind: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<(), KubeError>>;
    /// Waits until a Job ends, times out, or one of its pods is blocked for `blocked_after`.
    fn wait_job<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        timeout: Duration,
        blocked_after: Duration,
    ) -> BoxFuture<'a, Result<JobResult, KubeError>>;
    /// A Job's pods, in the order they were created.
    fn job_pods<'a>(
        &'a self,
        namespace: &'a str,
        job: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PodSummary>, KubeError>>;
    /// Resolves once a pod matching `selector` has been blocked for `after`.
    fn blocked<'a>(
        &'a self,
        namespace: &'a str,
        selector: &'a str,
        after: Duration,
    ) -> BoxFuture<'a, Blocked>;
}

/// What the engine asks of helm.
pub trait Releases: Send + Sync {
    /// `helm upgrade --install --wait --atomic` of a release.
    fn upgrade_install<'a>(
        &'a self,
        release: &'a Release,
    ) -> BoxFuture<'a, Result<HelmOutput, HelmError>>;
    /// `helm test` of a release.
    fn test<'a>(
        &'a self,
        release: &'a str,
        namespace: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<HelmOutput, HelmError>>;
}

impl ClusterApi for Kube {
    fn workloads<'a>(
        &'a self,
        namespace: &'a str,
        selector: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<Workload>, KubeError>> {
        Kube::workloads(self, namespace, selector).boxed()
    }

    fn pods<'a>(
        &'a self,
        namespace: &'a str,
        selector: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<PodSummary>, KubeError>> {
        Kube::pods(self, namespace, selector).boxed()
    }

    fn pod_logs<'a>(
        &'a self,
        namespace: &'a str,
        pod: &'a str,
        container: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String, KubeError>> {
        Kube::pod_logs(self, namespace, pod, container).boxed()
    }

    fn delete_pod<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<(), KubeError>> {
        Kube::delete_pod(self, namespace, name).boxed()
    }

    fn create<'a>(
        &'a self,
        namespace: &'a str,
        object: &'a Value,
    ) -> BoxFuture<'a, Result<(), KubeError>> {
        Kube::create(self, namespace, object).boxed()
    }

    fn delete<'a>(
        &'a self,
        namespace: &'a str,
        api_version: &'a str,
        kind: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<(), KubeError>> {
        Kube::delete(self, namespace, api_version, kind, name).boxed()
    }

    fn wait_job<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        timeout: Duration,
        blocked_after: Duration,
    ) -> BoxFuture<'a, Result<JobResult, KubeError>> {
        Kube::wait_job(self, namespace, name, timeout, blocked_after).boxed()
    }

    fn job_pods<'a>(
        &'a self,
        namespace: &'a str,
        job: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PodSummary>, KubeError>> {
        Kube::job_pods(self, namespace, job).boxed()
    }

    fn blocked<'a>(
        &'a self,
        namespace: &'a str,
        selector: &'a str,
        after: Duration,
    ) -> BoxFuture<'a, Blocked> {
        Kube::blocked(self, namespace, selector, after).boxed()
    }
}

impl Releases for Helm {
    fn upgrade_install<'a>(
        &'a self,
        release: &'a Release,
    ) -> BoxFuture<'a, Result<HelmOutput, HelmError>> {
        Helm::upgrade_install(self, release).boxed()
    }

    fn test<'a>(
        &'a self,
        release: &'a str,
        namespace: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<HelmOutput, HelmError>> {
        Helm::test(self, release, namespace, timeout).boxed()
    }
}
