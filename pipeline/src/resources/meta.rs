//! The house style every resource is shown in, through the API and the CLI's `-o json` alike:
//! `apiVersion`, `kind`, `metadata`, `spec` (what was asked for) and `status` (what Chorale
//! made of it); lists with `items` and an opaque `metadata.continue` for the next page.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The label every build, lock and bundle carries with its product's name.
pub const PRODUCT_LABEL: &str = "chorale.dev/product";

/// The label a cluster or a delivery carries with the build it belongs to.
pub const BUILD_LABEL: &str = "chorale.dev/build";

/// What every resource says of itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMeta {
    /// The resource's name: a product's or cluster's name, a build's or delivery's id, a
    /// lock's id, a bundle's digest.
    pub name: String,
    /// For products: 1 when registered, one more at every change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// When it was made; a lock, which is pure content, has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<Timestamp>,
    /// Labels, e.g. `chorale.dev/product`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl ObjectMeta {
    /// The metadata of `name`, made at `created`, with one label.
    pub fn labelled(
        name: impl Into<String>,
        created: Option<Timestamp>,
        label: &str,
        value: &str,
    ) -> Self {
        Self {
            name: name.into(),
            generation: None,
            creation_timestamp: created,
            labels: BTreeMap::from([(label.to_owned(), value.to_owned())]),
        }
    }
}

/// A list's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListMeta {
    /// Pass as `continue` to get the next page; absent on the last page.
    #[serde(rename = "continue", default, skip_serializing_if = "Option::is_none")]
    pub continue_: Option<String>,
}

/// A list resource: `apiVersion`, `kind` (`BuildList`, …), `metadata` and `items`.
macro_rules! list_resource {
    ($(#[doc = $doc:literal])* $list:ident of $item:ty) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct $list {
            /// `chorale.dev/v1alpha1`.
            pub api_version: String,
            #[doc = concat!("`", stringify!($list), "`.")]
            pub kind: String,
            /// Where the next page starts.
            pub metadata: $crate::resources::meta::ListMeta,
            /// The items of this page.
            pub items: Vec<$item>,
        }

        impl $list {
            /// A page of `items`; `next` is where the following one starts.
            pub fn new(items: Vec<$item>, next: Option<String>) -> Self {
                Self {
                    api_version: $crate::resources::API_VERSION.to_owned(),
                    kind: stringify!($list).to_owned(),
                    metadata: $crate::resources::meta::ListMeta { continue_: next },
                    items,
                }
            }
        }
    };
}
pub(crate) use list_resource;
