//! Checking how a product reports its builds: `spec.reportTemplates`, `spec.notifications`
//! and `spec.notificationRetry`.

use std::collections::HashMap;
use std::path::Path;

use chorale_reports::{NotifierConfig, RetryPolicy, Templates};
use serde_saphyr::{Location, Spanned};

use super::Reporting;

/// Most attempts a notification may make: a failing channel must not hold a build for long.
const MAX_ATTEMPTS: u32 = 10;
/// Longest wait between two attempts that may be configured (10 minutes).
const MAX_DELAY_MS: u64 = 600_000;
/// Longest `Retry-After` that may be honoured (1 hour).
const MAX_RETRY_AFTER_MS: u64 = 3_600_000;

/// The checked reporting settings, and every problem found (where, what), for a product file
/// in `base`.
pub(super) fn check_reporting(
    base: &Path,
    templates: Option<&Spanned<String>>,
    notifications: Vec<Spanned<NotifierConfig>>,
    retry: Option<&Spanned<RetryPolicy>>,
) -> (Reporting, Vec<(Location, String)>) {
    let mut problems = Vec::new();
    let templates = templates.and_then(|dir| check_templates(base, dir, &mut problems));
    let notifications = check_notifications(base, notifications, &mut problems);
    let retry = retry.map_or_else(RetryPolicy::default, |policy| {
        check_retry(policy, &mut problems);
        policy.value
    });
    (
        Reporting {
            templates,
            notifications,
            retry,
        },
        problems,
    )
}

/// The override folder: it exists, holds at least one template, and each one compiles.
fn check_templates(
    base: &Path,
    dir: &Spanned<String>,
    problems: &mut Vec<(Location, String)>,
) -> Option<std::path::PathBuf> {
    let path = base.join(&dir.value);
    if !path.is_dir() {
        problems.push((
            dir.referenced,
            format!(
                "reportTemplates `{}` is not a folder (looked for {}); the path is relative to the product file",
                dir.value,
                path.display()
            ),
        ));
        return None;
    }
    match Templates::with_overrides(&path) {
        Ok(templates) if templates.overridden().is_empty() => {
            problems.push((
                dir.referenced,
                format!(
                    "reportTemplates folder {} holds none of report.md.j2, report.html.j2, email.html.j2, email.txt.j2; name each override like the built-in template it replaces",
                    path.display()
                ),
            ));
            None
        }
        Ok(_) => Some(std::path::absolute(&path).unwrap_or(path)),
        Err(error) => {
            problems.push((dir.referenced, format!("reportTemplates: {error}")));
            None
        }
    }
}

/// Each notifier: a unique name, at least one event, one channel configured as it must be.
/// Its file paths become relative to the product file's folder.
fn check_notifications(
    base: &Path,
    notifications: Vec<Spanned<NotifierConfig>>,
    problems: &mut Vec<(Location, String)>,
) -> Vec<NotifierConfig> {
    let mut seen: HashMap<String, Location> = HashMap::new();
    let mut checked = Vec::with_capacity(notifications.len());
    for Spanned {
        value: mut config,
        referenced: at,
        ..
    } in notifications
    {
        if config.name.trim().is_empty() {
            problems.push((
                at,
                "a notifier needs a `name` (used in delivery records and errors)".to_owned(),
            ));
        } else if let Some(first) = seen.get(&config.name) {
            problems.push((
                at,
                format!(
                    "notifier `{}` is defined twice (first at line {}); notifier names must be unique",
                    config.name,
                    first.line()
                ),
            ));
        } else {
            seen.insert(config.name.clone(), at);
        }
        if config.events.is_empty() {
            problems.push((
                at,
                format!(
                    "notifier `{}` has no events; list some of success, failure, approval-needed, released, or omit `events` for all of them",
                    config.name
                ),
            ));
        }
        if let Err(error) = config.check() {
            problems.push((at, error.to_string()));
        }
        config.relative_to(base);
        checked.push(config);
    }
    checked
}

/// Retries stay bounded.
fn check_retry(policy: &Spanned<RetryPolicy>, problems: &mut Vec<(Location, String)>) {
    let value = &policy.value;
    if !(1..=MAX_ATTEMPTS).contains(&value.max_attempts) {
        problems.push((
            policy.referenced,
            format!(
                "notificationRetry.maxAttempts is {}; use 1 to {MAX_ATTEMPTS} (the first attempt included)",
                value.max_attempts
            ),
        ));
    }
    if value.max_delay_ms > MAX_DELAY_MS || value.initial_delay_ms > value.max_delay_ms {
        problems.push((
            policy.referenced,
            format!(
                "notificationRetry delays must satisfy initialDelayMs <= maxDelayMs <= {MAX_DELAY_MS} (they are {} and {})",
                value.initial_delay_ms, value.max_delay_ms
            ),
        ));
    }
    if value.max_retry_after_ms > MAX_RETRY_AFTER_MS {
        problems.push((
            policy.referenced,
            format!(
                "notificationRetry.maxRetryAfterMs is {}; use at most {MAX_RETRY_AFTER_MS} (one hour)",
                value.max_retry_after_ms
            ),
        ));
    }
}
