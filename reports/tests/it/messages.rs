//! The message of every channel, from fixed reports: snapshots of what people read, and the
//! platforms' size limits on a report too large for any of them.

use std::collections::HashMap;

use chorale_reports::{ChannelKind, Event, Message, Payload};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::support::config::notifier_with_env;
use crate::support::sample::{Sample, report as sample};

const URL: &str = "https://hooks.example.com/services/T0/B0/not-a-real-token";

fn env() -> HashMap<&'static str, String> {
    HashMap::from([
        ("URL", URL.to_owned()),
        ("SECRET", "not-a-real-secret".to_owned()),
    ])
}

fn config(kind: ChannelKind) -> Value {
    let url = json!({ "env": "URL" });
    let secret = json!({ "env": "SECRET" });
    let channel = match kind {
        ChannelKind::Slack | ChannelKind::Teams => json!({ "url": url }),
        ChannelKind::Dingtalk | ChannelKind::Lark | ChannelKind::Webhook => {
            json!({ "url": url, "secret": secret })
        }
        ChannelKind::Email => json!({
            "smtp": { "host": "127.0.0.1", "port": 2525, "tls": "none" },
            "from": "Chorale <chorale@example.com>",
            "to": ["team@example.com"],
        }),
    };
    json!({ "name": format!("team-{}", kind.as_str()), kind.as_str(): channel })
}

fn message(kind: ChannelKind, sample_kind: Sample, event: Event) -> Message {
    notifier_with_env(config(kind), &env())
        .message(&sample(sample_kind), event)
        .unwrap_or_else(|err| panic!("{err}"))
}

fn body(message: &Message) -> &Value {
    let Payload::Json { body } = &message.payload else {
        panic!("not a JSON message")
    };
    body
}

#[test]
fn slack_failure() {
    let message = message(ChannelKind::Slack, Sample::Red, Event::Failure);
    assert_eq!(message.headline, "❌ demo 1.0.20261123 is RED");
    assert!(!message.truncated);
    insta::assert_json_snapshot!(message);
}

#[test]
fn slack_approval_needed() {
    let message = message(ChannelKind::Slack, Sample::Green, Event::ApprovalNeeded);
    let buttons = &body(&message)["blocks"].as_array().unwrap().last().unwrap()["elements"];
    assert_eq!(buttons[1]["text"]["text"], "Approve");
    insta::assert_json_snapshot!(message);
}

#[test]
fn dingtalk_failure() {
    insta::assert_json_snapshot!(message(ChannelKind::Dingtalk, Sample::Red, Event::Failure));
}

#[test]
fn lark_failure() {
    insta::assert_json_snapshot!(message(ChannelKind::Lark, Sample::Red, Event::Failure));
}

#[test]
fn lark_released() {
    let message = message(ChannelKind::Lark, Sample::Green, Event::Released);
    assert_eq!(body(&message)["card"]["header"]["template"], "green");
    insta::assert_json_snapshot!(message);
}

#[test]
fn teams_success() {
    insta::assert_json_snapshot!(message(ChannelKind::Teams, Sample::Green, Event::Success));
}

#[test]
fn webhook_carries_the_report_json() {
    let message = message(ChannelKind::Webhook, Sample::Red, Event::Failure);
    let body = body(&message);
    assert_eq!(body["event"], "failure");
    assert_eq!(body["report"]["summary"]["verdict"], "red");
    let report: chorale_reports::Report = serde_json::from_value(body["report"].clone()).unwrap();
    assert_eq!(report, sample(Sample::Red));
}

#[test]
fn email_failure() {
    let message = message(ChannelKind::Email, Sample::Red, Event::Failure);
    let Payload::Email {
        subject,
        text,
        html,
    } = &message.payload
    else {
        panic!("not an e-mail")
    };
    assert_eq!(subject, "❌ demo 1.0.20261123 is RED");
    insta::assert_snapshot!("email_failure_text", text);
    insta::assert_snapshot!("email_failure_html", html);
}

#[test]
fn email_approval_needed_links_the_approval_page() {
    let message = message(ChannelKind::Email, Sample::Green, Event::ApprovalNeeded);
    let Payload::Email { text, html, .. } = &message.payload else {
        panic!("not an e-mail")
    };
    assert!(
        text.contains("Approve:     https://chorale.example.com/builds/demo-20261123-0214/approve")
    );
    assert!(html.contains(">Approve</a>"));
}

#[test]
fn messages_are_stable_and_survive_storage() {
    for kind in [
        ChannelKind::Slack,
        ChannelKind::Dingtalk,
        ChannelKind::Lark,
        ChannelKind::Teams,
        ChannelKind::Webhook,
        ChannelKind::Email,
    ] {
        let first = message(kind, Sample::Red, Event::Failure);
        assert_eq!(
            first,
            message(kind, Sample::Red, Event::Failure),
            "{kind:?} is deterministic"
        );
        let stored = serde_json::to_string(&first).unwrap();
        let loaded: Message = serde_json::from_str(&stored).unwrap();
        assert_eq!(loaded, first, "{kind:?} round-trips through JSON");
    }
}

/// Every chat message of a 5,000-case report with 43 changed components fits its platform
/// and says where the rest is.
#[test]
fn large_reports_are_shortened_to_each_platform_limit() {
    let limits = [
        (ChannelKind::Slack, 12_000),
        (ChannelKind::Dingtalk, 20_000),
        (ChannelKind::Lark, 20 * 1024 - 100),
        (ChannelKind::Teams, 28 * 1024),
    ];
    for (kind, limit) in limits {
        let message = message(kind, Sample::Large(5_000), Event::Failure);
        let text = serde_json::to_string(body(&message)).unwrap();
        assert!(
            text.len() <= limit,
            "{kind:?}: {} bytes > {limit}",
            text.len()
        );
        assert!(message.truncated, "{kind:?} says it was shortened");
        assert!(
            text.contains("more failed tests"),
            "{kind:?} counts what it left out"
        );
        assert!(
            text.contains("https://chorale.example.com/builds/demo-20261123-0214/report"),
            "{kind:?} links the full report"
        );
        // Failed tests come before the changes.
        let failed_at = text.find("Failed tests").unwrap();
        let changes_at = text.find("Changes").unwrap();
        assert!(failed_at < changes_at, "{kind:?} shows failed tests first");
    }
    let slack = message(ChannelKind::Slack, Sample::Large(5_000), Event::Failure);
    let blocks = body(&slack)["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50);
    for block in blocks {
        if let Some(text) = block["text"]["text"].as_str() {
            assert!(text.chars().count() <= 3_000);
        }
    }
}
