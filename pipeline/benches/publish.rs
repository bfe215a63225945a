//! Publishing a release of the 200-component bundle (issue 11): the product of the
//! `snapshot_bundle` benchmark is bundled once to a local registry, then each run publishes it
//! with `publish_to_registry` (the registry step of `chorale release publish`):
//!
//! - **in place**: to the repository base the bundle is in (its charts are tagged there
//!   already; only the version's tag is new);
//! - **second repository**: to a new base on the same registry (blobs mounted across
//!   repositories);
//! - **promotion**: the same digest under a second version in that same place;
//! - **second registry**: to a new base on another `docker-registry` (every blob sent once),
//!   and its promotion;
//! - **skopeo**: the second-repository and second-registry copies again with `skopeo copy
//!   --all`, one process per artifact (the bundle and each of the 200 charts), in the same run,
//!   so that both sides of a ratio were measured under the same load.
//!
//! The registries' logs give the requests of each phase by kind and the blob bytes they
//! received.
//!
//! `cargo bench -p chorale --bench publish [-- --skip-skopeo]`; prints Markdown tables for
//! docs/performance.md.

mod fixture;

use std::process::Command;
use std::time::{Duration, Instant};

use chorale::Context;
use chorale::engine::events::Ignore;
use chorale::ops::publish::{RegistryPublication, RegistryPublished, publish_to_registry};
use chorale::ops::{BundleRequest, bundle_product};
use chorale::resources::bundle::BundleOutcome;
use chorale_runners::registry::{RegistryClient, RegistryOptions};
use chorale_testkit::{GitDaemon, Registry};
use fixture::{
    COMPONENTS, CONCURRENCY, Counting, Phase, RUNS, median, median_ratio, print_served, seconds,
};

/// The phases of a run, in the order they run.
const PHASES: [&str; 7] = [
    "in place (same registry, same base)",
    "second repository, same registry (mounts)",
    "promotion in the second repository",
    "second registry",
    "promotion on the second registry",
    "skopeo, second repository, same registry",
    "skopeo, second registry",
];

/// One phase of one run: its wall time and what the registries served.
struct Measured {
    time: Duration,
    /// Requests served by the first registry, then by the second.
    served: [Phase; 2],
    /// What Chorale said it did (not for skopeo).
    published: Option<RegistryPublished>,
}

/// Time `work`, counting what both registries serve meanwhile.
async fn measure<F: Future<Output = Option<RegistryPublished>>>(
    registries: [&Registry; 2],
    work: F,
) -> Measured {
    let counting = registries.map(Counting::from_now);
    let start = Instant::now();
    let published = work.await;
    let time = start.elapsed();
    Measured {
        time,
        served: [0, 1].map(|i| counting[i].since(registries[i])),
        published,
    }
}

/// Publish `bundle` under `base` as `version`.
async fn publish(
    client: &RegistryClient,
    bundle: &BundleOutcome,
    product: &str,
    base: &str,
    version: &str,
) -> Option<RegistryPublished> {
    let publication = RegistryPublication {
        base,
        product,
        version,
        bundle_repository: &bundle.repository,
        bundle_digest: &bundle.digest,
        charts: &bundle.charts,
    };
    Some(publish_to_registry(client, &publication).await.unwrap())
}

/// The same copies as a user would script them: `skopeo copy --all` of each chart and then of
/// the bundle, one process after the other.
fn skopeo_copies(bundle: &BundleOutcome, product: &str, base: &str, version: &str) {
    let charts = bundle.charts.iter().map(|chart| {
        let (repository, tag) = chart.reference.rsplit_once(':').unwrap();
        let name = repository.rsplit_once('/').unwrap().1;
        (
            format!("{repository}@{}", chart.digest),
            format!("{base}/charts/{name}:{tag}"),
        )
    });
    let bundle = (
        format!("{}@{}", bundle.repository, bundle.digest),
        format!("{base}/{product}:{version}"),
    );
    for (from, to) in charts.chain([bundle]) {
        let status = Command::new("skopeo")
            .args([
                "copy",
                "--all",
                "--quiet",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
            ])
            .arg(format!("docker://{from}"))
            .arg(format!("docker://{to}"))
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "skopeo copy {from} {to}");
    }
}

/// `min – max` of `samples`.
fn spread(samples: &[Duration]) -> String {
    let (min, max) = (samples.iter().min().unwrap(), samples.iter().max().unwrap());
    format!("{:.3} – {:.3} s", min.as_secs_f64(), max.as_secs_f64())
}

#[tokio::main]
async fn main() {
    let skip_skopeo = std::env::args().any(|a| a == "--skip-skopeo");
    let registry = Registry::start().expect("docker-registry starts");
    let second = Registry::start().expect("a second docker-registry starts");
    let git = GitDaemon::start().expect("git daemon starts");
    let work = tempfile::tempdir().unwrap();
    let (host, second_host) = (registry.host(), second.host());
    let product = fixture::prepare(&registry, &git, work.path()).await;

    let context = Context::open(&work.path().join("state"), None, RegistryOptions::default())
        .await
        .unwrap();
    let request = BundleRequest {
        manifest: product,
        registry: Some(format!("{host}/nightly")),
        concurrency: CONCURRENCY,
        trigger: "bench".to_owned(),
    };
    let bundled = bundle_product(&context, &request, &Ignore).await.unwrap();
    let (bundle, name) = (&bundled.bundle, bundled.lock.product.as_str());
    assert_eq!(bundle.charts.len(), COMPONENTS);
    let client = &context.runners.registry;
    let both = [&registry, &second];

    let mut runs: Vec<Vec<Measured>> = Vec::new();
    for run in 0..RUNS {
        let in_place = format!("{host}/nightly");
        let elsewhere = format!("{host}/release-{run}");
        let abroad = format!("{second_host}/release-{run}");
        let rc = format!("1.0.{run}-rc.1");
        let last = format!("1.0.{run}");
        let mut phases = vec![
            measure(both, publish(client, bundle, name, &in_place, &rc)).await,
            measure(both, publish(client, bundle, name, &elsewhere, &rc)).await,
            measure(both, publish(client, bundle, name, &elsewhere, &last)).await,
            measure(both, publish(client, bundle, name, &abroad, &rc)).await,
            measure(both, publish(client, bundle, name, &abroad, &last)).await,
        ];
        if !skip_skopeo {
            for base in [
                format!("{host}/skopeo-{run}"),
                format!("{second_host}/skopeo-{run}"),
            ] {
                phases.push(
                    measure(both, async {
                        skopeo_copies(bundle, name, &base, &rc);
                        None
                    })
                    .await,
                );
            }
        }
        for (phase, measured) in PHASES.iter().zip(&phases) {
            let bytes: u64 = measured.served.iter().map(|s| s.blob_bytes).sum();
            eprintln!(
                "run {run}: {phase}: {}, {bytes} blob bytes received{}",
                seconds(measured.time),
                measured
                    .published
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default()
            );
        }
        // Nothing is re-sent by a promotion, nor by publishing where the bundle is.
        for i in [0, 2, 4] {
            assert_eq!(phases[i].published.unwrap().bytes, 0, "{}", PHASES[i]);
            assert_eq!(phases[i].served[0].blob_bytes, 0, "{}", PHASES[i]);
            assert_eq!(phases[i].served[1].blob_bytes, 0, "{}", PHASES[i]);
        }
        runs.push(phases);
    }

    let times = |i: usize| runs.iter().map(|r| r[i].time).collect::<Vec<_>>();
    println!(
        "| phase (200 charts + the bundle) | median of {RUNS} | min – max | requests (first run) | blob bytes received (first run) |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for (i, phase) in PHASES.iter().enumerate().take(runs[0].len()) {
        let first = &runs[0][i];
        let requests: usize = first
            .served
            .iter()
            .flat_map(|s| s.kinds.iter().map(|(_, n, _)| n))
            .sum();
        let bytes: u64 = first.served.iter().map(|s| s.blob_bytes).sum();
        println!(
            "| {phase} | {} | {} | {requests} | {bytes} |",
            seconds(median(times(i))),
            spread(&times(i)),
        );
    }
    if !skip_skopeo {
        for (what, chorale, skopeo) in [("second repository", 1, 5), ("second registry", 3, 6)] {
            let ratios: Vec<f64> = runs
                .iter()
                .map(|r| r[skopeo].time.as_secs_f64() / r[chorale].time.as_secs_f64())
                .collect();
            println!(
                "| **skopeo / Chorale, {what}** (median of the {RUNS} runs' ratios) | **{:.1}x** | {:.1} – {:.1}x | | |",
                median_ratio(runs.iter().map(|r| (r[skopeo].time, r[chorale].time))),
                ratios.iter().copied().fold(f64::INFINITY, f64::min),
                ratios.iter().copied().fold(0.0, f64::max),
            );
        }
    }
    for (i, phase) in PHASES.iter().enumerate().take(runs[0].len()) {
        for (served, which) in runs[0][i].served.iter().zip(["first", "second"]) {
            if !served.kinds.is_empty() {
                print_served(&format!("{phase}, {which} registry"), served);
            }
        }
    }
}
