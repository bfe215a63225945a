//! Build leases: the process running a build renews it while the build runs; a running build
//! whose lease ran out (by the database's clock) belongs to a process that is gone, on any host.

use std::time::Duration;

use sqlx::Row;

use super::Store;
use crate::errors::StoreError;
use crate::resources::build::Status;

impl Store {
    /// Extend the lease of the running build `id` to `lease` from now (the database's clock);
    /// `false` when the build is no longer running (another process reaped it).
    pub async fn renew_lease(&self, id: &str, lease: Duration) -> Result<bool, StoreError> {
        let until = self.now().await?.as_millisecond()
            + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        let renewed =
            sqlx::query("UPDATE builds SET lease_until = $1 WHERE id = $2 AND status = $3")
                .bind(until)
                .bind(id)
                .bind(Status::Running.as_str())
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(renewed == 1)
    }

    /// The running builds whose lease ran out (their process is gone, wherever it ran).
    pub async fn expired_leases(&self) -> Result<Vec<String>, StoreError> {
        let now = self.now().await?.as_millisecond();
        let rows = sqlx::query(
            "SELECT id FROM builds WHERE status = $1 AND lease_until IS NOT NULL
             AND lease_until < $2 ORDER BY id",
        )
        .bind(Status::Running.as_str())
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| Ok(row.try_get("id")?)).collect()
    }

    /// What build `id` was asked with (the request its trigger recorded), if anything.
    pub async fn build_request(&self, id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT request FROM builds WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.try_get("request")).transpose()?.flatten())
    }

    /// Record what build `id` was asked with, unless its trigger did.
    pub async fn record_request(&self, id: &str, request: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE builds SET request = $1 WHERE id = $2 AND request IS NULL")
            .bind(request)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
