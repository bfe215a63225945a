//! Provision and teardown time of a sim cluster: `kube-sim serve` until it prints its ready
//! line, then SIGTERM until it has exited (and removed its network and pods).
//!
//! Run: `cargo bench -p kube-sim --bench provision` (`KUBE_SIM_BENCH_RUNS`, default 10).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn summary(name: &str, samples: &[Duration]) {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let mean = samples.iter().sum::<Duration>() / u32::try_from(samples.len()).unwrap_or(1);
    println!(
        "{name:<22} mean {:>7.1} ms   min {:>7.1} ms   median {:>7.1} ms   max {:>7.1} ms",
        mean.as_secs_f64() * 1e3,
        sorted[0].as_secs_f64() * 1e3,
        sorted[sorted.len() / 2].as_secs_f64() * 1e3,
        sorted[sorted.len() - 1].as_secs_f64() * 1e3,
    );
}

fn main() {
    let runs: usize = std::env::var("KUBE_SIM_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let binary = env!("CARGO_BIN_EXE_kube-sim");
    let (mut provision, mut teardown, mut total) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let dir = tempfile::tempdir().expect("a temp dir");
        let start = Instant::now();
        let mut child = Command::new(binary)
            .args(["serve", "--dir"])
            .arg(dir.path())
            .args(["--name", &format!("bench-{}-{run}", std::process::id())])
            .env("KUBE_SIM_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting kube-sim");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the ready line");
        assert!(
            line.contains("\"server\""),
            "kube-sim did not become ready: {line:?}"
        );
        let ready = start.elapsed();
        let stop = Instant::now();
        kill(
            Pid::from_raw(i32::try_from(child.id()).expect("a pid")),
            Signal::SIGTERM,
        )
        .expect("SIGTERM");
        let status = child.wait().expect("waiting for kube-sim");
        assert!(status.success(), "kube-sim exited with {status}");
        provision.push(ready);
        teardown.push(stop.elapsed());
        total.push(start.elapsed());
    }
    println!("kube-sim provision + teardown, {runs} runs");
    summary("provision (ready)", &provision);
    summary("teardown (SIGTERM)", &teardown);
    summary("provision + teardown", &total);
}
