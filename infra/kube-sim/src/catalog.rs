//! The resource types the API serves: the built-in ones and those registered by CRDs.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use crate::version::KubernetesVersion;

/// Identifies a resource type independent of its version: API group and plural name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceKey {
    /// The API group, empty for the core group.
    pub group: String,
    /// The plural resource name (`deployments`).
    pub plural: String,
}

impl ResourceKey {
    /// The key of a group and plural name.
    pub fn new(group: &str, plural: &str) -> Self {
        Self {
            group: group.to_owned(),
            plural: plural.to_owned(),
        }
    }
}

/// What a resource type supports beyond plain CRUD.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Subresources {
    /// `/status` is a separate subresource; writes to the main resource keep the status.
    pub status: bool,
    /// `/scale` reads and writes `spec.replicas`.
    pub scale: bool,
    /// `/log` (pods only).
    pub log: bool,
}

/// One resource type.
#[derive(Debug, Clone)]
pub struct ResourceType {
    /// The API group, empty for the core group.
    pub group: String,
    /// Served versions; the first is the preferred one.
    pub versions: Vec<String>,
    /// The kind (`Deployment`).
    pub kind: String,
    /// The plural name used in paths (`deployments`).
    pub plural: String,
    /// The singular name (`deployment`).
    pub singular: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names for kubectl (`deploy`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Subresources.
    pub subresources: Subresources,
    /// Only `create` is served (review resources such as `selfsubjectaccessreviews`).
    pub create_only: bool,
    /// Registered by a CustomResourceDefinition.
    pub custom: bool,
}

impl ResourceType {
    /// The version-independent key.
    pub fn key(&self) -> ResourceKey {
        ResourceKey::new(&self.group, &self.plural)
    }

    /// `apiVersion` for a version of this type.
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_owned()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// The preferred `apiVersion`.
    pub fn preferred_api_version(&self) -> String {
        self.api_version(&self.versions[0])
    }

    /// Whether `version` is served.
    pub fn serves(&self, version: &str) -> bool {
        self.versions.iter().any(|v| v == version)
    }

    /// The verbs of the main resource, as discovery lists them.
    pub fn verbs(&self) -> Vec<&'static str> {
        if self.create_only {
            vec!["create"]
        } else {
            vec![
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        }
    }
}

/// All resource types, built-in and custom. Cheap to read from many tasks.
#[derive(Debug)]
pub struct Catalog {
    types: RwLock<BTreeMap<ResourceKey, Arc<ResourceType>>>,
}

impl Default for Catalog {
    fn default() -> Self {
        Self::new()
    }
}

impl Catalog {
    /// A catalog of the built-in types of the default Kubernetes version.
    pub fn new() -> Self {
        Self::for_version(KubernetesVersion::DEFAULT)
    }

    /// A catalog of the built-in types a Kubernetes version serves.
    pub fn for_version(version: KubernetesVersion) -> Self {
        let types = builtin(version)
            .into_iter()
            .map(|t| (t.key(), Arc::new(t)))
            .collect();
        Self {
            types: RwLock::new(types),
        }
    }

    /// The type of a group and plural name.
    pub fn get(&self, key: &ResourceKey) -> Option<Arc<ResourceType>> {
        self.types
            .read()
            .expect("catalog lock poisoned")
            .get(key)
            .cloned()
    }

    /// The type serving `plural` in `group`/`version`.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.get(&ResourceKey::new(group, plural))
            .filter(|t| t.serves(version))
    }

    /// The type of an `apiVersion` and `kind`.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        let (group, version) = split_api_version(api_version);
        self.types
            .read()
            .expect("catalog lock poisoned")
            .values()
            .find(|t| t.group == group && t.kind == kind && t.serves(version))
            .cloned()
    }

    /// Every type, ordered by group and plural.
    pub fn all(&self) -> Vec<Arc<ResourceType>> {
        self.types
            .read()
            .expect("catalog lock poisoned")
            .values()
            .cloned()
            .collect()
    }

    /// Registers (or replaces) a custom type.
    pub fn register(&self, resource: ResourceType) {
        self.types
            .write()
            .expect("catalog lock poisoned")
            .insert(resource.key(), Arc::new(resource));
    }

    /// Removes a custom type; built-in types stay.
    pub fn unregister(&self, key: &ResourceKey) {
        let mut types = self.types.write().expect("catalog lock poisoned");
        if types.get(key).is_some_and(|t| t.custom) {
            types.remove(key);
        }
    }
}

/// Splits `apps/v1` into `("apps", "v1")` and `v1` into `("", "v1")`.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

struct Builtin {
    group: &'static str,
    versions: &'static [&'static str],
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all: bool,
    status: bool,
    scale: bool,
    create_only: bool,
    /// The first minor version serving the type.
    since: u32,
}

const fn ns(
    group: &'static str,
    versions: &'static [&'static str],
    kind: &'static str,
    plural: &'static str,
    short: &'static [&'static str],
) -> Builtin {
    Builtin {
        group,
        versions,
        kind,
        plural,
        namespaced: true,
        short,
        all: false,
        status: false,
        scale: false,
        create_only: false,
        since: 0,
    }
}

const fn cluster(
    group: &'static str,
    versions: &'static [&'static str],
    kind: &'static str,
    plural: &'static str,
    short: &'static [&'static str],
) -> Builtin {
    Builtin {
        namespaced: false,
        ..ns(group, versions, kind, plural, short)
    }
}

impl Builtin {
    const fn status(mut self) -> Self {
        self.status = true;
        self
    }
    const fn scale(mut self) -> Self {
        self.scale = true;
        self
    }
    const fn all(mut self) -> Self {
        self.all = true;
        self
    }
    /// Review resources: create-only, answered without storing.
    const fn create_only(mut self) -> Self {
        self.create_only = true;
        self
    }
    /// Served from Kubernetes 1.`minor` on.
    const fn since(mut self, minor: u32) -> Self {
        self.since = minor;
        self
    }
}

const V1: &[&str] = &["v1"];
const CORE: &str = "";
const APPS: &str = "apps";
const BATCH: &str = "batch";
const RBAC: &str = "rbac.authorization.k8s.io";
const NETWORKING: &str = "networking.k8s.io";
const STORAGE: &str = "storage.k8s.io";
const ADMISSION: &str = "admissionregistration.k8s.io";

fn builtin(version: KubernetesVersion) -> Vec<ResourceType> {
    let table = [
        ns(CORE, V1, "ConfigMap", "configmaps", &["cm"]),
        ns(CORE, V1, "Endpoints", "endpoints", &["ep"]),
        ns(CORE, V1, "Event", "events", &["ev"]),
        ns(CORE, V1, "LimitRange", "limitranges", &["limits"]),
        cluster(CORE, V1, "Namespace", "namespaces", &["ns"]).status(),
        cluster(CORE, V1, "Node", "nodes", &["no"]).status(),
        ns(
            CORE,
            V1,
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            &["pvc"],
        )
        .status(),
        cluster(CORE, V1, "PersistentVolume", "persistentvolumes", &["pv"]).status(),
        ns(CORE, V1, "Pod", "pods", &["po"]).status().all(),
        ns(CORE, V1, "PodTemplate", "podtemplates", &[]),
        ns(
            CORE,
            V1,
            "ReplicationController",
            "replicationcontrollers",
            &["rc"],
        )
        .status()
        .scale()
        .all(),
        ns(CORE, V1, "ResourceQuota", "resourcequotas", &["quota"]).status(),
        ns(CORE, V1, "Secret", "secrets", &[]),
        ns(CORE, V1, "ServiceAccount", "serviceaccounts", &["sa"]),
        ns(CORE, V1, "Service", "services", &["svc"]).status().all(),
        ns(APPS, V1, "ControllerRevision", "controllerrevisions", &[]),
        ns(APPS, V1, "DaemonSet", "daemonsets", &["ds"])
            .status()
            .all(),
        ns(APPS, V1, "Deployment", "deployments", &["deploy"])
            .status()
            .scale()
            .all(),
        ns(APPS, V1, "ReplicaSet", "replicasets", &["rs"])
            .status()
            .scale()
            .all(),
        ns(APPS, V1, "StatefulSet", "statefulsets", &["sts"])
            .status()
            .scale()
            .all(),
        ns(BATCH, V1, "CronJob", "cronjobs", &["cj"]).status().all(),
        ns(BATCH, V1, "Job", "jobs", &[]).status().all(),
        ns(
            "autoscaling",
            &["v2", "v1"],
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            &["hpa"],
        )
        .status()
        .all(),
        ns(
            "policy",
            V1,
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            &["pdb"],
        )
        .status(),
        ns(NETWORKING, V1, "Ingress", "ingresses", &["ing"]).status(),
        cluster(NETWORKING, V1, "IngressClass", "ingressclasses", &[]),
        ns(
            NETWORKING,
            V1,
            "NetworkPolicy",
            "networkpolicies",
            &["netpol"],
        ),
        cluster(RBAC, V1, "ClusterRoleBinding", "clusterrolebindings", &[]),
        cluster(RBAC, V1, "ClusterRole", "clusterroles", &[]),
        ns(RBAC, V1, "RoleBinding", "rolebindings", &[]),
        ns(RBAC, V1, "Role", "roles", &[]),
        cluster(STORAGE, V1, "StorageClass", "storageclasses", &["sc"]),
        cluster(STORAGE, V1, "CSIDriver", "csidrivers", &[]),
        cluster(STORAGE, V1, "CSINode", "csinodes", &[]),
        cluster(STORAGE, V1, "VolumeAttachment", "volumeattachments", &[]).status(),
        cluster(
            "apiextensions.k8s.io",
            V1,
            "CustomResourceDefinition",
            "customresourcedefinitions",
            &["crd", "crds"],
        )
        .status(),
        cluster(
            ADMISSION,
            V1,
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations",
            &[],
        ),
        cluster(
            ADMISSION,
            V1,
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            &[],
        ),
        cluster(
            "apiregistration.k8s.io",
            V1,
            "APIService",
            "apiservices",
            &[],
        )
        .status(),
        ns("coordination.k8s.io", V1, "Lease", "leases", &[]),
        ns(
            "discovery.k8s.io",
            V1,
            "EndpointSlice",
            "endpointslices",
            &[],
        ),
        ns("events.k8s.io", V1, "Event", "events", &["ev"]),
        cluster(
            "scheduling.k8s.io",
            V1,
            "PriorityClass",
            "priorityclasses",
            &["pc"],
        ),
        cluster("node.k8s.io", V1, "RuntimeClass", "runtimeclasses", &[]),
        cluster(
            "authorization.k8s.io",
            V1,
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
            &[],
        )
        .create_only(),
        cluster(
            "authorization.k8s.io",
            V1,
            "SelfSubjectRulesReview",
            "selfsubjectrulesreviews",
            &[],
        )
        .create_only(),
        cluster(
            "authorization.k8s.io",
            V1,
            "SubjectAccessReview",
            "subjectaccessreviews",
            &[],
        )
        .create_only(),
        ns(
            "authorization.k8s.io",
            V1,
            "LocalSubjectAccessReview",
            "localsubjectaccessreviews",
            &[],
        )
        .create_only(),
        cluster(
            "authentication.k8s.io",
            V1,
            "TokenReview",
            "tokenreviews",
            &[],
        )
        .create_only(),
        cluster(
            "authentication.k8s.io",
            V1,
            "SelfSubjectReview",
            "selfsubjectreviews",
            &[],
        )
        .create_only()
        .since(28),
    ];
    table
        .into_iter()
        .filter(|b| version.serves_since(b.since))
        .map(|b| ResourceType {
            group: b.group.to_owned(),
            versions: b.versions.iter().map(|v| (*v).to_owned()).collect(),
            kind: b.kind.to_owned(),
            plural: b.plural.to_owned(),
            singular: b.kind.to_lowercase(),
            namespaced: b.namespaced,
            short_names: b.short.iter().map(|s| (*s).to_owned()).collect(),
            categories: if b.all {
                vec!["all".to_owned()]
            } else {
                Vec::new()
            },
            subresources: Subresources {
                status: b.status,
                scale: b.scale,
                log: b.plural == "pods",
            },
            create_only: b.create_only,
            custom: false,
        })
        .collect()
}
