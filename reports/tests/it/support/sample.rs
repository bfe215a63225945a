//! Reports with fixed ids and times, shared by tests and the benchmark.

use chorale_reports::junit;
use chorale_reports::model::{
    Baseline, CaseOutcome, ChangeKind, Changes, Commit, ComponentChange, ComponentDeploy,
    DeployStatus, DigestMove, Gate, JobStatus, Links, Report, StageRecord, StageStatus,
    TestCaseResult, TestJobResult, cases_from_junit,
};

fn at(time: &str) -> jiff::Timestamp {
    format!("2026-11-23T{time}Z")
        .parse()
        .expect("fixed timestamps parse")
}

fn stage(name: &str, status: StageStatus, start: &str, end: &str) -> StageRecord {
    StageRecord {
        name: name.to_owned(),
        status,
        started_at: Some(at(start)),
        finished_at: Some(at(end)),
        message: None,
        log: Some(format!(
            "https://chorale.example.com/builds/demo-20261123-0214/logs/{name}"
        )),
    }
}

fn deploy(component: &str, ms: u64) -> ComponentDeploy {
    ComponentDeploy {
        component: component.to_owned(),
        status: DeployStatus::Deployed,
        duration_ms: Some(ms),
        message: None,
        log: None,
    }
}

/// A JUnit document from `tests/it/fixtures/junit/`.
pub fn junit_fixture(name: &str) -> junit::Document {
    let path = format!(
        "{}/tests/it/fixtures/junit/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let xml =
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("cannot read {path}: {err}"));
    junit::parse(name, &xml).unwrap_or_else(|err| panic!("{err}"))
}

fn single(
    name: &str,
    outcome: CaseOutcome,
    attempts: u32,
    message: Option<&str>,
) -> TestCaseResult {
    TestCaseResult {
        suite: name.to_owned(),
        classname: None,
        name: name.to_owned(),
        outcome,
        attempts,
        flaky: outcome == CaseOutcome::Passed && attempts > 1,
        duration_ms: Some(4_200),
        message: message.map(str::to_owned),
        details: None,
    }
}

fn commit(id: &str, subject: &str, author: &str) -> Commit {
    Commit {
        id: format!("{id}{}", "0".repeat(40 - id.len())),
        short_id: id[..7].to_owned(),
        subject: subject.to_owned(),
        author: author.to_owned(),
    }
}

/// The sample reports.
#[derive(Debug, Clone, Copy)]
pub enum Sample {
    /// A red nightly build of the demo product (see [`red_report`]).
    Red,
    /// The same build with every blocking job passing.
    Green,
    /// A red build with this many extra test cases and 40 more changed components.
    Large(usize),
}

/// A sample report with fixed ids and times.
pub fn report(sample: Sample) -> Report {
    match sample {
        Sample::Red => red_report(),
        Sample::Green => green_report(),
        Sample::Large(cases) => large_report(cases),
    }
}

/// A red nightly build of the demo product: a blocking job with a failure and a setup
/// error, an informing job with a failure and a flaky case, a flaky blocking job, a timed
/// out informing job, three changed components.
fn red_report() -> Report {
    Report {
        product: "demo".to_owned(),
        build_id: "demo-20261123-0214".to_owned(),
        candidate_version: "1.0.20261123".to_owned(),
        lock_id: "sha256:5f2b8c0e4a7d9e1f3b6c8a0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c6d8e0f".to_owned(),
        bundle_digest: Some(
            "sha256:9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9".to_owned(),
        ),
        generated_at: at("02:31:07"),
        links: Links {
            report: Some("https://chorale.example.com/builds/demo-20261123-0214/report".to_owned()),
            build: Some("https://chorale.example.com/builds/demo-20261123-0214".to_owned()),
            approve: Some("https://chorale.example.com/builds/demo-20261123-0214/approve".to_owned()),
        },
        stages: vec![
            stage("snapshot", StageStatus::Succeeded, "02:14:00", "02:14:09"),
            stage("assemble", StageStatus::Succeeded, "02:14:09", "02:14:40"),
            stage("provision", StageStatus::Succeeded, "02:14:40", "02:15:35"),
            stage("deploy", StageStatus::Succeeded, "02:15:35", "02:21:10"),
            stage("test", StageStatus::Succeeded, "02:21:10", "02:30:02"),
            stage("teardown", StageStatus::Succeeded, "02:30:02", "02:30:40"),
        ],
        deploys: vec![
            deploy("db", 41_000),
            deploy("cache", 12_500),
            deploy("api", 96_300),
            deploy("web", 58_100),
            deploy("ext", 7_800),
        ],
        test_jobs: vec![
            TestJobResult {
                name: "workloads-ready".to_owned(),
                gate: Gate::Blocking,
                status: JobStatus::Passed,
                attempts: 1,
                duration_ms: Some(62_000),
                message: None,
                log: None,
                cases: vec![single("workloads-ready", CaseOutcome::Passed, 1, None)],
            },
            TestJobResult {
                name: "api-e2e".to_owned(),
                gate: Gate::Blocking,
                status: JobStatus::Failed,
                attempts: 1,
                duration_ms: Some(184_000),
                message: None,
                log: Some("https://chorale.example.com/builds/demo-20261123-0214/logs/api-e2e".to_owned()),
                cases: cases_from_junit(&[junit_fixture("pytest.xml")]),
            },
            TestJobResult {
                name: "http-probe".to_owned(),
                gate: Gate::Blocking,
                status: JobStatus::Passed,
                attempts: 2,
                duration_ms: Some(21_000),
                message: None,
                log: None,
                cases: vec![single("GET http://web/healthz", CaseOutcome::Passed, 2, Some("502 Bad Gateway on attempt 1"))],
            },
            TestJobResult {
                name: "inventory-unit".to_owned(),
                gate: Gate::Informing,
                status: JobStatus::Failed,
                attempts: 1,
                duration_ms: Some(9_400),
                message: None,
                log: None,
                cases: cases_from_junit(&[junit_fixture("nextest.xml")]),
            },
            TestJobResult {
                name: "pod-restart".to_owned(),
                gate: Gate::Informing,
                status: JobStatus::TimedOut,
                attempts: 1,
                duration_ms: Some(300_000),
                message: Some("deadline of 5m exceeded waiting for web to recover".to_owned()),
                log: None,
                cases: vec![single(
                    "pod-restart",
                    CaseOutcome::Errored,
                    1,
                    Some("deadline of 5m exceeded waiting for web to recover"),
                )],
            },
        ],
        changes: Changes {
            baseline: Some(Baseline {
                build_id: "demo-20261122-0214".to_owned(),
                version: Some("1.0.20261122".to_owned()),
                lock_id: "sha256:1c3e5a7b9d1f2e4a6c8e0b2d4f6a8c0e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a".to_owned(),
            }),
            components: vec![
                ComponentChange {
                    component: "api".to_owned(),
                    change: ChangeKind::Updated,
                    from_commit: Some("3f9a1c2b7d4e5f60718293a4b5c6d7e8f9012345".to_owned()),
                    to_commit: Some("a1b2c3d4e5f60718293a4b5c6d7e8f9012345678".to_owned()),
                    commits: vec![
                        commit("a1b2c3d4", "Charge shipping in order totals", "Mei Chen"),
                        commit("9e8d7c6b", "Retry database connection on startup", "Jonas Berg"),
                        commit("5a4b3c2d", "Bump chart version to 2.4.1", "Mei Chen"),
                    ],
                    commits_omitted: 0,
                    chart: Some(DigestMove {
                        reference: "api".to_owned(),
                        from: Some("sha256:aa11bb22cc33dd44ee55ff6600aa11bb22cc33dd44ee55ff6600aa11bb22cc33".to_owned()),
                        to: Some("sha256:bb22cc33dd44ee55ff6600aa11bb22cc33dd44ee55ff6600aa11bb22cc33dd44".to_owned()),
                    }),
                    images: vec![DigestMove {
                        reference: "127.0.0.1:5000/demo/api".to_owned(),
                        from: Some("sha256:0011223344556677889900112233445566778899001122334455667788990011".to_owned()),
                        to: Some("sha256:1122334455667788990011223344556677889900112233445566778899001122".to_owned()),
                    }],
                },
                ComponentChange {
                    component: "web".to_owned(),
                    change: ChangeKind::Updated,
                    from_commit: Some("77aa88bb99cc00dd11ee22ff33aa44bb55cc66dd".to_owned()),
                    to_commit: Some("c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00".to_owned()),
                    commits: vec![commit("c0ffee00", "Show order totals with shipping", "Ana Souza")],
                    commits_omitted: 0,
                    chart: None,
                    images: vec![DigestMove {
                        reference: "127.0.0.1:5000/demo/web".to_owned(),
                        from: Some("sha256:2233445566778899001122334455667788990011223344556677889900112233".to_owned()),
                        to: Some("sha256:3344556677889900112233445566778899001122334455667788990011223344".to_owned()),
                    }],
                },
                ComponentChange {
                    component: "ext".to_owned(),
                    change: ChangeKind::Added,
                    from_commit: None,
                    to_commit: None,
                    commits: Vec::new(),
                    commits_omitted: 0,
                    chart: Some(DigestMove {
                        reference: "oci://127.0.0.1:5000/charts/ext".to_owned(),
                        from: None,
                        to: Some("sha256:4455667788990011223344556677889900112233445566778899001122334455".to_owned()),
                    }),
                    images: Vec::new(),
                },
            ],
        },
    }
}

/// The same build with every blocking job passing: green, informing failures remain.
fn green_report() -> Report {
    let mut report = red_report();
    let api = report
        .test_jobs
        .iter_mut()
        .find(|j| j.name == "api-e2e")
        .expect("api-e2e job");
    api.status = JobStatus::Passed;
    for case in &mut api.cases {
        if case.outcome.is_bad() {
            case.outcome = CaseOutcome::Passed;
            case.message = None;
            case.details = None;
        }
    }
    report
}

/// A red build with `cases` test cases in one blocking job, every seventh failing, and
/// many changed components: large enough to force every message to be shortened.
fn large_report(cases: usize) -> Report {
    let mut report = red_report();
    let job = TestJobResult {
        name: "conformance".to_owned(),
        gate: Gate::Blocking,
        status: JobStatus::Failed,
        attempts: 1,
        duration_ms: Some(1_800_000),
        message: None,
        log: None,
        cases: (0..cases)
            .map(|i| {
                let failed = i % 7 == 3;
                TestCaseResult {
                    suite: format!("conformance/suite-{:02}", i % 40),
                    classname: Some(format!("conformance.suite_{:02}", i % 40)),
                    name: format!("test_case_{i:05}_checks_the_behaviour_of_a_rather_long_scenario_name"),
                    outcome: if failed { CaseOutcome::Failed } else { CaseOutcome::Passed },
                    attempts: 1,
                    flaky: false,
                    duration_ms: Some(120 + (i as u64 % 900)),
                    message: failed.then(|| format!("assertion failed: expected status 200 for request {i}, got 503 Service Unavailable")),
                    details: failed.then(|| format!("Traceback (most recent call last):\n  File \"conformance/suite.py\", line {i}, in check\nAssertionError: expected 200, got 503\n")),
                }
            })
            .collect(),
    };
    report.test_jobs.push(job);
    for n in 0..40 {
        report.changes.components.push(ComponentChange {
            component: format!("service-{n:02}"),
            change: ChangeKind::Updated,
            from_commit: Some(format!("{n:040}")),
            to_commit: Some(format!("{:040}", n + 1)),
            commits: (0..12)
                .map(|c| {
                    commit(
                        &format!("{n:02}{c:02}abcd"),
                        &format!("Change {c} of service {n}: adjust the retry budget and timeouts"),
                        "Release Bot",
                    )
                })
                .collect(),
            commits_omitted: 30,
            chart: None,
            images: Vec::new(),
        });
    }
    report
}
