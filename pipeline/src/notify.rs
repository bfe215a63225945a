//! Telling people how a build went: every notifier of the product that subscribed to the event
//! gets a message, and every delivery is recorded in the store *before* it is sent, updated
//! after each attempt, and sent with the product's bounded retries (`spec.notificationRetry`).
//!
//! A channel that fails never fails the build: errors are recorded with the delivery and
//! logged, never returned, and the retries are bounded. A delivery left `pending` or `sending`
//! by a process that died is sent again by [`resume_pending`] once its sender's lease has run
//! out. What is stored — the message and the notifier's configuration — names where secrets
//! live but never holds one; they are read from the environment or files at each send.

use std::sync::Arc;
use std::time::Duration;

use chorale_reports::{
    AttemptEvent, Message, Notifier, NotifierConfig, Report, RetryPolicy, Templates, deliver,
};
use futures::future::join_all;
use jiff::Timestamp;

pub use chorale_reports::Event;

use crate::context::Context;
use crate::manifest::Product;
use crate::resources::delivery::{Delivery, DeliveryRecord, DeliveryState, DeliveryUpdate};
use crate::store::Store;

/// What a sender's lease covers beyond the attempt's own timeout or the wait before the next
/// attempt: a sender that has not written for this long after its lease is taken for dead.
const LEASE_SLACK: Duration = Duration::from_secs(5);

/// Tell every notifier of `product` that subscribed to `event` about the build `report`
/// describes, and return the deliveries as they ended.
///
/// Each delivery is recorded before it is sent, then sent with the product's retry policy;
/// all of them run at once. A notifier whose secret is missing or whose message cannot be
/// built is recorded as failed. A build's delivery of an event to a notifier happens once:
/// calling this again for the same build and event sends nothing more. Never fails.
pub async fn notify(
    context: &Context,
    product: &Product,
    report: &Report,
    event: Event,
) -> Vec<Delivery> {
    let reporting = &product.reporting;
    let templates = Arc::new(reporting.templates().unwrap_or_else(|error| {
        tracing::warn!(product = %product.name, %error, "e-mails use the built-in templates");
        Templates::builtin()
    }));
    let sends = reporting
        .notifications
        .iter()
        .filter(|config| config.events.contains(&event))
        .map(|config| send_new(context, config, &templates, report, event, reporting.retry));
    join_all(sends).await.into_iter().flatten().collect()
}

/// Send again every delivery that a process which died left `pending` or `sending` (its lease
/// ran out), continuing its attempt count; returns them as they ended. Call it when a Chorale
/// process starts. Deliveries another live process is sending are left alone, and two
/// processes resuming at once never send the same one twice. Never fails.
pub async fn resume_pending(context: &Context) -> Vec<Delivery> {
    let now = Timestamp::now();
    let records = match context.store.resumable_deliveries(now).await {
        Ok(records) => records,
        Err(error) => {
            tracing::error!(%error, "cannot look for notifications to resume");
            return Vec::new();
        }
    };
    join_all(
        records
            .into_iter()
            .map(|record| resume(context, record, now)),
    )
    .await
    .into_iter()
    .flatten()
    .collect()
}

/// Send the deliveries of `event` (about `version`, for `released`) of build `build_id` that
/// a process which died left `pending` or `sending`, each once its sender's lease ran out
/// (waiting for it), continuing its attempts; returns them as they ended. A resumed
/// publication calls it so that its `released` goes out even when the publisher died while
/// sending it, and only once. Never fails.
pub async fn resume_unsent(
    context: &Context,
    build_id: &str,
    event: Event,
    version: Option<&str>,
) -> Vec<Delivery> {
    let mut ended = Vec::new();
    loop {
        let records = match context
            .store
            .unsent_deliveries(build_id, event, version)
            .await
        {
            Ok(records) => records,
            Err(error) => {
                tracing::error!(build = build_id, %error, "cannot look for notifications left unsent");
                return ended;
            }
        };
        if records.is_empty() {
            return ended;
        }
        let now = Timestamp::now();
        let due: Vec<_> = records
            .into_iter()
            .filter(|record| record.lease_until.is_none_or(|until| until < now))
            .collect();
        if due.is_empty() {
            // A sender's lease runs still: it may be alive (it stops within its lease).
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let resumed = join_all(due.into_iter().map(|record| resume(context, record, now))).await;
        ended.extend(resumed.into_iter().flatten());
    }
}

/// Record a new delivery, then send it. `None` when it was recorded before (sent once
/// only) or cannot be recorded (then it is not sent either).
async fn send_new(
    context: &Context,
    config: &NotifierConfig,
    templates: &Arc<Templates>,
    report: &Report,
    event: Event,
    policy: RetryPolicy,
) -> Option<Delivery> {
    let channel = match config.kind() {
        Ok(channel) => channel,
        Err(error) => {
            // `load_product` refuses such a configuration; nothing can be sent or recorded.
            tracing::error!(build = %report.build_id, %error, "notifier skipped");
            return None;
        }
    };
    let now = Timestamp::now();
    let prepared = Notifier::from_config(config, Arc::clone(templates))
        .map_err(|error| error.to_string())
        .and_then(|notifier| {
            let message = notifier
                .message(report, event)
                .map_err(|error| format!("{}: cannot build the message: {error}", config.name))?;
            Ok((notifier, message))
        });
    let timeout = attempt_timeout(config);
    let mut record = DeliveryRecord {
        delivery: Delivery {
            id: format!("{:016x}", rand::random::<u64>()),
            build_id: report.build_id.clone(),
            notifier: config.name.clone(),
            channel,
            event,
            // A build releases an rc and then, promoted, its final version: each is announced.
            version: (event == Event::Released).then(|| report.candidate_version.clone()),
            state: DeliveryState::Pending,
            attempts: 0,
            last_error: None,
            created_at: now,
            updated_at: now,
        },
        config: config.clone(),
        message: None,
        policy,
        lease_until: Some(lease(now, timeout)),
    };
    match &prepared {
        Ok((_, message)) => record.message = Some(message.clone()),
        Err(error) => {
            record.delivery.state = DeliveryState::Failed;
            record.delivery.last_error = Some(error.clone());
            record.lease_until = None;
        }
    }
    let delivery = &record.delivery;
    match context.store.insert_delivery(&record).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(build = %delivery.build_id, notifier = %delivery.notifier, event = event.as_str(), "already notified; not sent again");
            return None;
        }
        Err(error) => {
            tracing::error!(build = %delivery.build_id, notifier = %delivery.notifier, %error, "cannot record the notification, so it is not sent");
            return None;
        }
    }
    match prepared {
        Ok((notifier, message)) => Some(
            send(
                context,
                record.delivery,
                &notifier,
                &message,
                &policy,
                timeout,
            )
            .await,
        ),
        Err(error) => {
            tracing::warn!(build = %delivery.build_id, notifier = %delivery.notifier, %error, "notification not sent");
            Some(record.delivery)
        }
    }
}

/// Claim a resumable delivery and send it, continuing its attempts.
async fn resume(context: &Context, record: DeliveryRecord, now: Timestamp) -> Option<Delivery> {
    let timeout = attempt_timeout(&record.config);
    let mut delivery = record.delivery;
    match context
        .store
        .claim_delivery(&delivery.id, now, lease(now, timeout))
        .await
    {
        Ok(true) => {}
        Ok(false) => return None,
        Err(error) => {
            tracing::error!(delivery = %delivery.id, %error, "cannot claim the notification to resume it");
            return None;
        }
    }
    tracing::info!(build = %delivery.build_id, notifier = %delivery.notifier, attempts = delivery.attempts, "resuming a notification");
    let prepared = Notifier::from_config(&record.config, Arc::new(Templates::builtin()))
        .map_err(|error| error.to_string())
        .and_then(|notifier| {
            record
                .message
                .map(|message| (notifier, message))
                .ok_or_else(|| {
                    format!(
                        "{}: the message was not recorded, so it cannot be sent again",
                        delivery.notifier
                    )
                })
        });
    match prepared {
        Ok((notifier, message)) => Some(
            send(
                context,
                delivery,
                &notifier,
                &message,
                &record.policy,
                timeout,
            )
            .await,
        ),
        Err(error) => {
            let update = DeliveryUpdate {
                state: DeliveryState::Failed,
                attempts: delivery.attempts,
                last_error: Some(error),
                lease_until: None,
            };
            write(&context.store, &delivery.id, &update).await;
            apply(&mut delivery, update);
            Some(delivery)
        }
    }
}

/// Make the attempts `policy` allows, recording each before it is made and the end.
async fn send(
    context: &Context,
    mut delivery: Delivery,
    notifier: &Notifier,
    message: &Message,
    policy: &RetryPolicy,
    timeout: Duration,
) -> Delivery {
    // The observer owns what it uses: with a borrow in it, the delivery's future could not be
    // proven `Send`, and could not run in a spawned task.
    let (store, id) = (context.store.clone(), delivery.id.clone());
    let retried_after = Arc::new(std::sync::Mutex::new(None::<String>));
    let last_retried = Arc::clone(&retried_after);
    let observe = move |event: AttemptEvent| {
        let (store, id, retried_after) = (store.clone(), id.clone(), Arc::clone(&retried_after));
        async move {
            let update = match event {
                AttemptEvent::Starting { attempt } => DeliveryUpdate {
                    state: DeliveryState::Sending,
                    attempts: attempt,
                    last_error: None,
                    lease_until: Some(lease(Timestamp::now(), timeout)),
                },
                AttemptEvent::Failed {
                    attempt,
                    error,
                    retry_in: Some(wait),
                } => {
                    let error = error.to_string();
                    *retried_after.lock().expect("not poisoned") = Some(error.clone());
                    DeliveryUpdate {
                        state: DeliveryState::Pending,
                        attempts: attempt,
                        last_error: Some(error),
                        lease_until: Some(lease(Timestamp::now(), wait)),
                    }
                }
                // The end is recorded once `deliver` returns.
                AttemptEvent::Delivered { .. } | AttemptEvent::Failed { retry_in: None, .. } => {
                    return;
                }
            };
            write(&store, &id, &update).await;
        }
    };
    let outcome = deliver(notifier, message, policy, delivery.attempts, observe).await;
    let update = DeliveryUpdate {
        state: if outcome.result.is_ok() {
            DeliveryState::Delivered
        } else {
            DeliveryState::Failed
        },
        attempts: outcome.attempts,
        last_error: outcome.result.err().map(|error| error.to_string()),
        lease_until: None,
    };
    write(&context.store, &delivery.id, &update).await;
    apply(&mut delivery, update);
    // A success keeps the error the last retry was made after, as the record does.
    if let Some(error) = last_retried.lock().expect("not poisoned").take() {
        delivery.last_error.get_or_insert(error);
    }
    delivery
}

/// Record an update; a store that fails is logged (the delivery goes on regardless).
async fn write(store: &Store, id: &str, update: &DeliveryUpdate) {
    if let Err(error) = store.update_delivery(id, update).await {
        tracing::error!(delivery = id, state = update.state.as_str(), %error, "cannot record the notification's progress");
    }
}

/// The record as `update` leaves it.
fn apply(delivery: &mut Delivery, update: DeliveryUpdate) {
    delivery.state = update.state;
    delivery.attempts = update.attempts;
    if update.last_error.is_some() {
        delivery.last_error = update.last_error;
    }
    delivery.updated_at = Timestamp::now();
}

/// How long one attempt of this notifier may take.
fn attempt_timeout(config: &NotifierConfig) -> Duration {
    Duration::from_secs(config.timeout_seconds.max(1))
}

/// The lease of a sender that is about to spend `busy` (an attempt or a wait).
fn lease(from: Timestamp, busy: Duration) -> Timestamp {
    let millis = i64::try_from((busy + LEASE_SLACK).as_millis()).unwrap_or(i64::MAX);
    Timestamp::from_millisecond(from.as_millisecond().saturating_add(millis))
        .unwrap_or(Timestamp::MAX)
}
