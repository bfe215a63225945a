//! What differs between kinds in how the v1.25 API server validates their metadata: the group
//! it names in errors, the rule for names, how often an update checks the metadata again, and
//! which spec rules apply.
//!
//! The update counts were measured on v1.25.9 (an update with one bad label, counting the
//! causes) for every kind a test may create; the few cluster-scoped kinds that could not be
//! updated there (marked "source") follow the v1.25 source.

use serde_json::Value;

use super::names;
use crate::catalog::ResourceType;

/// How a kind's names are checked (its `ValidateNameFunc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// A DNS-1123 subdomain (most kinds, custom resources).
    Subdomain,
    /// A DNS-1123 label (Namespaces).
    Label,
    /// A DNS-1035 label (Services).
    Dns1035,
    /// Only a path segment: no `/` or `%` (RBAC, and kinds whose strategy does not check
    /// names: core Events, PodDisruptionBudgets).
    PathSegment,
    /// A subdomain that must be `spec.names.plural + "." + spec.group`.
    CustomResourceDefinition,
    /// Exactly `spec.version + "." + spec.group`.
    ApiService,
}

impl NameRule {
    /// The messages for `name` of `object`; `prefix` for a `generateName`.
    pub fn check(self, object: &Value, name: &str, prefix: bool) -> Vec<String> {
        let masked;
        let checked = if prefix && self != Self::PathSegment {
            masked = names::mask_trailing_dash(name);
            masked.as_str()
        } else {
            name
        };
        let spec = |field: &str| object.pointer(field).and_then(Value::as_str).unwrap_or("");
        match self {
            Self::Subdomain => names::dns1123_subdomain(checked),
            Self::Label => names::dns1123_label(checked),
            Self::Dns1035 => names::dns1035_label(checked),
            Self::PathSegment => names::path_segment(name, prefix),
            Self::CustomResourceDefinition => {
                let mut errors = names::dns1123_subdomain(checked);
                let expected = format!("{}.{}", spec("/spec/names/plural"), spec("/spec/group"));
                if name != expected {
                    errors.push(r#"must be spec.names.plural+"."+spec.group"#.to_owned());
                }
                errors
            }
            Self::ApiService => {
                let expected = format!("{}.{}", spec("/spec/version"), spec("/spec/group"));
                if name == expected {
                    Vec::new()
                } else {
                    vec![format!(
                        "must be `spec.version+\".\"+spec.group`: {}",
                        super::go::quote(&expected)
                    )]
                }
            }
        }
    }
}

/// The kinds whose specs kube-sim validates beyond metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spec {
    /// Metadata only; an update checks labels and annotations `update_checks` times after the
    /// two checks every update gets.
    MetadataOnly {
        /// How many times the kind's own update validation checks them.
        update_checks: usize,
    },
    /// `Pod`.
    Pod,
    /// `PodTemplate`.
    PodTemplate,
    /// `Deployment`.
    Deployment,
    /// `ReplicaSet`.
    ReplicaSet,
    /// `StatefulSet`.
    StatefulSet,
    /// `DaemonSet`.
    DaemonSet,
    /// `Job`.
    Job,
    /// `CronJob`.
    CronJob,
}

/// How a kind is validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules<'a> {
    /// The group the API server names in `Invalid` answers: that of its internal type, so
    /// `extensions` for Ingresses and NetworkPolicies and the core group for
    /// `events.k8s.io` Events; the type's own group otherwise.
    pub error_group: &'a str,
    /// The rule for `metadata.name` and `metadata.generateName`.
    pub name: NameRule,
    /// The spec rules.
    pub spec: Spec,
}

/// The rules of a type. Custom resources: a subdomain name, metadata checked once more on
/// update.
pub fn of(rt: &ResourceType) -> Rules<'_> {
    use NameRule::{ApiService, CustomResourceDefinition, Dns1035, Label, PathSegment, Subdomain};
    let own = rt.group.as_str();
    let rules = |error_group, name, spec| Rules {
        error_group,
        name,
        spec,
    };
    let meta = |update_checks| Spec::MetadataOnly { update_checks };
    if rt.custom {
        return rules(own, Subdomain, meta(1));
    }
    match (own, rt.kind.as_str()) {
        ("", "Service") => rules(own, Dns1035, meta(2)),
        ("", "Namespace") => rules(own, Label, meta(2)),
        // The strategies of core Events and PodDisruptionBudgets check no names.
        ("", "Event") | ("policy", "PodDisruptionBudget") => rules(own, PathSegment, meta(0)),
        ("", "Pod") => rules(own, Subdomain, Spec::Pod),
        ("", "PodTemplate") => rules(own, Subdomain, Spec::PodTemplate),
        ("", "PersistentVolumeClaim") => rules(own, Subdomain, meta(3)),
        ("apps", "Deployment") => rules(own, Subdomain, Spec::Deployment),
        ("apps", "ReplicaSet") => rules(own, Subdomain, Spec::ReplicaSet),
        ("apps", "StatefulSet") => rules(own, Subdomain, Spec::StatefulSet),
        ("apps", "DaemonSet") => rules(own, Subdomain, Spec::DaemonSet),
        ("batch", "Job") => rules(own, Subdomain, Spec::Job),
        ("batch", "CronJob") => rules(own, Subdomain, Spec::CronJob),
        ("networking.k8s.io", "Ingress" | "NetworkPolicy") => {
            rules("extensions", Subdomain, meta(2))
        }
        ("events.k8s.io", "Event") => rules("", Subdomain, meta(1)),
        ("rbac.authorization.k8s.io", _) => rules(own, PathSegment, meta(3)),
        // Source.
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            rules(own, CustomResourceDefinition, meta(1))
        }
        ("apiregistration.k8s.io", "APIService") => rules(own, ApiService, meta(2)),
        // Webhook configurations: source.
        ("", "LimitRange" | "ResourceQuota")
        | (
            "admissionregistration.k8s.io"
            | "autoscaling"
            | "coordination.k8s.io"
            | "discovery.k8s.io"
            | "scheduling.k8s.io",
            _,
        ) => rules(own, Subdomain, meta(1)),
        // The other core kinds, and StorageClass, CSIDriver, VolumeAttachment, IngressClass and
        // RuntimeClass (source) and CSINode.
        _ => rules(own, Subdomain, meta(2)),
    }
}
