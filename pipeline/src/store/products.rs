//! Registered products: the manifest and its generation, changed with its audit event.

use jiff::Timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::access::insert_audit;
use super::{Store, from_millis, millis};
use crate::errors::StoreError;
use crate::resources::access::AuditEvent;
use crate::resources::product::ProductRecord;

/// `SELECT` of every product column, followed by the rest of the query.
macro_rules! select_products {
    ($rest:literal) => {
        concat!(
            "SELECT name, generation, manifest, created_at, updated_at, updated_by FROM products ",
            $rest
        )
    };
}

impl Store {
    /// Register `manifest` as product `name` (a new one at generation 1, a changed one at the
    /// next generation; an unchanged one stays as it is), with its audit event.
    pub async fn put_product(
        &self,
        name: &str,
        manifest: &str,
        audit: &AuditEvent,
    ) -> Result<ProductRecord, StoreError> {
        let mut tx = self.pool.begin().await?;
        let now = millis(Timestamp::now());
        sqlx::query(
            "INSERT INTO products (name, generation, manifest, created_at, updated_at, updated_by)
             VALUES ($1, 1, $2, $3, $3, $4)
             ON CONFLICT (name) DO UPDATE SET generation = products.generation + 1,
                 manifest = excluded.manifest, updated_at = excluded.updated_at,
                 updated_by = excluded.updated_by
             WHERE products.manifest <> excluded.manifest",
        )
        .bind(name)
        .bind(manifest)
        .bind(now)
        .bind(&audit.actor)
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, audit).await?;
        let row = sqlx::query(select_products!("WHERE name = $1"))
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        product_from_row(&row)
    }

    /// The registered product `name`.
    pub async fn product(&self, name: &str) -> Result<Option<ProductRecord>, StoreError> {
        sqlx::query(select_products!("WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(product_from_row)
            .transpose()
    }

    /// Every registered product, by name.
    pub async fn products(&self) -> Result<Vec<ProductRecord>, StoreError> {
        let rows = sqlx::query(select_products!("ORDER BY name"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(product_from_row).collect()
    }
}

fn product_from_row(row: &AnyRow) -> Result<ProductRecord, StoreError> {
    Ok(ProductRecord {
        name: row.try_get("name")?,
        generation: row.try_get("generation")?,
        manifest: row.try_get("manifest")?,
        created_at: from_millis(row.try_get("created_at")?)?,
        updated_at: from_millis(row.try_get("updated_at")?)?,
        updated_by: row.try_get("updated_by")?,
    })
}
