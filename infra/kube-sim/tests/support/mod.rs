//! Fixtures for kube-sim's end-to-end tests: a real registry, test images built from scratch
//! with busybox, a sim cluster started from the built binary, and the real clients.

mod image;
mod registry;
pub mod sim;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub use image::{busybox_image, push};
pub use registry::Registry;
pub use sim::Sim;

/// A sim cluster and a registry that holds the busybox test image.
pub struct Fixture {
    /// The cluster.
    pub sim: Sim,
    /// The busybox image in the registry.
    pub image: String,
    _registry: Registry,
}

impl Fixture {
    /// Starts a registry with the test image and a cluster named after `prefix`.
    pub fn start(prefix: &str) -> Self {
        let registry = Registry::start();
        let image = busybox_image(&registry);
        let sim = Sim::start(&sim::unique_name(prefix));
        Self {
            sim,
            image,
            _registry: registry,
        }
    }
}

/// Fails the test with a clear message when a program the tests need is missing.
pub fn require(program: &str) {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    assert!(
        found,
        "the end-to-end tests need `{program}` on PATH; install it with infra/dev/install (see the kube-sim README)"
    );
}

/// Runs a command and returns its output, panicking when it cannot be started.
pub fn run(program: &str, args: &[&str], env: &[(&str, &Path)]) -> Output {
    require(program);
    let mut command = Command::new(program);
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command
        .output()
        .unwrap_or_else(|e| panic!("could not run {program}: {e}"))
}

/// Runs a command that must succeed; returns its stdout.
pub fn run_ok(program: &str, args: &[&str], env: &[(&str, &Path)]) -> String {
    let output = run(program, args, env);
    assert!(
        output.status.success(),
        "`{program} {}` failed ({}):\nstdout: {}\nstderr: {}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Waits until `check` returns `Some`, polling every 200 ms; panics after `timeout` with
/// `what` and the last state `describe` gives.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
    describe: impl Fn() -> String,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}; last state:\n{}",
            describe()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
