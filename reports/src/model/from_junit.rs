//! From parsed JUnit to the report's test cases.

use std::collections::HashMap;

use super::{CaseOutcome, TestCaseResult};
use crate::junit::{self, Outcome};
use crate::text::{first_line, head_and_tail, strip_ansi};

/// Longest one-line message kept per case.
const MESSAGE_CHARS: usize = 300;
/// Largest failure text kept per case (head and tail).
const DETAILS_BYTES: usize = 8 * 1024;

impl TestCaseResult {
    /// The report's view of one JUnit test case found under `suite` (a suite path).
    ///
    /// Flaky records (`flakyFailure`, …) count as earlier attempts; a case that passed with
    /// them is flaky and its message is the first failure. Failure text is bounded and
    /// stripped of terminal codes; passing cases keep no output.
    pub fn from_junit(suite: &str, case: &junit::TestCase) -> Self {
        let attempts = 1 + u32::try_from(case.reruns.len()).unwrap_or(u32::MAX - 1);
        let (outcome, message, details) = match &case.outcome {
            Outcome::Passed => {
                let message = case.reruns.first().map(|rerun| {
                    format!(
                        "passed on attempt {attempts}; first failure: {}",
                        summary_line(&rerun.problem)
                    )
                });
                (CaseOutcome::Passed, message, None)
            }
            Outcome::Failed(problem) => (
                CaseOutcome::Failed,
                Some(summary_line(problem)),
                details(problem),
            ),
            Outcome::Errored(problem) => (
                CaseOutcome::Errored,
                Some(summary_line(problem)),
                details(problem),
            ),
            Outcome::Skipped(problem) => {
                let line = summary_line(problem);
                (
                    CaseOutcome::Skipped,
                    (!line.is_empty()).then_some(line),
                    None,
                )
            }
        };
        TestCaseResult {
            suite: suite.to_owned(),
            classname: case.classname.clone(),
            name: case.name.clone(),
            outcome,
            attempts,
            flaky: outcome == CaseOutcome::Passed && !case.reruns.is_empty(),
            duration_ms: case.time.map(|secs| (secs * 1000.0).round() as u64),
            message: message.map(|m| strip_ansi(&m)),
            details,
        }
    }
}

/// The test cases of a job from the JUnit documents of its attempts, oldest first.
///
/// A case's outcome is that of the last attempt that ran it; its attempts add up across
/// documents (and flaky records inside them). So a case that failed in the first run of
/// the job and passed in the retry is reported as passed with two attempts: flaky.
/// Cases keep the order of their first appearance.
pub fn cases_from_junit(attempts: &[junit::Document]) -> Vec<TestCaseResult> {
    let mut order: Vec<(String, Option<String>, String)> = Vec::new();
    let mut latest: HashMap<(String, Option<String>, String), TestCaseResult> = HashMap::new();
    for document in attempts {
        for (suite, case) in document.cases() {
            let key = (suite.clone(), case.classname.clone(), case.name.clone());
            let mut result = TestCaseResult::from_junit(&suite, case);
            if let Some(earlier) = latest.get(&key) {
                result.attempts += earlier.attempts;
                let failed_before = earlier.outcome.is_bad() || earlier.flaky;
                if result.outcome == CaseOutcome::Passed && failed_before {
                    result.flaky = true;
                }
                if result.flaky && result.message.is_none() {
                    result.message = earlier.message.as_ref().map(|m| {
                        if earlier.outcome.is_bad() {
                            format!("passed on attempt {}; first failure: {m}", result.attempts)
                        } else {
                            m.clone()
                        }
                    });
                }
            } else {
                order.push(key.clone());
            }
            latest.insert(key, result);
        }
    }
    order
        .into_iter()
        .filter_map(|key| latest.remove(&key))
        .collect()
}

fn summary_line(problem: &junit::Problem) -> String {
    let from_message = problem
        .message
        .as_deref()
        .map(|m| first_line(&strip_ansi(m), MESSAGE_CHARS));
    match from_message {
        Some(line) if !line.is_empty() => line,
        _ => problem
            .text
            .as_deref()
            .map(|t| first_line(&strip_ansi(t), MESSAGE_CHARS))
            .unwrap_or_default(),
    }
}

fn details(problem: &junit::Problem) -> Option<String> {
    problem
        .text
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .map(|t| head_and_tail(&strip_ansi(t), DETAILS_BYTES))
}
