//! Jobs: run pods until `completions` succeeded (at most `parallelism` at a time), fail after
//! `backoffLimit` failures (with the exponential pod back-off) or past
//! `activeDeadlineSeconds`, and report counts and conditions as the Job controller does.

use std::sync::Arc;

use serde_json::{Value, json};

use super::pods;
use crate::events;
use crate::object::{ObjectExt, now_rfc3339, parse_time};
use crate::storage::{DeleteOptions, Storage};

/// The first delay before a failed pod is replaced; it doubles per failure.
const BACKOFF_BASE_SECONDS: i64 = 10;
/// The longest delay.
const BACKOFF_MAX_SECONDS: i64 = 360;

fn finished(job: &Value) -> Option<&'static str> {
    for kind in ["Complete", "Failed"] {
        if pods::find_condition(job, kind).is_some_and(|c| c["status"] == "True") {
            return Some(if kind == "Complete" {
                "Complete"
            } else {
                "Failed"
            });
        }
    }
    None
}

fn condition(kind: &str, reason: &str, message: &str) -> Value {
    let now = now_rfc3339();
    json!({
        "type": kind,
        "status": "True",
        "lastProbeTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    })
}

/// When the last failed pod of the job stopped.
fn last_failure(pods_of_job: &[Arc<Value>]) -> Option<jiff::Timestamp> {
    pods_of_job
        .iter()
        .filter(|p| p.str_at("/status/phase") == Some("Failed"))
        .flat_map(|p| {
            p.pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    c.pointer("/state/terminated/finishedAt")
                        .and_then(Value::as_str)
                })
                .filter_map(parse_time)
                .collect::<Vec<_>>()
        })
        .max()
}

/// Reconciles every Job.
pub fn reconcile(storage: &Storage) {
    let jobs = storage.resource("batch", "jobs");
    let (all, _) = storage.store.list(&jobs.key(), None);
    for job in all {
        if !job.is_deleting() {
            reconcile_one(storage, &job);
        }
    }
}

fn reconcile_one(storage: &Storage, job: &Arc<Value>) {
    let jobs = storage.resource("batch", "jobs");
    let pod_type = storage.resource("", "pods");
    let namespace = job.namespace();
    let owned = pods::controlled_pods(storage, namespace, job.uid());
    let active: Vec<&Arc<Value>> = owned.iter().filter(|p| pods::is_active(p)).collect();

    if let Some(outcome) = finished(job) {
        for pod in &active {
            pods::delete(storage, &pod_type, pod);
        }
        if let Some(ttl) = job.i64_at("/spec/ttlSecondsAfterFinished") {
            let done_at = job
                .str_at("/status/completionTime")
                .or_else(|| {
                    pods::find_condition(job, outcome)
                        .and_then(|c| c["lastTransitionTime"].as_str())
                })
                .and_then(parse_time);
            if done_at.is_some_and(|t| (jiff::Timestamp::now() - t).get_seconds() >= ttl) {
                let options = DeleteOptions {
                    propagation: Some("Background".into()),
                    ..DeleteOptions::default()
                };
                let _ = storage.delete(&jobs, namespace, job.name(), &options);
            }
        }
        return;
    }

    let suspended = job
        .pointer("/spec/suspend")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let completions = job.i64_at("/spec/completions");
    let parallelism = job.i64_at("/spec/parallelism").unwrap_or(1);
    let backoff_limit = job.i64_at("/spec/backoffLimit").unwrap_or(6);
    let succeeded = owned
        .iter()
        .filter(|p| p.str_at("/status/phase") == Some("Succeeded"))
        .count() as i64;
    let failed_pods = owned
        .iter()
        .filter(|p| p.str_at("/status/phase") == Some("Failed"))
        .count() as i64;
    let restarts: i64 = owned
        .iter()
        .filter(|p| p.str_at("/spec/restartPolicy") == Some("OnFailure"))
        .flat_map(|p| {
            p.pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|c| c["restartCount"].as_i64())
        .sum();
    let failures = failed_pods + restarts;
    let start_time = job
        .str_at("/status/startTime")
        .map(str::to_owned)
        .or_else(|| (!suspended).then(now_rfc3339));
    let mut conditions: Vec<Value> = job
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut completion_time = None;

    let deadline_passed = job
        .i64_at("/spec/activeDeadlineSeconds")
        .is_some_and(|deadline| {
            start_time
                .as_deref()
                .and_then(parse_time)
                .is_some_and(|start| (jiff::Timestamp::now() - start).get_seconds() >= deadline)
        });
    let complete = match completions {
        Some(wanted) => succeeded >= wanted,
        None => succeeded > 0 && active.is_empty(),
    };
    let mut finish =
        |types: [&str; 2], reason: &str, message: &str, event: (events::Kind, &str, &str)| {
            for kind in types {
                conditions.push(condition(kind, reason, message));
            }
            events::record(storage, job, "job-controller", event.0, event.1, event.2);
        };
    if complete {
        finish(
            ["SuccessCriteriaMet", "Complete"],
            "CompletionsReached",
            "Reached expected number of succeeded pods",
            (events::Kind::Normal, "Completed", "Job completed"),
        );
        completion_time = Some(now_rfc3339());
    } else if failures > backoff_limit {
        let message = "Job has reached the specified backoff limit";
        finish(
            ["FailureTarget", "Failed"],
            "BackoffLimitExceeded",
            message,
            (events::Kind::Warning, "BackoffLimitExceeded", message),
        );
    } else if deadline_passed {
        let message = "Job was active longer than specified deadline";
        finish(
            ["FailureTarget", "Failed"],
            "DeadlineExceeded",
            message,
            (events::Kind::Warning, "DeadlineExceeded", message),
        );
    } else if suspended {
        for pod in &active {
            pods::delete(storage, &pod_type, pod);
        }
    } else {
        let wanted = match completions {
            Some(total) => parallelism.min(total - succeeded).max(0),
            None if succeeded > 0 => 0,
            None => parallelism,
        };
        let current = active.len() as i64;
        let backoff = (failures > 0).then(|| {
            let exponent = u32::try_from(failures - 1).unwrap_or(u32::MAX).min(16);
            (BACKOFF_BASE_SECONDS.saturating_mul(1 << exponent)).min(BACKOFF_MAX_SECONDS)
        });
        let waited = match (backoff, last_failure(&owned)) {
            (Some(delay), Some(last)) => (jiff::Timestamp::now() - last).get_seconds() >= delay,
            _ => true,
        };
        if current < wanted && waited {
            let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
            for _ in current..wanted {
                pods::create_from_template(storage, job, &template, None, &[], |_| {});
            }
        } else if current > wanted {
            for pod in active
                .iter()
                .take(usize::try_from(current - wanted).unwrap_or(0))
            {
                pods::delete(storage, &pod_type, pod);
            }
        }
    }

    let owned = pods::controlled_pods(storage, namespace, job.uid());
    let active_now = owned.iter().filter(|p| pods::is_active(p)).count();
    let ready = owned
        .iter()
        .filter(|p| pods::is_active(p) && pods::is_ready(p))
        .count();
    let terminating = owned.iter().filter(|p| p.is_deleting()).count();
    let mut status = json!({
        "active": active_now,
        "succeeded": succeeded,
        "failed": failures,
        "ready": ready,
        "terminating": terminating,
        "uncountedTerminatedPods": {},
    });
    if let Some(start) = start_time {
        status["startTime"] = json!(start);
    }
    if let Some(time) =
        completion_time.or_else(|| job.str_at("/status/completionTime").map(str::to_owned))
    {
        status["completionTime"] = json!(time);
    }
    if !conditions.is_empty() {
        status["conditions"] = json!(conditions);
    }
    for key in ["active", "succeeded", "failed", "terminating"] {
        if status[key] == 0 {
            status.as_object_mut().expect("an object").remove(key);
        }
    }
    let _ = storage.set_status(&jobs, namespace, job.name(), status);
    if finished(
        &storage
            .store
            .get(&jobs.key(), namespace, job.name())
            .unwrap_or_else(|| job.clone()),
    )
    .is_some()
    {
        for pod in pods::controlled_pods(storage, namespace, job.uid())
            .iter()
            .filter(|p| pods::is_active(p))
        {
            pods::delete(storage, &pod_type, pod);
        }
    }
}
