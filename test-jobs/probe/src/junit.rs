//! JUnit XML as CI tools read it: one `<testsuite>` inside `<testsuites>`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::errors::Error;

/// One test case of a suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    /// The case's name, e.g. `GET http://api:8080/readyz = 200`.
    pub name: String,
    /// How long it took.
    pub time: Duration,
    /// `None` when it passed; otherwise the failure.
    pub failure: Option<Failure>,
    /// Free text kept as `<system-out>` (e.g. each attempt's result).
    pub output: String,
}

/// Why a test case failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// One line: expected versus got.
    pub message: String,
    /// Details, kept as the element's text.
    pub details: String,
}

/// A test suite: a name and its cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestSuite {
    /// The suite's name; also each case's `classname`.
    pub name: String,
    /// The cases in order.
    pub cases: Vec<TestCase>,
}

impl TestSuite {
    /// How many cases failed.
    pub fn failures(&self) -> usize {
        self.cases
            .iter()
            .filter(|case| case.failure.is_some())
            .count()
    }

    /// Renders the suite as a JUnit XML document.
    pub fn to_xml(&self) -> String {
        let total: Duration = self.cases.iter().map(|case| case.time).sum();
        let name = escape(&self.name);
        let (tests, failures) = (self.cases.len(), self.failures());
        let time = seconds(total);
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            xml,
            "<testsuites name=\"{name}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{time}\">"
        );
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{name}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{time}\">"
        );
        for case in &self.cases {
            let _ = write!(
                xml,
                "    <testcase name=\"{}\" classname=\"{name}\" time=\"{}\"",
                escape(&case.name),
                seconds(case.time)
            );
            if case.failure.is_none() && case.output.is_empty() {
                xml.push_str("/>\n");
                continue;
            }
            xml.push_str(">\n");
            if let Some(failure) = &case.failure {
                let _ = writeln!(
                    xml,
                    "      <failure message=\"{}\" type=\"failure\">{}</failure>",
                    escape(&failure.message),
                    escape(&failure.details)
                );
            }
            if !case.output.is_empty() {
                let _ = writeln!(
                    xml,
                    "      <system-out>{}</system-out>",
                    escape(&case.output)
                );
            }
            xml.push_str("    </testcase>\n");
        }
        xml.push_str("  </testsuite>\n</testsuites>\n");
        xml
    }

    /// Writes the XML to `path`, creating its parent directories.
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|source| Error::file(parent, source))?;
        }
        std::fs::write(path, self.to_xml()).map_err(|source| Error::file(path, source))
    }
}

/// Seconds with millisecond precision, as JUnit readers expect.
fn seconds(duration: Duration) -> String {
    format!("{}.{:03}", duration.as_secs(), duration.subsec_millis())
}

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot carry.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\t' | '\n' | '\r' => escaped.push(character),
            control if control < ' ' || control == '\u{fffe}' || control == '\u{ffff}' => {}
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Failure, TestCase, TestSuite};

    #[test]
    fn renders_passes_failures_and_escapes() {
        let suite = TestSuite {
            name: "http-probe".to_owned(),
            cases: vec![
                TestCase {
                    name: "GET http://api:8080/readyz = 200".to_owned(),
                    time: Duration::from_millis(12),
                    failure: None,
                    output: String::new(),
                },
                TestCase {
                    name: "GET http://web/?a=1&b=<2> = 2xx ~ \"ok\"".to_owned(),
                    time: Duration::from_millis(60_250),
                    failure: Some(Failure {
                        message: "expected status 2xx, got 503".to_owned(),
                        details: "attempt 1: status 503\u{1}".to_owned(),
                    }),
                    output: "it's down".to_owned(),
                },
            ],
        };
        assert_eq!(suite.failures(), 1);
        insta::assert_snapshot!(suite.to_xml());
    }

    #[test]
    fn writes_the_file_and_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results/junit.xml");
        let suite = TestSuite {
            name: "empty".to_owned(),
            cases: Vec::new(),
        };
        suite.write(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), suite.to_xml());
        assert!(suite.to_xml().contains("tests=\"0\" failures=\"0\""));
    }
}
