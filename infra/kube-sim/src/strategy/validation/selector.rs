//! Label selectors of workloads (`metav1.LabelSelector`): their validation
//! (`ValidateLabelSelector`), whether they convert to a selector (`LabelSelectorAsSelector`)
//! and what they select.

use serde_json::{Map, Value};

use super::field::FieldError;
use super::{go, meta, names};
use crate::selector::LabelSelector;

const OPERATORS: [&str; 4] = ["In", "NotIn", "Exists", "DoesNotExist"];

fn list(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn text(value: Option<&Value>) -> &str {
    value.and_then(Value::as_str).unwrap_or_default()
}

/// `ValidateLabelSelector`: the `matchLabels` as labels, each expression's operator, values and
/// key. A missing selector has nothing to check.
pub fn validate(selector: Option<&Value>, path: &str) -> Vec<FieldError> {
    let Some(selector) = selector.filter(|s| !s.is_null()) else {
        return Vec::new();
    };
    let mut errors = meta::labels(
        selector.get("matchLabels").and_then(Value::as_object),
        &format!("{path}.matchLabels"),
    );
    for (index, expression) in list(selector.get("matchExpressions")).iter().enumerate() {
        let at = format!("{path}.matchExpressions[{index}]");
        let operator = text(expression.get("operator"));
        let values = list(expression.get("values"));
        match operator {
            "In" | "NotIn" if values.is_empty() => errors.push(FieldError::required(
                format!("{at}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                errors.push(FieldError::forbidden(
                    format!("{at}.values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ));
            }
            operator if !OPERATORS.contains(&operator) => errors.push(FieldError::invalid_string(
                format!("{at}.operator"),
                operator,
                "not a valid selector operator",
            )),
            _ => {}
        }
        let key = text(expression.get("key"));
        for message in names::qualified_name(key) {
            errors.push(FieldError::invalid_string(
                format!("{at}.key"),
                key,
                &message,
            ));
        }
    }
    errors
}

/// Whether a selector that is present has no requirement at all.
pub fn is_empty(selector: &Value) -> bool {
    let labels = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .map_or(0, Map::len);
    labels + list(selector.get("matchExpressions")).len() == 0
}

/// What a selector selects, once converted.
#[derive(Debug, Clone)]
pub enum Selection {
    /// No selector: nothing.
    Nothing,
    /// An empty selector: everything (and it counts as empty).
    Everything,
    /// The objects meeting the requirements.
    Matching(LabelSelector),
}

impl Selection {
    /// `Selector.Empty()`: only the empty selector is.
    pub fn is_everything(&self) -> bool {
        matches!(self, Self::Everything)
    }

    /// Whether a label map is selected.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        match self {
            Self::Nothing => false,
            Self::Everything => true,
            Self::Matching(selector) => selector.matches_labels(labels.unwrap_or(&Map::new())),
        }
    }
}

/// `LabelSelectorAsSelector`: `None` when the selector does not convert (a bad key or value,
/// an unknown operator, `In` without values, `Exists` with values).
pub fn convert(selector: Option<&Value>) -> Option<Selection> {
    let Some(selector) = selector.filter(|s| !s.is_null()) else {
        return Some(Selection::Nothing);
    };
    if !selector.is_object() {
        return None;
    }
    if is_empty(selector) {
        return Some(Selection::Everything);
    }
    let labels_valid = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .all(|(key, value)| {
            names::qualified_name(key).is_empty()
                && names::label_value(text(Some(value))).is_empty()
        });
    let expressions_valid = list(selector.get("matchExpressions"))
        .iter()
        .all(|expression| {
            let values = list(expression.get("values"));
            let arity = match text(expression.get("operator")) {
                "In" | "NotIn" => !values.is_empty(),
                "Exists" | "DoesNotExist" => values.is_empty(),
                _ => false,
            };
            arity
                && names::qualified_name(text(expression.get("key"))).is_empty()
                && values
                    .iter()
                    .all(|v| names::label_value(text(Some(v))).is_empty())
        });
    if !(labels_valid && expressions_valid) {
        return None;
    }
    LabelSelector::from_object(Some(selector)).map(Selection::Matching)
}

/// The mismatch error: `spec.template.metadata.labels: Invalid value: map[...]: `selector`
/// does not match template `labels``.
pub fn mismatch(path: &str, template_labels: Option<&Value>) -> FieldError {
    FieldError::invalid(
        path,
        &go::string_map(template_labels),
        "`selector` does not match template `labels`",
    )
}

/// An error about the whole selector, its value written as Go writes a `LabelSelector`.
pub fn invalid(path: &str, selector: &Value, detail: &str) -> FieldError {
    FieldError::invalid(path, &go::label_selector(selector), detail)
}

/// Whether two selectors are the same for the API server (missing, null and empty maps and
/// lists are equal).
pub fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    fn normal(selector: Option<&Value>) -> Option<(Map<String, Value>, Vec<Value>)> {
        let selector = selector.filter(|s| !s.is_null())?;
        let labels = selector
            .get("matchLabels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let expressions = list(selector.get("matchExpressions"))
            .iter()
            .map(|e| {
                let mut e = e.clone();
                if let Some(map) = e.as_object_mut()
                    && list(map.get("values")).is_empty()
                {
                    map.remove("values");
                }
                e
            })
            .collect();
        Some((labels, expressions))
    }
    normal(a) == normal(b)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn selectors_convert_only_when_every_requirement_is_valid() {
        assert!(matches!(convert(None), Some(Selection::Nothing)));
        assert!(convert(Some(&json!({}))).is_some_and(|s| s.is_everything()));
        let web = convert(Some(&json!({"matchLabels": {"app": "web"}}))).expect("valid");
        let labels = json!({"app": "web", "tier": "x"});
        assert!(web.matches(labels.as_object()));
        assert!(!web.matches(None));
        for bad in [
            json!({"matchLabels": {"bad key": "x"}}),
            json!({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]}),
            json!({"matchExpressions": [{"key": "a", "operator": "In", "values": ["bad value"]}]}),
            json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
        ] {
            assert!(convert(Some(&bad)).is_none(), "{bad}");
        }
        assert!(same(
            Some(&json!({"matchLabels": {"a": "b"}, "matchExpressions": []})),
            Some(&json!({"matchLabels": {"a": "b"}}))
        ));
        assert!(!same(Some(&json!({"matchLabels": {"a": "b"}})), None));
    }
}
