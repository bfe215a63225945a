//! Reading the contents of ConfigMaps and Secrets, as env sources and volume files.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

use crate::catalog::ResourceKey;
use crate::store::Store;

/// Which kind of object holds the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A ConfigMap (`data` as text, `binaryData` as base64).
    ConfigMap,
    /// A Secret (`data` as base64).
    Secret,
}

impl Source {
    /// `configmap` or `secret`, as kubelet messages name them.
    pub fn noun(self) -> &'static str {
        match self {
            Self::ConfigMap => "configmap",
            Self::Secret => "secret",
        }
    }
}

/// The keys and bytes of a ConfigMap or Secret; `None` when it does not exist.
pub fn read(
    store: &Store,
    source: Source,
    namespace: &str,
    name: &str,
) -> Option<BTreeMap<String, Vec<u8>>> {
    let plural = match source {
        Source::ConfigMap => "configmaps",
        Source::Secret => "secrets",
    };
    let object = store.get(&ResourceKey::new("", plural), namespace, name)?;
    let decode = |v: &Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or(""))
            .unwrap_or_default()
    };
    let mut entries = BTreeMap::new();
    if let Some(data) = object.get("data").and_then(Value::as_object) {
        for (key, value) in data {
            let bytes = match source {
                Source::ConfigMap => value.as_str().unwrap_or("").as_bytes().to_vec(),
                Source::Secret => decode(value),
            };
            entries.insert(key.clone(), bytes);
        }
    }
    if let Some(data) = object.get("binaryData").and_then(Value::as_object) {
        for (key, value) in data {
            entries.insert(key.clone(), decode(value));
        }
    }
    Some(entries)
}
