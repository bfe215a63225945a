//! One contract for the deliveries table, run against SQLite and a throw-away PostgreSQL:
//! recorded once per build, notifier and event; updated after each attempt; resumable only
//! once the sender's lease ran out, and claimed by one process only.

use chorale::resources::build::{Build, Stage};
use chorale::resources::delivery::{Delivery, DeliveryRecord, DeliveryState, DeliveryUpdate};
use chorale::store::Store;
use chorale_reports::{ChannelKind, Event, Message, NotifierConfig, Payload, RetryPolicy};
use jiff::Timestamp;

/// `base` plus `seconds`.
fn later(base: Timestamp, seconds: i64) -> Timestamp {
    Timestamp::from_millisecond(base.as_millisecond() + seconds * 1000).unwrap()
}

fn record(build: &str, id: &str, notifier: &str, event: Event, now: Timestamp) -> DeliveryRecord {
    let config: NotifierConfig = serde_json::from_value(serde_json::json!({
        "name": notifier,
        "slack": { "url": { "env": "SLACK_WEBHOOK_URL" } }
    }))
    .unwrap();
    DeliveryRecord {
        delivery: Delivery {
            id: id.to_owned(),
            build_id: build.to_owned(),
            notifier: notifier.to_owned(),
            channel: ChannelKind::Slack,
            event,
            version: None,
            state: DeliveryState::Pending,
            attempts: 0,
            last_error: None,
            created_at: now,
            updated_at: now,
        },
        config,
        message: Some(Message {
            channel: ChannelKind::Slack,
            event,
            headline: "demo 1.0.20261123 is RED".to_owned(),
            truncated: false,
            payload: Payload::Json {
                body: serde_json::json!({ "text": "demo 1.0.20261123 is RED" }),
            },
        }),
        policy: RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        },
        lease_until: Some(later(now, 10)),
    }
}

/// What every backend must do.
async fn contract(store: Store) {
    let build = Build::start("demo", "cli", &[Stage::Snapshot]);
    store.save_build(&build).await.unwrap();
    let t0 = Timestamp::from_millisecond(Timestamp::now().as_millisecond()).unwrap();

    // Recorded once per build, notifier and event.
    let chat = record(
        &build.id,
        "00000000000000a1",
        "team-chat",
        Event::Failure,
        t0,
    );
    assert!(store.insert_delivery(&chat).await.unwrap());
    let again = record(
        &build.id,
        "00000000000000a2",
        "team-chat",
        Event::Failure,
        t0,
    );
    assert!(
        !store.insert_delivery(&again).await.unwrap(),
        "a second delivery of the same event to the same notifier is not recorded"
    );
    let mut mail = record(
        &build.id,
        "00000000000000b1",
        "release",
        Event::Failure,
        later(t0, 1),
    );
    mail.delivery.state = DeliveryState::Failed;
    mail.delivery.last_error = Some("release: the SMTP password is not set".to_owned());
    mail.message = None;
    mail.lease_until = None;
    assert!(store.insert_delivery(&mail).await.unwrap());
    let orphan = record(
        "no-such-build",
        "00000000000000c1",
        "team-chat",
        Event::Failure,
        t0,
    );
    assert!(
        store.insert_delivery(&orphan).await.is_err(),
        "a delivery needs its build"
    );

    // Listed per build in recording order, or newest first.
    let listed = store.deliveries(Some(&build.id), 10).await.unwrap();
    assert_eq!(listed, [chat.delivery.clone(), mail.delivery.clone()]);
    let newest = store.deliveries(None, 1).await.unwrap();
    assert_eq!(newest, [mail.delivery.clone()]);
    assert!(
        store
            .deliveries(Some("other"), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // A live sender's delivery is not resumable; once its lease ran out it is, whole.
    store
        .update_delivery(
            "00000000000000a1",
            &DeliveryUpdate {
                state: DeliveryState::Sending,
                attempts: 1,
                last_error: None,
                lease_until: Some(later(t0, 20)),
            },
        )
        .await
        .unwrap();
    assert!(
        store
            .resumable_deliveries(later(t0, 15))
            .await
            .unwrap()
            .is_empty()
    );
    let resumable = store.resumable_deliveries(later(t0, 30)).await.unwrap();
    assert_eq!(resumable.len(), 1, "failed deliveries are not resumed");
    let found = &resumable[0];
    assert_eq!(found.delivery.state, DeliveryState::Sending);
    assert_eq!(found.delivery.attempts, 1);
    assert_eq!(found.config, chat.config);
    assert_eq!(found.message, chat.message);
    assert_eq!(found.policy, chat.policy);
    assert_eq!(found.lease_until, Some(later(t0, 20)));

    // One process claims it; a second claim at the same time loses.
    assert!(
        store
            .claim_delivery("00000000000000a1", later(t0, 30), later(t0, 60))
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_delivery("00000000000000a1", later(t0, 30), later(t0, 60))
            .await
            .unwrap()
    );
    assert!(
        store
            .resumable_deliveries(later(t0, 45))
            .await
            .unwrap()
            .is_empty()
    );

    // The last error is kept until a new one replaces it; a delivered one is done.
    store
        .update_delivery(
            "00000000000000a1",
            &DeliveryUpdate {
                state: DeliveryState::Pending,
                attempts: 2,
                last_error: Some("team-chat: http://127.0.0.1:9 answered HTTP 503".to_owned()),
                lease_until: Some(later(t0, 70)),
            },
        )
        .await
        .unwrap();
    store
        .update_delivery(
            "00000000000000a1",
            &DeliveryUpdate {
                state: DeliveryState::Delivered,
                attempts: 3,
                last_error: None,
                lease_until: None,
            },
        )
        .await
        .unwrap();
    let done = &store.deliveries(Some(&build.id), 10).await.unwrap()[0];
    assert_eq!(done.state, DeliveryState::Delivered);
    assert_eq!(done.attempts, 3);
    assert_eq!(
        done.last_error.as_deref(),
        Some("team-chat: http://127.0.0.1:9 answered HTTP 503")
    );
    assert!(done.updated_at >= t0);
    assert!(
        store
            .resumable_deliveries(later(t0, 3600))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn sqlite_records_and_resumes_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    contract(Store::open_in(dir.path()).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_records_and_resumes_deliveries() {
    let postgres = chorale_testkit::Postgres::start().expect("a throw-away PostgreSQL starts");
    contract(Store::open(&postgres.url()).await.unwrap()).await;
}
