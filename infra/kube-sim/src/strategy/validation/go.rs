//! Values written as the API server (Go's `fmt`) writes them in validation messages: strings
//! quoted as `%q` does, and label maps and label selectors as `%#v` does.

use std::fmt::Write as _;

use serde_json::Value;

/// A string as Go's `strconv.Quote` writes it: in double quotes, with `"` and `\` escaped, the
/// usual C escapes, and `\x`, `\u` or `\U` for other characters that are not printable.
///
/// Go's notion of printable (letters, marks, numbers, punctuation, symbols and the ASCII space)
/// is approximated for non-ASCII characters by "neither a control character nor whitespace".
pub fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\u{7}' => quoted.push_str("\\a"),
            '\u{8}' => quoted.push_str("\\b"),
            '\u{c}' => quoted.push_str("\\f"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            '\u{b}' => quoted.push_str("\\v"),
            ' ' => quoted.push(' '),
            c if c.is_ascii_control() => {
                let _ = write!(quoted, "\\x{:02x}", u32::from(c));
            }
            c if c.is_control() || c.is_whitespace() => {
                if u32::from(c) < 0x10000 {
                    let _ = write!(quoted, "\\u{:04x}", u32::from(c));
                } else {
                    let _ = write!(quoted, "\\U{:08x}", u32::from(c));
                }
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

fn text_of(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// A `map[string]string` as `%#v` writes it: `map[string]string{"a":"1", "b":"2"}` (keys
/// sorted), `map[string]string{}` when empty and `map[string]string(nil)` when missing or null.
pub fn string_map(map: Option<&Value>) -> String {
    let Some(Value::Object(map)) = map else {
        return "map[string]string(nil)".to_owned();
    };
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let entries: Vec<String> = entries
        .into_iter()
        .map(|(key, value)| format!("{}:{}", quote(key), quote(text_of(value))))
        .collect();
    format!("map[string]string{{{}}}", entries.join(", "))
}

/// A `[]string` as `%#v` writes it.
fn string_slice(list: Option<&Value>) -> String {
    let Some(Value::Array(items)) = list else {
        return "[]string(nil)".to_owned();
    };
    let items: Vec<String> = items.iter().map(|v| quote(text_of(v))).collect();
    format!("[]string{{{}}}", items.join(", "))
}

/// A `metav1.LabelSelector` as `%#v` writes it:
/// `v1.LabelSelector{MatchLabels:map[string]string{"app":"web"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}`.
pub fn label_selector(selector: &Value) -> String {
    let expressions = match selector.get("matchExpressions") {
        Some(Value::Array(items)) => {
            let items: Vec<String> = items
                .iter()
                .map(|item| {
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                        quote(item.get("key").map(text_of).unwrap_or_default()),
                        quote(item.get("operator").map(text_of).unwrap_or_default()),
                        string_slice(item.get("values")),
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
        }
        _ => "[]v1.LabelSelectorRequirement(nil)".to_owned(),
    };
    format!(
        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{expressions}}}",
        string_map(selector.get("matchLabels"))
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn strings_are_quoted_as_go_quotes_them() {
        assert_eq!(quote("db-0.1.0+git"), r#""db-0.1.0+git""#);
        assert_eq!(quote("a \"b\"\\"), r#""a \"b\"\\""#);
        assert_eq!(quote("tab\tnl\n\u{1}\u{7f}"), r#""tab\tnl\n\x01\x7f""#);
        assert_eq!(quote("é\u{a0}"), r#""é\u00a0""#);
    }

    #[test]
    fn maps_and_selectors_are_written_as_go_writes_them() {
        assert_eq!(string_map(None), "map[string]string(nil)");
        assert_eq!(string_map(Some(&json!({}))), "map[string]string{}");
        assert_eq!(
            string_map(Some(&json!({"b": "2", "a": "1"}))),
            r#"map[string]string{"a":"1", "b":"2"}"#
        );
        assert_eq!(
            label_selector(&json!({})),
            "v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
        );
        assert_eq!(
            label_selector(&json!({"matchExpressions": [
                {"key": "app", "operator": "In", "values": ["web", "bad value"]},
                {"key": "x", "operator": "Exists"},
            ]})),
            r#"v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"app", Operator:"In", Values:[]string{"web", "bad value"}}, v1.LabelSelectorRequirement{Key:"x", Operator:"Exists", Values:[]string(nil)}}}"#
        );
    }
}
