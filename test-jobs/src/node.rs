//! A YAML value that keeps the location of each of its parts: the `with:` parameters of a
//! test plan entry, whose shape depends on the catalogue entry it names, so they are checked
//! after parsing and every complaint can still point at the exact key or value.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// A YAML value; every list item, map key and map value is [`Spanned`].
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// `null` or `~`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A whole number.
    Integer(i64),
    /// A number with a fraction.
    Float(f64),
    /// A string.
    String(String),
    /// A sequence.
    List(Vec<Spanned<Node>>),
    /// A mapping, in document order.
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
}

impl Node {
    /// What kind of value this is, for messages: `a string`, `a list`, ….
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "a boolean",
            Self::Integer(_) => "an integer",
            Self::Float(_) => "a number",
            Self::String(_) => "a string",
            Self::List(_) => "a list",
            Self::Map(_) => "a map",
        }
    }

    /// The same value as JSON, without locations.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Null => serde_json::Value::Null,
            Self::Bool(value) => serde_json::Value::Bool(*value),
            Self::Integer(value) => serde_json::Value::from(*value),
            Self::Float(value) => serde_json::Value::from(*value),
            Self::String(value) => serde_json::Value::String(value.clone()),
            Self::List(items) => items.iter().map(|item| item.value.to_json()).collect(),
            Self::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(key, value)| (key.value.clone(), value.value.to_json()))
                    .collect(),
            ),
        }
    }

    /// A JSON value as a node whose locations are all [`Location::UNKNOWN`] (the catalogue's
    /// defaults, which are checked like parameters).
    pub fn from_json(value: &serde_json::Value) -> Self {
        fn unknown<T>(value: T) -> Spanned<T> {
            Spanned::new(value, Location::UNKNOWN, Location::UNKNOWN)
        }
        match value {
            serde_json::Value::Null => Self::Null,
            serde_json::Value::Bool(value) => Self::Bool(*value),
            serde_json::Value::Number(number) => number.as_i64().map_or_else(
                || Self::Float(number.as_f64().unwrap_or(f64::NAN)),
                Self::Integer,
            ),
            serde_json::Value::String(text) => Self::String(text.clone()),
            serde_json::Value::Array(items) => Self::List(
                items
                    .iter()
                    .map(|item| unknown(Self::from_json(item)))
                    .collect(),
            ),
            serde_json::Value::Object(entries) => Self::Map(
                entries
                    .iter()
                    .map(|(key, value)| (unknown(key.clone()), unknown(Self::from_json(value))))
                    .collect(),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Node, E> {
        Ok(Node::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Node, E> {
        Ok(Node::Integer(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Node, E> {
        Ok(i64::try_from(value).map_or(Node::Float(value as f64), Node::Integer))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Node, E> {
        Ok(Node::Float(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Node, E> {
        Ok(Node::String(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Node, E> {
        Ok(Node::String(value))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use serde_saphyr::Spanned;

    use super::Node;

    #[test]
    fn keeps_the_location_of_every_part() {
        let yaml = "\
settle: 20s
checks:
  - { url: \"http://api:8080/\", status: 200 }
  - url: http://web/
    body: ok
flag: true
ratio: 0.5
nothing: ~
";
        let node: Spanned<Node> = serde_saphyr::from_str(yaml).unwrap();
        let Node::Map(entries) = &node.value else {
            panic!("not a map: {node:?}");
        };
        let keys: Vec<_> = entries
            .iter()
            .map(|(key, value)| {
                (
                    key.value.as_str(),
                    key.referenced.line(),
                    value.value.kind(),
                    value.referenced.line(),
                    value.referenced.column(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                ("settle", 1, "a string", 1, 9),
                ("checks", 2, "a list", 3, 3),
                ("flag", 6, "a boolean", 6, 7),
                ("ratio", 7, "a number", 7, 8),
                ("nothing", 8, "null", 8, 10),
            ]
        );
        let Node::List(checks) = &entries[1].1.value else {
            panic!("checks is not a list");
        };
        let Node::Map(second) = &checks[1].value else {
            panic!("not a map");
        };
        assert_eq!(
            (second[1].0.value.as_str(), second[1].1.referenced.line()),
            ("body", 5)
        );
        let json = node.value.to_json();
        assert_eq!(json["checks"][0]["status"], 200);
        assert_eq!(Node::from_json(&json).to_json(), json);
    }
}
