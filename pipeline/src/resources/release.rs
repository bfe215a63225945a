//! The Release resource: a version of a product pointing at a green build's bundle digest,
//! with every decision taken on it (who, with which role, when, why, whether it overrode a red
//! build), and the policy words of `spec.release` it follows.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::API_VERSION;
use super::access::Role;
use super::build::BundleRef;
use super::meta::{BUILD_LABEL, ObjectMeta, PRODUCT_LABEL, list_resource};

/// `spec.release.policy`: who turns a green build into a version.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    strum::Display,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ApprovalPolicy {
    /// Release managers approve (or reject) each candidate.
    #[default]
    Manual,
    /// Every green build is approved at once.
    Auto,
}

/// `spec.release.channel`: the shape of the versions.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    strum::Display,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ReleaseChannel {
    /// `MAJOR.MINOR.YYYYMMDD`.
    #[default]
    Daily,
    /// `MAJOR.MINOR.PATCH-rc.N`.
    Prerelease,
}

/// Where a release is in its life; its name (`candidate`, …) is what the API, the database and
/// the CLI show.
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
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case", parse_err_fn = unknown_release_state, parse_err_ty = String)]
pub enum ReleaseState {
    /// A green build waiting for its approvals.
    Candidate,
    /// Approved by as many release managers as the policy needs (or by the `auto` policy).
    Approved,
    /// A release manager rejected it.
    Rejected,
    /// Nobody approved it before `approvalExpires` ran out.
    Expired,
    /// Its publishing journal is being worked through (or its process died and the next one
    /// resumes it).
    Publishing,
    /// A publishing step failed for good; `chorale release publish --resume` continues after
    /// the cause is fixed.
    PublishFailed,
    /// Its version is published.
    Published,
}

fn unknown_release_state(text: &str) -> String {
    format!(
        "unknown release state `{text}`; the states are candidate, approved, rejected, expired, publishing, publish-failed and published"
    )
}

impl ReleaseState {
    /// The lower-case name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the release holds its version (no other release of the product may take it).
    pub fn holds_version(self) -> bool {
        !matches!(self, Self::Rejected | Self::Expired)
    }
}

/// One step of publishing a release, in the order they run.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase", parse_err_fn = unknown_step, parse_err_ty = String)]
pub enum PublishStep {
    /// Tag the bundle digest (and each chart) with the version in the release registry.
    Registry,
    /// Put an annotated tag on the configuration commit the build used.
    Git,
    /// Make (or reuse) the GitHub release of that tag, with notes and the lock.
    Github,
    /// Send the `released` notification.
    Notify,
}

fn unknown_step(text: &str) -> String {
    format!("unknown publishing step `{text}`; the steps are registry, git, github and notify")
}

impl PublishStep {
    /// The lower-case name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Where one publishing step is.
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
#[strum(serialize_all = "lowercase", parse_err_fn = unknown_step_state, parse_err_ty = String)]
pub enum StepState {
    /// Recorded before it ran; still so when its process died while it ran.
    Started,
    /// Done (or found done already).
    Done,
    /// Nothing to do: the product does not publish there.
    Skipped,
    /// It failed; the release is `publish-failed`.
    Failed,
}

fn unknown_step_state(text: &str) -> String {
    format!("unknown step state `{text}`; the states are started, done, skipped and failed")
}

impl StepState {
    /// The lower-case name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether a resumed publication goes past the step.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Done | Self::Skipped)
    }
}

/// One entry of a release's publishing journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepRecord {
    /// Which step.
    pub step: PublishStep,
    /// Where it is.
    pub state: StepState,
    /// How many times it was started.
    pub attempts: u32,
    /// What it did (tags written, the GitHub release, deliveries), once done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it was last started.
    pub started_at: Timestamp,
    /// When it last ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
}

/// The step a `publish-failed` release stopped at, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishFailure {
    /// The step that failed.
    pub step: PublishStep,
    /// Its error.
    pub error: String,
}

/// What a release manager decided.
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
#[strum(serialize_all = "lowercase", parse_err_fn = unknown_decision, parse_err_ty = String)]
pub enum Decision {
    /// The build may be released.
    Approve,
    /// It may not.
    Reject,
}

fn unknown_decision(text: &str) -> String {
    format!("unknown decision `{text}`; decide approve or reject")
}

impl Decision {
    /// The lower-case name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One decision on a release, as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseDecision {
    /// Who (`token:NAME`, `oidc:SUBJECT`, `local:USER`, or `policy:auto`).
    pub actor: String,
    /// With which role.
    pub role: Role,
    /// Approve or reject.
    pub decision: Decision,
    /// Why, in their words.
    pub reason: String,
    /// An approval of a build that is not green (the operator's manual accept).
    #[serde(rename = "override")]
    pub overridden: bool,
    /// When.
    pub at: Timestamp,
}

/// A release as Chorale keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// Its semantic version.
    pub version: String,
    /// The product.
    pub product: String,
    /// The build it releases.
    pub build_id: String,
    /// That build's bundle: the digest every tag of the version will point at.
    pub bundle: BundleRef,
    /// The lock the bundle carries.
    pub lock_id: String,
    /// Where it is.
    pub state: ReleaseState,
    /// Distinct approvals it needs.
    pub approvals_needed: u32,
    /// When it became a candidate.
    pub created_at: Timestamp,
    /// When a candidate no longer can be approved.
    pub expires_at: Timestamp,
    /// When it was approved or rejected.
    pub decided_at: Option<Timestamp>,
    /// Every decision, oldest first.
    pub decisions: Vec<ReleaseDecision>,
    /// The release candidate this final version was promoted from.
    pub promoted_from: Option<String>,
    /// When its last publishing step was done.
    pub published_at: Option<Timestamp>,
    /// The step a `publish-failed` release stopped at.
    pub failure: Option<PublishFailure>,
    /// Its publishing journal, in step order.
    pub steps: Vec<StepRecord>,
}

impl Release {
    /// The distinct approvers so far.
    pub fn approvals(&self) -> u32 {
        let count = self
            .decisions
            .iter()
            .filter(|d| d.decision == Decision::Approve)
            .count();
        u32::try_from(count).unwrap_or(u32::MAX)
    }
}

/// What a release is of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseSpec {
    /// The product.
    pub product: String,
    /// Its semantic version.
    pub version: String,
    /// The build it releases.
    pub build: String,
    /// The build's bundle (repository and manifest digest).
    pub bundle: BundleRef,
    /// The lock the bundle carries.
    pub lock_id: String,
    /// Distinct approvals it needs.
    pub approvals_needed: u32,
    /// The release candidate this final version was promoted from (same bundle digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_from: Option<String>,
}

/// Where a release is, and the decisions taken on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseStatus {
    /// `candidate`, `approved`, `rejected`, `expired`, `publishing`, `publish-failed` or
    /// `published`.
    pub state: ReleaseState,
    /// Distinct approvals so far.
    pub approvals: u32,
    /// When a candidate no longer can be approved.
    pub expires_at: Timestamp,
    /// When it was approved or rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Timestamp>,
    /// Every decision, oldest first.
    pub decisions: Vec<ReleaseDecision>,
    /// When it was published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<Timestamp>,
    /// The step a `publish-failed` release stopped at, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<PublishFailure>,
    /// The publishing journal, in step order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepRecord>,
}

/// A release as a resource: its version as name, its product and build as labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseDocument {
    /// `chorale.dev/v1alpha1`.
    pub api_version: String,
    /// `Release`.
    pub kind: String,
    /// The version as name, product and build as labels, when it became a candidate.
    pub metadata: ObjectMeta,
    /// Product, version, build, bundle, lock.
    pub spec: ReleaseSpec,
    /// State and decisions.
    pub status: ReleaseStatus,
}

impl From<Release> for ReleaseDocument {
    fn from(release: Release) -> Self {
        let mut metadata = ObjectMeta::labelled(
            release.version.clone(),
            Some(release.created_at),
            PRODUCT_LABEL,
            &release.product,
        );
        metadata
            .labels
            .insert(BUILD_LABEL.to_owned(), release.build_id.clone());
        let approvals = release.approvals();
        Self {
            api_version: API_VERSION.to_owned(),
            kind: "Release".to_owned(),
            metadata,
            spec: ReleaseSpec {
                product: release.product,
                version: release.version,
                build: release.build_id,
                bundle: release.bundle,
                lock_id: release.lock_id,
                approvals_needed: release.approvals_needed,
                promoted_from: release.promoted_from,
            },
            status: ReleaseStatus {
                state: release.state,
                approvals,
                expires_at: release.expires_at,
                decided_at: release.decided_at,
                decisions: release.decisions,
                published_at: release.published_at,
                failure: release.failure,
                steps: release.steps,
            },
        }
    }
}

impl From<ReleaseDocument> for Release {
    fn from(document: ReleaseDocument) -> Self {
        let ReleaseDocument {
            metadata,
            spec,
            status,
            ..
        } = document;
        Self {
            version: spec.version,
            product: spec.product,
            build_id: spec.build,
            bundle: spec.bundle,
            lock_id: spec.lock_id,
            state: status.state,
            approvals_needed: spec.approvals_needed,
            created_at: metadata.creation_timestamp.unwrap_or(Timestamp::UNIX_EPOCH),
            expires_at: status.expires_at,
            decided_at: status.decided_at,
            decisions: status.decisions,
            promoted_from: spec.promoted_from,
            published_at: status.published_at,
            failure: status.failure,
            steps: status.steps,
        }
    }
}

list_resource!(
    /// A page of releases, highest version first (semver precedence).
    ReleaseList of ReleaseDocument
);

#[cfg(test)]
mod tests {
    use super::*;

    fn release(now: Timestamp) -> Release {
        Release {
            version: "1.0.20261204".to_owned(),
            product: "demo".to_owned(),
            build_id: "20261204-020000-ab12".to_owned(),
            bundle: BundleRef {
                repository: "127.0.0.1:5000/demo".to_owned(),
                digest: format!("sha256:{}", "a".repeat(64)),
            },
            lock_id: format!("sha256:{}", "b".repeat(64)),
            state: ReleaseState::Candidate,
            approvals_needed: 2,
            created_at: now,
            expires_at: now + jiff::SignedDuration::from_hours(72),
            decided_at: None,
            decisions: vec![ReleaseDecision {
                actor: "token:alice".to_owned(),
                role: Role::ReleaseManager,
                decision: Decision::Approve,
                reason: "tests are green".to_owned(),
                overridden: false,
                at: now,
            }],
            promoted_from: None,
            published_at: None,
            failure: Some(PublishFailure {
                step: PublishStep::Git,
                error: "tag v1.0.20261204 exists on another commit".to_owned(),
            }),
            steps: vec![StepRecord {
                step: PublishStep::Registry,
                state: StepState::Done,
                attempts: 1,
                detail: Some("tagged 127.0.0.1:5000/releases/demo:1.0.20261204".to_owned()),
                error: None,
                started_at: now,
                finished_at: Some(now),
            }],
        }
    }

    #[test]
    fn a_release_reads_back_from_its_document_whole() {
        let release = release(Timestamp::now());
        let json = serde_json::to_value(ReleaseDocument::from(release.clone())).unwrap();
        assert_eq!(json["kind"], "Release");
        assert_eq!(json["metadata"]["name"], "1.0.20261204");
        assert_eq!(json["metadata"]["labels"][BUILD_LABEL], release.build_id);
        assert_eq!(json["status"]["approvals"], 1);
        assert_eq!(json["status"]["decisions"][0]["override"], false);
        let document: ReleaseDocument = serde_json::from_value(json).unwrap();
        assert_eq!(Release::from(document), release);
    }

    #[test]
    fn states_and_decisions_have_one_name_each_way() {
        assert_eq!("expired".parse::<ReleaseState>(), Ok(ReleaseState::Expired));
        assert_eq!(ReleaseState::Published.as_str(), "published");
        assert_eq!(
            "publish-failed".parse::<ReleaseState>(),
            Ok(ReleaseState::PublishFailed)
        );
        assert_eq!(
            serde_json::to_value(ReleaseState::PublishFailed).unwrap(),
            serde_json::json!("publish-failed")
        );
        assert_eq!("github".parse::<PublishStep>(), Ok(PublishStep::Github));
        assert!(PublishStep::Registry < PublishStep::Notify);
        assert!(
            "gone"
                .parse::<ReleaseState>()
                .unwrap_err()
                .contains("candidate, approved")
        );
        assert_eq!("reject".parse::<Decision>(), Ok(Decision::Reject));
        assert_eq!(
            serde_json::to_value(Decision::Approve).unwrap(),
            serde_json::json!("approve")
        );
    }
}
