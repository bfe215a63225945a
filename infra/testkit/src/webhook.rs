//! [`Receiver`]: a chat-platform webhook receiver on a free loopback port. It checks every
//! request the way the platform documents it (signature, payload shape, size limit), records
//! it, and answers as scripted: the platform's success answer by default, or a fault.
//!
//! Unlike the other fixtures it is async: it serves on the caller's tokio runtime (start it
//! from a `#[tokio::test]`) and stops when dropped.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::Notify;

/// Which platform the receiver plays, with the secrets it verifies.
#[derive(Debug, Clone)]
pub enum Platform {
    /// A Slack incoming webhook (Block Kit).
    Slack,
    /// A DingTalk custom robot, checking `timestamp` and `sign` when it has a secret.
    DingTalk {
        /// The robot's signing secret ("加签"), if any.
        secret: Option<String>,
    },
    /// A Lark/Feishu custom bot, checking `timestamp` and `sign` when it has a secret.
    Lark {
        /// The bot's signing secret, if any.
        secret: Option<String>,
    },
    /// A Microsoft Teams workflow webhook (an Adaptive Card envelope).
    Teams,
    /// Chorale's generic webhook, checking the HMAC-SHA256 signature headers.
    Webhook {
        /// The shared signing secret.
        secret: String,
    },
}

/// The token in the receiver's URL, as the platforms put one in every webhook URL.
pub const TOKEN: &str = "tok-5ecret-0a9f7c";

/// A loopback port that was free a moment ago and has nobody listening: a receiver that
/// is down.
pub fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a free loopback port")
        .port()
}

/// An answer the receiver gives instead of the platform's success answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This HTTP status.
    Status(u16),
    /// This HTTP status with `Retry-After: SECONDS`.
    RetryAfter(u16, u64),
    /// The success answer, after this delay.
    Slow(Duration),
    /// HTTP 200 with this platform error code and message (DingTalk `errcode`, Lark `code`).
    Code(i64, &'static str),
}

/// One request as received and judged.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request's path and query (the token is in them).
    pub path_and_query: String,
    /// The request headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub raw: Bytes,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: Value,
    /// `Ok` when signature and shape are as the platform documents them.
    pub verdict: Result<(), String>,
}

struct Shared {
    platform: Platform,
    script: Mutex<Vec<Reply>>,
    received: Mutex<Vec<Received>>,
    arrived: Notify,
    /// Whether requests are held (see [`Receiver::hold`]).
    holding: AtomicBool,
    /// How many requests were held.
    held: AtomicUsize,
}

/// A running receiver; stopped on drop.
pub struct Receiver {
    port: u16,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Receiver {
    /// Starts a receiver that answers with `script` first, then with success.
    pub async fn start(platform: Platform, script: Vec<Reply>) -> Receiver {
        let shared = Arc::new(Shared {
            platform,
            script: Mutex::new(script.into_iter().rev().collect()),
            received: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            holding: AtomicBool::new(false),
            held: AtomicUsize::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free loopback port");
        let port = listener.local_addr().unwrap().port();
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the receiver serves");
        });
        Receiver {
            port,
            shared,
            server,
        }
    }

    /// The webhook URL, shaped like the platform's (the token is in it).
    pub fn url(&self) -> String {
        let base = format!("http://127.0.0.1:{}", self.port);
        match self.shared.platform {
            Platform::Slack => format!("{base}/services/T0001/B0002/{TOKEN}"),
            Platform::DingTalk { .. } => format!("{base}/robot/send?access_token={TOKEN}"),
            Platform::Lark { .. } => format!("{base}/open-apis/bot/v2/hook/{TOKEN}"),
            Platform::Teams => format!(
                "{base}/workflows/7d1e/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={TOKEN}"
            ),
            Platform::Webhook { .. } => format!("{base}/chorale/{TOKEN}"),
        }
    }

    /// The requests received so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Hangs from now on, like a receiver that stopped: every request is held unanswered and
    /// untaken (it is counted in [`Receiver::held`], not recorded in [`Receiver::received`])
    /// until its client gives up. [`Receiver::let_go`] ends that for the requests that follow.
    pub fn hold(&self) {
        self.shared.holding.store(true, Ordering::SeqCst);
    }

    /// Answers again the requests that follow (the held ones stay unanswered).
    pub fn let_go(&self) {
        self.shared.holding.store(false, Ordering::SeqCst);
    }

    /// How many requests were held so far.
    pub fn held(&self) -> usize {
        self.shared.held.load(Ordering::SeqCst)
    }

    /// Waits (at most 30 s) until `count` requests have arrived.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        let wait = async {
            loop {
                let notified = self.shared.arrived.notified();
                let received = self.received();
                if received.len() >= count {
                    return received;
                }
                notified.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .unwrap_or_else(|_| panic!("expected {count} requests, got {}", self.received().len()))
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    if shared.holding.load(Ordering::SeqCst) {
        shared.held.fetch_add(1, Ordering::SeqCst);
        return std::future::pending().await;
    }
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let path_and_query = uri
        .path_and_query()
        .map(ToString::to_string)
        .unwrap_or_default();
    let verdict = verify(&shared.platform, &path_and_query, &headers, &raw, &body);
    shared.received.lock().unwrap().push(Received {
        path_and_query,
        headers,
        raw,
        body,
        verdict: verdict.clone(),
    });
    shared.arrived.notify_waiters();
    let scripted = shared.script.lock().unwrap().pop();
    match scripted {
        Some(Reply::Status(status)) => {
            (StatusCode::from_u16(status).unwrap(), "scripted failure").into_response()
        }
        Some(Reply::RetryAfter(status, seconds)) => (
            StatusCode::from_u16(status).unwrap(),
            [("retry-after", seconds.to_string())],
            "rate limited",
        )
            .into_response(),
        Some(Reply::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            success(&shared.platform)
        }
        Some(Reply::Code(code, message)) => match shared.platform {
            Platform::DingTalk { .. } => {
                axum::Json(json!({ "errcode": code, "errmsg": message })).into_response()
            }
            _ => axum::Json(json!({ "code": code, "msg": message, "data": {} })).into_response(),
        },
        None => match verdict {
            Ok(()) => success(&shared.platform),
            Err(reason) => refusal(&shared.platform, &reason),
        },
    }
}

/// The platform's success answer.
fn success(platform: &Platform) -> Response {
    match platform {
        Platform::Slack => (StatusCode::OK, "ok").into_response(),
        Platform::DingTalk { .. } => {
            axum::Json(json!({ "errcode": 0, "errmsg": "ok" })).into_response()
        }
        Platform::Lark { .. } => {
            axum::Json(json!({ "code": 0, "msg": "success", "data": {} })).into_response()
        }
        Platform::Teams => StatusCode::ACCEPTED.into_response(),
        Platform::Webhook { .. } => StatusCode::NO_CONTENT.into_response(),
    }
}

/// The platform's answer to a bad request.
fn refusal(platform: &Platform, reason: &str) -> Response {
    match platform {
        Platform::Slack => (StatusCode::BAD_REQUEST, "invalid_blocks").into_response(),
        Platform::DingTalk { .. } => {
            axum::Json(json!({ "errcode": 310_000, "errmsg": reason })).into_response()
        }
        Platform::Lark { .. } => {
            axum::Json(json!({ "code": 19_021, "msg": reason, "data": {} })).into_response()
        }
        Platform::Teams => (StatusCode::BAD_REQUEST, reason.to_owned()).into_response(),
        Platform::Webhook { .. } => (StatusCode::UNAUTHORIZED, reason.to_owned()).into_response(),
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn check(condition: bool, what: &str) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(what.to_owned())
    }
}

fn recent(timestamp: i64, unit_per_second: i64) -> bool {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let now = millis / (1000 / unit_per_second);
    (now - timestamp).abs() <= 3600 * unit_per_second
}

fn query_pairs(path_and_query: &str) -> Vec<(String, String)> {
    let query = path_and_query
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or_default();
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn verify(
    platform: &Platform,
    path_and_query: &str,
    headers: &HeaderMap,
    raw: &[u8],
    body: &Value,
) -> Result<(), String> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    check(
        content_type.starts_with("application/json"),
        "content type must be JSON",
    )?;
    check(
        path_and_query.contains(TOKEN),
        "the token of the URL is missing",
    )?;
    match platform {
        Platform::Slack => verify_slack(body),
        Platform::DingTalk { secret } => {
            check(
                raw.len() <= 20_000,
                "DingTalk bodies must stay within 20000 bytes",
            )?;
            check(body["msgtype"] == "markdown", "msgtype must be markdown")?;
            check(
                body["markdown"]["title"].is_string(),
                "markdown.title is required",
            )?;
            check(
                body["markdown"]["text"].is_string(),
                "markdown.text is required",
            )?;
            if let Some(secret) = secret {
                let pairs = query_pairs(path_and_query);
                let get = |name: &str| {
                    pairs
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                };
                let timestamp = get("timestamp").ok_or("timestamp query parameter missing")?;
                let sign = get("sign").ok_or("sign query parameter missing")?;
                let millis: i64 = timestamp
                    .parse()
                    .map_err(|_| "timestamp is not milliseconds")?;
                check(recent(millis, 1000), "timestamp is more than an hour away")?;
                let expected = STANDARD.encode(hmac_sha256(
                    secret.as_bytes(),
                    format!("{timestamp}\n{secret}").as_bytes(),
                ));
                check(sign == expected, "sign not match")?;
            }
            Ok(())
        }
        Platform::Lark { secret } => {
            check(
                raw.len() <= 20 * 1024,
                "Lark request bodies must stay within 20 KB",
            )?;
            check(
                body["msg_type"] == "interactive",
                "msg_type must be interactive",
            )?;
            check(
                body["card"]["header"]["title"]["content"].is_string(),
                "card.header.title is required",
            )?;
            check(
                body["card"]["elements"]
                    .as_array()
                    .is_some_and(|e| !e.is_empty()),
                "card.elements is required",
            )?;
            if let Some(secret) = secret {
                let timestamp = body["timestamp"]
                    .as_str()
                    .ok_or("timestamp must be a string of seconds")?;
                let seconds: i64 = timestamp.parse().map_err(|_| "timestamp is not seconds")?;
                check(
                    recent(seconds, 1),
                    "sign match fail or timestamp is not within one hour from current time",
                )?;
                let expected = STANDARD.encode(hmac_sha256(
                    format!("{timestamp}\n{secret}").as_bytes(),
                    b"",
                ));
                check(
                    body["sign"].as_str() == Some(expected.as_str()),
                    "sign match fail or timestamp is not within one hour from current time",
                )?;
            }
            Ok(())
        }
        Platform::Teams => {
            check(raw.len() <= 28 * 1024, "Request Entity too large")?;
            check(body["type"] == "message", "type must be message")?;
            let attachment = &body["attachments"][0];
            check(
                attachment["contentType"] == "application/vnd.microsoft.card.adaptive",
                "attachment must be an adaptive card",
            )?;
            check(
                attachment["content"]["type"] == "AdaptiveCard",
                "content.type must be AdaptiveCard",
            )?;
            check(
                attachment["content"]["version"].is_string(),
                "content.version is required",
            )?;
            check(
                attachment["content"]["body"]
                    .as_array()
                    .is_some_and(|b| !b.is_empty()),
                "content.body is required",
            )?;
            Ok(())
        }
        Platform::Webhook { secret } => {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let signature = header("x-chorale-signature").ok_or("X-Chorale-Signature missing")?;
            let expected = format!(
                "sha256={}",
                hex::encode(hmac_sha256(secret.as_bytes(), raw))
            );
            check(signature == expected, "signature does not match the body")?;
            let timestamp: i64 = header("x-chorale-timestamp")
                .ok_or("X-Chorale-Timestamp missing")?
                .parse()
                .map_err(|_| "X-Chorale-Timestamp is not seconds")?;
            check(
                recent(timestamp, 1),
                "X-Chorale-Timestamp is more than an hour away",
            )?;
            check(
                header("x-chorale-event").as_deref() == body["event"].as_str(),
                "X-Chorale-Event differs from the body",
            )?;
            check(
                body["kind"] == "Notification" && body["report"]["kind"] == "Report",
                "body must be a Notification with the report",
            )?;
            Ok(())
        }
    }
}

fn verify_slack(body: &Value) -> Result<(), String> {
    check(
        body["text"].is_string(),
        "text (the notification fallback) is required",
    )?;
    let blocks = body["blocks"].as_array().ok_or("blocks must be an array")?;
    check(
        !blocks.is_empty() && blocks.len() <= 50,
        "a message has 1 to 50 blocks",
    )?;
    for block in blocks {
        match block["type"].as_str() {
            Some("header") => {
                check(
                    block["text"]["type"] == "plain_text",
                    "header text is plain_text",
                )?;
                check(
                    block["text"]["text"]
                        .as_str()
                        .is_some_and(|t| t.chars().count() <= 150),
                    "header text is at most 150 characters",
                )?;
            }
            Some("section") => {
                if let Some(text) = block["text"]["text"].as_str() {
                    check(
                        text.chars().count() <= 3000,
                        "section text is at most 3000 characters",
                    )?;
                }
                if let Some(fields) = block["fields"].as_array() {
                    check(fields.len() <= 10, "a section has at most 10 fields")?;
                    check(
                        fields.iter().all(|f| {
                            f["text"]
                                .as_str()
                                .is_some_and(|t| t.chars().count() <= 2000)
                        }),
                        "fields are at most 2000 characters",
                    )?;
                }
                check(
                    block["text"].is_object() || block["fields"].is_array(),
                    "a section has text or fields",
                )?;
            }
            Some("context") => check(
                block["elements"].as_array().is_some_and(|e| e.len() <= 10),
                "context has 1 to 10 elements",
            )?,
            Some("actions") => check(
                block["elements"].as_array().is_some_and(|e| e.len() <= 25),
                "actions has 1 to 25 elements",
            )?,
            Some("divider") => {}
            other => return Err(format!("unknown block type {other:?}")),
        }
    }
    Ok(())
}
