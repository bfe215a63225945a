//! Rendering and delivering a large report to six channels.
//!
//! Builds a red report with 5,000 extra test cases (plus the sample's 12) and 43 changed
//! components, renders it in all four formats, builds the six channel messages (Slack,
//! DingTalk, Lark, Teams, generic webhook, e-mail) and delivers them concurrently to local
//! receivers: one in-process HTTP server answering as each platform does, and aiosmtpd in
//! its own process. Prints the median of each phase over the iterations, the sizes, and
//! the process's peak resident memory (VmHWM).
//!
//! Run: `cargo bench -p chorale-reports --bench deliver [-- CASES ITERATIONS]`

#[path = "../tests/it/support/sample.rs"]
mod sample;

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::Uri;
use chorale_reports::{
    Event, Format, Message, Notifier, NotifierConfig, RetryPolicy, Templates, deliver, render,
};
use sample::{Sample, report};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let cases: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let iterations: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);

    let http_port = start_http_receiver().await;
    let (smtp_port, _smtp) = start_smtp_sink().await;
    let secrets = tempfile::tempdir().unwrap();
    let templates = Arc::new(Templates::builtin());
    let notifiers: Vec<Arc<Notifier>> = channel_configs(http_port, smtp_port, secrets.path())
        .iter()
        .map(|config| Arc::new(Notifier::from_config(config, Arc::clone(&templates)).unwrap()))
        .collect();

    println!("report sizes (bytes): typical red, typical green, large ({cases} extra cases)");
    for (label, sample) in [
        ("red", Sample::Red),
        ("green", Sample::Green),
        ("large", Sample::Large(cases)),
    ] {
        let report = report(sample);
        let sizes: Vec<String> = Format::ALL
            .iter()
            .map(|f| {
                format!(
                    "{} {}",
                    f.name(),
                    render(&report, *f, &templates).unwrap().len()
                )
            })
            .collect();
        println!("  {label:5}: {}", sizes.join(", "));
    }

    let report = report(Sample::Large(cases));
    let tests: usize = report.test_jobs.iter().map(|j| j.cases.len()).sum();
    let mut render_times = Vec::new();
    let mut message_times = Vec::new();
    let mut deliver_times = Vec::new();
    let mut total_times = Vec::new();
    let mut message_sizes = Vec::new();
    for _ in 0..iterations {
        let start = Instant::now();
        for format in Format::ALL {
            std::hint::black_box(render(&report, format, &templates).unwrap());
        }
        let rendered = Instant::now();
        let messages: Vec<Message> = notifiers
            .iter()
            .map(|n| n.message(&report, Event::Failure).unwrap())
            .collect();
        let built = Instant::now();
        let mut deliveries = tokio::task::JoinSet::new();
        for (notifier, message) in notifiers.iter().zip(messages.iter().cloned()) {
            let notifier = Arc::clone(notifier);
            deliveries.spawn(async move {
                let outcome = deliver(
                    &notifier,
                    &message,
                    &RetryPolicy::default(),
                    0,
                    async |_| {},
                )
                .await;
                assert_eq!(outcome.result, Ok(()), "{} failed", notifier.name());
            });
        }
        while let Some(done) = deliveries.join_next().await {
            done.unwrap();
        }
        let delivered = Instant::now();
        render_times.push(rendered - start);
        message_times.push(built - rendered);
        deliver_times.push(delivered - built);
        total_times.push(delivered - start);
        message_sizes = messages
            .iter()
            .map(|m| {
                format!(
                    "{} {}",
                    m.channel.as_str(),
                    serde_json::to_vec(&m.payload).unwrap().len()
                )
            })
            .collect();
    }
    println!(
        "large report: {tests} test cases, {} changed components, {iterations} iterations",
        report.changes.components.len()
    );
    println!("  message sizes (bytes): {}", message_sizes.join(", "));
    println!(
        "  render md+html+junit+json  median {:>8.1} ms",
        median_ms(&mut render_times)
    );
    println!(
        "  build 6 messages           median {:>8.1} ms",
        median_ms(&mut message_times)
    );
    println!(
        "  deliver to 6 channels      median {:>8.1} ms",
        median_ms(&mut deliver_times)
    );
    println!(
        "  total                      median {:>8.1} ms",
        median_ms(&mut total_times)
    );
    println!(
        "  peak resident memory (VmHWM) {} MiB",
        peak_rss_kib() / 1024
    );
}

fn median_ms(times: &mut [Duration]) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1000.0
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn channel_configs(http: u16, smtp: u16, dir: &std::path::Path) -> Vec<NotifierConfig> {
    let file = |name: &str, value: String| {
        let path = dir.join(name);
        std::fs::write(&path, value).unwrap();
        json!({ "file": path })
    };
    let base = format!("http://127.0.0.1:{http}");
    let secret = file("secret", "bench-signing-secret".to_owned());
    [
        json!({ "name": "slack", "slack": { "url": file("slack", format!("{base}/services/T0/B0/token")) } }),
        json!({ "name": "dingtalk", "dingtalk": { "url": file("dingtalk", format!("{base}/robot/send?access_token=token")), "secret": secret } }),
        json!({ "name": "lark", "lark": { "url": file("lark", format!("{base}/open-apis/bot/v2/hook/token")), "secret": secret } }),
        json!({ "name": "teams", "teams": { "url": file("teams", format!("{base}/workflows/x?sig=token")) } }),
        json!({ "name": "webhook", "webhook": { "url": file("webhook", format!("{base}/hook")), "secret": secret } }),
        json!({
            "name": "email",
            "email": {
                "smtp": { "host": "127.0.0.1", "port": smtp, "tls": "none" },
                "from": "chorale@example.com",
                "to": ["team@example.com"],
            }
        }),
    ]
    .into_iter()
    .map(|v| serde_json::from_value(v).unwrap())
    .collect()
}

/// One HTTP server answering as DingTalk, Lark or the others do, by path.
async fn start_http_receiver() -> u16 {
    async fn answer(uri: Uri, _body: axum::body::Bytes) -> axum::response::Response {
        use axum::response::IntoResponse;
        match uri.path() {
            "/robot/send" => axum::Json(json!({ "errcode": 0, "errmsg": "ok" })).into_response(),
            p if p.starts_with("/open-apis/") => {
                axum::Json(json!({ "code": 0, "msg": "success" })).into_response()
            }
            _ => "ok".into_response(),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        axum::serve(listener, Router::new().fallback(answer))
            .await
            .unwrap();
    });
    port
}

/// aiosmtpd in its own process, through the tests' sink script.
async fn start_smtp_sink() -> (u16, (tempfile::TempDir, tokio::process::Child)) {
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/support/smtp_sink.py");
    let mut child = tokio::process::Command::new("python3")
        .args(["-W", "ignore", script])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the benchmark needs python3 with aiosmtpd");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines
        .next_line()
        .await
        .unwrap()
        .expect("the SMTP sink did not start");
    let port = ready.strip_prefix("READY ").unwrap().parse().unwrap();
    (port, (dir, child))
}
