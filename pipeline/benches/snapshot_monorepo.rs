//! Snapshot of a monorepo (issue 12): 20 charts under `charts/`, 40 MB of incompressible files
//! spread over the charts and over 60 commits, 3,000 tags; a product of 20 components, one per
//! chart, on `main`. A cold snapshot (empty state: the mirror is made) and a warm one (same
//! state) are measured against `git clone --bare` of the same repository from the same `git
//! daemon`, interleaved in each run so that the machine's load weighs on all alike.
//!
//! `cargo bench -p chorale --bench snapshot_monorepo`; prints a Markdown table for
//! docs/performance.md.

#[path = "fixture/common.rs"]
mod common;

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chorale::Context;
use chorale::engine::events::Ignore;
use chorale::ops::{SnapshotRequest, snapshot_product};
use chorale_runners::registry::RegistryOptions;
use chorale_testkit::GitDaemon;
use common::{CONCURRENCY, RUNS, chart_files, median, seconds};

const CHARTS: usize = 20;
const COMMITS: usize = 60;
const TAGS: usize = 3000;
/// Bytes of random data each commit adds to the chart it touches (60 x 700 KB = 42 MB).
const BYTES_PER_COMMIT: usize = 700 * 1024;

/// Random bytes (xorshift; incompressible for zlib).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect()
}

fn git(dir: &std::path::Path, args: &[&str], input: &str) {
    let mut child = Command::new("git")
        .arg(format!("--git-dir={}", dir.display()))
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "git {args:?}");
}

fn min_max(samples: &[Duration]) -> String {
    let min = samples.iter().min().unwrap();
    let max = samples.iter().max().unwrap();
    format!("{:.2}–{:.2} s", min.as_secs_f64(), max.as_secs_f64())
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_owned()
}

#[tokio::main]
async fn main() {
    let daemon = GitDaemon::start().expect("git daemon starts");
    let work = tempfile::tempdir().unwrap();
    eprintln!("preparing the monorepo ({CHARTS} charts, {COMMITS} commits, {TAGS} tags)…");
    let repo = daemon.create_repo("mono").unwrap();
    for c in 0..CHARTS {
        chart_files(&repo, &format!("charts/c{c:02}"), &format!("c{c:02}"));
    }
    let mut commits = vec![repo.commit("charts").unwrap()];
    for i in 0..COMMITS {
        let chart = i % CHARTS;
        repo.write_file(
            &format!("charts/c{chart:02}/files/blob-{i:03}.bin"),
            noise(i as u64 + 1, BYTES_PER_COMMIT),
        )
        .unwrap();
        commits.push(repo.commit(&format!("c{chart:02}: data {i}")).unwrap());
    }
    let mut tags = String::new();
    for t in 0..TAGS {
        let commit = &commits[t % commits.len()];
        let _ = writeln!(tags, "create refs/tags/v1.{}.{} {commit}", t / 100, t % 100);
    }
    git(repo.path(), &["update-ref", "--stdin"], &tags);
    git(repo.path(), &["gc", "--quiet"], "");
    let size: u64 = walk_size(repo.path());
    eprintln!("repository: {:.1} MB on disk", size as f64 / 1e6);

    let mut yaml = String::from(
        "apiVersion: chorale.dev/v1alpha1\nkind: Product\nmetadata: { name: mono }\nspec:\n  versionLine: \"1.0\"\n  components:\n",
    );
    for c in 0..CHARTS {
        let _ = write!(
            yaml,
            "    - name: c{c:02}\n      source: {{ git: {}, ref: main, chartPath: charts/c{c:02} }}\n",
            repo.url()
        );
    }
    let manifest = work.path().join("mono.yaml");
    std::fs::write(&manifest, yaml).unwrap();
    let request = SnapshotRequest {
        manifest,
        concurrency: CONCURRENCY,
    };

    let (mut cold, mut warm, mut clone, mut loads) = (vec![], vec![], vec![], vec![]);
    for run in 0..RUNS {
        let state = work.path().join(format!("state-{run}"));
        let context = Context::open(&state, None, RegistryOptions::default())
            .await
            .unwrap();
        let start = Instant::now();
        let lock = snapshot_product(&context, &request, &Ignore).await.unwrap();
        cold.push(start.elapsed());
        assert_eq!(lock.components.len(), CHARTS);
        let start = Instant::now();
        let again = snapshot_product(&context, &request, &Ignore).await.unwrap();
        warm.push(start.elapsed());
        assert_eq!(again.id, lock.id);

        let target = work.path().join(format!("clone-{run}.git"));
        let start = Instant::now();
        let status = Command::new("git")
            .args(["clone", "--bare", "--quiet", repo.url()])
            .arg(&target)
            .status()
            .unwrap();
        clone.push(start.elapsed());
        assert!(status.success());
        loads.push(load());
        std::fs::remove_dir_all(&state).ok();
        std::fs::remove_dir_all(&target).ok();
        eprintln!(
            "run {run}: cold {} warm {} clone {} (load {})",
            seconds(cold[run]),
            seconds(warm[run]),
            seconds(clone[run]),
            loads[run]
        );
    }
    let ratio = {
        let mut ratios: Vec<f64> = cold
            .iter()
            .zip(&clone)
            .map(|(a, b)| a.as_secs_f64() / b.as_secs_f64())
            .collect();
        ratios.sort_by(f64::total_cmp);
        ratios[ratios.len() / 2]
    };
    println!("| {RUNS} runs | median | min–max |");
    println!("|---|---|---|");
    println!(
        "| cold snapshot | {} | {} |",
        seconds(median(cold.clone())),
        min_max(&cold)
    );
    println!(
        "| warm snapshot | {} | {} |",
        seconds(median(warm.clone())),
        min_max(&warm)
    );
    println!(
        "| `git clone --bare` | {} | {} |",
        seconds(median(clone.clone())),
        min_max(&clone)
    );
    println!();
    println!(
        "cold / clone: median ratio {ratio:.2}; load average (1 min) after each run: {}",
        loads.join(", ")
    );
}

fn walk_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                walk_size(&e.path())
            } else {
                m.len()
            }
        })
        .sum()
}
