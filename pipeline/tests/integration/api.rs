//! The HTTP API of `chorale serve`, driven over real HTTP: every operation of its OpenAPI
//! document against the role table, products registered and refused, builds a page at a time,
//! tokens made and revoked, and the audit log of all of it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use chorale::resources::build::{Build, Stage};
use chorale::store::Store;
use chorale_testkit::DemoProduct;
use chorale_testkit::oidc::{Issuer, SigningKey};
use chorale_testkit::webhook::{Platform, Receiver};

use crate::cli::chorale;
use crate::support::World;

/// A `chorale serve` on a free port with its own state folder; killed when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
    state: PathBuf,
    home: PathBuf,
    /// The folder of a server's own state, removed once the server is gone.
    dir: Option<tempfile::TempDir>,
    /// The database, when not the state folder's.
    database_url: Option<String>,
}

impl Server {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let mut server = Self::start_in(&state, dir.path(), &[]);
        server.dir = Some(dir);
        server
    }

    /// A server on the state folder `state`, with `args` after `serve`.
    fn start_in(state: &Path, home: &Path, args: &[&str]) -> Self {
        Self::start_on(state, home, None, args)
    }

    /// A server on the state folder `state` and the database `database_url`, with `args`
    /// after `serve`; cron patterns may have seconds.
    fn start_on(state: &Path, home: &Path, database_url: Option<&str>, args: &[&str]) -> Self {
        Self::start_with(state, home, database_url, args, &[])
    }

    /// As [`Server::start_on`], with `envs` in its environment.
    pub(crate) fn start_with(
        state: &Path,
        home: &Path,
        database_url: Option<&str>,
        args: &[&str],
        envs: &[(&str, String)],
    ) -> Self {
        let mut command = chorale(state, home);
        command.envs(envs.iter().map(|(key, value)| (key, value)));
        if let Some(url) = database_url {
            command.args(["--database-url", url]);
        }
        let mut child = command
            .env(chorale::scheduler::SECONDS_VARIABLE, "1")
            .env(
                "CHORALE_KUBE_SIM",
                chorale_testkit::kube_sim_binary().expect("kube-sim builds"),
            )
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chorale serve starts");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let url = loop {
            let line = lines.next().and_then(Result::ok).unwrap_or_else(|| {
                panic!(
                    "chorale serve ended before it listened: {:?}",
                    child.try_wait()
                )
            });
            if let Some(url) = line.strip_prefix("chorale serve: listening on ") {
                break url.to_owned();
            }
        };
        // Keep reading its stderr so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            url,
            state: state.to_owned(),
            home: home.to_owned(),
            dir: None,
            database_url: database_url.map(str::to_owned),
        }
    }

    /// A token of `role` made with the in-process CLI (as the local admin).
    pub(crate) fn token(&self, name: &str, role: &str, expires: Option<&str>) -> String {
        let mut args = vec![
            "tokens", "create", "--name", name, "--role", role, "-o", "json",
        ];
        if let Some(expires) = expires {
            args.extend(["--expires", expires]);
        }
        let created: Value = serde_json::from_str(&self.cli(&args)).unwrap();
        created["secret"].as_str().unwrap().to_owned()
    }

    pub(crate) fn cli(&self, args: &[&str]) -> String {
        let mut command = chorale(&self.state, &self.home);
        if let Some(url) = &self.database_url {
            command.args(["--database-url", url]);
        }
        let output = command.args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        drop(self.dir.take());
    }
}

pub(crate) async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<(&str, Vec<u8>)>,
) -> (StatusCode, Option<String>, Value) {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some((content_type, bytes)) = body {
        request = request.header("content-type", content_type).body(bytes);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, content_type, body)
}

const ROLES: [&str; 4] = ["viewer", "developer", "release-manager", "admin"];

#[tokio::test]
async fn every_operation_of_the_openapi_document_answers_by_the_role_table() {
    let server = Server::start();
    let client = reqwest::Client::new();
    let tokens: Vec<(usize, String)> = ROLES
        .iter()
        .enumerate()
        .map(|(rank, role)| (rank, server.token(&format!("as-{role}"), role, None)))
        .collect();
    let expired = server.token("expired", "admin", Some("1s"));
    let revoked = server.token("revoked", "admin", None);
    server.cli(&["tokens", "revoke", "revoked"]);
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let (status, _, document) = send(
        &client,
        reqwest::Method::GET,
        &format!("{}/api/v1/openapi.json", server.url),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1"),
        "{document:#}"
    );
    let mut operations = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<reqwest::Method>() else {
                continue;
            };
            operations += 1;
            let needed = operation["security"][0]["bearer"][0]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} names no role: {operation:#}"));
            let needed = ROLES
                .iter()
                .position(|r| *r == needed)
                .unwrap_or_else(|| panic!("{method} {path}: unknown role {needed}"));
            let url = format!(
                "{}{}",
                server.url,
                path.replace("{name}", "demo")
                    .replace("{id}", "20261204-023000-ab12")
            );
            let body = || Some(("application/json", b"{}".to_vec()));
            let label = format!("{method} {path}");
            for (token, what) in [
                (None, "no token"),
                (Some("chorale_not-a-token"), "an unknown token"),
                (Some(expired.as_str()), "an expired token"),
                (Some(revoked.as_str()), "a revoked token"),
            ] {
                let (status, content_type, problem) =
                    send(&client, method.clone(), &url, token, body()).await;
                assert_eq!(status, 401, "{label} with {what}: {problem:#}");
                assert_eq!(
                    content_type.as_deref(),
                    Some("application/problem+json"),
                    "{label}"
                );
                assert!(!problem["detail"].as_str().unwrap().is_empty(), "{label}");
            }
            for (rank, token) in &tokens {
                let (status, _, answer) =
                    send(&client, method.clone(), &url, Some(token), body()).await;
                let role = ROLES[*rank];
                if *rank < needed {
                    assert_eq!(status, 403, "{label} as {role}: {answer:#}");
                    assert!(
                        answer["detail"].as_str().unwrap().contains(ROLES[needed]),
                        "{answer:#}"
                    );
                } else {
                    assert!(
                        status != 401 && status != 403 && !status.is_server_error(),
                        "{label} as {role}: {status} {answer:#}"
                    );
                }
            }
        }
    }
    assert!(
        operations >= 9,
        "only {operations} operations in the document"
    );

    // The secrets never show, not in the token list nor in the audit log.
    let admin = &tokens[3].1;
    let listing = server.cli(&["tokens", "list", "-o", "json"]);
    let audit = server.cli(&["audit", "list", "--limit", "500", "-o", "json"]);
    for (rank, secret) in &tokens {
        assert!(
            !listing.contains(secret.as_str()) && !audit.contains(secret.as_str()),
            "{}",
            ROLES[*rank]
        );
    }
    let (_, _, events) = send(
        &client,
        reqwest::Method::GET,
        &format!("{}/api/v1/audit?limit=500", server.url),
        Some(admin),
        None,
    )
    .await;
    let denied = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "denied")
        .count();
    assert!(denied > 0, "refused changes are logged: {events:#}");
}

/// The demo product with its `web` component as a second document.
fn demo_body() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../product-manifests/demo");
    let product = std::fs::read_to_string(root.join("product.yaml")).unwrap();
    let web = std::fs::read_to_string(root.join("components/web.yaml")).unwrap();
    format!("{product}---\n{web}")
}

#[tokio::test]
async fn products_are_registered_whole_or_not_at_all() {
    let server = Server::start();
    let client = reqwest::Client::new();
    let admin = server.token("admin", "admin", None);
    let url = format!("{}/api/v1/products/demo", server.url);
    let put = |body: Vec<u8>| {
        let client = client.clone();
        let url = url.clone();
        let admin = admin.clone();
        async move {
            send(
                &client,
                reqwest::Method::PUT,
                &url,
                Some(&admin),
                Some(("application/yaml", body)),
            )
            .await
        }
    };

    let (status, _, product) = put(demo_body().into_bytes()).await;
    assert_eq!(status, 200, "{product:#}");
    assert_eq!(product["kind"], "Product");
    assert_eq!(product["metadata"]["generation"], 1);
    assert_eq!(product["spec"]["versionLine"], "1.0");
    let (_, _, again) = put(demo_body().into_bytes()).await;
    assert_eq!(
        again["metadata"]["generation"], 1,
        "an unchanged manifest stays"
    );

    // A bad component in the second document: its line in the body, nothing stored.
    let bad = demo_body().replace("dependsOn: [api, worker]", "dependsOn: [api, nowhere]");
    let (status, content_type, problem) = put(bad.into_bytes()).await;
    assert_eq!(status, 422, "{problem:#}");
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    let line = demo_body()
        .lines()
        .position(|l| l.contains("dependsOn: [api, worker]"))
        .unwrap()
        + 1;
    let errors = problem["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(
            |e| e.as_str().unwrap().starts_with(&format!("body:{line}:"))
                && e.as_str().unwrap().contains("nowhere")
        ),
        "{problem:#}"
    );
    for (body, status, field) in [
        (
            demo_body()
                .replace("name: demo", "name: other")
                .into_bytes(),
            400,
            Some("metadata.name"),
        ),
        (b"{\"apiVersion\": ".to_vec(), 422, None),
        (vec![0xff, 0xfe, 0x00], 400, Some("body")),
    ] {
        let (got, content_type, problem) = put(body).await;
        assert_eq!(got, status, "{problem:#}");
        assert_eq!(
            content_type.as_deref(),
            Some("application/problem+json"),
            "{problem:#}"
        );
        assert_eq!(problem["field"].as_str(), field, "{problem:#}");
    }
    // Schedules: an unknown zone, a cron that is not one, a cron without a zone.
    for (schedule, says) in [
        (
            "{cron: \"30 2 * * *\", timeZone: Mars/Olympus}",
            "IANA time zone",
        ),
        (
            "{cron: \"30 25 * * *\", timeZone: UTC}",
            "not a cron pattern",
        ),
        ("{cron: \"30 2 * * *\"}", "timeZone is required"),
        (
            "{cron: \"30 2 * * *\", timeZone: UTC, concurrencyPolicy: Sometimes}",
            "Forbid",
        ),
    ] {
        let body = demo_body().replacen("spec:\n", &format!("spec:\n  schedule: {schedule}\n"), 1);
        let (got, _, problem) = put(body.into_bytes()).await;
        assert_eq!(got, 422, "{schedule}: {problem:#}");
        let errors = problem["errors"].as_array().unwrap();
        assert!(
            errors.iter().any(|e| {
                let e = e.as_str().unwrap();
                e.starts_with("body:") && e.contains(says)
            }),
            "{schedule}: {problem:#}"
        );
    }
    // A 20 MB body is refused as soon as its length is known: the answer comes before the
    // body is sent (the server does not read it, and closes the connection).
    let address = server.url.trim_start_matches("http://").to_owned();
    let head = format!(
        "PUT /api/v1/products/demo HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/yaml\r\nContent-Length: {}\r\n\r\n",
        20 * 1024 * 1024
    );
    let answer = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        // The head, then as much body as it announces.
        let mut answer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream
                .read(&mut chunk)
                .expect("the answer comes without the body");
            answer.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&answer).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(str::to_owned)
                    })
                    .and_then(|l| l.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if body.len() >= length || n == 0 {
                    return text;
                }
            } else if n == 0 {
                return text;
            }
        }
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("application/problem+json") && answer.contains("MiB"),
        "{answer}"
    );
    let (_, _, got) = send(&client, reqwest::Method::GET, &url, Some(&admin), None).await;
    assert_eq!(
        got["metadata"]["generation"], 1,
        "nothing bad was stored: {got:#}"
    );
    let (_, _, list) = send(
        &client,
        reqwest::Method::GET,
        &format!("{}/api/v1/products", server.url),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // Every change is in the audit log, with who, the request id and the client.
    let (_, _, events) = send(
        &client,
        reqwest::Method::GET,
        &format!("{}/api/v1/audit", server.url),
        Some(&admin),
        None,
    )
    .await;
    let applied: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "products.apply")
        .collect();
    assert_eq!(applied.len(), 2, "two accepted PUTs: {events:#}");
    assert_eq!(applied[0]["actor"], "token:admin");
    assert!(
        applied[0]["requestId"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    assert!(
        applied[0]["client"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    let (status, _, missing) = send(
        &client,
        reqwest::Method::GET,
        &format!("{}/api/v1/products/nope", server.url),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 404, "{missing:#}");
}

#[tokio::test]
async fn builds_are_listed_a_page_at_a_time_and_bad_queries_name_their_field() {
    let server = Server::start();
    let client = reqwest::Client::new();
    let viewer = server.token("reader", "viewer", None);
    let store = Store::open_in(&server.state).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..7_i64 {
        let mut build = Build::start(if i < 4 { "alpha" } else { "beta" }, "api", &Stage::RUN);
        build.created_at = jiff::Timestamp::from_millisecond(1_800_000_000_000 + i * 1000).unwrap();
        build.id = format!("20270115-080{i:03}-00{i:02x}");
        store.save_build(&build).await.unwrap();
        ids.push(build.id);
    }
    let get = |query: String| {
        let client = client.clone();
        let url = format!("{}/api/v1/builds{query}", server.url);
        let viewer = viewer.clone();
        async move { send(&client, reqwest::Method::GET, &url, Some(&viewer), None).await }
    };
    let mut seen = Vec::new();
    let mut next = String::new();
    loop {
        let (status, _, page) = get(format!("?limit=3{next}")).await;
        assert_eq!(status, 200, "{page:#}");
        assert_eq!(page["kind"], "BuildList");
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item["kind"], "Build");
            seen.push(item["metadata"]["name"].as_str().unwrap().to_owned());
        }
        match page["metadata"]["continue"].as_str() {
            Some(token) => next = format!("&continue={token}"),
            None => break,
        }
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);
    let (_, _, beta) = get("?product=beta".to_owned()).await;
    assert_eq!(beta["items"].as_array().unwrap().len(), 3);
    let (status, _, one) = get(format!("/{}", ids[2])).await;
    assert_eq!(status, 200);
    assert_eq!(
        one["status"]["stages"].as_array().unwrap().len(),
        6,
        "{one:#}"
    );

    for (query, status, field) in [
        ("?limit=0", 400, Some("limit")),
        ("?limit=501", 400, Some("limit")),
        ("?limit=many", 400, None),
        ("?colour=red", 400, None),
        ("?continue=forged", 400, Some("continue")),
        ("?product=Bad%20Name", 400, Some("product")),
        ("/20270115-080002", 400, Some("id")),
        ("/20990101-000000-ffff", 404, None),
    ] {
        let (got, content_type, problem) = get(query.to_owned()).await;
        assert_eq!(got, status, "{query}: {problem:#}");
        assert_eq!(
            content_type.as_deref(),
            Some("application/problem+json"),
            "{query}"
        );
        assert_eq!(problem["field"].as_str(), field, "{query}: {problem:#}");
    }
    // What was asked is counted; the store's counts are read at the scrape.
    let metrics = client
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{metrics:?}"
    );
    let text = metrics.text().await.unwrap();
    for line in [
        "chorale_builds{product=\"alpha\",status=\"running\"} 4",
        "chorale_builds{product=\"beta\",status=\"running\"} 3",
        "chorale_build_queue_depth 0",
        "chorale_active_clusters 0",
        "chorale_http_requests_total{route=\"/api/v1/builds/{id}\",method=\"GET\",code=\"404\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }
    assert!(
        text.lines().any(|l| l.starts_with(
            "chorale_http_requests_total{route=\"/api/v1/builds\",method=\"GET\",code=\"200\"}"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn tokens_made_through_the_api_work_until_revoked_and_bad_requests_name_the_field() {
    let server = Server::start();
    let client = reqwest::Client::new();
    let admin = server.token("root", "admin", None);
    let tokens = format!("{}/api/v1/tokens", server.url);
    let post = |body: Value| {
        let client = client.clone();
        let tokens = tokens.clone();
        let admin = admin.clone();
        async move {
            send(
                &client,
                reqwest::Method::POST,
                &tokens,
                Some(&admin),
                Some(("application/json", body.to_string().into_bytes())),
            )
            .await
        }
    };
    let (status, _, created) =
        post(json!({"name": "nightly", "role": "developer", "expiresIn": "90d"})).await;
    assert_eq!(status, 201, "{created:#}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("chorale_"));
    let builds = format!("{}/api/v1/builds", server.url);
    assert_eq!(
        send(&client, reqwest::Method::GET, &builds, Some(&secret), None)
            .await
            .0,
        200
    );

    for (body, status, field) in [
        (
            json!({"name": "x", "role": "viewer", "admin": true}),
            400,
            "admin",
        ),
        (json!({"name": "x"}), 400, "role"),
        (json!({"name": "x", "role": "root"}), 400, "role"),
        (json!({"name": "Bad Name", "role": "viewer"}), 400, "name"),
        (
            json!({"name": "x", "role": "viewer", "expiresIn": "soon"}),
            400,
            "expiresIn",
        ),
        (json!({"name": "nightly", "role": "viewer"}), 409, ""),
    ] {
        let (got, _, problem) = post(body.clone()).await;
        assert_eq!(got, status, "{body}: {problem:#}");
        if !field.is_empty() {
            assert_eq!(problem["field"], field, "{body}: {problem:#}");
        }
    }
    let (_, _, list) = send(&client, reqwest::Method::GET, &tokens, Some(&admin), None).await;
    assert!(
        !list.to_string().contains(&secret),
        "no secret in a listing"
    );
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        2,
        "no bad request made a token"
    );

    let (status, _, _) = send(
        &client,
        reqwest::Method::DELETE,
        &format!("{tokens}/nightly"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _, problem) =
        send(&client, reqwest::Method::GET, &builds, Some(&secret), None).await;
    assert_eq!(status, 401);
    assert!(
        problem["detail"].as_str().unwrap().contains("revoked"),
        "{problem:#}"
    );
    let (status, _, _) = send(
        &client,
        reqwest::Method::DELETE,
        &format!("{tokens}/nightly"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 404, "revoked once");
}

/// Claims the issuer's tokens carry for `sub` with `groups`: for `chorale`, valid from now
/// for five minutes, with `changes` on top.
fn oidc_claims(issuer: &str, sub: &str, groups: &Value, changes: &Value) -> Value {
    let now = jiff::Timestamp::now().as_second();
    let mut claims = json!({
        "iss": issuer,
        "aud": ["account", "chorale"],
        "sub": sub,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "groups": groups,
    });
    for (claim, value) in changes.as_object().unwrap() {
        claims[claim] = value.clone();
    }
    claims
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_tokens_of_the_issuer_act_with_their_groups_role_and_forgeries_are_refused() {
    let key = SigningKey::es256("key-1").unwrap();
    let issuer = Issuer::start(&[&key]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // No --oidc-jwks-url: the key set is where the issuer's discovery document says.
    let server = Server::start_in(
        &dir.path().join("state"),
        dir.path(),
        &[
            "--oidc-issuer",
            issuer.url(),
            "--oidc-audience",
            "chorale",
            "--oidc-role",
            "chorale-viewers=viewer",
            "--oidc-role",
            "chorale-admins=admin",
        ],
    );
    let client = reqwest::Client::new();
    let builds = format!("{}/api/v1/builds", server.url);
    let tokens = format!("{}/api/v1/tokens", server.url);
    let viewers = json!(["staff", "chorale-viewers"]);
    let claims = |sub: &str, groups: &Value| oidc_claims(issuer.url(), sub, groups, &json!({}));
    let make_token = |name: &str| {
        Some((
            "application/json",
            json!({"name": name, "role": "viewer"})
                .to_string()
                .into_bytes(),
        ))
    };

    // A viewer group reads, and may not make tokens.
    let viewer = key.sign(&claims("ana", &viewers));
    let (status, _, body) = send(&client, reqwest::Method::GET, &builds, Some(&viewer), None).await;
    assert_eq!(status, 200, "{body:#}");
    let (status, _, problem) = send(
        &client,
        reqwest::Method::POST,
        &tokens,
        Some(&viewer),
        make_token("by-ana"),
    )
    .await;
    assert_eq!(status, 403, "{problem:#}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("oidc:ana has the role viewer"),
        "{problem:#}"
    );

    // An admin group (the claim a string) makes a token.
    let admin = key.sign(&claims("root@example.com", &json!("chorale-admins")));
    let (status, _, created) = send(
        &client,
        reqwest::Method::POST,
        &tokens,
        Some(&admin),
        make_token("by-oidc"),
    )
    .await;
    assert_eq!(status, 201, "{created:#}");

    // Chorale's own tokens work beside them.
    let own = server.token("own", "viewer", None);
    let (status, _, body) = send(&client, reqwest::Method::GET, &builds, Some(&own), None).await;
    assert_eq!(status, 200, "{body:#}");

    // A key the issuer adds to its key set is accepted after one fetch of it.
    assert_eq!(issuer.key_set_fetches(), 1, "fetched once, then kept");
    let rotated = SigningKey::rs256("key-2").unwrap();
    issuer.publish(&rotated);
    let token = rotated.sign(&claims("ana", &viewers));
    let (status, _, body) = send(&client, reqwest::Method::GET, &builds, Some(&token), None).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(issuer.key_set_fetches(), 2);

    // Everything else is refused (401) with what is wrong, and never echoed.
    let good = claims("ana", &viewers);
    let with = |changes: Value| oidc_claims(issuer.url(), "ana", &viewers, &changes);
    let now = jiff::Timestamp::now().as_second();
    let public_key = key.public_jwk().to_string();
    for (token, expected) in [
        (
            key.sign(&with(json!({"exp": now - 120}))),
            "the token expired at ",
        ),
        (
            key.sign(&with(json!({"iss": "https://elsewhere.example"}))),
            "the token's issuer is `https://elsewhere.example`, not",
        ),
        (
            key.sign(&with(json!({"aud": "grafana"}))),
            "the token's audience is `grafana`, not `chorale`",
        ),
        (
            SigningKey::es256("key-1").unwrap().sign(&good),
            "the token's signature does not verify with the issuer's key `key-1`",
        ),
        (
            SigningKey::es256("key-3").unwrap().sign(&good),
            "signed with the key `key-3`, which the issuer's key set",
        ),
        (
            chorale_testkit::oidc::unsigned("key-1", &good),
            "the token's algorithm is `none`",
        ),
        (
            chorale_testkit::oidc::hs256("key-1", public_key.as_bytes(), &good),
            "the token's algorithm is `HS256`",
        ),
        (
            "gho_16C7e42F292c6912E7710c838347Ae178B4a".to_owned(),
            "neither a Chorale token",
        ),
    ] {
        let (status, _, problem) =
            send(&client, reqwest::Method::GET, &builds, Some(&token), None).await;
        assert_eq!(status, 401, "{expected}: {problem:#}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(expected), "{detail}");
        assert!(!detail.contains(&token), "{detail}");
    }
    assert_eq!(
        issuer.key_set_fetches(),
        2,
        "an unknown key within 30 s of the last fetch it made is refused without one"
    );

    // A valid token whose groups map to no role may do nothing (403), and is told why.
    let nobody = key.sign(&claims("bob", &json!(["staff"])));
    let (status, _, problem) =
        send(&client, reqwest::Method::GET, &builds, Some(&nobody), None).await;
    assert_eq!(status, 403, "{problem:#}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("oidc:bob has no role")
            && detail.contains("no value of the token's `groups` claim (`staff`)"),
        "{detail}"
    );

    // The audit log names the subjects, the refused attempt too.
    let (_, _, events) = send(
        &client,
        reqwest::Method::GET,
        &format!("{}/api/v1/audit", server.url),
        Some(&admin),
        None,
    )
    .await;
    let made: Vec<(&str, &str, &str)> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| {
            event["action"] == "tokens.create"
                && event["actor"].as_str().unwrap().starts_with("oidc:")
        })
        .map(|event| {
            (
                event["actor"].as_str().unwrap(),
                event["role"].as_str().unwrap(),
                event["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        made,
        [
            ("oidc:root@example.com", "admin", "succeeded"),
            ("oidc:ana", "viewer", "denied"),
        ],
        "{events:#}"
    );
}

#[test]
fn oidc_options_that_are_wrong_stop_serve_with_a_usage_error_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let output = chorale(&dir.path().join("state"), dir.path())
        .args([
            "serve",
            "--oidc-issuer",
            "http://idp.example.com",
            "--oidc-audience",
            "chorale",
            "--oidc-role",
            "chorale-admins=admin",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--oidc-issuer") && stderr.contains("not an https:// URL"),
        "{stderr}"
    );
}

#[tokio::test]
async fn every_operation_that_takes_a_body_refuses_a_malformed_one_whole() {
    let server = Server::start();
    let admin = server.token("admin", "admin", None);
    let client = reqwest::Client::new();
    let (_, _, document) = send(
        &client,
        reqwest::Method::GET,
        &format!("{}/api/v1/openapi.json", server.url),
        None,
        None,
    )
    .await;
    let bodies: [(&str, &[u8]); 6] = [
        ("malformed JSON", b"{\"name\": [1, "),
        ("a list for an object", b"[1, 2]"),
        (
            "wrong types",
            b"{\"name\": 5, \"role\": true, \"expiresIn\": []}",
        ),
        (
            "unknown fields",
            b"{\"name\": \"x\", \"role\": \"viewer\", \"admin\": true}",
        ),
        (
            "malformed YAML",
            b"kind: Product\nspec: {components: [unclosed\n",
        ),
        ("not UTF-8", b"\xff\xfe\x00kind"),
    ];
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if operation.get("requestBody").is_none() {
                continue;
            }
            let method = method.to_uppercase().parse::<reqwest::Method>().unwrap();
            let url = format!("{}{}", server.url, path.replace("{name}", "demo"));
            for (what, body) in bodies {
                let content_type = if path.contains("products/{name}") && method == "PUT" {
                    "application/yaml"
                } else {
                    "application/json"
                };
                let (status, content_type, problem) = send(
                    &client,
                    method.clone(),
                    &url,
                    Some(&admin),
                    Some((content_type, body.to_vec())),
                )
                .await;
                assert!(
                    [400, 422].contains(&status.as_u16()),
                    "{method} {path} with {what}: {status} {problem:#}"
                );
                assert_eq!(content_type.as_deref(), Some("application/problem+json"));
                let detail = problem["detail"].as_str().unwrap();
                assert!(
                    !detail.is_empty()
                        && (problem.get("field").is_some() || problem.get("errors").is_some()),
                    "{method} {path} with {what} names what is wrong: {problem:#}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 18, "only {checked} refusals checked");
    // Nothing was stored: no product, no build, no other token, no change in the audit log.
    let get = |path: &str| {
        let client = client.clone();
        let url = format!("{}/api/v1{path}", server.url);
        let admin = admin.clone();
        async move {
            send(&client, reqwest::Method::GET, &url, Some(&admin), None)
                .await
                .2
        }
    };
    assert_eq!(get("/products").await["items"], serde_json::json!([]));
    assert_eq!(get("/builds").await["items"], serde_json::json!([]));
    assert_eq!(get("/tokens").await["items"].as_array().unwrap().len(), 1);
    let audit = get("/audit?limit=500").await;
    assert!(
        (audit["items"].as_array().unwrap().iter())
            .all(|e| e["outcome"] != "succeeded" || e["action"] == "tokens.create"),
        "{audit:#}"
    );
}

/// The demo product published to a world of its own and registered, with `spec_extra` at the
/// top of its `spec`, with a server on that world's state (`--grace 0s`); the admin's token.
async fn demo_service(spec_extra: &str) -> (World, Server, String) {
    let world = World::new();
    let body = published_demo(&world, spec_extra);
    let server = Server::start_in(&world.state(), world.dir.path(), &["--grace", "0s"]);
    let admin = server.token("admin", "admin", None);
    register(&server, &admin, body).await;
    (world, server, admin)
}

/// The demo product published to `world`, as the body that registers it, with `spec_extra`
/// at the top of its `spec`.
pub(crate) fn published_demo(world: &World, spec_extra: &str) -> String {
    let demo = DemoProduct::seed(&world.registry, &world.git, &world.dir.path().join("demo"))
        .expect("the demo product is published to the test's registry and git daemon");
    let manifest = demo.manifest();
    let product = std::fs::read_to_string(&manifest).unwrap().replacen(
        "spec:\n",
        &format!("spec:\n{spec_extra}"),
        1,
    );
    format!(
        "{product}---\n{}",
        std::fs::read_to_string(manifest.parent().unwrap().join("components/web.yaml")).unwrap()
    )
}

/// Register `body` as the product `demo` on `server`.
pub(crate) async fn register(server: &Server, admin: &str, body: String) {
    let (status, _, registered) = send(
        &reqwest::Client::new(),
        reqwest::Method::PUT,
        &format!("{}/api/v1/products/demo", server.url),
        Some(admin),
        Some(("application/yaml", body.into_bytes())),
    )
    .await;
    assert_eq!(status, 200, "{registered:#}");
}

/// Polls the resource at `url` (a build, a release, a list) until `done` holds of it (or two
/// minutes pass).
pub(crate) async fn poll_until(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..480 {
        let (status, _, answer) = send(client, reqwest::Method::GET, url, Some(token), None).await;
        assert_eq!(status, 200, "{answer:#}");
        if done(&answer) {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{what} did not happen in two minutes");
}

/// Whether `build` is deploying.
fn deploying(build: &Value) -> bool {
    build["status"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["name"] == "deploy" && s["status"] == "running")
}

#[tokio::test]
async fn a_replica_silent_mid_build_is_reaped_by_another_when_its_lease_runs_out_and_announced_once()
 {
    let postgres = chorale_testkit::Postgres::start().expect("a throw-away PostgreSQL starts");
    let url = postgres.url();
    let world = World::new();
    let slack = Receiver::start(Platform::Slack, Vec::new()).await;
    let body = published_demo(
        &world,
        "  notifications:\n    - name: team-chat\n      slack: { url: { env: DEMO_SLACK_URL } }\n",
    );
    let replica = |n: u32| {
        Server::start_with(
            &world.dir.path().join(format!("replica-{n}")),
            world.dir.path(),
            Some(&url),
            &["--grace", "0s", "--lease", "3s"],
            &[("DEMO_SLACK_URL", slack.url())],
        )
    };
    let mut replicas = [replica(1), replica(2)];
    let admin = replicas[0].token("admin", "admin", None);
    register(&replicas[0], &admin, body).await;
    let client = reqwest::Client::new();
    let (status, _, queued) = send(
        &client,
        reqwest::Method::POST,
        &format!("{}/api/v1/products/demo/builds", replicas[0].url),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 202, "{queued:#}");
    let id = queued["metadata"]["name"].as_str().unwrap().to_owned();

    // Whichever replica claimed it falls silent mid-deploy (SIGSTOP: alive to its host, as a
    // replica on another host or behind a partition is, but renewing nothing).
    let build = poll_until(
        &client,
        &format!("{}/api/v1/builds/{id}", replicas[0].url),
        &admin,
        "the deploy",
        deploying,
    )
    .await;
    let owner = build["status"]["owner"]["pid"].as_u64().unwrap();
    let silent = replicas
        .iter()
        .position(|r| u64::from(r.child.id()) == owner)
        .expect("a replica runs the build");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(owner).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let survivor = &replicas[1 - silent];

    // The other marks it interrupted once its lease (3 s) has run out, tears its cluster down,
    // writes its report and tells the team. (A replica killed on the same host is found at
    // once by its process id; `a_run_killed_mid_deploy_is_reaped_by_the_next_start`.)
    let interrupted = poll_until(
        &client,
        &format!("{}/api/v1/builds/{id}", survivor.url),
        &admin,
        "the reap",
        |b| b["status"]["phase"] == "interrupted",
    )
    .await;
    assert!(
        (interrupted["status"]["error"].as_str().unwrap()).contains("its lease ran out"),
        "{interrupted:#}"
    );
    let received = slack.wait_for(1).await;
    assert_eq!(received[0].verdict, Ok(()), "a well-formed Slack message");
    assert!(
        received[0]
            .raw
            .windows(id.len())
            .any(|w| w == id.as_bytes()),
        "the message names the build"
    );
    let report = world
        .dir
        .path()
        .join(format!("replica-{}", 2 - silent))
        .join("builds")
        .join(&id)
        .join("report.md");
    let report = std::fs::read_to_string(&report).expect("the survivor wrote the report");
    assert!(report.contains("interrupted"), "{report}");
    let clusters: Value =
        serde_json::from_str(&survivor.cli(&["clusters", "list", "-o", "json"])).unwrap();
    let cluster = interrupted["status"]["cluster"].as_str().unwrap();
    let record = (clusters["items"].as_array().unwrap().iter())
        .find(|c| c["metadata"]["name"] == cluster)
        .unwrap_or_else(|| panic!("{clusters:#}"));
    assert_eq!(record["status"]["state"], "torn-down", "{record:#}");

    // The silent replica is killed (-9) and comes back; nobody announces the build again.
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    replicas[silent].child.wait().unwrap();
    replicas[silent] = replica(u32::try_from(silent).unwrap() + 1);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(slack.received().len(), 1, "the failure is announced once");
}

/// Polls the build `id` until it has ended (or two minutes pass).
pub(crate) async fn ended(
    client: &reqwest::Client,
    server: &Server,
    token: &str,
    id: &str,
) -> Value {
    let url = format!("{}/api/v1/builds/{id}", server.url);
    for _ in 0..240 {
        let (status, _, build) = send(client, reqwest::Method::GET, &url, Some(token), None).await;
        assert_eq!(status, 200, "{build:#}");
        if !["pending", "running"].contains(&build["status"]["phase"].as_str().unwrap()) {
            return build;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("build {id} did not end in two minutes");
}

/// A viewer reads what `build` (ended) left: its report in every format, the files its record
/// names and no other, its deliveries, its lock, a diff, and its cluster in a page of clusters.
async fn what_the_build_left(
    client: &reqwest::Client,
    server: &Server,
    viewer: &str,
    build: &Value,
) {
    let id = build["metadata"]["name"].as_str().unwrap();
    let get = |path: String| async move {
        send(
            client,
            reqwest::Method::GET,
            &format!("{}/api/v1{path}", server.url),
            Some(viewer),
            None,
        )
        .await
    };
    for (format, media_type, needle) in [
        ("md", "text/markdown; charset=utf-8", "GREEN"),
        ("html", "text/html; charset=utf-8", "<html"),
        ("junit", "application/xml", "<testsuites"),
        ("json", "application/json", "\"summary\""),
    ] {
        let (status, content_type, report) =
            get(format!("/builds/{id}/report?format={format}")).await;
        assert_eq!(
            (status.as_u16(), content_type.as_deref()),
            (200, Some(media_type)),
            "{format}"
        );
        let text = match &report {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        assert!(text.contains(needle), "{format}: {text}");
    }
    let (status, _, problem) = get(format!("/builds/{id}/report?format=pdf")).await;
    assert_eq!(
        (status.as_u16(), problem["field"].as_str()),
        (400, Some("format")),
        "{problem:#}"
    );

    let log = build["status"]["components"][0]["log"]
        .as_str()
        .expect("a helm log is recorded");
    let (status, content_type, text) = get(format!("/builds/{id}/files?path={log}")).await;
    assert_eq!(
        (status.as_u16(), content_type.as_deref()),
        (200, Some("text/plain; charset=utf-8"))
    );
    assert!(!text.as_str().unwrap().is_empty());
    for other in ["../../state.db", "report.json", "/etc/passwd"] {
        let (status, _, problem) = get(format!("/builds/{id}/files?path={other}")).await;
        assert_eq!(
            (status.as_u16(), problem["field"].as_str()),
            (404, Some("path")),
            "{other}: {problem:#}"
        );
    }

    let (status, _, deliveries) = get(format!("/builds/{id}/deliveries")).await;
    assert_eq!(
        (status.as_u16(), deliveries["kind"].as_str()),
        (200, Some("DeliveryList")),
        "{deliveries:#}"
    );
    let (status, _, _) = get("/builds/20990101-000000-abcd/deliveries".to_owned()).await;
    assert_eq!(status, 404);

    let lock_id = build["status"]["lockId"].as_str().unwrap();
    let (status, _, lock) = get(format!("/locks/{lock_id}")).await;
    assert_eq!(status, 200, "{lock:#}");
    assert_eq!(
        (lock["kind"].as_str(), lock["metadata"]["name"].as_str()),
        (Some("Lock"), Some(lock_id))
    );
    assert_eq!(
        lock["spec"]["components"].as_array().unwrap().len(),
        build["status"]["components"].as_array().unwrap().len(),
        "a lock pins every component the build deployed: {lock:#}"
    );
    let (status, _, problem) = get("/locks/sha256:abc".to_owned()).await;
    assert_eq!(
        (status.as_u16(), problem["field"].as_str()),
        (400, Some("id"))
    );
    let (status, _, _) = get(format!("/locks/sha256:{}", "0".repeat(64))).await;
    assert_eq!(status, 404);

    let (status, _, diff) = get(format!("/diff?from={id}&to={lock_id}")).await;
    assert_eq!(status, 200, "{diff:#}");
    assert_eq!(
        (
            diff["from"].as_str(),
            diff["components"].as_array().map(Vec::len)
        ),
        (Some(lock_id), Some(0))
    );
    let (status, _, problem) = get(format!("/diff?from={id}&to=HEAD")).await;
    assert_eq!(
        (status.as_u16(), problem["field"].as_str()),
        (400, Some("to")),
        "{problem:#}"
    );

    let cluster = build["status"]["cluster"].as_str().unwrap();
    let (status, _, clusters) = get("/clusters?state=torn-down&limit=1".to_owned()).await;
    assert_eq!(status, 200, "{clusters:#}");
    assert_eq!(
        clusters["items"][0]["metadata"]["name"], cluster,
        "{clusters:#}"
    );
    assert_eq!(
        clusters["items"][0]["metadata"]["labels"]["chorale.dev/build"],
        id
    );
    assert!(
        clusters["items"][0]["spec"].get("kubeconfig").is_none(),
        "{clusters:#}"
    );
    let (status, _, problem) = get("/clusters?state=gone".to_owned()).await;
    assert_eq!(status, 400, "{problem:#}");
    let (status, _, problem) = get("/clusters?continue=forged".to_owned()).await;
    assert_eq!(
        (status.as_u16(), problem["field"].as_str()),
        (400, Some("continue"))
    );
}

#[tokio::test]
async fn the_cli_through_a_server_applies_runs_following_the_event_stream_and_shows_what_it_shows_in_process()
 {
    let world = World::new();
    let demo = DemoProduct::seed(&world.registry, &world.git, &world.dir.path().join("demo"))
        .expect("the demo product is published to the test's registry and git daemon");
    let manifest = demo.manifest();
    let server = Server::start_in(&world.state(), world.dir.path(), &["--grace", "0s"]);
    let token_file = |name: &str, role: &str| {
        let path = world.dir.path().join(format!("{name}.token"));
        std::fs::write(&path, format!("{}\n", server.token(name, role, None))).unwrap();
        path
    };
    let (admin, developer) = (token_file("admin", "admin"), token_file("dev", "developer"));
    let remote = |token: &Path, args: &[&str]| {
        let output = chorale(&world.state().join("elsewhere"), world.dir.path())
            .args(["--server", &server.url, "--token-file"])
            .arg(token)
            .args(args)
            .output()
            .unwrap();
        let (stdout, stderr) = crate::cli::text(&output);
        (output.status.code(), stdout, stderr)
    };
    let file = manifest.to_str().unwrap();

    // Registering needs an admin; the manifest goes with its component files.
    let (code, _, stderr) = remote(&developer, &["apply", file]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("the server answered 403") && stderr.contains("admin"),
        "{stderr}"
    );
    let (code, stdout, stderr) = remote(&admin, &["apply", file]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "product `demo` registered (generation 1)\n");

    // A run through the server: triggered, followed live, printed and judged as in-process.
    let (code, stdout, stderr) = remote(&developer, &["run", file]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("status   succeeded"), "{stdout}");
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("build    "))
        .expect("the build is printed")
        .to_owned();
    let in_process = server.cli(&["builds", "show", &id]);
    assert_eq!(stdout, in_process, "the same build, printed the same way");

    // What the server shows is what the state folder shows.
    for args in [
        vec!["builds", "list"],
        vec!["builds", "show", &id],
        vec!["builds", "show", &id, "-o", "json"],
        vec!["report", &id, "--format", "md"],
        vec!["diff", &id, &id],
        vec!["notifications", "list", &id],
        vec!["clusters", "list"],
        vec!["clusters", "list", "-o", "json"],
    ] {
        let (code, stdout, stderr) = remote(&developer, &args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert_eq!(stdout, server.cli(&args), "{args:?}");
    }
    let (code, _, stderr) = remote(&developer, &["tokens", "list"]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("drop --server"), "{stderr}");

    // The event stream, raw: every event of the build, numbered, then `end` with the build;
    // a client that lost its connection resumes after the last event it saw.
    let viewer = server.token("viewer", "viewer", None);
    let events = format!("{}/api/v1/builds/{id}/events", server.url);
    let client = reqwest::Client::new();
    let stream = client
        .get(&events)
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(
        stream.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let stream = stream.text().await.unwrap();
    for kind in [
        "started",
        "stageStarted",
        "stageEnded",
        "componentDeployed",
        "testEnded",
        "ended",
        "closed",
        "end",
    ] {
        assert!(
            stream.contains(&format!("event: {kind}\n")),
            "{kind}: {stream}"
        );
    }
    assert!(
        stream.starts_with("id: 1\n") || stream.contains("\nid: 1\n"),
        "{stream}"
    );
    let end = stream.split("event: end\ndata: ").nth(1).unwrap();
    let ended: Value = serde_json::from_str(end.lines().next().unwrap()).unwrap();
    assert_eq!(ended["status"]["phase"], "succeeded", "{ended:#}");
    let resumed = client
        .get(&events)
        .bearer_auth(&viewer)
        .header("last-event-id", "3")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let first_id = resumed
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .unwrap();
    assert_eq!(first_id, "4", "{resumed}");

    // A wrong token and an absent server are said plainly, with their exit codes.
    let wrong = world.dir.path().join("wrong.token");
    std::fs::write(&wrong, "chorale_0000\n").unwrap();
    let (code, _, stderr) = remote(&wrong, &["builds", "list"]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("the server answered 401"), "{stderr}");
    let output = chorale(&world.state(), world.dir.path())
        .args([
            "--server",
            &format!(
                "http://127.0.0.1:{}",
                chorale_testkit::webhook::unused_port()
            ),
        ])
        .arg("--token-file")
        .arg(&developer)
        .args(["builds", "list"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(5),
        "{:?}",
        crate::cli::text(&output)
    );
}

#[tokio::test]
async fn a_build_triggered_through_the_api_runs_on_a_worker_and_sigterm_interrupts_the_next_cleanly()
 {
    let (world, mut server, _admin) = demo_service("").await;
    let client = reqwest::Client::new();
    let developer = server.token("dev", "developer", None);

    let trigger = format!("{}/api/v1/products/demo/builds", server.url);
    let (status, _, problem) = send(
        &client,
        reqwest::Method::POST,
        &trigger,
        Some(&developer),
        Some(("application/json", br#"{"cluster":"kind"}"#.to_vec())),
    )
    .await;
    assert_eq!(
        (status.as_u16(), problem["field"].as_str()),
        (400, Some("cluster")),
        "{problem:#}"
    );
    let (status, _, queued) = send(
        &client,
        reqwest::Method::POST,
        &trigger,
        Some(&developer),
        None,
    )
    .await;
    assert_eq!(status, 202, "{queued:#}");
    assert_eq!(queued["spec"]["trigger"], "api");
    let id = queued["metadata"]["name"].as_str().unwrap().to_owned();
    let build = ended(&client, &server, &developer, &id).await;
    assert_eq!(build["status"]["phase"], "succeeded", "{build:#}");
    let viewer = server.token("viewer", "viewer", None);
    what_the_build_left(&client, &server, &viewer, &build).await;

    // The next build is stopped by SIGTERM mid-way: with no grace it is interrupted, its
    // cluster torn down, and the server exits.
    let (_, _, queued) = send(
        &client,
        reqwest::Method::POST,
        &trigger,
        Some(&developer),
        None,
    )
    .await;
    let id = queued["metadata"]["name"].as_str().unwrap().to_owned();
    let url = format!("{}/api/v1/builds/{id}", server.url);
    poll_until(
        &client,
        &url,
        &developer,
        "the second build's deploy",
        deploying,
    )
    .await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let exited = server.child.wait().unwrap();
    assert!(
        exited.success(),
        "chorale serve exits cleanly after SIGTERM: {exited:?}"
    );
    let store = Store::open_in(&world.state()).await.unwrap();
    let build = store.build(&id).await.unwrap().unwrap();
    assert_eq!(build.status.as_str(), "interrupted", "{build:#?}");
    let clusters: Value =
        serde_json::from_str(&server.cli(&["clusters", "list", "-o", "json"])).unwrap();
    assert!(
        clusters["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"]["state"] == "torn-down"),
        "no cluster is left: {clusters:#}"
    );
    let audit = server.cli(&["audit", "list", "-o", "json"]);
    assert_eq!(audit.matches("\"builds.create\"").count(), 2, "{audit}");
}

#[tokio::test]
async fn three_replicas_killed_in_turn_start_one_build_per_fire_time_lose_none_and_leave_no_cluster()
 {
    let postgres = chorale_testkit::Postgres::start().expect("a throw-away PostgreSQL starts");
    let url = postgres.url();
    let world = World::new();
    // The demo every two seconds: a build takes longer, so most fire times find one running
    // and are skipped (Forbid); a started one provisions a cluster on the replica that runs it.
    let body = published_demo(
        &world,
        "  schedule: {cron: \"*/2 * * * * *\", timeZone: Asia/Shanghai, startingDeadline: 1m}\n",
    );
    let replica = |n: usize| {
        Server::start_with(
            &world.dir.path().join(format!("replica-{n}")),
            world.dir.path(),
            Some(&url),
            &["--grace", "0s", "--lease", "3s"],
            &[],
        )
    };
    let mut replicas: Vec<Server> = (0..3).map(replica).collect();
    let admin = replicas[0].token("admin", "admin", None);
    register(&replicas[0], &admin, body).await;

    // Over 66 s (33 fire times), each replica in turn is killed with SIGKILL and started again
    // 4 s later, whatever it is doing.
    let start = std::time::Instant::now();
    for (n, victim) in replicas.iter_mut().enumerate() {
        tokio::time::sleep(Duration::from_secs(10)).await;
        victim.child.kill().unwrap();
        victim.child.wait().unwrap();
        tokio::time::sleep(Duration::from_secs(4)).await;
        *victim = replica(n);
    }
    tokio::time::sleep(Duration::from_secs(66).saturating_sub(start.elapsed())).await;
    for server in &replicas {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(server.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
    }
    for server in &mut replicas {
        assert!(server.child.wait().unwrap().success(), "a clean stop");
    }

    let store = Store::open(&url).await.unwrap();
    let mut occurrences = store.occurrences("demo", 1000).await.unwrap();
    occurrences.reverse();
    assert!(occurrences.len() >= 30, "{} fire times", occurrences.len());
    // No fire time is lost: from the first to the last, every two seconds, each recorded once
    // (started, skipped while a build ran, or missed).
    for pair in occurrences.windows(2) {
        assert_eq!(
            pair[1].fire_at.duration_since(pair[0].fire_at),
            jiff::SignedDuration::from_secs(2),
            "{occurrences:#?}"
        );
    }
    // Exactly one build per started fire time, and no other scheduled build.
    let mut started: Vec<&str> = (occurrences.iter())
        .filter(|o| o.state.to_string() == "started")
        .map(|o| {
            o.build_id
                .as_deref()
                .expect("a started fire time has its build")
        })
        .collect();
    assert!(started.len() >= 2, "{occurrences:#?}");
    let builds = store
        .build_page(&chorale::store::BuildFilter::default(), 500, None)
        .await
        .unwrap();
    let mut scheduled: Vec<&str> = (builds.iter())
        .filter(|b| b.trigger == "schedule")
        .map(|b| b.id.as_str())
        .collect();
    scheduled.sort_unstable();
    started.sort_unstable();
    assert_eq!(scheduled, started);
    assert!(
        builds.iter().all(|b| b.status.as_str() != "running"),
        "no build is left running (one queued at the stop waits for the next start): {builds:#?}"
    );
    // No cluster is left: the killed replicas' builds were reaped by the others.
    let clusters: Value =
        serde_json::from_str(&replicas[0].cli(&["clusters", "list", "-o", "json"])).unwrap();
    let items = clusters["items"].as_array().unwrap();
    assert!(!items.is_empty(), "the builds made clusters");
    assert!(
        items.iter().all(|c| c["status"]["state"] == "torn-down"),
        "{clusters:#}"
    );
}

#[tokio::test]
async fn with_concurrency_policy_replace_a_fire_time_stops_the_running_build_and_starts_its_own() {
    let world = World::new();
    let body = published_demo(
        &world,
        "  schedule: {cron: \"*/6 * * * * *\", timeZone: UTC, concurrencyPolicy: Replace}\n",
    );
    let mut server = Server::start_in(
        &world.state(),
        world.dir.path(),
        &["--grace", "0s", "--lease", "3s"],
    );
    let admin = server.token("admin", "admin", None);
    register(&server, &admin, body).await;
    // A demo build takes longer than six seconds: each fire time finds the last one running.
    let client = reqwest::Client::new();
    let builds = format!("{}/api/v1/builds?product=demo", server.url);
    let mut replaced = Vec::new();
    for _ in 0..240 {
        let (_, _, page) = send(&client, reqwest::Method::GET, &builds, Some(&admin), None).await;
        replaced = (page["items"].as_array().unwrap().iter())
            .filter(|b| (b["status"]["error"].as_str()).is_some_and(|e| e.contains("Replace")))
            .map(|b| b["metadata"]["name"].as_str().unwrap().to_owned())
            .collect();
        if replaced.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        replaced.len() >= 2,
        "two builds were replaced: {replaced:?}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(server.child.wait().unwrap().success());

    let store = Store::open_in(&world.state()).await.unwrap();
    for id in &replaced {
        let build = store.build(id).await.unwrap().unwrap();
        assert_eq!(build.status.as_str(), "interrupted", "{build:#?}");
        assert!(
            build
                .error
                .as_deref()
                .unwrap()
                .contains("concurrencyPolicy Replace"),
            "the record keeps why: {build:#?}"
        );
        assert!(
            build.stages.iter().all(|s| s.status.is_final()),
            "its process stopped it: {build:#?}"
        );
    }
    // Every fire time started a build: Replace skips none.
    let occurrences = store.occurrences("demo", 100).await.unwrap();
    assert!(
        occurrences
            .iter()
            .filter(|o| o.state.to_string() == "started")
            .count()
            >= 3
    );
    assert!(
        occurrences.iter().all(|o| o.state.to_string() != "skipped"),
        "Replace skips nothing: {occurrences:#?}"
    );
    let clusters: Value =
        serde_json::from_str(&server.cli(&["clusters", "list", "-o", "json"])).unwrap();
    assert!(
        (clusters["items"].as_array().unwrap().iter()).all(|c| c["status"]["state"] == "torn-down"),
        "every replaced build's cluster is torn down: {clusters:#}"
    );
}

#[tokio::test]
async fn a_scheduled_build_of_an_unchanged_product_ends_skipped_without_a_bundle_or_cluster() {
    let (_world, server, admin) =
        demo_service("  schedule: {cron: \"*/4 * * * * *\", timeZone: UTC, skipUnchanged: true}\n")
            .await;
    let client = reqwest::Client::new();
    // The first scheduled build is green; a later one finds the same lock and is skipped.
    let builds = format!("{}/api/v1/builds?product=demo", server.url);
    let mut skipped = None;
    for _ in 0..300 {
        let (_, _, page) = send(&client, reqwest::Method::GET, &builds, Some(&admin), None).await;
        let items = page["items"].as_array().unwrap();
        if let Some(build) = items.iter().find(|b| b["status"]["phase"] == "skipped") {
            assert!(
                items.iter().any(|b| b["status"]["phase"] == "succeeded"),
                "skipped only after a green build: {page:#}"
            );
            skipped = Some(build["metadata"]["name"].as_str().unwrap().to_owned());
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let id = skipped.expect("a scheduled build of the unchanged product is skipped");
    let (_, _, build) = send(
        &client,
        reqwest::Method::GET,
        &format!("{}/api/v1/builds/{id}", server.url),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(build["spec"]["trigger"], "schedule");
    let status = &build["status"];
    assert_eq!(status["phase"], "skipped");
    assert!(
        status["error"]
            .as_str()
            .unwrap()
            .contains("nothing changed"),
        "{build:#}"
    );
    assert!(
        status["bundle"].is_null() && status["cluster"].is_null(),
        "{build:#}"
    );
    for stage in status["stages"].as_array().unwrap() {
        let expected = if stage["name"] == "snapshot" {
            "succeeded"
        } else {
            "skipped"
        };
        assert_eq!(stage["status"], expected, "{build:#}");
    }
    let clusters: Value =
        serde_json::from_str(&server.cli(&["clusters", "list", "-o", "json"])).unwrap();
    assert!(
        clusters["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["metadata"]["labels"]["chorale.dev/build"] != id.as_str()),
        "no cluster for a skipped build: {clusters:#}"
    );

    // The replica timed the stages of the builds it ran and how late it queued them.
    let metrics = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sample = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
    };
    assert!(
        sample("chorale_scheduler_lag_seconds_count") >= 2.0,
        "{metrics}"
    );
    assert!(
        sample("chorale_scheduler_lag_seconds_sum") >= 0.0,
        "no build is queued before its fire time: {metrics}"
    );
    assert!(
        sample("chorale_stage_duration_seconds_count{stage=\"snapshot\"}") >= 2.0,
        "{metrics}"
    );
    assert!(
        sample("chorale_stage_duration_seconds_count{stage=\"deploy\"}") >= 1.0,
        "{metrics}"
    );
}

#[test]
fn sigterm_stops_the_server_even_when_its_stderr_is_a_closed_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = chorale(&dir.path().join("state"), dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chorale serve starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("listening on"), "{first}");
    // Whoever read its log is gone: the next log line (the stop's) cannot be written.
    drop(lines);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    for _ in 0..100 {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("chorale serve still runs 10 s after SIGTERM");
}

#[test]
fn the_committed_openapi_document_is_the_one_the_code_generates() {
    let generated = serde_json::to_string_pretty(&chorale::api::document()).unwrap() + "\n";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    if std::env::var_os("CHORALE_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is stale: run `CHORALE_UPDATE_OPENAPI=1 cargo nextest run -E 'test(openapi_document)'` and commit it"
    );
}
