//! `chorale run` at work, on kube-sim clusters, against a local registry and git daemon
//! (started here):
//!
//! 1. provision + teardown of a sim cluster through the `sim` provider;
//! 2. deploying 20 independent components: `chorale run --parallelism 4` (and 1) against a
//!    sequential `helm upgrade --install --wait` loop of the same charts on a fresh sim
//!    cluster;
//! 3. the demo product's full `chorale run`: wall time, and Chorale's own share of it —
//!    everything but helm, the cluster provider and the test workloads — from the build
//!    record, plus the chorale process's own CPU time (from /proc, children excluded);
//! 4. (`-- real`, with `CHORALE_E2E_KUBECONFIG` naming a real cluster) the demo's run on that
//!    cluster (`--cluster existing`) and on kube-sim, alternately: each stage's median side by
//!    side.
//!
//! `cargo bench -p chorale --bench run`; prints Markdown for docs/performance.md.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chorale_runners::cluster::{ClusterSpec, ProviderKind, ProviderOptions, provider_for};
use chorale_testkit::{DemoProduct, GitDaemon, Registry, helm, kube_sim_binary};
use jiff::Timestamp;
use serde_json::Value;

const RUNS: usize = 3;
const WIDE: usize = 20;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn chorale(state: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chorale"));
    command.arg("--state-dir").arg(state).env(
        "CHORALE_KUBE_SIM",
        kube_sim_binary().expect("kube-sim builds"),
    );
    command
}

fn json(state: &Path, args: &[&str]) -> Value {
    let output = chorale(state)
        .args(args)
        .args(["-o", "json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{args:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

fn time(value: &Value) -> Option<Timestamp> {
    value.as_str()?.parse().ok()
}

fn span(item: &Value) -> Option<(Timestamp, Timestamp)> {
    Some((time(&item["startedAt"])?, time(&item["finishedAt"])?))
}

fn seconds(from: Timestamp, to: Timestamp) -> f64 {
    (to.as_millisecond() - from.as_millisecond()) as f64 / 1000.0
}

fn stage_seconds(build: &Value, name: &str) -> f64 {
    let stage = build["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap();
    span(stage).map_or(0.0, |(a, b)| seconds(a, b))
}

/// Seconds covered by the union of `spans`.
fn union_seconds(mut spans: Vec<(Timestamp, Timestamp)>) -> f64 {
    spans.sort();
    let mut total = 0.0;
    let mut current: Option<(Timestamp, Timestamp)> = None;
    for (start, end) in spans {
        current = match current {
            Some((a, b)) if start <= b => Some((a, b.max(end))),
            Some((a, b)) => {
                total += seconds(a, b);
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    total + current.map_or(0.0, |(a, b)| seconds(a, b))
}

/// utime + stime of `pid` itself (children excluded), in seconds.
fn own_cpu(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().ok()? + fields[12].parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// One `chorale run`: the build record, the wall time and chorale's own CPU seconds.
fn run(state: &Path, manifest: &Path, args: &[&str]) -> (Value, f64, f64) {
    let started = Instant::now();
    let log = state.with_extension("run.log");
    let mut child = chorale(state)
        .arg("run")
        .arg(manifest)
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut cpu = 0.0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        cpu = own_cpu(child.id()).unwrap_or(cpu);
        std::thread::sleep(Duration::from_millis(50));
    };
    let wall = started.elapsed().as_secs_f64();
    if !status.success() {
        let kept = std::env::temp_dir().join("chorale-bench-failed-run");
        let _ = std::fs::remove_dir_all(&kept);
        let _ = Command::new("cp").arg("-r").arg(state).arg(&kept).status();
        panic!(
            "chorale run {} ended with {status} (state copied to {}):\n{}",
            manifest.display(),
            kept.display(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    let builds = json(state, &["builds", "list", "--limit", "1"]);
    let id = builds[0]["id"].as_str().unwrap().to_owned();
    (
        json(state, &["builds", "show", &id])["build"].clone(),
        wall,
        cpu,
    )
}

/// Seconds of a run spent in helm, the cluster provider and the test workloads.
fn external_seconds(build: &Value) -> (f64, f64, f64) {
    let helm: Vec<_> = build["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(span)
        .collect();
    let tests: f64 = build["tests"].as_array().map_or(0.0, |tests| {
        tests
            .iter()
            .filter_map(span)
            .map(|(a, b)| seconds(a, b))
            .sum()
    });
    (
        stage_seconds(build, "provision") + stage_seconds(build, "teardown"),
        union_seconds(helm),
        tests,
    )
}

fn provision_teardown(dir: &Path) -> (f64, f64) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let options = ProviderOptions {
        kube_sim: Some(kube_sim_binary().unwrap()),
        ..ProviderOptions::default()
    };
    let provider = provider_for(ProviderKind::Sim, &options);
    let mut provisions = Vec::new();
    let mut teardowns = Vec::new();
    for run in 0..5 {
        let spec = ClusterSpec {
            name: format!("bench-{run}-{}", std::process::id()),
            dir: dir.join(format!("cluster-{run}")),
            ttl: Duration::from_mins(10),
            create_timeout: Duration::from_mins(2),
        };
        let started = Instant::now();
        let cluster = runtime.block_on(provider.provision(&spec)).unwrap();
        provisions.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        runtime.block_on(provider.teardown(&cluster)).unwrap();
        teardowns.push(started.elapsed().as_secs_f64());
    }
    (median(provisions), median(teardowns))
}

/// A product of `WIDE` independent components, each a Deployment + Service of the demo's
/// `docs` image, from one git repository.
fn wide_product(dir: &Path, git: &GitDaemon, registry: &Registry) -> PathBuf {
    let repo = git.create_repo("wide").unwrap();
    let demo_chart =
        chorale_testkit::workspace_root().join("product-manifests/demo/sources/docs/chart");
    let mut components = String::new();
    for index in 0..WIDE {
        let name = format!("c{index:02}");
        for file in [
            "Chart.yaml",
            "values.yaml",
            "templates/_helpers.tpl",
            "templates/deployment.yaml",
            "templates/service.yaml",
        ] {
            let text = std::fs::read_to_string(demo_chart.join(file)).unwrap();
            let text = if file == "Chart.yaml" {
                text.replace("name: docs", &format!("name: {name}"))
            } else {
                text
            };
            repo.write_file(&format!("charts/{name}/{file}"), text)
                .unwrap();
        }
        let _ = write!(
            components,
            "    - name: {name}\n      source: {{ git: {}, ref: main, chartPath: charts/{name} }}\n      images:\n        - {{ ref: {}/demo/docs:main, values: image }}\n        - {{ ref: {}/chorale/probe:0.1.0, values: probe }}\n",
            repo.url(),
            registry.host(),
            registry.host()
        );
    }
    repo.commit("twenty charts").unwrap();
    let path = dir.join("wide.yaml");
    std::fs::write(
        &path,
        format!("apiVersion: chorale.dev/v1alpha1\nkind: Product\nmetadata: {{ name: wide }}\nspec:\n  versionLine: \"1.0\"\n  cluster: {{ provider: sim }}\n  components:\n{components}"),
    )
    .unwrap();
    path
}

/// `helm upgrade --install --wait` of every chart of a bundle folder, one after the other, on
/// a fresh sim cluster; the seconds it took.
fn helm_loop(dir: &Path, bundle: &Path) -> f64 {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let provider = provider_for(
        ProviderKind::Sim,
        &ProviderOptions {
            kube_sim: Some(kube_sim_binary().unwrap()),
            ..ProviderOptions::default()
        },
    );
    let spec = ClusterSpec {
        name: format!("bench-helm-{}", std::process::id()),
        dir: dir.join("helm-loop"),
        ttl: Duration::from_mins(30),
        create_timeout: Duration::from_mins(2),
    };
    let cluster = runtime.block_on(provider.provision(&spec)).unwrap();
    let started = Instant::now();
    for index in 0..WIDE {
        let name = format!("c{index:02}");
        let status = Command::new(helm().unwrap())
            .args([
                "upgrade",
                "--install",
                "--wait",
                "--atomic",
                "--timeout",
                "5m",
            ])
            .args(["--create-namespace", "--namespace", "wide", &name])
            .arg(bundle.join(format!("{name}.tgz")))
            .arg("-f")
            .arg(bundle.join(format!("{name}.values.yaml")))
            .env("KUBECONFIG", &cluster.kubeconfig)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "helm install {name}");
    }
    let took = started.elapsed().as_secs_f64();
    runtime.block_on(provider.teardown(&cluster)).unwrap();
    took
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    // `-- cluster`, `-- wide`, `-- demo`: only those parts (default: all).
    let parts: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| ["cluster", "wide", "demo", "real"].contains(a))
        .collect();
    let part = |name: &str| parts.is_empty() || parts.contains(&name);
    let real = std::env::var("CHORALE_E2E_KUBECONFIG")
        .ok()
        .filter(|k| !k.is_empty());
    assert!(
        !parts.contains(&"real") || real.is_some(),
        "`-- real` needs CHORALE_E2E_KUBECONFIG naming a real cluster's kubeconfig"
    );
    let registry = Registry::start().expect("docker-registry starts");
    let git = GitDaemon::start().expect("git daemon starts");
    let work = tempfile::tempdir().unwrap();
    let demo = DemoProduct::seed(&registry, &git, &work.path().join("demo")).unwrap();
    let state = work.path().join("state");

    println!("## chorale run (cargo bench -p chorale --bench run)\n");
    println!("| measurement | median |\n| --- | --- |");
    if part("cluster") {
        let (provision, teardown) = provision_teardown(work.path());
        println!("| sim provision (kube-sim ready, API answering) | {provision:.2} s |");
        println!("| sim teardown (process, containers, network gone) | {teardown:.2} s |");
    }
    if part("wide") {
        wide_deploys(work.path(), &state, &git, &registry);
    }
    if part("demo") {
        demo_runs(&state, &demo);
    }
    if let Some(kubeconfig) = real.filter(|_| part("real")) {
        real_and_sim(&state, &demo, &kubeconfig);
    }
}

/// Part 4: the demo on a real cluster and on kube-sim, run after run, stage by stage.
fn real_and_sim(state: &Path, demo: &DemoProduct, kubeconfig: &str) {
    const STAGES: [&str; 6] = [
        "snapshot",
        "bundle",
        "provision",
        "deploy",
        "test",
        "teardown",
    ];
    let real_args = ["--cluster", "existing", "--kubeconfig", kubeconfig];
    let mut samples: Vec<[Vec<f64>; 2]> = vec![[Vec::new(), Vec::new()]; STAGES.len() + 1];
    for _ in 0..RUNS {
        for (side, args) in [(0, &real_args[..]), (1, &["--cluster", "sim"][..])] {
            let (build, wall, _) = run(state, &demo.manifest(), args);
            for (index, stage) in STAGES.iter().enumerate() {
                samples[index][side].push(stage_seconds(&build, stage));
            }
            samples[STAGES.len()][side].push(wall);
        }
    }
    println!("\n| demo stage (median of {RUNS}) | real Kubernetes 1.25 | kube-sim |");
    println!("| --- | --- | --- |");
    for (index, name) in STAGES.iter().chain(["whole run, wall"].iter()).enumerate() {
        let [real, sim] = samples[index].clone();
        println!("| {name} | {:.2} s | {:.2} s |", median(real), median(sim));
    }
}

/// Part 2: 20 independent components, chorale against a helm loop.
fn wide_deploys(dir: &Path, state: &Path, git: &GitDaemon, registry: &Registry) {
    let wide = wide_product(dir, git, registry);
    let mut parallel = Vec::new();
    let mut sequential = Vec::new();
    let mut bundle_dir = PathBuf::new();
    for _ in 0..RUNS {
        let (build, _, _) = run(state, &wide, &["--parallelism", "4"]);
        parallel.push(stage_seconds(&build, "deploy"));
        bundle_dir = state
            .join("builds")
            .join(build["id"].as_str().unwrap())
            .join("bundle");
        let (build, _, _) = run(state, &wide, &["--parallelism", "1"]);
        sequential.push(stage_seconds(&build, "deploy"));
    }
    let helm_loop = median((0..RUNS).map(|_| helm_loop(dir, &bundle_dir)).collect());
    let parallel = median(parallel);
    let sequential = median(sequential);
    println!("| deploy {WIDE} independent components, helm loop one by one | {helm_loop:.2} s |");
    println!(
        "| deploy {WIDE} independent components, chorale --parallelism 1 | {sequential:.2} s |"
    );
    println!("| deploy {WIDE} independent components, chorale --parallelism 4 | {parallel:.2} s |");
    println!(
        "| ratio parallelism 4 / helm loop (target <= 0.5) | {:.2} |",
        parallel / helm_loop
    );
}

/// Part 3: the demo's full run, and Chorale's own share of it.
fn demo_runs(state: &Path, demo: &DemoProduct) {
    let mut walls = Vec::new();
    let mut overheads = Vec::new();
    let mut cpus = Vec::new();
    for _ in 0..RUNS {
        let (build, wall, cpu) = run(state, &demo.manifest(), &[]);
        let (cluster, helm, tests) = external_seconds(&build);
        walls.push(wall);
        overheads.push((wall - cluster - helm - tests) / wall);
        cpus.push(cpu / wall);
    }
    println!("| demo `chorale run`, wall time | {:.2} s |", median(walls));
    println!(
        "| demo: Chorale's own share (wall - provider - helm - tests) / wall (target < 5%) | {:.1} % |",
        median(overheads) * 100.0
    );
    println!(
        "| demo: chorale process CPU time / wall time | {:.1} % |",
        median(cpus) * 100.0
    );
}
