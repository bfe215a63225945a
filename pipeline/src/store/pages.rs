//! Pages of the builds list: newest first, by the index on `(created_at, id)`, each page
//! starting after the last build of the one before. A page costs the same with 100 builds in
//! the store as with 100,000.

use std::fmt::Write;

use sqlx::Arguments;
use sqlx::any::AnyArguments;

use super::{Store, build_from_row};
use crate::errors::StoreError;
use crate::resources::build::{Build, Status};

/// Which builds a page shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildFilter {
    /// Only this product's.
    pub product: Option<String>,
    /// Only those with this status.
    pub status: Option<Status>,
}

/// Where a page starts: after the build created at `created_at` (ms) with id `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageStart {
    /// Its creation time, in milliseconds since the epoch.
    pub created_at: i64,
    /// Its id.
    pub id: String,
}

impl PageStart {
    /// Where the page after `build` starts.
    pub fn after(build: &Build) -> Self {
        Self {
            created_at: build.created_at.as_millisecond(),
            id: build.id.clone(),
        }
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
        let mut conditions = Vec::new();
        let mut arguments = AnyArguments::default();
        let mut bind = |conditions: &mut Vec<String>, condition: &str, values: Vec<String>| {
            let mut text = condition.to_owned();
            for value in values {
                arguments.add(value).expect("a text argument binds");
                text = text.replacen('?', &format!("${}", arguments.len()), 1);
            }
            conditions.push(text);
        };
        if let Some(product) = &filter.product {
            bind(&mut conditions, "product = ?", vec![product.clone()]);
        }
        if let Some(status) = filter.status {
            bind(
                &mut conditions,
                "status = ?",
                vec![status.as_str().to_owned()],
            );
        }
        let mut sql = select_builds!("").to_owned();
        if let Some(start) = start {
            arguments.add(start.created_at).expect("an integer binds");
            let time = arguments.len();
            arguments
                .add(start.id.clone())
                .expect("a text argument binds");
            let id = arguments.len();
            conditions.push(format!(
                "(created_at < ${time} OR (created_at = ${time} AND id < ${id}))"
            ));
        }
        if !conditions.is_empty() {
            sql.push_str("WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        arguments.add(i64::from(limit)).expect("an integer binds");
        let _ = write!(
            sql,
            " ORDER BY created_at DESC, id DESC LIMIT ${}",
            arguments.len()
        );
        // Built only of the constant fragments above; every value is a bound argument.
        let rows = sqlx::query_with(sqlx::AssertSqlSafe(sql), arguments)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(build_from_row).collect()
    }
}
