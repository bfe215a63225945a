//! Namespaces: every namespace gets its `default` ServiceAccount and the `kube-root-ca.crt`
//! ConfigMap; a terminating namespace has all its objects deleted and goes away once empty.

use serde_json::json;

use crate::object::ObjectExt;
use crate::storage::{DeleteOptions, Storage};

/// The namespace controller, with the cluster CA for `kube-root-ca.crt`.
pub fn reconciler(ca_pem: String) -> impl FnMut(&Storage) + Send {
    move |storage| reconcile(storage, &ca_pem)
}

fn reconcile(storage: &Storage, ca_pem: &str) {
    let namespaces = storage.resource("", "namespaces");
    let accounts = storage.resource("", "serviceaccounts");
    let config_maps = storage.resource("", "configmaps");
    let (all, _) = storage.store.list(&namespaces.key(), None);
    for namespace in all {
        let name = namespace.name();
        if !namespace.is_deleting() {
            if storage
                .store
                .get(&accounts.key(), name, "default")
                .is_none()
            {
                let _ = storage.create(
                    &accounts,
                    name,
                    json!({"metadata": {"name": "default"}}),
                    false,
                );
            }
            if storage
                .store
                .get(&config_maps.key(), name, "kube-root-ca.crt")
                .is_none()
            {
                let config_map = json!({
                    "metadata": {"name": "kube-root-ca.crt", "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
                    "data": {"ca.crt": ca_pem},
                });
                let _ = storage.create(&config_maps, name, config_map, false);
            }
            continue;
        }
        if storage.store.namespace_is_empty(name) {
            storage.remove(&namespaces, "", name, namespace.uid());
            continue;
        }
        let options = DeleteOptions {
            propagation: Some("Background".into()),
            ..DeleteOptions::default()
        };
        for key in storage.store.keys() {
            let Some(rt) = storage.catalog.get(&key).filter(|t| t.namespaced) else {
                continue;
            };
            let (objects, _) = storage.store.list(&key, Some(name));
            for object in objects.iter().filter(|o| !o.is_deleting()) {
                let _ = storage.delete(&rt, name, object.name(), &options);
            }
        }
    }
}
