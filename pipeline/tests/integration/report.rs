//! The report of a stored build: deploys, the test matrix from JUnit files, and the commits
//! and digests that changed since the last green build, read from real git repositories;
//! `chorale report` in every format.

use chorale::report::{Format, build_report, file_name, write_report};
use chorale::resources::build::{Build, ComponentDeploy, Status, TestArtefacts, TestRun};
use chorale::resources::lock::Lock;
use chorale_reports::model::{CaseOutcome, ChangeKind, JobStatus, Verdict};
use chorale_test_jobs::Gate;
use serde_json::Value;

use crate::cli::{chorale, text};
use crate::support::builds::{
    Bench, at, finished_build, git_component, lock, oci_component, save, without_path,
};

const READY: &str = r#"<testsuites><testsuite name="ready" tests="2">
<testcase classname="ready" name="db is ready" time="1.5"/>
<testcase classname="ready" name="api is ready" time="2.0"/>
</testsuite></testsuites>"#;

const SMOKE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3" failures="1" skipped="1">
<testcase classname="tests.test_api" name="test_health" time="0.12"/>
<testcase classname="tests.test_api" name="test_orders" time="0.40"><failure message="assert 500 == 200">def test_orders(client):
&gt;       assert client.get("/orders").status == 200
E       AssertionError: assert 500 == 200</failure></testcase>
<testcase classname="tests.test_api" name="test_export" time="0"><skipped message="export is disabled"/></testcase>
</testsuite></testsuites>"#;

const SMOKE_EXIT: &str = r#"<testsuite name="smoke"><testcase name="Job demo-smoke" time="12"><failure message="the Job failed: BackoffLimitExceeded">Job has reached the specified backoff limit</failure></testcase></testsuite>"#;

const CHAOS: &str =
    r#"<testsuite name="chaos"><testcase name="api survives a restart" time="30"/></testsuite>"#;

fn deploy(component: &str, wave: u32, status: Status, message: Option<&str>) -> ComponentDeploy {
    ComponentDeploy {
        component: component.to_owned(),
        wave,
        status,
        started_at: Some(at("23T02:17:00")),
        finished_at: Some(at("23T02:17:42")),
        message: message.map(str::to_owned),
        log: Some(format!("deploy/{component}.log")),
    }
}

fn test(
    name: &str,
    uses: &str,
    gate: Gate,
    status: Status,
    attempts: u32,
    junit: &[&str],
) -> TestRun {
    TestRun {
        name: name.to_owned(),
        uses: uses.to_owned(),
        gate,
        status,
        attempts,
        started_at: Some(at("23T02:18:00")),
        finished_at: Some(at("23T02:18:30")),
        message: (status == Status::Failed).then(|| format!("{name} failed")),
        artefacts: TestArtefacts {
            junit: junit.iter().map(|f| format!("tests/{name}/{f}")).collect(),
            logs: (1..=attempts)
                .map(|n| format!("tests/{name}/attempt-{n}/pod.log"))
                .collect(),
        },
    }
}

/// A world of three builds of `demo`: a green baseline, a red build in between, and the red
/// build under test, whose lock moved `db` by two commits, moved `api`'s image, dropped
/// `legacy` and added `cache`.
struct History {
    bench: Bench,
    baseline: Lock,
    current: Lock,
    build: Build,
    db_commits: Vec<String>,
}

async fn history() -> History {
    let bench = Bench::new().await;
    let db = bench.git.create_repo("db").unwrap();
    db.write_file("chart/values.yaml", "replicas: 1\n").unwrap();
    let first = db.commit("db: the first chart").unwrap();
    let api = bench.git.create_repo("api").unwrap();
    let api_commit = api.commit("api: the first chart").unwrap();
    let legacy = bench.git.create_repo("legacy").unwrap();
    let legacy_commit = legacy.commit("legacy: the last chart").unwrap();
    let baseline = lock(vec![
        git_component(&db, &first, '1', 'a'),
        git_component(&api, &api_commit, '2', 'b'),
        git_component(&legacy, &legacy_commit, '3', 'c'),
    ]);
    db.write_file("chart/templates/index.yaml", "# orders\n")
        .unwrap();
    let second = db.commit("db: add an index on orders").unwrap();
    // A commit outside the chart's folder is not one of its changes.
    db.write_file("README.md", "# db\n").unwrap();
    db.commit("docs: say what db is").unwrap();
    db.write_file("chart/values.yaml", "replicas: 1\npool: 20\n")
        .unwrap();
    let third = db.commit("db: tune the connection pool").unwrap();
    let current = lock(vec![
        git_component(&db, &third, '4', 'd'),
        git_component(&api, &api_commit, '2', 'e'),
        oci_component("cache", '5'),
    ]);

    let green = finished_build(
        "20261122-021400-0001",
        "22",
        Status::Succeeded,
        Some(&baseline),
    );
    save(&bench.context, &green, Some(&baseline)).await;
    // A red build after the green one is not a baseline.
    let mut red = finished_build("20261122-141400-0002", "22", Status::Failed, Some(&current));
    red.created_at = at("22T14:14:00");
    save(&bench.context, &red, Some(&current)).await;

    let mut build = finished_build("20261123-021400-0003", "23", Status::Failed, Some(&current));
    build.error = Some("test: 1 blocking test failed".to_owned());
    build.components = vec![
        deploy("cache", 0, Status::Succeeded, None),
        deploy("db", 0, Status::Succeeded, None),
        deploy("api", 1, Status::Succeeded, None),
    ];
    build.tests = vec![
        test(
            "ready",
            "workloads-ready",
            Gate::Blocking,
            Status::Succeeded,
            1,
            &["ready.xml"],
        ),
        test(
            "smoke",
            "job",
            Gate::Blocking,
            Status::Failed,
            2,
            &["pytest.xml", "exit-status.xml"],
        ),
        test(
            "chaos",
            "pod-restart",
            Gate::Informing,
            Status::Succeeded,
            2,
            &["chaos.xml"],
        ),
        test(
            "extra",
            "job",
            Gate::Informing,
            Status::Failed,
            1,
            &["missing.xml"],
        ),
    ];
    for (file, xml) in [
        ("tests/ready/ready.xml", READY),
        ("tests/smoke/pytest.xml", SMOKE),
        ("tests/smoke/exit-status.xml", SMOKE_EXIT),
        ("tests/chaos/chaos.xml", CHAOS),
    ] {
        bench.build_file(&build.id, file, xml);
    }
    save(&bench.context, &build, Some(&current)).await;
    History {
        bench,
        baseline,
        current,
        build,
        db_commits: vec![third, second],
    }
}

/// `text` with what stands between the first `before` and the `after` that follows replaced
/// by `<NOW>`.
fn now_between(text: &str, before: &str, after: &str) -> String {
    let start = text
        .find(before)
        .unwrap_or_else(|| panic!("`{before}` in:\n{text}"))
        + before.len();
    let end = start + text[start..].find(after).expect("the end of the time");
    format!("{}<NOW>{}", &text[..start], &text[end..])
}

impl History {
    /// `text` with what differs between runs replaced: the state folder, the lock ids (they
    /// hold the git daemon's port) and the time the report was generated (in every format:
    /// two renderings a second apart differ there).
    fn redact(&self, text: &str, format: Format) -> String {
        let mut text = without_path(text.trim_end(), &self.bench.state());
        for (lock, name) in [
            (&self.baseline, "<BASELINE-LOCK>"),
            (&self.current, "<LOCK>"),
        ] {
            text = text.replace(&lock.id, name).replace(&lock.id[..19], name);
        }
        match format {
            Format::Json => {
                let mut value: Value = serde_json::from_str(&text).unwrap();
                value["generatedAt"] = Value::from("<NOW>");
                serde_json::to_string_pretty(&value).unwrap()
            }
            Format::Markdown => text
                .lines()
                .map(|line| {
                    if line.starts_with("| Generated |") {
                        "| Generated | <NOW> |"
                    } else {
                        line
                    }
                })
                .collect::<Vec<_>>()
                .join("\n"),
            Format::Junit => now_between(&text, "timestamp=\"", "\""),
            Format::Html => now_between(&text, "<span>generated ", "</span>"),
        }
    }

    /// `chorale report BUILD --format F`, redacted.
    fn cli_report(&self, format: Format) -> String {
        let output = chorale(&self.bench.state(), self.bench.dir.path())
            .args(["report", &self.build.id[..15], "--format", format.name()])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{:?}", text(&output));
        self.redact(&text(&output).0, format)
    }
}

#[tokio::test]
async fn the_report_lists_commits_digests_deploys_and_the_test_matrix() {
    let history = history().await;
    let report = build_report(&history.bench.context, &history.build)
        .await
        .unwrap();

    // What changed since the green build of the 22nd (not the red one after it).
    let baseline = report.changes.baseline.as_ref().expect("a green baseline");
    assert_eq!(baseline.build_id, "20261122-021400-0001");
    assert_eq!(baseline.lock_id, history.baseline.id);
    let changes: Vec<(&str, ChangeKind)> = report
        .changes
        .components
        .iter()
        .map(|c| (c.component.as_str(), c.change))
        .collect();
    assert_eq!(
        changes,
        [
            ("api", ChangeKind::Updated),
            ("cache", ChangeKind::Added),
            ("db", ChangeKind::Updated),
            ("legacy", ChangeKind::Removed),
        ]
    );
    let db = &report.changes.components[2];
    let listed: Vec<(&str, &str, &str, &str)> = db
        .commits
        .iter()
        .map(|c| {
            (
                c.id.as_str(),
                c.short_id.as_str(),
                c.subject.as_str(),
                c.author.as_str(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (
                history.db_commits[0].as_str(),
                &history.db_commits[0][..7],
                "db: tune the connection pool",
                "Chorale Test"
            ),
            (
                history.db_commits[1].as_str(),
                &history.db_commits[1][..7],
                "db: add an index on orders",
                "Chorale Test"
            ),
        ]
    );
    assert_eq!(db.commits_omitted, 0);
    assert_eq!(
        db.to_commit.as_deref(),
        Some(history.db_commits[0].as_str())
    );
    let chart = db.chart.as_ref().expect("the chart digest moved");
    assert_eq!(
        chart.from.as_deref(),
        Some(format!("sha256:{}", "1".repeat(64)).as_str())
    );
    assert_eq!(
        chart.to.as_deref(),
        Some(format!("sha256:{}", "4".repeat(64)).as_str())
    );
    let api = &report.changes.components[0];
    assert!(api.commits.is_empty() && api.chart.is_none(), "{api:?}");
    assert_eq!(api.images.len(), 1);
    assert_eq!(api.images[0].reference, "127.0.0.1:5000/demo/api:main");

    // Deploys in wave order, the test matrix from the JUnit files.
    let deployed: Vec<&str> = report
        .deploys
        .iter()
        .map(|d| d.component.as_str())
        .collect();
    assert_eq!(deployed, ["cache", "db", "api"]);
    assert_eq!(report.deploys[0].duration_ms, Some(42_000));
    assert_eq!(report.deploys[0].log.as_deref(), Some("deploy/cache.log"));
    let jobs: Vec<(&str, JobStatus, usize, bool)> = report
        .test_jobs
        .iter()
        .map(|j| (j.name.as_str(), j.status, j.cases.len(), j.flaky()))
        .collect();
    assert_eq!(
        jobs,
        [
            ("ready", JobStatus::Passed, 2, false),
            ("smoke", JobStatus::Failed, 4, false),
            ("chaos", JobStatus::Passed, 1, true),
            ("extra", JobStatus::Failed, 1, false),
        ]
    );
    let smoke = &report.test_jobs[1];
    assert_eq!(smoke.log.as_deref(), Some("tests/smoke/attempt-2/pod.log"));
    let outcomes: Vec<(&str, CaseOutcome)> = smoke
        .cases
        .iter()
        .map(|c| (c.name.as_str(), c.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("test_health", CaseOutcome::Passed),
            ("test_orders", CaseOutcome::Failed),
            ("test_export", CaseOutcome::Skipped),
            ("Job demo-smoke", CaseOutcome::Failed),
        ]
    );
    let missing = &report.test_jobs[3].cases[0];
    assert_eq!(missing.outcome, CaseOutcome::Errored);
    assert_eq!(missing.name, "results file tests/extra/missing.xml");
    assert!(
        missing.message.as_deref().unwrap().contains("cannot read"),
        "{missing:?}"
    );
    let summary = report.summary();
    assert_eq!(summary.verdict, Verdict::Red);
    assert_eq!(summary.informing.flaky, 1);
    assert_eq!(report.candidate_version, "1.0.20261123");
    assert_eq!(report.lock_id, history.current.id);
}

#[tokio::test]
async fn chorale_report_prints_every_format_from_the_store_and_from_the_files() {
    let history = history().await;
    let dir = history.bench.build_dir(&history.build.id);

    // Before the build's report is written, it is rendered from the store.
    let mut from_store = Vec::new();
    for format in Format::ALL {
        assert!(!dir.join(file_name(format)).exists());
        from_store.push(history.cli_report(format));
    }

    let product = history.bench.product("");
    let files = write_report(&history.bench.context, &product, &history.build)
        .await
        .unwrap();
    let written: Vec<String> = files
        .files
        .iter()
        .map(|(_, path)| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        written,
        ["report.md", "report.html", "report.xml", "report.json"]
    );
    for ((format, path), rendered) in files.files.iter().zip(&from_store) {
        assert!(path.starts_with(&dir), "{}", path.display());
        let kept = std::fs::read_to_string(path).unwrap();
        let printed = history.cli_report(*format);
        assert_eq!(printed, history.redact(&kept, *format), "{format:?}");
        assert_eq!(
            &printed, rendered,
            "{format:?}: the file and the store agree"
        );
    }

    insta::assert_snapshot!("report_md", from_store[0]);
    insta::assert_snapshot!("report_junit", from_store[2]);
    insta::assert_snapshot!("report_json", from_store[3]);
    let html = &from_store[1];
    assert!(html.starts_with("<!doctype html>"), "{}", &html[..80]);
    for expected in [
        "<svg",
        "db: tune the connection pool",
        "test_orders",
        // Links are relative to the build's folder, where the page is kept (minijinja
        // escapes `/` in attributes).
        "href=\"deploy&#x2f;db.log\"",
        "href=\"tests&#x2f;smoke&#x2f;attempt-2&#x2f;pod.log\"",
    ] {
        assert!(html.contains(expected), "the page lacks {expected}");
    }
    assert!(
        !html.contains("<script") && !html.contains("<link"),
        "self-contained"
    );
}

#[tokio::test]
async fn without_an_earlier_green_build_the_report_says_so() {
    let bench = Bench::new().await;
    let repo = bench.git.create_repo("db").unwrap();
    let commit = repo.commit("db: the first chart").unwrap();
    let only = lock(vec![git_component(&repo, &commit, '1', 'a')]);
    let build = finished_build("20261123-021400-0001", "23", Status::Succeeded, Some(&only));
    save(&bench.context, &build, Some(&only)).await;
    let report = build_report(&bench.context, &build).await.unwrap();
    assert!(report.changes.baseline.is_none());
    assert!(report.changes.components.is_empty());
    let markdown = chorale::report::show_report(&bench.context, &build.id, Format::Markdown)
        .await
        .unwrap();
    assert!(
        markdown.contains("There is no earlier green build of demo; every component is new."),
        "{markdown}"
    );
}

#[tokio::test]
async fn a_product_overrides_the_report_templates() {
    let bench = Bench::new().await;
    let templates = bench.path("templates");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(
        templates.join("report.md.j2"),
        "# {{ report.product }} {{ report.candidateVersion }}: {{ summary.verdict }}\n",
    )
    .unwrap();
    let product = bench.product("  reportTemplates: templates\n");
    assert_eq!(
        product.reporting.templates.as_deref(),
        Some(templates.as_path())
    );
    let build = finished_build("20261123-021400-0001", "23", Status::Succeeded, None);
    save(&bench.context, &build, None).await;
    let files = write_report(&bench.context, &product, &build)
        .await
        .unwrap();
    let markdown = std::fs::read_to_string(&files.files[0].1).unwrap();
    assert_eq!(markdown, "# demo 1.0.20261123: green\n");
    // The HTML page stays built-in.
    let html = std::fs::read_to_string(&files.files[1].1).unwrap();
    assert!(html.starts_with("<!doctype html>"));
}

#[tokio::test]
async fn an_unknown_build_is_named() {
    let bench = Bench::new().await;
    let output = chorale(&bench.state(), bench.dir.path())
        .args(["report", "20991231"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(chorale::errors::exit::INVALID_INPUT)
    );
    assert_eq!(
        text(&output).1,
        "error: no build `20991231` is recorded, or several ids start with it; `chorale builds list` shows the recorded builds\n"
    );
}
