//! Writes a [`Document`] as JUnit XML in the common (Surefire-compatible) dialect.

use std::borrow::Cow;

use quick_xml::escape::partial_escape;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::writer::Writer;

use super::{Counts, Document, Problem, Property, Rerun, TestCase, TestSuite};

/// Writes `document` as indented JUnit XML. Counts are computed from the cases; characters
/// XML 1.0 cannot carry (terminal escape codes, NUL) are dropped from text and attributes.
pub fn to_xml(document: &Document) -> String {
    let mut out = XmlOut::new();
    out.decl();
    let counts = document.counts();
    let mut root = BytesStart::new("testsuites");
    push(&mut root, "name", document.name.as_deref());
    push_counts(&mut root, counts);
    let time = document
        .time
        .unwrap_or_else(|| document.suites.iter().map(TestSuite::total_time).sum());
    push(&mut root, "time", Some(&seconds(time)));
    push(&mut root, "timestamp", document.timestamp.as_deref());
    if document.suites.is_empty() {
        out.event(Event::Empty(root));
    } else {
        out.event(Event::Start(root));
        for suite in &document.suites {
            write_suite(&mut out, suite);
        }
        out.event(Event::End(BytesEnd::new("testsuites")));
    }
    out.finish()
}

fn write_suite(out: &mut XmlOut, suite: &TestSuite) {
    let mut start = BytesStart::new("testsuite");
    push(&mut start, "name", Some(&suite.name));
    push_counts(&mut start, suite.counts());
    push(&mut start, "time", Some(&seconds(suite.total_time())));
    push(&mut start, "timestamp", suite.timestamp.as_deref());
    push(&mut start, "hostname", suite.hostname.as_deref());
    out.event(Event::Start(start));
    write_properties(out, &suite.properties);
    for case in &suite.cases {
        write_case(out, case);
    }
    for nested in &suite.suites {
        write_suite(out, nested);
    }
    out.text_element("system-out", suite.system_out.as_deref());
    out.text_element("system-err", suite.system_err.as_deref());
    out.event(Event::End(BytesEnd::new("testsuite")));
}

fn write_case(out: &mut XmlOut, case: &TestCase) {
    let mut start = BytesStart::new("testcase");
    push(&mut start, "name", Some(&case.name));
    push(&mut start, "classname", case.classname.as_deref());
    push(&mut start, "time", case.time.map(seconds).as_deref());
    push(&mut start, "timestamp", case.timestamp.as_deref());
    push(&mut start, "file", case.file.as_deref());
    let verdict = case.outcome.element();
    let has_body = verdict.is_some()
        || !case.reruns.is_empty()
        || !case.properties.is_empty()
        || case.system_out.is_some()
        || case.system_err.is_some();
    if !has_body {
        out.event(Event::Empty(start));
        return;
    }
    out.event(Event::Start(start));
    write_properties(out, &case.properties);
    if let Some((element, problem)) = verdict {
        write_problem(out, element, problem, &[], None);
    }
    for rerun in &case.reruns {
        write_rerun(out, rerun);
    }
    out.text_element("system-out", case.system_out.as_deref());
    out.text_element("system-err", case.system_err.as_deref());
    out.event(Event::End(BytesEnd::new("testcase")));
}

fn write_rerun(out: &mut XmlOut, rerun: &Rerun) {
    let mut extra = Vec::new();
    if let Some(time) = rerun.time {
        extra.push(("time", seconds(time)));
    }
    if let Some(timestamp) = &rerun.timestamp {
        extra.push(("timestamp", timestamp.clone()));
    }
    write_problem(
        out,
        rerun.kind.element(),
        &rerun.problem,
        &extra,
        Some(rerun),
    );
}

fn write_problem(
    out: &mut XmlOut,
    element: &str,
    problem: &Problem,
    extra: &[(&str, String)],
    rerun: Option<&Rerun>,
) {
    let mut start = BytesStart::new(element);
    push(&mut start, "message", problem.message.as_deref());
    push(&mut start, "type", problem.kind.as_deref());
    for (key, value) in extra {
        push(&mut start, key, Some(value));
    }
    let outputs = rerun.map(|r| (r.system_out.as_deref(), r.system_err.as_deref()));
    let has_outputs = outputs.is_some_and(|(o, e)| o.is_some() || e.is_some());
    if problem.text.is_none() && !has_outputs {
        out.event(Event::Empty(start));
        return;
    }
    out.event(Event::Start(start));
    if let Some(text) = &problem.text {
        out.text(text);
    }
    if let Some((stdout, stderr)) = outputs {
        out.text_element("system-out", stdout);
        out.text_element("system-err", stderr);
    }
    out.event(Event::End(BytesEnd::new(element)));
}

fn write_properties(out: &mut XmlOut, properties: &[Property]) {
    if properties.is_empty() {
        return;
    }
    out.event(Event::Start(BytesStart::new("properties")));
    for property in properties {
        let mut start = BytesStart::new("property");
        push(&mut start, "name", Some(&property.name));
        push(&mut start, "value", Some(&property.value));
        out.event(Event::Empty(start));
    }
    out.event(Event::End(BytesEnd::new("properties")));
}

fn push_counts(start: &mut BytesStart<'_>, counts: Counts) {
    push(start, "tests", Some(&counts.tests.to_string()));
    push(start, "failures", Some(&counts.failures.to_string()));
    push(start, "errors", Some(&counts.errors.to_string()));
    push(start, "skipped", Some(&counts.skipped.to_string()));
}

fn push(start: &mut BytesStart<'_>, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        start.push_attribute((key, xml_chars(value).as_ref()));
    }
}

/// Seconds with at least three and at most six decimals (`0.004`, `0.021305`).
fn seconds(value: f64) -> String {
    let mut text = format!("{value:.6}");
    while text.ends_with('0') && text.len() - text.find('.').unwrap_or(0) > 4 {
        text.pop();
    }
    text
}

/// Drops characters that XML 1.0 cannot carry (C0 controls other than tab, LF and CR, and
/// U+FFFE/U+FFFF).
fn xml_chars(text: &str) -> Cow<'_, str> {
    fn allowed(c: char) -> bool {
        matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{fffe}' && c != '\u{ffff}')
    }
    if text.chars().all(allowed) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.chars().filter(|c| allowed(*c)).collect())
    }
}

/// An indenting writer into a string; writing into memory cannot fail.
struct XmlOut {
    writer: Writer<Vec<u8>>,
}

impl XmlOut {
    fn new() -> Self {
        Self {
            writer: Writer::new_with_indent(Vec::new(), b' ', 2),
        }
    }

    fn decl(&mut self) {
        self.event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    }

    fn event(&mut self, event: Event<'_>) {
        self.writer
            .write_event(event)
            .expect("writing XML into memory cannot fail");
    }

    fn text(&mut self, text: &str) {
        self.event(Event::Text(BytesText::from_escaped(partial_escape(
            xml_chars(text),
        ))));
    }

    fn text_element(&mut self, name: &str, text: Option<&str>) {
        if let Some(text) = text {
            self.event(Event::Start(BytesStart::new(name)));
            self.text(text);
            self.event(Event::End(BytesEnd::new(name)));
        }
    }

    fn finish(self) -> String {
        let mut bytes = self.writer.into_inner();
        bytes.push(b'\n');
        String::from_utf8(bytes).expect("the writer only receives UTF-8")
    }
}
