//! Pod specs and pod templates, as far as kube-sim checks them: the template's labels and
//! annotations, at least one container, and the restart policy a controller allows.

use serde_json::Value;

use super::field::FieldError;
use super::meta;

/// `ValidatePodSpec`, reduced to what kube-sim checks: the spec at `pointer` has containers.
pub fn spec(object: &Value, pointer: &str, path: &str) -> Vec<FieldError> {
    let has_containers = object
        .pointer(&format!("{pointer}/containers"))
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty());
    if has_containers {
        Vec::new()
    } else {
        vec![FieldError::required(format!("{path}.containers"), "")]
    }
}

/// `ValidatePodTemplateSpec` of the template at `pointer` (reported under `path`): its labels
/// (at `PATH.labels`, not `PATH.metadata.labels`), its annotations, its pod spec.
pub fn template(object: &Value, pointer: &str, path: &str) -> Vec<FieldError> {
    let mut errors = meta::labels_and_annotations(object, &format!("{pointer}/metadata"), path);
    errors.extend(spec(
        object,
        &format!("{pointer}/spec"),
        &format!("{path}.spec"),
    ));
    errors
}

/// The template's restart policy, read at `pointer` (the template); `None` when unset.
pub fn restart_policy<'a>(object: &'a Value, pointer: &str) -> Option<&'a str> {
    object
        .pointer(&format!("{pointer}/spec/restartPolicy"))
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
}

/// Pods of Deployments, ReplicaSets, StatefulSets and DaemonSets must restart `Always`.
pub fn restart_always(object: &Value, pointer: &str, path: &str) -> Vec<FieldError> {
    let policy = restart_policy(object, pointer).unwrap_or("");
    if policy == "Always" {
        Vec::new()
    } else {
        vec![FieldError::not_supported(
            format!("{path}.spec.restartPolicy"),
            policy,
            &["Always"],
        )]
    }
}
