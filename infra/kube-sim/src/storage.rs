//! The API's storage semantics on top of the [`Store`]: create with generated names and uids,
//! updates with optimistic concurrency, status subresources, generations, patches, graceful and
//! cascading deletion. Both the HTTP handlers and the controllers write through it.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::catalog::{Catalog, ResourceKey, ResourceType};
use crate::errors::ApiError;
use crate::object::{ObjectExt, child_map, now_rfc3339};
use crate::patch::Patch;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Change, Store};
use crate::strategy::{self, Admission};

/// Which part of an object a write replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The object; its status is kept when the type has a status subresource.
    Main,
    /// Only `status`.
    Status,
}

/// How to delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `Foreground`, `Background` or `Orphan`; `None` is the type's default (background).
    pub propagation: Option<String>,
    /// Seconds the pod gets to stop; 0 removes it at once.
    pub grace_period: Option<i64>,
    /// Only delete when the object still has this uid.
    pub uid: Option<String>,
    /// Only delete when the object still has this resource version.
    pub resource_version: Option<String>,
    /// Validate without deleting.
    pub dry_run: bool,
}

/// The storage semantics. Shared as `Arc<Storage>`.
#[derive(Debug)]
pub struct Storage {
    /// The objects.
    pub store: Arc<Store>,
    /// The types.
    pub catalog: Arc<Catalog>,
    /// Defaulting and cluster-level allocations (service IPs, node name).
    pub admission: Admission,
}

impl Storage {
    /// The storage semantics over a store.
    pub fn new(store: Arc<Store>, catalog: Arc<Catalog>, admission: Admission) -> Self {
        Self {
            store,
            catalog,
            admission,
        }
    }

    /// The type of a version-independent key (for controllers).
    pub fn resource(&self, group: &str, plural: &str) -> Arc<ResourceType> {
        self.catalog
            .get(&ResourceKey::new(group, plural))
            .expect("built-in resource type")
    }

    /// One object.
    pub fn get(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<Value>, ApiError> {
        self.store
            .get(&rt.key(), namespace, name)
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
    }

    /// Matching objects in a namespace (or all), and the list's resource version.
    pub fn list(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> (Vec<Arc<Value>>, u64) {
        let (mut objects, revision) = self.store.list(&rt.key(), namespace);
        objects.retain(|o| labels.matches(o) && fields.matches(o));
        (objects, revision)
    }

    /// Creates an object in `namespace` (empty for cluster-scoped types).
    pub fn create(
        &self,
        rt: &ResourceType,
        namespace: &str,
        mut object: Value,
        dry_run: bool,
    ) -> Result<Arc<Value>, ApiError> {
        set_type(rt, &mut object)?;
        if rt.create_only {
            return Ok(Arc::new(strategy::review(object)));
        }
        let body_namespace = object.namespace().to_owned();
        if rt.namespaced {
            if !body_namespace.is_empty() && body_namespace != namespace {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            self.check_namespace_open(namespace)?;
        }
        let meta = object.meta_mut();
        if rt.namespaced {
            meta.insert("namespace".into(), Value::String(namespace.to_owned()));
        } else {
            meta.remove("namespace");
        }
        let given = meta.get("name").and_then(Value::as_str).unwrap_or("");
        let prefix = meta
            .get("generateName")
            .and_then(Value::as_str)
            .unwrap_or("");
        // An object without a name is refused by validation, with its other errors.
        let name = if given.is_empty() && !prefix.is_empty() {
            generate_name(prefix)
        } else {
            given.to_owned()
        };
        if !name.is_empty() {
            meta.insert("name".into(), Value::String(name.clone()));
        }
        meta.insert(
            "uid".into(),
            Value::String(uuid::Uuid::new_v4().to_string()),
        );
        meta.insert("creationTimestamp".into(), Value::String(now_rfc3339()));
        meta.insert("generation".into(), json!(1));
        for field in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            meta.remove(field);
        }
        self.admission.prepare_create(rt, &mut object)?;
        if dry_run {
            return Ok(Arc::new(object));
        }
        self.store
            .insert(&rt.key(), object)
            .map_err(|_| ApiError::already_exists(&rt.group, &rt.plural, &name))
    }

    fn check_namespace_open(&self, namespace: &str) -> Result<(), ApiError> {
        let namespaces = ResourceKey::new("", "namespaces");
        match self.store.get(&namespaces, "", namespace) {
            None => Err(ApiError::not_found("", "namespaces", namespace)),
            Some(ns) if ns.is_deleting() => Err(ApiError::forbidden(format!(
                "unable to create new content in namespace {namespace} because it is being terminated"
            ))),
            Some(_) => Ok(()),
        }
    }

    /// Replaces an object (PUT).
    pub fn update(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        mut object: Value,
        target: Target,
        dry_run: bool,
    ) -> Result<Arc<Value>, ApiError> {
        set_type(rt, &mut object)?;
        if !object.name().is_empty() && object.name() != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                object.name()
            )));
        }
        let expected = object.resource_version();
        self.write(rt, namespace, name, target, dry_run, |current| {
            check_version(rt, name, expected, current)?;
            Ok(object)
        })
    }

    /// Applies a parsed patch (PATCH). A server-side apply of a missing object creates it.
    pub fn patch(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        parsed: &Patch,
        target: Target,
        dry_run: bool,
    ) -> Result<Arc<Value>, ApiError> {
        if matches!(parsed, Patch::Strategic(_)) && rt.custom {
            return Err(ApiError::unsupported_media_type(
                "application/strategic-merge-patch+json (not supported for custom resources)",
            ));
        }
        if let Patch::Apply(applied) = parsed
            && self.store.get(&rt.key(), namespace, name).is_none()
        {
            let mut object = applied.clone();
            object
                .meta_mut()
                .insert("name".into(), Value::String(name.to_owned()));
            return self.create(rt, namespace, object, dry_run);
        }
        self.write(rt, namespace, name, target, dry_run, |current| {
            let patched = parsed.apply(current)?;
            let expected = patched.resource_version();
            check_version(rt, name, expected, current)?;
            Ok(patched)
        })
    }

    /// Changes an object with a function of its current state (for controllers). The function
    /// runs under the store lock.
    pub fn modify(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        target: Target,
        change: impl FnOnce(&mut Value),
    ) -> Result<Arc<Value>, ApiError> {
        self.write(rt, namespace, name, target, false, |current| {
            let mut next = current.clone();
            change(&mut next);
            Ok(next)
        })
    }

    /// Writes `status` (for controllers), unless it is unchanged.
    pub fn set_status(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        status: Value,
    ) -> Result<Arc<Value>, ApiError> {
        self.modify(rt, namespace, name, Target::Status, |object| {
            object.map_mut().insert("status".into(), status);
        })
    }

    fn write(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        target: Target,
        dry_run: bool,
        incoming: impl FnOnce(&Value) -> Result<Value, ApiError>,
    ) -> Result<Arc<Value>, ApiError> {
        let namespace = if rt.namespaced { namespace } else { "" };
        let mut dry = None;
        let result = self.store.update(&rt.key(), namespace, name, |current| {
            let current =
                current.ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
            let incoming = incoming(current)?;
            let mut next = merge_target(rt, current, incoming, target);
            keep_system_metadata(current, &mut next);
            self.admission
                .prepare_update(rt, current, &mut next, target)?;
            if spec_changed(current, &next) {
                let generation = current.i64_at("/metadata/generation").unwrap_or(1) + 1;
                next.meta_mut()
                    .insert("generation".into(), json!(generation));
            }
            if next == **current {
                return Ok(Change::Keep);
            }
            if dry_run {
                dry = Some(next);
                return Ok(Change::Keep);
            }
            if next.is_deleting() && next.finalizers().is_empty() && finalizes_on_update(rt) {
                return Ok(Change::Remove);
            }
            Ok(Change::Replace(next))
        })?;
        if let Some(dry) = dry {
            return Ok(Arc::new(dry));
        }
        result.ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
    }

    /// Deletes an object: at once, or by marking it (finalizers, foreground deletion, pods
    /// that must stop, namespaces that must empty). Returns the HTTP code (200 or 202) and the
    /// object.
    pub fn delete(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<(u16, Arc<Value>), ApiError> {
        let namespace = if rt.namespaced { namespace } else { "" };
        if rt.kind == "Namespace" && ["default", "kube-system", "kube-public"].contains(&name) {
            return Err(ApiError::forbidden(format!(
                "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
            )));
        }
        let current = self.get(rt, namespace, name)?;
        if options.propagation.as_deref() == Some("Orphan") && !options.dry_run {
            self.orphan_dependents(current.uid());
        }
        let mut code = 200;
        let result = self.store.update(&rt.key(), namespace, name, |current| {
            let current =
                current.ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
            if let Some(uid) = &options.uid
                && uid != current.uid()
            {
                return Err(ApiError::conflict(
                    &rt.group,
                    &rt.plural,
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        current.uid()
                    ),
                ));
            }
            if let Some(rv) = &options.resource_version
                && rv.parse::<u64>().ok() != Some(current.resource_version())
            {
                return Err(ApiError::conflict(
                    &rt.group,
                    &rt.plural,
                    name,
                    "Precondition failed: the resource version does not match",
                ));
            }
            if options.dry_run {
                return Ok(Change::Keep);
            }
            let is_pod = rt.group.is_empty() && rt.plural == "pods";
            // As the API server does: pods that finished (or never got a node) go at once.
            let finished = matches!(
                current.str_at("/status/phase"),
                Some("Succeeded" | "Failed")
            );
            let unscheduled = current.str_at("/spec/nodeName").is_none_or(str::is_empty);
            let force = options.grace_period == Some(0) || (is_pod && (finished || unscheduled));
            if current.is_deleting() {
                if is_pod && force {
                    return Ok(Change::Remove);
                }
                return Ok(Change::Keep);
            }
            let foreground = options.propagation.as_deref() == Some("Foreground");
            let graceful_pod = is_pod && !force;
            let is_namespace = rt.group.is_empty() && rt.plural == "namespaces";
            if !graceful_pod && !is_namespace && !foreground && current.finalizers().is_empty() {
                return Ok(Change::Remove);
            }
            let mut next = (**current).clone();
            let grace = if is_pod {
                options.grace_period.unwrap_or_else(|| {
                    current
                        .i64_at("/spec/terminationGracePeriodSeconds")
                        .unwrap_or(30)
                })
            } else {
                0
            };
            let meta = next.meta_mut();
            let deadline = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(grace);
            meta.insert(
                "deletionTimestamp".into(),
                Value::String(crate::object::format_time(deadline)),
            );
            meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
            if foreground {
                let finalizers = meta
                    .entry("finalizers")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(list) = finalizers
                    && !list.iter().any(|f| f == "foregroundDeletion")
                {
                    list.push(Value::String("foregroundDeletion".into()));
                }
            }
            if is_namespace {
                child_map(next.map_mut(), "status")
                    .insert("phase".into(), Value::String("Terminating".into()));
            }
            if !is_pod && !is_namespace {
                code = 202;
            }
            Ok(Change::Replace(next))
        })?;
        Ok((code, result.unwrap_or(current)))
    }

    /// Removes an object now, if it still has `uid` (used when a pod has stopped or a
    /// namespace has emptied).
    pub fn remove(&self, rt: &ResourceType, namespace: &str, name: &str, uid: &str) {
        let _ = self
            .store
            .update::<()>(&rt.key(), namespace, name, |current| {
                Ok(match current {
                    Some(c) if c.uid() == uid => Change::Remove,
                    _ => Change::Keep,
                })
            });
    }

    fn orphan_dependents(&self, owner_uid: &str) {
        for key in self.store.keys() {
            let Some(rt) = self.catalog.get(&key) else {
                continue;
            };
            let (objects, _) = self.store.list(&key, None);
            for object in objects {
                if object
                    .owner_references()
                    .iter()
                    .any(|r| r.get("uid").and_then(Value::as_str) == Some(owner_uid))
                {
                    let _ =
                        self.modify(&rt, object.namespace(), object.name(), Target::Main, |o| {
                            if let Some(Value::Array(refs)) =
                                o.meta_mut().get_mut("ownerReferences")
                            {
                                refs.retain(|r| {
                                    r.get("uid").and_then(Value::as_str) != Some(owner_uid)
                                });
                            }
                        });
                }
            }
        }
    }
}

/// Fails with 409 when the client sent a resource version (not 0) that is not the current one.
fn check_version(
    rt: &ResourceType,
    name: &str,
    expected: u64,
    current: &Value,
) -> Result<(), ApiError> {
    if expected != 0 && expected != current.resource_version() {
        return Err(ApiError::conflict(
            &rt.group,
            &rt.plural,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    Ok(())
}

/// Whether clearing the last finalizer of a deleting object removes it. Pods are removed by
/// the kubelet once stopped, namespaces by the namespace controller once empty.
fn finalizes_on_update(rt: &ResourceType) -> bool {
    !(rt.group.is_empty() && (rt.plural == "pods" || rt.plural == "namespaces"))
}

/// Checks that the body is an object and sets its `apiVersion` (keeping a served version the
/// client chose) and `kind`.
fn set_type(rt: &ResourceType, object: &mut Value) -> Result<(), ApiError> {
    if !object.is_object() {
        return Err(ApiError::bad_request(
            "the request body is not a JSON object",
        ));
    }
    let map = object.map_mut();
    let api_version = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .filter(|v| {
            let (group, version) = crate::catalog::split_api_version(v);
            group == rt.group && rt.serves(version)
        })
        .map_or_else(|| rt.preferred_api_version(), str::to_owned);
    map.insert("apiVersion".into(), Value::String(api_version));
    map.insert("kind".into(), Value::String(rt.kind.clone()));
    Ok(())
}

/// A name from `generateName`: the prefix (at most 58 bytes of it, so that the name fits in 63)
/// and five random characters, as the API server generates them.
fn generate_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    const MAX_PREFIX: usize = 63 - 5;
    let mut end = prefix.len().min(MAX_PREFIX);
    while !prefix.is_char_boundary(end) {
        end -= 1;
    }
    let prefix = &prefix[..end];
    let suffix: String = (0..5)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{suffix}")
}

fn merge_target(rt: &ResourceType, current: &Value, incoming: Value, target: Target) -> Value {
    match target {
        Target::Status => {
            let mut next = current.clone();
            let status = incoming.get("status").cloned().unwrap_or(Value::Null);
            if status.is_null() {
                next.map_mut().remove("status");
            } else {
                next.map_mut().insert("status".into(), status);
            }
            next
        }
        Target::Main => {
            let mut next = incoming;
            if rt.subresources.status {
                match current.get("status") {
                    Some(status) => {
                        next.map_mut().insert("status".into(), status.clone());
                    }
                    None => {
                        next.map_mut().remove("status");
                    }
                }
            }
            next
        }
    }
}

fn keep_system_metadata(current: &Value, next: &mut Value) {
    let current_meta = current
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let meta = next.meta_mut();
    for field in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "resourceVersion",
    ] {
        match current_meta.get(field) {
            Some(value) => {
                meta.insert(field.into(), value.clone());
            }
            None => {
                meta.remove(field);
            }
        }
    }
    for field in ["apiVersion", "kind"] {
        if let Some(value) = current.get(field) {
            next.map_mut().insert(field.into(), value.clone());
        }
    }
}

fn spec_changed(current: &Value, next: &Value) -> bool {
    let strip = |object: &Value| -> Map<String, Value> {
        object
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| {
                        !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind")
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    strip(current) != strip(next)
}
