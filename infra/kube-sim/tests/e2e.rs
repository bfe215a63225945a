//! End-to-end tests of kube-sim with real clients (kubectl, helm, kube-rs), real containers
//! (podman) and a real registry. Every test starts the cluster and registry it needs.

#[path = "support/mod.rs"]
mod support;

#[path = "e2e/differential.rs"]
mod differential;
#[path = "e2e/helm.rs"]
mod helm;
#[path = "e2e/jobs.rs"]
mod jobs;
#[path = "e2e/kube_rs.rs"]
mod kube_rs;
#[path = "e2e/kubectl.rs"]
mod kubectl;
#[path = "e2e/lifecycle.rs"]
mod lifecycle;
#[path = "e2e/versions.rs"]
mod versions;
#[path = "e2e/workloads.rs"]
mod workloads;
