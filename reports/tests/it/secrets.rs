//! Secrets (webhook tokens, signing secrets, the SMTP password) never appear in a message,
//! a report, an error, a `Debug` print or a log line.

use std::sync::Arc;

use chorale_reports::{Event, Format, Notifier, RetryPolicy, Templates, deliver, render};
use chorale_testkit::LogCapture;
use chorale_testkit::webhook::{Platform, Receiver, TOKEN, unused_port};
use serde_json::json;

use crate::support::config::{Secrets, notifier};
use crate::support::sample::{Sample, report as sample};

const SIGNING: &str = "SECf00dfeed-do-not-print";
const SMTP_PASSWORD: &str = "smtp-pa55-do-not-print";

fn assert_clean(what: &str, text: &str) {
    for secret in [TOKEN, SIGNING, SMTP_PASSWORD] {
        assert!(
            !text.contains(secret),
            "{what} shows the secret {secret}:\n{text}"
        );
    }
}

#[tokio::test]
async fn no_secret_leaks_anywhere() {
    let (capture, _guard) = LogCapture::install();
    // reqwest, hyper and rustls log through `log`: route those records here too.
    let _ = tracing_log::LogTracer::init();

    let secrets = Secrets::new();
    let slack_up = Receiver::start(Platform::Slack, Vec::new()).await;
    let dingtalk_up = Receiver::start(
        Platform::DingTalk {
            secret: Some(SIGNING.to_owned()),
        },
        Vec::new(),
    )
    .await;
    let lark_up = Receiver::start(
        Platform::Lark {
            secret: Some(SIGNING.to_owned()),
        },
        Vec::new(),
    )
    .await;
    let down = unused_port();
    let down_url = format!("http://127.0.0.1:{down}/robot/send?access_token={TOKEN}");
    let signing = secrets.file("signing", SIGNING);

    let notifiers: Vec<Notifier> = vec![
        notifier(
            json!({ "name": "slack", "slack": { "url": secrets.file("slack", &slack_up.url()) } }),
        ),
        notifier(
            json!({ "name": "dingtalk", "dingtalk": { "url": secrets.file("dingtalk", &dingtalk_up.url()), "secret": signing } }),
        ),
        notifier(
            json!({ "name": "lark", "lark": { "url": secrets.file("lark", &lark_up.url()), "secret": signing } }),
        ),
        notifier(
            json!({ "name": "dingtalk-down", "dingtalk": { "url": secrets.file("down", &down_url), "secret": signing } }),
        ),
        notifier(
            json!({ "name": "webhook-down", "webhook": { "url": secrets.file("down2", &format!("http://127.0.0.1:{down}/hook/{TOKEN}")), "secret": signing } }),
        ),
        notifier(
            json!({ "name": "teams-down", "timeoutSeconds": 1, "teams": { "url": secrets.file("down3", &format!("http://127.0.0.1:{down}/x?sig={TOKEN}")) } }),
        ),
        notifier(json!({
            "name": "email-down",
            "timeoutSeconds": 2,
            "email": {
                "smtp": { "host": "127.0.0.1", "port": down, "tls": "none", "username": "chorale", "password": secrets.file("smtp", SMTP_PASSWORD) },
                "from": "chorale@example.com",
                "to": ["team@example.com"],
            }
        })),
    ];

    let report = sample(Sample::Red);
    for format in Format::ALL {
        assert_clean(
            "a rendered report",
            &render(&report, format, &Templates::builtin()).unwrap(),
        );
    }
    let policy = RetryPolicy {
        max_attempts: 2,
        initial_delay_ms: 5,
        max_delay_ms: 10,
        max_retry_after_ms: 10,
    };
    let mut delivered = 0;
    for notifier in &notifiers {
        assert_clean("a notifier's Debug", &format!("{notifier:?}"));
        for event in [Event::Failure, Event::ApprovalNeeded] {
            let message = notifier.message(&report, event).unwrap();
            assert_clean("a message", &serde_json::to_string(&message).unwrap());
            assert_clean("a message's Debug", &format!("{message:?}"));
            let mut events = Vec::new();
            let outcome = deliver(notifier, &message, &policy, 0, async |e| events.push(e)).await;
            assert_clean("attempt events", &format!("{events:?}"));
            match outcome.result {
                Ok(()) => delivered += 1,
                Err(error) => {
                    assert_clean("an error", &error.to_string());
                    assert_clean("an error's Debug", &format!("{error:?}"));
                }
            }
        }
    }
    assert_eq!(
        delivered, 6,
        "the three live receivers accepted both messages"
    );

    // The secrets were used: the receivers saw the token and accepted the signatures.
    for receiver in [&slack_up, &dingtalk_up, &lark_up] {
        for received in receiver.received() {
            assert!(received.path_and_query.contains(TOKEN));
            assert_eq!(received.verdict, Ok(()));
            assert_clean("a request body", &String::from_utf8_lossy(&received.raw));
        }
    }

    let logs = capture.text();
    assert!(
        logs.contains("notification attempt failed"),
        "the failures were logged:\n{logs}"
    );
    assert!(
        logs.contains("reqwest"),
        "the HTTP client's own logs were captured:\n{logs}"
    );
    assert_clean("the logs", &logs);
}

#[test]
fn configuration_errors_name_the_source_not_the_secret() {
    let secrets = Secrets::new();
    let bad_url = secrets.file("url", &format!("ftp://hooks.example.com/{TOKEN}"));
    let config =
        crate::support::config::config(json!({ "name": "ops", "slack": { "url": bad_url } }));
    let err = Notifier::from_config_with_env(&config, Arc::new(Templates::builtin()), &|_| None)
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("notifier ops: the webhook URL from file "),
        "{text}"
    );
    assert!(
        text.ends_with(
            "is not a valid http(s) URL: only http and https URLs with a host are accepted"
        ),
        "{text}"
    );
    assert_clean("a configuration error", &text);
    assert_clean("a configuration's Debug", &format!("{config:?}"));

    let config = crate::support::config::config(
        json!({ "name": "ops", "lark": { "url": { "env": "LARK_URL" } } }),
    );
    let err = Notifier::from_config_with_env(&config, Arc::new(Templates::builtin()), &|_| None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "notifier ops: the webhook URL is taken from the environment variable LARK_URL, which is not set"
    );

    let config = crate::support::config::config(json!({ "name": "ops" }));
    let err = Notifier::from_config_with_env(&config, Arc::new(Templates::builtin()), &|_| None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "notifier ops: configure exactly one of slack, dingtalk, lark, teams, webhook, email (found: none)"
    );
}

#[test]
fn unknown_configuration_keys_are_rejected() {
    let err = serde_json::from_value::<chorale_reports::NotifierConfig>(json!({
        "name": "ops",
        "slack": { "url": { "env": "X" }, "channel": "#builds" }
    }))
    .unwrap_err();
    assert!(err.to_string().contains("unknown field `channel`"), "{err}");
}
