//! `kube-sim serve --kubernetes-version`: what the cluster reports and how Jobs label their
//! pods, at the default 1.25.9 and at 1.33.

use std::time::Duration;

use kube::client::Body;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::Value;

use crate::support::{Sim, sim, wait_for};

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

const JOB: &str = r"
apiVersion: batch/v1
kind: Job
metadata:
  name: labelled
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: work
          image: 127.0.0.1:1/absent:1
";

fn get_json(sim: &Sim, path: &str) -> Value {
    serde_json::from_str(&sim.kubectl_ok(&["get", "--raw", path])).expect("JSON")
}

/// The names of the pods selected by `selector`.
fn pods(sim: &Sim, selector: &str) -> Vec<String> {
    let list: Value =
        serde_json::from_str(&sim.kubectl_ok(&["get", "pods", "-l", selector, "-o", "json"]))
            .expect("JSON");
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_owned))
        .collect()
}

fn job_pods_appear(sim: &Sim, selector: &str) {
    wait_for(
        &format!("a pod of the Job selected by {selector}"),
        Duration::from_secs(30),
        || (!pods(sim, selector).is_empty()).then_some(()),
        || sim.kubectl_ok(&["get", "pods", "--show-labels"]),
    );
}

/// What `/apis` answers to a client that prefers aggregated discovery (kube-rs, as kubectl
/// asks): its kind and apiVersion.
async fn discovery_kind(sim: &Sim) -> String {
    let kubeconfig = Kubeconfig::read_from(&sim.kubeconfig).expect("the kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("a client config");
    let client = Client::try_from(config).expect("a client");
    let request = http::Request::get("/apis")
        .header(http::header::ACCEPT, AGGREGATED)
        .body(Body::empty())
        .expect("a request");
    let response = client.send(request).await.expect("an answer");
    assert_eq!(response.status(), 200);
    let bytes = response.into_body().collect_bytes().await.expect("a body");
    let document: Value = serde_json::from_slice(&bytes).expect("JSON");
    format!(
        "{} {}",
        document["kind"].as_str().unwrap_or_default(),
        document["apiVersion"].as_str().unwrap_or_default()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_kubernetes_version_sets_version_discovery_and_job_labels() {
    let old = Sim::start(&sim::unique_name("v125"));
    let version = get_json(&old, "/version");
    assert_eq!(
        (&version["major"], &version["minor"], &version["gitVersion"]),
        (
            &Value::from("1"),
            &Value::from("25"),
            &Value::from("v1.25.9+kube-sim")
        )
    );
    assert_eq!(
        discovery_kind(&old).await,
        "APIGroupList v1",
        "1.25 has no aggregated discovery"
    );
    old.apply(JOB);
    job_pods_appear(&old, "job-name=labelled,controller-uid");
    assert!(
        pods(&old, "batch.kubernetes.io/job-name").is_empty(),
        "1.25 Job pods have no batch.kubernetes.io labels"
    );
    let job = get_json(&old, "/apis/batch/v1/namespaces/default/jobs/labelled");
    let selector = job["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("a generated selector");
    assert!(selector.contains_key("controller-uid"), "{selector:?}");

    let new = Sim::start_with(&sim::unique_name("v133"), &["--kubernetes-version", "1.33"]);
    let version = get_json(&new, "/version");
    assert_eq!(version["gitVersion"], "v1.33.0+kube-sim");
    assert_eq!(
        discovery_kind(&new).await,
        "APIGroupDiscoveryList apidiscovery.k8s.io/v2"
    );
    new.apply(JOB);
    job_pods_appear(
        &new,
        "batch.kubernetes.io/job-name=labelled,batch.kubernetes.io/controller-uid,job-name=labelled",
    );
    let job = get_json(&new, "/apis/batch/v1/namespaces/default/jobs/labelled");
    let selector = job["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("a generated selector");
    assert!(
        selector.contains_key("batch.kubernetes.io/controller-uid"),
        "{selector:?}"
    );

    let refused = crate::support::run(
        sim::binary(),
        &[
            "serve",
            "--dir",
            "/nonexistent",
            "--kubernetes-version",
            "1.24",
        ],
        &[],
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("kube-sim serves Kubernetes 1.25 to 1.33; 1.24 is not one of them"),
        "{stderr}"
    );
}
