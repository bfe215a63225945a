//! The report of a build: what a person reads about it, built from the stored build record
//! (stages, component deploys, tests and their JUnit files) and what changed since the last
//! green build of the product (commits from the git mirrors, chart and image digests from the
//! locks). [`write_report`] keeps it in the build's folder ([`build_dir`]) in every format
//! when the build ends; [`show_report`] prints one (`chorale report`).

use std::path::{Path, PathBuf};

use chorale_reports::junit;
use chorale_reports::model::{
    Baseline, CaseOutcome, ChangeKind, Changes, Commit, ComponentChange, ComponentDeploy,
    DeployStatus, DigestMove, Gate, JobStatus, Links, StageRecord, StageStatus, TestCaseResult,
    TestJobResult, cases_from_junit,
};
use chorale_reports::{Templates, render};
use jiff::Timestamp;

pub use chorale_reports::{Format, Report};

use crate::clusters::build_dir;
use crate::context::Context;
use crate::diff::{ComponentDiff, diff_with_commits};
use crate::errors::Error;
use crate::manifest::Product;
use crate::resources::build::{self, Build, Status, TestRun};
use crate::resources::lock::{Lock, LockedComponent};
use crate::resources::release::ReleaseState;

/// The version shown for a build that has no candidate version (one that only bundles).
const UNVERSIONED: &str = "unversioned";

/// The name of a build's report file in `format`: `report.md`, `report.html`, `report.xml`
/// (merged JUnit) or `report.json`.
pub fn file_name(format: Format) -> String {
    format!("report.{}", format.extension())
}

/// A report as written into its build's folder.
#[derive(Debug, Clone)]
pub struct ReportFiles {
    /// The report.
    pub report: Report,
    /// Each format's file.
    pub files: Vec<(Format, PathBuf)>,
}

/// The report of `build` as the store and the build's folder hold it now.
///
/// Test cases come from each test's JUnit files (a file that cannot be read becomes an
/// errored case naming it). Changes are counted from the last build of the product that
/// succeeded before this one; without one (or without a lock of this build) the report says
/// there is no earlier green build. A git remote that cannot be read leaves its commit list
/// empty (and is logged); it does not fail the report.
pub async fn build_report(context: &Context, build: &Build) -> Result<Report, Error> {
    let dir = build_dir(context, &build.id);
    let lock = match &build.lock_id {
        Some(id) => context.store.lock(id).await?,
        None => None,
    };
    let mut test_jobs = Vec::with_capacity(build.tests.len());
    for run in &build.tests {
        test_jobs.push(test_job(&dir, run).await);
    }
    let html = dir.join(file_name(Format::Html));
    Ok(Report {
        product: build.product.clone(),
        build_id: build.id.clone(),
        // Once published, the version it was released as (the highest, after a promotion).
        candidate_version: (build.releases.iter().rev())
            .find(|release| release.state == ReleaseState::Published)
            .map(|release| release.version.clone())
            .or_else(|| build.candidate_version.clone())
            .unwrap_or_else(|| UNVERSIONED.to_owned()),
        lock_id: build.lock_id.clone().unwrap_or_default(),
        bundle_digest: build.bundle.as_ref().map(|b| b.digest.clone()),
        generated_at: Timestamp::now(),
        links: Links {
            report: Some(
                std::path::absolute(&html)
                    .unwrap_or(html)
                    .display()
                    .to_string(),
            ),
            build: None,
            approve: None,
        },
        stages: build.stages.iter().map(stage).collect(),
        deploys: build.components.iter().map(deploy).collect(),
        test_jobs,
        changes: changes(context, build, lock.as_ref()).await?,
    })
}

/// Build the report of a finished build and write it into the build's folder in every
/// format, with the product's template overrides (`spec.reportTemplates`). Each file is
/// replaced whole, so a reader never sees half of one. `chorale run` calls this when a build
/// ends; pass [`ReportFiles::report`] on to [`crate::notify::notify`].
pub async fn write_report(
    context: &Context,
    product: &Product,
    build: &Build,
) -> Result<ReportFiles, Error> {
    let report = build_report(context, build).await?;
    let templates = product.reporting.templates()?;
    let dir = build_dir(context, &build.id);
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { path, source }
    };
    tokio::fs::create_dir_all(&dir).await.map_err(io(&dir))?;
    let mut files = Vec::with_capacity(Format::ALL.len());
    for format in Format::ALL {
        let text = render(&report, format, &templates)?;
        let path = dir.join(file_name(format));
        let partial = dir.join(format!(".{}.partial", file_name(format)));
        tokio::fs::write(&partial, text)
            .await
            .map_err(io(&partial))?;
        tokio::fs::rename(&partial, &path)
            .await
            .map_err(io(&path))?;
        files.push((format, path));
    }
    Ok(ReportFiles { report, files })
}

/// The report of build `id` (or the only build whose id starts with it) in `format`: the file
/// kept in its folder, or, when there is none (the build has not ended, or ran elsewhere),
/// rendered now from the store with the built-in templates.
pub async fn show_report(context: &Context, id: &str, format: Format) -> Result<String, Error> {
    let build = context
        .store
        .build(id)
        .await?
        .ok_or_else(|| Error::NoSuchBuild(id.to_owned()))?;
    let path = build_dir(context, &build.id).join(file_name(format));
    match tokio::fs::read_to_string(&path).await {
        Ok(text) => Ok(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let report = build_report(context, &build).await?;
            Ok(render(&report, format, &Templates::builtin())?)
        }
        Err(source) => Err(Error::Io { path, source }),
    }
}

fn stage_status(status: Status) -> StageStatus {
    match status {
        Status::Pending => StageStatus::Pending,
        Status::Running => StageStatus::Running,
        Status::Succeeded => StageStatus::Succeeded,
        Status::Failed => StageStatus::Failed,
        Status::Skipped => StageStatus::Skipped,
        Status::Interrupted => StageStatus::Interrupted,
    }
}

fn stage(stage: &build::StageRun) -> StageRecord {
    StageRecord {
        name: stage.name.to_string(),
        status: stage_status(stage.status),
        started_at: stage.started_at,
        finished_at: stage.finished_at,
        message: stage.message.clone(),
        log: None,
    }
}

/// Milliseconds from `start` to `end`, when both are known.
fn duration_ms(start: Option<Timestamp>, end: Option<Timestamp>) -> Option<u64> {
    let (start, end) = (start?, end?);
    u64::try_from(end.as_millisecond() - start.as_millisecond()).ok()
}

/// A component's deploy. One that never started reads as skipped, one that never ended
/// (the process died) as failed.
fn deploy(deploy: &build::ComponentDeploy) -> ComponentDeploy {
    let (status, default_message) = match deploy.status {
        Status::Succeeded => (DeployStatus::Deployed, None),
        Status::Failed => (DeployStatus::Failed, None),
        Status::Skipped => (DeployStatus::Skipped, None),
        Status::Pending => (DeployStatus::Skipped, Some("not deployed")),
        Status::Running | Status::Interrupted => (
            DeployStatus::Failed,
            Some("interrupted before the deploy ended"),
        ),
    };
    ComponentDeploy {
        component: deploy.component.clone(),
        status,
        duration_ms: duration_ms(deploy.started_at, deploy.finished_at),
        message: deploy
            .message
            .clone()
            .or_else(|| default_message.map(str::to_owned)),
        log: deploy.log.clone(),
    }
}

/// A test of the plan with the cases of its last attempt's JUnit files.
async fn test_job(dir: &Path, run: &TestRun) -> TestJobResult {
    let mut documents = Vec::with_capacity(run.artefacts.junit.len());
    let mut unreadable = Vec::new();
    for file in &run.artefacts.junit {
        match read_junit(dir, file).await {
            Ok(document) => documents.push(document),
            Err(reason) => unreadable.push(TestCaseResult {
                suite: run.name.clone(),
                classname: None,
                name: format!("results file {file}"),
                outcome: CaseOutcome::Errored,
                attempts: 1,
                flaky: false,
                duration_ms: None,
                message: Some(reason),
                details: None,
            }),
        }
    }
    let mut cases = if documents.is_empty() {
        Vec::new()
    } else {
        // The files are parts of one attempt, not successive attempts.
        cases_from_junit(&[junit::merge(run.name.clone(), documents)])
    };
    cases.extend(unreadable);
    let (status, default_message) = match run.status {
        Status::Succeeded => (JobStatus::Passed, None),
        Status::Failed => (JobStatus::Failed, None),
        Status::Pending | Status::Skipped => (JobStatus::Skipped, None),
        Status::Running | Status::Interrupted => (
            JobStatus::Errored,
            Some("interrupted before the test ended"),
        ),
    };
    TestJobResult {
        name: run.name.clone(),
        gate: match run.gate {
            chorale_test_jobs::Gate::Blocking => Gate::Blocking,
            chorale_test_jobs::Gate::Informing => Gate::Informing,
        },
        status,
        attempts: run.attempts.max(1),
        duration_ms: duration_ms(run.started_at, run.finished_at),
        message: run
            .message
            .clone()
            .or_else(|| default_message.map(str::to_owned)),
        log: run.artefacts.logs.last().cloned(),
        cases,
    }
}

/// Read and parse a JUnit file of the build's folder; the error is one line for a person.
async fn read_junit(dir: &Path, file: &str) -> Result<junit::Document, String> {
    let relative = Path::new(file);
    if relative.is_absolute()
        || relative
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!(
            "{file} is not a path inside the build's folder {}",
            dir.display()
        ));
    }
    let path = dir.join(relative);
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    junit::parse_bytes(file, &bytes).map_err(|error| error.to_string())
}

/// What changed since the last green build of the product.
async fn changes(context: &Context, build: &Build, lock: Option<&Lock>) -> Result<Changes, Error> {
    let Some(lock) = lock else {
        return Ok(Changes::default());
    };
    let Some(baseline) = context
        .store
        .last_green_build(&build.product, build.created_at, &build.id)
        .await?
    else {
        return Ok(Changes::default());
    };
    changes_since(context, lock, &baseline, None).await
}

/// What changed from `baseline` (a green build, published as `version` if it was) to the
/// build whose lock is `lock`: per component, its commits in between and the digests that
/// moved.
pub(crate) async fn changes_since(
    context: &Context,
    lock: &Lock,
    baseline: &Build,
    version: Option<String>,
) -> Result<Changes, Error> {
    let base_id = baseline.lock_id.as_deref().unwrap_or_default();
    let Some(old) = context.store.lock(base_id).await? else {
        tracing::warn!(baseline = %baseline.id, lock = base_id, "the baseline build's lock is not stored; no changes are listed");
        return Ok(Changes::default());
    };
    let lock_diff = diff_with_commits(context, &old, lock).await;
    let components = (lock_diff.components.iter())
        .map(|change| {
            component_change(
                change,
                old.component(&change.name),
                lock.component(&change.name),
            )
        })
        .collect();
    Ok(Changes {
        baseline: Some(Baseline {
            build_id: baseline.id.clone(),
            version,
            lock_id: old.id,
        }),
        components,
    })
}

/// One component's change: its commits in between that touch its chart folder and the
/// digests that moved.
fn component_change(
    change: &ComponentDiff,
    old: Option<&LockedComponent>,
    new: Option<&LockedComponent>,
) -> ComponentChange {
    let from = old.and_then(|c| c.source.as_ref());
    let to = new.and_then(|c| c.source.as_ref());
    // Commits are shown only when they moved (or the component came or went).
    let moved = change.commit.is_some();
    // `diff` writes `-` for a side that has no value.
    let present = |value: &str| (value != "-").then(|| value.to_owned());
    ComponentChange {
        component: change.name.clone(),
        change: match (old, new) {
            (None, Some(_)) => ChangeKind::Added,
            (Some(_), None) => ChangeKind::Removed,
            _ => ChangeKind::Updated,
        },
        from_commit: from.filter(|_| moved).map(|s| s.commit.clone()),
        to_commit: to.filter(|_| moved).map(|s| s.commit.clone()),
        commits: (change.commits.iter())
            .map(|commit| Commit {
                id: commit.id.clone(),
                short_id: commit.short_id.clone(),
                subject: commit.subject.clone(),
                author: commit.author.clone(),
            })
            .collect(),
        commits_omitted: change.commits_omitted,
        chart: change.chart.as_ref().and_then(|_| {
            Some(DigestMove {
                reference: new.or(old)?.chart.name.clone(),
                from: old.map(|c| c.chart.digest.clone()),
                to: new.map(|c| c.chart.digest.clone()),
            })
        }),
        images: change
            .images
            .iter()
            .map(|(reference, moved)| DigestMove {
                reference: reference.clone(),
                from: present(&moved.old),
                to: present(&moved.new),
            })
            .collect(),
    }
}
