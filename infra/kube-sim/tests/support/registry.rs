//! A throw-away `docker-registry` (CNCF distribution) on a free loopback port.

use std::fmt::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, require, run_ok, wait_for};

/// A running registry, stopped on drop.
pub struct Registry {
    /// `127.0.0.1:PORT`.
    pub host: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry storing into a temp dir.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Starts a registry that wants basic authentication as `user` with `password`.
    pub fn start_with_auth(user: &str, password: &str) -> Self {
        Self::start_with(Some((user, password)))
    }

    fn start_with(auth: Option<(&str, &str)>) -> Self {
        require("docker-registry");
        let dir = tempfile::tempdir().expect("a temp dir");
        let port = free_port();
        let config = dir.path().join("config.yml");
        let mut text = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = auth {
            let entry = run_ok("htpasswd", &["-Bbn", user, password], &[]);
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, entry.trim()).expect("writing the htpasswd file");
            let _ = write!(
                text,
                "auth:\n  htpasswd:\n    realm: kube-sim-test\n    path: {}\n",
                file.display()
            );
        }
        std::fs::write(&config, text).expect("writing the registry config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting docker-registry");
        let host = format!("127.0.0.1:{port}");
        wait_for(
            "the registry to answer",
            Duration::from_secs(10),
            || std::net::TcpStream::connect(("127.0.0.1", port)).ok(),
            || format!("nothing listens on {host}"),
        );
        Self {
            host,
            child,
            _dir: dir,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
