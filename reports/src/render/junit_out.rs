//! The merged JUnit XML of a report: one suite per test job.

use crate::junit::{self, Outcome, Problem, Property, Rerun, RerunKind};
use crate::model::{CaseOutcome, Report, TestCaseResult, TestJobResult};

/// The report's test matrix as one JUnit document: a `<testsuite>` per job (with the job's
/// gate, status and attempts as properties), its cases with their outcome, and retried
/// cases with one `flakyFailure`/`rerunFailure` record per earlier attempt.
pub(crate) fn document(report: &Report) -> junit::Document {
    junit::Document {
        name: Some(format!(
            "{} {} ({})",
            report.product, report.candidate_version, report.build_id
        )),
        timestamp: Some(report.generated_at.to_string()),
        time: None,
        suites: report.test_jobs.iter().map(suite).collect(),
    }
}

fn suite(job: &TestJobResult) -> junit::TestSuite {
    let property = |name: &str, value: String| Property {
        name: name.to_owned(),
        value,
    };
    junit::TestSuite {
        name: job.name.clone(),
        time: job.duration_ms.map(|ms| ms as f64 / 1000.0),
        properties: vec![
            property("chorale.gate", job.gate.as_str().to_owned()),
            property("chorale.status", job.status.as_str().to_owned()),
            property("chorale.attempts", job.attempts.to_string()),
        ],
        cases: job.cases.iter().map(case).collect(),
        ..junit::TestSuite::default()
    }
}

fn case(case: &TestCaseResult) -> junit::TestCase {
    let problem = Problem {
        message: case.message.clone(),
        kind: None,
        text: case.details.clone(),
    };
    let outcome = match case.outcome {
        CaseOutcome::Passed => Outcome::Passed,
        CaseOutcome::Failed => Outcome::Failed(problem),
        CaseOutcome::Errored => Outcome::Errored(problem),
        CaseOutcome::Skipped => Outcome::Skipped(problem),
    };
    let rerun_kind = match case.outcome {
        CaseOutcome::Passed if case.flaky => Some(RerunKind::FlakyFailure),
        CaseOutcome::Failed => Some(RerunKind::RerunFailure),
        CaseOutcome::Errored => Some(RerunKind::RerunError),
        CaseOutcome::Passed | CaseOutcome::Skipped => None,
    };
    let reruns = rerun_kind
        .map(|kind| {
            (1..case.attempts)
                .map(|_| Rerun {
                    kind,
                    problem: Problem {
                        message: case.message.clone(),
                        ..Problem::default()
                    },
                    ..Rerun::default()
                })
                .collect()
        })
        .unwrap_or_default();
    junit::TestCase {
        name: case.name.clone(),
        classname: Some(case.classname.clone().unwrap_or_else(|| case.suite.clone())),
        time: case.duration_ms.map(|ms| ms as f64 / 1000.0),
        outcome,
        reruns,
        ..junit::TestCase::default()
    }
}
