//! What the API server does to an object before storing it: defaulting (as the real API
//! server's defaulting functions do for the fields clients read back), validation (see
//! [`validation`]), allocations (Service IPs, node ports) and scheduling a Pod onto the node.

mod core;
mod pod_spec;
mod service;
pub mod validation;
mod workloads;

use serde_json::{Value, json};

use crate::catalog::ResourceType;
use crate::errors::ApiError;
use crate::object::ObjectExt;
use crate::storage::Target;
use crate::version::KubernetesVersion;

pub use service::ServiceIps;

/// Cluster-level state that admission needs.
#[derive(Debug)]
pub struct Admission {
    /// The one node's name; every pod is scheduled onto it.
    pub node_name: String,
    /// The Service IP and node port allocator.
    pub service_ips: ServiceIps,
    /// The Kubernetes version the cluster answers as.
    pub version: KubernetesVersion,
}

impl Admission {
    /// Defaults and validates a new object (its name, uid and creation time set), then
    /// allocates what it needs: nothing is allocated for an object that is refused.
    pub fn prepare_create(&self, rt: &ResourceType, object: &mut Value) -> Result<(), ApiError> {
        let kind = (rt.group.as_str(), rt.kind.as_str());
        if !rt.custom {
            match kind {
                ("", "Pod") => core::default_pod(object),
                ("", "Service") => service::default_service(object),
                ("", "Secret") => core::default_secret(object)?,
                ("", "Namespace") => core::default_namespace(object, true),
                ("apps" | "batch", _) => {
                    workloads::default_workload(self.version, &rt.kind, object, None);
                }
                _ => {}
            }
        }
        validation::validate_create(self.version, rt, object)?;
        if !rt.custom {
            match kind {
                ("", "Pod") => core::schedule_pod(&self.node_name, object),
                ("", "Service") => self.service_ips.allocate(object)?,
                ("", "PersistentVolumeClaim") => core::bind_claim(object),
                ("networking.k8s.io", "Ingress") => {
                    object
                        .map_mut()
                        .entry("status")
                        .or_insert_with(|| json!({"loadBalancer": {}}));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Defaults an updated object and keeps what clients may not change or may leave out
    /// (allocated IPs, generated selectors, the pod's node); then validates it, unless only its
    /// status is written.
    pub fn prepare_update(
        &self,
        rt: &ResourceType,
        old: &Value,
        new: &mut Value,
        target: Target,
    ) -> Result<(), ApiError> {
        if !rt.custom {
            match (rt.group.as_str(), rt.kind.as_str()) {
                ("", "Pod") => core::keep_pod_binding(old, new),
                ("", "Service") => self.service_ips.keep_allocations(old, new),
                ("", "Secret") => core::default_secret(new)?,
                ("", "Namespace") => {
                    core::default_namespace(new, false);
                    core::keep_namespace_phase(old, new);
                }
                ("apps" | "batch", _) => {
                    workloads::default_workload(self.version, &rt.kind, new, Some(old));
                }
                _ => {}
            }
        }
        if target == Target::Main {
            validation::validate_update(self.version, rt, old, new)?;
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
