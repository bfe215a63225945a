//! Every report format, rendered from fixed reports and compared with snapshots.

use crate::support::sample::{Sample, report as sample};
use chorale_reports::model::Report;
use chorale_reports::{Format, RenderError, Templates, render};
use pretty_assertions::assert_eq;

fn rendered(report: &Report, format: Format) -> String {
    render(report, format, &Templates::builtin()).unwrap_or_else(|err| panic!("{err}"))
}

#[test]
fn markdown_red() {
    insta::assert_snapshot!(rendered(&sample(Sample::Red), Format::Markdown));
}

#[test]
fn markdown_green() {
    insta::assert_snapshot!(rendered(&sample(Sample::Green), Format::Markdown));
}

#[test]
fn html_red() {
    insta::assert_snapshot!(rendered(&sample(Sample::Red), Format::Html));
}

#[test]
fn junit_red() {
    let xml = rendered(&sample(Sample::Red), Format::Junit);
    let document = chorale_reports::junit::parse("report.xml", &xml).unwrap();
    assert_eq!(document.suites.len(), 5);
    let counts = document.counts();
    assert_eq!(
        (counts.tests, counts.failures, counts.errors, counts.flaky),
        (12, 2, 2, 2)
    );
    insta::assert_snapshot!(xml);
}

#[test]
fn json_red_round_trips_into_the_model() {
    let report = sample(Sample::Red);
    let json = rendered(&report, Format::Json);
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["kind"], "Report");
    assert_eq!(value["summary"]["verdict"], "red");
    insta::assert_snapshot!(json);
}

#[test]
fn formats_parse_from_their_names() {
    for format in Format::ALL {
        assert_eq!(format.name().parse::<Format>().unwrap(), format);
    }
    assert_eq!(
        "pdf".parse::<Format>().unwrap_err(),
        "unknown report format \"pdf\"; expected one of md, html, junit, json"
    );
}

#[test]
fn an_override_template_wins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("report.md.j2"),
        "{{ report.product }} is {{ summary.verdict }} with {{ failedTests | length }} failed tests\n",
    )
    .unwrap();
    let templates = Templates::with_overrides(dir.path()).unwrap();
    assert_eq!(templates.overridden().len(), 1);
    let markdown = render(&sample(Sample::Red), Format::Markdown, &templates).unwrap();
    assert_eq!(markdown, "demo is red with 4 failed tests\n");
    // Formats without an override keep the built-in template.
    let html = render(&sample(Sample::Red), Format::Html, &templates).unwrap();
    assert!(html.starts_with("<!doctype html>"));
}

#[test]
fn a_misspelled_variable_in_an_override_fails_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.html.j2");
    std::fs::write(&path, "<h1>{{ report.prodcut }}</h1>\n").unwrap();
    let templates = Templates::with_overrides(dir.path()).unwrap();
    let err = render(&sample(Sample::Red), Format::Html, &templates).unwrap_err();
    let RenderError::Template { name, detail } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(name, &format!("report.html.j2 ({})", path.display()));
    assert!(detail.contains("undefined"), "{detail}");
}

#[test]
fn an_override_that_does_not_compile_is_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("email.txt.j2"), "{% if %}\n").unwrap();
    let err = Templates::with_overrides(dir.path()).unwrap_err();
    assert!(
        err.to_string().starts_with("template email.txt.j2 ("),
        "{err}"
    );
}

#[test]
fn a_missing_override_directory_means_builtin_templates() {
    let templates =
        Templates::with_overrides(std::path::Path::new("/nonexistent/chorale")).unwrap();
    assert!(templates.overridden().is_empty());
}

fn release_facts() -> chorale_reports::ReleaseFacts {
    let at = "2026-12-04T09:00:00Z".parse().unwrap();
    chorale_reports::ReleaseFacts {
        version: "2.1.0".to_owned(),
        bundle: format!("127.0.0.1:5000/demo@sha256:{}", "a".repeat(64)),
        promoted_from: Some("2.1.0-rc.3".to_owned()),
        previous: Some("2.0.20261130".to_owned()),
        approvals: vec![
            chorale_reports::ApprovalFact {
                actor: "token:alice".to_owned(),
                role: "release-manager".to_owned(),
                reason: "the smoke failure is a known flake".to_owned(),
                overridden: true,
                at,
            },
            chorale_reports::ApprovalFact {
                actor: "oidc:bob".to_owned(),
                role: "admin".to_owned(),
                reason: "notes read".to_owned(),
                overridden: false,
                at,
            },
        ],
    }
}

#[test]
fn release_notes_name_the_version_digest_approvals_and_changes() {
    let report = sample(Sample::Green);
    let notes =
        chorale_reports::release_notes(&report, &release_facts(), &Templates::builtin()).unwrap();
    assert!(notes.starts_with("# demo 2.1.0\n"), "{notes}");
    for expected in [
        "(promoted from `2.1.0-rc.3`, same bundle)",
        &format!("`127.0.0.1:5000/demo@sha256:{}`", "a".repeat(64)),
        "`token:alice` (release-manager, ",
        "**override of a build that was not green**: the smoke failure is a known flake",
        "`oidc:bob` (admin, ",
        "## Changes since `2.0.20261130`",
    ] {
        assert!(notes.contains(expected), "{expected:?} in\n{notes}");
    }
    for change in &report.changes.components {
        assert!(
            notes.contains(&format!("### {} (", change.component)),
            "{} in\n{notes}",
            change.component
        );
    }
    insta::assert_snapshot!(notes);
}

#[test]
fn release_notes_follow_an_override_of_their_template() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("release-notes.md.j2"),
        "{{ release.version }} of {{ report.product }}, {{ release.approvals | length }} approvals\n",
    )
    .unwrap();
    let templates = Templates::with_overrides(dir.path()).unwrap();
    let notes =
        chorale_reports::release_notes(&sample(Sample::Green), &release_facts(), &templates)
            .unwrap();
    assert_eq!(notes, "2.1.0 of demo, 2 approvals\n");
}
