//! The baseline of a build's report: the last green build of the same product before it.

use jiff::Timestamp;

use super::{Store, build_from_row, millis};
use crate::errors::StoreError;
use crate::resources::build::{Build, Status};

impl Store {
    /// The newest build of `product` created before `before`, other than `except`, that
    /// succeeded with a lock: what "changed since the last green build" is counted from.
    pub async fn last_green_build(
        &self,
        product: &str,
        before: Timestamp,
        except: &str,
    ) -> Result<Option<Build>, StoreError> {
        let row = sqlx::query(select_builds!(
            "WHERE product = $1 AND status = $2 AND lock_id IS NOT NULL AND created_at <= $3
               AND id <> $4
             ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .bind(product)
        .bind(Status::Succeeded.as_str())
        .bind(millis(before))
        .bind(except)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(Some(self.with_details(build_from_row(&row)?).await?)),
            None => Ok(None),
        }
    }
}
