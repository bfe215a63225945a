//! The existing provider on a sim cluster as the host: a labelled namespace per cluster.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;

use chorale_runners::ClusterError;
use chorale_runners::cluster::{ClusterHandle, ProviderKind, ProviderOptions, provider_for};
use chorale_runners::kube::Kube;
use chorale_testkit::SimCluster;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;

use crate::support::{spec, unique};

#[tokio::test(flavor = "multi_thread")]
async fn hands_out_a_labelled_namespace_and_deletes_it() {
    let host = SimCluster::start("rhost").expect("a sim cluster");
    let dir = tempfile::tempdir().unwrap();
    let name = unique("rex");
    let options = ProviderOptions {
        kubeconfig: Some(host.kubeconfig().to_owned()),
        context: Some(host.name().to_owned()),
        ..ProviderOptions::default()
    };
    let provider = provider_for(ProviderKind::Existing, &options);

    let cluster = provider.provision(&spec(dir.path(), &name)).await.unwrap();
    // The namespace is the cluster's name as it is (the pipeline names clusters
    // `chorale-BUILD`): no second prefix.
    let namespace = name.clone();
    assert_eq!(cluster.namespace.as_deref(), Some(namespace.as_str()));
    assert_eq!(cluster.kubeconfig, dir.path().join("kubeconfig"));
    assert_eq!(
        cluster.handle,
        ClusterHandle::Existing {
            kubeconfig: dir.path().join("kubeconfig"),
            context: Some(host.name().to_owned()),
            namespace: namespace.clone(),
        }
    );
    let mode = std::fs::metadata(&cluster.kubeconfig)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the kubeconfig copy holds a token");

    let kube = Kube::connect(&cluster.kubeconfig).await.unwrap();
    let namespaces: Api<Namespace> = Api::all(kube.client().clone());
    let labels = namespaces
        .get(&namespace)
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap();
    assert_eq!(
        labels
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("chorale")
    );
    assert_eq!(labels.get("dev.chorale/cluster"), Some(&name));
    // Provisioning again into the same namespace is fine.
    provider.provision(&spec(dir.path(), &name)).await.unwrap();
    kube.create_namespace("unrelated", &BTreeMap::new())
        .await
        .unwrap();

    let record: chorale_runners::cluster::Cluster =
        serde_json::from_str(&serde_json::to_string(&cluster).unwrap()).unwrap();
    provider.teardown(&record).await.unwrap();
    assert!(
        namespaces.get_opt(&namespace).await.unwrap().is_none(),
        "the namespace is gone"
    );
    assert!(
        namespaces.get_opt("unrelated").await.unwrap().is_some(),
        "other namespaces stay"
    );
    provider.teardown(&record).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn needs_a_readable_kubeconfig_and_an_existing_context() {
    let dir = tempfile::tempdir().unwrap();
    let options = ProviderOptions {
        kubeconfig: Some(dir.path().join("absent.yaml")),
        ..ProviderOptions::default()
    };
    let error = provider_for(ProviderKind::Existing, &options)
        .provision(&spec(dir.path(), "rnone"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClusterError::Kubeconfig { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().starts_with(&format!(
            "kubeconfig {}: ",
            dir.path().join("absent.yaml").display()
        )),
        "{error}"
    );

    let host = dir.path().join("host.yaml");
    std::fs::write(
        &host,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: a\n  user: {token: secret-token}\ncontexts:\n- name: a\n  context: {cluster: a, user: a}\ncurrent-context: a\n",
    )
    .unwrap();
    let options = ProviderOptions {
        kubeconfig: Some(host.clone()),
        context: Some("production".to_owned()),
        ..ProviderOptions::default()
    };
    let error = provider_for(ProviderKind::Existing, &options)
        .provision(&spec(dir.path(), "rctx"))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "kubeconfig {}: has no context `production`; it has: a",
            host.display()
        )
    );
}
