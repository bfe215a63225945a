//! Fire times of schedules: each claimed once (product and fire time are the key), and the
//! database's own clock, which every replica reads the same.

use jiff::Timestamp;
use sqlx::Row;

use super::{Store, corrupt, from_millis, millis};
use crate::errors::StoreError;
use crate::resources::build::{Build, Status};
use crate::resources::occurrence::{Occurrence, OccurrenceState};

impl Store {
    /// The database's clock, to the millisecond.
    pub async fn now(&self) -> Result<Timestamp, StoreError> {
        let query = if self.postgres {
            "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) AS now"
        } else {
            "SELECT CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER) AS now"
        };
        let row = sqlx::query(query).fetch_one(&self.pool).await?;
        from_millis(row.try_get("now")?)
    }

    /// Record `occurrence` unless its fire time is recorded already; `true` when this call
    /// recorded it (and so owns it).
    pub async fn claim_occurrence(&self, occurrence: &Occurrence) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO occurrences (product, fire_at, state, build_id, reason, recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (product, fire_at) DO NOTHING",
        )
        .bind(&occurrence.product)
        .bind(millis(occurrence.fire_at))
        .bind(<&str>::from(occurrence.state))
        .bind(occurrence.build_id.as_deref())
        .bind(occurrence.reason.as_deref())
        .bind(millis(occurrence.recorded_at))
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Record what an owned occurrence came to: its build, or why it has none.
    pub async fn settle_occurrence(
        &self,
        product: &str,
        fire_at: Timestamp,
        build_id: Option<&str>,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE occurrences SET build_id = $1, reason = $2 WHERE product = $3 AND fire_at = $4",
        )
        .bind(build_id)
        .bind(reason)
        .bind(product)
        .bind(millis(fire_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest recorded fire time of `product`.
    pub async fn last_occurrence(&self, product: &str) -> Result<Option<Timestamp>, StoreError> {
        let row = sqlx::query("SELECT MAX(fire_at) AS last FROM occurrences WHERE product = $1")
            .bind(product)
            .fetch_one(&self.pool)
            .await?;
        row.try_get::<Option<i64>, _>("last")?
            .map(from_millis)
            .transpose()
    }

    /// The newest `limit` occurrences of `product`, newest first.
    pub async fn occurrences(
        &self,
        product: &str,
        limit: u32,
    ) -> Result<Vec<Occurrence>, StoreError> {
        let rows = sqlx::query(
            "SELECT product, fire_at, state, build_id, reason, recorded_at FROM occurrences
             WHERE product = $1 ORDER BY fire_at DESC LIMIT $2",
        )
        .bind(product)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Occurrence {
                    product: row.try_get("product")?,
                    fire_at: from_millis(row.try_get("fire_at")?)?,
                    state: row
                        .try_get::<String, _>("state")?
                        .parse::<OccurrenceState>()
                        .map_err(|e| corrupt("occurrence state", &e))?,
                    build_id: row.try_get("build_id")?,
                    reason: row.try_get("reason")?,
                    recorded_at: from_millis(row.try_get("recorded_at")?)?,
                })
            })
            .collect()
    }

    /// The builds of `product` queued or running, with their details, oldest first.
    pub async fn active_builds_of(&self, product: &str) -> Result<Vec<Build>, StoreError> {
        let rows = sqlx::query(select_builds!(
            "WHERE product = $1 AND status IN ($2, $3) ORDER BY created_at, id"
        ))
        .bind(product)
        .bind(Status::Pending.as_str())
        .bind(Status::Running.as_str())
        .fetch_all(&self.pool)
        .await?;
        self.detailed(&rows).await
    }

    /// How many builds of `product` are queued or running.
    pub async fn active_builds(&self, product: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM builds WHERE product = $1 AND status IN ($2, $3)",
        )
        .bind(product)
        .bind(Status::Pending.as_str())
        .bind(Status::Running.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }
}
