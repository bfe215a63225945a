//! Defaulting of core objects: pods, secrets, namespaces, claims.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::pod_spec::default_pod_spec;
use crate::errors::ApiError;
use crate::object::{ObjectExt, child_map};

/// Defaults a new pod's spec.
pub fn default_pod(pod: &mut Value) {
    default_pod_spec(child_map(pod.map_mut(), "spec"));
}

/// Schedules a new (valid) pod onto the node and sets its initial status.
pub fn schedule_pod(node: &str, pod: &mut Value) {
    let spec = child_map(pod.map_mut(), "spec");
    spec.entry("nodeName").or_insert(json!(node));
    spec.entry("priority").or_insert(json!(0));
    let qos = qos_class(spec);
    let scheduled = json!({
        "type": "PodScheduled",
        "status": "True",
        "lastProbeTime": null,
        "lastTransitionTime": crate::object::now_rfc3339(),
    });
    pod.map_mut().insert(
        "status".into(),
        json!({"phase": "Pending", "conditions": [scheduled], "qosClass": qos}),
    );
}

fn qos_class(spec: &Map<String, Value>) -> &'static str {
    let containers = spec.get("containers").and_then(Value::as_array);
    let any_resources = containers.is_some_and(|list| {
        list.iter().any(|c| {
            c.pointer("/resources/requests")
                .is_some_and(|r| r.as_object().is_some_and(|m| !m.is_empty()))
                || c.pointer("/resources/limits")
                    .is_some_and(|r| r.as_object().is_some_and(|m| !m.is_empty()))
        })
    });
    if any_resources {
        "Burstable"
    } else {
        "BestEffort"
    }
}

/// Keeps the node a pod was scheduled to.
pub fn keep_pod_binding(old: &Value, new: &mut Value) {
    if let Some(node) = old.pointer("/spec/nodeName").cloned() {
        child_map(new.map_mut(), "spec").insert("nodeName".into(), node);
    }
}

/// Moves `stringData` into `data` (base64) and defaults the type. Data that is not base64 is
/// refused as the API server refuses it when decoding the body (400).
pub fn default_secret(secret: &mut Value) -> Result<(), ApiError> {
    let map = secret.map_mut();
    map.entry("type").or_insert(json!("Opaque"));
    if let Some(Value::Object(data)) = map.get("data") {
        for value in data.values() {
            let text = value.as_str().unwrap_or_default();
            if let Err(error) = base64::engine::general_purpose::STANDARD.decode(text) {
                let at = match error {
                    base64::DecodeError::InvalidByte(at, _)
                    | base64::DecodeError::InvalidLastSymbol { offset: at, .. } => at,
                    base64::DecodeError::InvalidLength(_) | base64::DecodeError::InvalidPadding => {
                        text.len()
                    }
                };
                return Err(ApiError::bad_request(format!(
                    "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte {at}"
                )));
            }
        }
    }
    if let Some(Value::Object(string_data)) = map.remove("stringData") {
        let data = child_map(map, "data");
        for (key, value) in string_data {
            let text = value.as_str().unwrap_or_default();
            data.insert(
                key,
                json!(base64::engine::general_purpose::STANDARD.encode(text)),
            );
        }
    }
    Ok(())
}

/// Defaults a namespace: its finalizer, its name label and, when new, phase `Active`.
pub fn default_namespace(namespace: &mut Value, new: bool) {
    let name = namespace.name().to_owned();
    child_map(namespace.meta_mut(), "labels")
        .insert("kubernetes.io/metadata.name".into(), json!(name));
    let map = namespace.map_mut();
    child_map(map, "spec")
        .entry("finalizers")
        .or_insert(json!(["kubernetes"]));
    if new {
        map.insert("status".into(), json!({"phase": "Active"}));
    }
}

/// A namespace's phase is the server's: clients cannot make a terminating namespace active.
pub fn keep_namespace_phase(old: &Value, new: &mut Value) {
    if let Some(phase) = old.pointer("/status/phase").cloned() {
        child_map(new.map_mut(), "status").insert("phase".into(), phase);
    }
}

/// Binds a claim at once: there is one node and volumes are directories on it.
pub fn bind_claim(claim: &mut Value) {
    let uid = claim.uid().to_owned();
    let spec = child_map(claim.map_mut(), "spec");
    spec.entry("storageClassName").or_insert(json!("standard"));
    spec.entry("volumeMode").or_insert(json!("Filesystem"));
    spec.insert("volumeName".into(), json!(format!("pvc-{uid}")));
    let access = spec
        .get("accessModes")
        .cloned()
        .unwrap_or(json!(["ReadWriteOnce"]));
    let capacity = crate::object::pointer_in(spec, "/resources/requests/storage")
        .cloned()
        .unwrap_or(json!("1Gi"));
    claim.map_mut().insert(
        "status".into(),
        json!({"phase": "Bound", "accessModes": access, "capacity": {"storage": capacity}}),
    );
    let annotations = child_map(claim.meta_mut(), "annotations");
    annotations.insert("pv.kubernetes.io/bind-completed".into(), json!("yes"));
    annotations.insert("pv.kubernetes.io/bound-by-controller".into(), json!("yes"));
}
