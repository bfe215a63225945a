//! Kubernetes objects as JSON values, and reading their metadata.

use serde_json::{Map, Value};

/// A stored Kubernetes object: a JSON object with `apiVersion`, `kind` and `metadata`.
pub type Object = Value;

/// Reads and writes the metadata of an [`Object`].
pub trait ObjectExt {
    /// `metadata.name`, empty when missing.
    fn name(&self) -> &str;
    /// `metadata.namespace`, empty when missing (cluster-scoped objects).
    fn namespace(&self) -> &str;
    /// `metadata.uid`, empty when missing.
    fn uid(&self) -> &str;
    /// `metadata.labels`.
    fn labels(&self) -> Option<&Map<String, Value>>;
    /// One label's value.
    fn label(&self, key: &str) -> Option<&str>;
    /// One annotation's value.
    fn annotation(&self, key: &str) -> Option<&str>;
    /// `metadata.resourceVersion` parsed as a number, 0 when missing.
    fn resource_version(&self) -> u64;
    /// Whether `metadata.deletionTimestamp` is set.
    fn is_deleting(&self) -> bool;
    /// `metadata.finalizers`.
    fn finalizers(&self) -> Vec<String>;
    /// `metadata.ownerReferences`.
    fn owner_references(&self) -> Vec<&Value>;
    /// The uid of the controlling owner, if any.
    fn controller_uid(&self) -> Option<&str>;
    /// A string at a JSON pointer.
    fn str_at(&self, pointer: &str) -> Option<&str>;
    /// An integer at a JSON pointer.
    fn i64_at(&self, pointer: &str) -> Option<i64>;
    /// `metadata` as a mutable map, created when missing.
    fn meta_mut(&mut self) -> &mut Map<String, Value>;
    /// The object as a mutable map (panics for non-objects; objects are checked on entry).
    fn map_mut(&mut self) -> &mut Map<String, Value>;
}

impl ObjectExt for Value {
    fn name(&self) -> &str {
        self.str_at("/metadata/name").unwrap_or("")
    }

    fn namespace(&self) -> &str {
        self.str_at("/metadata/namespace").unwrap_or("")
    }

    fn uid(&self) -> &str {
        self.str_at("/metadata/uid").unwrap_or("")
    }

    fn labels(&self) -> Option<&Map<String, Value>> {
        self.pointer("/metadata/labels").and_then(Value::as_object)
    }

    fn label(&self, key: &str) -> Option<&str> {
        self.labels()?.get(key)?.as_str()
    }

    fn annotation(&self, key: &str) -> Option<&str> {
        self.pointer("/metadata/annotations")?.get(key)?.as_str()
    }

    fn resource_version(&self) -> u64 {
        self.str_at("/metadata/resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    fn is_deleting(&self) -> bool {
        self.pointer("/metadata/deletionTimestamp")
            .is_some_and(|v| !v.is_null())
    }

    fn finalizers(&self) -> Vec<String> {
        self.pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|f| f.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn owner_references(&self) -> Vec<&Value> {
        self.pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .map(|list| list.iter().collect())
            .unwrap_or_default()
    }

    fn controller_uid(&self) -> Option<&str> {
        self.owner_references()
            .into_iter()
            .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
            .and_then(|r| r.get("uid"))
            .and_then(Value::as_str)
    }

    fn str_at(&self, pointer: &str) -> Option<&str> {
        self.pointer(pointer).and_then(Value::as_str)
    }

    fn i64_at(&self, pointer: &str) -> Option<i64> {
        self.pointer(pointer).and_then(Value::as_i64)
    }

    fn meta_mut(&mut self) -> &mut Map<String, Value> {
        let map = self.map_mut();
        let meta = map
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !meta.is_object() {
            *meta = Value::Object(Map::new());
        }
        meta.as_object_mut().expect("metadata is an object")
    }

    fn map_mut(&mut self) -> &mut Map<String, Value> {
        if !self.is_object() {
            *self = Value::Object(Map::new());
        }
        self.as_object_mut().expect("an object")
    }
}

/// Returns the map at `key` inside `map`, creating an empty one when missing or not a map.
pub fn child_map<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let entry = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    entry.as_object_mut().expect("an object")
}

/// The current time as Kubernetes writes `metav1.Time` (RFC 3339, whole seconds, UTC).
pub fn now_rfc3339() -> String {
    format_time(jiff::Timestamp::now())
}

/// A timestamp as Kubernetes writes `metav1.Time`.
pub fn format_time(time: jiff::Timestamp) -> String {
    format!("{time:.0}")
}

/// Parses a `metav1.Time`.
pub fn parse_time(text: &str) -> Option<jiff::Timestamp> {
    text.parse().ok()
}

/// An owner reference to `owner` marking it as the controller.
pub fn controller_reference(owner: &Value) -> Value {
    serde_json::json!({
        "apiVersion": owner.get("apiVersion").cloned().unwrap_or(Value::Null),
        "kind": owner.get("kind").cloned().unwrap_or(Value::Null),
        "name": owner.name(),
        "uid": owner.uid(),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// [`Value::pointer`] for a map.
pub fn pointer_in<'a>(map: &'a Map<String, Value>, pointer: &str) -> Option<&'a Value> {
    let mut parts = pointer.trim_start_matches('/').split('/');
    let first = map.get(parts.next()?)?;
    parts.try_fold(first, |value, part| match value {
        Value::Object(m) => m.get(part),
        Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// A short hash of `text` for generated names: FNV-1a, encoded with the alphabet Kubernetes uses
/// for generated names.
pub fn name_hash(text: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut hash: u32 = 0x811c_9dc5;
    for byte in text.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash.to_string()
        .bytes()
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}
