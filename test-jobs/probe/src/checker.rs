//! The `http` subcommand: run every check concurrently, retrying each until it passes or its
//! deadline passes, and turn the outcomes into lines for people and a JUnit suite.

use std::thread;
use std::time::{Duration, Instant};

use crate::check::Check;
use crate::client;
use crate::junit::{Failure, TestCase, TestSuite};

/// How the checks are run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// How long each check may keep retrying before it fails.
    pub timeout: Duration,
    /// The pause between two attempts of one check.
    pub interval: Duration,
    /// The limit of one request (connect, send, receive).
    pub request_timeout: Duration,
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The check.
    pub check: Check,
    /// How many requests were sent.
    pub attempts: u32,
    /// From the first attempt to the last answer.
    pub elapsed: Duration,
    /// `Ok` with a description of the passing answer, or `Err` with the last reason.
    pub result: Result<String, String>,
}

impl Outcome {
    /// One line for people: `PASS …` or `FAIL …: reason`.
    pub fn line(&self) -> String {
        let attempts = match self.attempts {
            1 => "1 attempt".to_owned(),
            count => format!("{count} attempts"),
        };
        let elapsed = format!("{:.1}s", self.elapsed.as_secs_f64());
        match &self.result {
            Ok(answer) => format!("PASS {}: {answer} ({attempts}, {elapsed})", self.check),
            Err(reason) => format!("FAIL {}: {reason} ({attempts}, {elapsed})", self.check),
        }
    }
}

/// Runs the checks concurrently and returns their outcomes in the given order.
pub fn run(checks: &[Check], retry: Retry) -> Vec<Outcome> {
    thread::scope(|scope| {
        let handles: Vec<_> = checks
            .iter()
            .map(|check| scope.spawn(move || run_one(check, retry)))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a check thread panicked"))
            .collect()
    })
}

fn run_one(check: &Check, retry: Retry) -> Outcome {
    let started = Instant::now();
    let deadline = started + retry.timeout;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let result = match client::get(&check.url, retry.request_timeout) {
            Ok(response) => check
                .evaluate(&response)
                .map(|()| format!("status {}", response.status)),
            Err(error) => Err(error.to_string()),
        };
        let now = Instant::now();
        if result.is_ok() || now + retry.interval >= deadline {
            return Outcome {
                check: check.clone(),
                attempts,
                elapsed: now - started,
                result,
            };
        }
        thread::sleep(retry.interval);
    }
}

/// The outcomes as a JUnit suite: one test case per check.
pub fn suite(name: &str, outcomes: &[Outcome]) -> TestSuite {
    let cases = outcomes
        .iter()
        .map(|outcome| TestCase {
            name: outcome.check.to_string(),
            time: outcome.elapsed,
            failure: outcome.result.as_ref().err().map(|reason| Failure {
                message: reason.clone(),
                details: format!(
                    "{} after {} attempt(s) in {:.1}s",
                    reason,
                    outcome.attempts,
                    outcome.elapsed.as_secs_f64()
                ),
            }),
            output: String::new(),
        })
        .collect();
    TestSuite {
        name: name.to_owned(),
        cases,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Outcome, suite};
    use crate::check::Check;

    #[test]
    fn describes_outcomes_for_people_and_junit() {
        let outcomes = vec![
            Outcome {
                check: Check::parse("http://api:8080/readyz=200").unwrap(),
                attempts: 3,
                elapsed: Duration::from_millis(1_040),
                result: Ok("status 200".to_owned()),
            },
            Outcome {
                check: Check::parse("http://web:8080/~ok").unwrap(),
                attempts: 1,
                elapsed: Duration::from_millis(5),
                result: Err("expected status 2xx, got 500".to_owned()),
            },
        ];
        let lines: Vec<_> = outcomes.iter().map(Outcome::line).collect();
        assert_eq!(
            lines,
            [
                "PASS GET http://api:8080/readyz = 200: status 200 (3 attempts, 1.0s)",
                "FAIL GET http://web:8080/ = 2xx ~ \"ok\": expected status 2xx, got 500 (1 attempt, 0.0s)",
            ]
        );
        let suite = suite("smoke", &outcomes);
        assert_eq!(suite.failures(), 1);
        let xml = suite.to_xml();
        assert!(xml.contains(
            "<failure message=\"expected status 2xx, got 500\" type=\"failure\">expected status 2xx, got 500 after 1 attempt(s) in 0.0s</failure>"
        ), "{xml}");
    }
}
