//! [`Registry`]: a real OCI registry (CNCF distribution, Debian's `docker-registry`) on a free
//! loopback port, anonymous or with basic or token authentication.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tempfile::TempDir;

use crate::errors::Error;
use crate::process::{self, Daemon};
use crate::token::{self, TokenServer};

/// How clients must authenticate.
#[derive(Debug)]
enum Auth {
    Anonymous,
    Basic {
        user: String,
        password: String,
    },
    Token {
        user: String,
        password: String,
        server: TokenServer,
    },
}

/// A running `docker-registry` with its own config and storage in a temp dir.
///
/// Stops and deletes its storage when dropped. [`Registry::stop`] and
/// [`Registry::start_again`] take it down and bring it back on the same port with the same
/// storage (for "registry down mid-bundle" tests); both take `&self`, so a test may share the
/// registry with a thread that stops it.
#[derive(Debug)]
pub struct Registry {
    port: u16,
    auth: Auth,
    daemon: Mutex<Option<Daemon>>,
    config: PathBuf,
    dir: TempDir,
}

impl Registry {
    /// Starts an anonymous registry.
    pub fn start() -> Result<Self, Error> {
        Self::start_with(|_| Ok(Auth::Anonymous))
    }

    /// Starts a registry that requires HTTP basic authentication (htpasswd with bcrypt, made
    /// by `htpasswd -nbB`).
    pub fn start_with_basic_auth(user: &str, password: &str) -> Result<Self, Error> {
        process::require("htpasswd", "to write the registry's bcrypt password file")?;
        Self::start_with(|dir| {
            let entry = process::run(Command::new("htpasswd").args(["-nbB", user, password]))?;
            let path = dir.join("htpasswd");
            std::fs::write(&path, entry.trim_end())
                .map_err(|source| Error::io("writing", &path, source))?;
            Ok(Auth::Basic {
                user: user.to_owned(),
                password: password.to_owned(),
            })
        })
    }

    /// Starts a registry with token authentication (`auth: token`), backed by a token server
    /// that runs in this process on another free port, accepts `user`/`password` over basic
    /// auth and issues ES256 JWTs granting every requested action.
    pub fn start_with_token_auth(user: &str, password: &str) -> Result<Self, Error> {
        Self::start_with(|dir| {
            Ok(Auth::Token {
                user: user.to_owned(),
                password: password.to_owned(),
                server: TokenServer::start(dir, user, password)?,
            })
        })
    }

    fn start_with(auth: impl FnOnce(&Path) -> Result<Auth, Error>) -> Result<Self, Error> {
        process::require("docker-registry", "the OCI registry of the tests")?;
        let dir = tempfile::Builder::new()
            .prefix("chorale-registry-")
            .tempdir()
            .map_err(|source| Error::io("creating a temp dir in", std::env::temp_dir(), source))?;
        let auth = auth(dir.path())?;
        let mut registry = Self {
            port: 0,
            auth,
            daemon: Mutex::new(None),
            config: dir.path().join("config.yml"),
            dir,
        };
        process::start_on_free_port(|port| {
            registry.port = port;
            registry.write_config()?;
            registry.start_again()
        })?;
        Ok(registry)
    }

    fn write_config(&self) -> Result<(), Error> {
        let auth = match &self.auth {
            Auth::Anonymous => serde_json::Value::Null,
            Auth::Basic { .. } => serde_json::json!({
                "htpasswd": {"realm": "chorale-testkit", "path": self.dir.path().join("htpasswd")}
            }),
            Auth::Token { server, .. } => serde_json::json!({
                "token": {
                    "realm": server.realm(),
                    "service": token::SERVICE,
                    "issuer": token::ISSUER,
                    "rootcertbundle": server.root_certificate(),
                }
            }),
        };
        let mut config = serde_json::json!({
            "version": "0.1",
            "log": {"level": "info", "formatter": "text"},
            "storage": {
                "filesystem": {"rootdirectory": self.storage_dir()},
                "delete": {"enabled": true},
                "maintenance": {"uploadpurging": {"enabled": false}},
            },
            "http": {"addr": self.host(), "secret": "chorale-testkit"},
        });
        if !auth.is_null() {
            config["auth"] = auth;
        }
        // The registry reads YAML, of which JSON is a subset.
        std::fs::write(&self.config, config.to_string())
            .map_err(|source| Error::io("writing", &self.config, source))
    }

    fn daemon(&self) -> MutexGuard<'_, Option<Daemon>> {
        self.daemon.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops the registry process; its port then refuses connections. Storage is kept.
    pub fn stop(&self) {
        self.daemon().take();
    }

    /// Starts the registry again on the same port with the same storage, and waits until it
    /// answers. Does nothing when it is running.
    pub fn start_again(&self) -> Result<(), Error> {
        let mut daemon = self.daemon();
        if daemon.is_some() {
            return Ok(());
        }
        let mut started = Daemon::spawn(
            &format!("docker-registry on {}", self.host()),
            Command::new("docker-registry")
                .arg("serve")
                .arg(&self.config),
            &self.log(),
        )?;
        started.wait_for_port(self.port)?;
        *daemon = Some(started);
        Ok(())
    }

    /// Makes the registry hang (`SIGSTOP`): connections are accepted by the kernel and never
    /// answered until [`Registry::resume`]. Does nothing when it is stopped.
    pub fn pause(&self) {
        if let Some(daemon) = self.daemon().as_ref() {
            daemon.pause();
        }
    }

    /// Lets a paused registry answer again (`SIGCONT`).
    pub fn resume(&self) {
        if let Some(daemon) = self.daemon().as_ref() {
            daemon.resume();
        }
    }

    /// Whether the registry process is running (between [`Registry::stop`] and
    /// [`Registry::start_again`] it is not).
    pub fn is_running(&self) -> bool {
        self.daemon().is_some()
    }

    /// `127.0.0.1:PORT`, the registry part of image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// The user and password clients must present, `None` for an anonymous registry.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        match &self.auth {
            Auth::Anonymous => None,
            Auth::Basic { user, password } | Auth::Token { user, password, .. } => {
                Some((user, password))
            }
        }
    }

    /// The token server's URL (`realm` of the registry's challenge) with token auth.
    pub fn token_realm(&self) -> Option<&str> {
        match &self.auth {
            Auth::Token { server, .. } => Some(server.realm()),
            _ => None,
        }
    }

    /// Where the registry keeps its blobs and manifests.
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The registry's log file (its stdout and stderr, including the access log).
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    /// Every request the registry has answered so far, in order, read from its access log.
    pub fn served(&self) -> Result<Vec<Served>, Error> {
        let path = self.log();
        let text = std::fs::read(&path).map_err(|source| Error::io("reading", &path, source))?;
        Ok(String::from_utf8_lossy(&text)
            .lines()
            .filter(|line| line.contains("msg=\"response completed"))
            .filter_map(Served::parse)
            .collect())
    }

    /// Writes `dir/config.json` in the Docker config format with this registry's credentials
    /// (empty `auths` when anonymous) and returns its path: point `DOCKER_CONFIG` at `dir`.
    pub fn write_docker_config(&self, dir: &Path) -> Result<PathBuf, Error> {
        let mut auths = serde_json::Map::new();
        if let Some((user, password)) = self.credentials() {
            auths.insert(
                self.host(),
                serde_json::json!({"auth": STANDARD.encode(format!("{user}:{password}"))}),
            );
        }
        let path = dir.join("config.json");
        std::fs::create_dir_all(dir).map_err(|source| Error::io("creating", dir, source))?;
        std::fs::write(&path, serde_json::json!({"auths": auths}).to_string())
            .map_err(|source| Error::io("writing", &path, source))?;
        Ok(path)
    }

    /// The raw manifest (or index) of `repository:tag` or `repository@digest`, fetched with
    /// skopeo as an independent client (with the registry's credentials).
    pub fn inspect_raw(&self, reference: &str) -> Result<String, Error> {
        process::require("skopeo", "to inspect what was pushed")?;
        process::run(
            Command::new("skopeo")
                .args(["inspect", "--raw", "--tls-verify=false"])
                .args(self.creds_args())
                .arg(format!("docker://{}/{reference}", self.host())),
        )
    }

    /// The digest of the manifest `repository:tag` names, computed from the raw bytes skopeo
    /// fetched (`sha256:…`).
    pub fn digest_of(&self, reference: &str) -> Result<String, Error> {
        use sha2::Digest as _;
        let raw = self.inspect_raw(reference)?;
        Ok(format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(raw.as_bytes()))
        ))
    }

    /// `--creds user:password` for skopeo and buildah, or nothing when anonymous.
    pub(crate) fn creds_args(&self) -> Vec<String> {
        self.credentials()
            .map(|(user, password)| vec!["--creds".to_owned(), format!("{user}:{password}")])
            .unwrap_or_default()
    }
}

/// One request a [`Registry`] answered, from its access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// `GET`, `HEAD`, `PUT`, …
    pub method: String,
    /// Path and query, e.g. `/v2/demo/db/manifests/main`.
    pub uri: String,
    /// The status the registry answered.
    pub status: u16,
    /// How long the registry took to answer.
    pub duration: Duration,
    /// The client's address and port (one per connection).
    pub remote: String,
}

impl Served {
    /// A `response completed` line of the registry's log (logfmt), if it has every field.
    fn parse(line: &str) -> Option<Self> {
        let field = |name: &str| {
            let start = line.find(&format!(" {name}="))? + name.len() + 2;
            let rest = &line[start..];
            Some(match rest.strip_prefix('"') {
                Some(quoted) => &quoted[..quoted.find('"')?],
                None => rest.split(' ').next()?,
            })
        };
        Some(Self {
            method: field("http.request.method")?.to_owned(),
            uri: field("http.request.uri")?.to_owned(),
            status: field("http.response.status")?.parse().ok()?,
            duration: go_duration(field("http.response.duration")?)?,
            remote: field("http.request.remoteaddr")?.to_owned(),
        })
    }
}

/// A Go duration as the registry logs it (`3.8ms`, `912.5µs`, `1.2s`).
fn go_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let value: f64 = text[..split].parse().ok()?;
    let unit = match &text[split..] {
        "s" => 1.0,
        "ms" => 1e-3,
        "µs" | "us" => 1e-6,
        "ns" => 1e-9,
        _ => return None,
    };
    Some(Duration::from_secs_f64(value * unit))
}
