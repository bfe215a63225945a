//! The Bundle record: what a bundle push made — the bundle's digest and reference, its tags,
//! its lock and every chart pushed with it.

use serde::{Deserialize, Serialize};

/// A chart pushed on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushedChart {
    /// The component it belongs to.
    pub component: String,
    /// Where it is: `host/path/charts/name:tag` or `oci:DIR:tag`.
    pub reference: String,
    /// Its manifest digest.
    pub digest: String,
}

/// What a bundle push did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleOutcome {
    /// The bundle manifest digest.
    pub digest: String,
    /// Pullable by digest: `host/path/product@sha256:…` or `oci:DIR@sha256:…`.
    pub reference: String,
    /// The repository it is in.
    pub repository: String,
    /// The tags pointing at it.
    pub tags: Vec<String>,
    /// The lock it carries.
    pub lock_id: String,
    /// Every chart, also pushed on its own.
    pub charts: Vec<PushedChart>,
    /// Blob bytes actually uploaded (0 when everything was already there).
    pub uploaded_bytes: u64,
}
