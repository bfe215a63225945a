//! Notifications of a finished build against real receivers that check each platform's
//! signature and payload: delivered and recorded, a receiver that is down, a delivery left by
//! a killed process and resumed, and secrets that never reach the database, the logs, the
//! messages or the report.

use std::time::Duration;

use chorale::notify::{Event, notify, resume_pending};
use chorale::report::{build_report, write_report};
use chorale::resources::build::{Build, Status};
use chorale::resources::delivery::DeliveryState;
use chorale_reports::ChannelKind;
use chorale_testkit::LogCapture;
use chorale_testkit::webhook::{Platform, Receiver, Reply, TOKEN, unused_port};
use serde_json::Value;

use crate::cli::{chorale, text};
use crate::support::builds::{Bench, finished_build, save};

const DINGTALK_SECRET: &str = "SEC-dingtalk-signing-5ecret-7f3a";
const HMAC_SECRET: &str = "hmac-release-bot-5ecret-91c2";

/// Retries quick enough for tests: 3 attempts, 10 to 20 ms apart.
const FAST_RETRY: &str =
    "  notificationRetry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 20 }\n";

/// Write a secret file under the bench's `secrets/`.
fn secret(bench: &Bench, name: &str, value: &str) {
    let path = bench.path("secrets").join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, format!("{value}\n")).unwrap();
}

/// A red build of `demo`, stored.
async fn red_build(bench: &Bench) -> Build {
    let build = finished_build("20261123-021400-0001", "23", Status::Failed, None);
    save(&bench.context, &build, None).await;
    build
}

/// Wait (at most 30 s) until `check` holds.
async fn eventually<F: AsyncFnMut() -> bool>(what: &str, mut check: F) {
    let wait = async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
}

#[tokio::test]
async fn a_finished_build_tells_its_subscribers_once_and_records_each_delivery() {
    let bench = Bench::new().await;
    let slack = Receiver::start(Platform::Slack, Vec::new()).await;
    let dingtalk = Receiver::start(
        Platform::DingTalk {
            secret: Some(DINGTALK_SECRET.to_owned()),
        },
        Vec::new(),
    )
    .await;
    let lark = Receiver::start(Platform::Lark { secret: None }, Vec::new()).await;
    secret(&bench, "slack-url", &slack.url());
    secret(&bench, "dingtalk-url", &dingtalk.url());
    secret(&bench, "dingtalk-secret", DINGTALK_SECRET);
    secret(&bench, "lark-url", &lark.url());
    let product = bench.product(&format!(
        "{FAST_RETRY}  notifications:
    - name: team-chat
      events: [failure]
      slack: {{ url: {{ file: secrets/slack-url }} }}
    - name: cn-team
      dingtalk: {{ url: {{ file: secrets/dingtalk-url }}, secret: {{ file: secrets/dingtalk-secret }} }}
    - name: release-news
      events: [success, released]
      lark: {{ url: {{ file: secrets/lark-url }} }}
"
    ));
    let build = red_build(&bench).await;
    let report = build_report(&bench.context, &build).await.unwrap();
    assert_eq!(Event::for_verdict(report.summary().verdict), Event::Failure);

    let deliveries = notify(&bench.context, &product, &report, Event::Failure).await;
    let summary: Vec<(&str, ChannelKind, DeliveryState, u32)> = deliveries
        .iter()
        .map(|d| (d.notifier.as_str(), d.channel, d.state, d.attempts))
        .collect();
    assert_eq!(
        summary,
        [
            ("team-chat", ChannelKind::Slack, DeliveryState::Delivered, 1),
            (
                "cn-team",
                ChannelKind::Dingtalk,
                DeliveryState::Delivered,
                1
            ),
        ]
    );
    for receiver in [&slack, &dingtalk] {
        let received = receiver.wait_for(1).await;
        assert_eq!(received[0].verdict, Ok(()), "{:?}", received[0].body);
    }
    assert!(lark.received().is_empty(), "release-news wants no failures");
    let stored = bench
        .context
        .store
        .deliveries(Some(&build.id), 10)
        .await
        .unwrap();
    let mut sorted = deliveries.clone();
    sorted.sort_by(|a, b| (a.created_at, &a.notifier).cmp(&(b.created_at, &b.notifier)));
    assert_eq!(
        stored
            .iter()
            .map(|d| (&d.notifier, d.state, d.attempts))
            .collect::<Vec<_>>(),
        sorted
            .iter()
            .map(|d| (&d.notifier, d.state, d.attempts))
            .collect::<Vec<_>>()
    );

    // The same event of the same build is announced once.
    assert!(
        notify(&bench.context, &product, &report, Event::Failure)
            .await
            .is_empty()
    );
    assert_eq!(slack.received().len(), 1);
    assert_eq!(dingtalk.received().len(), 1);

    // `chorale notifications list` shows them, for this build or all.
    let output = chorale(&bench.state(), bench.dir.path())
        .args(["notifications", "list", &build.id[..15], "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{:?}", text(&output));
    let listed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(listed["kind"], "DeliveryList");
    let rows: Vec<(&str, &str, &str, &str, u64)> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(
                d["metadata"]["labels"]["chorale.dev/build"],
                build.id.as_str()
            );
            (
                d["spec"]["notifier"].as_str().unwrap(),
                d["spec"]["channel"].as_str().unwrap(),
                d["spec"]["event"].as_str().unwrap(),
                d["status"]["state"].as_str().unwrap(),
                d["status"]["attempts"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows.len(), 2);
    assert!(rows.contains(&("team-chat", "slack", "failure", "delivered", 1)));
    assert!(rows.contains(&("cn-team", "dingtalk", "failure", "delivered", 1)));
    let output = chorale(&bench.state(), bench.dir.path())
        .args(["notifications", "list"])
        .output()
        .unwrap();
    let table = text(&output).0;
    assert!(
        table.starts_with("BUILD                 NOTIFIER   CHANNEL   EVENT            STATE      ATTEMPTS  UPDATED                  LAST ERROR\n"),
        "{table}"
    );
    assert!(
        table.lines().any(|l| l.starts_with(
            "20261123-021400-0001  team-chat  slack     failure          delivered         1  "
        ) && l.ends_with("  -")),
        "{table}"
    );
}

#[tokio::test]
async fn a_receiver_that_is_down_fails_after_bounded_retries_and_the_build_is_untouched() {
    let bench = Bench::new().await;
    let port = unused_port();
    secret(
        &bench,
        "slack-url",
        &format!("http://127.0.0.1:{port}/services/T0001/B0002/{TOKEN}"),
    );
    let product = bench.product(&format!(
        "{FAST_RETRY}  notifications:
    - name: team-chat
      slack: {{ url: {{ file: secrets/slack-url }} }}
    - name: forgotten
      teams: {{ url: {{ file: secrets/no-such-file }} }}
"
    ));
    let build = red_build(&bench).await;
    let before = bench.context.store.build(&build.id).await.unwrap();
    let report = build_report(&bench.context, &build).await.unwrap();

    let deliveries = notify(&bench.context, &product, &report, Event::Failure).await;
    assert_eq!(deliveries.len(), 2);
    let down = deliveries
        .iter()
        .find(|d| d.notifier == "team-chat")
        .unwrap();
    assert_eq!(down.state, DeliveryState::Failed);
    assert_eq!(down.attempts, 3, "every attempt the policy allows, no more");
    let error = down.last_error.as_deref().unwrap();
    assert!(
        error.starts_with(&format!(
            "team-chat: cannot connect to http://127.0.0.1:{port}"
        )),
        "{error}"
    );
    assert!(!error.contains(TOKEN), "{error}");
    let forgotten = deliveries
        .iter()
        .find(|d| d.notifier == "forgotten")
        .unwrap();
    assert_eq!(forgotten.state, DeliveryState::Failed);
    assert_eq!(forgotten.attempts, 0);
    let error = forgotten.last_error.as_deref().unwrap();
    assert!(
        error.starts_with("notifier forgotten: the webhook URL is taken from /")
            && error.contains("secrets/no-such-file, which cannot be read"),
        "{error}"
    );

    // The build is as it was; nothing is left to resume.
    assert_eq!(bench.context.store.build(&build.id).await.unwrap(), before);
    assert!(resume_pending(&bench.context).await.is_empty());
    let output = chorale(&bench.state(), bench.dir.path())
        .args(["notifications", "list", &build.id])
        .output()
        .unwrap();
    let table = text(&output).0;
    assert!(
        table.lines().any(|l| l.contains("team-chat")
            && l.contains("  failed  ")
            && l.contains("         3  ")
            && l.contains("cannot connect to http://127.0.0.1:")),
        "{table}"
    );
}

#[tokio::test]
async fn a_delivery_left_by_a_killed_process_is_resumed() {
    let bench = Bench::new().await;
    // The first attempt hangs until the sender is gone; the next one succeeds.
    let slack = Receiver::start(Platform::Slack, vec![Reply::Slow(Duration::from_mins(2))]).await;
    secret(&bench, "slack-url", &slack.url());
    let product = bench.product(&format!(
        "{FAST_RETRY}  notifications:
    - name: team-chat
      timeoutSeconds: 1
      slack: {{ url: {{ file: secrets/slack-url }} }}
"
    ));
    let build = red_build(&bench).await;
    let report = build_report(&bench.context, &build).await.unwrap();

    // A process starts the delivery and dies during its first attempt.
    let sender = {
        let (context, product, report) = (bench.context.clone(), product.clone(), report.clone());
        tokio::spawn(async move { notify(&context, &product, &report, Event::Failure).await })
    };
    slack.wait_for(1).await;
    let store = &bench.context.store;
    eventually("the first attempt is recorded", async || {
        store.deliveries(Some(&build.id), 10).await.unwrap()[0].state == DeliveryState::Sending
    })
    .await;
    sender.abort();
    assert!(sender.await.unwrap_err().is_cancelled());
    let left = &store.deliveries(Some(&build.id), 10).await.unwrap()[0];
    assert_eq!((left.state, left.attempts), (DeliveryState::Sending, 1));

    // Once the dead sender's lease has run out, a new process sends it again.
    eventually("the dead sender's lease runs out", async || {
        !store
            .resumable_deliveries(jiff::Timestamp::now())
            .await
            .unwrap()
            .is_empty()
    })
    .await;
    // In a task of its own, as a server runs it.
    let resumed = {
        let context = bench.context.clone();
        tokio::spawn(async move { resume_pending(&context).await })
            .await
            .unwrap()
    };
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].state, DeliveryState::Delivered);
    assert_eq!(resumed[0].attempts, 2, "the lost attempt counts");
    let received = slack.wait_for(2).await;
    assert_eq!(received[1].verdict, Ok(()));
    assert_eq!(
        received[0].body, received[1].body,
        "the stored message is sent again"
    );
    let stored = &store.deliveries(Some(&build.id), 10).await.unwrap()[0];
    assert_eq!(
        (stored.state, stored.attempts),
        (DeliveryState::Delivered, 2)
    );
    assert!(resume_pending(&bench.context).await.is_empty());
}

/// Every file under `dir`, as (path, bytes).
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            found.push((path, bytes));
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn secrets_never_reach_the_database_the_logs_the_messages_or_the_report() {
    let (capture, _guard) = LogCapture::install();

    let bench = Bench::new().await;
    let slack = Receiver::start(Platform::Slack, vec![Reply::Status(500)]).await;
    let dingtalk = Receiver::start(
        Platform::DingTalk {
            secret: Some(DINGTALK_SECRET.to_owned()),
        },
        Vec::new(),
    )
    .await;
    let webhook = Receiver::start(
        Platform::Webhook {
            secret: HMAC_SECRET.to_owned(),
        },
        Vec::new(),
    )
    .await;
    secret(&bench, "slack-url", &slack.url());
    secret(&bench, "dingtalk-url", &dingtalk.url());
    secret(&bench, "dingtalk-secret", DINGTALK_SECRET);
    secret(&bench, "hook-url", &webhook.url());
    secret(&bench, "hook-secret", HMAC_SECRET);
    secret(
        &bench,
        "down-url",
        &format!(
            "http://127.0.0.1:{}/services/T0001/B0002/{TOKEN}",
            unused_port()
        ),
    );
    let product = bench.product(&format!(
        "{FAST_RETRY}  notifications:
    - name: team-chat
      slack: {{ url: {{ file: secrets/slack-url }} }}
    - name: cn-team
      dingtalk: {{ url: {{ file: secrets/dingtalk-url }}, secret: {{ file: secrets/dingtalk-secret }} }}
    - name: release-bot
      webhook: {{ url: {{ file: secrets/hook-url }}, secret: {{ file: secrets/hook-secret }} }}
    - name: down
      slack: {{ url: {{ file: secrets/down-url }} }}
"
    ));
    let build = red_build(&bench).await;
    let files = write_report(&bench.context, &product, &build)
        .await
        .unwrap();
    let deliveries = notify(&bench.context, &product, &files.report, Event::Failure).await;
    let states: Vec<(&str, DeliveryState, u32)> = deliveries
        .iter()
        .map(|d| (d.notifier.as_str(), d.state, d.attempts))
        .collect();
    assert_eq!(
        states,
        [
            ("team-chat", DeliveryState::Delivered, 2),
            ("cn-team", DeliveryState::Delivered, 1),
            ("release-bot", DeliveryState::Delivered, 1),
            ("down", DeliveryState::Failed, 3),
        ]
    );
    let team_chat_error = deliveries[0].last_error.as_deref().unwrap();
    assert!(
        team_chat_error.contains("answered HTTP 500"),
        "{team_chat_error}"
    );

    let mut outputs: Vec<(String, Vec<u8>)> = Vec::new();
    for args in [
        &["notifications", "list"][..],
        &["notifications", "list", "-o", "json"],
        &["report", &build.id, "--format", "md"],
        &["report", &build.id, "--format", "json"],
        &["report", &build.id, "--format", "html"],
        &["builds", "show", &build.id],
    ] {
        let output = chorale(&bench.state(), bench.dir.path())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {:?}",
            text(&output)
        );
        outputs.push((
            format!("`chorale {}` stdout", args.join(" ")),
            output.stdout,
        ));
        outputs.push((
            format!("`chorale {}` stderr", args.join(" ")),
            output.stderr,
        ));
    }
    for (path, bytes) in files_under(&bench.state()) {
        outputs.push((path.display().to_string(), bytes));
    }
    for receiver in [&slack, &dingtalk, &webhook] {
        for request in receiver.received() {
            outputs.push(("a message body".to_owned(), request.raw.to_vec()));
        }
    }
    let logs = capture.text().into_bytes();
    assert!(
        contains(&logs, "notification attempt failed"),
        "the failures were logged:\n{}",
        String::from_utf8_lossy(&logs)
    );
    outputs.push(("the logs".to_owned(), logs));
    let database = outputs
        .iter()
        .filter(|(name, _)| name.contains("state.db"))
        .map(|(_, bytes)| bytes.as_slice())
        .collect::<Vec<_>>()
        .concat();
    assert!(
        contains(&database, "secrets/dingtalk-secret"),
        "the database names where the secret is"
    );
    for (what, bytes) in &outputs {
        for secret in [TOKEN, DINGTALK_SECRET, HMAC_SECRET] {
            assert!(!contains(bytes, secret), "{what} holds the secret {secret}");
        }
    }
}
