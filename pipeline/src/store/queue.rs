//! The build queue: a build asked for through the API is recorded `pending`, with its request
//! and its audit event, in one transaction; a worker claims the oldest one atomically (one
//! `UPDATE … WHERE status = 'pending'`), so that two workers, of one replica or of several on
//! PostgreSQL, never run the same build.

use sqlx::Row;

use super::access::insert_audit;
use super::{Store, insert_new};
use crate::errors::StoreError;
use crate::resources::access::AuditEvent;
use crate::resources::build::{Build, Owner, Status};

impl Store {
    /// Queue `build` (status `pending`; its id renewed if taken) with its `request` (JSON)
    /// and its audit event.
    pub async fn queue_build(
        &self,
        build: &mut Build,
        request: &str,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_new(&mut tx, build).await?;
        sqlx::query("UPDATE builds SET request = $1 WHERE id = $2")
            .bind(request)
            .bind(&build.id)
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Claim the oldest queued build for `owner`: it becomes `running` and owned, and is
    /// returned with its request. `None` when the queue is empty.
    pub async fn claim_queued_build(
        &self,
        owner: &Owner,
    ) -> Result<Option<(Build, String)>, StoreError> {
        loop {
            let Some(row) = sqlx::query(
                "SELECT id, request FROM builds WHERE status = $1 AND request IS NOT NULL
                 ORDER BY created_at, id LIMIT 1",
            )
            .bind(Status::Pending.as_str())
            .fetch_optional(&self.pool)
            .await?
            else {
                return Ok(None);
            };
            let id: String = row.try_get("id")?;
            let request: String = row.try_get("request")?;
            let claimed = sqlx::query(
                "UPDATE builds SET status = $1, owner_host = $2, owner_pid = $3
                 WHERE id = $4 AND status = $5",
            )
            .bind(Status::Running.as_str())
            .bind(&owner.host)
            .bind(i64::from(owner.pid))
            .bind(&id)
            .bind(Status::Pending.as_str())
            .execute(&self.pool)
            .await?
            .rows_affected()
                == 1;
            // Another worker was quicker: try the next one.
            if claimed && let Some(build) = self.build(&id).await? {
                return Ok(Some((build, request)));
            }
        }
    }
}
