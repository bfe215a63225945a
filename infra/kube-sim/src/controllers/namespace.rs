//! Namespaces: every namespace gets its `default` ServiceAccount and the `kube-root-ca.crt`
//! ConfigMap; a terminating namespace has all its objects deleted and goes away once empty.

use serde_json::json;

use crate::object::ObjectExt;
use crate::registry::{DeleteOptions, Registry};

/// The namespace controller, with the cluster CA for `kube-root-ca.crt`.
pub fn reconciler(ca_pem: String) -> impl FnMut(&Registry) + Send {
    move |registry| reconcile(registry, &ca_pem)
}

fn reconcile(registry: &Registry, ca_pem: &str) {
    let namespaces = registry.resource("", "namespaces");
    let accounts = registry.resource("", "serviceaccounts");
    let config_maps = registry.resource("", "configmaps");
    let (all, _) = registry.store.list(&namespaces.key(), None);
    for namespace in all {
        let name = namespace.name();
        if !namespace.is_deleting() {
            if registry
                .store
                .get(&accounts.key(), name, "default")
                .is_none()
            {
                let _ = registry.create(
                    &accounts,
                    name,
                    json!({"metadata": {"name": "default"}}),
                    false,
                );
            }
            if registry
                .store
                .get(&config_maps.key(), name, "kube-root-ca.crt")
                .is_none()
            {
                let config_map = json!({
                    "metadata": {"name": "kube-root-ca.crt", "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
                    "data": {"ca.crt": ca_pem},
                });
                let _ = registry.create(&config_maps, name, config_map, false);
            }
            continue;
        }
        if registry.store.namespace_is_empty(name) {
            registry.remove(&namespaces, "", name, namespace.uid());
            continue;
        }
        let options = DeleteOptions {
            propagation: Some("Background".into()),
            ..DeleteOptions::default()
        };
        for key in registry.store.keys() {
            let Some(rt) = registry.catalog.get(&key).filter(|t| t.namespaced) else {
                continue;
            };
            let (objects, _) = registry.store.list(&key, Some(name));
            for object in objects.iter().filter(|o| !o.is_deleting()) {
                let _ = registry.delete(&rt, name, object.name(), &options);
            }
        }
    }
}
