//! A fire time of a product's schedule and what became of it.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// What became of a fire time.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum OccurrenceState {
    /// A build was queued for it.
    Started,
    /// Not started in time (no replica ran, or its starting deadline passed).
    Missed,
    /// Not started because of the concurrency policy.
    Skipped,
}

/// One fire time of a product's schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Occurrence {
    /// The product.
    pub product: String,
    /// When the schedule said to build.
    pub fire_at: Timestamp,
    /// What became of it.
    pub state: OccurrenceState,
    /// The build it started.
    pub build_id: Option<String>,
    /// Why it was missed or skipped.
    pub reason: Option<String>,
    /// When it was recorded (the database's clock).
    pub recorded_at: Timestamp,
}
