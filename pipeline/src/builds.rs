//! The Build resource: one run of the pipeline for a product, with its stages.

use chorale_test_jobs::Gate;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// How a build or a stage ended, or that it has not yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not started.
    Pending,
    /// Under way.
    Running,
    /// Finished and everything passed.
    Succeeded,
    /// Finished with a failure.
    Failed,
    /// Not run because something it needed failed.
    Skipped,
    /// Stopped from outside (the process died or was killed) before it finished.
    Interrupted,
}

impl Status {
    /// The lower-case name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Interrupted => "interrupted",
        }
    }

    /// Whether nothing more will happen to it.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending | Self::Running)
    }
}

impl std::str::FromStr for Status {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        [
            Self::Pending,
            Self::Running,
            Self::Succeeded,
            Self::Failed,
            Self::Skipped,
            Self::Interrupted,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| format!("unknown status `{text}`"))
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stage of a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    /// `snapshot`, `bundle`, …
    pub name: String,
    /// Where it is.
    pub status: Status,
    /// When it started.
    pub started_at: Option<Timestamp>,
    /// When it ended.
    pub finished_at: Option<Timestamp>,
    /// What went wrong, or a one-line summary.
    pub message: Option<String>,
}

/// Where a build's bundle went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleRef {
    /// `host[:port]/path` of a registry repository or `oci:DIR` of an image layout.
    pub repository: String,
    /// The manifest digest.
    pub digest: String,
}

/// One run of the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Build {
    /// `YYYYMMDD-HHMMSS-xxxx` (UTC), sortable and short enough to type.
    pub id: String,
    /// The product's name.
    pub product: String,
    /// Overall status.
    pub status: Status,
    /// Who started it: `cli`, `schedule`, `api`.
    pub trigger: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it ended.
    pub finished_at: Option<Timestamp>,
    /// The lock it built, once snapshotted.
    pub lock_id: Option<String>,
    /// The bundle, once pushed.
    pub bundle: Option<BundleRef>,
    /// Why it failed.
    pub error: Option<String>,
    /// Its stages in order.
    pub stages: Vec<Stage>,
    /// The process running it while it runs (to tell a live build from an interrupted one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// The version it would publish, e.g. `1.0.20261123`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_version: Option<String>,
    /// The name of its test cluster, once provisioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Every component's deploy, in wave order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ComponentDeploy>,
    /// Every test of the plan, in plan order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<TestRun>,
}

/// The process that runs a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    /// Its host name.
    pub host: String,
    /// Its process id.
    pub pid: u32,
}

/// One component's deploy in a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentDeploy {
    /// The component (and its helm release).
    pub component: String,
    /// Its wave, from 0: every component of a wave depends only on earlier waves.
    pub wave: u32,
    /// `pending`, `running`, `succeeded`, `failed`, or `skipped` when a dependency failed.
    pub status: Status,
    /// When helm started.
    pub started_at: Option<Timestamp>,
    /// When helm ended.
    pub finished_at: Option<Timestamp>,
    /// Why it failed or was skipped.
    pub message: Option<String>,
    /// Helm's output, relative to the build's folder.
    pub log: Option<String>,
}

/// One test of a build's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestRun {
    /// The test's name in the plan.
    pub name: String,
    /// The catalogue entry it uses.
    pub uses: String,
    /// Whether its failure fails the build.
    pub gate: Gate,
    /// How it ended; `succeeded` after a retry means flaky.
    pub status: Status,
    /// Runs made (1 + retries used).
    pub attempts: u32,
    /// When its first attempt started.
    pub started_at: Option<Timestamp>,
    /// When its last attempt ended.
    pub finished_at: Option<Timestamp>,
    /// Why it failed, in one line.
    pub message: Option<String>,
    /// Its JUnit documents and logs.
    pub artefacts: TestArtefacts,
}

impl TestRun {
    /// Passed, but only on a retry.
    pub fn is_flaky(&self) -> bool {
        self.status == Status::Succeeded && self.attempts > 1
    }
}

/// Files a test left, relative to the build's folder (`STATE/builds/ID/`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestArtefacts {
    /// JUnit XML documents of the last attempt.
    #[serde(default)]
    pub junit: Vec<String>,
    /// Pod logs of every attempt.
    #[serde(default)]
    pub logs: Vec<String>,
}

impl Build {
    /// A new running build of `product` with the given stages pending.
    pub fn start(product: &str, trigger: &str, stages: &[&str]) -> Self {
        let now = Timestamp::now();
        Self {
            id: new_build_id(now),
            product: product.to_owned(),
            status: Status::Running,
            trigger: trigger.to_owned(),
            created_at: now,
            finished_at: None,
            lock_id: None,
            bundle: None,
            error: None,
            stages: stages
                .iter()
                .map(|name| Stage {
                    name: (*name).to_owned(),
                    status: Status::Pending,
                    started_at: None,
                    finished_at: None,
                    message: None,
                })
                .collect(),
            owner: None,
            candidate_version: None,
            cluster: None,
            components: Vec::new(),
            tests: Vec::new(),
        }
    }

    /// The stage called `name`.
    pub fn stage_mut(&mut self, name: &str) -> &mut Stage {
        self.stages
            .iter_mut()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("build has no stage `{name}`"))
    }

    /// Mark stage `name` running.
    pub fn begin_stage(&mut self, name: &str) {
        let stage = self.stage_mut(name);
        stage.status = Status::Running;
        stage.started_at = Some(Timestamp::now());
    }

    /// Mark stage `name` ended with `status`.
    pub fn end_stage(&mut self, name: &str, status: Status, message: Option<String>) {
        let stage = self.stage_mut(name);
        stage.status = status;
        stage.finished_at = Some(Timestamp::now());
        stage.message = message;
    }

    /// End the build: stages not yet run become skipped.
    pub fn finish(&mut self, status: Status, error: Option<String>) {
        for stage in &mut self.stages {
            if !stage.status.is_final() {
                stage.status = if stage.status == Status::Running {
                    status
                } else {
                    Status::Skipped
                };
                stage.finished_at.get_or_insert_with(Timestamp::now);
            }
        }
        self.status = status;
        self.error = error;
        self.finished_at = Some(Timestamp::now());
    }
}

/// A build id from a time and 16 random bits.
fn new_build_id(now: Timestamp) -> String {
    let time = now.strftime("%Y%m%d-%H%M%S");
    format!("{time}-{:04x}", rand::random::<u16>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_look_like_dates() {
        let id = Build::start("demo", "cli", &[]).id;
        assert_eq!(id.len(), "20261123-153000-abcd".len(), "{id}");
        assert!(id.starts_with("20"), "{id}");
    }

    #[test]
    fn finishing_skips_what_never_ran() {
        let mut build = Build::start("demo", "cli", &["snapshot", "bundle"]);
        build.begin_stage("snapshot");
        build.finish(Status::Failed, Some("boom".to_owned()));
        assert_eq!(build.stages[0].status, Status::Failed);
        assert_eq!(build.stages[1].status, Status::Skipped);
        assert_eq!(build.status, Status::Failed);
        assert!(build.finished_at.is_some());
    }
}
