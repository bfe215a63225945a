//! GitHub's REST API for tests: [`Prism`] serves every endpoint of GitHub's own OpenAPI
//! description and refuses (HTTP 422, logged as a `Violation`) any request that breaks it;
//! [`GithubFake`] stands in front of it to add what Prism cannot (releases that exist only
//! once created, their assets), to record requests and to fail on purpose.
//!
//! [`Prism`] is shared by the tests of a process: it takes seconds to load the 13 MB
//! description. [`GithubFake`] serves on the caller's tokio runtime and stops when dropped.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::errors::Error;
use crate::process::{self, Daemon};

/// The Prism release the tests pin (`infra/dev/install` installs it).
pub const PRISM_VERSION: &str = "5.16.0";

/// How long Prism may take to load GitHub's description (8 s on an idle machine, 20-30 s
/// while tests build and run beside it).
const PRISM_START_TIMEOUT: Duration = Duration::from_mins(3);

/// Where `infra/dev/install` puts Prism and `@octokit/openapi`.
fn prism_dir() -> PathBuf {
    let tools = std::env::var_os("CHORALE_TOOLS").unwrap_or_else(|| "/opt/chorale/tools".into());
    PathBuf::from(tools).join(format!("prism-{PRISM_VERSION}"))
}

/// Stoplight Prism mocking GitHub's REST API (`prism mock --errors` with the description of
/// `@octokit/openapi`), on a free loopback port; it lives as long as the test process.
#[derive(Debug)]
pub struct Prism {
    port: u16,
    log: PathBuf,
    started_in: Duration,
    _daemon: Daemon,
}

impl Prism {
    /// This process's Prism, started on first use and shared by the tests that follow; fails
    /// with a message naming `infra/dev/install` when Prism or the description is missing.
    pub fn shared() -> Result<&'static Prism, Error> {
        static SHARED: Mutex<Option<&'static Prism>> = Mutex::new(None);
        let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(prism) = *shared {
            return Ok(prism);
        }
        // Kept for the whole process: nothing drops a static, so the daemon is one that stops
        // when the process exits.
        let prism: &'static Prism = Box::leak(Box::new(Self::start(&prism_dir())?));
        *shared = Some(prism);
        Ok(prism)
    }

    /// Starts the Prism installed in `dir` (`node_modules/` with Prism and `@octokit/openapi`).
    fn start(dir: &Path) -> Result<Self, Error> {
        let prism = process::require(
            &dir.join("node_modules/.bin/prism").to_string_lossy(),
            "Stoplight Prism, the stand-in for GitHub's API",
        )?;
        let description = process::require(
            &dir.join("node_modules/@octokit/openapi/generated/api.github.com.json")
                .to_string_lossy(),
            "GitHub's OpenAPI description, from @octokit/openapi",
        )?;
        let logs = std::env::temp_dir().join("chorale-prism");
        std::fs::create_dir_all(&logs).map_err(|source| Error::io("creating", &logs, source))?;
        remove_logs_of_ended_processes(&logs);
        process::start_on_free_port(|port| {
            let log = logs.join(format!("{}-{port}.log", std::process::id()));
            let started = Instant::now();
            let port_text = port.to_string();
            let args = [
                "mock".as_ref(),
                "-h".as_ref(),
                "127.0.0.1".as_ref(),
                "-p".as_ref(),
                OsStr::new(&port_text),
                "--errors".as_ref(),
                description.as_os_str(),
            ];
            let mut daemon = Daemon::spawn_until_exit(
                &format!("prism {PRISM_VERSION} on 127.0.0.1:{port}"),
                &prism,
                &args,
                &log,
            )?;
            daemon.wait_for_port_within(port, PRISM_START_TIMEOUT)?;
            Ok(Self {
                port,
                log,
                started_in: started.elapsed(),
                _daemon: daemon,
            })
        })
    }

    /// Its base URL, `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// How long it took to answer on its port.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log lines of requests that broke GitHub's description (`[VALIDATOR] ✖ error
    /// Violation: …`), since Prism started.
    pub fn violations(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|line| line.contains("Violation"))
            .map(str::to_owned)
            .collect()
    }
}

/// Removes the logs (`PID-PORT.log`) of test processes that have ended: a log stays for a
/// look until the next run.
fn remove_logs_of_ended_processes(logs: &Path) {
    let Ok(entries) = std::fs::read_dir(logs) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_string_lossy()
            .split('-')
            .next()
            .unwrap_or_default()
            .to_owned();
        if !pid.is_empty() && !Path::new("/proc").join(&pid).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// How [`GithubFake`] fails a request on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answers this status with a GitHub-style error body.
    Status(u16),
    /// Never answers (until the client gives up and closes the connection).
    Hang,
}

/// One request as [`GithubFake`] saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path and query.
    pub path_and_query: String,
    /// The status answered; `None` for a request left hanging.
    pub status: Option<u16>,
    /// The request body (lossy UTF-8: an uploaded asset may be binary).
    pub body: String,
}

impl Recorded {
    /// The path without the query.
    pub fn path(&self) -> &str {
        self.path_and_query
            .split_once('?')
            .map_or(self.path_and_query.as_str(), |(path, _)| path)
    }
}

struct Rule {
    method: Method,
    path_prefix: String,
    remaining: usize,
    fault: Fault,
}

#[derive(Default)]
struct Releases {
    /// The id of each created release, by `owner/repo/tag`.
    by_tag: HashMap<String, u64>,
    /// The assets uploaded to each release, as GitHub describes them.
    assets: HashMap<u64, Vec<Value>>,
    next_id: u64,
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    rules: Mutex<Vec<Rule>>,
    recorded: Mutex<Vec<Recorded>>,
    releases: Mutex<Releases>,
}

/// A recording GitHub stand-in in front of [`Prism`]: every request is forwarded to Prism (so
/// it is validated, and Prism's 422 comes back as it is) and recorded. On top, releases exist
/// once created: `GET /repos/{o}/{r}/releases/tags/{tag}` answers GitHub's 404 until a `POST
/// /repos/{o}/{r}/releases` for the tag succeeded, and then shows the release with that id and
/// tag and the assets uploaded to it.
pub struct GithubFake {
    port: u16,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for GithubFake {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl GithubFake {
    /// Starts a fake in front of `prism`, on the caller's tokio runtime.
    pub async fn start(prism: &Prism) -> GithubFake {
        let shared = Arc::new(Shared {
            upstream: prism.url().trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            rules: Mutex::new(Vec::new()),
            recorded: Mutex::new(Vec::new()),
            releases: Mutex::new(Releases {
                next_id: 1,
                ..Releases::default()
            }),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free loopback port");
        let port = listener.local_addr().expect("a bound address").port();
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the fake serves");
        });
        GithubFake {
            port,
            shared,
            server,
        }
    }

    /// Its base URL, `http://127.0.0.1:PORT/`: the API URL to give a client.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Fails the next `times` requests with `method` whose path starts with `path_prefix`.
    pub fn fail(&self, method: &str, path_prefix: &str, times: usize, fault: Fault) {
        lock(&self.shared.rules).push(Rule {
            method: method.parse().expect("an HTTP method"),
            path_prefix: path_prefix.to_owned(),
            remaining: times,
            fault,
        });
    }

    /// The requests so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.recorded).clone()
    }

    /// How many requests had `method` and exactly `path` (the query aside).
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|request| request.method == method && request.path() == path)
            .count()
    }

    /// The names of the assets uploaded to release `id`.
    pub fn assets(&self, id: u64) -> Vec<String> {
        lock(&self.shared.releases)
            .assets
            .get(&id)
            .into_iter()
            .flatten()
            .filter_map(|asset| asset["name"].as_str().map(str::to_owned))
            .collect()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a request is about, for the state Prism cannot keep.
enum Route {
    /// `GET /repos/{o}/{r}/releases/tags/{tag}`, keyed `o/r/tag`.
    ReleaseByTag(String),
    /// `POST /repos/{o}/{r}/releases`, with the repository `o/r`.
    CreateRelease(String),
    /// `POST /repos/{o}/{r}/releases/{id}/assets?name=…`.
    UploadAsset(u64, String),
    Other,
}

fn route(method: &Method, uri: &Uri) -> Route {
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["repos", owner, repo, "releases", "tags", tag]) => {
            Route::ReleaseByTag(format!("{owner}/{repo}/{tag}"))
        }
        ("POST", ["repos", owner, repo, "releases"]) => {
            Route::CreateRelease(format!("{owner}/{repo}"))
        }
        ("POST", ["repos", _, _, "releases", id, "assets"]) => {
            let name = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
                .find(|(key, _)| key == "name")
                .map(|(_, value)| value.into_owned())
                .unwrap_or_default();
            id.parse()
                .map_or(Route::Other, |id| Route::UploadAsset(id, name))
        }
        _ => Route::Other,
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path_and_query = uri
        .path_and_query()
        .map(ToString::to_string)
        .unwrap_or_default();
    let record = |status: Option<u16>| {
        lock(&shared.recorded).push(Recorded {
            method: method.to_string(),
            path_and_query: path_and_query.clone(),
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    };
    match injected_fault(&shared, &method, uri.path()) {
        Some(Fault::Hang) => {
            record(None);
            return std::future::pending().await;
        }
        Some(Fault::Status(status)) => {
            record(Some(status));
            return github_error(status, "injected by the test's GitHub fake");
        }
        None => {}
    }
    let route = route(&method, &uri);
    if let Route::ReleaseByTag(key) = &route
        && !lock(&shared.releases).by_tag.contains_key(key)
    {
        record(Some(404));
        return github_error(404, "Not Found");
    }
    let (status, response_headers, answer) =
        match forward(&shared, &method, &path_and_query, &headers, body.clone()).await {
            Ok(forwarded) => forwarded,
            Err(reason) => {
                record(Some(502));
                return github_error(502, &format!("cannot reach Prism: {reason}"));
            }
        };
    record(Some(status.as_u16()));
    let answer = if status.is_success() {
        remember(&shared, &route, &body, answer)
    } else {
        answer
    };
    (status, response_headers, answer).into_response()
}

/// The fault to answer with, if a rule matches (using one of its times).
fn injected_fault(shared: &Shared, method: &Method, path: &str) -> Option<Fault> {
    let mut rules = lock(&shared.rules);
    let rule = rules.iter_mut().find(|rule| {
        rule.remaining > 0 && rule.method == method && path.starts_with(&rule.path_prefix)
    })?;
    rule.remaining -= 1;
    Some(rule.fault)
}

/// Keeps the state a successful request made, and shows it in the answer.
fn remember(shared: &Shared, route: &Route, request: &[u8], answer: Bytes) -> Bytes {
    let Ok(mut json) = serde_json::from_slice::<Value>(&answer) else {
        return answer;
    };
    let mut releases = lock(&shared.releases);
    match route {
        Route::CreateRelease(repo) => {
            let tag = serde_json::from_slice::<Value>(request).unwrap_or_default()["tag_name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let id = releases.next_id;
            releases.next_id += 1;
            releases.by_tag.insert(format!("{repo}/{tag}"), id);
            json["id"] = json!(id);
            json["tag_name"] = json!(tag);
            json["assets"] = json!([]);
        }
        Route::ReleaseByTag(key) => {
            let id = releases.by_tag[key];
            json["id"] = json!(id);
            json["tag_name"] = json!(key.rsplit('/').next());
            json["assets"] = json!(releases.assets.get(&id).cloned().unwrap_or_default());
        }
        Route::UploadAsset(id, name) => {
            json["name"] = json!(name);
            releases.assets.entry(*id).or_default().push(json.clone());
        }
        Route::Other => return answer,
    }
    Bytes::from(json.to_string())
}

async fn forward(
    shared: &Shared,
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, HeaderMap, Bytes), reqwest::Error> {
    let mut request = shared
        .client
        .request(
            method.clone(),
            format!("{}{path_and_query}", shared.upstream),
        )
        .body(body);
    for (name, value) in headers {
        if name != axum::http::header::HOST && name != axum::http::header::CONTENT_LENGTH {
            request = request.header(name, value);
        }
    }
    let response = request.send().await?;
    let status = response.status();
    let mut kept = HeaderMap::new();
    for name in ["content-type", "sl-violations"] {
        if let Some(value) = response.headers().get(name) {
            kept.insert(name, value.clone());
        }
    }
    Ok((status, kept, response.bytes().await?))
}

/// An error answer shaped like GitHub's (`basic-error`).
fn github_error(status: u16, message: &str) -> Response {
    let status = StatusCode::from_u16(status).expect("a valid status");
    let body = json!({
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": status.as_u16().to_string(),
    });
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::Prism;

    #[test]
    fn a_missing_prism_names_itself_and_the_installer() {
        let message = Prism::start(Path::new("/nonexistent/prism"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "`/nonexistent/prism/node_modules/.bin/prism` is not installed or not on PATH \
             (Stoplight Prism, the stand-in for GitHub's API); run infra/dev/install"
        );
    }
}
