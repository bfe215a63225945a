//! The documents only the API serves: registered products (in the house style of
//! [`crate::resources::meta`]) and the answer that carries a new token's secret. Every other
//! resource's document is in [`crate::resources`], shared with the CLI's `-o json`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ops::products::documents;
use crate::resources::API_VERSION;
use crate::resources::meta::{ObjectMeta, list_resource};
use crate::resources::occurrence::Occurrence;
use crate::resources::product::ProductRecord;

/// A registered product.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductDocument {
    /// `chorale.dev/v1alpha1`.
    pub api_version: String,
    /// `Product`.
    pub kind: String,
    /// Name, generation, creation time.
    pub metadata: ObjectMeta,
    /// The product manifest's `spec`, as registered.
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
    /// Who registered this generation, and when.
    pub status: ProductStatus,
}

/// What Chorale knows of a registered product.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductStatus {
    /// When this generation was registered.
    pub updated_at: Timestamp,
    /// Who registered it.
    pub updated_by: String,
    /// When it has a `spec.schedule` (on `GET /api/v1/products/{name}`): the next fire times
    /// and what became of the last ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleStatus>,
}

/// Where a product's schedule stands.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleStatus {
    /// The next fire times (the database's clock), soonest first.
    pub next_fire_times: Vec<Timestamp>,
    /// The last fire times, newest first: started (with the build), missed or skipped (with
    /// why).
    pub last_occurrences: Vec<Occurrence>,
}

impl ProductDocument {
    /// The document of `record`; its manifest's first document gives the spec.
    pub fn of(record: &ProductRecord) -> Self {
        let spec = documents(&record.manifest)
            .first()
            .and_then(|product| serde_saphyr::from_str::<serde_json::Value>(product.text).ok())
            .and_then(|manifest| manifest.get("spec").cloned())
            .unwrap_or_default();
        Self {
            api_version: API_VERSION.to_owned(),
            kind: "Product".to_owned(),
            metadata: ObjectMeta {
                name: record.name.clone(),
                generation: Some(record.generation),
                creation_timestamp: Some(record.created_at),
                labels: BTreeMap::new(),
            },
            spec,
            status: ProductStatus {
                updated_at: record.updated_at,
                updated_by: record.updated_by.clone(),
                schedule: None,
            },
        }
    }
}

list_resource!(
    /// Registered products, by name (no paging: products are few).
    ProductList of ProductDocument
);
