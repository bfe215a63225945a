//! From an element tree to a [`Document`].

use super::dom::{self, Element};
use super::{Document, Outcome, Problem, Property, Rerun, RerunKind, TestCase, TestSuite};
use crate::errors::JunitError;

/// Parses one JUnit XML document. `origin` names the input in errors (a path or a job name).
///
/// The root may be `<testsuites>` or a lone `<testsuite>`; elements JUnit readers do not
/// know are ignored, as every JUnit consumer does.
pub fn parse(origin: &str, xml: &str) -> Result<Document, JunitError> {
    let root = dom::read(origin, xml.strip_prefix('\u{feff}').unwrap_or(xml))?;
    match root.name.as_str() {
        "testsuites" => Ok(Document {
            name: root.attribute("name").map(str::to_owned),
            timestamp: root.attribute("timestamp").map(str::to_owned),
            time: root.seconds("time"),
            suites: root.children_named("testsuite").map(suite).collect(),
        }),
        "testsuite" => Ok(Document {
            name: None,
            timestamp: None,
            time: None,
            suites: vec![suite(&root)],
        }),
        other => Err(JunitError::UnexpectedRoot {
            origin: origin.to_owned(),
            root: other.to_owned(),
        }),
    }
}

/// Parses a JUnit XML document from bytes, which must be UTF-8 (as every tool named in this
/// module writes it).
pub fn parse_bytes(origin: &str, xml: &[u8]) -> Result<Document, JunitError> {
    let text = std::str::from_utf8(xml).map_err(|err| JunitError::NotUtf8 {
        origin: origin.to_owned(),
        offset: err.valid_up_to(),
    })?;
    parse(origin, text)
}

fn suite(element: &Element) -> TestSuite {
    TestSuite {
        name: element.attribute("name").unwrap_or_default().to_owned(),
        timestamp: element.attribute("timestamp").map(str::to_owned),
        hostname: element.attribute("hostname").map(str::to_owned),
        time: element.seconds("time"),
        properties: properties(element),
        cases: element.children_named("testcase").map(case).collect(),
        suites: element.children_named("testsuite").map(suite).collect(),
        system_out: element.child_text("system-out"),
        system_err: element.child_text("system-err"),
    }
}

fn properties(element: &Element) -> Vec<Property> {
    element
        .children_named("properties")
        .flat_map(|properties| properties.children_named("property"))
        .map(|property| Property {
            name: property.attribute("name").unwrap_or_default().to_owned(),
            value: property
                .attribute("value")
                .map_or_else(|| property.text.clone(), str::to_owned),
        })
        .collect()
}

fn case(element: &Element) -> TestCase {
    let mut outcome = Outcome::Passed;
    let mut reruns = Vec::new();
    for child in &element.children {
        match child.name.as_str() {
            // The first verdict element wins; tools write at most one.
            "failure" if outcome == Outcome::Passed => outcome = Outcome::Failed(problem(child)),
            "error" if outcome == Outcome::Passed => outcome = Outcome::Errored(problem(child)),
            "skipped" if outcome == Outcome::Passed => outcome = Outcome::Skipped(problem(child)),
            name => {
                if let Some(kind) = RerunKind::from_element(name) {
                    reruns.push(Rerun {
                        kind,
                        problem: problem(child),
                        time: child.seconds("time"),
                        timestamp: child.attribute("timestamp").map(str::to_owned),
                        system_out: child.child_text("system-out"),
                        system_err: child.child_text("system-err"),
                    });
                }
            }
        }
    }
    TestCase {
        name: element.attribute("name").unwrap_or_default().to_owned(),
        classname: element.attribute("classname").map(str::to_owned),
        time: element.seconds("time"),
        timestamp: element.attribute("timestamp").map(str::to_owned),
        file: element.attribute("file").map(str::to_owned),
        properties: properties(element),
        outcome,
        reruns,
        system_out: element.child_text("system-out"),
        system_err: element.child_text("system-err"),
    }
}

/// A `failure`/`error`/`skipped`/rerun element. Surefire puts the trace of rerun records
/// in a `<stackTrace>` child rather than in the element text.
fn problem(element: &Element) -> Problem {
    let own = element.text.trim();
    let text = if own.is_empty() {
        element
            .child_text("stackTrace")
            .map(|trace| trim_newlines(&trace).to_owned())
    } else {
        Some(trim_newlines(&element.text).to_owned())
    };
    Problem {
        message: element.attribute("message").map(str::to_owned),
        kind: element.attribute("type").map(str::to_owned),
        text,
    }
}

/// Drops the blank lines and indentation that pretty-printers put around element text,
/// keeping the text's own leading spaces on its first line.
fn trim_newlines(text: &str) -> &str {
    let text = text.trim_end();
    match text.find(|c: char| !c.is_whitespace()) {
        Some(first) => {
            let line_start = text[..first].rfind('\n').map_or(0, |i| i + 1);
            &text[line_start..]
        }
        None => "",
    }
}
