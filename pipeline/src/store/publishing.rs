//! The publishing journal of releases. One process publishes a release at a time: it claims
//! the release with a lease on the database's clock and renews it while it works; a release
//! whose lease ran out belongs to a process that died, and the next one resumes it. Each step
//! is recorded before it runs (`started`, attempts counted) and after (`done`, `skipped` or
//! `failed`); a failed step marks the release `publish-failed` with the step and its error in
//! the same transaction.

use std::time::Duration;

use sqlx::{Any, Row, Transaction};

use super::Store;
use crate::errors::StoreError;
use crate::resources::release::{PublishStep, StepState};

/// A release, by the build it releases and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseKey {
    /// The build.
    pub build_id: String,
    /// The version.
    pub version: String,
}

/// A process's hold on publishing a release: the release and the owner token its claim wrote.
/// Every write of the journal checks the token, so a process whose lease ran out and whose
/// release another process took over finds out at its next write (or renewal) and stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The release.
    pub key: ReleaseKey,
    /// The token only this claim holds.
    owner: String,
}

impl Store {
    /// Claim the publication of `key` for `lease` from now (the database's clock): an
    /// approved release, a publishing one whose lease ran out, and with `failed_too` a
    /// `publish-failed` one (its failure is cleared). `None` when it could not be claimed.
    pub async fn claim_publication(
        &self,
        key: &ReleaseKey,
        lease: Duration,
        failed_too: bool,
    ) -> Result<Option<Claim>, StoreError> {
        let now = self.now().await?.as_millisecond();
        let failed = if failed_too { "publish-failed" } else { "" };
        let owner = format!("{:032x}", rand::random::<u128>());
        let claimed = sqlx::query(
            "UPDATE releases SET state = 'publishing', publish_lease_until = $1,
                                 publish_owner = $2, failed_step = NULL, failure = NULL
             WHERE build_id = $3 AND version = $4
               AND (state IN ('approved', $5)
                    OR (state = 'publishing' AND COALESCE(publish_lease_until, 0) < $6))",
        )
        .bind(now + lease_millis(lease))
        .bind(&owner)
        .bind(&key.build_id)
        .bind(&key.version)
        .bind(failed)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok((claimed == 1).then(|| Claim {
            key: key.clone(),
            owner,
        }))
    }

    /// Extend `claim` to `lease` from now; `false` when it is lost (another process took the
    /// release over after this one's lease ran out, or it ended).
    pub async fn renew_publication(
        &self,
        claim: &Claim,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let now = self.now().await?.as_millisecond();
        let renewed = sqlx::query(
            "UPDATE releases SET publish_lease_until = $1
             WHERE build_id = $2 AND version = $3 AND state = 'publishing'
               AND publish_owner = $4",
        )
        .bind(now + lease_millis(lease))
        .bind(&claim.key.build_id)
        .bind(&claim.key.version)
        .bind(&claim.owner)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(renewed == 1)
    }

    /// Record that `step` starts (one more attempt); `false` (nothing written) when `claim` is
    /// lost.
    pub async fn start_step(&self, claim: &Claim, step: PublishStep) -> Result<bool, StoreError> {
        let now = self.now().await?.as_millisecond();
        let mut tx = self.pool.begin().await?;
        if !holds(&mut tx, claim).await? {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO release_steps (build_id, version, step, state, attempts, started_at)
             VALUES ($1, $2, $3, 'started', 1, $4)
             ON CONFLICT (build_id, version, step) DO UPDATE SET
                 state = 'started', attempts = release_steps.attempts + 1,
                 started_at = excluded.started_at, finished_at = NULL, error = NULL",
        )
        .bind(&claim.key.build_id)
        .bind(&claim.key.version)
        .bind(step.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Record that `step` ended `state` (done or skipped) having done `detail`; `false`
    /// (nothing written) when `claim` is lost.
    pub async fn finish_step(
        &self,
        claim: &Claim,
        step: PublishStep,
        state: StepState,
        detail: &str,
    ) -> Result<bool, StoreError> {
        let now = self.now().await?.as_millisecond();
        let mut tx = self.pool.begin().await?;
        if !holds(&mut tx, claim).await? {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE release_steps SET state = $1, detail = $2, finished_at = $3
             WHERE build_id = $4 AND version = $5 AND step = $6",
        )
        .bind(state.as_str())
        .bind(detail)
        .bind(now)
        .bind(&claim.key.build_id)
        .bind(&claim.key.version)
        .bind(step.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Record that `step` failed with `error`: the release is `publish-failed` at that step,
    /// and nobody holds it any more. Nothing is written when `claim` is lost.
    pub async fn fail_publication(
        &self,
        claim: &Claim,
        step: PublishStep,
        error: &str,
    ) -> Result<(), StoreError> {
        let now = self.now().await?.as_millisecond();
        let mut tx = self.pool.begin().await?;
        if !holds(&mut tx, claim).await? {
            return Ok(());
        }
        sqlx::query(
            "UPDATE release_steps SET state = 'failed', error = $1, finished_at = $2
             WHERE build_id = $3 AND version = $4 AND step = $5",
        )
        .bind(error)
        .bind(now)
        .bind(&claim.key.build_id)
        .bind(&claim.key.version)
        .bind(step.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE releases SET state = 'publish-failed', failed_step = $1, failure = $2,
                                 publish_lease_until = NULL, publish_owner = NULL
             WHERE build_id = $3 AND version = $4",
        )
        .bind(step.as_str())
        .bind(error)
        .bind(&claim.key.build_id)
        .bind(&claim.key.version)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Record that every step is done: the release is published (now, by the database's
    /// clock). `false` when `claim` is lost.
    pub async fn finish_publication(&self, claim: &Claim) -> Result<bool, StoreError> {
        let now = self.now().await?;
        let finished = sqlx::query(
            "UPDATE releases SET state = 'published', published_at = $1,
                                 publish_lease_until = NULL, publish_owner = NULL
             WHERE build_id = $2 AND version = $3 AND state = 'publishing'
               AND publish_owner = $4",
        )
        .bind(now.as_millisecond())
        .bind(&claim.key.build_id)
        .bind(&claim.key.version)
        .bind(&claim.owner)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(finished == 1)
    }

    /// The releases a process should publish now: approved ones nobody started, and
    /// publishing ones whose process died (their lease ran out), oldest first.
    pub async fn publications_to_resume(&self) -> Result<Vec<ReleaseKey>, StoreError> {
        let now = self.now().await?.as_millisecond();
        let rows = sqlx::query(
            "SELECT build_id, version FROM releases
             WHERE state = 'approved'
                OR (state = 'publishing' AND COALESCE(publish_lease_until, 0) < $1)
             ORDER BY created_at, build_id, version",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ReleaseKey {
                    build_id: row.try_get("build_id")?,
                    version: row.try_get("version")?,
                })
            })
            .collect()
    }

    /// The newest published release of `product` whose version precedes `version` (semver
    /// precedence; for a final version, the newest final one): the one release notes count
    /// changes from.
    pub async fn previous_published(
        &self,
        product: &str,
        version: &semver::Version,
    ) -> Result<Option<ReleaseKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT build_id, version FROM releases WHERE product = $1 AND state = 'published'",
        )
        .bind(product)
        .fetch_all(&self.pool)
        .await?;
        let mut previous: Option<(semver::Version, ReleaseKey)> = None;
        for row in &rows {
            let text: String = row.try_get("version")?;
            let Ok(parsed) = semver::Version::parse(&text) else {
                continue;
            };
            // A final version counts from the previous final one: its own release candidates
            // are the same bundle, and would show nothing changed.
            let comparable = version.pre.is_empty() <= parsed.pre.is_empty();
            if parsed < *version
                && comparable
                && previous.as_ref().is_none_or(|(best, _)| parsed > *best)
            {
                previous = Some((
                    parsed,
                    ReleaseKey {
                        build_id: row.try_get("build_id")?,
                        version: text,
                    },
                ));
            }
        }
        Ok(previous.map(|(_, key)| key))
    }
}

impl Store {
    /// Give every release recorded before versions were ordered by precedence its
    /// `version_key` (a no-op once done).
    pub(super) async fn fill_version_keys(&self) -> Result<(), StoreError> {
        let rows = sqlx::query("SELECT DISTINCT version FROM releases WHERE version_key IS NULL")
            .fetch_all(&self.pool)
            .await?;
        for row in &rows {
            let version: String = row.try_get("version")?;
            let key = super::releases::version_key(&version)?;
            sqlx::query("UPDATE releases SET version_key = $1 WHERE version = $2")
                .bind(key)
                .bind(&version)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }
}

/// Whether `claim` still holds its release, locking the release's row for the rest of `tx`
/// (PostgreSQL; SQLite writes one transaction at a time).
async fn holds(tx: &mut Transaction<'_, Any>, claim: &Claim) -> Result<bool, StoreError> {
    let held = sqlx::query(
        "UPDATE releases SET publish_owner = publish_owner
         WHERE build_id = $1 AND version = $2 AND state = 'publishing' AND publish_owner = $3",
    )
    .bind(&claim.key.build_id)
    .bind(&claim.key.version)
    .bind(&claim.owner)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(held == 1)
}

/// `lease` in milliseconds, saturating.
fn lease_millis(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_in_milliseconds_saturates() {
        assert_eq!(lease_millis(Duration::from_secs(30)), 30_000);
        assert_eq!(lease_millis(Duration::MAX), i64::MAX / 2);
    }
}
