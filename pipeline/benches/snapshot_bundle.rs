//! Snapshot and bundle at scale: a synthetic product of 200 components, 1,000 images and 100
//! git repositories on a local registry and git daemon (started here), measured against
//! the floor (the same 1,000 manifest requests from a minimal concurrent HTTP client), a
//! sequential `skopeo inspect` loop and a `helm push` loop.
//!
//! `cargo bench -p chorale --bench snapshot_bundle [-- --skip-skopeo]`; prints a Markdown table
//! for docs/performance.md.

use std::fmt::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chorale::bundle::{Destination, push_bundle};
use chorale::pipeline::{BundleRequest, SnapshotRequest, bundle_product, snapshot_product};
use chorale::snapshot::{ChartContent, snapshot};
use chorale::{Context, manifest};
use chorale_runners::digest::sha256;
use chorale_runners::registry::{RegistryClient, RegistryOptions, parse_reference};
use chorale_testkit::{GitDaemon, Registry};
use futures::StreamExt;
use indicatif::ProgressBar;
use tokio::sync::Semaphore;

const REPOSITORIES: usize = 100;
const COMPONENTS: usize = 200;
const IMAGES_PER_COMPONENT: usize = 5;
const CONCURRENCY: usize = 32;
const RUNS: usize = 5;

const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn seconds(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// One image: a unique config and one shared empty layer.
async fn push_image(client: &RegistryClient, host: &str, index: usize) {
    let repository = parse_reference(&format!("{host}/bench/img-{index:04}")).unwrap();
    let layer = Bytes::from_static(
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00",
    );
    let config = Bytes::from(format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Labels":{{"index":"{index}"}}}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        sha256(b"")
    ));
    for blob in [&layer, &config] {
        client
            .push_blob(&repository, &sha256(blob), blob.clone())
            .await
            .unwrap();
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(&layer), "size": layer.len()}],
    });
    let tagged = parse_reference(&format!("{host}/bench/img-{index:04}:main")).unwrap();
    client
        .push_manifest(
            &tagged,
            "application/vnd.oci.image.manifest.v1+json",
            Bytes::from(serde_json::to_vec(&manifest).unwrap()),
        )
        .await
        .unwrap();
}

fn chart_files(repo: &chorale_testkit::GitRepo, path: &str, name: &str) {
    repo.write_file(
        &format!("{path}/Chart.yaml"),
        format!("apiVersion: v2\nname: {name}\nversion: 1.0.0\ndescription: benchmark chart\n"),
    )
    .unwrap();
    repo.write_file(&format!("{path}/values.yaml"), "image: {}\nreplicas: 1\n")
        .unwrap();
    for template in ["deployment", "service", "configmap"] {
        repo.write_file(
            &format!("{path}/templates/{template}.yaml"),
            format!("# {template} of {name}\nkind: ConfigMap\napiVersion: v1\nmetadata:\n  name: {{{{ .Release.Name }}}}-{template}\ndata:\n  image: \"{{{{ .Values.image.repository }}}}@{{{{ .Values.image.digest }}}}\"\n"),
        )
        .unwrap();
    }
}

fn write_product(dir: &Path, git: &GitDaemon, host: &str) -> std::path::PathBuf {
    let mut yaml = String::from(
        "apiVersion: chorale.dev/v1alpha1\nkind: Product\nmetadata: { name: bench }\nspec:\n  versionLine: \"1.0\"\n  components:\n",
    );
    for c in 0..COMPONENTS {
        let repo = c / 2;
        let path = if c % 2 == 0 { "charts/a" } else { "charts/b" };
        let _ = write!(
            yaml,
            "    - name: c{c:03}\n      source: {{ git: {}, ref: main, chartPath: {path} }}\n      images:\n",
            git.url(&format!("repo-{repo:03}"))
        );
        for i in 0..IMAGES_PER_COMPONENT {
            let image = c * IMAGES_PER_COMPONENT + i;
            let _ = write!(
                yaml,
                "        - ref: {host}/bench/img-{image:04}:main\n          values: images.i{i}\n"
            );
        }
    }
    let path = dir.join("bench.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// The floor: the same 1,000 manifest HEADs from a bare reqwest client at the same concurrency.
async fn floor(host: &str) -> Duration {
    let client = reqwest::Client::new();
    let limit = Arc::new(Semaphore::new(CONCURRENCY));
    let start = Instant::now();
    let images = COMPONENTS * IMAGES_PER_COMPONENT;
    futures::stream::iter(0..images)
        .map(|i| {
            let (client, limit) = (client.clone(), limit.clone());
            async move {
                let _permit = limit.acquire().await.unwrap();
                let response = client
                    .head(format!("http://{host}/v2/bench/img-{i:04}/manifests/main"))
                    .header("Accept", MANIFEST_TYPES)
                    .send()
                    .await
                    .unwrap();
                assert!(response.headers().contains_key("docker-content-digest"));
            }
        })
        .buffer_unordered(images)
        .collect::<Vec<()>>()
        .await;
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

#[tokio::main]
async fn main() {
    let skip_skopeo = std::env::args().any(|a| a == "--skip-skopeo");
    let registry = Registry::start().expect("docker-registry starts");
    let git = GitDaemon::start().expect("git daemon starts");
    let work = tempfile::tempdir().unwrap();
    let host = registry.host();

    eprintln!(
        "preparing {REPOSITORIES} repositories and {} images…",
        COMPONENTS * IMAGES_PER_COMPONENT
    );
    for r in 0..REPOSITORIES {
        let repo = git.create_repo(&format!("repo-{r:03}")).unwrap();
        chart_files(&repo, "charts/a", &format!("a{r:03}"));
        chart_files(&repo, "charts/b", &format!("b{r:03}"));
        repo.commit("charts").unwrap();
    }
    let client = RegistryClient::new(RegistryOptions::default());
    futures::stream::iter(0..COMPONENTS * IMAGES_PER_COMPONENT)
        .map(|i| {
            let (client, host) = (&client, &host);
            async move { push_image(client, host, i).await }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    let product = write_product(work.path(), &git, &host);

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
    let lock = snapshot_product(&context, &request, &ProgressBar::hidden())
        .await
        .unwrap();
    let cold = start.elapsed();
    assert_eq!(lock.components.len(), COMPONENTS);
    let mut warm = Vec::new();
    let mut floors = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let again = snapshot_product(&context, &request, &ProgressBar::hidden())
            .await
            .unwrap();
        warm.push(start.elapsed());
        assert_eq!(again.id, lock.id);
        floors.push(floor(&host).await);
    }
    let (warm, floor_time) = (median(warm), median(floors));
    let skopeo = (!skip_skopeo).then(|| skopeo_loop(&host));

    // Bundle the 200 charts; then the same 200 charts with a `helm push` loop.
    let registry_target = format!("{host}/chorale");
    let bundle = BundleRequest {
        manifest: product.clone(),
        registry: Some(registry_target.clone()),
        concurrency: CONCURRENCY,
        trigger: "bench".to_owned(),
    };
    let start = Instant::now();
    let first = bundle_product(&context, &bundle, &ProgressBar::hidden())
        .await
        .unwrap();
    let bundle_time = start.elapsed();
    let start = Instant::now();
    let second = bundle_product(&context, &bundle, &ProgressBar::hidden())
        .await
        .unwrap();
    let rebundle_time = start.elapsed();
    assert_eq!(second.bundle.digest, first.bundle.digest);

    let product = manifest::load_product(&product).unwrap();
    let snapshot = snapshot(
        &product,
        &context.runners,
        CONCURRENCY,
        &ProgressBar::hidden(),
    )
    .await
    .unwrap();
    let charts_dir = work.path().join("tgz");
    std::fs::create_dir_all(&charts_dir).unwrap();
    for content in snapshot.charts.values() {
        if let ChartContent::Packaged(package) = content {
            std::fs::write(charts_dir.join(package.file_name()), &package.archive).unwrap();
        }
    }
    // The push phase alone (the same work as the helm loop: upload 200 charts), to a fresh
    // repository path.
    let destination = Destination::Registry {
        client: context.runners.registry.clone(),
        base: format!("{host}/push-only"),
    };
    let start = Instant::now();
    let pushed = push_bundle(
        &snapshot,
        &context.runners.registry,
        &destination,
        "bench",
        CONCURRENCY,
    )
    .await
    .unwrap();
    let push_time = start.elapsed();
    assert_eq!(pushed.charts.len(), COMPONENTS);
    let helm = chorale_testkit::helm().unwrap();
    let helm_home = work.path().join("helm");
    let start = Instant::now();
    for entry in std::fs::read_dir(&charts_dir).unwrap() {
        let status = Command::new(&helm)
            .arg("push")
            .arg(entry.unwrap().path())
            .arg(format!("oci://{host}/helm-loop"))
            .env("HELM_CACHE_HOME", helm_home.join("cache"))
            .env("HELM_CONFIG_HOME", helm_home.join("config"))
            .env("HELM_DATA_HOME", helm_home.join("data"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    }
    let helm_loop = start.elapsed();

    println!("| what | figure |");
    println!("| --- | --- |");
    println!(
        "| snapshot, cold (empty state: 100 mirrors cloned) | {} |",
        seconds(cold)
    );
    println!("| snapshot, warm (median of {RUNS}) | {} |", seconds(warm));
    println!(
        "| floor: 1,000 manifest HEADs, bare HTTP client, concurrency {CONCURRENCY} (median of {RUNS}) | {} |",
        seconds(floor_time)
    );
    println!(
        "| snapshot / floor | {:.2}x |",
        warm.as_secs_f64() / floor_time.as_secs_f64()
    );
    if let Some(skopeo) = skopeo {
        println!(
            "| sequential `skopeo inspect --raw` loop, 1,000 images | {} |",
            seconds(skopeo)
        );
        println!(
            "| skopeo loop / snapshot | {:.1}x |",
            skopeo.as_secs_f64() / warm.as_secs_f64()
        );
    }
    println!(
        "| bundle 200 charts (snapshot + push, first time) | {} ({} bytes uploaded) |",
        seconds(bundle_time),
        first.bundle.uploaded_bytes
    );
    println!(
        "| re-bundle unchanged | {} ({} bytes uploaded) |",
        seconds(rebundle_time),
        second.bundle.uploaded_bytes
    );
    println!(
        "| `helm push` loop, the same 200 charts | {} |",
        seconds(helm_loop)
    );
    println!(
        "| push phase alone: 200 charts + the bundle, to a new repository | {} |",
        seconds(push_time)
    );
    println!(
        "| helm loop / push phase | {:.1}x |",
        helm_loop.as_secs_f64() / push_time.as_secs_f64()
    );
    println!(
        "| helm loop / whole bundle command | {:.1}x |",
        helm_loop.as_secs_f64() / bundle_time.as_secs_f64()
    );
}
