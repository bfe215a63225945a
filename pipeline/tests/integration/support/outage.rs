//! A registry that goes down halfway: an HTTP proxy in front of a real registry that, from the
//! first request touching a chosen repository on, answers every request with 503, until told
//! to come back (the outage happens once).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;

#[derive(Clone)]
struct Shared {
    upstream: String,
    public: String,
    trigger: String,
    triggered: Arc<AtomicBool>,
    down: Arc<AtomicBool>,
    client: reqwest::Client,
}

/// The proxy; it stops with the test's runtime.
pub struct Outage {
    /// `127.0.0.1:PORT` of the proxy: use it as the registry host.
    pub host: String,
    down: Arc<AtomicBool>,
}

impl Outage {
    /// Proxy to `upstream` (`127.0.0.1:PORT`), going down at the first request whose path
    /// contains `trigger`.
    pub async fn start(upstream: &str, trigger: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let down = Arc::new(AtomicBool::new(false));
        let shared = Shared {
            upstream: upstream.to_owned(),
            public: host.clone(),
            trigger: trigger.to_owned(),
            triggered: Arc::default(),
            down: down.clone(),
            client: reqwest::Client::new(),
        };
        let app = axum::Router::new().fallback(forward).with_state(shared);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { host, down }
    }

    /// Whether the outage has begun.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }

    /// End the outage.
    pub fn recover(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

async fn forward(State(shared): State<Shared>, request: Request) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    if path.contains(&shared.trigger) && !shared.triggered.swap(true, Ordering::SeqCst) {
        shared.down.store(true, Ordering::SeqCst);
    }
    if shared.down.load(Ordering::SeqCst) {
        return Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .body(Body::from("registry down for the test"))
            .unwrap();
    }
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let mut upstream = shared
        .client
        .request(parts.method, format!("http://{}{path}", shared.upstream))
        .body(body);
    for (name, value) in &parts.headers {
        if name != "host" {
            upstream = upstream.header(name, value);
        }
    }
    let answer = upstream.send().await.unwrap();
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        // Upload locations name the upstream; keep the client on the proxy.
        let value = if name == "location" {
            let text = value
                .to_str()
                .unwrap()
                .replace(&shared.upstream, &shared.public);
            HeaderValue::from_str(&text).unwrap()
        } else {
            value.clone()
        };
        response = response.header(name, value);
    }
    response
        .body(Body::from(answer.bytes().await.unwrap()))
        .unwrap()
}
