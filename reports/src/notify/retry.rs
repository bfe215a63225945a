//! Delivering a message: bounded attempts, exponential backoff with jitter, `Retry-After`
//! honoured, every attempt reported to the caller before it is made.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Message, Notifier};
use crate::errors::DeliveryError;

/// When and how often to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Base delay before the second attempt, in milliseconds; it doubles per attempt.
    pub initial_delay_ms: u64,
    /// Upper bound of the exponential delay, in milliseconds.
    pub max_delay_ms: u64,
    /// Upper bound of a receiver's `Retry-After`, in milliseconds.
    pub max_retry_after_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_delay_ms: 1_000,
            max_delay_ms: 60_000,
            max_retry_after_ms: 300_000,
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `next` (2 for the first retry) after `error`, or `None` when
    /// no further attempt should be made (the error is final or attempts are used up).
    ///
    /// A receiver's `Retry-After` is followed (capped at `max_retry_after_ms`); otherwise
    /// the delay is `initial · 2^(next-2)` capped at `max_delay_ms`, with "equal jitter":
    /// a random point in its upper half, so that many deliveries do not retry in step.
    pub fn delay_before(&self, next: u32, error: &DeliveryError) -> Option<Duration> {
        if next > self.max_attempts || !error.is_retryable() {
            return None;
        }
        if let Some(wait) = error.retry_after() {
            return Some(wait.min(Duration::from_millis(self.max_retry_after_ms)));
        }
        let exponent = next.saturating_sub(2).min(32);
        let base = self
            .initial_delay_ms
            .saturating_mul(1_u64 << exponent)
            .min(self.max_delay_ms);
        let half = base / 2;
        Some(Duration::from_millis(
            half + rand::random_range(0..=base - half),
        ))
    }
}

/// What happens to a delivery, reported as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptEvent {
    /// Attempt `attempt` (1-based, counting attempts made before a restart) is about to
    /// be sent. The caller records it; the send waits until the callback returns.
    Starting {
        /// The attempt's number.
        attempt: u32,
    },
    /// The attempt was accepted by the receiver.
    Delivered {
        /// The attempt's number.
        attempt: u32,
    },
    /// The attempt failed; `retry_in` is the wait before the next one, `None` when the
    /// delivery is given up.
    Failed {
        /// The attempt's number.
        attempt: u32,
        /// Why it failed (never holds a secret).
        error: DeliveryError,
        /// The wait before the next attempt.
        retry_in: Option<Duration>,
    },
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// Attempts made in all (including those before a restart).
    pub attempts: u32,
    /// `Ok` when delivered, otherwise the last error.
    pub result: Result<(), DeliveryError>,
}

/// Sends `message` through `notifier`, retrying as `policy` says.
///
/// `attempts_made` is the number of attempts recorded before (0 for a new delivery; the
/// count from the store when resuming after a restart). `observe` is awaited for every
/// [`AttemptEvent`], so the caller can persist each attempt before it is sent. The future
/// never panics on a failing channel and is cancel-safe: drop it (e.g. under
/// `tokio::time::timeout`) to stop retrying.
pub async fn deliver<F>(
    notifier: &Notifier,
    message: &Message,
    policy: &RetryPolicy,
    attempts_made: u32,
    mut observe: F,
) -> DeliveryOutcome
where
    F: AsyncFnMut(AttemptEvent),
{
    if attempts_made >= policy.max_attempts {
        return DeliveryOutcome {
            attempts: attempts_made,
            result: Err(DeliveryError::AttemptsExhausted {
                notifier: notifier.name().to_owned(),
                attempts: attempts_made,
            }),
        };
    }
    let mut attempt = attempts_made;
    loop {
        attempt += 1;
        observe(AttemptEvent::Starting { attempt }).await;
        match notifier.send(message).await {
            Ok(()) => {
                tracing::info!(
                    notifier = notifier.name(),
                    attempt,
                    "notification delivered"
                );
                observe(AttemptEvent::Delivered { attempt }).await;
                return DeliveryOutcome {
                    attempts: attempt,
                    result: Ok(()),
                };
            }
            Err(error) => {
                let retry_in = policy.delay_before(attempt + 1, &error);
                tracing::warn!(
                    notifier = notifier.name(),
                    attempt,
                    retry_in_ms = retry_in.map(|d| d.as_millis() as u64),
                    %error,
                    "notification attempt failed"
                );
                observe(AttemptEvent::Failed {
                    attempt,
                    error: error.clone(),
                    retry_in,
                })
                .await;
                match retry_in {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => {
                        return DeliveryOutcome {
                            attempts: attempt,
                            result: Err(error),
                        };
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error() -> DeliveryError {
        DeliveryError::Http {
            notifier: "n".into(),
            endpoint: "http://x".into(),
            status: 503,
            retry_after: None,
            body: String::new(),
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_delay_ms: 1_000,
            max_delay_ms: 5_000,
            max_retry_after_ms: 60_000,
        };
        for _ in 0..100 {
            let second = policy.delay_before(2, &server_error()).unwrap();
            assert!(
                (500..=1_000).contains(&(second.as_millis() as u64)),
                "{second:?}"
            );
            let third = policy.delay_before(3, &server_error()).unwrap();
            assert!(
                (1_000..=2_000).contains(&(third.as_millis() as u64)),
                "{third:?}"
            );
            let late = policy.delay_before(9, &server_error()).unwrap();
            assert!(
                (2_500..=5_000).contains(&(late.as_millis() as u64)),
                "{late:?}"
            );
        }
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let policy = RetryPolicy {
            max_retry_after_ms: 10_000,
            ..RetryPolicy::default()
        };
        let mut error = server_error();
        if let DeliveryError::Http {
            status,
            retry_after,
            ..
        } = &mut error
        {
            *status = 429;
            *retry_after = Some(Duration::from_secs(3));
        }
        assert_eq!(policy.delay_before(2, &error), Some(Duration::from_secs(3)));
        if let DeliveryError::Http { retry_after, .. } = &mut error {
            *retry_after = Some(Duration::from_hours(1));
        }
        assert_eq!(
            policy.delay_before(2, &error),
            Some(Duration::from_secs(10))
        );
    }

    #[test]
    fn no_retry_after_the_last_attempt_or_on_final_errors() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay_before(6, &server_error()), None);
        let refused = DeliveryError::Http {
            notifier: "n".into(),
            endpoint: "http://x".into(),
            status: 400,
            retry_after: None,
            body: "invalid_payload".into(),
        };
        assert_eq!(policy.delay_before(2, &refused), None);
    }
}
