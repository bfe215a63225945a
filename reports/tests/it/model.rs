//! The verdict and the derived figures.

use crate::support::sample::{Sample, report as sample};
use chorale_reports::model::{CaseOutcome, Gate, JobStatus, StageStatus, Verdict};
use pretty_assertions::assert_eq;

#[test]
fn red_when_a_blocking_job_fails_and_the_reasons_say_why() {
    let summary = sample(Sample::Red).summary();
    assert_eq!(summary.verdict, Verdict::Red);
    assert_eq!(
        summary.reasons,
        vec!["blocking job api-e2e failed: 1 failed, 1 errored".to_owned()]
    );
    assert_eq!(
        (
            summary.tests.total,
            summary.tests.passed,
            summary.tests.failed,
            summary.tests.errored,
            summary.tests.skipped,
            summary.tests.flaky
        ),
        (12, 6, 2, 2, 2, 2)
    );
    assert_eq!(
        (
            summary.blocking.total,
            summary.blocking.passed,
            summary.blocking.flaky
        ),
        (3, 2, 1)
    );
    assert_eq!((summary.informing.total, summary.informing.passed), (2, 0));
    assert_eq!(summary.duration_ms, Some(16 * 60_000 + 40_000));
    assert_eq!((summary.components_changed, summary.commits), (3, 4));
}

#[test]
fn informing_failures_do_not_make_a_build_red() {
    let report = sample(Sample::Green);
    let summary = report.summary();
    assert_eq!(summary.verdict, Verdict::Green);
    assert!(summary.reasons.is_empty());
    // They are still listed, after any blocking failures.
    let failed = report.failed_tests();
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|f| f.gate == Gate::Informing));
}

#[test]
fn failed_tests_list_blocking_jobs_first() {
    let mut report = sample(Sample::Red);
    report.test_jobs.swap(1, 3); // an informing job now comes before the blocking one
    let failed = report.failed_tests();
    let gates: Vec<Gate> = failed.iter().map(|f| f.gate).collect();
    assert_eq!(
        gates,
        vec![
            Gate::Blocking,
            Gate::Blocking,
            Gate::Informing,
            Gate::Informing
        ]
    );
}

#[test]
fn a_failed_or_interrupted_stage_makes_a_build_red() {
    for status in [
        StageStatus::Failed,
        StageStatus::Interrupted,
        StageStatus::Running,
        StageStatus::Pending,
    ] {
        let mut report = sample(Sample::Green);
        report.stages[3].status = status;
        report.stages[3].message = Some("helm upgrade --install api timed out".to_owned());
        let summary = report.summary();
        assert_eq!(summary.verdict, Verdict::Red, "{status:?}");
        assert_eq!(
            summary.reasons[0],
            format!(
                "stage deploy is {}: helm upgrade --install api timed out",
                status.as_str()
            )
        );
    }
    let mut report = sample(Sample::Green);
    report.stages[5].status = StageStatus::Skipped;
    assert_eq!(
        report.summary().verdict,
        Verdict::Green,
        "a skipped stage is fine"
    );
}

#[test]
fn a_blocking_job_that_reports_passed_with_failed_cases_did_not_pass() {
    let mut report = sample(Sample::Green);
    report.test_jobs[0].cases[0].outcome = CaseOutcome::Failed;
    assert_eq!(report.summary().verdict, Verdict::Red);
    let mut report = sample(Sample::Green);
    report.test_jobs[0].status = JobStatus::TimedOut;
    report.test_jobs[0].message = Some("deadline of 10m exceeded".to_owned());
    assert_eq!(
        report.summary().reasons,
        vec!["blocking job workloads-ready timed out (deadline of 10m exceeded)".to_owned()]
    );
}
