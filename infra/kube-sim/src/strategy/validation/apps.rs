//! Deployments, ReplicaSets, StatefulSets and DaemonSets: their selectors against their pod
//! templates, in the order (and with the quirks) of each kind's v1.25 validation.

use serde_json::{Map, Value};

use super::field::FieldError;
use super::selector::{self, Selection};
use super::{meta, pods};
use crate::version::KubernetesVersion;

const TEMPLATE: &str = "/spec/template";
const TEMPLATE_PATH: &str = "spec.template";
const MISMATCH_PATH: &str = "spec.template.metadata.labels";

fn selector_of(object: &Value) -> Option<&Value> {
    object.pointer("/spec/selector").filter(|s| !s.is_null())
}

fn template_labels(object: &Value) -> Option<&Value> {
    object.pointer("/spec/template/metadata/labels")
}

fn template_label_map(object: &Value) -> Option<&Map<String, Value>> {
    template_labels(object).and_then(Value::as_object)
}

/// The selector is required, valid and not empty (`empty selector is invalid for KIND`; a
/// ReplicaSet's message says `deployment` too, as the API server's does).
fn required_selector(object: &Value, empty_word: &str) -> Vec<FieldError> {
    let Some(selector) = selector_of(object) else {
        return vec![FieldError::required("spec.selector", "")];
    };
    let mut errors = selector::validate(Some(selector), "spec.selector");
    if selector::is_empty(selector) {
        errors.push(selector::invalid(
            "spec.selector",
            selector,
            &format!("empty selector is invalid for {empty_word}"),
        ));
    }
    errors
}

/// The template must carry the labels a non-empty selector selects.
fn mismatch_unless_everything(selection: &Selection, object: &Value) -> Option<FieldError> {
    (!selection.is_everything() && !selection.matches(template_label_map(object)))
        .then(|| selector::mismatch(MISMATCH_PATH, template_labels(object)))
}

/// `ValidateDeploymentSpec` and `ValidateReplicaSetSpec`: when the selector does not convert,
/// the template is not checked at all.
pub fn replicated(object: &Value) -> Vec<FieldError> {
    let mut errors = required_selector(object, "deployment");
    match selector::convert(selector_of(object)) {
        None => errors.push(selector::invalid(
            "spec.selector",
            selector_of(object).unwrap_or(&Value::Null),
            "invalid label selector",
        )),
        Some(selection) => {
            errors.extend(mismatch_unless_everything(&selection, object));
            errors.extend(pods::template(object, TEMPLATE, TEMPLATE_PATH));
            errors.extend(pods::restart_always(object, TEMPLATE, TEMPLATE_PATH));
        }
    }
    errors
}

/// `ValidateStatefulSetSpec`: a selector that does not convert is reported without a detail;
/// the template's labels and annotations are checked, not its pod spec.
pub fn stateful_set(object: &Value) -> Vec<FieldError> {
    let mut errors = required_selector(object, "statefulset");
    match selector::convert(selector_of(object)) {
        None => errors.push(selector::invalid(
            "spec.selector",
            selector_of(object).unwrap_or(&Value::Null),
            "",
        )),
        Some(selection) => {
            errors.extend(mismatch_unless_everything(&selection, object));
            errors.extend(meta::labels_and_annotations(
                object,
                "/spec/template/metadata",
                TEMPLATE_PATH,
            ));
        }
    }
    errors.extend(pods::restart_always(object, TEMPLATE, TEMPLATE_PATH));
    errors
}

/// `ValidateDaemonSetSpec`: a missing selector is not reported as such (it selects nothing, so
/// the template does not match); the template is always checked.
pub fn daemon_set(object: &Value) -> Vec<FieldError> {
    let selector = selector_of(object);
    let mut errors = selector::validate(selector, "spec.selector");
    if let Some(selection) = selector::convert(selector)
        && !selection.matches(template_label_map(object))
    {
        errors.push(selector::mismatch(MISMATCH_PATH, template_labels(object)));
    }
    if let Some(selector) = selector
        && selector::is_empty(selector)
    {
        errors.push(selector::invalid(
            "spec.selector",
            selector,
            "empty selector is invalid for daemonset",
        ));
    }
    errors.extend(pods::template(object, TEMPLATE, TEMPLATE_PATH));
    errors.extend(pods::restart_always(object, TEMPLATE, TEMPLATE_PATH));
    errors
}

/// `spec.selector: Invalid value: ...: field is immutable` when an update changes it.
pub fn selector_unchanged(old: &Value, new: &Value) -> Option<FieldError> {
    let (before, after) = (selector_of(old), selector_of(new));
    if selector::same(before, after) {
        return None;
    }
    Some(match after {
        Some(after) => selector::invalid("spec.selector", after, "field is immutable"),
        None => FieldError::invalid_string("spec.selector", "null", "field is immutable"),
    })
}

/// A StatefulSet update may change only some fields of its spec.
pub fn stateful_set_update_allowed(
    version: KubernetesVersion,
    old: &Value,
    new: &Value,
) -> Option<FieldError> {
    let mut allowed = vec!["replicas"];
    if version.has_statefulset_ordinals() {
        allowed.push("ordinals");
    }
    allowed.extend([
        "template",
        "updateStrategy",
        "persistentVolumeClaimRetentionPolicy",
        "minReadySeconds",
    ]);
    let fixed = |object: &Value| -> Map<String, Value> {
        let mut spec = object
            .get("spec")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        spec.retain(|key, value| !allowed.contains(&key.as_str()) && !value.is_null());
        spec
    };
    if fixed(old) == fixed(new) {
        return None;
    }
    let quoted: Vec<String> = allowed.iter().map(|f| format!("'{f}'")).collect();
    let (last, rest) = quoted.split_last().expect("fields");
    Some(FieldError::forbidden(
        "spec",
        &format!(
            "updates to statefulset spec for fields other than {} and {last} are forbidden",
            rest.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(selector: &Value, labels: &Value) -> Value {
        json!({"spec": {"selector": selector, "template": {"metadata": {"labels": labels}, "spec": {"restartPolicy": "Always", "containers": [{"name": "c"}]}}}})
    }

    #[test]
    fn a_selector_that_does_not_convert_hides_the_template() {
        let errors = replicated(&deployment(
            &json!({"matchLabels": {"bad key": "web"}}),
            &json!({"bad key": "web"}),
        ));
        let fields: Vec<&str> = errors.iter().map(FieldError::field).collect();
        assert_eq!(fields, ["spec.selector.matchLabels", "spec.selector"]);
        assert!(errors[1].to_string().ends_with(": invalid label selector"));
    }

    #[test]
    fn an_empty_selector_matches_every_template_but_is_refused() {
        let errors = replicated(&deployment(&json!({}), &json!({"app": "web"})));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0]
                .to_string()
                .ends_with("empty selector is invalid for deployment")
        );
        let errors = daemon_set(
            &json!({"spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"restartPolicy": "Always", "containers": [{}]}}}}),
        );
        assert_eq!(
            errors[0].to_string(),
            r#"spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`"#
        );
    }

    #[test]
    fn stateful_set_updates_name_the_fields_they_may_change() {
        let old = json!({"spec": {"replicas": 1, "serviceName": "a"}});
        let new = json!({"spec": {"replicas": 2, "serviceName": "a"}});
        let at = |v: &str| v.parse::<KubernetesVersion>().expect("valid");
        assert!(stateful_set_update_allowed(at("1.25"), &old, &new).is_none());
        let renamed = json!({"spec": {"replicas": 1, "serviceName": "b"}});
        let error = stateful_set_update_allowed(at("1.25"), &old, &renamed).expect("forbidden");
        assert_eq!(
            error.to_string(),
            "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
        );
        let error = stateful_set_update_allowed(at("1.26"), &old, &renamed).expect("forbidden");
        assert!(
            error
                .to_string()
                .contains("'replicas', 'ordinals', 'template'")
        );
    }
}
