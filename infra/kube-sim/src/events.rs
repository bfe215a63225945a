//! Recording core/v1 Events about objects, as the kubelet and controllers do; a repeated event
//! (same object, reason and message) increments the count of the existing one.

use serde_json::{Value, json};

use crate::object::{ObjectExt, now_rfc3339};
use crate::storage::{Storage, Target};

/// Whether an event reports something normal or a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `Normal`.
    Normal,
    /// `Warning`.
    Warning,
}

/// Records an event about `object` from `component` (`kubelet`, `deployment-controller`, ...).
pub fn record(
    storage: &Storage,
    object: &Value,
    component: &str,
    kind: Kind,
    reason: &str,
    message: &str,
) {
    let events = storage.resource("", "events");
    let namespace = match object.namespace() {
        "" => "default",
        namespace => namespace,
    };
    let identity = format!("{}/{reason}/{message}", object.uid());
    let digest = crate::object::name_hash(&identity);
    let name = format!("{}.{digest}", object.name());
    let now = now_rfc3339();
    let existing = storage.store.get(&events.key(), namespace, &name);
    if existing.is_some() {
        let _ = storage.modify(&events, namespace, &name, Target::Main, |event| {
            let count = event.i64_at("/count").unwrap_or(1) + 1;
            event["count"] = json!(count);
            event["lastTimestamp"] = json!(now);
        });
        return;
    }
    let event = json!({
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": {
            "apiVersion": object.get("apiVersion"),
            "kind": object.get("kind"),
            "name": object.name(),
            "namespace": object.namespace(),
            "uid": object.uid(),
            "resourceVersion": object.str_at("/metadata/resourceVersion"),
        },
        "reason": reason,
        "message": message,
        "type": match kind {
            Kind::Normal => "Normal",
            Kind::Warning => "Warning",
        },
        "source": {"component": component, "host": storage.admission.node_name},
        "reportingComponent": component,
        "reportingInstance": storage.admission.node_name,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "eventTime": null,
        "count": 1,
    });
    if let Err(error) = storage.create(&events, namespace, event, false) {
        tracing::debug!(%error, reason, "recording an event");
    }
}
