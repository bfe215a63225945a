//! Snapshot and bundle at scale: a synthetic product of 200 components, 1,000 images and 100
//! git repositories on a local registry and git daemon (started here).
//!
//! The snapshot is measured against its floor (the same 1,000 manifest requests from a bare
//! concurrent HTTP client) and a sequential `skopeo inspect` loop; the bundle against a `helm
//! push` loop of the same 200 charts and against its own floor (the requests a bundle push
//! needs at the least, from a bare client). Bundle runs are interleaved with the helm loop so
//! that the machine's load weighs on both alike, and each goes to new repositories. The
//! registry's log gives the requests of each phase by kind, and /proc the CPU time the
//! registry and this process used.
//!
//! `cargo bench -p chorale --bench snapshot_bundle [-- --skip-skopeo]`; prints Markdown tables
//! for docs/performance.md.

mod fixture;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chorale::bundle::push_bundle;
use chorale::engine::events::Ignore;
use chorale::ops::{BundleRequest, SnapshotRequest, bundle_product, snapshot_product};
use chorale::snapshot::{ChartContent, Snapshot, snapshot};
use chorale::{Context, manifest};
use chorale_runners::digest::sha256;
use chorale_runners::registry::{RegistryOptions, RegistryStore};
use chorale_testkit::{GitDaemon, Registry};
use fixture::{
    COMPONENTS, CONCURRENCY, Counting, IMAGES_PER_COMPONENT, Phase, RUNS, daemon_cpu, median,
    median_ratio, print_served, process_cpu, registry_cpu, seconds,
};
use futures::StreamExt;
use tokio::sync::Semaphore;

const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// The floor: the same 1,000 manifest HEADs from a bare reqwest client at the same concurrency;
/// with `last` (reference -> digest), conditional on the digest each had, as the snapshot asks.
async fn floor(host: &str, last: Option<&HashMap<&str, &str>>) -> Duration {
    let client = reqwest::Client::new();
    let limit = Arc::new(Semaphore::new(CONCURRENCY));
    let start = Instant::now();
    let images = COMPONENTS * IMAGES_PER_COMPONENT;
    futures::stream::iter(0..images)
        .map(|i| {
            let (client, limit) = (client.clone(), limit.clone());
            let condition = last.map(|last| last[format!("{host}/bench/img-{i:04}:main").as_str()]);
            async move {
                let _permit = limit.acquire().await.unwrap();
                let mut request = client
                    .head(format!("http://{host}/v2/bench/img-{i:04}/manifests/main"))
                    .header("Accept", MANIFEST_TYPES);
                if let Some(digest) = condition {
                    request = request.header("If-None-Match", format!("\"{digest}\""));
                }
                let response = request.send().await.unwrap();
                match condition {
                    Some(_) => assert_eq!(response.status(), 304),
                    None => assert!(response.headers().contains_key("docker-content-digest")),
                }
            }
        })
        .buffer_unordered(images)
        .collect::<Vec<()>>()
        .await;
    start.elapsed()
}

/// CPU time (user + system) the git daemon's connections have used: the children it forked
/// (`git daemon --serve`, and the `git upload-pack` each of those runs), from /proc.
fn git_daemon_cpu(git: &GitDaemon) -> Duration {
    let base = format!("--base-path={}", git.base_dir().display());
    daemon_cpu(&[&base, "git-daemon"], true)
}

/// One blob upload by a bare client, as a registry without single-request uploads needs it:
/// `POST` for a session, `PUT` of the bytes; returns the digest.
async fn upload(
    client: &reqwest::Client,
    limit: &Semaphore,
    host: &str,
    repo: &str,
    data: Bytes,
) -> String {
    let digest = sha256(&data);
    let _permit = limit.acquire().await.unwrap();
    let session = client
        .post(format!("http://{host}/v2/{repo}/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(session.status(), 202);
    let location = session.headers()["location"].to_str().unwrap().to_owned();
    let done = client
        .put(format!("{location}&digest={digest}"))
        .header("Content-Type", "application/octet-stream")
        .body(data)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 201);
    digest
}

async fn put_manifest(
    client: &reqwest::Client,
    limit: &Semaphore,
    url: String,
    manifest: &serde_json::Value,
) {
    let _permit = limit.acquire().await.unwrap();
    let response = client
        .put(url)
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .body(serde_json::to_vec(manifest).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

fn descriptor(media_type: &str, digest: &str, data: &[u8]) -> serde_json::Value {
    serde_json::json!({"mediaType": media_type, "digest": digest, "size": data.len()})
}

/// The push floor: the requests a bundle push of `snapshot` needs at the least — per chart a
/// manifest `HEAD` (is it there?), its config and archive uploaded, its manifest, and the
/// archive mounted into the bundle repository; beside them the lock and the values files (one
/// blob) uploaded; then the bundle manifest under two tags — sent by a bare HTTP client, at
/// most `CONCURRENCY` in flight, to repositories under `base`.
async fn push_floor(host: &str, base: &str, snapshot: &Snapshot) -> Duration {
    const CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
    const CHART: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
    let client = reqwest::Client::new();
    let limit = Semaphore::new(CONCURRENCY);
    let (client, limit) = (&client, &limit);
    let start = Instant::now();
    let bundle = &format!("{base}/bundle");
    let charts = futures::future::join_all(snapshot.charts.values().map(|content| async move {
        let ChartContent::Packaged(package) = content else {
            unreachable!("the benchmark's charts come from git")
        };
        let repo = format!("{base}/charts/{}", package.name);
        let manifest_url = format!("http://{host}/v2/{repo}/manifests/{}", package.tag());
        {
            let _permit = limit.acquire().await.unwrap();
            let head = client.head(&manifest_url).send().await.unwrap();
            assert_eq!(head.status(), 404);
        }
        let (config, archive) = futures::join!(
            upload(
                client,
                limit,
                host,
                &repo,
                Bytes::from(package.config.clone())
            ),
            upload(
                client,
                limit,
                host,
                &repo,
                Bytes::from(package.archive.clone())
            ),
        );
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "config": descriptor(CONFIG, &config, &package.config),
            "layers": [descriptor(CHART, &archive, &package.archive)],
        });
        put_manifest(client, limit, manifest_url.clone(), &manifest).await;
        let _permit = limit.acquire().await.unwrap();
        let mount = client
            .post(format!(
                "http://{host}/v2/{base}/bundle/blobs/uploads/?mount={archive}&from={repo}"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(mount.status(), 201);
        descriptor(CHART, &archive, &package.archive)
    }));
    let lock = Bytes::from(serde_json::to_vec(&snapshot.lock).unwrap());
    let values = Bytes::from(
        snapshot
            .lock
            .components
            .iter()
            .map(|c| serde_saphyr::to_string(&c.deploy_values()).unwrap())
            .collect::<String>(),
    );
    let (lock_size, values_size) = (lock.len(), values.len());
    let (mut layers, config, values) = futures::join!(
        charts,
        upload(client, limit, host, bundle, lock),
        upload(client, limit, host, bundle, values),
    );
    layers.push(
        serde_json::json!({"mediaType": "application/yaml", "digest": values, "size": values_size}),
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "config": {"mediaType": "application/json", "digest": config, "size": lock_size},
        "layers": layers,
    });
    for tag in ["build", "latest"] {
        put_manifest(
            client,
            limit,
            format!("http://{host}/v2/{base}/bundle/manifests/{tag}"),
            &manifest,
        )
        .await;
    }
    start.elapsed()
}

fn skopeo_loop(host: &str) -> Duration {
    let start = Instant::now();
    for i in 0..COMPONENTS * IMAGES_PER_COMPONENT {
        let status = Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{host}/bench/img-{i:04}:main"))
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    }
    start.elapsed()
}

/// One warm snapshot and what it is measured against.
struct SnapshotRun {
    warm: Duration,
    /// The 1,000 manifest `HEAD`s, plain.
    floor: Duration,
    /// The same, conditional on each digest (as the snapshot asks).
    conditional_floor: Duration,
    skopeo: Option<Duration>,
    /// CPU used by the registry, the git daemon's connections and this process: during the
    /// snapshot (0..3) and during the plain floor (3..6).
    cpu: [Duration; 6],
}

#[tokio::main]
async fn main() {
    let skip_skopeo = std::env::args().any(|a| a == "--skip-skopeo");
    let registry = Registry::start().expect("docker-registry starts");
    let git = GitDaemon::start().expect("git daemon starts");
    let work = tempfile::tempdir().unwrap();
    let host = registry.host();

    let product = fixture::prepare(&registry, &git, work.path()).await;

    // Snapshot: cold (empty state, every mirror cloned) once, then warm runs.
    let state = work.path().join("state");
    let context = Context::open(&state, None, RegistryOptions::default())
        .await
        .unwrap();
    let request = SnapshotRequest {
        manifest: product.clone(),
        concurrency: CONCURRENCY,
    };
    let start = Instant::now();
    let lock = snapshot_product(&context, &request, &Ignore).await.unwrap();
    let cold = start.elapsed();
    assert_eq!(lock.components.len(), COMPONENTS);
    // Warm runs, each followed by the floors and (unless skipped) the skopeo loop, so that each
    // ratio compares figures taken under the same load.
    let last = lock.image_digests();
    let mut snapshot_runs: Vec<SnapshotRun> = Vec::new();
    let mut warm_served = None;
    for _ in 0..RUNS {
        let cpu_now = || {
            [
                registry_cpu(&registry),
                git_daemon_cpu(&git),
                process_cpu(Path::new("/proc/self")),
            ]
        };
        let counting = Counting::from_now(&registry);
        let before = cpu_now();
        let start = Instant::now();
        let again = snapshot_product(&context, &request, &Ignore).await.unwrap();
        let warm = start.elapsed();
        assert_eq!(again.id, lock.id);
        let between = cpu_now();
        warm_served.get_or_insert_with(|| counting.since(&registry));
        let floor_time = floor(&host, None).await;
        let after = cpu_now();
        let conditional_floor = floor(&host, Some(&last)).await;
        snapshot_runs.push(SnapshotRun {
            warm,
            floor: floor_time,
            conditional_floor,
            skopeo: (!skip_skopeo).then(|| skopeo_loop(&host)),
            cpu: std::array::from_fn(|i| {
                if i < 3 {
                    between[i].saturating_sub(before[i])
                } else {
                    after[i - 3].saturating_sub(between[i - 3])
                }
            }),
        });
    }

    // The packaged charts, for the `helm push` loop.
    let charts = snapshot(
        &manifest::load_product(&product).unwrap(),
        &context.runners,
        CONCURRENCY,
        None,
        &Ignore,
    )
    .await
    .unwrap();
    let charts_dir = work.path().join("tgz");
    std::fs::create_dir_all(&charts_dir).unwrap();
    for content in charts.charts.values() {
        if let ChartContent::Packaged(package) = content {
            std::fs::write(charts_dir.join(package.file_name()), &package.archive).unwrap();
        }
    }
    let helm = chorale_testkit::helm().unwrap();
    let helm_home = work.path().join("helm");

    // Each run, interleaved so that the machine's load weighs on all alike, to new
    // repositories: the bundle command (snapshot + push), the same again (nothing to upload),
    // the push alone (the same work as the helm loop plus the bundle), and the helm loop.
    let mut runs: Vec<[Duration; 5]> = Vec::new();
    let mut served: Vec<Phase> = Vec::new();
    for run in 0..RUNS {
        let bundle = BundleRequest {
            manifest: product.clone(),
            registry: Some(format!("{host}/bundle-{run}")),
            concurrency: CONCURRENCY,
            trigger: "bench".to_owned(),
        };
        let counting = Counting::from_now(&registry);
        let start = Instant::now();
        let first = bundle_product(&context, &bundle, &Ignore).await.unwrap();
        let bundle_time = start.elapsed();
        assert!(first.bundle.uploaded_bytes > 0);
        let bundle_served = counting.since(&registry);

        let counting = Counting::from_now(&registry);
        let start = Instant::now();
        let second = bundle_product(&context, &bundle, &Ignore).await.unwrap();
        let rebundle_time = start.elapsed();
        assert_eq!(second.bundle.digest, first.bundle.digest);
        assert_eq!(
            second.bundle.uploaded_bytes, 0,
            "re-bundling uploads nothing"
        );
        let rebundle_served = counting.since(&registry);

        let destination = RegistryStore::new(
            context.runners.registry.clone(),
            format!("{host}/push-{run}"),
        );
        let counting = Counting::from_now(&registry);
        let start = Instant::now();
        let pushed = push_bundle(
            &charts,
            &context.runners.registry,
            &destination,
            "bench",
            CONCURRENCY,
        )
        .await
        .unwrap();
        let push_time = start.elapsed();
        assert_eq!(pushed.charts.len(), COMPONENTS);
        let push_served = counting.since(&registry);

        let counting = Counting::from_now(&registry);
        let floor_time = push_floor(&host, &format!("floor-{run}"), &charts).await;
        let floor_served = counting.since(&registry);

        let counting = Counting::from_now(&registry);
        let start = Instant::now();
        for entry in std::fs::read_dir(&charts_dir).unwrap() {
            let status = Command::new(&helm)
                .arg("push")
                .arg(entry.unwrap().path())
                .arg(format!("oci://{host}/helm-{run}"))
                .env("HELM_CACHE_HOME", helm_home.join("cache"))
                .env("HELM_CONFIG_HOME", helm_home.join("config"))
                .env("HELM_DATA_HOME", helm_home.join("data"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let helm_time = start.elapsed();
        let helm_served = counting.since(&registry);
        eprintln!(
            "run {run}: bundle {}, re-bundle {}, push {}, push floor {}, helm loop {}",
            seconds(bundle_time),
            seconds(rebundle_time),
            seconds(push_time),
            seconds(floor_time),
            seconds(helm_time)
        );
        runs.push([bundle_time, rebundle_time, push_time, helm_time, floor_time]);
        if run == 0 {
            served = vec![
                bundle_served,
                rebundle_served,
                push_served,
                floor_served,
                helm_served,
            ];
        }
    }
    let column = |i: usize| median(runs.iter().map(|r| r[i]).collect());
    let (bundle_time, rebundle_time, push_time, helm_time, push_floor_time) =
        (column(0), column(1), column(2), column(3), column(4));
    let ratio = |a: usize, b: usize| median_ratio(runs.iter().map(|r| (r[a], r[b])));

    let column = |f: &dyn Fn(&SnapshotRun) -> Option<Duration>| {
        median(snapshot_runs.iter().filter_map(f).collect())
    };
    let ratio_of = |f: &dyn Fn(&SnapshotRun) -> Option<(Duration, Duration)>| {
        median_ratio(snapshot_runs.iter().filter_map(f))
    };
    println!("| what | figure |");
    println!("| --- | --- |");
    println!(
        "| snapshot, cold (empty state: 100 mirrors cloned) | {} |",
        seconds(cold)
    );
    println!(
        "| snapshot, warm (median of {RUNS}) | {} |",
        seconds(column(&|r| Some(r.warm)))
    );
    println!(
        "| floor: 1,000 manifest HEADs, bare HTTP client, concurrency {CONCURRENCY} (median of {RUNS}) | {} |",
        seconds(column(&|r| Some(r.floor)))
    );
    println!(
        "| snapshot / floor (median of the {RUNS} runs' ratios) | {:.2}x |",
        ratio_of(&|r| Some((r.warm, r.floor)))
    );
    println!(
        "| conditional floor: the same HEADs with `If-None-Match` (all 304) (median of {RUNS}) | {} |",
        seconds(column(&|r| Some(r.conditional_floor)))
    );
    println!(
        "| snapshot / conditional floor (median of the {RUNS} runs' ratios) | {:.2}x |",
        ratio_of(&|r| Some((r.warm, r.conditional_floor)))
    );
    let cpu = |i: usize| seconds(column(&|r| Some(r.cpu[i])));
    println!(
        "| CPU during a warm snapshot (medians): registry / git daemon's connections / this process | {} / {} / {} |",
        cpu(0),
        cpu(1),
        cpu(2)
    );
    println!(
        "| CPU during the plain floor (medians): registry / git daemon's connections / this process | {} / {} / {} |",
        cpu(3),
        cpu(4),
        cpu(5)
    );
    if !skip_skopeo {
        println!(
            "| sequential `skopeo inspect --raw` loop, 1,000 images (median of {RUNS}) | {} |",
            seconds(column(&|r| r.skopeo))
        );
        println!(
            "| skopeo loop / snapshot (median of the {RUNS} runs' ratios) | {:.1}x |",
            ratio_of(&|r| Some((r.skopeo?, r.warm)))
        );
    }
    println!(
        "| bundle command, 200 charts, new repositories (snapshot + push; median of {RUNS}) | {} |",
        seconds(bundle_time)
    );
    println!(
        "| re-bundle unchanged (median of {RUNS}) | {} (0 bytes uploaded) |",
        seconds(rebundle_time)
    );
    println!(
        "| push alone: 200 charts + the bundle, new repositories (median of {RUNS}) | {} |",
        seconds(push_time)
    );
    println!(
        "| push floor: the same requests, bare HTTP client, concurrency {CONCURRENCY} (median of {RUNS}) | {} |",
        seconds(push_floor_time)
    );
    println!(
        "| push alone / push floor (median of the {RUNS} runs' ratios) | {:.2}x |",
        ratio(2, 4)
    );
    println!(
        "| `helm push` loop, the same 200 charts, new repository (median of {RUNS}) | {} |",
        seconds(helm_time)
    );
    println!(
        "| helm loop / push alone (median of the {RUNS} runs' ratios) | {:.1}x |",
        ratio(3, 2)
    );
    println!(
        "| helm loop / bundle command (median of the {RUNS} runs' ratios) | {:.1}x |",
        ratio(3, 0)
    );
    println!(
        "| helm loop / push floor (median of the {RUNS} runs' ratios) | {:.1}x |",
        ratio(3, 4)
    );
    if let Some(phase) = &warm_served {
        print_served("warm snapshot", phase);
    }
    for (name, phase) in [
        "bundle command, first time",
        "re-bundle unchanged",
        "push alone",
        "push floor",
        "`helm push` loop",
    ]
    .iter()
    .zip(&served)
    {
        print_served(name, phase);
    }
}
