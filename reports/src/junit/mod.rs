//! JUnit XML as real test tools write it: read, merge and write.
//!
//! Readers accept what pytest, cargo-nextest, Maven Surefire and go-junit-report produce:
//! a `<testsuites>` root or a lone `<testsuite>` root, nested suites, `properties` on suites
//! and cases, `failure` vs `error` vs `skipped`, `system-out`/`system-err`, and the retry
//! records `flakyFailure`/`flakyError`/`rerunFailure`/`rerunError` (Surefire's convention,
//! also written by nextest). Counts are always recomputed from the cases; the counts a tool
//! wrote into attributes are not trusted.

mod dom;
mod parse;
mod write;

use serde::{Deserialize, Serialize};

pub use parse::{parse, parse_bytes};
pub use write::to_xml;

/// One JUnit XML document: the `<testsuites>` root (a lone `<testsuite>` root is read as a
/// document holding that one suite).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    /// The `name` attribute of `<testsuites>`, when the tool wrote one.
    pub name: Option<String>,
    /// The `timestamp` attribute of `<testsuites>`, as written.
    pub timestamp: Option<String>,
    /// The `time` attribute of `<testsuites>` in seconds.
    pub time: Option<f64>,
    /// The top-level suites, in document order.
    pub suites: Vec<TestSuite>,
}

/// A `<testsuite>`: test cases, nested suites, properties and captured output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestSuite {
    /// The suite name (a package, a test binary, a class).
    pub name: String,
    /// The `timestamp` attribute, as written.
    pub timestamp: Option<String>,
    /// The `hostname` attribute.
    pub hostname: Option<String>,
    /// The `time` attribute in seconds.
    pub time: Option<f64>,
    /// `<properties>` of the suite (e.g. `go.version`, `java.version`).
    pub properties: Vec<Property>,
    /// The suite's own test cases.
    pub cases: Vec<TestCase>,
    /// Suites nested inside this one.
    pub suites: Vec<TestSuite>,
    /// Suite-level `<system-out>`.
    pub system_out: Option<String>,
    /// Suite-level `<system-err>`.
    pub system_err: Option<String>,
}

/// A `<property name=… value=…>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Property {
    /// Property name.
    pub name: String,
    /// Property value.
    pub value: String,
}

/// A `<testcase>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestCase {
    /// The test name.
    pub name: String,
    /// The `classname` attribute (module, class or package).
    pub classname: Option<String>,
    /// The `time` attribute in seconds.
    pub time: Option<f64>,
    /// The `timestamp` attribute, as written.
    pub timestamp: Option<String>,
    /// The `file` attribute (written by some tools, e.g. pytest with `junit_family=xunit1`).
    pub file: Option<String>,
    /// `<properties>` of the case (e.g. pytest's `record_property`).
    pub properties: Vec<Property>,
    /// How the final attempt ended.
    pub outcome: Outcome,
    /// Earlier attempts that failed (`flakyFailure`, `rerunFailure`, …), in order.
    pub reruns: Vec<Rerun>,
    /// Case-level `<system-out>`.
    pub system_out: Option<String>,
    /// Case-level `<system-err>`.
    pub system_err: Option<String>,
}

/// How a test case ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum Outcome {
    /// No `failure`, `error` or `skipped` child.
    #[default]
    Passed,
    /// A `<failure>`: an assertion did not hold.
    Failed(Problem),
    /// An `<error>`: the test could not run to an assertion (panic in setup, crash, timeout).
    Errored(Problem),
    /// A `<skipped>`.
    Skipped(Problem),
}

impl Outcome {
    /// The element name this outcome is written as, if any.
    pub(crate) fn element(&self) -> Option<(&'static str, &Problem)> {
        match self {
            Outcome::Passed => None,
            Outcome::Failed(p) => Some(("failure", p)),
            Outcome::Errored(p) => Some(("error", p)),
            Outcome::Skipped(p) => Some(("skipped", p)),
        }
    }
}

/// What a `failure`, `error` or `skipped` element says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// The `message` attribute.
    pub message: Option<String>,
    /// The `type` attribute (an exception class, `pytest.skip`, `test failure`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The element text (a stack trace, a panic message, captured assertion output).
    pub text: Option<String>,
}

/// An earlier failed attempt of a test case that was run again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rerun {
    /// Which retry record this is.
    pub kind: RerunKind,
    /// What went wrong in that attempt.
    pub problem: Problem,
    /// The attempt's `time` in seconds.
    pub time: Option<f64>,
    /// The attempt's `timestamp`, as written.
    pub timestamp: Option<String>,
    /// The attempt's `<system-out>`.
    pub system_out: Option<String>,
    /// The attempt's `<system-err>`.
    pub system_err: Option<String>,
}

/// The four retry records of the Surefire convention.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RerunKind {
    /// A failed attempt of a test that passed in the end.
    #[default]
    FlakyFailure,
    /// An errored attempt of a test that passed in the end.
    FlakyError,
    /// A failed retry of a test that failed in the end.
    RerunFailure,
    /// An errored retry of a test that failed in the end.
    RerunError,
}

impl RerunKind {
    /// The element name of this record.
    pub fn element(self) -> &'static str {
        match self {
            RerunKind::FlakyFailure => "flakyFailure",
            RerunKind::FlakyError => "flakyError",
            RerunKind::RerunFailure => "rerunFailure",
            RerunKind::RerunError => "rerunError",
        }
    }

    pub(crate) fn from_element(name: &str) -> Option<Self> {
        Some(match name {
            "flakyFailure" => RerunKind::FlakyFailure,
            "flakyError" => RerunKind::FlakyError,
            "rerunFailure" => RerunKind::RerunFailure,
            "rerunError" => RerunKind::RerunError,
            _ => return None,
        })
    }
}

/// Totals over a set of test cases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Every test case.
    pub tests: usize,
    /// Cases that ended in a `failure`.
    pub failures: usize,
    /// Cases that ended in an `error`.
    pub errors: usize,
    /// Cases that were skipped.
    pub skipped: usize,
    /// Cases that passed after failed attempts.
    pub flaky: usize,
}

impl Counts {
    fn add_case(&mut self, case: &TestCase) {
        self.tests += 1;
        match case.outcome {
            Outcome::Passed => {
                if !case.reruns.is_empty() {
                    self.flaky += 1;
                }
            }
            Outcome::Failed(_) => self.failures += 1,
            Outcome::Errored(_) => self.errors += 1,
            Outcome::Skipped(_) => self.skipped += 1,
        }
    }

    fn add(&mut self, other: Counts) {
        self.tests += other.tests;
        self.failures += other.failures;
        self.errors += other.errors;
        self.skipped += other.skipped;
        self.flaky += other.flaky;
    }
}

impl TestSuite {
    /// Totals over this suite's cases and every nested suite.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for case in &self.cases {
            counts.add_case(case);
        }
        for suite in &self.suites {
            counts.add(suite.counts());
        }
        counts
    }

    /// The suite's `time`, or the sum of its cases' and nested suites' times.
    pub fn total_time(&self) -> f64 {
        self.time.unwrap_or_else(|| {
            self.cases.iter().filter_map(|c| c.time).sum::<f64>()
                + self.suites.iter().map(TestSuite::total_time).sum::<f64>()
        })
    }
}

impl Document {
    /// Totals over every case of the document.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for suite in &self.suites {
            counts.add(suite.counts());
        }
        counts
    }

    /// Every test case of the document with the path of the suites that hold it
    /// (outermost first, joined with ` / `), nested suites flattened, in document order.
    pub fn cases(&self) -> Vec<(String, &TestCase)> {
        fn walk<'a>(
            path: &mut Vec<&'a str>,
            suite: &'a TestSuite,
            out: &mut Vec<(String, &'a TestCase)>,
        ) {
            path.push(&suite.name);
            let joined = path
                .iter()
                .filter(|n| !n.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" / ");
            for case in &suite.cases {
                out.push((joined.clone(), case));
            }
            for nested in &suite.suites {
                walk(path, nested, out);
            }
            path.pop();
        }
        let mut out = Vec::new();
        let mut path = Vec::new();
        for suite in &self.suites {
            walk(&mut path, suite, &mut out);
        }
        out
    }
}

/// Merges several documents into one whose suites are those of the inputs, in order.
///
/// Suites are kept apart even when two inputs use the same suite name (two jobs may both
/// run a suite called `pytest`); the merged document's time is the sum of the inputs'.
pub fn merge(name: impl Into<String>, documents: impl IntoIterator<Item = Document>) -> Document {
    let mut merged = Document {
        name: Some(name.into()),
        ..Document::default()
    };
    let mut time = 0.0;
    for document in documents {
        time += document
            .time
            .unwrap_or_else(|| document.suites.iter().map(TestSuite::total_time).sum());
        merged.suites.extend(document.suites);
    }
    merged.time = Some(time);
    merged
}
