//! Strategic merge patch, as the API server applies it for built-in kinds.
//!
//! Lists merge by the patch merge keys of the Kubernetes API types (containers by `name`,
//! container ports by `containerPort`, Service ports by `port`, volume mounts by `mountPath`,
//! ...); other lists are replaced. The directives `$patch` (`replace`, `delete`, `merge`),
//! `$retainKeys`, `$setElementOrder/FIELD` and `$deleteFromPrimitiveList/FIELD` are honoured,
//! which covers the patches `kubectl apply` and `helm upgrade` compute.

use serde_json::{Map, Value};

use crate::errors::ApiError;

const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// How a list field merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListStrategy {
    /// Items are maps merged by this key.
    MergeByKey(&'static str),
    /// Items are scalars; the patch's items are added.
    MergePrimitives,
    /// The patch's list replaces the original.
    Replace,
}

fn list_strategy(kind: &str, path: &[&str], field: &str) -> ListStrategy {
    let parent = path.last().copied().unwrap_or("");
    let in_container = matches!(
        parent,
        "containers" | "initContainers" | "ephemeralContainers"
    );
    if in_container {
        let key = match field {
            "env" => Some("name"),
            "volumeMounts" => Some("mountPath"),
            "volumeDevices" => Some("devicePath"),
            "resizePolicy" => Some("resourceName"),
            "ports" => Some("containerPort"),
            _ => None,
        };
        if let Some(key) = key {
            return ListStrategy::MergeByKey(key);
        }
    }
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "imagePullSecrets"
        | "volumes"
        | "resourceClaims"
        | "secrets" => ListStrategy::MergeByKey("name"),
        "ports" if kind == "Service" && path == ["spec"] => ListStrategy::MergeByKey("port"),
        "hostAliases" | "podIPs" | "hostIPs" => ListStrategy::MergeByKey("ip"),
        "topologySpreadConstraints" => ListStrategy::MergeByKey("topologyKey"),
        "conditions" | "addresses" if path.first() == Some(&"status") => {
            ListStrategy::MergeByKey("type")
        }
        "ownerReferences" if path == ["metadata"] => ListStrategy::MergeByKey("uid"),
        "finalizers" if path == ["metadata"] => ListStrategy::MergePrimitives,
        _ => ListStrategy::Replace,
    }
}

/// Applies a strategic merge patch to `target`, an object of `kind`.
pub fn strategic_merge(kind: &str, target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let Value::Object(patch) = patch else {
        return Err(ApiError::bad_request(
            "a strategic merge patch must be a JSON object",
        ));
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let map = target.as_object_mut().expect("an object");
    if merge_map(kind, &[], map, patch)? == Outcome::Delete {
        return Err(ApiError::bad_request(
            "a strategic merge patch cannot delete the whole object",
        ));
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Keep,
    Delete,
}

fn directive(patch: &Map<String, Value>) -> Option<&str> {
    patch.get("$patch").and_then(Value::as_str)
}

fn merge_map(
    kind: &str,
    path: &[&str],
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
) -> Result<Outcome, ApiError> {
    match directive(patch) {
        Some("delete") => return Ok(Outcome::Delete),
        Some("replace") => {
            *original = strip(patch);
            return Ok(Outcome::Keep);
        }
        Some("merge") | None => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown patch directive $patch: {other:?}"
            )));
        }
    }
    if let Some(Value::Array(retain)) = patch.get("$retainKeys") {
        let keep: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
        original.retain(|k, _| keep.contains(&k.as_str()));
    }
    let mut orders = Vec::new();
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix(SET_ELEMENT_ORDER) {
            orders.push((field, value));
            continue;
        }
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            if let (Some(Value::Array(list)), Value::Array(remove)) =
                (original.get_mut(field), value)
            {
                list.retain(|item| !remove.contains(item));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        let child_path: Vec<&str> = path
            .iter()
            .copied()
            .chain(std::iter::once(key.as_str()))
            .collect();
        match value {
            Value::Null => {
                original.remove(key);
            }
            Value::Object(child_patch) => match original.get_mut(key) {
                Some(Value::Object(child)) => {
                    if merge_map(kind, &child_path, child, child_patch)? == Outcome::Delete {
                        original.remove(key);
                    }
                }
                _ => {
                    if directive(child_patch) == Some("delete") {
                        original.remove(key);
                    } else {
                        let mut fresh = Map::new();
                        merge_map(kind, &child_path, &mut fresh, child_patch)?;
                        original.insert(key.clone(), Value::Object(fresh));
                    }
                }
            },
            Value::Array(items) => {
                let strategy = list_strategy(kind, path, key);
                let replace_all = items
                    .iter()
                    .any(|i| i.as_object().and_then(directive) == Some("replace"));
                match (strategy, original.get_mut(key)) {
                    (ListStrategy::MergeByKey(merge_key), Some(Value::Array(list)))
                        if !replace_all =>
                    {
                        merge_list(kind, &child_path, list, items, merge_key)?;
                    }
                    (ListStrategy::MergePrimitives, Some(Value::Array(list))) if !replace_all => {
                        for item in items {
                            if !list.contains(item) {
                                list.push(item.clone());
                            }
                        }
                    }
                    _ => {
                        let fresh = items
                            .iter()
                            .filter(|i| {
                                !matches!(
                                    i.as_object().and_then(directive),
                                    Some("replace" | "delete")
                                )
                            })
                            .map(strip_value)
                            .collect();
                        original.insert(key.clone(), Value::Array(fresh));
                    }
                }
            }
            scalar => {
                original.insert(key.clone(), scalar.clone());
            }
        }
    }
    for (field, order) in orders {
        let strategy = list_strategy(kind, path, field);
        if let (Some(Value::Array(list)), Value::Array(order)) = (original.get_mut(field), order) {
            reorder(list, order, strategy);
        }
    }
    Ok(Outcome::Keep)
}

fn merge_list(
    kind: &str,
    path: &[&str],
    list: &mut Vec<Value>,
    items: &[Value],
    merge_key: &str,
) -> Result<(), ApiError> {
    for item in items {
        let Value::Object(item_patch) = item else {
            if !list.contains(item) {
                list.push(item.clone());
            }
            continue;
        };
        let key = item_patch.get(merge_key);
        let position = key.and_then(|k| list.iter().position(|o| o.get(merge_key) == Some(k)));
        if directive(item_patch) == Some("delete") {
            if let Some(k) = key {
                list.retain(|o| o.get(merge_key) != Some(k));
            }
            continue;
        }
        if let Some(index) = position {
            if let Value::Object(existing) = &mut list[index]
                && merge_map(kind, path, existing, item_patch)? == Outcome::Delete
            {
                list.remove(index);
            }
        } else {
            let mut fresh = Map::new();
            merge_map(kind, path, &mut fresh, item_patch)?;
            list.push(Value::Object(fresh));
        }
    }
    Ok(())
}

/// Orders `list` as `order` says; items that `order` does not name keep their relative order
/// after the named ones.
fn reorder(list: &mut [Value], order: &[Value], strategy: ListStrategy) {
    let rank = |item: &Value| -> usize {
        order
            .iter()
            .position(|o| match strategy {
                ListStrategy::MergeByKey(key) => {
                    o.get(key).is_some() && o.get(key) == item.get(key)
                }
                _ => o == item,
            })
            .unwrap_or(usize::MAX)
    };
    list.sort_by_key(|item| rank(item));
}

fn strip(patch: &Map<String, Value>) -> Map<String, Value> {
    patch
        .iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k.clone(), strip_value(v)))
        .collect()
}

fn strip_value(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(strip(map)),
        Value::Array(items) => Value::Array(items.iter().map(strip_value).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(kind: &str, mut target: Value, patch: &Value) -> Value {
        strategic_merge(kind, &mut target, patch).unwrap();
        target
    }

    #[test]
    fn containers_merge_by_name_and_keep_unpatched_fields() {
        let deployment = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "a:1", "ports": [{"containerPort": 80}], "env": [{"name": "X", "value": "1"}]},
            {"name": "side", "image": "s:1"}
        ]}}}});
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "side"}],
            "containers": [{"name": "app", "image": "a:2", "$setElementOrder/env": [{"name": "Y"}], "env": [{"name": "Y", "value": "2"}, {"name": "X", "$patch": "delete"}]}]
        }}}});
        let result = apply("Deployment", deployment, &patch);
        assert_eq!(
            result,
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "a:2", "ports": [{"containerPort": 80}], "env": [{"name": "Y", "value": "2"}]},
                {"name": "side", "image": "s:1"}
            ]}}}})
        );
    }

    #[test]
    fn service_ports_merge_by_port_and_other_lists_are_replaced() {
        let service =
            json!({"spec": {"ports": [{"port": 80, "name": "http"}], "externalIPs": ["1.1.1.1"]}});
        let patch = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}], "externalIPs": ["2.2.2.2"]}});
        assert_eq!(
            apply("Service", service, &patch),
            json!({"spec": {"ports": [{"port": 80, "name": "http", "targetPort": 8080}], "externalIPs": ["2.2.2.2"]}})
        );
    }

    #[test]
    fn directives_replace_delete_and_retain_keys() {
        let object = json!({"metadata": {"finalizers": ["a", "b"], "labels": {"x": "1", "y": "2"}},
            "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}, "selector": {"a": 1}}});
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["c"], "labels": {"x": null}},
            "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}, "selector": {"$patch": "replace", "b": 2}}});
        assert_eq!(
            apply("Deployment", object, &patch),
            json!({"metadata": {"finalizers": ["b", "c"], "labels": {"y": "2"}},
                "spec": {"strategy": {"type": "Recreate"}, "selector": {"b": 2}}})
        );
    }

    #[test]
    fn a_list_with_a_replace_directive_is_replaced() {
        let object = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let patch = json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "c"}]}});
        assert_eq!(
            apply("Pod", object, &patch),
            json!({"spec": {"containers": [{"name": "c"}]}})
        );
    }
}
