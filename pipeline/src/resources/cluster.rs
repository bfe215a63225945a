//! The Cluster record: a test cluster Chorale made, with everything its teardown needs, and
//! where it is in its life.

use chorale_runners::cluster::Cluster;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::API_VERSION;
use super::meta::{BUILD_LABEL, ObjectMeta, list_resource};

/// Where a recorded cluster is in its life; its name (`torn-down`, …) is what the database
/// and the output show.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case", parse_err_fn = unknown_cluster_state, parse_err_ty = String)]
pub enum ClusterState {
    /// Provisioned and not yet torn down.
    Active,
    /// Torn down.
    TornDown,
    /// A teardown failed; the reaper tries again.
    TeardownFailed,
}

fn unknown_cluster_state(text: &str) -> String {
    format!("unknown cluster state `{text}`")
}

impl ClusterState {
    /// The name used in the database and the output.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A cluster and what Chorale knows of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRecord {
    /// The cluster, with everything its teardown needs.
    pub cluster: Cluster,
    /// The build it was made for.
    pub build_id: Option<String>,
    /// Where it is in its life.
    pub state: ClusterState,
    /// When it was torn down.
    pub torn_down_at: Option<Timestamp>,
    /// The last teardown error.
    pub last_error: Option<String>,
}

impl ClusterRecord {
    /// A cluster just made for the build `build_id`.
    pub fn active(cluster: Cluster, build_id: &str) -> Self {
        Self {
            cluster,
            build_id: Some(build_id.to_owned()),
            state: ClusterState::Active,
            torn_down_at: None,
            last_error: None,
        }
    }
}

/// What a cluster was made as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    /// The provider that made it: `sim`, `kind`, `k3d`, `existing`, `command`.
    pub provider: String,
    /// The namespace builds deploy into, when the provider hands one out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// When a reaper may delete it.
    pub expires_at: Timestamp,
}

/// Where a cluster is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// `active`, `torn-down` or `teardown-failed`.
    pub state: ClusterState,
    /// When it was torn down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub torn_down_at: Option<Timestamp>,
    /// The last teardown error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// A test cluster as a resource: its name, its build as label. What it takes to reach or
/// delete it (kubeconfig, process, commands) stays on the host that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterDocument {
    /// `chorale.dev/v1alpha1`.
    pub api_version: String,
    /// `Cluster`.
    pub kind: String,
    /// Its name, its build as label, when it was provisioned.
    pub metadata: ObjectMeta,
    /// Provider, namespace, expiry.
    pub spec: ClusterSpec,
    /// State and teardown.
    pub status: ClusterStatus,
}

impl From<ClusterRecord> for ClusterDocument {
    fn from(record: ClusterRecord) -> Self {
        let cluster = record.cluster;
        Self {
            api_version: API_VERSION.to_owned(),
            kind: "Cluster".to_owned(),
            metadata: ObjectMeta {
                name: cluster.name,
                generation: None,
                creation_timestamp: Some(cluster.created_at),
                labels: (record.build_id.into_iter())
                    .map(|build| (BUILD_LABEL.to_owned(), build))
                    .collect(),
            },
            spec: ClusterSpec {
                provider: cluster.provider.as_str().to_owned(),
                namespace: cluster.namespace,
                expires_at: cluster.expires_at,
            },
            status: ClusterStatus {
                state: record.state,
                torn_down_at: record.torn_down_at,
                last_error: record.last_error,
            },
        }
    }
}

list_resource!(
    /// Test clusters, newest first.
    ClusterList of ClusterDocument
);
