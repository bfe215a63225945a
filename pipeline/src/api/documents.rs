//! The resources as the API serves them, in the house style: `apiVersion`, `kind`,
//! `metadata`, `spec` (what was asked for) and `status` (what Chorale made of it); lists with
//! `items` and an opaque `metadata.continue` for the next page.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use crate::ops::products::documents;
use crate::resources::API_VERSION;
use crate::resources::access::{AuditEvent, Token};
use crate::resources::build::Build;
use crate::resources::occurrence::Occurrence;
use crate::resources::product::ProductRecord;

/// The label every build carries with its product's name.
pub const PRODUCT_LABEL: &str = "chorale.dev/product";

/// What every resource says of itself.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// The resource's name (a build's id).
    pub name: String,
    /// For products: 1 when registered, one more at every change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// When it was made.
    pub creation_timestamp: Timestamp,
    /// Labels, e.g. `chorale.dev/product`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A list's metadata.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ListMeta {
    /// Pass as `continue` to get the next page; absent on the last page.
    #[serde(rename = "continue", skip_serializing_if = "Option::is_none")]
    pub continue_: Option<String>,
}

/// A registered product.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductDocument {
    /// `chorale.dev/v1alpha1`.
    pub api_version: &'static str,
    /// `Product`.
    pub kind: &'static str,
    /// Name, generation, creation time.
    pub metadata: ObjectMeta,
    /// The product manifest's `spec`, as registered.
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
    /// Who registered this generation, and when.
    pub status: ProductStatus,
}

/// What Chorale knows of a registered product.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
            api_version: API_VERSION,
            kind: "Product",
            metadata: ObjectMeta {
                name: record.name.clone(),
                generation: Some(record.generation),
                creation_timestamp: record.created_at,
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

/// Registered products.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductList {
    /// `chorale.dev/v1alpha1`.
    pub api_version: &'static str,
    /// `ProductList`.
    pub kind: &'static str,
    /// No paging: products are few.
    pub metadata: ListMeta,
    /// By name.
    pub items: Vec<ProductDocument>,
}

/// What a build was asked to do.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildSpec {
    /// The product built.
    pub product: String,
    /// Who started it: `cli`, `schedule`, `api`.
    pub trigger: String,
}

/// A build.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildDocument {
    /// `chorale.dev/v1alpha1`.
    pub api_version: &'static str,
    /// `Build`.
    pub kind: &'static str,
    /// The build id as name, its product as label.
    pub metadata: ObjectMeta,
    /// Product and trigger.
    pub spec: BuildSpec,
    /// The build as recorded: status, stages, components, tests, lock, bundle.
    pub status: Build,
}

impl BuildDocument {
    /// The document of `build`.
    pub fn of(build: Build) -> Self {
        Self {
            api_version: API_VERSION,
            kind: "Build",
            metadata: ObjectMeta {
                name: build.id.clone(),
                generation: None,
                creation_timestamp: build.created_at,
                labels: BTreeMap::from([(PRODUCT_LABEL.to_owned(), build.product.clone())]),
            },
            spec: BuildSpec {
                product: build.product.clone(),
                trigger: build.trigger.clone(),
            },
            status: build,
        }
    }
}

/// A page of builds, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildList {
    /// `chorale.dev/v1alpha1`.
    pub api_version: &'static str,
    /// `BuildList`.
    pub kind: &'static str,
    /// Where the next page starts.
    pub metadata: ListMeta,
    /// The builds of this page, without their stages, components and tests.
    pub items: Vec<BuildDocument>,
}

/// Tokens, never their secrets.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenList {
    /// `chorale.dev/v1alpha1`.
    pub api_version: &'static str,
    /// `TokenList`.
    pub kind: &'static str,
    /// No paging: tokens are few.
    pub metadata: ListMeta,
    /// Newest first.
    pub items: Vec<Token>,
}

/// A token just made: the only answer that holds its secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedTokenDocument {
    /// The token as it is listed.
    pub token: Token,
    /// The bearer secret; it is not stored and cannot be shown again.
    pub secret: String,
}

/// A page of the audit log, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventList {
    /// `chorale.dev/v1alpha1`.
    pub api_version: &'static str,
    /// `AuditEventList`.
    pub kind: &'static str,
    /// Where the next page starts.
    pub metadata: ListMeta,
    /// Newest first.
    pub items: Vec<AuditEvent>,
}
