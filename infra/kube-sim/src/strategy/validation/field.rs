//! One validation error of one field, as the API server's `field.Error` reports it, and the
//! 422 `Invalid` answer that aggregates a list of them.

use std::fmt;

use serde_json::{Value, json};

use super::go;
use crate::errors::ApiError;

/// What is wrong with a field; its `reason` in a Status cause and the words its message starts
/// with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// `FieldValueInvalid`, "Invalid value".
    Invalid,
    /// `FieldValueRequired`, "Required value".
    Required,
    /// `FieldValueForbidden`, "Forbidden".
    Forbidden,
    /// `FieldValueTooLong`, "Too long".
    TooLong,
    /// `FieldValueNotSupported`, "Unsupported value".
    NotSupported,
    /// `InternalError`, "Internal error".
    Internal,
}

impl ErrorType {
    fn reason(self) -> &'static str {
        match self {
            Self::Invalid => "FieldValueInvalid",
            Self::Required => "FieldValueRequired",
            Self::Forbidden => "FieldValueForbidden",
            Self::TooLong => "FieldValueTooLong",
            Self::NotSupported => "FieldValueNotSupported",
            Self::Internal => "InternalError",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Self::Invalid => "Invalid value",
            Self::Required => "Required value",
            Self::Forbidden => "Forbidden",
            Self::TooLong => "Too long",
            Self::NotSupported => "Unsupported value",
            Self::Internal => "Internal error",
        }
    }
}

/// A field and what is wrong with it. Displayed as the API server prints it:
/// `metadata.labels: Invalid value: "a b": ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    kind: ErrorType,
    field: String,
    body: String,
}

impl FieldError {
    fn new(kind: ErrorType, field: impl Into<String>, value: Option<&str>, detail: &str) -> Self {
        let mut body = kind.words().to_owned();
        if let Some(value) = value {
            body.push_str(": ");
            body.push_str(value);
        }
        if !detail.is_empty() {
            body.push_str(": ");
            body.push_str(detail);
        }
        Self {
            kind,
            field: field.into(),
            body,
        }
    }

    /// `Invalid value: VALUE: DETAIL`; `value` is already written as Go prints it (see
    /// [`go`]).
    pub fn invalid(field: impl Into<String>, value: &str, detail: &str) -> Self {
        Self::new(ErrorType::Invalid, field, Some(value), detail)
    }

    /// `Invalid value: "TEXT": DETAIL` for a string value.
    pub fn invalid_string(field: impl Into<String>, text: &str, detail: &str) -> Self {
        Self::invalid(field, &go::quote(text), detail)
    }

    /// `Required value[: DETAIL]`.
    pub fn required(field: impl Into<String>, detail: &str) -> Self {
        Self::new(ErrorType::Required, field, None, detail)
    }

    /// `Forbidden: DETAIL`.
    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        Self::new(ErrorType::Forbidden, field, None, detail)
    }

    /// `Too long: must have at most MAX bytes`.
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        Self::new(
            ErrorType::TooLong,
            field,
            None,
            &format!("must have at most {max} bytes"),
        )
    }

    /// `Unsupported value: "VALUE": supported values: "A", "B"`.
    pub fn not_supported(field: impl Into<String>, value: &str, supported: &[&str]) -> Self {
        let supported: Vec<String> = supported.iter().map(|s| go::quote(s)).collect();
        Self::new(
            ErrorType::NotSupported,
            field,
            Some(&go::quote(value)),
            &format!("supported values: {}", supported.join(", ")),
        )
    }

    /// `Internal error: DETAIL`.
    pub fn internal(field: impl Into<String>, detail: &str) -> Self {
        Self::new(ErrorType::Internal, field, None, detail)
    }

    /// The field path (`spec.template.metadata.labels`).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The cause of a Status: `reason`, `message` (without the field) and `field`.
    fn cause(&self) -> Value {
        json!({"reason": self.kind.reason(), "message": self.body, "field": self.field})
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body)
    }
}

/// The 422 `Invalid` answer for `errors` about the object `name` of `kind` in `group` (the
/// group the API server names, see `kinds::Rules::error_group`).
///
/// As the API server's aggregate does, the message names each distinct error once, in order,
/// and in brackets when there are several; the causes keep every error, repeats included.
pub fn invalid(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> ApiError {
    let qualified = if group.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}.{group}")
    };
    let mut distinct: Vec<String> = Vec::new();
    for error in errors {
        let text = error.to_string();
        if !distinct.contains(&text) {
            distinct.push(text);
        }
    }
    let subject = format!("{qualified} {} is invalid", go::quote(name));
    let message = match distinct.as_slice() {
        [] => subject,
        [one] => format!("{subject}: {one}"),
        many => format!("{subject}: [{}]", many.join(", ")),
    };
    let mut details = serde_json::Map::new();
    if !name.is_empty() {
        details.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        details.insert("group".into(), json!(group));
    }
    details.insert("kind".into(), json!(kind));
    details.insert(
        "causes".into(),
        Value::Array(errors.iter().map(FieldError::cause).collect()),
    );
    ApiError::invalid(message, Value::Object(details))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_each_distinct_error_once_and_the_causes_keep_them_all() {
        let label = FieldError::invalid_string("metadata.labels", "a b", "bad");
        let one = invalid("", "ConfigMap", "c", std::slice::from_ref(&label));
        assert_eq!(
            one.message,
            r#"ConfigMap "c" is invalid: metadata.labels: Invalid value: "a b": bad"#
        );
        let repeated = invalid("apps", "Deployment", "web", &[label.clone(), label.clone()]);
        assert_eq!(
            repeated.message,
            r#"Deployment.apps "web" is invalid: metadata.labels: Invalid value: "a b": bad"#
        );
        let details = repeated.details.expect("details");
        assert_eq!(details["causes"].as_array().map(Vec::len), Some(2));
        assert_eq!(details["group"], "apps");
        let two = invalid(
            "",
            "Pod",
            "",
            &[FieldError::required("spec.containers", ""), label],
        );
        assert_eq!(
            two.message,
            r#"Pod "" is invalid: [spec.containers: Required value, metadata.labels: Invalid value: "a b": bad]"#
        );
        let details = two.details.expect("details");
        assert!(details.get("name").is_none() && details.get("group").is_none());
        assert_eq!(
            details["causes"][0],
            json!({"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers"})
        );
    }
}
