//! The Build resource: one run of the pipeline for a product, with its stages.

use chorale_test_jobs::Gate;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::API_VERSION;
use super::meta::{ObjectMeta, PRODUCT_LABEL, list_resource};

/// How a build or a stage ended, or that it has not yet. Its name (`succeeded`, …) is what the
/// API, the database and the CLI show.
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
#[strum(serialize_all = "lowercase", parse_err_fn = unknown_status, parse_err_ty = String)]
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

fn unknown_status(text: &str) -> String {
    format!("unknown status `{text}`")
}

impl Status {
    /// The lower-case name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether nothing more will happen to it.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending | Self::Running)
    }
}

/// A stage of the pipeline, in the order a full build runs them.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
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
#[strum(serialize_all = "lowercase", parse_err_fn = unknown_stage, parse_err_ty = String)]
pub enum Stage {
    /// Every component resolved into the lock.
    Snapshot,
    /// The lock, the charts and the tests pushed as one OCI artifact.
    Bundle,
    /// The test cluster made.
    Provision,
    /// The charts installed in dependency waves.
    Deploy,
    /// The test plan run.
    Test,
    /// The test cluster deleted.
    Teardown,
}

fn unknown_stage(text: &str) -> String {
    format!("unknown stage `{text}`")
}

impl Stage {
    /// The stages of `chorale bundle`.
    pub const BUNDLE: [Self; 2] = [Self::Snapshot, Self::Bundle];
    /// The stages of `chorale run`, in order.
    pub const RUN: [Self; 6] = [
        Self::Snapshot,
        Self::Bundle,
        Self::Provision,
        Self::Deploy,
        Self::Test,
        Self::Teardown,
    ];

    /// The lower-case name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One stage of a build: where it is and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageRun {
    /// Which stage.
    pub name: Stage,
    /// Where it is.
    pub status: Status,
    /// When it started.
    pub started_at: Option<Timestamp>,
    /// When it ended.
    pub finished_at: Option<Timestamp>,
    /// What went wrong, or a one-line summary.
    pub message: Option<String>,
}

impl StageRun {
    /// How long it took, once it has ended.
    pub fn seconds(&self) -> Option<f64> {
        let span = self.finished_at? - self.started_at?;
        span.total(jiff::Unit::Second).ok()
    }
}

/// Where a build's bundle went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundleRef {
    /// `host[:port]/path` of a registry repository or `oci:DIR` of an image layout.
    pub repository: String,
    /// The manifest digest.
    pub digest: String,
}

/// A version a build is released as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildRelease {
    /// The version.
    pub version: String,
    /// Where its release is.
    pub state: crate::resources::release::ReleaseState,
}

/// The commit of the product's configuration (the git work tree its manifest is in) a build
/// used: what a release's git tag is put on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigCommit {
    /// The 40-hex commit of the work tree's `HEAD`.
    pub commit: String,
    /// Whether the work tree had changes not committed: the build did not use that commit
    /// exactly, and cannot be tagged on it.
    pub dirty: bool,
}

/// One run of the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
    pub stages: Vec<StageRun>,
    /// The process running it while it runs (to tell a live build from an interrupted one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// The version it would publish, e.g. `1.0.20261123`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_version: Option<String>,
    /// The name of its test cluster, once provisioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The commit of the product's configuration, when its manifest is in a git work tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigCommit>,
    /// The versions it is released as (its candidate, and the final version an rc of it was
    /// promoted to), oldest first; read from the releases, never stored with the build.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub releases: Vec<BuildRelease>,
    /// Every component's deploy, in wave order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ComponentDeploy>,
    /// Every test of the plan, in plan order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<TestRun>,
}

/// The process that runs a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    /// Its host name.
    pub host: String,
    /// Its process id.
    pub pid: u32,
}

/// One component's deploy in a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestRun {
    /// The test's name in the plan.
    pub name: String,
    /// The catalogue entry it uses.
    pub uses: String,
    /// Whether its failure fails the build: `blocking` or `informing`.
    #[schema(value_type = String)]
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
    pub fn start(product: &str, trigger: &str, stages: &[Stage]) -> Self {
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
                .map(|name| StageRun {
                    name: *name,
                    status: Status::Pending,
                    started_at: None,
                    finished_at: None,
                    message: None,
                })
                .collect(),
            owner: None,
            candidate_version: None,
            cluster: None,
            config: None,
            releases: Vec::new(),
            components: Vec::new(),
            tests: Vec::new(),
        }
    }

    /// Give the build a new id of the same second: its id was taken (16 random bits make a
    /// collision likely once a few hundred builds start in one second).
    pub fn renew_id(&mut self) {
        self.id = new_build_id(self.created_at);
    }

    /// The stage `name`, if the build has it.
    pub fn stage(&self, name: Stage) -> Option<&StageRun> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// The stage `name`; a stage the build was not started with is added after the others.
    pub fn stage_mut(&mut self, name: Stage) -> &mut StageRun {
        let index = self
            .stages
            .iter()
            .position(|s| s.name == name)
            .unwrap_or_else(|| {
                self.stages.push(StageRun {
                    name,
                    status: Status::Pending,
                    started_at: None,
                    finished_at: None,
                    message: None,
                });
                self.stages.len() - 1
            });
        &mut self.stages[index]
    }

    /// Mark stage `name` running.
    pub fn begin_stage(&mut self, name: Stage) {
        let stage = self.stage_mut(name);
        stage.status = Status::Running;
        stage.started_at = Some(Timestamp::now());
    }

    /// Mark stage `name` ended with `status`.
    pub fn end_stage(&mut self, name: Stage, status: Status, message: Option<String>) {
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

/// Where a build's product comes from, recorded with the build so that whichever process runs
/// it, or reaps it when its process is gone, loads the same product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "source")]
pub enum ProductSource {
    /// A registered product: its manifest as registered (the product and its components as a
    /// multi-document body) at that generation.
    #[serde(rename_all = "camelCase")]
    Registered {
        /// The product's name.
        name: String,
        /// The generation the build uses.
        generation: i64,
        /// The manifest.
        body: String,
    },
    /// A product file (`chorale run FILE`).
    File {
        /// The file.
        path: std::path::PathBuf,
    },
}

/// What a build was asked with, as its record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRequest {
    /// Its product.
    pub product: ProductSource,
    /// Whether an unchanged lock ends it skipped.
    #[serde(default)]
    pub skip_unchanged: bool,
}

/// What a build was asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildSpec {
    /// The product built.
    pub product: String,
    /// Who started it: `cli`, `schedule`, `api`.
    pub trigger: String,
}

/// What became of a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildStatus {
    /// Where the build is: `pending`, `running`, `succeeded`, `failed`, `skipped`,
    /// `interrupted`.
    pub phase: Status,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// Why it failed, or why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The lock it built, once snapshotted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_id: Option<String>,
    /// The bundle, once pushed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle: Option<BundleRef>,
    /// The version it would publish, e.g. `1.0.20261123`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_version: Option<String>,
    /// The name of its test cluster, once provisioned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The process running it while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// The commit of the product's configuration, when its manifest is in a git work tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigCommit>,
    /// The versions it is released as, with their state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub releases: Vec<BuildRelease>,
    /// Its stages in order (not in lists).
    pub stages: Vec<StageRun>,
    /// Every component's deploy, in wave order (not in lists).
    pub components: Vec<ComponentDeploy>,
    /// Every test of the plan, in plan order (not in lists).
    pub tests: Vec<TestRun>,
}

/// A build as a resource: its id as name, its product as label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildDocument {
    /// `chorale.dev/v1alpha1`.
    pub api_version: String,
    /// `Build`.
    pub kind: String,
    /// The build id as name, its product as label, when it was made.
    pub metadata: ObjectMeta,
    /// Product and trigger.
    pub spec: BuildSpec,
    /// Phase, stages, components, tests, lock, bundle.
    pub status: BuildStatus,
}

impl From<Build> for BuildDocument {
    fn from(build: Build) -> Self {
        Self {
            api_version: API_VERSION.to_owned(),
            kind: "Build".to_owned(),
            metadata: ObjectMeta::labelled(
                build.id,
                Some(build.created_at),
                PRODUCT_LABEL,
                &build.product,
            ),
            spec: BuildSpec {
                product: build.product,
                trigger: build.trigger,
            },
            status: BuildStatus {
                phase: build.status,
                finished_at: build.finished_at,
                error: build.error,
                lock_id: build.lock_id,
                bundle: build.bundle,
                candidate_version: build.candidate_version,
                cluster: build.cluster,
                owner: build.owner,
                config: build.config,
                releases: build.releases,
                stages: build.stages,
                components: build.components,
                tests: build.tests,
            },
        }
    }
}

impl From<BuildDocument> for Build {
    fn from(document: BuildDocument) -> Self {
        let BuildDocument {
            metadata,
            spec,
            status,
            ..
        } = document;
        Self {
            id: metadata.name,
            product: spec.product,
            status: status.phase,
            trigger: spec.trigger,
            created_at: metadata.creation_timestamp.unwrap_or(Timestamp::UNIX_EPOCH),
            finished_at: status.finished_at,
            lock_id: status.lock_id,
            bundle: status.bundle,
            error: status.error,
            stages: status.stages,
            owner: status.owner,
            candidate_version: status.candidate_version,
            cluster: status.cluster,
            config: status.config,
            releases: status.releases,
            components: status.components,
            tests: status.tests,
        }
    }
}

list_resource!(
    /// A page of builds, newest first, without their stages, components and tests.
    BuildList of BuildDocument
);

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
        let mut build = Build::start("demo", "cli", &Stage::BUNDLE);
        build.begin_stage(Stage::Snapshot);
        build.finish(Status::Failed, Some("boom".to_owned()));
        assert_eq!(build.stages[0].status, Status::Failed);
        assert_eq!(build.stages[1].status, Status::Skipped);
        assert_eq!(build.status, Status::Failed);
        assert!(build.finished_at.is_some());
    }

    #[test]
    fn stages_and_statuses_have_one_name_each_way() {
        for stage in <Stage as strum::VariantArray>::VARIANTS {
            assert_eq!(stage.as_str().parse::<Stage>(), Ok(*stage));
            assert_eq!(
                serde_json::to_value(stage).unwrap(),
                serde_json::json!(stage.as_str())
            );
        }
        assert_eq!(Stage::Teardown.to_string(), "teardown");
        assert_eq!(
            "cleanup".parse::<Stage>(),
            Err("unknown stage `cleanup`".to_owned())
        );
        assert_eq!("interrupted".parse::<Status>(), Ok(Status::Interrupted));
        assert_eq!(
            "done".parse::<Status>(),
            Err("unknown status `done`".to_owned())
        );
    }

    #[test]
    fn a_build_reads_back_from_its_document_whole() {
        let mut build = Build::start("demo", "api", &Stage::RUN);
        build.begin_stage(Stage::Snapshot);
        build.lock_id = Some("sha256:ab".to_owned());
        build.owner = Some(Owner {
            host: "vm".to_owned(),
            pid: 7,
        });
        build.finish(Status::Failed, Some("boom".to_owned()));
        let json = serde_json::to_string(&BuildDocument::from(build.clone())).unwrap();
        let document: BuildDocument = serde_json::from_str(&json).unwrap();
        assert_eq!(document.status.phase, Status::Failed);
        assert_eq!(document.metadata.labels[PRODUCT_LABEL], "demo");
        assert_eq!(Build::from(document), build);
    }

    #[test]
    fn a_stage_the_build_lacks_is_added_not_a_panic() {
        let mut build = Build::start("demo", "cli", &Stage::BUNDLE);
        build.begin_stage(Stage::Teardown);
        assert_eq!(build.stages.len(), 3);
        assert_eq!(
            build.stage(Stage::Teardown).unwrap().status,
            Status::Running
        );
    }
}
