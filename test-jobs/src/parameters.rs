//! Parameter types and the checking of `with:` values against them. Each check reports a
//! [`Problem`] at the exact key or value and returns the normalized JSON value that templates
//! and the pipeline read (durations as `90s`/`1500ms`, statuses as `200`/`2xx`, omitted
//! optional parameters as `null`, an omitted `components` as every component).

use std::path::Path;

use serde_json::{Map, Value};
use serde_saphyr::{Location, Spanned};

use crate::catalogue::{Parameter, ParameterFile, parameter};
use crate::duration;
use crate::node::Node;
use crate::written::Problem;

/// Which values a parameter accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum ParameterType {
    /// `20s`, `5m`, `1h30m`, `500ms`; normalized to whole seconds (`90s`) or milliseconds.
    Duration,
    /// A whole number within optional bounds.
    Integer {
        /// The smallest accepted value.
        minimum: Option<i64>,
        /// The largest accepted value.
        maximum: Option<i64>,
    },
    /// `true` or `false`.
    Boolean,
    /// A non-empty string.
    String,
    /// An HTTP status: a code (`200`) or a class (`2xx`); normalized to a string.
    Status,
    /// An `http://host[:port][/path]` URL as the probe reads it.
    HttpUrl,
    /// A file relative to the product file, which must exist.
    Path,
    /// Names of the product's components; every component when omitted.
    Components,
    /// A list of values of one type.
    List {
        /// The type of every item.
        items: Box<ParameterType>,
        /// The fewest items accepted.
        min_items: usize,
    },
    /// A map with known fields.
    Object {
        /// The fields, in documentation order.
        fields: Vec<Parameter>,
    },
    /// A map of free values, passed on as they are.
    Map,
}

impl ParameterType {
    /// The type's name as catalogue files write it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Duration => "duration",
            Self::Integer { .. } => "integer",
            Self::Boolean => "boolean",
            Self::String => "string",
            Self::Status => "status",
            Self::HttpUrl => "http-url",
            Self::Path => "path",
            Self::Components => "components",
            Self::List { .. } => "list",
            Self::Object { .. } => "object",
            Self::Map => "map",
        }
    }

    /// What a value of this type looks like, for messages.
    fn expected(&self) -> String {
        match self {
            Self::Duration => "a duration such as 20s, 5m or 500ms".to_owned(),
            Self::Integer { .. } => "a whole number".to_owned(),
            Self::Boolean => "true or false".to_owned(),
            Self::String => "a string".to_owned(),
            Self::Status => "a status code such as 200 or a class such as 2xx".to_owned(),
            Self::HttpUrl => "an http:// URL".to_owned(),
            Self::Path => "a file path relative to the product file".to_owned(),
            Self::Components => "a list of component names".to_owned(),
            Self::List { items, .. } => format!("a list of {}", items.name()),
            Self::Object { fields } => format!("a map with {}", field_names(fields)),
            Self::Map => "a map".to_owned(),
        }
    }
}

fn field_names(fields: &[Parameter]) -> String {
    fields
        .iter()
        .map(|field| field.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Builds a type from its catalogue form.
pub(crate) fn parameter_type(raw: ParameterFile) -> Result<ParameterType, String> {
    let kind = match raw.kind.as_str() {
        "duration" => ParameterType::Duration,
        "integer" => ParameterType::Integer {
            minimum: raw.minimum,
            maximum: raw.maximum,
        },
        "boolean" => ParameterType::Boolean,
        "string" => ParameterType::String,
        "status" => ParameterType::Status,
        "http-url" => ParameterType::HttpUrl,
        "path" => ParameterType::Path,
        "components" => ParameterType::Components,
        "list" => {
            let items = raw.items.ok_or_else(|| "a list needs `items`".to_owned())?;
            ParameterType::List {
                items: Box::new(parameter_type(*items)?),
                min_items: raw.min_items.unwrap_or(0),
            }
        }
        "object" => {
            if raw.fields.is_empty() {
                return Err("an object needs `fields`".to_owned());
            }
            ParameterType::Object {
                fields: raw
                    .fields
                    .into_iter()
                    .map(parameter)
                    .collect::<Result<_, _>>()?,
            }
        }
        "map" => ParameterType::Map,
        other => {
            return Err(format!(
                "unknown parameter type `{other}`; use duration, integer, boolean, string, status, http-url, path, components, list, object or map"
            ));
        }
    };
    Ok(kind)
}

/// Checks and normalizes a catalogue default.
pub(crate) fn normalize_default(
    name: &str,
    kind: &ParameterType,
    value: &Value,
) -> Result<Value, String> {
    if matches!(kind, ParameterType::Path | ParameterType::Components) {
        return Err(format!("a {} parameter takes no default", kind.name()));
    }
    let mut checker = Checker::new(&[], Path::new(""));
    let node = Spanned::new(Node::from_json(value), Location::UNKNOWN, Location::UNKNOWN);
    match checker.value(kind, &node, name) {
        Some(value) if checker.problems.is_empty() => Ok(value),
        _ => Err(checker
            .problems
            .into_iter()
            .map(|problem| problem.message)
            .collect::<Vec<_>>()
            .join("; ")),
    }
}

/// Checks values against parameter types, collecting every problem.
pub(crate) struct Checker<'a> {
    components: &'a [String],
    base_dir: &'a Path,
    /// What was found wrong so far.
    pub(crate) problems: Vec<Problem>,
}

impl<'a> Checker<'a> {
    /// A checker for a product with these components, whose file is in `base_dir`.
    pub(crate) fn new(components: &'a [String], base_dir: &'a Path) -> Self {
        Self {
            components,
            base_dir,
            problems: Vec::new(),
        }
    }

    fn problem(&mut self, location: Location, message: String) {
        self.problems.push(Problem { location, message });
    }

    /// Checks a map against `fields`: no unknown or repeated keys, every required field,
    /// defaults for the others. `node` is `None` when the map is absent (then `at` locates
    /// the complaints). `path` names the map in messages, e.g. `with` or `with.checks[0]`.
    pub(crate) fn fields(
        &mut self,
        fields: &[Parameter],
        node: Option<&Spanned<Node>>,
        at: Location,
        path: &str,
    ) -> Option<Map<String, Value>> {
        let empty = Vec::new();
        let (entries, at) = match node {
            None => (&empty, at),
            Some(Spanned {
                value: Node::Map(entries),
                referenced,
                ..
            }) => (entries, *referenced),
            Some(Spanned {
                value: Node::Null,
                referenced,
                ..
            }) => (&empty, *referenced),
            Some(other) => {
                let expected = if fields.is_empty() {
                    "nothing: this test takes no parameters".to_owned()
                } else {
                    format!("a map with {}", field_names(fields))
                };
                self.problem(
                    other.referenced,
                    format!("`{path}` is {}; expected {expected}", other.value.kind()),
                );
                return None;
            }
        };
        let mut valid = true;
        let mut seen: Vec<&str> = Vec::new();
        for (key, _) in entries {
            if seen.contains(&key.value.as_str()) {
                self.problem(
                    key.referenced,
                    format!("`{path}.{}` is given twice; keep one", key.value),
                );
                valid = false;
            } else if !fields.iter().any(|field| field.name == key.value) {
                let expected = if fields.is_empty() {
                    "this test takes no parameters; remove it".to_owned()
                } else {
                    format!("expected one of {}", field_names(fields))
                };
                self.problem(
                    key.referenced,
                    format!("`{path}.{}` is not a parameter here; {expected}", key.value),
                );
                valid = false;
            }
            seen.push(&key.value);
        }
        let mut normalized = Map::new();
        for field in fields {
            let field_path = format!("{path}.{}", field.name);
            let given = entries
                .iter()
                .find(|(key, _)| key.value == field.name)
                .map(|(_, value)| value);
            let value = match (given, &field.default) {
                (Some(value), _) => self.value(&field.kind, value, &field_path),
                (None, Some(default)) => Some(default.clone()),
                (None, None) if field.required => {
                    self.problem(
                        at,
                        format!(
                            "`{field_path}` is required: {}",
                            field.description.trim_end_matches('.')
                        ),
                    );
                    None
                }
                (None, None) if field.kind == ParameterType::Components => Some(Value::from(
                    self.components
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>(),
                )),
                (None, None) => Some(Value::Null),
            };
            match value {
                Some(value) => {
                    normalized.insert(field.name.clone(), value);
                }
                None => valid = false,
            }
        }
        valid.then_some(normalized)
    }

    /// Checks one value against its type and returns it normalized.
    pub(crate) fn value(
        &mut self,
        kind: &ParameterType,
        node: &Spanned<Node>,
        path: &str,
    ) -> Option<Value> {
        let at = node.referenced;
        let mismatch = |checker: &mut Self| {
            checker.problem(
                at,
                format!(
                    "`{path}` is {}; expected {}",
                    node.value.kind(),
                    kind.expected()
                ),
            );
            None
        };
        match (kind, &node.value) {
            (ParameterType::Duration, Node::String(text)) => match duration::parse(text) {
                Ok(parsed) => Some(Value::String(duration::plain(parsed))),
                Err(reason) => self.fail(at, format!("`{path}`: {reason}")),
            },
            (ParameterType::Duration, Node::Integer(number)) => self.fail(
                at,
                format!("`{path}` is a bare number; give it a unit, e.g. {number}s"),
            ),
            (ParameterType::Integer { minimum, maximum }, Node::Integer(number)) => {
                if minimum.is_some_and(|minimum| *number < minimum)
                    || maximum.is_some_and(|maximum| *number > maximum)
                {
                    let bound =
                        |bound: &Option<i64>| bound.map_or("…".to_owned(), |b| b.to_string());
                    self.fail(
                        at,
                        format!(
                            "`{path}` is {number}; expected a number from {} to {}",
                            bound(minimum),
                            bound(maximum)
                        ),
                    )
                } else {
                    Some(Value::from(*number))
                }
            }
            (ParameterType::Boolean, Node::Bool(value)) => Some(Value::Bool(*value)),
            (ParameterType::String, Node::String(text)) => {
                if text.is_empty() {
                    self.fail(
                        at,
                        format!("`{path}` is empty; give a value or leave it out"),
                    )
                } else {
                    Some(Value::String(text.clone()))
                }
            }
            (ParameterType::Status, Node::Integer(code)) => {
                if (100..=599).contains(code) {
                    Some(Value::String(code.to_string()))
                } else {
                    self.fail(
                        at,
                        format!("`{path}` is {code}; expected a status code from 100 to 599 or a class such as 2xx"),
                    )
                }
            }
            (ParameterType::Status, Node::String(text)) => match status(text) {
                Some(status) => Some(Value::String(status)),
                None => self.fail(
                    at,
                    format!("`{path}` is `{text}`; expected {}", kind.expected()),
                ),
            },
            (ParameterType::HttpUrl, Node::String(text)) => self.http_url(at, path, text),
            (ParameterType::Path, Node::String(text)) => self.path(at, path, text),
            (ParameterType::Components, Node::List(items)) => self.components(at, path, items),
            (ParameterType::List { items, min_items }, Node::List(list)) => {
                if list.len() < *min_items {
                    return self.fail(
                        at,
                        format!(
                            "`{path}` has {} item(s); give at least {min_items}",
                            list.len()
                        ),
                    );
                }
                let checked: Vec<_> = list
                    .iter()
                    .enumerate()
                    .map(|(index, item)| self.value(items, item, &format!("{path}[{index}]")))
                    .collect();
                checked
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
                    .map(Value::Array)
            }
            (ParameterType::Object { fields }, Node::Map(_)) => {
                self.fields(fields, Some(node), at, path).map(Value::Object)
            }
            (ParameterType::Map, Node::Map(_)) => Some(node.value.to_json()),
            _ => mismatch(self),
        }
    }

    fn fail(&mut self, at: Location, message: String) -> Option<Value> {
        self.problem(at, message);
        None
    }

    fn http_url(&mut self, at: Location, path: &str, text: &str) -> Option<Value> {
        if text.contains('~') {
            return self.fail(
                at,
                format!("`{path}`: write the `~` in `{text}` as %7E (the probe reads `~` as the start of a body fragment)"),
            );
        }
        match chorale_probe::url::Url::parse(text) {
            Ok(_) => Some(Value::String(text.to_owned())),
            Err(error) => self.fail(at, format!("`{path}`: {error}")),
        }
    }

    fn path(&mut self, at: Location, path: &str, text: &str) -> Option<Value> {
        if text.is_empty() || Path::new(text).is_absolute() {
            return self.fail(
                at,
                format!("`{path}` is `{text}`; write a path relative to the product file"),
            );
        }
        let full = self.base_dir.join(text);
        if full.is_file() {
            Some(Value::String(text.to_owned()))
        } else {
            self.fail(
                at,
                format!(
                    "`{path}`: {text} does not exist (looked for {}); write a path relative to the product file",
                    full.display()
                ),
            )
        }
    }

    fn components(&mut self, at: Location, path: &str, items: &[Spanned<Node>]) -> Option<Value> {
        if items.is_empty() {
            return self.fail(
                at,
                format!("`{path}` is empty; leave it out to mean every component"),
            );
        }
        let mut names: Vec<String> = Vec::new();
        let mut valid = true;
        for (index, item) in items.iter().enumerate() {
            let Node::String(name) = &item.value else {
                self.problem(
                    item.referenced,
                    format!(
                        "`{path}[{index}]` is {}; expected a component name",
                        item.value.kind()
                    ),
                );
                valid = false;
                continue;
            };
            if !self.components.contains(name) {
                self.problem(
                    item.referenced,
                    format!(
                        "`{path}[{index}]`: the product has no component `{name}`; it has {}",
                        self.components.join(", ")
                    ),
                );
                valid = false;
            } else if names.contains(name) {
                self.problem(
                    item.referenced,
                    format!("`{path}[{index}]`: component `{name}` is named twice"),
                );
                valid = false;
            }
            names.push(name.clone());
        }
        valid.then(|| Value::from(names))
    }
}

/// `200`, `2xx` or `2XX` as the probe reads it, or `None`.
fn status(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let valid = bytes.len() == 3
        && (b'1'..=b'5').contains(&bytes[0])
        && (text[1..].eq_ignore_ascii_case("xx") || bytes[1..].iter().all(u8::is_ascii_digit));
    valid.then(|| text.to_ascii_lowercase())
}
