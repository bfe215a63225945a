//! Test plans as a product file holds them: parsed with serde-saphyr, checked against the
//! catalogue, problems located.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use chorale_test_jobs::{
    Action, BuildContext, ComponentContext, PlannedTest, Problem, TestPlanEntry, check_plan,
};
use serde::Deserialize;

/// The part of a Product's `spec` this crate owns.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    test_plan: Vec<TestPlanEntry>,
}

fn sample() -> BuildContext {
    BuildContext::sample(
        "demo",
        vec![
            ComponentContext::unpinned("db", [("127.0.0.1:5000/demo/db:main", "image")]),
            ComponentContext::unpinned(
                "api",
                [
                    ("127.0.0.1:5000/demo/api:main", "image"),
                    ("127.0.0.1:5000/chorale/probe:0.1.0", "probe"),
                ],
            ),
            ComponentContext::unpinned("web", []),
        ],
    )
}

fn check(dir: &Path, yaml: &str) -> Result<Vec<PlannedTest>, Vec<Problem>> {
    let spec: Spec = serde_saphyr::from_str(yaml).expect("the plan parses");
    check_plan(&spec.test_plan, dir, &sample())
}

/// Problems as the lead prints them, without the file name.
fn lines(problems: &[Problem]) -> String {
    let mut text = String::new();
    for problem in problems {
        let (line, column) = (problem.location.line(), problem.location.column());
        writeln!(text, "{line}:{column}: {}", problem.message).unwrap();
    }
    text
}

const SMOKE_JOB: &str = "\
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ test.job }}
spec:
  template:
    spec:
      containers:
        - name: smoke
          image: {{ components.api.images[0].image | tojson }}
          args: [smoke, {{ params.values.target | tojson }}, --junit, {{ results.path }}/smoke.xml]
";

fn product_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tests")).unwrap();
    std::fs::write(dir.path().join("tests/smoke-job.yaml"), SMOKE_JOB).unwrap();
    dir
}

#[test]
fn the_plan_of_the_issue_checks_with_defaults_applied() {
    let dir = product_dir();
    let tests = check(
        dir.path(),
        r#"
testPlan:
  - name: ready
    uses: workloads-ready
    gate: blocking
    timeout: 5m
    retries: 1
    with: { settle: 20s }
  - name: hooks
    uses: helm-test
    gate: informing
  - name: api-reachable
    uses: http-probe
    with:
      checks:
        - { url: "http://api:8080/healthz", status: 200, body: "ok" }
        - url: http://web:8080/
  - name: ha
    uses: pod-restart
    with: { components: [api, db] }
  - name: smoke
    uses: job
    with:
      template: tests/smoke-job.yaml
      values: { target: "http://api:8080" }
"#,
    )
    .unwrap_or_else(|problems| panic!("{}", lines(&problems)));
    let summary: Vec<String> = tests
        .iter()
        .map(|test| {
            let timeout = chorale_test_jobs::duration::format(test.timeout);
            let (name, uses, gate, retries) = (&test.name, &test.uses, test.gate, test.retries);
            format!("{name} {uses} {gate:?} {timeout} {retries}")
        })
        .collect();
    assert_eq!(
        summary,
        [
            "ready workloads-ready Blocking 5m 1",
            "hooks helm-test Informing 10m 0",
            "api-reachable http-probe Blocking 5m 0",
            "ha pod-restart Blocking 10m 0",
            "smoke job Blocking 10m 0",
        ]
    );
    assert_eq!(
        tests[0].action,
        Action::WorkloadsReady {
            settle: Duration::from_secs(20)
        }
    );
    assert_eq!(
        tests[1].action,
        Action::HelmTest {
            components: vec!["db".to_owned(), "api".to_owned(), "web".to_owned()]
        }
    );
    assert_eq!(
        tests[3].action,
        Action::PodRestart {
            components: vec!["api".to_owned(), "db".to_owned()],
            settle: Duration::from_secs(10)
        }
    );
    let Action::InCluster(probe) = &tests[2].action else {
        panic!("http-probe runs in the cluster");
    };
    insta::assert_json_snapshot!(probe.parameters, @r#"
    {
      "checks": [
        {
          "body": "ok",
          "status": "200",
          "url": "http://api:8080/healthz"
        },
        {
          "body": null,
          "status": "2xx",
          "url": "http://web:8080/"
        }
      ],
      "interval": "1s",
      "requestTimeout": "5s",
      "retryFor": "60s"
    }
    "#);
    let Action::InCluster(smoke) = &tests[4].action else {
        panic!("job runs in the cluster");
    };
    assert_eq!(smoke.template.name, "tests/smoke-job.yaml");
    assert_eq!(smoke.template.text, SMOKE_JOB);

    // A checked plan is stored with the build and read back unchanged.
    let stored = serde_json::to_string(&tests).unwrap();
    let read: Vec<PlannedTest> = serde_json::from_str(&stored).unwrap();
    assert_eq!(read, tests);
    assert!(stored.contains(r#""timeout":"5m""#), "{stored}");
}

#[test]
fn every_problem_is_reported_where_it_is() {
    let dir = product_dir();
    std::fs::write(
        dir.path().join("tests/broken.yaml"),
        "apiVersion: batch/v1\nkind: Job\nmetadata: { name: {{ test.jobb }} }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("tests/pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: { name: x }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("tests/fixed-name.yaml"),
        SMOKE_JOB.replace("{{ test.job }}", "smoke"),
    )
    .unwrap();
    let problems = check(
        dir.path(),
        r#"
testPlan:
  - name: Ready
    uses: workloads-ready
  - name: a-name-that-is-much-too-long-for-the-jobs-claims-and-pods
    uses: workloads-ready
    timeout: soon
    retries: 11
    with: { settle: 20, extra: 1 }
  - name: twice
    uses: helm-test
    with: { components: [api, cache, api] }
  - name: twice
    uses: smoke-tests
  - name: probe
    uses: http-probe
    with:
      checks:
        - { url: "https://api:8443/", status: 700 }
        - { url: "http://api/~home", body: "" }
        - { status: 2xx }
      retryFor: 1
  - name: empty-probe
    uses: http-probe
    with: { checks: [] }
  - name: no-checks
    uses: http-probe
  - name: missing
    uses: job
    with: { template: tests/nope.yaml }
  - name: undefined
    uses: job
    with: { template: tests/broken.yaml }
  - name: not-a-job
    uses: job
    with: { template: tests/pod.yaml }
  - name: bad-values
    uses: job
    with: { template: tests/fixed-name.yaml, values: 3 }
  - name: fixed-a
    uses: job
    with: { template: tests/fixed-name.yaml, values: { target: a } }
  - name: fixed-b
    uses: job
    with: { template: tests/fixed-name.yaml, values: { target: b } }
  - name: quick
    uses: pod-restart
    timeout: 10ms
    with: [api]
"#,
    )
    .unwrap_err();
    let text = lines(&problems).replace(&dir.path().display().to_string(), "PRODUCT");
    insta::assert_snapshot!(text);
}

#[test]
fn an_empty_plan_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(check(dir.path(), "testPlan: []\n").unwrap(), Vec::new());
}

#[test]
fn unknown_fields_and_gates_are_rejected_by_the_parser_with_a_location() {
    for (yaml, expected) in [
        (
            "testPlan:\n  - { name: a, uses: helm-test, gates: informing }\n",
            "unknown field `gates`",
        ),
        (
            "testPlan:\n  - { name: a, uses: helm-test, gate: optional }\n",
            "unknown variant `optional`",
        ),
        (
            "testPlan:\n  - { name: a, uses: helm-test, retries: -1 }\n",
            "-1",
        ),
    ] {
        let error = serde_saphyr::from_str::<Spec>(yaml)
            .err()
            .unwrap_or_else(|| panic!("{yaml} parses"));
        assert!(error.to_string().contains(expected), "{yaml}: {error}");
        assert_eq!(error.location().map(|location| location.line()), Some(2));
    }
}
