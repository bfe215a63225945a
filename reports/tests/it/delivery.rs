//! Delivery to real receivers: each platform's signature and payload checked as the
//! platform documents it, and the faults a channel can have.

use std::time::Duration;

use chorale_reports::{AttemptEvent, DeliveryError, Event, Notifier, RetryPolicy, deliver};
use chorale_testkit::webhook::{Platform, Receiver, Reply, unused_port};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::support::config::{Secrets, notifier};
use crate::support::sample::{Sample, report as sample};

const SIGNING_SECRET: &str = "SEC4b1d0c9e-signing-secret";

/// A policy with short waits so fault tests stay quick.
fn fast_policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_delay_ms: 10,
        max_delay_ms: 50,
        max_retry_after_ms: 5_000,
    }
}

/// The notifier configuration that talks to `receiver` as `platform` expects.
fn notifier_for(
    secrets: &Secrets,
    platform: &Platform,
    url: &str,
    secret: Option<&str>,
    timeout_seconds: u64,
) -> Notifier {
    let url = secrets.file("url", url);
    let signing = secret.map(|s| secrets.file("secret", s));
    let (key, channel) = match platform {
        Platform::Slack => ("slack", json!({ "url": url })),
        Platform::Teams => ("teams", json!({ "url": url })),
        Platform::DingTalk { .. } => ("dingtalk", json!({ "url": url, "secret": signing })),
        Platform::Lark { .. } => ("lark", json!({ "url": url, "secret": signing })),
        Platform::Webhook { .. } => ("webhook", json!({ "url": url, "secret": signing })),
    };
    notifier(
        json!({ "name": format!("team-{key}"), "timeoutSeconds": timeout_seconds, key: channel }),
    )
}

/// A receiver playing `platform` (answering `script` first) and a notifier configured for it.
struct Setup {
    receiver: Receiver,
    notifier: Notifier,
    _secrets: Secrets,
}

async fn setup(
    platform: &Platform,
    script: Vec<Reply>,
    secret: Option<&str>,
    timeout_seconds: u64,
) -> Setup {
    let receiver = Receiver::start(platform.clone(), script).await;
    let secrets = Secrets::new();
    let notifier = notifier_for(&secrets, platform, &receiver.url(), secret, timeout_seconds);
    Setup {
        receiver,
        notifier,
        _secrets: secrets,
    }
}

/// Delivers the red report's failure message and returns the attempt events.
async fn run(
    notifier: &Notifier,
    policy: &RetryPolicy,
) -> (chorale_reports::DeliveryOutcome, Vec<AttemptEvent>) {
    let message = notifier
        .message(&sample(Sample::Red), Event::Failure)
        .unwrap();
    let mut events = Vec::new();
    let outcome = deliver(notifier, &message, policy, 0, async |event| {
        events.push(event);
    })
    .await;
    (outcome, events)
}

fn platforms() -> Vec<Platform> {
    vec![
        Platform::Slack,
        Platform::Teams,
        Platform::DingTalk {
            secret: Some(SIGNING_SECRET.to_owned()),
        },
        Platform::Lark {
            secret: Some(SIGNING_SECRET.to_owned()),
        },
        Platform::Webhook {
            secret: SIGNING_SECRET.to_owned(),
        },
    ]
}

#[tokio::test]
async fn every_platform_accepts_what_it_receives() {
    for platform in platforms() {
        let Setup {
            receiver, notifier, ..
        } = setup(&platform, Vec::new(), Some(SIGNING_SECRET), 10).await;
        let (outcome, events) = run(&notifier, &fast_policy(3)).await;
        let received = receiver.wait_for(1).await;
        assert_eq!(received[0].verdict, Ok(()), "{platform:?}");
        assert_eq!(outcome.result, Ok(()), "{platform:?}");
        assert_eq!(outcome.attempts, 1);
        assert_eq!(
            events,
            vec![
                AttemptEvent::Starting { attempt: 1 },
                AttemptEvent::Delivered { attempt: 1 }
            ]
        );
    }
}

#[tokio::test]
async fn unsigned_dingtalk_and_lark_bots_work_without_a_secret() {
    for platform in [
        Platform::DingTalk { secret: None },
        Platform::Lark { secret: None },
    ] {
        let Setup {
            receiver, notifier, ..
        } = setup(&platform, Vec::new(), None, 10).await;
        let (outcome, _) = run(&notifier, &fast_policy(1)).await;
        assert_eq!(outcome.result, Ok(()), "{platform:?}");
        let received = receiver.wait_for(1).await;
        assert!(!received[0].path_and_query.contains("sign="));
        assert_eq!(received[0].body.get("sign"), None);
    }
}

/// The receivers really check signatures: a notifier with the wrong secret is refused,
/// and a refusal is final (no retry).
#[tokio::test]
async fn a_wrong_signing_secret_is_refused_without_retry() {
    for platform in platforms()
        .into_iter()
        .filter(|p| !matches!(p, Platform::Slack | Platform::Teams))
    {
        let Setup {
            receiver, notifier, ..
        } = setup(&platform, Vec::new(), Some("not-the-secret"), 10).await;
        let (outcome, _) = run(&notifier, &fast_policy(3)).await;
        assert_eq!(outcome.attempts, 1, "{platform:?}");
        let error = outcome.result.unwrap_err();
        assert!(!error.is_retryable(), "{platform:?}: {error}");
        match (&platform, &error) {
            (Platform::DingTalk { .. }, DeliveryError::Refused { code, .. }) => {
                assert_eq!(*code, 310_000);
            }
            (Platform::Lark { .. }, DeliveryError::Refused { code, .. }) => {
                assert_eq!(*code, 19_021);
            }
            (Platform::Webhook { .. }, DeliveryError::Http { status, .. }) => {
                assert_eq!(*status, 401);
            }
            _ => panic!("{platform:?}: unexpected error {error:?}"),
        }
        assert!(receiver.received()[0].verdict.is_err());
    }
}

#[tokio::test]
async fn server_errors_are_retried_until_the_receiver_recovers() {
    let Setup {
        receiver, notifier, ..
    } = setup(
        &Platform::Slack,
        vec![Reply::Status(500), Reply::Status(503)],
        None,
        10,
    )
    .await;
    let (outcome, events) = run(&notifier, &fast_policy(5)).await;
    assert_eq!(outcome.result, Ok(()));
    assert_eq!(outcome.attempts, 3);
    assert_eq!(receiver.wait_for(3).await.len(), 3);
    let statuses: Vec<Option<u16>> = events
        .iter()
        .filter_map(|e| match e {
            AttemptEvent::Failed {
                error: DeliveryError::Http { status, .. },
                retry_in,
                ..
            } => {
                assert!(retry_in.is_some());
                Some(Some(*status))
            }
            AttemptEvent::Failed { .. } => Some(None),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, vec![Some(500), Some(503)]);
    assert_eq!(events.last(), Some(&AttemptEvent::Delivered { attempt: 3 }));
}

#[tokio::test]
async fn too_many_requests_waits_as_long_as_retry_after_says() {
    let Setup {
        receiver, notifier, ..
    } = setup(&Platform::Teams, vec![Reply::RetryAfter(429, 1)], None, 10).await;
    let (outcome, events) = run(&notifier, &fast_policy(3)).await;
    assert_eq!(outcome.result, Ok(()));
    let AttemptEvent::Failed {
        error, retry_in, ..
    } = &events[1]
    else {
        panic!("{events:?}")
    };
    assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(
        *retry_in,
        Some(Duration::from_secs(1)),
        "Retry-After wins over the 10 ms backoff"
    );
    assert_eq!(receiver.wait_for(2).await.len(), 2);
}

#[tokio::test]
async fn platform_rate_limit_codes_are_retried() {
    let platform = Platform::DingTalk {
        secret: Some(SIGNING_SECRET.to_owned()),
    };
    let Setup {
        receiver: _receiver,
        notifier,
        ..
    } = setup(
        &platform,
        vec![Reply::Code(
            130_101,
            "send too fast, exceed 20 times per minute",
        )],
        Some(SIGNING_SECRET),
        10,
    )
    .await;
    let (outcome, events) = run(&notifier, &fast_policy(3)).await;
    assert_eq!(outcome.result, Ok(()));
    assert_eq!(outcome.attempts, 2);
    let AttemptEvent::Failed { error, .. } = &events[1] else {
        panic!("{events:?}")
    };
    assert!(
        error.to_string().ends_with(
            "refused the message with code 130101: send too fast, exceed 20 times per minute"
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_is_a_retryable_timeout() {
    let platform = Platform::Lark {
        secret: Some(SIGNING_SECRET.to_owned()),
    };
    let Setup {
        receiver: _receiver,
        notifier,
        ..
    } = setup(
        &platform,
        vec![Reply::Slow(Duration::from_secs(5))],
        Some(SIGNING_SECRET),
        1,
    )
    .await;
    let (outcome, events) = run(&notifier, &fast_policy(3)).await;
    let AttemptEvent::Failed { error, .. } = &events[1] else {
        panic!("{events:?}")
    };
    assert!(matches!(error, DeliveryError::Timeout { .. }), "{error:?}");
    assert!(error.is_retryable());
    assert_eq!(
        outcome.result,
        Ok(()),
        "the second attempt is answered at once"
    );
    assert_eq!(outcome.attempts, 2);
}

#[tokio::test]
async fn a_receiver_that_is_down_fails_after_the_allowed_attempts() {
    let port = unused_port();
    let secrets = Secrets::new();
    let url = format!("http://127.0.0.1:{port}/services/T0001/B0002/tok-down");
    let notifier = notifier_for(&secrets, &Platform::Slack, &url, None, 2);
    let (outcome, events) = run(&notifier, &fast_policy(3)).await;
    assert_eq!(outcome.attempts, 3);
    let error = outcome.result.unwrap_err();
    assert!(matches!(error, DeliveryError::Connect { .. }), "{error:?}");
    assert!(
        error.to_string().starts_with(&format!(
            "team-slack: cannot connect to http://127.0.0.1:{port}: "
        )),
        "{error}"
    );
    let starts = events
        .iter()
        .filter(|e| matches!(e, AttemptEvent::Starting { .. }))
        .count();
    assert_eq!(starts, 3, "every attempt is announced before it is made");
    assert!(matches!(
        events.last(),
        Some(AttemptEvent::Failed { retry_in: None, .. })
    ));
}

#[tokio::test]
async fn a_resumed_delivery_continues_counting_and_stops_at_the_limit() {
    let Setup {
        receiver, notifier, ..
    } = setup(
        &Platform::Slack,
        vec![Reply::Status(502), Reply::Status(502)],
        None,
        10,
    )
    .await;
    let message = notifier
        .message(&sample(Sample::Red), Event::Failure)
        .unwrap();
    let mut events = Vec::new();
    // Three attempts were recorded before a restart; two remain.
    let outcome = deliver(&notifier, &message, &fast_policy(5), 3, async |e| {
        events.push(e);
    })
    .await;
    assert_eq!(outcome.attempts, 5);
    assert!(matches!(
        outcome.result,
        Err(DeliveryError::Http { status: 502, .. })
    ));
    assert_eq!(events[0], AttemptEvent::Starting { attempt: 4 });
    // Nothing left to try.
    let outcome = deliver(&notifier, &message, &fast_policy(5), 5, async |e| {
        events.push(e);
    })
    .await;
    assert!(matches!(
        outcome.result,
        Err(DeliveryError::AttemptsExhausted { attempts: 5, .. })
    ));
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn a_message_for_another_channel_is_not_sent() {
    let Setup {
        receiver,
        notifier: slack,
        _secrets: secrets,
    } = setup(&Platform::Slack, Vec::new(), None, 10).await;
    let teams = notifier_for(&secrets, &Platform::Teams, &receiver.url(), None, 10);
    let message = teams.message(&sample(Sample::Red), Event::Failure).unwrap();
    let error = slack.send(&message).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "team-slack: a teams message cannot be sent through a slack notifier"
    );
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn the_generic_webhook_posts_the_event_and_report() {
    let platform = Platform::Webhook {
        secret: SIGNING_SECRET.to_owned(),
    };
    let Setup {
        receiver, notifier, ..
    } = setup(&platform, Vec::new(), Some(SIGNING_SECRET), 10).await;
    let message = notifier
        .message(&sample(Sample::Green), Event::ApprovalNeeded)
        .unwrap();
    notifier.send(&message).await.unwrap();
    let received = receiver.wait_for(1).await;
    assert_eq!(received[0].headers["x-chorale-event"], "approval-needed");
    let body: &Value = &received[0].body;
    assert_eq!(body["report"]["buildId"], "demo-20261123-0214");
    assert_eq!(
        body["headline"],
        "🟢 demo 1.0.20261123 is green and awaits approval"
    );
}
