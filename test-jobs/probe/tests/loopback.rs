//! The real binary on loopback: `serve` instances answered by `http` checks.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

const PROBE: &str = env!("CARGO_BIN_EXE_chorale-probe");

/// A running `chorale-probe serve`, killed on drop.
struct Service {
    child: Child,
    base: String,
}

impl Service {
    /// Starts `serve` on a free loopback port and returns once it listens.
    fn start(name: &str, requires: &[&str]) -> Self {
        let mut command = Command::new(PROBE);
        command.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--name",
            name,
            "--version",
            "9.9.9",
        ]);
        for upstream in requires {
            command.args(["--requires", upstream]);
        }
        let mut child = command
            .env("CHORALE_BUILD", "b-1")
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn chorale-probe serve");
        // The first stderr line announces the bound address: "... on http://127.0.0.1:PORT (...".
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        // Keep draining the log so that the service never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let base = line
            .split_whitespace()
            .find(|word| word.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Self { child, base }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn probe(args: &[&str]) -> Output {
    Command::new(PROBE)
        .args(args)
        .output()
        .expect("run chorale-probe")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn checks_pass_against_a_ready_service_and_write_junit() {
    let db = Service::start("db", &[]);
    let api = Service::start("api", &[&db.url("/healthz")]);
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("reports/junit.xml");
    let output = probe(&[
        "http",
        "--check",
        &format!("{}=200~ready", api.url("/readyz")),
        "--check",
        &format!("{}~\"name\":\"api\"", api.url("/")),
        "--check",
        &format!("{}~\"CHORALE_BUILD\":\"b-1\"", api.url("/?format=json")),
        "--timeout",
        "30s",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert_eq!(text.matches("PASS GET ").count(), 3, "{text}");
    assert!(text.ends_with("3 of 3 check(s) passed\n"), "{text}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 3, "{xml}");
    assert!(xml.contains("tests=\"3\" failures=\"0\""), "{xml}");
}

#[test]
fn a_failing_check_fails_with_expected_versus_got() {
    let web = Service::start("web", &[]);
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let output = probe(&[
        "http",
        "--check",
        &format!("{}=200", web.url("/fail")),
        "--check",
        &web.url("/healthz"),
        "--timeout",
        "1s",
        "--interval",
        "100ms",
        "--junit",
        junit.to_str().unwrap(),
        "--suite",
        "smoke",
    ]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "FAIL GET {} = 200: expected status 200, got 500",
            web.url("/fail")
        )),
        "{text}"
    );
    assert!(text.ends_with("1 of 2 check(s) passed\n"), "{text}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<failure message=\"expected status 200, got 500\""),
        "{xml}"
    );
    assert!(xml.contains("<testsuite name=\"smoke\" tests=\"2\" failures=\"1\""));
}

#[test]
fn a_service_becomes_ready_after_its_dependency_starts() {
    // Reserve a port for the dependency, then free it: nothing listens there yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dependency = format!("http://127.0.0.1:{port}/healthz");
    let api = Service::start("api", &[&dependency]);
    let not_ready = probe(&["http", "--check", &api.url("/readyz"), "--timeout", "0s"]);
    assert_eq!(not_ready.status.code(), Some(1));
    assert!(
        stdout(&not_ready).contains("expected status 2xx, got 503"),
        "{}",
        stdout(&not_ready)
    );

    // The checker retries while the dependency comes up on the reserved port.
    let checker = Command::new(PROBE)
        .args(["http", "--check", &api.url("/readyz"), "--timeout", "60s"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut db = Command::new(PROBE)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let output = checker.wait_with_output().unwrap();
    let _ = db.kill();
    let _ = db.wait();
    assert!(output.status.success(), "{}", stdout(&output));
}

#[test]
fn fault_helpers_exit_as_told() {
    assert_eq!(
        probe(&["exit", "7", "--message", "boom"]).status.code(),
        Some(7)
    );
    assert_eq!(probe(&["sleep", "10ms"]).status.code(), Some(0));
    assert_eq!(probe(&["serve", "--port", "1"]).status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("j.xml");
    let junit = probe(&[
        "junit",
        "--cases",
        "3",
        "--fail",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(junit.status.code(), Some(1));
    let xml = std::fs::read_to_string(&out).unwrap();
    assert_eq!(xml.matches("<failure ").count(), 1);
    assert!(Path::new(&out).exists());
}

#[test]
fn help_documents_every_subcommand() {
    let help = probe(&["--help"]);
    assert!(help.status.success());
    insta::assert_snapshot!(stdout(&help));
}

#[test]
fn collect_prints_the_junit_files_that_other_subcommands_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let empty = probe(&["collect", results.to_str().unwrap()]);
    assert_eq!(empty.status.code(), Some(0), "{}", stdout(&empty));
    assert_eq!(
        chorale_probe::results::parse_log(&stdout(&empty)).unwrap(),
        Vec::new()
    );

    let service = Service::start("api", &[]);
    let http_junit = results.join("http-probe.xml");
    let checked = probe(&[
        "http",
        "--check",
        &service.url("/healthz=200"),
        "--junit",
        http_junit.to_str().unwrap(),
    ]);
    assert!(checked.status.success(), "{}", stdout(&checked));
    let generated = results.join("suite/generated.xml");
    probe(&[
        "junit",
        "--cases",
        "2",
        "--out",
        generated.to_str().unwrap(),
    ]);
    let collected = probe(&["collect", results.to_str().unwrap()]);
    assert_eq!(collected.status.code(), Some(0));
    let files = chorale_probe::results::parse_log(&stdout(&collected)).unwrap();
    let names: Vec<&str> = files.iter().map(|file| file.name.as_str()).collect();
    assert_eq!(names, ["http-probe.xml", "suite/generated.xml"]);
    assert_eq!(
        files[0].content.as_deref(),
        Ok(std::fs::read_to_string(&http_junit).unwrap().as_str())
    );
    assert_eq!(
        files[1].content.as_deref(),
        Ok(std::fs::read_to_string(&generated).unwrap().as_str())
    );

    std::fs::write(results.join("broken.xml"), [0xc3, 0x28]).unwrap();
    let partly = probe(&["collect", results.to_str().unwrap()]);
    assert_eq!(partly.status.code(), Some(1));
    let files = chorale_probe::results::parse_log(&stdout(&partly)).unwrap();
    assert_eq!(files.len(), 3);
    assert_eq!(files[0].content, Err("it is not UTF-8 text".to_owned()));
}
