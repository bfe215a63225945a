//! The Delivery record: one message about one build to one notifier, its state and attempts,
//! recorded before it is sent.

use chorale_reports::{ChannelKind, Event, Message, NotifierConfig, RetryPolicy};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::API_VERSION;
use super::meta::{BUILD_LABEL, ObjectMeta, list_resource};

/// Where a delivery is; its name (`delivered`, …) is what the database and the CLI show.
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
#[strum(serialize_all = "lowercase", parse_err_fn = unknown_delivery_state, parse_err_ty = String)]
pub enum DeliveryState {
    /// Recorded, or waiting for its next attempt.
    Pending,
    /// An attempt is under way.
    Sending,
    /// The receiver accepted it.
    Delivered,
    /// Given up: a final error, or no attempt left.
    Failed,
}

fn unknown_delivery_state(text: &str) -> String {
    format!("unknown delivery state `{text}`")
}

impl DeliveryState {
    /// The lower-case name used in the database and the CLI.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One message about one build to one notifier, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// 16 hex digits.
    pub id: String,
    /// The build it is about.
    pub build_id: String,
    /// The notifier's name in the product.
    pub notifier: String,
    /// The kind of channel.
    pub channel: ChannelKind,
    /// What it announces.
    pub event: Event,
    /// The version it announces, for `released` (a build may release an rc and the final
    /// version it is promoted to, each announced once).
    pub version: Option<String>,
    /// Where it is.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// Why the last failed attempt (or the preparation) failed; kept after a later success.
    /// Never holds a secret: endpoints are shown as scheme, host and port.
    pub last_error: Option<String>,
    /// When it was recorded.
    pub created_at: Timestamp,
    /// When its record last changed.
    pub updated_at: Timestamp,
}

/// Which message goes where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliverySpec {
    /// The build it is about.
    pub build: String,
    /// The notifier's name in the product.
    pub notifier: String,
    /// The kind of channel: `slack`, `dingtalk`, `lark`, `teams`, `webhook`, `email`.
    #[schema(value_type = String)]
    pub channel: ChannelKind,
    /// What it announces: `success`, `failure`, `skipped`, …
    #[schema(value_type = String)]
    pub event: Event,
    /// The version it announces, for `released`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// How far a delivery got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryStatus {
    /// `pending`, `sending`, `delivered` or `failed`.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// Why the last failed attempt failed; endpoints shown as scheme, host and port only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When its record last changed.
    pub updated_at: Timestamp,
}

/// A delivery as a resource: its id as name, its build as label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryDocument {
    /// `chorale.dev/v1alpha1`.
    pub api_version: String,
    /// `Delivery`.
    pub kind: String,
    /// Its id, its build as label, when it was recorded.
    pub metadata: ObjectMeta,
    /// Build, notifier, channel and event.
    pub spec: DeliverySpec,
    /// State and attempts.
    pub status: DeliveryStatus,
}

impl From<Delivery> for DeliveryDocument {
    fn from(delivery: Delivery) -> Self {
        Self {
            api_version: API_VERSION.to_owned(),
            kind: "Delivery".to_owned(),
            metadata: ObjectMeta::labelled(
                delivery.id,
                Some(delivery.created_at),
                BUILD_LABEL,
                &delivery.build_id,
            ),
            spec: DeliverySpec {
                build: delivery.build_id,
                notifier: delivery.notifier,
                channel: delivery.channel,
                event: delivery.event,
                version: delivery.version,
            },
            status: DeliveryStatus {
                state: delivery.state,
                attempts: delivery.attempts,
                last_error: delivery.last_error,
                updated_at: delivery.updated_at,
            },
        }
    }
}

impl From<DeliveryDocument> for Delivery {
    fn from(document: DeliveryDocument) -> Self {
        let DeliveryDocument {
            metadata,
            spec,
            status,
            ..
        } = document;
        Self {
            id: metadata.name,
            build_id: spec.build,
            notifier: spec.notifier,
            channel: spec.channel,
            event: spec.event,
            version: spec.version,
            state: status.state,
            attempts: status.attempts,
            last_error: status.last_error,
            created_at: metadata.creation_timestamp.unwrap_or(Timestamp::UNIX_EPOCH),
            updated_at: status.updated_at,
        }
    }
}

list_resource!(
    /// Deliveries, newest first.
    DeliveryList of DeliveryDocument
);

/// A delivery with what it takes to send it again; none of it is a secret.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    /// The delivery.
    pub delivery: Delivery,
    /// The notifier's configuration: where its secrets are, not what they are.
    pub config: NotifierConfig,
    /// The message, built once; `None` when it could not be built.
    pub message: Option<Message>,
    /// The retries it is allowed.
    pub policy: RetryPolicy,
    /// Until when its sender is known to be alive.
    pub lease_until: Option<Timestamp>,
}

/// What an attempt changed in a delivery's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryUpdate {
    /// The new state.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// The new last error; `None` keeps the recorded one.
    pub last_error: Option<String>,
    /// Until when the sender is known to be alive; `None` once nothing more will happen.
    pub lease_until: Option<Timestamp>,
}
