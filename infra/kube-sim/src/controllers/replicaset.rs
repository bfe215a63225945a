//! ReplicaSets: keep `spec.replicas` active pods, report ready and available ones.

use serde_json::{Value, json};

use super::pods;
use crate::object::ObjectExt;
use crate::storage::Storage;

/// Reconciles every ReplicaSet.
pub fn reconcile(storage: &Storage) {
    let replicasets = storage.resource("apps", "replicasets");
    let pod_type = storage.resource("", "pods");
    let (all, _) = storage.store.list(&replicasets.key(), None);
    for rs in all {
        let namespace = rs.namespace();
        let replicas = rs.i64_at("/spec/replicas").unwrap_or(1);
        let min_ready = rs.i64_at("/spec/minReadySeconds").unwrap_or(0);
        let owned = pods::controlled_pods(storage, namespace, rs.uid());
        let mut active: Vec<&Value> = owned
            .iter()
            .map(AsRef::as_ref)
            .filter(|p| pods::is_active(p))
            .collect();
        let count = active.len() as i64;
        if !rs.is_deleting() && count < replicas {
            let template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
            for _ in count..replicas {
                pods::create_from_template(storage, &rs, &template, None, &[], |_| {});
            }
        } else if count > replicas {
            // Remove the least useful pods first: not ready before ready, newest first.
            active.sort_by_key(|p| {
                (
                    pods::is_ready(p),
                    std::cmp::Reverse(
                        p.str_at("/metadata/creationTimestamp")
                            .unwrap_or("")
                            .to_owned(),
                    ),
                )
            });
            for pod in active
                .iter()
                .take(usize::try_from(count - replicas).unwrap_or(0))
            {
                pods::delete(storage, &pod_type, pod);
            }
        }
        // Pods of a ReplicaSet never finish on their own; replace finished ones.
        for pod in owned
            .iter()
            .filter(|p| pods::is_terminal(p) && !p.is_deleting())
        {
            pods::delete(storage, &pod_type, pod);
        }
        let active: Vec<&Value> = owned
            .iter()
            .map(AsRef::as_ref)
            .filter(|p| pods::is_active(p))
            .collect();
        let ready = active.iter().filter(|p| pods::is_ready(p)).count();
        let available = active
            .iter()
            .filter(|p| pods::is_available(p, min_ready))
            .count();
        let status = json!({
            "replicas": active.len(),
            "fullyLabeledReplicas": active.len(),
            "readyReplicas": ready,
            "availableReplicas": available,
            "observedGeneration": rs.i64_at("/metadata/generation").unwrap_or(1),
        });
        let _ = storage.set_status(&replicasets, namespace, rs.name(), status);
    }
}
