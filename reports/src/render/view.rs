//! What templates see: the report, its summary and the lists derived for reading.

use serde::Serialize;

use super::timeline::Timeline;
use crate::model::{CaseOutcome, FailedTest, Report, StageRecord, Summary, TestJobResult};

/// The context of every template.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReportView<'a> {
    /// The report itself (every field, as in the JSON format).
    pub report: &'a Report,
    /// The derived figures.
    pub summary: Summary,
    /// Failed and errored cases, blocking jobs first.
    pub failed_tests: Vec<FailedTest<'a>>,
    /// The stages with their durations.
    pub stages: Vec<StageView<'a>>,
    /// The test matrix with per-job figures.
    pub jobs: Vec<JobView<'a>>,
    /// The stage timeline geometry.
    pub timeline: Timeline,
}

/// A stage with its duration.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StageView<'a> {
    /// The stage's fields.
    #[serde(flatten)]
    pub stage: &'a StageRecord,
    /// Milliseconds from start to end.
    pub duration_ms: Option<u64>,
}

/// A test job with its figures.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobView<'a> {
    /// The job.
    pub job: &'a TestJobResult,
    /// Whether it passed.
    pub passed: bool,
    /// Whether it passed only after a retry.
    pub flaky: bool,
    /// Passed cases.
    pub passed_cases: usize,
    /// Failed cases.
    pub failed_cases: usize,
    /// Errored cases.
    pub errored_cases: usize,
    /// Skipped cases.
    pub skipped_cases: usize,
    /// Flaky cases.
    pub flaky_cases: usize,
}

impl<'a> ReportView<'a> {
    pub(crate) fn new(report: &'a Report) -> Self {
        let jobs = report
            .test_jobs
            .iter()
            .map(|job| {
                let count = |outcome| job.cases.iter().filter(|c| c.outcome == outcome).count();
                JobView {
                    job,
                    passed: job.passed(),
                    flaky: job.flaky(),
                    passed_cases: count(CaseOutcome::Passed),
                    failed_cases: count(CaseOutcome::Failed),
                    errored_cases: count(CaseOutcome::Errored),
                    skipped_cases: count(CaseOutcome::Skipped),
                    flaky_cases: job.cases.iter().filter(|c| c.flaky).count(),
                }
            })
            .collect();
        ReportView {
            report,
            summary: report.summary(),
            failed_tests: report.failed_tests(),
            stages: report
                .stages
                .iter()
                .map(|stage| StageView {
                    stage,
                    duration_ms: stage.duration_ms(),
                })
                .collect(),
            jobs,
            timeline: Timeline::of(report),
        }
    }
}
