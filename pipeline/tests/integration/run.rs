//! `chorale run` end to end: the demo product built, deployed into a fresh cluster and tested,
//! and the faults a nightly build meets. The cluster is a kube-sim started by the `sim`
//! provider, or, when `CHORALE_E2E_KUBECONFIG` names a real cluster, a fresh namespace of that
//! cluster (the `existing` provider; the cluster must be able to pull from the tests'
//! loopback registry, as `../shared/real-k8s` and kind with host networking can). The test
//! bodies are the same on both; `infra/dev/test` runs them on each.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chorale_testkit::webhook::{Platform, Receiver};
use chorale_testkit::{DemoProduct, MultiArchImage, ScratchImage};
use serde_json::Value;

use crate::cli::{chorale, text};
use crate::support::World;

/// The demo product published to a world of its own.
struct Demo {
    world: World,
    demo: DemoProduct,
}

impl Demo {
    fn new() -> Self {
        let world = World::new();
        let demo = DemoProduct::seed(&world.registry, &world.git, &world.dir.path().join("demo"))
            .expect("the demo product is published to the test's registry and git daemon");
        Self { world, demo }
    }

    /// Rewrite the demo's product file with `edit`.
    fn edit(&self, edit: impl FnOnce(String) -> String) -> PathBuf {
        let path = self.demo.manifest();
        let text = std::fs::read_to_string(&path).unwrap();
        let edited = edit(text.clone());
        assert_ne!(edited, text, "the edit changes the product file");
        std::fs::write(&path, edited).unwrap();
        path
    }

    /// `chorale run MANIFEST` on the test cluster, with `args`.
    fn run(&self, args: &[&str]) -> Command {
        run_command(&self.world, &self.demo.manifest(), args)
    }
}

/// `chorale run` of `manifest` in `world`'s state folder.
fn run_command(world: &World, manifest: &Path, args: &[&str]) -> Command {
    let mut command = chorale(&world.state(), world.dir.path());
    command
        .env(
            "CHORALE_KUBE_SIM",
            chorale_testkit::kube_sim_binary().expect("kube-sim builds"),
        )
        .arg("run")
        .arg(manifest)
        .args(cluster_args())
        .args(args);
    command
}

/// The cluster options of the suite: a real cluster when `CHORALE_E2E_KUBECONFIG` is set.
fn cluster_args() -> Vec<String> {
    match std::env::var("CHORALE_E2E_KUBECONFIG") {
        Ok(kubeconfig) if !kubeconfig.is_empty() => vec![
            "--cluster".to_owned(),
            "existing".to_owned(),
            "--kubeconfig".to_owned(),
            kubeconfig,
        ],
        _ => vec!["--cluster".to_owned(), "sim".to_owned()],
    }
}

fn on_sim() -> bool {
    cluster_args()[1] == "sim"
}

/// `chorale ARGS -o json` in `world`, parsed; panics unless it exits 0.
fn json(world: &World, args: &[&str]) -> Value {
    let output = chorale(&world.state(), world.dir.path())
        .args(args)
        .args(["-o", "json"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "chorale {args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The one build recorded in `world`.
fn only_build(world: &World) -> Value {
    let builds = json(world, &["builds", "list"]);
    assert_eq!(builds["items"].as_array().unwrap().len(), 1, "{builds:#}");
    let id = builds["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    json(world, &["builds", "show", &id])
}

fn stage<'a>(build: &'a Value, name: &str) -> &'a Value {
    build["status"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no stage {name}: {build:#}"))
}

fn component<'a>(build: &'a Value, name: &str) -> &'a Value {
    build["status"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == name)
        .unwrap_or_else(|| panic!("no component {name}: {build:#}"))
}

fn test<'a>(build: &'a Value, name: &str) -> &'a Value {
    build["status"]["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no test {name}: {build:#}"))
}

/// Asserts that the build's cluster is recorded as torn down and, on kube-sim, that no
/// process, container or network of it is left.
fn assert_torn_down(world: &World, build: &Value) {
    let name = build["status"]["cluster"]
        .as_str()
        .expect("the build names its cluster");
    let clusters = json(world, &["clusters", "list"]);
    let record = clusters["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("cluster {name} is recorded: {clusters:#}"));
    assert_eq!(record["status"]["state"], "torn-down", "{record:#}");
    if on_sim() {
        assert_no_sim_leftovers(name);
    } else {
        assert_namespace_gone(name);
    }
}

/// On a real cluster: the build's namespace (named as its cluster, `chorale-BUILD`) is gone.
fn assert_namespace_gone(name: &str) {
    let kubeconfig = std::env::var("CHORALE_E2E_KUBECONFIG").unwrap();
    let output = Command::new("kubectl")
        .args([
            "--kubeconfig",
            &kubeconfig,
            "get",
            "namespace",
            name,
            "-o",
            "name",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("NotFound"),
        "namespace {name} is left: {}{stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// No podman container, pod or network labelled for the sim cluster `name`.
fn assert_no_sim_leftovers(name: &str) {
    let label = format!("label=dev.chorale.kube-sim/cluster={name}");
    for args in [
        vec!["ps", "-a", "-q", "--filter", &label],
        vec!["pod", "ps", "-q", "--filter", &label],
        vec!["network", "ls", "-q", "--filter", &label],
    ] {
        let output = Command::new("podman").args(&args).output().unwrap();
        let listed = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && listed.trim().is_empty(),
            "podman {args:?} lists leftovers of {name}: {listed}"
        );
    }
    let processes = Command::new("pgrep")
        .args(["-f", &format!("kube-sim serve .*--name {name}")])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&processes.stdout).trim().is_empty(),
        "kube-sim of {name} still runs"
    );
}

fn read(build_dir: &Path, relative: &Value) -> String {
    let path = build_dir.join(relative.as_str().unwrap());
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_demo_product_deploys_in_waves_passes_its_tests_reports_and_leaves_nothing() {
    let demo = Demo::new();
    // The team's chat hears of it: a Slack receiver that checks the payload's shape.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let slack = runtime.block_on(Receiver::start(Platform::Slack, Vec::new()));
    demo.edit(|text| {
        text.replace(
            "  testPlan:\n",
            "  notifications:\n    - name: team-chat\n      slack: { url: { env: DEMO_SLACK_URL } }\n  testPlan:\n",
        )
    });
    let output = demo
        .run(&[])
        .env("DEMO_SLACK_URL", slack.url())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    for stage in [
        "snapshot",
        "bundle",
        "provision",
        "deploy",
        "test",
        "teardown",
    ] {
        assert!(
            stderr.contains(stage),
            "stage progress names {stage}: {stderr}"
        );
    }

    let build = only_build(&demo.world);
    assert_eq!(build["status"]["phase"], "succeeded", "{build:#}");
    // What it told is kept, in order, for the event stream of a server on the same state.
    let id = build["metadata"]["name"].as_str().unwrap();
    let events = runtime.block_on(async {
        let store = chorale::store::Store::open_in(&demo.world.state())
            .await
            .unwrap();
        store.events_after(id, 0, 1000).await.unwrap()
    });
    let kinds: Vec<String> = (events.iter())
        .map(|e| serde_json::from_str::<Value>(&e.event).unwrap()["type"].to_string())
        .collect();
    assert_eq!(
        kinds.first().map(String::as_str),
        Some("\"started\""),
        "{kinds:?}"
    );
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("\"closed\""),
        "{kinds:?}"
    );
    assert!(kinds.iter().any(|k| k == "\"ended\""), "{kinds:?}");
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=i64::try_from(events.len()).unwrap()).collect::<Vec<_>>()
    );
    // The cluster (on a real cluster: its namespace) is named after the build, once prefixed.
    assert_eq!(
        build["status"]["cluster"].as_str().unwrap(),
        format!(
            "chorale-{}",
            build["metadata"]["name"]
                .as_str()
                .unwrap()
                .to_ascii_lowercase()
        ),
        "{build:#}"
    );
    let version = build["status"]["candidateVersion"].as_str().unwrap();
    assert!(version.starts_with("1.0.20"), "{version}");
    for stage in build["status"]["stages"].as_array().unwrap() {
        assert_eq!(stage["status"], "succeeded", "{stage:#}");
    }
    // Waves follow dependsOn: db, cache and docs first; api and worker on db (and cache);
    // web on api and worker.
    let waves: Vec<(String, u64)> = build["status"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["status"], "succeeded", "{c:#}");
            (
                c["component"].as_str().unwrap().to_owned(),
                c["wave"].as_u64().unwrap(),
            )
        })
        .collect();
    let wave = |name: &str| waves.iter().find(|(n, _)| n == name).unwrap().1;
    assert_eq!(
        [wave("cache"), wave("db"), wave("docs")],
        [0, 0, 0],
        "{waves:?}"
    );
    assert_eq!([wave("api"), wave("worker")], [1, 1], "{waves:?}");
    assert_eq!(wave("web"), 2, "{waves:?}");

    // Deployed from the bundle: helm installed the chart fetched from it.
    let build_dir = demo
        .world
        .state()
        .join("builds")
        .join(build["metadata"]["name"].as_str().unwrap());
    let api_log = read(&build_dir, &component(&build, "api")["log"]);
    assert!(
        api_log.contains(&build_dir.join("bundle/api.tgz").display().to_string()),
        "{api_log}"
    );

    for name in ["ready", "hooks", "reachable", "api-ha"] {
        let test = test(&build, name);
        assert_eq!(test["status"], "succeeded", "{test:#}");
        assert!(test["attempts"].as_u64().unwrap() >= 1, "{test:#}");
        let junit = test["artefacts"]["junit"].as_array().unwrap();
        assert!(!junit.is_empty(), "{test:#}");
        for document in junit {
            let xml = read(&build_dir, document);
            assert!(xml.contains("<testcase"), "{xml}");
            assert!(!xml.contains("<failure"), "{xml}");
        }
    }
    assert_eq!(test(&build, "api-ha")["gate"], "informing");
    // One case per workload, per component's hooks and per HTTP check.
    let cases = |name: &str| -> usize {
        test(&build, name)["artefacts"]["junit"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| read(&build_dir, d).matches("<testcase").count())
            .sum()
    };
    assert_eq!(cases("ready"), 6);
    assert_eq!(cases("hooks"), 6);
    assert_eq!(cases("reachable"), 3);
    // The logs of the hooks' test pods and of the probe Job are kept.
    let logs = |name: &str| -> Vec<String> {
        test(&build, name)["artefacts"]["logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| read(&build_dir, l))
            .collect()
    };
    assert_eq!(logs("hooks").len(), 6);
    assert!(!logs("reachable").is_empty());

    // The report is kept with the build and printed on demand; the chat got one message.
    for file in ["report.md", "report.html", "report.xml", "report.json"] {
        assert!(build_dir.join(file).is_file(), "{file} is written");
    }
    let id = build["metadata"]["name"].as_str().unwrap();
    let report = chorale(&demo.world.state(), demo.world.dir.path())
        .args(["report", id, "--format", "md"])
        .output()
        .unwrap();
    let (markdown, _) = text(&report);
    assert!(
        markdown.starts_with(&format!("# demo {version}")),
        "{markdown}"
    );
    assert!(markdown.contains("GREEN"), "{markdown}");
    let received = slack.received();
    assert_eq!(received.len(), 1, "one message");
    assert_eq!(received[0].verdict, Ok(()), "a well-formed Slack message");
    let deliveries = json(&demo.world, &["notifications", "list", id]);
    assert_eq!(
        deliveries["items"][0]["status"]["state"], "delivered",
        "{deliveries:#}"
    );
    assert!(
        !std::fs::read_to_string(build_dir.join("report.json"))
            .unwrap()
            .contains(&slack.url()),
        "the webhook URL (a secret) is in no report"
    );

    assert_torn_down(&demo.world, &build);
}

#[test]
fn a_chart_that_fails_to_install_skips_its_dependents_and_the_cluster_goes() {
    let demo = Demo::new();
    // db never becomes ready: helm --wait times out and --atomic rolls it back.
    demo.edit(|text| {
        text.replace(
            "    - name: db\n",
            "    - name: db\n      values: { requires: [\"http://nowhere:8080/healthz\"] }\n",
        )
    });
    let output = demo.run(&["--deploy-timeout", "15s"]).output().unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(4), "{stdout}\n{stderr}");

    let build = only_build(&demo.world);
    assert_eq!(build["status"]["phase"], "failed");
    assert_eq!(stage(&build, "deploy")["status"], "failed");
    assert!(
        stage(&build, "deploy")["message"]
            .as_str()
            .unwrap()
            .contains("db"),
        "{build:#}"
    );
    assert_eq!(stage(&build, "test")["status"], "skipped");
    assert_eq!(stage(&build, "teardown")["status"], "succeeded");
    let db = component(&build, "db");
    assert_eq!(db["status"], "failed", "{db:#}");
    let build_dir = demo
        .world
        .state()
        .join("builds")
        .join(build["metadata"]["name"].as_str().unwrap());
    let log = read(&build_dir, &db["log"]);
    assert!(log.contains("Error:"), "helm's output is kept: {log}");
    // Skipped with the dependency that failed or was skipped: db for api and worker, and
    // those two for web.
    for (dependent, because) in [("api", "db"), ("worker", "db"), ("web", "api, worker")] {
        let c = component(&build, dependent);
        assert_eq!(c["status"], "skipped", "{c:#}");
        assert!(
            c["message"]
                .as_str()
                .unwrap()
                .contains(&format!("{because} did not deploy")),
            "says why: {c:#}"
        );
    }
    for independent in ["cache", "docs"] {
        assert_eq!(component(&build, independent)["status"], "succeeded");
    }
    assert_torn_down(&demo.world, &build);
}

#[test]
fn an_image_that_cannot_be_pulled_fails_its_component() {
    let demo = Demo::new();
    // An index with only an arm64 image: it resolves to a digest, but no node here can run it.
    let foreign = MultiArchImage::new(ScratchImage::with_probe().unwrap(), &["arm64"])
        .push(&demo.world.registry, "demo/docs:arm64-only")
        .expect("the arm64-only index is pushed");
    let host = demo.world.registry.host();
    demo.edit(|text| {
        text.replace(
            &format!("ref: {host}/demo/docs:main"),
            &format!("ref: {}", foreign.reference),
        )
    });
    // helm would wait ten minutes; the blocked pod ends the wait (after 30s) instead, and the
    // message names it and why.
    let output = demo.run(&["--deploy-timeout", "10m"]).output().unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(4), "{stdout}\n{stderr}");
    let build = only_build(&demo.world);
    let docs = component(&build, "docs");
    assert_eq!(docs["status"], "failed", "{docs:#}");
    let message = docs["message"].as_str().unwrap();
    assert!(
        message.starts_with("stopped helm: Pod ")
            && message.contains("/docs-")
            && (message.contains(" is ErrImagePull: ")
                || message.contains(" is ImagePullBackOff: ")),
        "{docs:#}"
    );
    for other in ["db", "cache", "api", "worker", "web"] {
        assert_eq!(component(&build, other)["status"], "succeeded", "{other}");
    }
    assert_torn_down(&demo.world, &build);
}

/// The demo reduced to `docs` and a test plan of `plan` (YAML list items under `testPlan:`).
fn docs_only(demo: &Demo, plan: &str) -> PathBuf {
    demo.edit(|text| {
        let start = text.find("  testPlan:").unwrap();
        let components = text.find("  components:").unwrap();
        let docs = text.find("    - name: docs").unwrap();
        format!(
            "{}  testPlan:\n{plan}{}{}",
            &text[..start],
            &text[components..text.find("    - name: db").unwrap()],
            &text[docs..]
        )
    })
}

#[test]
fn a_products_own_jobs_contribute_their_junit_from_every_attempt_without_storage() {
    let demo = Demo::new();
    // The JUnit files reach Chorale through the pod's log: no claim, no StorageClass (the real
    // cluster of CI has none).
    for (file, cases, fail) in [("pass.yaml", 2, 0), ("fail.yaml", 3, 1)] {
        std::fs::write(
            demo.demo.dir().join(file),
            format!(
                r#"apiVersion: batch/v1
kind: Job
metadata:
  name: {{{{ test.job }}}}
spec:
  template:
    spec:
      containers:
        - name: e2e
          image: {{{{ probe.image }}}}
          args: [junit, --cases, "{cases}", --fail, "{fail}", --suite, e2e,
                 --out, "{{{{ results.path }}}}/e2e/junit.xml"]
"#
            ),
        )
        .unwrap();
    }
    let manifest = docs_only(
        &demo,
        "    - name: e2e-pass\n      uses: job\n      timeout: 2m\n      with: { template: pass.yaml }\n    - name: e2e-fail\n      uses: job\n      gate: informing\n      retries: 1\n      timeout: 2m\n      with: { template: fail.yaml }\n",
    );
    let output = run_command(&demo.world, &manifest, &[]).output().unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    let build = only_build(&demo.world);
    let build_dir = demo
        .world
        .state()
        .join("builds")
        .join(build["metadata"]["name"].as_str().unwrap());
    let junit = |test: &Value| -> Vec<(String, String)> {
        test["artefacts"]["junit"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d.as_str().unwrap().to_owned(), read(&build_dir, d)))
            .collect()
    };

    let passed = test(&build, "e2e-pass");
    assert_eq!(passed["status"], "succeeded", "{passed:#}");
    assert_eq!(passed["attempts"], 1, "{passed:#}");
    let documents = junit(passed);
    assert_eq!(documents.len(), 1, "{documents:?}");
    assert!(
        documents[0].0.ends_with("junit/e2e/junit.xml"),
        "{documents:?}"
    );
    assert_eq!(documents[0].1.matches("<testcase").count(), 2);
    assert!(!documents[0].1.contains("<failure"));

    // Both attempts ran (retries: 1); the last one's file is the result, its failing case
    // fails the test, and each attempt's pod log is kept.
    let failed = test(&build, "e2e-fail");
    assert_eq!(failed["status"], "failed", "{failed:#}");
    assert_eq!(failed["attempts"], 2, "{failed:#}");
    let documents = junit(failed);
    let file = documents
        .iter()
        .find(|(name, _)| name.ends_with("junit/e2e/junit.xml"))
        .unwrap_or_else(|| panic!("{documents:?}"));
    assert_eq!(file.1.matches("<testcase").count(), 3, "{}", file.1);
    assert_eq!(file.1.matches("<failure").count(), 1, "{}", file.1);
    assert!(
        documents
            .iter()
            .any(|(name, xml)| name.ends_with("exit-status.xml")
                && xml.contains("BackoffLimitExceeded")),
        "the Job's failure is a case too: {documents:?}"
    );
    assert_eq!(
        failed["artefacts"]["logs"].as_array().unwrap().len(),
        2,
        "{failed:#}"
    );
    assert_torn_down(&demo.world, &build);
}

#[test]
fn a_test_job_that_hangs_times_out_fails_and_keeps_its_logs() {
    let demo = Demo::new();
    std::fs::write(
        demo.demo.dir().join("hang.yaml"),
        r#"apiVersion: batch/v1
kind: Job
metadata:
  name: {{ test.job }}
spec:
  template:
    spec:
      containers:
        - name: hang
          image: {{ probe.image }}
          args: [http, --check, "http://docs:8080/=200", --timeout, 30s]
        - name: sleeper
          image: {{ probe.image }}
          args: [sleep, 1h]
"#,
    )
    .unwrap();
    // Only docs, and a plan of one Job that never ends.
    let manifest = docs_only(
        &demo,
        "    - name: hang\n      uses: job\n      timeout: 10s\n      with: { template: hang.yaml }\n",
    );
    let output = run_command(&demo.world, &manifest, &[]).output().unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(4), "{stdout}\n{stderr}");
    let build = only_build(&demo.world);
    let hang = test(&build, "hang");
    assert_eq!(hang["status"], "failed", "{hang:#}");
    assert!(
        hang["message"]
            .as_str()
            .unwrap()
            .contains("DeadlineExceeded")
            || hang["message"].as_str().unwrap().contains("TimedOut"),
        "{hang:#}"
    );
    let build_dir = demo
        .world
        .state()
        .join("builds")
        .join(build["metadata"]["name"].as_str().unwrap());
    let logs = hang["artefacts"]["logs"].as_array().unwrap();
    assert!(!logs.is_empty(), "the pod's log is kept: {hang:#}");
    let junit: String = hang["artefacts"]["junit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| read(&build_dir, d))
        .collect();
    assert!(junit.contains("<failure"), "{junit}");
    assert_torn_down(&demo.world, &build);
}

#[test]
fn a_missing_provider_cli_is_an_infrastructure_error_named_clearly() {
    let world = World::new();
    let repo = world.chart_repo("solo", "chart", "solo");
    let image = world.push_image("demo/solo:main");
    let manifest = world.product(&format!(
        "apiVersion: chorale.dev/v1alpha1\nkind: Product\nmetadata: {{ name: solo }}\nspec:\n  versionLine: \"1.0\"\n  components:\n    - name: solo\n      source: {{ git: {}, ref: main, chartPath: chart }}\n      images:\n        - ref: {}\n",
        repo.url(),
        image.reference
    ));
    // The product names no cluster and the run names none: refused before anything happens.
    let output = chorale(&world.state(), world.dir.path())
        .arg("run")
        .arg(&manifest)
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("no test cluster: set spec.cluster.provider in the product"),
        "{stderr}"
    );
    assert_eq!(
        json(&world, &["builds", "list"])["items"],
        serde_json::json!([])
    );

    let output = chorale(&world.state(), world.dir.path())
        .env("PATH", "/nonexistent")
        .args(["run", "--cluster", "kind"])
        .arg(&manifest)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(5), "{stdout}\n{stderr}");
    assert!(stderr.contains("kind"), "{stderr}");
    let build = only_build(&world);
    assert_eq!(build["status"]["phase"], "failed");
    assert_eq!(stage(&build, "provision")["status"], "failed");
    assert_eq!(stage(&build, "deploy")["status"], "skipped");
    assert_eq!(
        json(&world, &["clusters", "list"])["items"],
        serde_json::json!([]),
        "no cluster recorded"
    );
}

/// A running `chorale`, killed and reaped when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `chorale run` on the demo with db never ready, and wait until it deploys.
fn start_hanging_deploy(demo: &Demo) -> (Running, Value) {
    demo.edit(|text| {
        text.replace(
            "    - name: db\n",
            "    - name: db\n      values: { requires: [\"http://nowhere:8080/healthz\"] }\n",
        )
    });
    let child = Running(
        demo.run(&["--deploy-timeout", "10m"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_mins(4);
    loop {
        assert!(
            Instant::now() < deadline,
            "the run never reached its deploy"
        );
        std::thread::sleep(Duration::from_millis(500));
        let builds = json(&demo.world, &["builds", "list"]);
        if let Some(build) = builds["items"].as_array().unwrap().first() {
            let id = build["metadata"]["name"].as_str().unwrap().to_owned();
            let build = json(&demo.world, &["builds", "show", &id]);
            let db_running = build["status"]["components"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["component"] == "db"));
            if stage(&build, "deploy")["status"] == "running" && db_running {
                return (child, build);
            }
        }
    }
}

#[test]
fn sigterm_mid_deploy_tears_the_cluster_down_and_marks_the_build_interrupted() {
    let demo = Demo::new();
    let (mut child, _) = start_hanging_deploy(&demo);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let build = only_build(&demo.world);
    assert_eq!(build["status"]["phase"], "interrupted", "{build:#}");
    assert_eq!(stage(&build, "deploy")["status"], "interrupted");
    assert!(
        build["status"]["error"]
            .as_str()
            .unwrap()
            .contains("SIGTERM"),
        "{build:#}"
    );
    assert_torn_down(&demo.world, &build);
}

#[test]
fn a_run_killed_mid_deploy_is_reaped_by_the_next_start() {
    let demo = Demo::new();
    let (mut child, running) = start_hanging_deploy(&demo);
    child.0.kill().unwrap(); // SIGKILL: no teardown, no last word.
    child.0.wait().unwrap();
    assert_eq!(
        json(&demo.world, &["clusters", "list"])["items"][0]["status"]["state"],
        "active",
        "the cluster's record outlived its run"
    );
    if on_sim() {
        // A sim cluster does not wait for the reaper: kube-sim sees its owner gone and tears
        // itself down.
        let name = running["status"]["cluster"].as_str().unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_mins(2);
        while Command::new("pgrep")
            .args(["-f", &format!("kube-sim serve .*--name {name}")])
            .output()
            .unwrap()
            .status
            .success()
        {
            assert!(
                Instant::now() < deadline,
                "kube-sim of {name} outlived its owner"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_no_sim_leftovers(&name);
    }
    let reaped = json(&demo.world, &["clusters", "reap"]);
    assert_eq!(
        reaped["interrupted"],
        serde_json::json!([running["metadata"]["name"]])
    );
    assert_eq!(
        reaped["tornDown"],
        serde_json::json!([running["status"]["cluster"]])
    );
    let build = only_build(&demo.world);
    assert_eq!(build["status"]["phase"], "interrupted", "{build:#}");
    assert_eq!(stage(&build, "deploy")["status"], "interrupted");
    assert_eq!(component(&build, "db")["status"], "interrupted");
    assert_torn_down(&demo.world, &build);
    // Reaping again finds nothing.
    let again = json(&demo.world, &["clusters", "reap"]);
    assert_eq!(again["tornDown"], serde_json::json!([]));
}
