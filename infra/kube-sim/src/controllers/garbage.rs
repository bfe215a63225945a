//! The garbage collector: deletes objects whose owners are all gone, and finishes foreground
//! deletions once an owner's dependents are gone.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use crate::catalog::ResourceType;
use crate::object::ObjectExt;
use crate::storage::{DeleteOptions, Storage, Target};

const FOREGROUND: &str = "foregroundDeletion";

/// An object and its type.
type Entry = (Arc<ResourceType>, Arc<Value>);

/// Reconciles ownership across every type.
pub fn reconcile(storage: &Storage) {
    let mut objects: Vec<Entry> = Vec::new();
    for key in storage.store.keys() {
        let Some(rt) = storage.catalog.get(&key) else {
            continue;
        };
        let (list, _) = storage.store.list(&key, None);
        objects.extend(list.into_iter().map(|o| (rt.clone(), o)));
    }
    let uids: HashSet<&str> = objects.iter().map(|(_, o)| o.uid()).collect();
    let mut dependents: HashMap<&str, Vec<&Entry>> = HashMap::new();
    for entry in &objects {
        for owner in entry.1.owner_references() {
            if let Some(uid) = owner.get("uid").and_then(Value::as_str) {
                dependents.entry(uid).or_default().push(entry);
            }
        }
    }
    for (rt, object) in &objects {
        let owners: Vec<&str> = object
            .owner_references()
            .iter()
            .filter_map(|r| r.get("uid").and_then(Value::as_str))
            .collect();
        if !owners.is_empty()
            && !object.is_deleting()
            && owners.iter().all(|uid| !uids.contains(uid))
        {
            let options = DeleteOptions {
                propagation: Some("Background".into()),
                ..DeleteOptions::default()
            };
            let _ = storage.delete(rt, object.namespace(), object.name(), &options);
        }
    }
    for (rt, object) in &objects {
        if !object.is_deleting() || !object.finalizers().iter().any(|f| f == FOREGROUND) {
            continue;
        }
        let waiting = dependents.get(object.uid()).map_or(&[][..], Vec::as_slice);
        if waiting.is_empty() {
            let _ = storage.modify(rt, object.namespace(), object.name(), Target::Main, |o| {
                if let Some(Value::Array(list)) = o.meta_mut().get_mut("finalizers") {
                    list.retain(|f| f != FOREGROUND);
                }
            });
            continue;
        }
        let options = DeleteOptions {
            propagation: Some("Foreground".into()),
            ..DeleteOptions::default()
        };
        for (dependent_type, dependent) in waiting.iter().map(|e| (&e.0, &e.1)) {
            if !dependent.is_deleting() {
                let _ = storage.delete(
                    dependent_type,
                    dependent.namespace(),
                    dependent.name(),
                    &options,
                );
            }
        }
    }
}
