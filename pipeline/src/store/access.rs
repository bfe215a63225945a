//! API tokens (only a hash of each secret) and the audit log. Every change is written with its
//! audit event in one transaction: the log never misses a change nor records one that did not
//! happen.

use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{Store, corrupt, from_millis, millis, optional_time};
use crate::errors::StoreError;
use crate::resources::access::{AuditEvent, Role, Token};

/// `SELECT` of every token column but the hash, followed by the rest of the query.
macro_rules! select_tokens {
    ($rest:literal) => {
        concat!(
            "SELECT name, role, created_at, created_by, expires_at, revoked_at FROM tokens ",
            $rest
        )
    };
}

impl Store {
    /// Record a new token by the hash of its secret, with its audit event. Returns `false`
    /// (and changes nothing) when a token of that name exists.
    pub async fn create_token(
        &self,
        token: &Token,
        secret_hash: &str,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO tokens (name, role, secret_hash, created_at, created_by, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&token.name)
        .bind(token.role.as_str())
        .bind(secret_hash)
        .bind(millis(token.created_at))
        .bind(&token.created_by)
        .bind(token.expires_at.map(millis))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            insert_audit(&mut tx, audit).await?;
            tx.commit().await?;
        }
        Ok(inserted)
    }

    /// Every token, newest first.
    pub async fn tokens(&self) -> Result<Vec<Token>, StoreError> {
        let rows = sqlx::query(select_tokens!("ORDER BY created_at DESC, name"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// The token whose secret has this hash, valid or not.
    pub async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<Token>, StoreError> {
        sqlx::query(select_tokens!("WHERE secret_hash = $1"))
            .bind(secret_hash)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(token_from_row)
            .transpose()
    }

    /// Revoke the token `name` at `at`, with its audit event. Returns `false` (and changes
    /// nothing) when there is no such token or it was revoked already.
    pub async fn revoke_token(
        &self,
        name: &str,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let revoked =
            sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL")
                .bind(millis(at))
                .bind(name)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
        if revoked {
            insert_audit(&mut tx, audit).await?;
            tx.commit().await?;
        }
        Ok(revoked)
    }

    /// Record an event that changed nothing (a denied request).
    pub async fn record_audit(&self, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Audit events, newest first: at most `limit`, older than the event `before` if given.
    pub async fn audit_events(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, role, action, resource, outcome, request_id, client
             FROM audit_events WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEvent {
                    id: row.try_get("id")?,
                    at: from_millis(row.try_get("at")?)?,
                    actor: row.try_get("actor")?,
                    role: role(row)?,
                    action: row.try_get("action")?,
                    resource: row.try_get("resource")?,
                    outcome: row
                        .try_get::<String, _>("outcome")?
                        .parse()
                        .map_err(|e| corrupt("audit outcome", &e))?,
                    request_id: row.try_get("request_id")?,
                    client: row.try_get("client")?,
                })
            })
            .collect()
    }
}

/// Write `audit` in the transaction of the change it records.
pub(super) async fn insert_audit(
    tx: &mut Transaction<'_, Any>,
    audit: &AuditEvent,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_events (at, actor, role, action, resource, outcome, request_id, client)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(millis(audit.at))
    .bind(&audit.actor)
    .bind(audit.role.as_str())
    .bind(&audit.action)
    .bind(&audit.resource)
    .bind(<&str>::from(audit.outcome))
    .bind(audit.request_id.as_deref())
    .bind(audit.client.as_deref())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn role(row: &AnyRow) -> Result<Role, StoreError> {
    row.try_get::<String, _>("role")?
        .parse()
        .map_err(|e: String| corrupt("role", &e))
}

fn token_from_row(row: &AnyRow) -> Result<Token, StoreError> {
    Ok(Token {
        name: row.try_get("name")?,
        role: role(row)?,
        created_at: from_millis(row.try_get("created_at")?)?,
        created_by: row.try_get("created_by")?,
        expires_at: optional_time(row, "expires_at")?,
        revoked_at: optional_time(row, "revoked_at")?,
    })
}
