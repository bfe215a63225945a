//! The Cluster record: a test cluster Chorale made, with everything its teardown needs, and
//! where it is in its life.

use chorale_runners::cluster::Cluster;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

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
