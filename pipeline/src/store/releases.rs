//! Releases, the decisions taken on them and their publishing journals. A version is held by
//! one release of a product at a time (a unique index over the releases that hold theirs),
//! every decision is written with its audit event in one transaction, and a decision is taken
//! on a row locked for it, so that two release managers approving at once count as two and a
//! rejection and an approval never both win. A build's own release (its candidate) has no
//! `promoted_from`; the final version an rc is promoted to is a second release of the build.
//!
//! Publishing is claimed by one process at a time with a lease on the database's clock
//! ([`Store::claim_publication`]); each step is recorded before and after it runs.

use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::access::insert_audit;
use super::publishing::ReleaseKey;
use super::{Store, corrupt, from_millis, millis, optional_time};
use crate::errors::StoreError;
use crate::resources::access::AuditEvent;
use crate::resources::build::BundleRef;
use crate::resources::release::{
    Decision, PublishFailure, Release, ReleaseDecision, ReleaseState, StepRecord,
};

/// The states in which a release holds its version, as SQL.
macro_rules! holding {
    () => {
        "('candidate', 'approved', 'publishing', 'publish-failed', 'published')"
    };
}

/// `SELECT` of every release column, followed by the rest of the query.
macro_rules! select_releases {
    ($rest:literal) => {
        concat!(
            "SELECT build_id, product, version, state, bundle_repository, bundle_digest, ",
            "lock_id, approvals_needed, created_at, expires_at, decided_at, promoted_from, ",
            "published_at, failed_step, failure FROM releases ",
            $rest
        )
    };
}
pub(super) use select_releases;

/// What became of a proposed release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proposed {
    /// It was recorded.
    Recorded,
    /// Nothing was recorded: this release holds the version already (or the build has a
    /// release already, then it is that one).
    Taken(Box<Release>),
}

/// What became of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decided {
    /// It was recorded (and the release is approved or rejected if it decided it).
    Recorded,
    /// Nothing was recorded: the release is no candidate (any more).
    NotCandidate,
    /// Nothing was recorded: this actor decided on the release before.
    Duplicate,
}

impl Store {
    /// Record `release` (a candidate, approved at once with its decision, or a promotion) with
    /// `audit`, unless its version is held by another release of its product, or its build
    /// has its candidate already (for a promotion: was promoted from the same rc already). Candidates of the product past their expiry are marked expired first,
    /// giving their versions back.
    pub async fn propose_release(
        &self,
        release: &Release,
        audit: Option<&AuditEvent>,
    ) -> Result<Proposed, StoreError> {
        loop {
            let now = self.now().await?;
            let mut tx = self.pool.begin().await?;
            expire_candidates(&mut tx, Some(release.product.as_str()), now).await?;
            let holder = sqlx::query(concat!(
                "SELECT build_id, version FROM releases WHERE (product = $1 AND version = $2
                     AND state IN ",
                holding!(),
                ") OR (build_id = $3 AND COALESCE(promoted_from, '') = $4) ORDER BY created_at LIMIT 1"
            ))
            .bind(&release.product)
            .bind(&release.version)
            .bind(&release.build_id)
            .bind(release.promoted_from.as_deref().unwrap_or_default())
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = holder {
                tx.commit().await?;
                let build: String = row.try_get("build_id")?;
                let version: String = row.try_get("version")?;
                return self.taken(&build, &version).await;
            }
            let inserted = sqlx::query(
                "INSERT INTO releases (build_id, product, version, state, bundle_repository,
                                       bundle_digest, lock_id, approvals_needed, created_at,
                                       expires_at, decided_at, promoted_from, version_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(&release.build_id)
            .bind(&release.product)
            .bind(&release.version)
            .bind(release.state.as_str())
            .bind(&release.bundle.repository)
            .bind(&release.bundle.digest)
            .bind(&release.lock_id)
            .bind(i64::from(release.approvals_needed))
            .bind(millis(release.created_at))
            .bind(millis(release.expires_at))
            .bind(release.decided_at.map(millis))
            .bind(release.promoted_from.as_deref())
            .bind(version_key(&release.version)?)
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => {}
                // Another process took the version between the look and the insert: look again.
                Err(sqlx::Error::Database(error)) if error.is_unique_violation() => continue,
                Err(error) => return Err(error.into()),
            }
            for decision in &release.decisions {
                insert_decision(&mut tx, &release.build_id, decision).await?;
            }
            if let Some(audit) = audit {
                insert_audit(&mut tx, audit).await?;
            }
            tx.commit().await?;
            return Ok(Proposed::Recorded);
        }
    }

    /// [`Proposed::Taken`] by the release `version` of `build_id`.
    async fn taken(&self, build_id: &str, version: &str) -> Result<Proposed, StoreError> {
        let key = ReleaseKey {
            build_id: build_id.to_owned(),
            version: version.to_owned(),
        };
        let release = (self.release_by_key(&key).await?)
            .ok_or_else(|| corrupt("release", &format!("release {version} vanished")))?;
        Ok(Proposed::Taken(Box::new(release)))
    }

    /// Record `decision` on the release of `build_id` with `audit`, if the release is a
    /// candidate (not past its expiry: then it is marked expired) and the actor has not decided
    /// on it yet. A rejection rejects it; an approval approves it once as many distinct people
    /// approved as it needs.
    pub async fn decide_release(
        &self,
        build_id: &str,
        decision: &ReleaseDecision,
        audit: &AuditEvent,
    ) -> Result<Decided, StoreError> {
        let mut tx = self.pool.begin().await?;
        let expired = sqlx::query(
            "UPDATE releases SET state = 'expired'
             WHERE build_id = $1 AND promoted_from IS NULL AND state = 'candidate'
               AND expires_at <= $2",
        )
        .bind(build_id)
        .bind(millis(decision.at))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if expired > 0 {
            tx.commit().await?;
            return Ok(Decided::NotCandidate);
        }
        // The row is locked for this transaction (PostgreSQL; SQLite writes one at a time).
        let row = sqlx::query(
            "UPDATE releases SET state = state
             WHERE build_id = $1 AND promoted_from IS NULL AND state = 'candidate'
             RETURNING approvals_needed",
        )
        .bind(build_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Decided::NotCandidate);
        };
        let needed: i64 = row.try_get("approvals_needed")?;
        if !insert_decision(&mut tx, build_id, decision).await? {
            return Ok(Decided::Duplicate);
        }
        let decided = match decision.decision {
            Decision::Reject => Some(ReleaseState::Rejected),
            Decision::Approve => {
                let approvals: i64 = sqlx::query(
                    "SELECT COUNT(*) AS n FROM release_decisions
                     WHERE build_id = $1 AND decision = 'approve'",
                )
                .bind(build_id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?;
                (approvals >= needed).then_some(ReleaseState::Approved)
            }
        };
        if let Some(state) = decided {
            sqlx::query(
                "UPDATE releases SET state = $1, decided_at = $2
                 WHERE build_id = $3 AND promoted_from IS NULL",
            )
            .bind(state.as_str())
            .bind(millis(decision.at))
            .bind(build_id)
            .execute(&mut *tx)
            .await?;
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(Decided::Recorded)
    }

    /// Mark every candidate past its expiry (by the database's clock) expired, of one product
    /// or of all.
    pub async fn expire_releases(&self, product: Option<&str>) -> Result<(), StoreError> {
        let now = self.now().await?;
        let mut tx = self.pool.begin().await?;
        expire_candidates(&mut tx, product, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The release of `row` (if there is one) with its decisions and journal.
    async fn detailed_release(&self, row: Option<AnyRow>) -> Result<Option<Release>, StoreError> {
        match row {
            Some(row) => Ok(Some(self.release_details(release_from_row(&row)?).await?)),
            None => Ok(None),
        }
    }

    /// The build `build_id`'s own release (its candidate, not a promotion), with its
    /// decisions and journal.
    pub async fn release_of_build(&self, build_id: &str) -> Result<Option<Release>, StoreError> {
        let row = sqlx::query(select_releases!(
            "WHERE build_id = $1 AND promoted_from IS NULL"
        ))
        .bind(build_id)
        .fetch_optional(&self.pool)
        .await?;
        self.detailed_release(row).await
    }

    /// The release `key` (a build and a version), with its decisions and journal.
    pub async fn release_by_key(&self, key: &ReleaseKey) -> Result<Option<Release>, StoreError> {
        let row = sqlx::query(select_releases!("WHERE build_id = $1 AND version = $2"))
            .bind(&key.build_id)
            .bind(&key.version)
            .fetch_optional(&self.pool)
            .await?;
        self.detailed_release(row).await
    }

    /// The newest release of `product` with `version` (the one holding it, if any holds it).
    pub async fn release(
        &self,
        product: &str,
        version: &str,
    ) -> Result<Option<Release>, StoreError> {
        let row = sqlx::query(select_releases!(
            "WHERE product = $1 AND version = $2 ORDER BY created_at DESC, build_id DESC LIMIT 1"
        ))
        .bind(product)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        self.detailed_release(row).await
    }

    /// The versions `product`'s releases hold (candidates, approved and published ones).
    pub async fn held_versions(&self, product: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT version FROM releases WHERE product = $1 AND state IN ",
            holding!()
        ))
        .bind(product)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                row.try_get::<String, _>("version")
                    .map_err(StoreError::from)
            })
            .collect()
    }

    /// The newest release of the same product made after `release` that holds its version
    /// (a newer candidate supersedes `release`).
    pub async fn newer_release(&self, release: &Release) -> Result<Option<Release>, StoreError> {
        let row = sqlx::query(select_releases!(
            "WHERE product = $1 AND promoted_from IS NULL
               AND state IN ('candidate', 'approved', 'publishing', 'publish-failed', 'published')
               AND (created_at > $2 OR (created_at = $2 AND build_id > $3))
             ORDER BY created_at DESC, build_id DESC LIMIT 1"
        ))
        .bind(&release.product)
        .bind(millis(release.created_at))
        .bind(&release.build_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(release_from_row).transpose()
    }

    /// Fill in a release's decisions (oldest first) and its publishing journal (in step order).
    pub(super) async fn release_details(
        &self,
        mut release: Release,
    ) -> Result<Release, StoreError> {
        let rows = sqlx::query(
            "SELECT actor, role, decision, reason, overridden, at FROM release_decisions
             WHERE build_id = $1 ORDER BY at, actor",
        )
        .bind(&release.build_id)
        .fetch_all(&self.pool)
        .await?;
        release.decisions = rows
            .iter()
            .map(|row| {
                Ok(ReleaseDecision {
                    actor: row.try_get("actor")?,
                    role: row
                        .try_get::<String, _>("role")?
                        .parse()
                        .map_err(|e: String| corrupt("role", &e))?,
                    decision: row
                        .try_get::<String, _>("decision")?
                        .parse()
                        .map_err(|e: String| corrupt("decision", &e))?,
                    reason: row.try_get("reason")?,
                    overridden: row.try_get::<i64, _>("overridden")? != 0,
                    at: from_millis(row.try_get("at")?)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let rows = sqlx::query(
            "SELECT step, state, attempts, detail, error, started_at, finished_at
             FROM release_steps WHERE build_id = $1 AND version = $2",
        )
        .bind(&release.build_id)
        .bind(&release.version)
        .fetch_all(&self.pool)
        .await?;
        release.steps = rows
            .iter()
            .map(step_from_row)
            .collect::<Result<_, StoreError>>()?;
        release.steps.sort_by_key(|record| record.step);
        Ok(release)
    }
}

/// Mark the candidates past their expiry at `now` expired, of `product` or of all.
async fn expire_candidates(
    tx: &mut Transaction<'_, Any>,
    product: Option<&str>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let query = match product {
        Some(product) => sqlx::query(
            "UPDATE releases SET state = 'expired'
             WHERE state = 'candidate' AND expires_at <= $1 AND product = $2",
        )
        .bind(millis(now))
        .bind(product),
        None => sqlx::query(
            "UPDATE releases SET state = 'expired' WHERE state = 'candidate' AND expires_at <= $1",
        )
        .bind(millis(now)),
    };
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Record `decision` unless its actor decided on the release before; whether it was.
async fn insert_decision(
    tx: &mut Transaction<'_, Any>,
    build_id: &str,
    decision: &ReleaseDecision,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "INSERT INTO release_decisions (build_id, actor, role, decision, reason, overridden, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (build_id, actor) DO NOTHING",
    )
    .bind(build_id)
    .bind(&decision.actor)
    .bind(decision.role.as_str())
    .bind(decision.decision.as_str())
    .bind(&decision.reason)
    .bind(i64::from(decision.overridden))
    .bind(millis(decision.at))
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// A release without its decisions from a row of `select_releases!`.
pub(super) fn release_from_row(row: &AnyRow) -> Result<Release, StoreError> {
    Ok(Release {
        version: row.try_get("version")?,
        product: row.try_get("product")?,
        build_id: row.try_get("build_id")?,
        bundle: BundleRef {
            repository: row.try_get("bundle_repository")?,
            digest: row.try_get("bundle_digest")?,
        },
        lock_id: row.try_get("lock_id")?,
        state: row
            .try_get::<String, _>("state")?
            .parse()
            .map_err(|e: String| corrupt("release state", &e))?,
        approvals_needed: u32::try_from(row.try_get::<i64, _>("approvals_needed")?)
            .map_err(|e| corrupt("approvals needed", &e))?,
        created_at: from_millis(row.try_get("created_at")?)?,
        expires_at: from_millis(row.try_get("expires_at")?)?,
        decided_at: optional_time(row, "decided_at")?,
        decisions: Vec::new(),
        promoted_from: row.try_get("promoted_from")?,
        published_at: optional_time(row, "published_at")?,
        failure: match row.try_get::<Option<String>, _>("failed_step")? {
            Some(step) => Some(PublishFailure {
                step: step.parse().map_err(|e: String| corrupt("step", &e))?,
                error: row
                    .try_get::<Option<String>, _>("failure")?
                    .unwrap_or_default(),
            }),
            None => None,
        },
        steps: Vec::new(),
    })
}

/// The precedence key of `version` (see [`crate::versions::precedence_key`]).
pub(super) fn version_key(version: &str) -> Result<String, StoreError> {
    semver::Version::parse(version)
        .map(|parsed| crate::versions::precedence_key(&parsed))
        .map_err(|e| corrupt("release version", &e))
}

/// A journal entry from a row of `release_steps`.
fn step_from_row(row: &AnyRow) -> Result<StepRecord, StoreError> {
    Ok(StepRecord {
        step: row
            .try_get::<String, _>("step")?
            .parse()
            .map_err(|e: String| corrupt("step", &e))?,
        state: row
            .try_get::<String, _>("state")?
            .parse()
            .map_err(|e: String| corrupt("step state", &e))?,
        attempts: u32::try_from(row.try_get::<i64, _>("attempts")?)
            .map_err(|e| corrupt("attempts", &e))?,
        detail: row.try_get("detail")?,
        error: row.try_get("error")?,
        started_at: from_millis(row.try_get("started_at")?)?,
        finished_at: optional_time(row, "finished_at")?,
    })
}
