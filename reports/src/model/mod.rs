//! The report of one build: plain data that the pipeline fills from its build record.
//!
//! Everything a person reads about a build comes from a [`Report`]. Derived figures (totals,
//! the verdict, the failed tests in reading order) are computed in one place,
//! [`Report::summary`], and every renderer and notifier uses them from there.

mod from_junit;
mod summary;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use from_junit::cases_from_junit;
pub use summary::{DeployTotals, FailedTest, JobTotals, Summary, TestTotals, Verdict};

/// The report of one build of one product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The product's name.
    pub product: String,
    /// The build's id.
    pub build_id: String,
    /// The version this build would be published as (e.g. `1.0.20250301` or `1.0.0-rc.2`).
    pub candidate_version: String,
    /// The lock (snapshot) id, `sha256:…`.
    pub lock_id: String,
    /// The bundle's manifest digest, when the bundle was assembled.
    #[serde(default)]
    pub bundle_digest: Option<String>,
    /// When the report was produced.
    pub generated_at: Timestamp,
    /// Where people can read more.
    #[serde(default)]
    pub links: Links,
    /// The pipeline stages in order.
    #[serde(default)]
    pub stages: Vec<StageRecord>,
    /// The deploy result of every component, in deploy order.
    #[serde(default)]
    pub deploys: Vec<ComponentDeploy>,
    /// The test matrix: every test job of the test plan.
    #[serde(default)]
    pub test_jobs: Vec<TestJobResult>,
    /// What changed since the last green build of the product.
    #[serde(default)]
    pub changes: Changes,
}

/// Links to the full report, the build and the approval page (URLs or paths).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Links {
    /// The full report; chat messages that had to be shortened point here.
    #[serde(default)]
    pub report: Option<String>,
    /// The build's page (dashboard or API).
    #[serde(default)]
    pub build: Option<String>,
    /// Where a release manager approves this build.
    #[serde(default)]
    pub approve: Option<String>,
}

/// One pipeline stage (snapshot, assemble, provision, deploy, test, teardown, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageRecord {
    /// The stage's name.
    pub name: String,
    /// How it ended (or where it is).
    pub status: StageStatus,
    /// When it started.
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    /// When it ended.
    #[serde(default)]
    pub finished_at: Option<Timestamp>,
    /// A one-line explanation, typically of a failure.
    #[serde(default)]
    pub message: Option<String>,
    /// Link to the stage's log (URL or path).
    #[serde(default)]
    pub log: Option<String>,
}

impl StageRecord {
    /// Milliseconds from start to end, when both are known.
    pub fn duration_ms(&self) -> Option<u64> {
        let (start, end) = (self.started_at?, self.finished_at?);
        u64::try_from(end.duration_since(start).as_millis()).ok()
    }
}

/// Where a stage is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum StageStatus {
    /// Not started yet.
    Pending,
    /// Started, not finished.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Not run, by configuration or because an earlier stage failed.
    Skipped,
    /// Stopped from outside (Chorale was killed or the build was cancelled).
    Interrupted,
}

impl StageStatus {
    /// The status as written in reports (`succeeded`, `failed`, …).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether this status lets the build be green: succeeded, or skipped on purpose.
    pub fn is_ok(self) -> bool {
        matches!(self, StageStatus::Succeeded | StageStatus::Skipped)
    }
}

/// The deploy result of one component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentDeploy {
    /// The component's name.
    pub component: String,
    /// How the deploy ended.
    pub status: DeployStatus,
    /// How long `helm upgrade --install` took, in milliseconds.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// The failure, or why it was skipped (e.g. `dependency db failed`).
    #[serde(default)]
    pub message: Option<String>,
    /// Link to the helm output (URL or path).
    #[serde(default)]
    pub log: Option<String>,
}

/// How a component's deploy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployStatus {
    /// Installed and ready.
    Deployed,
    /// The install failed.
    Failed,
    /// Not attempted, because a dependency failed.
    Skipped,
}

/// One test job of the test plan and the test cases it contributed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestJobResult {
    /// The job's name.
    pub name: String,
    /// Whether its failure fails the build.
    pub gate: Gate,
    /// How the job's last attempt ended.
    pub status: JobStatus,
    /// How many times the job ran (1 when it was not retried).
    pub attempts: u32,
    /// Run time of all attempts, in milliseconds.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// A one-line explanation (timeout, image pull failure, …).
    #[serde(default)]
    pub message: Option<String>,
    /// Link to the job's pod logs (URL or path).
    #[serde(default)]
    pub log: Option<String>,
    /// The job's test cases (from its JUnit, or one case from its exit status).
    #[serde(default)]
    pub cases: Vec<TestCaseResult>,
}

impl TestJobResult {
    /// The job passed: its last attempt succeeded and none of its cases failed or errored.
    pub fn passed(&self) -> bool {
        self.status == JobStatus::Passed && self.cases.iter().all(|case| !case.outcome.is_bad())
    }

    /// The job passed, but only after a retry of the job or of one of its cases.
    pub fn flaky(&self) -> bool {
        self.passed() && (self.attempts > 1 || self.cases.iter().any(|case| case.flaky))
    }
}

/// Whether a test job decides the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Gate {
    /// A failure makes the build red.
    Blocking,
    /// A failure is reported but does not change the verdict.
    Informing,
}

impl Gate {
    /// `blocking` or `informing`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// How a test job's last attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum JobStatus {
    /// The job completed successfully.
    Passed,
    /// The job completed and reported failures.
    Failed,
    /// The job could not run (image pull, scheduling, a crash outside the tests).
    Errored,
    /// The job exceeded its timeout.
    TimedOut,
    /// The job was not run (deploy failed, or it was filtered out).
    Skipped,
}

impl JobStatus {
    /// The status as written in reports (`passed`, `timed-out`, …).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One test case of a test job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestCaseResult {
    /// The suite path (JUnit suite names, outermost first, joined with ` / `).
    pub suite: String,
    /// The JUnit `classname`, when there is one.
    #[serde(default)]
    pub classname: Option<String>,
    /// The test's name.
    pub name: String,
    /// How its last attempt ended.
    pub outcome: CaseOutcome,
    /// How many times it ran (more than 1 when it, or its job, was retried).
    pub attempts: u32,
    /// It passed in the end, but an earlier attempt failed or errored.
    #[serde(default)]
    pub flaky: bool,
    /// Run time of the last attempt, in milliseconds.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// One line: the failure message, the skip reason, or for a flaky case the first failure.
    #[serde(default)]
    pub message: Option<String>,
    /// The failure's text (trace, assertion output), bounded in size.
    #[serde(default)]
    pub details: Option<String>,
}

/// How a test case's last attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseOutcome {
    /// Passed.
    Passed,
    /// An assertion failed.
    Failed,
    /// The test could not run to an assertion.
    Errored,
    /// Skipped.
    Skipped,
}

impl CaseOutcome {
    /// Failed or errored.
    pub fn is_bad(self) -> bool {
        matches!(self, CaseOutcome::Failed | CaseOutcome::Errored)
    }
}

/// What changed since the last green build of the product.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Changes {
    /// The last green build compared against; `None` when there was none yet.
    #[serde(default)]
    pub baseline: Option<Baseline>,
    /// The components that differ, in product order.
    #[serde(default)]
    pub components: Vec<ComponentChange>,
}

/// The build that changes are counted from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Baseline {
    /// Its build id.
    pub build_id: String,
    /// Its version, when it was published.
    #[serde(default)]
    pub version: Option<String>,
    /// Its lock id.
    pub lock_id: String,
}

/// How one component differs from the baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentChange {
    /// The component's name.
    pub component: String,
    /// Added, removed or updated.
    pub change: ChangeKind,
    /// The baseline's locked commit.
    #[serde(default)]
    pub from_commit: Option<String>,
    /// This build's locked commit.
    #[serde(default)]
    pub to_commit: Option<String>,
    /// The commits between the two, newest first.
    #[serde(default)]
    pub commits: Vec<Commit>,
    /// Commits in the range that are not listed (the list was capped).
    #[serde(default)]
    pub commits_omitted: usize,
    /// The chart digest, when it moved.
    #[serde(default)]
    pub chart: Option<DigestMove>,
    /// The image digests that moved.
    #[serde(default)]
    pub images: Vec<DigestMove>,
}

/// How a component changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// New in this build.
    Added,
    /// Gone since the baseline.
    Removed,
    /// Present in both, different commit or digests.
    Updated,
}

/// One commit of a component's change range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Commit {
    /// The full commit id.
    pub id: String,
    /// The abbreviated id shown to people.
    pub short_id: String,
    /// The first line of the message.
    pub subject: String,
    /// The author's name.
    pub author: String,
}

/// A digest that moved: a chart or an image reference, old and new digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestMove {
    /// The chart name or image reference (without digest).
    pub reference: String,
    /// The baseline's digest (`None` when the reference is new).
    #[serde(default)]
    pub from: Option<String>,
    /// This build's digest (`None` when the reference is gone).
    #[serde(default)]
    pub to: Option<String>,
}
