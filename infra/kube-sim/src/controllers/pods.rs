//! What workload controllers share: reading pod readiness, finding what an owner controls,
//! creating pods from templates, and template hashes.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::catalog::ResourceType;
use crate::events;
use crate::object::{ObjectExt, child_map, controller_reference, parse_time};
use crate::storage::{DeleteOptions, Storage};

/// Whether a pod's `Ready` condition is true.
pub fn is_ready(pod: &Value) -> bool {
    condition(pod, "Ready").is_some_and(|c| c["status"] == "True")
}

fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c["type"] == kind)
}

/// Whether a pod has been ready for at least `min_ready_seconds`.
pub fn is_available(pod: &Value, min_ready_seconds: i64) -> bool {
    if !is_ready(pod) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    condition(pod, "Ready")
        .and_then(|c| c["lastTransitionTime"].as_str())
        .and_then(parse_time)
        .is_some_and(|since| (jiff::Timestamp::now() - since).get_seconds() >= min_ready_seconds)
}

/// Whether a pod finished (`Succeeded` or `Failed`).
pub fn is_terminal(pod: &Value) -> bool {
    matches!(pod.str_at("/status/phase"), Some("Succeeded" | "Failed"))
}

/// Whether a pod counts as a replica: not being deleted and not finished.
pub fn is_active(pod: &Value) -> bool {
    !pod.is_deleting() && !is_terminal(pod)
}

/// Objects of `rt` in `namespace` whose controller is `owner_uid`.
pub fn controlled(
    storage: &Storage,
    rt: &ResourceType,
    namespace: &str,
    owner_uid: &str,
) -> Vec<Arc<Value>> {
    let (objects, _) = storage.store.list(&rt.key(), Some(namespace));
    objects
        .into_iter()
        .filter(|o| o.controller_uid() == Some(owner_uid))
        .collect()
}

/// Pods in `namespace` controlled by `owner_uid`.
pub fn controlled_pods(storage: &Storage, namespace: &str, owner_uid: &str) -> Vec<Arc<Value>> {
    controlled(storage, &storage.resource("", "pods"), namespace, owner_uid)
}

/// Creates a pod from `template` for `owner`: named `name`, or `prefix` plus a random suffix;
/// `labels` are added to the template's; `customize` adjusts the pod before it is created.
pub fn create_from_template(
    storage: &Storage,
    owner: &Value,
    template: &Value,
    name: Option<String>,
    labels: &[(&str, String)],
    customize: impl FnOnce(&mut Map<String, Value>),
) {
    let mut metadata = template
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    metadata.remove("name");
    metadata.remove("namespace");
    metadata.remove("creationTimestamp");
    match name {
        Some(name) => {
            metadata.insert("name".into(), json!(name));
        }
        None => {
            metadata.insert("generateName".into(), json!(format!("{}-", owner.name())));
        }
    }
    let pod_labels = child_map(&mut metadata, "labels");
    for (key, value) in labels {
        pod_labels.insert((*key).to_owned(), json!(value));
    }
    metadata.insert(
        "ownerReferences".into(),
        json!([controller_reference(owner)]),
    );
    let mut spec = template
        .get("spec")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    customize(&mut spec);
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec});
    let pods = storage.resource("", "pods");
    let component = format!(
        "{}-controller",
        owner
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_lowercase()
    );
    match storage.create(&pods, owner.namespace(), pod, false) {
        Ok(pod) => {
            let message = format!("Created pod: {}", pod.name());
            events::record(
                storage,
                owner,
                &component,
                events::Kind::Normal,
                "SuccessfulCreate",
                &message,
            );
        }
        Err(error) => {
            tracing::warn!(owner = owner.name(), %error, "creating a pod failed");
            let message = format!("Error creating: {error}");
            events::record(
                storage,
                owner,
                &component,
                events::Kind::Warning,
                "FailedCreate",
                &message,
            );
        }
    }
}

/// Deletes an object in the background, logging a failure.
pub fn delete(storage: &Storage, rt: &ResourceType, object: &Value) {
    if let Err(error) = storage.delete(
        rt,
        object.namespace(),
        object.name(),
        &DeleteOptions::default(),
    ) && error.code != 404
    {
        {
            tracing::warn!(name = object.name(), %error, "deleting failed");
        }
    }
}

/// A pod template without the labels controllers add, for comparing templates.
pub fn template_without(template: &Value, labels: &[&str]) -> Value {
    let mut template = template.clone();
    if let Some(Value::Object(map)) = template.pointer_mut("/metadata/labels") {
        for label in labels {
            map.remove(*label);
        }
    }
    template
}

/// The hash Kubernetes puts in `pod-template-hash` and `controller-revision-hash`.
pub fn template_hash(template: &Value, collision_count: i64) -> String {
    let text = serde_json::to_string(template).unwrap_or_default();
    crate::object::name_hash(&format!("{text}{collision_count}"))
}

/// Resolves an int-or-percent value against `total` (`round_up` for surge, down otherwise).
pub fn int_or_percent(value: Option<&Value>, total: i64, round_up: bool, default: i64) -> i64 {
    match value {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(default),
        Some(Value::String(s)) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(percent) => {
                let scaled = total * percent;
                if round_up {
                    (scaled + 99) / 100
                } else {
                    scaled / 100
                }
            }
            None => s.parse().unwrap_or(default),
        },
        _ => default,
    }
}

/// A condition object, keeping `lastTransitionTime` from `previous` when the status did not
/// change, and `lastUpdateTime` when `progressed` is false.
pub fn condition_json(
    previous: Option<&Value>,
    kind: &str,
    status: bool,
    reason: &str,
    message: &str,
    progressed: bool,
) -> Value {
    let now = crate::object::now_rfc3339();
    let status_text = if status { "True" } else { "False" };
    let same = previous.is_some_and(|p| p["status"] == status_text);
    let transition = previous
        .filter(|_| same)
        .and_then(|p| p["lastTransitionTime"].as_str())
        .map_or_else(|| now.clone(), str::to_owned);
    let update = previous
        .filter(|p| same && !progressed && p["reason"] == reason)
        .and_then(|p| p["lastUpdateTime"].as_str())
        .map_or(now, str::to_owned);
    json!({
        "type": kind,
        "status": status_text,
        "lastUpdateTime": update,
        "lastTransitionTime": transition,
        "reason": reason,
        "message": message,
    })
}

/// The condition of `kind` in an object's status.
pub fn find_condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    condition(object, kind)
}
