//! Derived figures of a report: totals, the verdict and why, the failed tests in reading
//! order. Every renderer and notifier takes them from here.

use serde::{Deserialize, Serialize};

use super::{CaseOutcome, DeployStatus, Gate, JobStatus, Report, TestCaseResult, TestJobResult};

/// Green or red.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every stage succeeded (or was skipped on purpose) and every blocking job passed.
    Green,
    /// Anything else.
    Red,
}

impl Verdict {
    /// `GREEN` or `RED`, for headlines.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Green => "GREEN",
            Verdict::Red => "RED",
        }
    }
}

/// Totals over every test case of every job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestTotals {
    /// All cases.
    pub total: usize,
    /// Passed (flaky ones included).
    pub passed: usize,
    /// Failed.
    pub failed: usize,
    /// Errored.
    pub errored: usize,
    /// Skipped.
    pub skipped: usize,
    /// Passed only after a retry.
    pub flaky: usize,
}

/// Totals over the jobs of one gate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobTotals {
    /// All jobs of the gate.
    pub total: usize,
    /// Jobs that passed (flaky ones included).
    pub passed: usize,
    /// Jobs that did not pass (skipped ones included).
    pub failed: usize,
    /// Jobs that passed only after a retry.
    pub flaky: usize,
}

/// Totals over the component deploys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployTotals {
    /// All components.
    pub total: usize,
    /// Deployed.
    pub deployed: usize,
    /// Failed.
    pub failed: usize,
    /// Skipped because a dependency failed.
    pub skipped: usize,
}

/// The derived figures of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Green only when every stage is ok and every blocking job passed.
    pub verdict: Verdict,
    /// Why the build is red, one sentence each, most important first; empty when green.
    pub reasons: Vec<String>,
    /// Test case totals.
    pub tests: TestTotals,
    /// Blocking job totals.
    pub blocking: JobTotals,
    /// Informing job totals.
    pub informing: JobTotals,
    /// Deploy totals.
    pub deploys: DeployTotals,
    /// From the first stage's start to the last stage's end, in milliseconds.
    pub duration_ms: Option<u64>,
    /// Components that differ from the baseline.
    pub components_changed: usize,
    /// Commits listed or counted across all changed components.
    pub commits: usize,
}

/// A failed or errored test case with the job it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FailedTest<'a> {
    /// The job's name.
    pub job: &'a str,
    /// The job's gate.
    pub gate: Gate,
    /// The case.
    pub case: &'a TestCaseResult,
}

impl Report {
    /// Computes the derived figures.
    pub fn summary(&self) -> Summary {
        let mut reasons = Vec::new();
        for stage in self.stages.iter().filter(|s| !s.status.is_ok()) {
            let status = stage.status.as_str();
            reasons.push(match &stage.message {
                Some(message) => format!("stage {} is {status}: {message}", stage.name),
                None => format!("stage {} is {status}", stage.name),
            });
        }
        for job in self
            .test_jobs
            .iter()
            .filter(|j| j.gate == Gate::Blocking && !j.passed())
        {
            reasons.push(format!("blocking job {} {}", job.name, job_problem(job)));
        }

        let mut tests = TestTotals::default();
        for case in self.test_jobs.iter().flat_map(|job| &job.cases) {
            tests.total += 1;
            match case.outcome {
                CaseOutcome::Passed => tests.passed += 1,
                CaseOutcome::Failed => tests.failed += 1,
                CaseOutcome::Errored => tests.errored += 1,
                CaseOutcome::Skipped => tests.skipped += 1,
            }
            if case.flaky {
                tests.flaky += 1;
            }
        }

        let mut deploys = DeployTotals::default();
        for deploy in &self.deploys {
            deploys.total += 1;
            match deploy.status {
                DeployStatus::Deployed => deploys.deployed += 1,
                DeployStatus::Failed => deploys.failed += 1,
                DeployStatus::Skipped => deploys.skipped += 1,
            }
        }

        let starts = self.stages.iter().filter_map(|s| s.started_at).min();
        let ends = self.stages.iter().filter_map(|s| s.finished_at).max();
        let duration_ms = match (starts, ends) {
            (Some(start), Some(end)) => u64::try_from(end.duration_since(start).as_millis()).ok(),
            _ => None,
        };

        Summary {
            verdict: if reasons.is_empty() {
                Verdict::Green
            } else {
                Verdict::Red
            },
            reasons,
            tests,
            blocking: self.job_totals(Gate::Blocking),
            informing: self.job_totals(Gate::Informing),
            deploys,
            duration_ms,
            components_changed: self.changes.components.len(),
            commits: self
                .changes
                .components
                .iter()
                .map(|c| c.commits.len() + c.commits_omitted)
                .sum(),
        }
    }

    /// Failed and errored test cases in reading order: blocking jobs before informing jobs,
    /// then in job order and case order.
    pub fn failed_tests(&self) -> Vec<FailedTest<'_>> {
        let mut failed: Vec<FailedTest<'_>> = self
            .test_jobs
            .iter()
            .flat_map(|job| {
                job.cases
                    .iter()
                    .filter(|c| c.outcome.is_bad())
                    .map(move |case| FailedTest {
                        job: &job.name,
                        gate: job.gate,
                        case,
                    })
            })
            .collect();
        failed.sort_by_key(|f| f.gate != Gate::Blocking);
        failed
    }

    fn job_totals(&self, gate: Gate) -> JobTotals {
        let mut totals = JobTotals::default();
        for job in self.test_jobs.iter().filter(|j| j.gate == gate) {
            totals.total += 1;
            if job.passed() {
                totals.passed += 1;
            } else {
                totals.failed += 1;
            }
            if job.flaky() {
                totals.flaky += 1;
            }
        }
        totals
    }
}

/// Why a job did not pass, as the end of a sentence.
fn job_problem(job: &TestJobResult) -> String {
    let failed = job
        .cases
        .iter()
        .filter(|c| c.outcome == CaseOutcome::Failed)
        .count();
    let errored = job
        .cases
        .iter()
        .filter(|c| c.outcome == CaseOutcome::Errored)
        .count();
    let counts = match (failed, errored) {
        (0, 0) => String::new(),
        (f, 0) => format!(": {f} failed"),
        (0, e) => format!(": {e} errored"),
        (f, e) => format!(": {f} failed, {e} errored"),
    };
    let what = match job.status {
        JobStatus::Passed | JobStatus::Failed => "failed",
        JobStatus::Errored => "errored",
        JobStatus::TimedOut => "timed out",
        JobStatus::Skipped => "was skipped",
    };
    let message = job
        .message
        .as_deref()
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    format!("{what}{counts}{message}")
}
