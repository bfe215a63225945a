//! Deployments: one ReplicaSet per pod template, rolled from old to new by the RollingUpdate
//! or Recreate strategy, with the status fields and conditions that `kubectl rollout status`
//! and `helm --wait` read.

use std::sync::Arc;

use serde_json::{Value, json};

use super::pods;
use crate::events;
use crate::object::{ObjectExt, controller_reference, parse_time};
use crate::storage::{Storage, Target};

const HASH_LABEL: &str = "pod-template-hash";
const REVISION: &str = "deployment.kubernetes.io/revision";

fn revision(rs: &Value) -> i64 {
    rs.annotation(REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn spec_replicas(rs: &Value) -> i64 {
    rs.i64_at("/spec/replicas").unwrap_or(0)
}

fn status_of(rs: &Value, field: &str) -> i64 {
    rs.i64_at(&format!("/status/{field}")).unwrap_or(0)
}

/// Reconciles every Deployment.
pub fn reconcile(storage: &Storage) {
    let deployments = storage.resource("apps", "deployments");
    let (all, _) = storage.store.list(&deployments.key(), None);
    for deployment in all {
        if !deployment.is_deleting() {
            reconcile_one(storage, &deployment);
        }
    }
}

/// Records that a ReplicaSet of `deployment` was scaled.
fn scaling_event(storage: &Storage, deployment: &Value, replica_set: &str, from: i64, to: i64) {
    let direction = if to > from { "up" } else { "down" };
    let message = format!("Scaled {direction} replica set {replica_set} from {from} to {to}");
    events::record(
        storage,
        deployment,
        "deployment-controller",
        events::Kind::Normal,
        "ScalingReplicaSet",
        &message,
    );
}

fn scale(storage: &Storage, deployment: &Value, rs: &Value, replicas: i64) {
    let current = spec_replicas(rs);
    if current == replicas {
        return;
    }
    scaling_event(storage, deployment, rs.name(), current, replicas);
    let replicasets = storage.resource("apps", "replicasets");
    let _ = storage.modify(
        &replicasets,
        rs.namespace(),
        rs.name(),
        Target::Main,
        |object| {
            object["spec"]["replicas"] = json!(replicas);
            if let Some(Value::Object(annotations)) = object.pointer_mut("/metadata/annotations") {
                annotations.insert(
                    "deployment.kubernetes.io/desired-replicas".into(),
                    json!(replicas.to_string()),
                );
            }
        },
    );
}

fn reconcile_one(storage: &Storage, deployment: &Arc<Value>) {
    let replicasets = storage.resource("apps", "replicasets");
    let namespace = deployment.namespace();
    let replicas = deployment.i64_at("/spec/replicas").unwrap_or(1);
    let template = deployment
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(json!({}));
    let mut owned = pods::controlled(storage, &replicasets, namespace, deployment.uid());
    owned.sort_by_key(|rs| revision(rs));
    let bare = pods::template_without(&template, &[HASH_LABEL]);
    let new_rs = owned
        .iter()
        .find(|rs| {
            rs.pointer("/spec/template")
                .is_some_and(|t| pods::template_without(t, &[HASH_LABEL]) == bare)
        })
        .cloned();
    let paused = deployment
        .pointer("/spec/paused")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let strategy = deployment
        .str_at("/spec/strategy/type")
        .unwrap_or("RollingUpdate");
    let surge = pods::int_or_percent(
        deployment.pointer("/spec/strategy/rollingUpdate/maxSurge"),
        replicas,
        true,
        1,
    );
    let mut unavailable = pods::int_or_percent(
        deployment.pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
        replicas,
        false,
        0,
    );
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    let (surge, unavailable) = if strategy == "RollingUpdate" {
        (surge, unavailable)
    } else {
        (0, replicas)
    };

    let mut created = false;
    let new_rs = match new_rs {
        Some(rs) => rs,
        None if paused => {
            return update_status(
                storage,
                deployment,
                &owned,
                None,
                replicas,
                unavailable,
                false,
            );
        }
        None => {
            let collisions = deployment.i64_at("/status/collisionCount").unwrap_or(0);
            let hash = pods::template_hash(&bare, collisions);
            let next_revision = owned.iter().map(|rs| revision(rs)).max().unwrap_or(0) + 1;
            let old_total: i64 = owned.iter().map(|rs| spec_replicas(rs)).sum();
            let initial = if strategy == "Recreate" {
                0
            } else {
                (replicas + surge - old_total).clamp(0, replicas)
            };
            let mut rs_template = template.clone();
            rs_template["metadata"]["labels"][HASH_LABEL] = json!(hash);
            let mut selector = deployment
                .pointer("/spec/selector")
                .cloned()
                .unwrap_or(json!({}));
            selector["matchLabels"][HASH_LABEL] = json!(hash);
            let mut labels = template
                .pointer("/metadata/labels")
                .cloned()
                .unwrap_or(json!({}));
            labels[HASH_LABEL] = json!(hash);
            let rs = json!({
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": format!("{}-{hash}", deployment.name()),
                    "labels": labels,
                    "annotations": {
                        REVISION: next_revision.to_string(),
                        "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                        "deployment.kubernetes.io/max-replicas": (replicas + surge).to_string(),
                    },
                    "ownerReferences": [controller_reference(deployment)],
                },
                "spec": {
                    "replicas": initial,
                    "minReadySeconds": deployment.i64_at("/spec/minReadySeconds").unwrap_or(0),
                    "selector": selector,
                    "template": rs_template,
                },
            });
            match storage.create(&replicasets, namespace, rs, false) {
                Ok(rs) => {
                    created = true;
                    scaling_event(storage, deployment, rs.name(), 0, initial);
                    rs
                }
                Err(error) => {
                    tracing::warn!(deployment = deployment.name(), %error, "creating the ReplicaSet failed");
                    return;
                }
            }
        }
    };
    if deployment.annotation(REVISION) != new_rs.annotation(REVISION) {
        let deployment_type = storage.resource("apps", "deployments");
        let revision = new_rs.annotation(REVISION).unwrap_or("1").to_owned();
        let _ = storage.modify(
            &deployment_type,
            namespace,
            deployment.name(),
            Target::Main,
            |object| {
                let annotations = crate::object::child_map(object.meta_mut(), "annotations");
                annotations.insert(REVISION.into(), json!(revision));
            },
        );
    }
    let old: Vec<&Arc<Value>> = owned.iter().filter(|rs| rs.uid() != new_rs.uid()).collect();
    if !paused {
        if strategy == "Recreate" {
            for rs in &old {
                scale(storage, deployment, rs, 0);
            }
            let old_running: i64 = old.iter().map(|rs| status_of(rs, "replicas")).sum();
            if old_running == 0 {
                scale(storage, deployment, &new_rs, replicas);
            }
        } else {
            roll(
                storage,
                deployment,
                &new_rs,
                &old,
                replicas,
                surge,
                unavailable,
            );
        }
        cleanup(storage, deployment, &old);
    }
    let owned = pods::controlled(storage, &replicasets, namespace, deployment.uid());
    update_status(
        storage,
        deployment,
        &owned,
        Some(&new_rs),
        replicas,
        unavailable,
        created,
    );
}

fn roll(
    storage: &Storage,
    deployment: &Value,
    new_rs: &Value,
    old: &[&Arc<Value>],
    replicas: i64,
    surge: i64,
    unavailable: i64,
) {
    let total: i64 = old.iter().map(|rs| spec_replicas(rs)).sum::<i64>() + spec_replicas(new_rs);
    let new_replicas = spec_replicas(new_rs);
    if new_replicas > replicas || old.iter().all(|rs| spec_replicas(rs) == 0) {
        scale(storage, deployment, new_rs, replicas);
    } else if new_replicas < replicas {
        let room = replicas + surge - total;
        if room > 0 {
            scale(
                storage,
                deployment,
                new_rs,
                (new_replicas + room).min(replicas),
            );
        }
    }
    let min_available = replicas - unavailable;
    let new_unavailable = (spec_replicas(new_rs) - status_of(new_rs, "availableReplicas")).max(0);
    let mut budget = total - min_available - new_unavailable;
    // First drop old replicas that are not available anyway, then available ones as far as
    // the availability budget allows.
    let mut scaled: Vec<(String, i64)> = old
        .iter()
        .map(|rs| (rs.uid().to_owned(), spec_replicas(rs)))
        .collect();
    for (rs, (_, target)) in old.iter().zip(scaled.iter_mut()) {
        if budget <= 0 {
            break;
        }
        let unhealthy = (*target - status_of(rs, "availableReplicas")).max(0);
        let drop = unhealthy.min(budget);
        *target -= drop;
        budget -= drop;
    }
    let available: i64 = old
        .iter()
        .map(|rs| status_of(rs, "availableReplicas"))
        .sum::<i64>()
        + status_of(new_rs, "availableReplicas");
    let mut removable = available - min_available;
    for (_, target) in &mut scaled {
        if removable <= 0 {
            break;
        }
        let drop = (*target).min(removable);
        *target -= drop;
        removable -= drop;
    }
    for (rs, (_, target)) in old.iter().zip(scaled) {
        scale(storage, deployment, rs, target.min(spec_replicas(rs)));
    }
}

fn cleanup(storage: &Storage, deployment: &Value, old: &[&Arc<Value>]) {
    let limit = deployment
        .i64_at("/spec/revisionHistoryLimit")
        .unwrap_or(10);
    let idle: Vec<&&Arc<Value>> = old
        .iter()
        .filter(|rs| spec_replicas(rs) == 0 && status_of(rs, "replicas") == 0 && !rs.is_deleting())
        .collect();
    let excess = idle
        .len()
        .saturating_sub(usize::try_from(limit).unwrap_or(0));
    let replicasets = storage.resource("apps", "replicasets");
    for rs in idle.into_iter().take(excess) {
        pods::delete(storage, &replicasets, rs);
    }
}

fn update_status(
    storage: &Storage,
    deployment: &Value,
    owned: &[Arc<Value>],
    new_rs: Option<&Arc<Value>>,
    replicas: i64,
    unavailable: i64,
    created: bool,
) {
    let sum = |field: &str| owned.iter().map(|rs| status_of(rs, field)).sum::<i64>();
    let current_replicas = sum("replicas");
    let ready = sum("readyReplicas");
    let available = sum("availableReplicas");
    let updated = new_rs.map_or(0, |rs| status_of(rs, "replicas"));
    let new_name = new_rs.map_or("", |rs| rs.name());
    let previous = deployment.pointer("/status");
    let progressed = previous.is_none_or(|p| {
        p["updatedReplicas"] != json!(updated)
            || p["availableReplicas"] != json!(available)
            || p["readyReplicas"] != json!(ready)
    }) || created;
    let available_condition = pods::condition_json(
        pods::find_condition(deployment, "Available"),
        "Available",
        available >= replicas - unavailable,
        if available >= replicas - unavailable {
            "MinimumReplicasAvailable"
        } else {
            "MinimumReplicasUnavailable"
        },
        if available >= replicas - unavailable {
            "Deployment has minimum availability."
        } else {
            "Deployment does not have minimum availability."
        },
        false,
    );
    let complete = updated == replicas
        && available == replicas
        && current_replicas == replicas
        && new_rs.is_some_and(|rs| status_of(rs, "availableReplicas") == replicas);
    let previous_progressing = pods::find_condition(deployment, "Progressing");
    let deadline = deployment
        .i64_at("/spec/progressDeadlineSeconds")
        .unwrap_or(600);
    let stalled = !complete
        && !progressed
        && previous_progressing
            .and_then(|c| c["lastUpdateTime"].as_str())
            .and_then(parse_time)
            .is_some_and(|since| (jiff::Timestamp::now() - since).get_seconds() > deadline);
    let progressing = if complete {
        pods::condition_json(
            previous_progressing,
            "Progressing",
            true,
            "NewReplicaSetAvailable",
            &format!("ReplicaSet \"{new_name}\" has successfully progressed."),
            progressed,
        )
    } else if stalled
        || previous_progressing
            .is_some_and(|c| c["reason"] == "ProgressDeadlineExceeded" && !progressed)
    {
        pods::condition_json(
            previous_progressing,
            "Progressing",
            false,
            "ProgressDeadlineExceeded",
            &format!("ReplicaSet \"{new_name}\" has timed out progressing."),
            false,
        )
    } else if created {
        pods::condition_json(
            previous_progressing,
            "Progressing",
            true,
            "NewReplicaSetCreated",
            &format!("Created new replica set \"{new_name}\""),
            true,
        )
    } else {
        pods::condition_json(
            previous_progressing,
            "Progressing",
            true,
            "ReplicaSetUpdated",
            &format!("ReplicaSet \"{new_name}\" is progressing."),
            progressed,
        )
    };
    let mut status = json!({
        "observedGeneration": deployment.i64_at("/metadata/generation").unwrap_or(1),
        "replicas": current_replicas,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "conditions": [available_condition, progressing],
    });
    let missing = (replicas.max(current_replicas) - available).max(0);
    if missing > 0 {
        status["unavailableReplicas"] = json!(missing);
    }
    if let Some(collisions) = deployment.pointer("/status/collisionCount") {
        status["collisionCount"] = collisions.clone();
    }
    let deployments = storage.resource("apps", "deployments");
    let _ = storage.set_status(
        &deployments,
        deployment.namespace(),
        deployment.name(),
        status,
    );
}
