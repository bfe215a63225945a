//! The string rules of Kubernetes (`k8s.io/apimachinery/pkg/util/validation`): qualified names,
//! label values, DNS labels and subdomains, path segments. Each returns the API server's
//! messages, empty when the value is valid.

/// The longest label value and name part of a qualified name.
const LABEL_MAX: usize = 63;
/// The longest DNS-1123 subdomain (and prefix of a qualified name).
const SUBDOMAIN_MAX: usize = 253;

const QUALIFIED_NAME_RULE: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_RULE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const DNS1123_LABEL_RULE: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_RULE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_LABEL_RULE: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn too_long(max: usize) -> String {
    format!("must be no more than {max} characters")
}

/// `first` at the start, `last` at the end and `middle` in between (a single character must
/// pass `first` and `last`): the shape of every Kubernetes name regex.
fn shaped(
    text: &str,
    first: impl Fn(u8) -> bool,
    middle: impl Fn(u8) -> bool,
    last: impl Fn(u8) -> bool,
) -> bool {
    let bytes = text.as_bytes();
    match bytes {
        [] => false,
        [only] => first(*only) && last(*only),
        [head, inner @ .., tail] => first(*head) && last(*tail) && inner.iter().all(|b| middle(*b)),
    }
}

fn is_name_part(text: &str) -> bool {
    shaped(
        text,
        |b| b.is_ascii_alphanumeric(),
        |b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'),
        |b| b.is_ascii_alphanumeric(),
    )
}

fn is_lower_alphanumeric(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn is_dns1123_label_shape(text: &str) -> bool {
    shaped(
        text,
        is_lower_alphanumeric,
        |b| is_lower_alphanumeric(b) || b == b'-',
        is_lower_alphanumeric,
    )
}

fn is_dns1123_subdomain_shape(text: &str) -> bool {
    text.split('.').all(is_dns1123_label_shape)
}

/// A qualified name (label and annotation keys, finalizers): an optional DNS subdomain prefix
/// and `/`, then a name part of at most 63 characters.
pub fn qualified_name(value: &str) -> Vec<String> {
    let parts: Vec<&str> = value.split('/').collect();
    let mut errors = Vec::new();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errors.push("prefix part must be non-empty".to_owned());
            } else {
                errors.extend(
                    dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|e| format!("prefix part {e}")),
                );
            }
            *name
        }
        _ => {
            return vec![format!(
                "a qualified name {QUALIFIED_NAME_RULE} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            )];
        }
    };
    if name.is_empty() {
        errors.push("name part must be non-empty".to_owned());
    } else if name.len() > LABEL_MAX {
        errors.push(format!("name part {}", too_long(LABEL_MAX)));
    }
    if !is_name_part(name) {
        errors.push(format!("name part {QUALIFIED_NAME_RULE}"));
    }
    errors
}

/// A label value: empty, or at most 63 alphanumeric characters, `-`, `_` and `.`, starting and
/// ending with an alphanumeric one.
pub fn label_value(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > LABEL_MAX {
        errors.push(too_long(LABEL_MAX));
    }
    if !value.is_empty() && !is_name_part(value) {
        errors.push(LABEL_VALUE_RULE.to_owned());
    }
    errors
}

/// A DNS-1123 label: at most 63 lowercase alphanumeric characters or `-`, starting and ending
/// with an alphanumeric one.
pub fn dns1123_label(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > LABEL_MAX {
        errors.push(too_long(LABEL_MAX));
    }
    if !is_dns1123_label_shape(value) {
        errors.push(DNS1123_LABEL_RULE.to_owned());
    }
    errors
}

/// A DNS-1123 subdomain: at most 253 characters, DNS-1123 labels joined by dots.
pub fn dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > SUBDOMAIN_MAX {
        errors.push(too_long(SUBDOMAIN_MAX));
    }
    if !is_dns1123_subdomain_shape(value) {
        errors.push(DNS1123_SUBDOMAIN_RULE.to_owned());
    }
    errors
}

/// A DNS-1035 label: like a DNS-1123 label, but starting with a letter.
pub fn dns1035_label(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > LABEL_MAX {
        errors.push(too_long(LABEL_MAX));
    }
    let valid = shaped(
        value,
        |b| b.is_ascii_lowercase(),
        |b| is_lower_alphanumeric(b) || b == b'-',
        is_lower_alphanumeric,
    );
    if !valid {
        errors.push(DNS1035_LABEL_RULE.to_owned());
    }
    errors
}

/// A path segment (RBAC names, and every name once the type's own rule passed): not `.` or
/// `..`, and without `/` or `%`. A prefix (`generateName`) may be `.` or `..`.
pub fn path_segment(value: &str, prefix: bool) -> Vec<String> {
    if !prefix && (value == "." || value == "..") {
        return vec![format!("may not be '{value}'")];
    }
    ['/', '%']
        .into_iter()
        .filter(|c| value.contains(*c))
        .map(|c| format!("may not contain '{c}'"))
        .collect()
}

/// A `generateName` checked with a name rule: the API server replaces a trailing `-` (which the
/// random suffix will follow) as its `maskTrailingDash` does, dropping the character before it
/// too and appending `a`.
pub fn mask_trailing_dash(prefix: &str) -> String {
    match prefix.strip_suffix('-') {
        Some(rest) if prefix.len() > 1 => {
            let mut masked = rest.to_owned();
            masked.pop();
            masked.push('a');
            masked
        }
        _ => prefix.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_check_the_prefix_and_the_name_part() {
        assert!(qualified_name("app.kubernetes.io/name").is_empty());
        assert!(qualified_name("MyName").is_empty());
        assert_eq!(qualified_name("/x"), ["prefix part must be non-empty"]);
        let empty_name = qualified_name("example.com/");
        assert_eq!(empty_name.len(), 2);
        assert_eq!(empty_name[0], "name part must be non-empty");
        assert!(qualified_name("a/b/c")[0].starts_with("a qualified name must consist"));
        assert!(
            qualified_name("Example.COM/x")[0]
                .starts_with("prefix part a lowercase RFC 1123 subdomain")
        );
        assert_eq!(
            qualified_name(&"a".repeat(64)),
            ["name part must be no more than 63 characters"]
        );
    }

    #[test]
    fn label_values_and_dns_names() {
        assert!(label_value("").is_empty());
        assert!(label_value("db-0.1.0_git").is_empty());
        assert_eq!(label_value("db-0.1.0+git").len(), 1);
        assert_eq!(label_value(&format!("-{}", "a".repeat(64))).len(), 2);
        assert!(dns1123_subdomain("a.b-c").is_empty());
        assert_eq!(dns1123_subdomain("a..b").len(), 1);
        assert_eq!(dns1123_label("a.b").len(), 1);
        assert!(dns1035_label("db").is_empty());
        assert_eq!(dns1035_label("1db").len(), 1);
        assert_eq!(path_segment("..", false), ["may not be '..'"]);
        assert_eq!(path_segment("a/b%", false).len(), 2);
        assert!(path_segment("Bad_Name", false).is_empty());
    }

    #[test]
    fn a_trailing_dash_is_masked_as_the_api_server_masks_it() {
        assert_eq!(mask_trailing_dash("web-"), "wea");
        assert_eq!(mask_trailing_dash("-"), "-");
        assert_eq!(mask_trailing_dash("web"), "web");
    }
}
