//! What the API server does to an object before storing it: defaulting (as the real API
//! server's defaulting functions do for the fields clients read back), allocations (Service
//! IPs, node ports), scheduling a Pod onto the node, and a few validations.

mod core;
mod pod_spec;
mod service;
mod workloads;

use serde_json::{Value, json};

use crate::catalog::ResourceType;
use crate::errors::ApiError;
use crate::object::ObjectExt;

pub use service::ServiceIps;

/// Cluster-level state that admission needs.
#[derive(Debug)]
pub struct Admission {
    /// The one node's name; every pod is scheduled onto it.
    pub node_name: String,
    /// The Service IP and node port allocator.
    pub service_ips: ServiceIps,
}

impl Admission {
    /// Defaults, allocates and validates a new object.
    pub fn prepare_create(&self, rt: &ResourceType, object: &mut Value) -> Result<(), ApiError> {
        if rt.custom {
            return Ok(());
        }
        match (rt.group.as_str(), rt.kind.as_str()) {
            ("", "Pod") => core::prepare_pod(&self.node_name, object)?,
            ("", "Service") => self.service_ips.prepare_create(object)?,
            ("", "Secret") => core::default_secret(object)?,
            ("", "Namespace") => core::default_namespace(object, true),
            ("", "PersistentVolumeClaim") => core::bind_claim(object),
            ("networking.k8s.io", "Ingress") => {
                object
                    .map_mut()
                    .entry("status")
                    .or_insert_with(|| json!({"loadBalancer": {}}));
            }
            ("apps" | "batch", _) => workloads::default_workload(&rt.kind, object, None)?,
            _ => {}
        }
        Ok(())
    }

    /// Defaults an updated object and keeps what clients may not change or may leave out
    /// (allocated IPs, generated selectors, the pod's node).
    pub fn prepare_update(
        &self,
        rt: &ResourceType,
        old: &Value,
        new: &mut Value,
    ) -> Result<(), ApiError> {
        if rt.custom {
            return Ok(());
        }
        match (rt.group.as_str(), rt.kind.as_str()) {
            ("", "Pod") => core::keep_pod_binding(old, new),
            ("", "Service") => self.service_ips.prepare_update(old, new)?,
            ("", "Secret") => core::default_secret(new)?,
            ("", "Namespace") => {
                core::default_namespace(new, false);
                core::keep_namespace_phase(old, new);
            }
            ("apps" | "batch", _) => workloads::default_workload(&rt.kind, new, Some(old))?,
            _ => {}
        }
        Ok(())
    }
}

/// Answers a review request (access reviews, token reviews): everything is allowed, every
/// token is the administrator.
pub fn review(mut object: Value) -> Value {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let status = match kind.as_str() {
        "SelfSubjectRulesReview" => json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }),
        "TokenReview" => {
            json!({"authenticated": true, "user": {"username": "kube-sim:admin", "groups": ["system:masters", "system:authenticated"]}})
        }
        "SelfSubjectReview" => {
            json!({"userInfo": {"username": "kube-sim:admin", "groups": ["system:masters", "system:authenticated"]}})
        }
        _ => json!({"allowed": true, "reason": "kube-sim allows everything"}),
    };
    object.map_mut().insert("status".into(), status);
    object
}

/// Checks a name as the API server does: a DNS-1123 subdomain, or a DNS-1123 label for the
/// types whose names become host or DNS names.
pub fn validate_name(rt: &ResourceType, name: &str) -> Result<(), ApiError> {
    let label_only = rt.group.is_empty() && matches!(rt.plural.as_str(), "namespaces" | "services");
    let max = if label_only { 63 } else { 253 };
    let valid_chars = name.chars().all(|c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (c == '.' && !label_only)
    });
    let valid_ends = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if rt.custom && !name.is_empty() && name.len() <= 253 {
        return Ok(());
    }
    if name.len() > max || !valid_chars || !valid_ends {
        let rule = if label_only {
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
        } else {
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
        };
        return Err(ApiError::invalid(
            &rt.kind,
            name,
            format!("metadata.name: Invalid value: {name:?}: {rule}"),
        ));
    }
    Ok(())
}
