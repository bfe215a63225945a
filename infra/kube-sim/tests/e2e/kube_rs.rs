//! kube-rs against a sim cluster: typed Api calls, server-side apply, list and watch, and the
//! media types the API accepts.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Config};

use crate::support::{Sim, sim};

async fn client(sim: &Sim) -> Client {
    let kubeconfig = Kubeconfig::read_from(&sim.kubeconfig).expect("the kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("a client config");
    Client::try_from(config).expect("a client")
}

fn config_map(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {"team": "a"}},
        "data": {"key": value},
    }))
    .expect("a ConfigMap")
}

#[tokio::test(flavor = "multi_thread")]
async fn kube_rs_lists_watches_and_applies() {
    let sim = Sim::start(&sim::unique_name("kubers"));
    let client = client(&sim).await;

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .expect("listing namespaces")
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(
        names.contains(&"default".to_owned()) && names.contains(&"kube-system".to_owned()),
        "{names:?}"
    );

    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let events =
        watcher(maps.clone(), watcher::Config::default().labels("team=a")).applied_objects();
    let mut events = Box::pin(events);

    maps.create(&PostParams::default(), &config_map("first", "1"))
        .await
        .expect("creating");
    let seen = tokio::time::timeout(Duration::from_secs(10), events.try_next())
        .await
        .expect("a watch event in time")
        .expect("a watch event")
        .expect("an object");
    assert_eq!(seen.metadata.name.as_deref(), Some("first"));

    let apply = PatchParams::apply("kube-sim-test");
    let applied = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "first", "labels": {"team": "a"}}, "data": {"key": "2"}});
    maps.patch("first", &apply, &Patch::Apply(&applied))
        .await
        .expect("server-side apply");
    let modified = tokio::time::timeout(Duration::from_secs(10), events.try_next())
        .await
        .expect("a watch event in time")
        .expect("a watch event")
        .expect("an object");
    assert_eq!(
        modified
            .data
            .as_ref()
            .and_then(|d| d.get("key"))
            .map(String::as_str),
        Some("2")
    );

    let created = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "second"}, "data": {"key": "3"}});
    maps.patch("second", &apply, &Patch::Apply(&created))
        .await
        .expect("apply creates");
    let merged = serde_json::json!({"metadata": {"labels": {"team": "a"}}});
    maps.patch("second", &PatchParams::default(), &Patch::Merge(&merged))
        .await
        .expect("merge patch");
    let selected = maps
        .list(&ListParams::default().labels("team=a"))
        .await
        .expect("listing");
    assert_eq!(selected.items.len(), 2);
    let by_field = maps
        .list(&ListParams::default().fields("metadata.name=second"))
        .await
        .expect("listing");
    assert_eq!(by_field.items.len(), 1);

    maps.delete("first", &DeleteParams::default())
        .await
        .expect("deleting");
    assert!(maps.get_opt("first").await.expect("reading").is_none());

    // A watch that resumes from a resource version sees only what came after it.
    let version = selected.metadata.resource_version.expect("a list version");
    let resumed = maps
        .watch(&kube::api::WatchParams::default().timeout(5), &version)
        .await
        .expect("watching")
        .take(1)
        .collect::<Vec<_>>()
        .await;
    let first = resumed
        .into_iter()
        .next()
        .expect("an event")
        .expect("a good event");
    assert!(
        matches!(first, kube::api::WatchEvent::Deleted(ref map) if map.metadata.name.as_deref() == Some("first")),
        "{first:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_answers_json_only() {
    let sim = Sim::start(&sim::unique_name("media"));
    let client = client(&sim).await;

    let request = http::Request::get("/api/v1/namespaces/default")
        .header(
            "Accept",
            "application/vnd.kubernetes.protobuf,application/json",
        )
        .body(Vec::new())
        .expect("a request");
    let text = client
        .request_text(request)
        .await
        .expect("JSON for a GET that accepts JSON too");
    let namespace: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(namespace["kind"], "Namespace");

    let request = http::Request::post("/api/v1/namespaces")
        .header("Content-Type", "application/vnd.kubernetes.protobuf")
        .body(b"\x6b\x38\x73\x00".to_vec())
        .expect("a request");
    let error = client
        .request_text(request)
        .await
        .expect_err("protobuf bodies are refused");
    assert!(
        matches!(&error, kube::Error::Api(status) if status.code == 415),
        "{error:?}"
    );
}
