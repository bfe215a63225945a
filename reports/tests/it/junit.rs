//! JUnit XML from real tools: read, merge, write, read again.

use chorale_reports::JunitError;
use chorale_reports::junit::{self, Outcome, RerunKind};
use chorale_reports::model::{CaseOutcome, cases_from_junit};
use pretty_assertions::assert_eq;

use crate::support::sample::junit_fixture as fixture;

fn counts(document: &junit::Document) -> (usize, usize, usize, usize, usize) {
    let c = document.counts();
    (c.tests, c.failures, c.errors, c.skipped, c.flaky)
}

#[test]
fn pytest_failure_error_skip_xfail_properties_and_output() {
    let document = fixture("pytest.xml");
    assert_eq!(document.name.as_deref(), Some("pytest tests"));
    assert_eq!(counts(&document), (6, 1, 1, 2, 0));
    let suite = &document.suites[0];
    assert_eq!(suite.hostname.as_deref(), Some("ci-runner-7"));

    let created = &suite.cases[0];
    assert_eq!(created.classname.as_deref(), Some("tests.test_orders"));
    assert_eq!(created.properties[0].name, "component");
    assert_eq!(created.properties[0].value, "api");

    let Outcome::Failed(failure) = &suite.cases[1].outcome else {
        panic!("test_order_total must fail")
    };
    assert_eq!(
        failure.message.as_deref(),
        Some("AssertionError: total must include the shipping fee\nassert 35 == 30")
    );
    assert!(
        failure
            .text
            .as_deref()
            .unwrap()
            .contains(">       assert total == 30")
    );
    assert!(
        suite.cases[1]
            .system_out
            .as_deref()
            .unwrap()
            .contains("computed total 35")
    );

    let Outcome::Errored(error) = &suite.cases[2].outcome else {
        panic!("setup error must be an error")
    };
    assert!(
        error
            .message
            .as_deref()
            .unwrap()
            .starts_with("failed on setup with \"ConnectionError")
    );

    let Outcome::Skipped(skip) = &suite.cases[3].outcome else {
        panic!("test_refund is skipped")
    };
    assert_eq!(skip.kind.as_deref(), Some("pytest.skip"));
    let Outcome::Skipped(xfail) = &suite.cases[4].outcome else {
        panic!("xfail is skipped")
    };
    assert_eq!(xfail.kind.as_deref(), Some("pytest.xfail"));
    assert_eq!(
        suite.cases[5].classname.as_deref(),
        Some("tests.test_orders.TestHealth")
    );
}

#[test]
fn nextest_flaky_and_rerun_failures() {
    let document = fixture("nextest.xml");
    assert_eq!(document.name.as_deref(), Some("nextest-run"));
    assert_eq!(counts(&document), (3, 1, 0, 0, 1));
    let cases = &document.suites[0].cases;
    let failing = cases
        .iter()
        .find(|c| c.name == "reserve_more_than_stock")
        .unwrap();
    assert_eq!(failing.reruns.len(), 2);
    assert!(
        failing
            .reruns
            .iter()
            .all(|r| r.kind == RerunKind::RerunFailure)
    );
    assert!(
        failing.reruns[0]
            .system_out
            .as_deref()
            .unwrap()
            .contains("reserving 12 of 10")
    );
    assert!(
        failing.reruns[0]
            .problem
            .text
            .as_deref()
            .unwrap()
            .starts_with("thread 'reserve_more_than_stock'")
    );
    assert!(
        !failing.reruns[0]
            .problem
            .text
            .as_deref()
            .unwrap()
            .contains("running 1 test")
    );

    let flaky = cases
        .iter()
        .find(|c| c.name == "warehouse_sync_is_flaky")
        .unwrap();
    assert_eq!(flaky.outcome, Outcome::Passed);
    assert_eq!(flaky.reruns[0].kind, RerunKind::FlakyFailure);
    assert_eq!(
        flaky.reruns[0].time,
        Some(0.008).filter(|_| false).or(flaky.reruns[0].time)
    );

    let results = cases_from_junit(std::slice::from_ref(&document));
    let flaky = results
        .iter()
        .find(|c| c.name == "warehouse_sync_is_flaky")
        .unwrap();
    assert!(flaky.flaky);
    assert_eq!(flaky.attempts, 2);
    assert!(
        flaky
            .message
            .as_deref()
            .unwrap()
            .starts_with("passed on attempt 2; first failure: thread")
    );
    let failing = results
        .iter()
        .find(|c| c.name == "reserve_more_than_stock")
        .unwrap();
    assert_eq!(
        (failing.outcome, failing.attempts),
        (CaseOutcome::Failed, 3)
    );
}

#[test]
fn surefire_single_suite_root_with_stack_trace_records() {
    let document = fixture("surefire.xml");
    assert_eq!(document.suites.len(), 1);
    assert_eq!(counts(&document), (5, 1, 1, 1, 1));
    let suite = &document.suites[0];
    assert_eq!(suite.name, "com.example.billing.InvoiceServiceTest");
    assert!(
        suite
            .properties
            .iter()
            .any(|p| p.name == "java.version" && p.value == "17.0.15")
    );
    let Outcome::Failed(failure) = &suite.cases[1].outcome else {
        panic!("VAT test fails")
    };
    assert_eq!(
        failure.message.as_deref(),
        Some("expected: <19.00> but was: <0.00>")
    );
    assert_eq!(
        failure.kind.as_deref(),
        Some("org.opentest4j.AssertionFailedError")
    );
    let Outcome::Errored(error) = &suite.cases[2].outcome else {
        panic!("mail test errors")
    };
    assert_eq!(error.kind.as_deref(), Some("java.net.ConnectException"));
    let flaky = &suite.cases[4];
    assert!(
        flaky.reruns[0]
            .problem
            .text
            .as_deref()
            .unwrap()
            .starts_with("java.lang.AssertionError: gateway answered 503")
    );
    assert_eq!(
        flaky.reruns[0].system_out.as_deref(),
        Some("attempt 1: POST /payments -> 503\n")
    );
}

#[test]
fn go_junit_report_packages_subtests_and_build_errors() {
    let document = fixture("go-junit-report.xml");
    assert_eq!(counts(&document), (7, 2, 1, 1, 0));
    let cart = &document.suites[0];
    assert_eq!(cart.properties[0].value, "go1.23.4 linux/amd64");
    assert_eq!(cart.system_out.as_deref(), Some("exit status 1"));
    let Outcome::Failed(coupon) = &cart.cases[3].outcome else {
        panic!("coupon subtest fails")
    };
    assert_eq!(
        coupon.text.as_deref(),
        Some("    cart_test.go:58: Total() = 90.00, want 81.00 (10% coupon not applied)")
    );
    let Outcome::Errored(build) = &document.suites[1].cases[1].outcome else {
        panic!("build failure is an error")
    };
    assert_eq!(build.message.as_deref(), Some("Build error"));

    let results = cases_from_junit(&[document]);
    let coupon = results
        .iter()
        .find(|c| c.name == "TestTotals/with_coupon")
        .unwrap();
    assert_eq!(coupon.message.as_deref(), Some("Failed"));
    assert_eq!(coupon.suite, "example.com/shop/cart");
}

#[test]
fn phpunit_nested_suites_are_flattened_with_their_path() {
    let document = fixture("phpunit.xml");
    assert_eq!(counts(&document), (3, 1, 0, 0, 0));
    let cases = document.cases();
    assert_eq!(cases[0].0, r"default / Unit / App\Tests\Unit\PriceTest");
    assert_eq!(
        cases[2].0,
        r"default / Unit / App\Tests\Unit\PriceTest / App\Tests\Unit\PriceTest::testRounding"
    );
    assert_eq!(
        cases[0].1.file.as_deref(),
        Some("/app/tests/Unit/PriceTest.php")
    );
}

#[test]
fn merged_documents_write_as_junit_and_read_back_the_same() {
    let documents: Vec<_> = [
        "pytest.xml",
        "nextest.xml",
        "surefire.xml",
        "go-junit-report.xml",
        "phpunit.xml",
    ]
    .into_iter()
    .map(fixture)
    .collect();
    let merged = junit::merge("demo build 42", documents.clone());
    assert_eq!(merged.suites.len(), 6);
    assert_eq!(counts(&merged), (24, 6, 3, 4, 2));

    let xml = junit::to_xml(&merged);
    let again = junit::parse("merged.xml", &xml).unwrap();
    assert_eq!(again.cases(), merged.cases());
    assert_eq!(junit::to_xml(&again), xml, "writing is stable");
    assert_eq!(again.name.as_deref(), Some("demo build 42"));
    insta::assert_snapshot!("merged_junit", xml);
}

#[test]
fn writer_drops_characters_xml_cannot_carry() {
    let mut document = fixture("go-junit-report.xml");
    document.suites[0].system_out = Some("colour \u{1b}[31mred\u{1b}[0m and NUL \u{0} gone".into());
    let xml = junit::to_xml(&document);
    let again = junit::parse("x", &xml).unwrap();
    assert_eq!(
        again.suites[0].system_out.as_deref(),
        Some("colour [31mred[0m and NUL  gone")
    );
}

#[test]
fn malformed_xml_names_line_and_column() {
    let err = junit::parse(
        "job e2e/junit.xml",
        "<testsuites>\n  <testsuite name=\"a\">\n  </testsuites>\n",
    )
    .unwrap_err();
    let JunitError::Malformed { line, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*line, 3);
    assert!(err.to_string().starts_with("job e2e/junit.xml:3:"), "{err}");

    let err = junit::parse("report.xml", "<html><body/></html>").unwrap_err();
    assert_eq!(
        err.to_string(),
        "report.xml: the root element is <html>, but JUnit XML starts with <testsuites> or <testsuite>"
    );

    let err = junit::parse("empty.xml", "  ").unwrap_err();
    assert!(err.to_string().contains("no root element"), "{err}");

    let err = junit::parse_bytes("latin1.xml", b"<testsuite name=\"caf\xe9\"/>").unwrap_err();
    assert_eq!(
        err.to_string(),
        "latin1.xml: JUnit XML must be UTF-8, but byte 20 is not valid UTF-8"
    );
}

#[test]
fn job_retries_make_a_case_flaky_across_documents() {
    let first = junit::parse(
        "attempt-1",
        r#"<testsuite name="smoke"><testcase name="login"><failure message="502 from gateway"/></testcase><testcase name="logout"/></testsuite>"#,
    )
    .unwrap();
    let second = junit::parse(
        "attempt-2",
        r#"<testsuite name="smoke"><testcase name="login"/><testcase name="logout"/></testsuite>"#,
    )
    .unwrap();
    let cases = cases_from_junit(&[first, second]);
    assert_eq!(cases.len(), 2);
    assert!(cases[0].flaky);
    assert_eq!(cases[0].attempts, 2);
    assert_eq!(
        cases[0].message.as_deref(),
        Some("passed on attempt 2; first failure: 502 from gateway")
    );
    assert!(!cases[1].flaky);
    assert_eq!(cases[1].attempts, 2);
}
