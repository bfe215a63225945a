//! StatefulSets: pods `NAME-0` … `NAME-(n-1)` with stable hostnames and claims from
//! `volumeClaimTemplates`, created in order (OrderedReady) or at once (Parallel), updated one
//! at a time from the highest ordinal down to the partition.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::pods;
use crate::object::ObjectExt;
use crate::storage::Storage;

const REVISION_LABEL: &str = "controller-revision-hash";

/// Reconciles every StatefulSet.
pub fn reconcile(storage: &Storage) {
    let statefulsets = storage.resource("apps", "statefulsets");
    let (all, _) = storage.store.list(&statefulsets.key(), None);
    for set in all {
        reconcile_one(storage, &set);
    }
}

fn ordinal(set: &Value, pod: &Value) -> Option<i64> {
    pod.name()
        .strip_prefix(&format!("{}-", set.name()))?
        .parse()
        .ok()
}

fn ensure_claims(storage: &Storage, set: &Value, index: i64) -> Vec<Value> {
    let claims = storage.resource("", "persistentvolumeclaims");
    let mut volumes = Vec::new();
    for template in set
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let template_name = template.str_at("/metadata/name").unwrap_or("data");
        let claim_name = format!("{template_name}-{}-{index}", set.name());
        if storage
            .store
            .get(&claims.key(), set.namespace(), &claim_name)
            .is_none()
        {
            let mut labels = set
                .pointer("/spec/selector/matchLabels")
                .cloned()
                .unwrap_or(json!({}));
            if let Some(Value::Object(extra)) = template.pointer("/metadata/labels") {
                for (k, v) in extra {
                    labels[k] = v.clone();
                }
            }
            let claim = json!({
                "metadata": {"name": claim_name, "labels": labels},
                "spec": template.get("spec").cloned().unwrap_or(json!({})),
            });
            if let Err(error) = storage.create(&claims, set.namespace(), claim, false) {
                tracing::warn!(statefulset = set.name(), %error, "creating a claim failed");
            }
        }
        volumes.push(
            json!({"name": template_name, "persistentVolumeClaim": {"claimName": claim_name}}),
        );
    }
    volumes
}

fn create_pod(storage: &Storage, set: &Arc<Value>, index: i64, revision: &str) {
    let name = format!("{}-{index}", set.name());
    let template = set.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let claim_volumes = ensure_claims(storage, set, index);
    let service = set.str_at("/spec/serviceName").unwrap_or("").to_owned();
    let hostname = name.clone();
    pods::create_from_template(
        storage,
        set,
        &template,
        Some(name.clone()),
        &[
            (REVISION_LABEL, revision.to_owned()),
            ("statefulset.kubernetes.io/pod-name", name),
            ("apps.kubernetes.io/pod-index", index.to_string()),
        ],
        |spec: &mut Map<String, Value>| {
            spec.insert("hostname".into(), json!(hostname));
            if !service.is_empty() {
                spec.insert("subdomain".into(), json!(service));
            }
            let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
            if let Value::Array(list) = volumes {
                for claim in claim_volumes {
                    let claim_name = claim["name"].clone();
                    list.retain(|v| v["name"] != claim_name);
                    list.push(claim);
                }
            }
        },
    );
}

fn reconcile_one(storage: &Storage, set: &Arc<Value>) {
    let pod_type = storage.resource("", "pods");
    let namespace = set.namespace();
    let replicas = set.i64_at("/spec/replicas").unwrap_or(1);
    let parallel = set.str_at("/spec/podManagementPolicy") == Some("Parallel");
    let template = set.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let update_revision = format!(
        "{}-{}",
        set.name(),
        pods::template_hash(&pods::template_without(&template, &[REVISION_LABEL]), 0)
    );
    let current_revision = set
        .str_at("/status/currentRevision")
        .map_or_else(|| update_revision.clone(), str::to_owned);
    let partition = set
        .i64_at("/spec/updateStrategy/rollingUpdate/partition")
        .unwrap_or(0);
    let rolling = set
        .str_at("/spec/updateStrategy/type")
        .unwrap_or("RollingUpdate")
        == "RollingUpdate";
    let mut owned = pods::controlled_pods(storage, namespace, set.uid());
    owned.sort_by_key(|p| ordinal(set, p).unwrap_or(i64::MAX));

    if !set.is_deleting() {
        // Replace finished pods, create missing ones in order.
        for pod in owned
            .iter()
            .filter(|p| pods::is_terminal(p) && !p.is_deleting())
        {
            pods::delete(storage, &pod_type, pod);
        }
        for index in 0..replicas {
            let existing = owned.iter().find(|p| ordinal(set, p) == Some(index));
            match existing {
                None => {
                    let revision = if index < partition {
                        &current_revision
                    } else {
                        &update_revision
                    };
                    create_pod(storage, set, index, revision);
                    if !parallel {
                        break;
                    }
                }
                Some(pod) if !parallel && (!pods::is_ready(pod) || pod.is_deleting()) => break,
                Some(_) => {}
            }
        }
        // Scale down from the highest ordinal.
        let mut extra: Vec<&Arc<Value>> = owned
            .iter()
            .filter(|p| ordinal(set, p).is_some_and(|o| o >= replicas) && !p.is_deleting())
            .collect();
        extra.reverse();
        for pod in extra
            .into_iter()
            .take(if parallel { usize::MAX } else { 1 })
        {
            pods::delete(storage, &pod_type, pod);
        }
        // Roll one pod at a time once every pod runs and is ready.
        let all_ready = (0..replicas).all(|i| {
            owned
                .iter()
                .any(|p| ordinal(set, p) == Some(i) && pods::is_ready(p) && !p.is_deleting())
        });
        if rolling && all_ready {
            let stale = owned.iter().rev().find(|p| {
                ordinal(set, p).is_some_and(|o| o >= partition && o < replicas)
                    && p.label(REVISION_LABEL) != Some(update_revision.as_str())
            });
            if let Some(pod) = stale {
                pods::delete(storage, &pod_type, pod);
            }
        }
    }

    let owned = pods::controlled_pods(storage, namespace, set.uid());
    let active: Vec<&Arc<Value>> = owned.iter().filter(|p| !p.is_deleting()).collect();
    let min_ready = set.i64_at("/spec/minReadySeconds").unwrap_or(0);
    let updated = active
        .iter()
        .filter(|p| p.label(REVISION_LABEL) == Some(update_revision.as_str()))
        .count() as i64;
    let ready = active.iter().filter(|p| pods::is_ready(p)).count() as i64;
    let available = active
        .iter()
        .filter(|p| pods::is_available(p, min_ready))
        .count() as i64;
    let done = updated == replicas && ready == replicas && active.len() as i64 == replicas;
    let current_revision = if done {
        update_revision.clone()
    } else {
        current_revision
    };
    let current = active
        .iter()
        .filter(|p| p.label(REVISION_LABEL) == Some(current_revision.as_str()))
        .count() as i64;
    let status = json!({
        "observedGeneration": set.i64_at("/metadata/generation").unwrap_or(1),
        "replicas": active.len(),
        "readyReplicas": ready,
        "currentReplicas": current,
        "updatedReplicas": updated,
        "availableReplicas": available,
        "currentRevision": current_revision,
        "updateRevision": update_revision,
        "collisionCount": 0,
    });
    let statefulsets = storage.resource("apps", "statefulsets");
    let _ = storage.set_status(&statefulsets, namespace, set.name(), status);
}
