//! Counts for `/metrics`: builds by product and status, deliveries by state, active clusters.

use sqlx::Row;

use super::Store;
use crate::errors::StoreError;
use crate::resources::cluster::ClusterState;

/// What `/metrics` reports from the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// `(product, status, builds)`.
    pub builds: Vec<(String, String, i64)>,
    /// `(state, deliveries)`.
    pub deliveries: Vec<(String, i64)>,
    /// Clusters provisioned and not torn down.
    pub active_clusters: i64,
}

impl Store {
    /// The counts `/metrics` reports.
    pub async fn counts(&self) -> Result<Counts, StoreError> {
        let builds = sqlx::query(
            "SELECT product, status, COUNT(*) AS n FROM builds GROUP BY product, status
             ORDER BY product, status",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get("product")?,
                row.try_get("status")?,
                row.try_get("n")?,
            ))
        })
        .collect::<Result<_, StoreError>>()?;
        let deliveries = sqlx::query(
            "SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state ORDER BY state",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("state")?, row.try_get("n")?)))
        .collect::<Result<_, StoreError>>()?;
        let active_clusters = sqlx::query("SELECT COUNT(*) AS n FROM clusters WHERE state = $1")
            .bind(ClusterState::Active.as_str())
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(Counts {
            builds,
            deliveries,
            active_clusters,
        })
    }
}
