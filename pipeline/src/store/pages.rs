//! Pages of the builds, clusters and releases lists: builds and clusters newest first, by the
//! indexes on `(created_at, id)` and `(created_at, name)`; releases highest version first (semver
//! precedence), by the index on `(version_key, build_id)`. Each page starts after the last row
//! of the one before; a page costs the same with 100 rows in the store as with 100,000.

use std::fmt::Write;

use sqlx::Arguments;
use sqlx::any::{AnyArguments, AnyRow};

use super::releases::{release_from_row, select_releases};
use super::{Store, build_from_row, cluster_from_row};
use crate::errors::StoreError;
use crate::resources::build::{Build, Status};
use crate::resources::cluster::{ClusterRecord, ClusterState};
use crate::resources::release::{Release, ReleaseState};

/// Which builds a page shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildFilter {
    /// Only this product's.
    pub product: Option<String>,
    /// Only those with this status.
    pub status: Option<Status>,
}

/// Which releases a page shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseFilter {
    /// Only this product's.
    pub product: Option<String>,
    /// Only those in this state.
    pub state: Option<ReleaseState>,
}

/// Where a row is in its list's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// When it was created, in milliseconds since the epoch (builds, clusters).
    Time(i64),
    /// Its version's precedence key (releases; [`crate::versions::precedence_key`]).
    Version(String),
}

/// Where a page starts: after the row at `position` with key `id` (a build's id, a cluster's
/// name, a release's build).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageStart {
    /// Where the row is in the order.
    pub position: Position,
    /// Its id.
    pub id: String,
}

impl PageStart {
    /// Where the page after `release` starts.
    pub fn after_release(release: &Release) -> Self {
        let key = semver::Version::parse(&release.version).map_or_else(
            |_| release.version.clone(),
            |version| crate::versions::precedence_key(&version),
        );
        Self {
            position: Position::Version(key),
            id: release.build_id.clone(),
        }
    }

    /// Where the page after `build` starts.
    pub fn after(build: &Build) -> Self {
        Self {
            position: Position::Time(build.created_at.as_millisecond()),
            id: build.id.clone(),
        }
    }
}

/// The conditions and arguments of a page's query, built of constant fragments: every value is
/// a bound argument.
#[derive(Default)]
struct PageQuery {
    conditions: Vec<String>,
    arguments: AnyArguments,
}

impl PageQuery {
    /// `column = value`.
    fn equals(&mut self, column: &'static str, value: String) {
        self.arguments.add(value).expect("a text argument binds");
        let n = self.arguments.len();
        self.conditions.push(format!("{column} = ${n}"));
    }

    /// Only rows after `start` in the order `order DESC, key DESC`.
    fn after(&mut self, order: &'static str, key: &'static str, start: &PageStart) {
        let bound = match &start.position {
            Position::Time(time) => self.arguments.add(*time),
            Position::Version(version) => self.arguments.add(version.clone()),
        };
        bound.expect("an integer or a text argument binds");
        let position = self.arguments.len();
        self.arguments
            .add(start.id.clone())
            .expect("a text argument binds");
        let id = self.arguments.len();
        self.conditions.push(format!(
            "({order} < ${position} OR ({order} = ${position} AND {key} < ${id}))"
        ));
    }

    /// The first `limit` rows of `select` (a `SELECT … FROM table `) in the order
    /// `order DESC, key DESC`.
    async fn fetch(
        mut self,
        store: &Store,
        select: &str,
        order: &'static str,
        key: &'static str,
        limit: u32,
    ) -> Result<Vec<AnyRow>, StoreError> {
        let mut sql = select.to_owned();
        if !self.conditions.is_empty() {
            sql.push_str("WHERE ");
            sql.push_str(&self.conditions.join(" AND "));
        }
        self.arguments
            .add(i64::from(limit))
            .expect("an integer binds");
        let _ = write!(
            sql,
            " ORDER BY {order} DESC, {key} DESC LIMIT ${}",
            self.arguments.len()
        );
        Ok(sqlx::query_with(sqlx::AssertSqlSafe(sql), self.arguments)
            .fetch_all(&store.pool)
            .await?)
    }
}

impl Store {
    /// One page of builds, newest first, without their stages, components and tests (one
    /// query; `build` has them).
    pub async fn build_page(
        &self,
        filter: &BuildFilter,
        limit: u32,
        start: Option<&PageStart>,
    ) -> Result<Vec<Build>, StoreError> {
        let mut query = PageQuery::default();
        if let Some(product) = &filter.product {
            query.equals("product", product.clone());
        }
        if let Some(status) = filter.status {
            query.equals("status", status.as_str().to_owned());
        }
        if let Some(start) = start {
            query.after("created_at", "id", start);
        }
        let rows = query
            .fetch(self, select_builds!(""), "created_at", "id", limit)
            .await?;
        rows.iter().map(build_from_row).collect()
    }

    /// One page of recorded clusters, newest first (by the index on `(created_at, name)`);
    /// only those in `state` if given.
    pub async fn cluster_page(
        &self,
        state: Option<ClusterState>,
        limit: u32,
        start: Option<&PageStart>,
    ) -> Result<Vec<ClusterRecord>, StoreError> {
        let mut query = PageQuery::default();
        if let Some(state) = state {
            query.equals("state", state.as_str().to_owned());
        }
        if let Some(start) = start {
            query.after("created_at", "name", start);
        }
        let rows = query
            .fetch(self, select_clusters!(""), "created_at", "name", limit)
            .await?;
        rows.iter().map(cluster_from_row).collect()
    }

    /// One page of releases, highest version first (semver precedence), with their decisions
    /// and journals; candidates past their expiry are marked expired first.
    pub async fn release_page(
        &self,
        filter: &ReleaseFilter,
        limit: u32,
        start: Option<&PageStart>,
    ) -> Result<Vec<Release>, StoreError> {
        self.expire_releases(filter.product.as_deref()).await?;
        let mut query = PageQuery::default();
        if let Some(product) = &filter.product {
            query.equals("product", product.clone());
        }
        if let Some(state) = filter.state {
            query.equals("state", state.as_str().to_owned());
        }
        if let Some(start) = start {
            query.after("version_key", "build_id", start);
        }
        let rows = query
            .fetch(self, select_releases!(""), "version_key", "build_id", limit)
            .await?;
        let mut releases = Vec::with_capacity(rows.len());
        for row in &rows {
            releases.push(self.release_details(release_from_row(row)?).await?);
        }
        Ok(releases)
    }
}
