//! A real SMTP server for tests: aiosmtpd driven by `smtp_sink.py`, in a temp dir, stopped
//! on drop.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Options of the sink.
#[derive(Debug, Default, Clone)]
pub struct SinkOptions {
    /// Require AUTH with this login and password.
    pub credentials: Option<(String, String)>,
    /// Require STARTTLS with this certificate chain and key (PEM paths).
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// A running SMTP sink.
pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    _child: Child,
}

impl SmtpSink {
    /// Starts the sink; panics with the missing piece named when python3 or aiosmtpd is absent.
    pub async fn start(options: SinkOptions) -> SmtpSink {
        let probe = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .output()
            .await;
        match probe {
            Ok(output) if output.status.success() => {}
            Ok(_) => {
                panic!("the SMTP tests need the Python package aiosmtpd: pip install aiosmtpd")
            }
            Err(err) => panic!("the SMTP tests need python3 on PATH: {err}"),
        }
        let dir = tempfile::tempdir().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/support/smtp_sink.py");
        let mut command = Command::new("python3");
        command.args(["-W", "ignore"]).arg(script).arg(dir.path());
        if let Some((login, password)) = &options.credentials {
            command.args(["--login", login, "--password", password]);
        }
        if let Some((cert, key)) = &options.tls {
            command.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the SMTP sink");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the SMTP sink did not start within 20 s")
            .unwrap()
            .expect("the SMTP sink exited before it was ready");
        let port = ready
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the SMTP sink: {ready}"));
        SmtpSink {
            port,
            dir,
            _child: child,
        }
    }

    /// Waits (at most 30 s) until `count` messages are stored and returns their records.
    pub async fn wait_for(&self, count: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let mut records: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
                .unwrap()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            if records.len() >= count {
                records.sort();
                return records
                    .iter()
                    .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
                    .collect();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {count} e-mails, got {}",
                records.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The raw messages as stored.
    pub fn raw_messages(&self) -> Vec<String> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }
}
