//! A build's events, in the order it told them, kept for the event stream of any replica.

use jiff::Timestamp;
use sqlx::Row;

use super::Store;
use crate::errors::StoreError;

/// One stored event: its place in the build's stream, when it was told, and the event as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// 1, 2, … within the build.
    pub seq: i64,
    /// When it was told.
    pub at: Timestamp,
    /// The `BuildEvent` as JSON.
    pub event: String,
}

impl Store {
    /// Keep `event` (JSON) as number `seq` of build `id`'s stream; kept once.
    pub async fn append_event(
        &self,
        id: &str,
        seq: i64,
        at: Timestamp,
        event: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO build_events (build_id, seq, at, event) VALUES ($1, $2, $3, $4)
             ON CONFLICT (build_id, seq) DO NOTHING",
        )
        .bind(id)
        .bind(seq)
        .bind(at.as_millisecond())
        .bind(event)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// At most `limit` events of build `id` after number `after`, in order.
    pub async fn events_after(
        &self,
        id: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, event FROM build_events WHERE build_id = $1 AND seq > $2
             ORDER BY seq LIMIT $3",
        )
        .bind(id)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredEvent {
                    seq: row.try_get("seq")?,
                    at: super::from_millis(row.try_get("at")?)?,
                    event: row.try_get("event")?,
                })
            })
            .collect()
    }
}
