//! The Bundle record: what a bundle push made — the bundle's digest and reference, its tags,
//! its lock and every chart pushed with it.

use serde::{Deserialize, Serialize};

use super::API_VERSION;
use super::meta::ObjectMeta;

/// A chart pushed on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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

/// Where a bundle was pushed and what it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundleSpec {
    /// The repository it is in: `host[:port]/path` or `oci:DIR`.
    pub repository: String,
    /// The lock it carries.
    pub lock_id: String,
}

/// What a push of the bundle made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundleStatus {
    /// Pullable by digest.
    pub reference: String,
    /// The tags pointing at it.
    pub tags: Vec<String>,
    /// Every chart, also pushed on its own.
    pub charts: Vec<PushedChart>,
    /// Blob bytes actually uploaded by the push that made this record (0 when the destination
    /// already had everything).
    pub uploaded_bytes: u64,
}

/// A bundle as a resource: its manifest digest as name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundleDocument {
    /// `chorale.dev/v1alpha1`.
    pub api_version: String,
    /// `Bundle`.
    pub kind: String,
    /// The manifest digest as name.
    pub metadata: ObjectMeta,
    /// Repository and lock.
    pub spec: BundleSpec,
    /// Reference, tags and charts.
    pub status: BundleStatus,
}

impl From<BundleOutcome> for BundleDocument {
    fn from(bundle: BundleOutcome) -> Self {
        Self {
            api_version: API_VERSION.to_owned(),
            kind: "Bundle".to_owned(),
            metadata: ObjectMeta {
                name: bundle.digest,
                generation: None,
                creation_timestamp: None,
                labels: std::collections::BTreeMap::new(),
            },
            spec: BundleSpec {
                repository: bundle.repository,
                lock_id: bundle.lock_id,
            },
            status: BundleStatus {
                reference: bundle.reference,
                tags: bundle.tags,
                charts: bundle.charts,
                uploaded_bytes: bundle.uploaded_bytes,
            },
        }
    }
}

impl From<BundleDocument> for BundleOutcome {
    fn from(document: BundleDocument) -> Self {
        Self {
            digest: document.metadata.name,
            reference: document.status.reference,
            repository: document.spec.repository,
            tags: document.status.tags,
            lock_id: document.spec.lock_id,
            charts: document.status.charts,
            uploaded_bytes: document.status.uploaded_bytes,
        }
    }
}
