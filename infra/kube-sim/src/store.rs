//! The in-memory object store: objects by resource type, a global resource version, a bounded
//! history of changes for watches, and a broadcast of every change.
//!
//! The lock is a plain mutex held only for map operations, never across an await.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::broadcast;

use crate::catalog::ResourceKey;
use crate::object::ObjectExt;

/// How many changes are kept for watches that resume from a resource version.
const HISTORY: usize = 20_000;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// It was created.
    Added,
    /// It was changed.
    Modified,
    /// It was removed.
    Deleted,
}

impl EventType {
    /// The watch event type as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One change in the store.
#[derive(Debug)]
pub struct Event {
    /// The resource version of the change.
    pub revision: u64,
    /// The type of the object.
    pub key: ResourceKey,
    /// What happened.
    pub kind: EventType,
    /// The object after the change (for deletions, the last state with the deletion's version).
    pub object: Arc<Value>,
    /// The object before the change, for modifications and deletions.
    pub previous: Option<Arc<Value>>,
}

/// `(namespace, name)`; the namespace is empty for cluster-scoped objects.
pub type ObjectKey = (String, String);

/// What a read-modify-write closure decided.
#[derive(Debug)]
pub enum Change {
    /// Leave the object as it is.
    Keep,
    /// Store this new state.
    Replace(Value),
    /// Remove the object.
    Remove,
}

#[derive(Debug)]
struct Inner {
    revision: u64,
    objects: HashMap<ResourceKey, BTreeMap<ObjectKey, Arc<Value>>>,
    history: VecDeque<Arc<Event>>,
    /// The oldest revision after which every change is still in `history`.
    compacted: u64,
    /// How many changes `history` keeps.
    capacity: usize,
}

/// The store. Shared as `Arc<Store>`.
#[derive(Debug)]
pub struct Store {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Arc<Event>>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

/// A watch that started: the changes already made after the requested revision, then live ones.
#[derive(Debug)]
pub struct Subscription {
    /// Changes after the requested revision, in order.
    pub backlog: Vec<Arc<Event>>,
    /// Later changes.
    pub receiver: broadcast::Receiver<Arc<Event>>,
    /// The store's revision when the watch started.
    pub revision: u64,
}

impl Store {
    /// An empty store keeping the last 20,000 changes for watches.
    pub fn new() -> Self {
        Self::with_history(HISTORY)
    }

    /// An empty store keeping the last `capacity` changes for watches.
    pub fn with_history(capacity: usize) -> Self {
        let (events, _) = broadcast::channel(capacity.max(1));
        Self {
            inner: Mutex::new(Inner {
                revision: 0,
                objects: HashMap::new(),
                history: VecDeque::new(),
                compacted: 0,
                capacity: capacity.max(1),
            }),
            events,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("store lock poisoned")
    }

    /// The current resource version.
    pub fn revision(&self) -> u64 {
        self.lock().revision
    }

    /// One object.
    pub fn get(&self, key: &ResourceKey, namespace: &str, name: &str) -> Option<Arc<Value>> {
        self.lock()
            .objects
            .get(key)?
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    /// All objects of a type, in one namespace or (with `None`) all, and the current revision.
    pub fn list(&self, key: &ResourceKey, namespace: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let inner = self.lock();
        let objects = inner
            .objects
            .get(key)
            .map(|objects| match namespace {
                Some(ns) => objects
                    .range((ns.to_owned(), String::new())..)
                    .take_while(|((n, _), _)| n == ns)
                    .map(|(_, o)| o.clone())
                    .collect(),
                None => objects.values().cloned().collect(),
            })
            .unwrap_or_default();
        (objects, inner.revision)
    }

    /// Whether any object of any of the types lives in `namespace`.
    pub fn namespace_is_empty(&self, namespace: &str) -> bool {
        let inner = self.lock();
        !inner.objects.values().any(|objects| {
            objects
                .range((namespace.to_owned(), String::new())..)
                .next()
                .is_some_and(|((n, _), _)| n == namespace)
        })
    }

    /// The keys of all types with at least one object.
    pub fn keys(&self) -> Vec<ResourceKey> {
        self.lock()
            .objects
            .iter()
            .filter(|(_, objects)| !objects.is_empty())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Inserts a new object and returns it with its resource version; when the name is taken,
    /// returns the existing object as the error.
    pub fn insert(&self, key: &ResourceKey, object: Value) -> Result<Arc<Value>, Arc<Value>> {
        let (namespace, name) = (object.namespace().to_owned(), object.name().to_owned());
        let stored = self.update(key, &namespace, &name, |current| match current {
            Some(existing) => Err(existing.clone()),
            None => Ok(Change::Replace(object)),
        })?;
        Ok(stored.expect("a replaced object is returned"))
    }

    /// Reads, decides and writes one object atomically. The closure sees the current object
    /// (or `None`) and runs under the lock: it must not block.
    pub fn update<E>(
        &self,
        key: &ResourceKey,
        namespace: &str,
        name: &str,
        decide: impl FnOnce(Option<&Arc<Value>>) -> Result<Change, E>,
    ) -> Result<Option<Arc<Value>>, E> {
        let mut inner = self.lock();
        let id = (namespace.to_owned(), name.to_owned());
        let current = inner.objects.get(key).and_then(|o| o.get(&id)).cloned();
        match decide(current.as_ref())? {
            Change::Keep => Ok(current),
            Change::Replace(mut object) => {
                inner.revision += 1;
                let revision = inner.revision;
                set_revision(&mut object, revision);
                let object = Arc::new(object);
                inner
                    .objects
                    .entry(key.clone())
                    .or_default()
                    .insert(id, object.clone());
                let kind = if current.is_some() {
                    EventType::Modified
                } else {
                    EventType::Added
                };
                self.record(&mut inner, key, kind, object.clone(), current);
                Ok(Some(object))
            }
            Change::Remove => {
                let Some(current) = current else {
                    return Ok(None);
                };
                inner.revision += 1;
                let revision = inner.revision;
                if let Some(objects) = inner.objects.get_mut(key) {
                    objects.remove(&id);
                }
                let mut last = (*current).clone();
                set_revision(&mut last, revision);
                let last = Arc::new(last);
                self.record(
                    &mut inner,
                    key,
                    EventType::Deleted,
                    last.clone(),
                    Some(current),
                );
                Ok(Some(last))
            }
        }
    }

    /// Removes every object of a type (used when its CRD goes away).
    pub fn remove_all(&self, key: &ResourceKey) {
        let names: Vec<ObjectKey> = {
            let inner = self.lock();
            inner
                .objects
                .get(key)
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        for (namespace, name) in names {
            let _ = self.update::<()>(key, &namespace, &name, |_| Ok(Change::Remove));
        }
    }

    fn record(
        &self,
        inner: &mut Inner,
        key: &ResourceKey,
        kind: EventType,
        object: Arc<Value>,
        previous: Option<Arc<Value>>,
    ) {
        let event = Arc::new(Event {
            revision: inner.revision,
            key: key.clone(),
            kind,
            object,
            previous,
        });
        if inner.history.len() == inner.capacity
            && let Some(dropped) = inner.history.pop_front()
        {
            inner.compacted = dropped.revision;
        }
        inner.history.push_back(event.clone());
        // Nobody listening is fine.
        let _ = self.events.send(event);
    }

    /// Starts a watch after `revision` (`None`: from now). Fails with the oldest revision still
    /// available when `revision` is older than the kept history.
    pub fn subscribe(&self, revision: Option<u64>) -> Result<Subscription, u64> {
        let inner = self.lock();
        let receiver = self.events.subscribe();
        let backlog = match revision {
            None => Vec::new(),
            Some(rv) if rv >= inner.revision => Vec::new(),
            Some(rv) if rv < inner.compacted => return Err(inner.compacted),
            Some(rv) => inner
                .history
                .iter()
                .skip_while(|e| e.revision <= rv)
                .cloned()
                .collect(),
        };
        Ok(Subscription {
            backlog,
            receiver,
            revision: inner.revision,
        })
    }

    /// Receives every later change (for controllers).
    pub fn events(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }
}

fn set_revision(object: &mut Value, revision: u64) {
    object.meta_mut().insert(
        "resourceVersion".into(),
        Value::String(revision.to_string()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config_map(name: &str, value: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "default"}, "data": {"v": value}})
    }

    #[test]
    fn a_watch_resumes_after_its_revision_and_fails_once_history_moved_past_it() {
        let store = Store::with_history(3);
        let key = ResourceKey::new("", "configmaps");
        let first = store.insert(&key, config_map("a", "1")).unwrap();
        assert!(
            store.insert(&key, config_map("a", "2")).is_err(),
            "names are unique"
        );
        let start = first.resource_version();
        store
            .update::<()>(&key, "default", "a", |_| {
                Ok(Change::Replace(config_map("a", "2")))
            })
            .unwrap();
        store.insert(&key, config_map("b", "1")).unwrap();

        let resumed = store.subscribe(Some(start)).unwrap();
        let kinds: Vec<EventType> = resumed.backlog.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![EventType::Modified, EventType::Added]);
        assert_eq!(
            resumed.backlog[0].previous.as_ref().unwrap()["data"]["v"],
            "1"
        );

        store
            .update::<()>(&key, "default", "b", |_| Ok(Change::Remove))
            .unwrap();
        store.insert(&key, config_map("c", "1")).unwrap();
        assert_eq!(
            store.subscribe(Some(start)).unwrap_err(),
            start + 1,
            "history no longer reaches back"
        );
        let (objects, revision) = store.list(&key, Some("default"));
        assert_eq!(objects.len(), 2);
        assert_eq!(revision, store.revision());
        assert!(store.subscribe(Some(revision)).unwrap().backlog.is_empty());
    }
}
