//! The state store: builds with their stages, locks and bundles, notification deliveries, in
//! SQLite (default, at `.chorale/state.db`) or PostgreSQL (`postgres://…`).
//!
//! One set of queries serves both through sqlx's `Any` driver (parameters are written `$N` and
//! appear in ascending order, which both backends read the same way); each backend has its own
//! migrations under `pipeline/migrations/`.

use std::path::Path;
use std::str::FromStr;

use jiff::Timestamp;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Connection, Row};

use crate::errors::StoreError;
use crate::resources::build::{
    Build, BuildRelease, BundleRef, ComponentDeploy, ConfigCommit, Owner, Stage, StageRun, Status,
    TestRun,
};
use crate::resources::bundle::BundleOutcome;
use crate::resources::cluster::{ClusterRecord, ClusterState};
use crate::resources::lock::Lock;

/// `SELECT` of every column a cluster record needs, then `$rest`.
macro_rules! select_clusters {
    ($rest:literal) => {
        concat!(
            "SELECT build_id, state, torn_down_at, last_error, document FROM clusters ",
            $rest
        )
    };
}
/// `SELECT` of every build column, followed by the rest of the query.
macro_rules! select_builds {
    ($rest:literal) => {
        concat!(
            "SELECT id, product, status, trigger_source, created_at, finished_at, lock_id, ",
            "bundle_repository, bundle_digest, error, owner_host, owner_pid, candidate_version, ",
            "cluster_name, config_commit, config_dirty FROM builds ",
            $rest
        )
    };
}

// After `select_builds!`, which they use.
mod access;
mod baseline;
mod counts;
mod deliveries;
mod events;
mod leases;
mod occurrences;
mod pages;
mod products;
mod publishing;
mod queue;
mod releases;

pub use counts::Counts;
pub use events::StoredEvent;
pub use pages::{BuildFilter, PageStart, Position, ReleaseFilter};
pub use publishing::{Claim, ReleaseKey};
pub use releases::{Decided, Proposed};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The state database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// PostgreSQL rather than SQLite (the one query that differs: the database's clock).
    postgres: bool,
}

/// A URL with its password replaced, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

fn millis(time: Timestamp) -> i64 {
    time.as_millisecond()
}

fn from_millis(value: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(value).map_err(|e| StoreError::Corrupt {
        what: "timestamp".to_owned(),
        message: e.to_string(),
    })
}

impl Store {
    /// Open (creating and migrating as needed) the database at `url`: `sqlite://PATH` or
    /// `postgres://…`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let open_error = |message: String| StoreError::Open {
            url: redact(url),
            message,
        };
        let sqlite = url.starts_with("sqlite:");
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .map(|p| p.split('?').next().unwrap_or(p))
            && let Some(dir) = Path::new(path)
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|e| open_error(e.to_string()))?;
        }
        // One direct attempt first: a pool would retry a refused connection until its timeout.
        sqlx::AnyConnection::connect(url)
            .await
            .map_err(|e| open_error(e.to_string()))?
            .close()
            .await
            .map_err(|e| open_error(e.to_string()))?;
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 8 })
            // No idle-connection maintenance task: sqlx 0.9.0's can spin without yielding when
            // its idle count wraps (sqlx issue 3645, fixed upstream by PR 4289, not yet
            // released), which once held a `chorale clusters reap` at 100% CPU after its work
            // was done, its runtime unable to shut down. Connections are few and closed with
            // the pool.
            .idle_timeout(None)
            .max_lifetime(None)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                    } else {
                        // Chorale's transactions are a few statements with no other work
                        // between them: a session idle inside one belongs to a process that
                        // hangs or is cut off, and the server ends it so that its row locks
                        // do not hold up the replicas reaping its builds.
                        sqlx::query("SET idle_in_transaction_session_timeout = '15s'")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(|e| open_error(e.to_string()))?;
        let migrator = if sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await
                .map_err(|e| open_error(e.to_string()))?;
            &SQLITE_MIGRATIONS
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            &POSTGRES_MIGRATIONS
        } else {
            return Err(open_error(
                "only sqlite:// and postgres:// databases are supported".to_owned(),
            ));
        };
        migrator
            .run(&pool)
            .await
            .map_err(|e| open_error(format!("migration failed: {e}")))?;
        let store = Self {
            pool,
            postgres: !sqlite,
        };
        store.fill_version_keys().await?;
        Ok(store)
    }

    /// The default store in a state folder: `DIR/state.db`.
    pub async fn open_in(state_dir: &Path) -> Result<Self, StoreError> {
        Self::open(&format!(
            "sqlite://{}?mode=rwc",
            state_dir.join("state.db").display()
        ))
        .await
    }

    /// Whether the database answers with every migration of this version applied.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let migrations = if self.postgres {
            &POSTGRES_MIGRATIONS
        } else {
            &SQLITE_MIGRATIONS
        };
        let latest = migrations.iter().map(|m| m.version).max();
        let row = sqlx::query("SELECT MAX(version) AS version FROM _sqlx_migrations")
            .fetch_one(&self.pool)
            .await?;
        let applied: Option<i64> = row.try_get("version")?;
        if applied == latest {
            Ok(())
        } else {
            Err(StoreError::Corrupt {
                what: "schema".to_owned(),
                message: format!(
                    "migration {} is applied, this version needs {}",
                    applied.unwrap_or(0),
                    latest.unwrap_or(0)
                ),
            })
        }
    }
    /// Record a lock (once; storing the same lock again changes nothing).
    pub async fn put_lock(&self, lock: &Lock) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO locks (id, product, created_at, document) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&lock.id)
        .bind(&lock.product)
        .bind(millis(Timestamp::now()))
        .bind(serde_json::to_string(lock).expect("a lock serialises"))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The lock of `product` recorded last, if any (a lock recorded again keeps the time it was
    /// first recorded).
    pub async fn latest_lock(&self, product: &str) -> Result<Option<Lock>, StoreError> {
        let row = sqlx::query(
            "SELECT document FROM locks WHERE product = $1 ORDER BY created_at DESC, id LIMIT 1",
        )
        .bind(product)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| lock_from_row(&row)).transpose()
    }

    /// The lock whose id is exactly `id`.
    pub async fn lock(&self, id: &str) -> Result<Option<Lock>, StoreError> {
        let row = sqlx::query("SELECT document FROM locks WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(lock_from_row).transpose()
    }

    /// The locks whose id is `id` or starts with it.
    pub async fn find_locks(&self, id: &str) -> Result<Vec<Lock>, StoreError> {
        let pattern = format!("{}%", id.replace(['%', '_'], ""));
        let rows = sqlx::query("SELECT document FROM locks WHERE id LIKE $1 ORDER BY id LIMIT 2")
            .bind(pattern)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(lock_from_row).collect()
    }

    /// Record a pushed bundle.
    pub async fn put_bundle(
        &self,
        bundle: &BundleOutcome,
        product: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO bundles (repository, digest, product, lock_id, created_at, document)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (repository, digest) DO UPDATE SET document = excluded.document",
        )
        .bind(&bundle.repository)
        .bind(&bundle.digest)
        .bind(product)
        .bind(&bundle.lock_id)
        .bind(millis(Timestamp::now()))
        .bind(serde_json::to_string(bundle).expect("an outcome serialises"))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The bundle recorded at `repository` with `digest`.
    pub async fn bundle(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<Option<BundleOutcome>, StoreError> {
        let row = sqlx::query("SELECT document FROM bundles WHERE repository = $1 AND digest = $2")
            .bind(repository)
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            let text: String = row.try_get("document")?;
            serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                what: "bundle".to_owned(),
                message: e.to_string(),
            })
        })
        .transpose()
    }

    /// Record a new build, its id renewed until it is one no other build has.
    pub async fn insert_new_build(&self, build: &mut Build) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_new(&mut tx, build).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Write a build and its stages (insert or replace), atomically. A build that has ended
    /// stays ended: its status and error are not written over (a process that finds its build
    /// reaped or replaced records what it did last, not a new verdict).
    pub async fn save_build(&self, build: &Build) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        write_build(&mut tx, build).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The build with this id (or the only one whose id starts with it).
    pub async fn build(&self, id: &str) -> Result<Option<Build>, StoreError> {
        let pattern = format!("{}%", id.replace(['%', '_'], ""));
        let rows = sqlx::query(select_builds!("WHERE id LIKE $1 ORDER BY id LIMIT 2"))
            .bind(pattern)
            .fetch_all(&self.pool)
            .await?;
        match rows.as_slice() {
            [row] => Ok(Some(self.with_details(build_from_row(row)?).await?)),
            _ => Ok(None),
        }
    }

    /// The newest builds first, of one product or of all.
    pub async fn builds(
        &self,
        product: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Build>, StoreError> {
        let rows = match product {
            Some(product) => {
                sqlx::query(select_builds!(
                    "WHERE product = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
                ))
                .bind(product)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(select_builds!("ORDER BY created_at DESC, id DESC LIMIT $1"))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        self.detailed(&rows).await
    }

    /// Record a cluster (insert or replace).
    pub async fn save_cluster(&self, record: &ClusterRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO clusters (name, build_id, provider, state, created_at, expires_at,
                                   torn_down_at, last_error, document)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (name) DO UPDATE SET state = excluded.state,
                 torn_down_at = excluded.torn_down_at, last_error = excluded.last_error,
                 document = excluded.document",
        )
        .bind(&record.cluster.name)
        .bind(record.build_id.as_deref())
        .bind(record.cluster.provider.as_str())
        .bind(record.state.as_str())
        .bind(millis(record.cluster.created_at))
        .bind(millis(record.cluster.expires_at))
        .bind(record.torn_down_at.map(millis))
        .bind(record.last_error.as_deref())
        .bind(serde_json::to_string(&record.cluster).expect("a cluster serialises"))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every build whose status is still `running`.
    pub async fn running_builds(&self) -> Result<Vec<Build>, StoreError> {
        let rows = sqlx::query(select_builds!("WHERE status = $1 ORDER BY created_at"))
            .bind(Status::Running.as_str())
            .fetch_all(&self.pool)
            .await?;
        self.detailed(&rows).await
    }

    /// Recorded clusters, newest first: only those in `state` if given.
    pub async fn clusters(
        &self,
        state: Option<ClusterState>,
    ) -> Result<Vec<ClusterRecord>, StoreError> {
        let rows = match state {
            Some(state) => {
                sqlx::query(select_clusters!(
                    "WHERE state = $1 ORDER BY created_at DESC, name"
                ))
                .bind(state.as_str())
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(select_clusters!("ORDER BY created_at DESC, name"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(cluster_from_row).collect()
    }

    /// The builds of `rows` (of `select_builds!`), each with its details.
    pub(crate) async fn detailed(&self, rows: &[AnyRow]) -> Result<Vec<Build>, StoreError> {
        let mut builds = Vec::with_capacity(rows.len());
        for row in rows {
            builds.push(self.with_details(build_from_row(row)?).await?);
        }
        Ok(builds)
    }

    /// Fill in a build's stages, component deploys, tests and the versions it is released as.
    pub(crate) async fn with_details(&self, mut build: Build) -> Result<Build, StoreError> {
        let rows = sqlx::query(
            "SELECT version, state FROM releases WHERE build_id = $1 ORDER BY created_at",
        )
        .bind(&build.id)
        .fetch_all(&self.pool)
        .await?;
        build.releases = rows
            .iter()
            .map(|row| {
                Ok(BuildRelease {
                    version: row.try_get("version")?,
                    state: row
                        .try_get::<String, _>("state")?
                        .parse()
                        .map_err(|e: String| corrupt("release state", &e))?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let rows = sqlx::query(
            "SELECT name, status, started_at, finished_at, message FROM build_stages
             WHERE build_id = $1 ORDER BY position",
        )
        .bind(&build.id)
        .fetch_all(&self.pool)
        .await?;
        build.stages = rows
            .iter()
            .map(|row| {
                Ok(StageRun {
                    name: stage(&row.try_get::<String, _>("name")?)?,
                    status: status(&row.try_get::<String, _>("status")?)?,
                    started_at: optional_time(row, "started_at")?,
                    finished_at: optional_time(row, "finished_at")?,
                    message: row.try_get("message")?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let rows = sqlx::query(
            "SELECT component, wave, status, started_at, finished_at, message, log_path
             FROM build_components WHERE build_id = $1 ORDER BY wave, component",
        )
        .bind(&build.id)
        .fetch_all(&self.pool)
        .await?;
        build.components = rows
            .iter()
            .map(|row| {
                Ok(ComponentDeploy {
                    component: row.try_get("component")?,
                    wave: u32::try_from(row.try_get::<i64, _>("wave")?).unwrap_or(u32::MAX),
                    status: status(&row.try_get::<String, _>("status")?)?,
                    started_at: optional_time(row, "started_at")?,
                    finished_at: optional_time(row, "finished_at")?,
                    message: row.try_get("message")?,
                    log: row.try_get("log_path")?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let rows = sqlx::query(
            "SELECT name, uses, gate, status, attempts, started_at, finished_at, message,
                    artefacts
             FROM build_tests WHERE build_id = $1 ORDER BY position",
        )
        .bind(&build.id)
        .fetch_all(&self.pool)
        .await?;
        build.tests = rows
            .iter()
            .map(|row| {
                let gate: String = row.try_get("gate")?;
                let artefacts: String = row.try_get("artefacts")?;
                Ok(TestRun {
                    name: row.try_get("name")?,
                    uses: row.try_get("uses")?,
                    gate: gate.parse().map_err(|e: String| corrupt("test gate", &e))?,
                    status: status(&row.try_get::<String, _>("status")?)?,
                    attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(0),
                    started_at: optional_time(row, "started_at")?,
                    finished_at: optional_time(row, "finished_at")?,
                    message: row.try_get("message")?,
                    artefacts: serde_json::from_str(&artefacts)
                        .map_err(|e| corrupt("test artefacts", &e))?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(build)
    }
}

/// A cluster record from a row of `select_clusters!`.
pub(crate) fn cluster_from_row(row: &AnyRow) -> Result<ClusterRecord, StoreError> {
    let document: String = row.try_get("document")?;
    Ok(ClusterRecord {
        cluster: serde_json::from_str(&document).map_err(|e| corrupt("cluster", &e))?,
        build_id: row.try_get("build_id")?,
        state: row
            .try_get::<String, _>("state")?
            .parse()
            .map_err(|e: String| corrupt("cluster state", &e))?,
        torn_down_at: optional_time(row, "torn_down_at")?,
        last_error: row.try_get("last_error")?,
    })
}

fn corrupt(what: &str, error: &dyn std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what: what.to_owned(),
        message: error.to_string(),
    }
}

fn lock_from_row(row: &AnyRow) -> Result<Lock, StoreError> {
    let text: String = row.try_get("document")?;
    Lock::from_json(text.as_bytes()).map_err(|message| corrupt("lock", &message))
}

fn optional_time(row: &AnyRow, column: &str) -> Result<Option<Timestamp>, StoreError> {
    row.try_get::<Option<i64>, _>(column)?
        .map(from_millis)
        .transpose()
}

fn status(text: &str) -> Result<Status, StoreError> {
    Status::from_str(text).map_err(|message| StoreError::Corrupt {
        what: "status".to_owned(),
        message,
    })
}

fn stage(text: &str) -> Result<Stage, StoreError> {
    Stage::from_str(text).map_err(|message| StoreError::Corrupt {
        what: "stage".to_owned(),
        message,
    })
}

fn build_from_row(row: &AnyRow) -> Result<Build, StoreError> {
    let repository: Option<String> = row.try_get("bundle_repository")?;
    let digest: Option<String> = row.try_get("bundle_digest")?;
    Ok(Build {
        id: row.try_get("id")?,
        product: row.try_get("product")?,
        status: status(&row.try_get::<String, _>("status")?)?,
        trigger: row.try_get("trigger_source")?,
        created_at: from_millis(row.try_get("created_at")?)?,
        finished_at: row
            .try_get::<Option<i64>, _>("finished_at")?
            .map(from_millis)
            .transpose()?,
        lock_id: row.try_get("lock_id")?,
        bundle: repository
            .zip(digest)
            .map(|(repository, digest)| BundleRef { repository, digest }),
        error: row.try_get("error")?,
        stages: Vec::new(),
        owner: row
            .try_get::<Option<String>, _>("owner_host")?
            .zip(row.try_get::<Option<i64>, _>("owner_pid")?)
            .map(|(host, pid)| Owner {
                host,
                pid: u32::try_from(pid).unwrap_or(0),
            }),
        candidate_version: row.try_get("candidate_version")?,
        cluster: row.try_get("cluster_name")?,
        config: row
            .try_get::<Option<String>, _>("config_commit")?
            .map(|commit| -> Result<ConfigCommit, StoreError> {
                Ok(ConfigCommit {
                    commit,
                    dirty: row.try_get::<Option<i64>, _>("config_dirty")? != Some(0),
                })
            })
            .transpose()?,
        releases: Vec::new(),
        components: Vec::new(),
        tests: Vec::new(),
    })
}

/// Insert `build` as a new row, renewing its id while the id is taken; then its details.
pub(crate) async fn insert_new(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    build: &mut Build,
) -> Result<(), StoreError> {
    loop {
        let inserted = sqlx::query(
            "INSERT INTO builds (id, product, status, trigger_source, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&build.id)
        .bind(&build.product)
        .bind(build.status.as_str())
        .bind(&build.trigger)
        .bind(millis(build.created_at))
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            return write_build(tx, build).await;
        }
        build.renew_id();
    }
}

/// Write a build and its stages, components and tests (insert or replace) in `tx`.
async fn write_build(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    build: &Build,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO builds (id, product, status, trigger_source, created_at, finished_at,
                             lock_id, bundle_repository, bundle_digest, error, owner_host,
                             owner_pid, candidate_version, cluster_name, config_commit,
                             config_dirty)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status,
             finished_at = excluded.finished_at, lock_id = excluded.lock_id,
             bundle_repository = excluded.bundle_repository,
             bundle_digest = excluded.bundle_digest, error = excluded.error,
             owner_host = excluded.owner_host, owner_pid = excluded.owner_pid,
             candidate_version = excluded.candidate_version,
             cluster_name = excluded.cluster_name, config_commit = excluded.config_commit,
             config_dirty = excluded.config_dirty
         WHERE builds.status IN ('pending', 'running')",
    )
    .bind(&build.id)
    .bind(&build.product)
    .bind(build.status.as_str())
    .bind(&build.trigger)
    .bind(millis(build.created_at))
    .bind(build.finished_at.map(millis))
    .bind(build.lock_id.as_deref())
    .bind(build.bundle.as_ref().map(|b| b.repository.as_str()))
    .bind(build.bundle.as_ref().map(|b| b.digest.as_str()))
    .bind(build.error.as_deref())
    .bind(build.owner.as_ref().map(|o| o.host.as_str()))
    .bind(build.owner.as_ref().map(|o| i64::from(o.pid)))
    .bind(build.candidate_version.as_deref())
    .bind(build.cluster.as_deref())
    .bind(build.config.as_ref().map(|c| c.commit.as_str()))
    .bind(build.config.as_ref().map(|c| i64::from(c.dirty)))
    .execute(&mut **tx)
    .await?;
    for (position, stage) in build.stages.iter().enumerate() {
        sqlx::query(
            "INSERT INTO build_stages (build_id, position, name, status, started_at,
                                       finished_at, message)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (build_id, name) DO UPDATE SET status = excluded.status,
                 started_at = excluded.started_at, finished_at = excluded.finished_at,
                 message = excluded.message",
        )
        .bind(&build.id)
        .bind(position as i64)
        .bind(stage.name.as_str())
        .bind(stage.status.as_str())
        .bind(stage.started_at.map(millis))
        .bind(stage.finished_at.map(millis))
        .bind(stage.message.as_deref())
        .execute(&mut **tx)
        .await?;
    }
    for deploy in &build.components {
        sqlx::query(
            "INSERT INTO build_components (build_id, component, wave, status, started_at,
                                           finished_at, message, log_path)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (build_id, component) DO UPDATE SET status = excluded.status,
                 wave = excluded.wave, started_at = excluded.started_at,
                 finished_at = excluded.finished_at, message = excluded.message,
                 log_path = excluded.log_path",
        )
        .bind(&build.id)
        .bind(&deploy.component)
        .bind(i64::from(deploy.wave))
        .bind(deploy.status.as_str())
        .bind(deploy.started_at.map(millis))
        .bind(deploy.finished_at.map(millis))
        .bind(deploy.message.as_deref())
        .bind(deploy.log.as_deref())
        .execute(&mut **tx)
        .await?;
    }
    for (position, test) in build.tests.iter().enumerate() {
        sqlx::query(
            "INSERT INTO build_tests (build_id, position, name, uses, gate, status, attempts,
                                      started_at, finished_at, message, artefacts)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (build_id, name) DO UPDATE SET status = excluded.status,
                 attempts = excluded.attempts, started_at = excluded.started_at,
                 finished_at = excluded.finished_at, message = excluded.message,
                 artefacts = excluded.artefacts",
        )
        .bind(&build.id)
        .bind(position as i64)
        .bind(&test.name)
        .bind(&test.uses)
        .bind(test.gate.as_str())
        .bind(test.status.as_str())
        .bind(i64::from(test.attempts))
        .bind(test.started_at.map(millis))
        .bind(test.finished_at.map(millis))
        .bind(test.message.as_deref())
        .bind(serde_json::to_string(&test.artefacts).expect("artefacts serialise"))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
