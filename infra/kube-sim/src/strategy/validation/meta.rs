//! `metadata` (and the metadata of pod templates): names, generated names, labels and
//! annotations, as `ValidateObjectMeta` and `ValidateObjectMetaUpdate` check them.

use serde_json::{Map, Value};

use super::field::FieldError;
use super::kinds::NameRule;
use super::names;

/// The most bytes all annotations of an object may have together (keys and values).
pub const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

fn string_of(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

fn map_at<'a>(object: &'a Value, pointer: &str) -> Option<&'a Map<String, Value>> {
    object.pointer(pointer).and_then(Value::as_object)
}

/// A label map at `path`: each key a qualified name, each value a label value.
pub fn labels(labels: Option<&Map<String, Value>>, path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (key, value) in labels.into_iter().flatten() {
        for message in names::qualified_name(key) {
            errors.push(FieldError::invalid_string(path, key, &message));
        }
        let value = string_of(value);
        for message in names::label_value(value) {
            errors.push(FieldError::invalid_string(path, value, &message));
        }
    }
    errors
}

/// An annotation map at `path`: each key a qualified name (case does not matter), all of them
/// together at most [`ANNOTATIONS_MAX_BYTES`].
pub fn annotations(annotations: Option<&Map<String, Value>>, path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut size = 0;
    for (key, value) in annotations.into_iter().flatten() {
        for message in names::qualified_name(&key.to_lowercase()) {
            errors.push(FieldError::invalid_string(path, key, &message));
        }
        size += key.len() + string_of(value).len();
    }
    if size > ANNOTATIONS_MAX_BYTES {
        errors.push(FieldError::too_long(path, ANNOTATIONS_MAX_BYTES));
    }
    errors
}

/// The labels and annotations of the metadata at `pointer` (`/metadata`,
/// `/spec/template/metadata`), reported under `path` (`metadata`, `spec.template`).
pub fn labels_and_annotations(object: &Value, pointer: &str, path: &str) -> Vec<FieldError> {
    let mut errors = labels(
        map_at(object, &format!("{pointer}/labels")),
        &format!("{path}.labels"),
    );
    errors.extend(annotations(
        map_at(object, &format!("{pointer}/annotations")),
        &format!("{path}.annotations"),
    ));
    errors
}

/// `metadata` of a new object (its name already generated from `generateName`): the generated
/// name's prefix, the name, the labels and the annotations.
pub fn on_create(object: &Value, rule: NameRule) -> Vec<FieldError> {
    let text = |field: &str| object.pointer(field).and_then(Value::as_str).unwrap_or("");
    let mut errors = Vec::new();
    let generate_name = text("/metadata/generateName");
    if !generate_name.is_empty() {
        for message in rule.check(object, generate_name, true) {
            errors.push(FieldError::invalid_string(
                "metadata.generateName",
                generate_name,
                &message,
            ));
        }
    }
    let name = text("/metadata/name");
    if name.is_empty() {
        errors.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for message in rule.check(object, name, false) {
            errors.push(FieldError::invalid_string("metadata.name", name, &message));
        }
    }
    errors.extend(labels_and_annotations(object, "/metadata", "metadata"));
    errors
}

/// `metadata` of an updated object: the name cannot change (kube-sim keeps it), so the labels
/// and the annotations.
pub fn on_update(object: &Value) -> Vec<FieldError> {
    labels_and_annotations(object, "/metadata", "metadata")
}
