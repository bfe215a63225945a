//! The Product as the service keeps it: the manifest a user registered, with its generation.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A registered product: its manifest as it was sent (YAML or JSON, component documents
/// included), numbered by generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductRecord {
    /// `metadata.name`.
    pub name: String,
    /// 1 when registered, one more at every change.
    pub generation: i64,
    /// The body that registered it.
    pub manifest: String,
    /// When it was first registered.
    pub created_at: Timestamp,
    /// When this generation was registered.
    pub updated_at: Timestamp,
    /// Who registered this generation.
    pub updated_by: String,
}
