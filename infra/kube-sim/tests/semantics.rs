//! The API's storage semantics, in-process (no podman needed): defaulting, optimistic
//! concurrency, generations, status subresources, patches, graceful and finalizer deletion,
//! Service IP allocation.

use std::sync::Arc;

use kube_sim::catalog::{Catalog, ResourceType, Subresources};
use kube_sim::object::ObjectExt;
use kube_sim::patch::{self, PatchKind};
use kube_sim::storage::{DeleteOptions, Storage, Target};
use kube_sim::store::Store;
use kube_sim::strategy::{Admission, ServiceIps};
use kube_sim::version::KubernetesVersion;
use serde_json::{Value, json};

/// A storage answering as Kubernetes 1.25.9, kube-sim's default.
fn storage() -> Storage {
    registry_at(KubernetesVersion::DEFAULT)
}

fn registry_at(version: KubernetesVersion) -> Storage {
    let admission = Admission {
        node_name: "node".into(),
        service_ips: ServiceIps::new(
            (1..=3)
                .map(|i| std::net::Ipv4Addr::new(10, 0, 0, i))
                .collect(),
        ),
        version,
    };
    let storage = Storage::new(
        Arc::new(Store::new()),
        Arc::new(Catalog::for_version(version)),
        admission,
    );
    let namespaces = storage.resource("", "namespaces");
    storage
        .create(
            &namespaces,
            "",
            json!({"metadata": {"name": "default"}}),
            false,
        )
        .expect("the default namespace");
    storage
}

fn deployment(replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "img:1"}]}},
        },
    })
}

#[test]
fn creation_defaults_and_validates_like_the_api_server() {
    let storage = storage();
    let deployments = storage.resource("apps", "deployments");
    let created = storage
        .create(&deployments, "default", deployment(2), false)
        .expect("created");
    assert_eq!(
        created["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    );
    assert_eq!(
        created["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    assert_eq!(
        created["spec"]["template"]["spec"]["restartPolicy"],
        "Always"
    );
    assert_eq!(created["metadata"]["generation"], 1);
    assert!(!created.uid().is_empty());

    let duplicate = storage
        .create(&deployments, "default", deployment(2), false)
        .expect_err("names are unique");
    assert_eq!((duplicate.code, duplicate.reason), (409, "AlreadyExists"));
    let missing = storage
        .create(&deployments, "nowhere", deployment(1), false)
        .expect_err("the namespace must exist");
    assert_eq!(missing.code, 404);
    let mut unselected = deployment(1);
    unselected["spec"]["selector"] = json!({"matchLabels": {"app": "other"}});
    let invalid = storage
        .create(&deployments, "default", unselected, false)
        .expect_err("the selector must match");
    assert_eq!(invalid.code, 422);

    let jobs = storage.resource("batch", "jobs");
    let job = json!({"metadata": {"name": "once"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "img"}]}}}});
    let job = storage
        .create(&jobs, "default", job, false)
        .expect("created");
    assert_eq!(
        (
            job["spec"]["completions"].clone(),
            job["spec"]["backoffLimit"].clone()
        ),
        (json!(1), json!(6))
    );

    let secrets = storage.resource("", "secrets");
    let secret = storage
        .create(
            &secrets,
            "default",
            json!({"metadata": {"name": "s"}, "stringData": {"k": "v"}}),
            false,
        )
        .expect("created");
    assert_eq!(secret["data"]["k"], "dg==");
    assert!(secret.get("stringData").is_none());
}

fn job(name: &str, template_labels: &Value) -> Value {
    json!({"metadata": {"name": name}, "spec": {"template": {
        "metadata": {"labels": template_labels},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "img"}]},
    }}})
}

#[test]
fn jobs_get_the_labels_and_selector_of_their_kubernetes_version() {
    // 1.25 (checked against a real v1.25.9 API server): the unprefixed labels only.
    let storage = storage();
    let jobs = storage.resource("batch", "jobs");
    let created = storage
        .create(&jobs, "default", job("old", &json!({"app": "a"})), false)
        .expect("created");
    let uid = created.uid();
    assert_eq!(
        created["spec"]["selector"],
        json!({"matchLabels": {"controller-uid": uid}})
    );
    let labels = json!({"app": "a", "controller-uid": uid, "job-name": "old"});
    assert_eq!(created["spec"]["template"]["metadata"]["labels"], labels);
    assert_eq!(
        created["metadata"]["labels"], labels,
        "a Job without labels gets its template's, generated ones included"
    );
    assert!(created["spec"].get("podReplacementPolicy").is_none());

    // From 1.27: the batch.kubernetes.io labels too, and the selector uses them.
    let newer: KubernetesVersion = "1.33".parse().expect("a version");
    let storage = registry_at(newer);
    let jobs = storage.resource("batch", "jobs");
    let created = storage
        .create(&jobs, "default", job("new", &json!(null)), false)
        .expect("created");
    let uid = created.uid();
    assert_eq!(
        created["spec"]["selector"],
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
    );
    assert_eq!(
        created["spec"]["template"]["metadata"]["labels"],
        json!({
            "batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": "new",
            "controller-uid": uid,
            "job-name": "new",
        })
    );
    assert!(
        created["metadata"].get("labels").is_none(),
        "a template without labels leaves the Job without labels"
    );
    assert_eq!(
        created["spec"]["podReplacementPolicy"],
        "TerminatingOrFailed"
    );
}

#[test]
fn invalid_objects_are_refused_with_every_error_and_nothing_allocated() {
    let storage = storage();
    let services = storage.resource("", "services");
    let bad = json!({"metadata": {"name": "1db", "labels": {"v": "db-0.1.0+git.9d9a1c95d246"}}, "spec": {"ports": [{"port": 80}]}});
    let error = storage
        .create(&services, "default", bad, false)
        .expect_err("invalid");
    assert_eq!((error.code, error.reason), (422, "Invalid"));
    assert!(
        error.message.starts_with(
            r#"Service "1db" is invalid: [metadata.name: Invalid value: "1db": a DNS-1035 label"#
        ),
        "{}",
        error.message
    );
    let causes = &error.details.as_ref().expect("details")["causes"];
    assert_eq!(causes.as_array().map(Vec::len), Some(2));
    let service = json!({"metadata": {"name": "db"}, "spec": {"ports": [{"port": 80}]}});
    let created = storage
        .create(&services, "default", service, false)
        .expect("created");
    assert_eq!(
        created["spec"]["clusterIP"], "10.0.0.1",
        "the refused Service took no address"
    );

    let mut relabelled = (*created).clone();
    relabelled["metadata"]["labels"] = json!({"ok": "-bad-"});
    let error = storage
        .update(&services, "default", "db", relabelled, Target::Main, false)
        .expect_err("invalid");
    let causes = &error.details.as_ref().expect("details")["causes"];
    assert_eq!(
        causes.as_array().map(Vec::len),
        Some(4),
        "an update checks a Service's labels four times, as the API server does"
    );
    assert_eq!(
        error.message.matches("-bad-").count(),
        1,
        "{}",
        error.message
    );

    let config_maps = storage.resource("", "configmaps");
    let nameless = storage
        .create(&config_maps, "default", json!({"metadata": {}}), false)
        .expect_err("a name is required");
    assert_eq!(
        nameless.message,
        r#"ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required"#
    );
    let generated = storage
        .create(
            &config_maps,
            "default",
            json!({"metadata": {"generateName": "g".repeat(70)}}),
            false,
        )
        .expect("created");
    assert_eq!(generated.name().len(), 63, "the prefix is cut to 58 bytes");
}

#[test]
fn custom_resources_get_their_metadata_validated() {
    // As the apiextensions server does (ValidateObjectMetaAccessor with DNS-subdomain names);
    // not in the differential corpus, which creates nothing outside its namespace.
    let storage = storage();
    storage.catalog.register(ResourceType {
        group: "example.com".into(),
        versions: vec!["v1".into()],
        kind: "Widget".into(),
        plural: "widgets".into(),
        singular: "widget".into(),
        namespaced: true,
        short_names: Vec::new(),
        categories: Vec::new(),
        subresources: Subresources::default(),
        create_only: false,
        custom: true,
    });
    let widgets = storage.resource("example.com", "widgets");
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "Big_Widget", "annotations": {"bad key": "x"}}});
    let error = storage
        .create(&widgets, "default", widget, false)
        .expect_err("invalid");
    let details = error.details.as_ref().expect("details");
    assert!(
        error
            .message
            .starts_with(r#"Widget.example.com "Big_Widget" is invalid: [metadata.name: Invalid value: "Big_Widget": a lowercase RFC 1123 subdomain"#),
        "{}",
        error.message
    );
    assert_eq!(
        (&details["group"], &details["kind"]),
        (&json!("example.com"), &json!("Widget"))
    );
    let fields: Vec<&Value> = details["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .map(|c| &c["field"])
        .collect();
    assert_eq!(
        fields,
        [&json!("metadata.name"), &json!("metadata.annotations")]
    );
    let valid = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "big-widget"}, "spec": {"anything": "goes"}});
    storage
        .create(&widgets, "default", valid, false)
        .expect("created");
}

#[test]
fn updates_check_versions_bump_generations_and_keep_status() {
    let storage = storage();
    let deployments = storage.resource("apps", "deployments");
    let created = storage
        .create(&deployments, "default", deployment(1), false)
        .expect("created");
    let status = storage
        .set_status(&deployments, "default", "web", json!({"replicas": 1}))
        .expect("status written");
    assert_eq!(
        status["metadata"]["generation"], 1,
        "status writes keep the generation"
    );

    let mut stale = (*created).clone();
    stale["spec"]["replicas"] = json!(3);
    let conflict = storage
        .update(
            &deployments,
            "default",
            "web",
            stale.clone(),
            Target::Main,
            false,
        )
        .expect_err("the version is old");
    assert_eq!((conflict.code, conflict.reason), (409, "Conflict"));

    stale["metadata"]["resourceVersion"] = json!(status.resource_version().to_string());
    stale["status"] = json!({"replicas": 99});
    let updated = storage
        .update(&deployments, "default", "web", stale, Target::Main, false)
        .expect("updated");
    assert_eq!(updated["metadata"]["generation"], 2);
    assert_eq!(
        updated["status"],
        json!({"replicas": 1}),
        "the main resource does not write status"
    );

    let unchanged = storage
        .update(
            &deployments,
            "default",
            "web",
            (*updated).clone(),
            Target::Main,
            false,
        )
        .expect("a no-op update");
    assert_eq!(
        unchanged.resource_version(),
        updated.resource_version(),
        "no-op writes keep the version"
    );

    let merge = patch::parse(
        PatchKind::Merge,
        br#"{"metadata":{"labels":{"tier":"front"}}}"#,
    )
    .expect("a patch");
    let patched = storage
        .patch(&deployments, "default", "web", &merge, Target::Main, false)
        .expect("patched");
    assert_eq!(patched["metadata"]["labels"]["tier"], "front");
    assert_eq!(
        patched["metadata"]["generation"], 2,
        "metadata changes keep the generation"
    );

    let json_patch = patch::parse(
        PatchKind::Json,
        br#"[{"op":"replace","path":"/spec/replicas","value":5}]"#,
    )
    .expect("a patch");
    let patched = storage
        .patch(
            &deployments,
            "default",
            "web",
            &json_patch,
            Target::Main,
            false,
        )
        .expect("patched");
    assert_eq!(patched["spec"]["replicas"], 5);
}

#[test]
fn finalizers_hold_deletion_and_pods_are_deleted_gracefully() {
    let storage = storage();
    let config_maps = storage.resource("", "configmaps");
    storage
        .create(
            &config_maps,
            "default",
            json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
            false,
        )
        .expect("created");
    let (code, marked) = storage
        .delete(&config_maps, "default", "held", &DeleteOptions::default())
        .expect("deleted");
    assert_eq!(code, 202);
    assert!(marked.is_deleting());
    let release =
        patch::parse(PatchKind::Merge, br#"{"metadata":{"finalizers":null}}"#).expect("a patch");
    let _ = storage.patch(
        &config_maps,
        "default",
        "held",
        &release,
        Target::Main,
        false,
    );
    assert!(
        storage.get(&config_maps, "default", "held").is_err(),
        "gone once the finalizer is removed"
    );

    let pods = storage.resource("", "pods");
    let pod =
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "img"}]}});
    let created = storage
        .create(&pods, "default", pod.clone(), false)
        .expect("created");
    assert_eq!(created["spec"]["nodeName"], "node");
    assert_eq!(created["status"]["phase"], "Pending");
    let (_, deleting) = storage
        .delete(&pods, "default", "p", &DeleteOptions::default())
        .expect("deleted");
    assert_eq!(deleting["metadata"]["deletionGracePeriodSeconds"], 30);
    assert!(
        storage.get(&pods, "default", "p").is_ok(),
        "the kubelet removes the pod once stopped"
    );
    let force = DeleteOptions {
        grace_period: Some(0),
        ..DeleteOptions::default()
    };
    storage
        .delete(&pods, "default", "p", &force)
        .expect("force deleted");
    assert!(storage.get(&pods, "default", "p").is_err());
}

#[test]
fn services_get_cluster_ips_until_the_range_is_full() {
    let storage = storage();
    let services = storage.resource("", "services");
    let service =
        |name: &str| json!({"metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}});
    let first = storage
        .create(&services, "default", service("a"), false)
        .expect("created");
    assert_eq!(first["spec"]["clusterIP"], "10.0.0.1");
    assert_eq!(first["spec"]["ports"][0]["targetPort"], 80);
    assert_eq!(first["spec"]["ports"][0]["protocol"], "TCP");
    let headless = json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}});
    let headless = storage
        .create(&services, "default", headless, false)
        .expect("created");
    assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));
    storage
        .create(&services, "default", service("b"), false)
        .expect("created");
    storage
        .create(&services, "default", service("c"), false)
        .expect("created");
    let full = storage
        .create(&services, "default", service("d"), false)
        .expect_err("no address left");
    assert_eq!(full.code, 422);

    let mut update = (*first).clone();
    update["spec"]
        .as_object_mut()
        .expect("a spec")
        .remove("clusterIP");
    let kept = storage
        .update(&services, "default", "a", update, Target::Main, false)
        .expect("updated");
    assert_eq!(
        kept["spec"]["clusterIP"], "10.0.0.1",
        "an update keeps the allocation"
    );
}
