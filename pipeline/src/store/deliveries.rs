//! Notification deliveries in the store: recorded before the first attempt, updated after
//! each, and claimed again by another process when the one sending them died.

use jiff::Timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, corrupt, from_millis, millis, optional_time};
use crate::errors::StoreError;
use crate::notify::Event;
use crate::resources::delivery::{Delivery, DeliveryRecord, DeliveryState, DeliveryUpdate};

/// `SELECT` of the columns a [`Delivery`] shows, followed by the rest of the query.
macro_rules! select_deliveries {
    ($rest:literal) => {
        concat!(
            "SELECT id, build_id, notifier, channel, event, version, state, attempts, last_error, ",
            "created_at, updated_at FROM deliveries ",
            $rest
        )
    };
}

impl Store {
    /// Record a delivery before anything is sent. Returns `false` (and changes nothing) when
    /// the build already has a delivery of that event (and version) to that notifier: each is
    /// sent once.
    pub async fn insert_delivery(&self, record: &DeliveryRecord) -> Result<bool, StoreError> {
        let delivery = &record.delivery;
        let result = sqlx::query(
            "INSERT INTO deliveries (id, build_id, notifier, channel, event, state, attempts,
                                     last_error, created_at, updated_at, lease_until, config,
                                     message, policy, version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             ON CONFLICT (build_id, notifier, event, version) DO NOTHING",
        )
        .bind(&delivery.id)
        .bind(&delivery.build_id)
        .bind(&delivery.notifier)
        .bind(delivery.channel.as_str())
        .bind(delivery.event.as_str())
        .bind(delivery.state.as_str())
        .bind(i64::from(delivery.attempts))
        .bind(delivery.last_error.as_deref())
        .bind(millis(delivery.created_at))
        .bind(millis(delivery.updated_at))
        .bind(record.lease_until.map(millis))
        .bind(serde_json::to_string(&record.config).expect("a notifier config serialises"))
        .bind(
            record
                .message
                .as_ref()
                .map(|m| serde_json::to_string(m).expect("a message serialises")),
        )
        .bind(serde_json::to_string(&record.policy).expect("a retry policy serialises"))
        .bind(delivery.version.as_deref().unwrap_or_default())
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Write what an attempt changed; `last_error: None` keeps the one recorded.
    pub async fn update_delivery(
        &self,
        id: &str,
        update: &DeliveryUpdate,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE deliveries SET state = $1, attempts = $2,
                 last_error = COALESCE($3, last_error), lease_until = $4, updated_at = $5
             WHERE id = $6",
        )
        .bind(update.state.as_str())
        .bind(i64::from(update.attempts))
        .bind(update.last_error.as_deref())
        .bind(update.lease_until.map(millis))
        .bind(millis(Timestamp::now()))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The deliveries of one build in the order they were recorded, or the newest `limit` of
    /// all builds, newest first.
    pub async fn deliveries(
        &self,
        build_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let rows = match build_id {
            Some(build_id) => {
                sqlx::query(select_deliveries!(
                    "WHERE build_id = $1 ORDER BY created_at, notifier, event LIMIT $2"
                ))
                .bind(build_id)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(select_deliveries!(
                    "ORDER BY created_at DESC, build_id DESC, notifier, event LIMIT $1"
                ))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(delivery_from_row).collect()
    }

    /// Deliveries left `pending` or `sending` whose sender's lease ran out before `now`: the
    /// process sending them died. Oldest first.
    pub async fn resumable_deliveries(
        &self,
        now: Timestamp,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, build_id, notifier, channel, event, version, state, attempts, last_error,
                    created_at, updated_at, config, message, policy, lease_until
             FROM deliveries
             WHERE state IN ('pending', 'sending') AND (lease_until IS NULL OR lease_until < $1)
             ORDER BY created_at, id",
        )
        .bind(millis(now))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// The deliveries of `event` (about `version`, for `released`) of one build left `pending`
    /// or `sending`, whatever their lease: what a resumed publication still has to send.
    pub async fn unsent_deliveries(
        &self,
        build_id: &str,
        event: Event,
        version: Option<&str>,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, build_id, notifier, channel, event, version, state, attempts, last_error,
                    created_at, updated_at, config, message, policy, lease_until
             FROM deliveries
             WHERE build_id = $1 AND event = $2 AND version = $3
               AND state IN ('pending', 'sending')
             ORDER BY created_at, id",
        )
        .bind(build_id)
        .bind(event.as_str())
        .bind(version.unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// Take over a resumable delivery until `lease_until`. Returns `false` when it is no
    /// longer resumable at `now` (finished, or another process claimed it first).
    pub async fn claim_delivery(
        &self,
        id: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE deliveries SET lease_until = $1, updated_at = $2
             WHERE id = $3 AND state IN ('pending', 'sending')
               AND (lease_until IS NULL OR lease_until < $4)",
        )
        .bind(millis(lease_until))
        .bind(millis(now))
        .bind(id)
        .bind(millis(now))
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }
}

/// A name stored as its serde string form (`slack`, `approval-needed`, …).
fn named<T: serde::de::DeserializeOwned>(row: &AnyRow, column: &str) -> Result<T, StoreError> {
    let text: String = row.try_get(column)?;
    serde_json::from_value(serde_json::Value::String(text)).map_err(|e| corrupt(column, &e))
}

fn record_from_row(row: &AnyRow) -> Result<DeliveryRecord, StoreError> {
    let config: String = row.try_get("config")?;
    let message: Option<String> = row.try_get("message")?;
    let policy: String = row.try_get("policy")?;
    Ok(DeliveryRecord {
        delivery: delivery_from_row(row)?,
        config: serde_json::from_str(&config).map_err(|e| corrupt("delivery configuration", &e))?,
        message: message
            .map(|m| serde_json::from_str(&m))
            .transpose()
            .map_err(|e| corrupt("delivery message", &e))?,
        policy: serde_json::from_str(&policy).map_err(|e| corrupt("delivery retry policy", &e))?,
        lease_until: optional_time(row, "lease_until")?,
    })
}

fn delivery_from_row(row: &AnyRow) -> Result<Delivery, StoreError> {
    let state: String = row.try_get("state")?;
    Ok(Delivery {
        id: row.try_get("id")?,
        build_id: row.try_get("build_id")?,
        notifier: row.try_get("notifier")?,
        channel: named(row, "channel")?,
        event: named(row, "event")?,
        version: Some(row.try_get::<String, _>("version")?).filter(|v| !v.is_empty()),
        state: state
            .parse::<DeliveryState>()
            .map_err(|message| corrupt("delivery state", &message))?,
        attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(0),
        last_error: row.try_get("last_error")?,
        created_at: from_millis(row.try_get("created_at")?)?,
        updated_at: from_millis(row.try_get("updated_at")?)?,
    })
}
