//! CustomResourceDefinitions: serve the kinds they define (discovery and CRUD), report them
//! `Established`, and drop the kind and its objects when the definition goes away.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::catalog::{ResourceKey, ResourceType, Subresources};
use crate::object::ObjectExt;
use crate::storage::Storage;

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

fn resource_type(crd: &Value) -> Option<ResourceType> {
    let group = crd.str_at("/spec/group")?.to_owned();
    let names = crd.pointer("/spec/names")?;
    let plural = names.get("plural")?.as_str()?.to_owned();
    let kind = names.get("kind")?.as_str()?.to_owned();
    let versions: Vec<&Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)?
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))
        .collect();
    let mut ordered: Vec<&Value> = versions
        .iter()
        .copied()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .collect();
    ordered.extend(
        versions
            .iter()
            .copied()
            .filter(|v| v.get("storage").and_then(Value::as_bool) != Some(true)),
    );
    let storage = ordered.first()?;
    Some(ResourceType {
        group,
        versions: ordered
            .iter()
            .filter_map(|v| v.get("name")?.as_str().map(str::to_owned))
            .collect(),
        kind: kind.clone(),
        plural,
        singular: names
            .get("singular")
            .and_then(Value::as_str)
            .map_or_else(|| kind.to_lowercase(), str::to_owned),
        namespaced: crd.str_at("/spec/scope") != Some("Cluster"),
        short_names: strings(names.get("shortNames")),
        categories: strings(names.get("categories")),
        subresources: Subresources {
            status: storage.pointer("/subresources/status").is_some(),
            scale: storage.pointer("/subresources/scale").is_some(),
            log: false,
        },
        create_only: false,
        custom: true,
    })
}

/// Reconciles the catalog with the CRDs.
pub fn reconcile(storage: &Storage) {
    let crds = storage.resource("apiextensions.k8s.io", "customresourcedefinitions");
    let (all, _) = storage.store.list(&crds.key(), None);
    let mut wanted: HashSet<ResourceKey> = HashSet::new();
    for crd in all.iter().filter(|c| !c.is_deleting()) {
        let Some(resource) = resource_type(crd) else {
            continue;
        };
        let conflicts = storage
            .catalog
            .get(&resource.key())
            .is_some_and(|t| !t.custom);
        if conflicts {
            continue;
        }
        wanted.insert(resource.key());
        let stored_version = resource.versions[0].clone();
        storage.catalog.register(resource);
        let now = crate::object::now_rfc3339();
        let keep_time = |kind: &str| {
            crd.pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|c| c.iter().find(|c| c["type"] == kind))
                .and_then(|c| c["lastTransitionTime"].as_str())
                .map_or_else(|| now.clone(), str::to_owned)
        };
        let status = json!({
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": keep_time("NamesAccepted")},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": keep_time("Established")},
            ],
            "acceptedNames": crd.pointer("/spec/names").cloned().unwrap_or(json!({})),
            "storedVersions": [stored_version],
        });
        let _ = storage.set_status(&crds, "", crd.name(), status);
    }
    for rt in storage.catalog.all() {
        if rt.custom && !wanted.contains(&rt.key()) {
            storage.catalog.unregister(&rt.key());
            storage.store.remove_all(&rt.key());
        }
    }
}
