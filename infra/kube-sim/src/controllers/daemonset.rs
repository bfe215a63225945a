//! DaemonSets on the one node: one pod when the node matches the pod's node selector,
//! replaced when the template changes.

use serde_json::{Value, json};

use super::pods;
use crate::catalog::ResourceKey;
use crate::object::ObjectExt;
use crate::storage::Storage;

const REVISION_LABEL: &str = "controller-revision-hash";

/// Reconciles every DaemonSet.
pub fn reconcile(storage: &Storage) {
    let daemonsets = storage.resource("apps", "daemonsets");
    let pod_type = storage.resource("", "pods");
    let node = storage.store.get(
        &ResourceKey::new("", "nodes"),
        "",
        &storage.admission.node_name,
    );
    let node_labels = node
        .as_ref()
        .and_then(|n| n.labels().cloned())
        .unwrap_or_default();
    let (all, _) = storage.store.list(&daemonsets.key(), None);
    for set in all {
        let namespace = set.namespace();
        let template = set.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let hash = pods::template_hash(
            &pods::template_without(&template, &[REVISION_LABEL, "pod-template-generation"]),
            0,
        );
        let selector = template
            .pointer("/spec/nodeSelector")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let fits = selector.iter().all(|(k, v)| node_labels.get(k) == Some(v));
        let desired = i64::from(fits);
        let owned = pods::controlled_pods(storage, namespace, set.uid());
        let active: Vec<&Value> = owned
            .iter()
            .map(AsRef::as_ref)
            .filter(|p| !p.is_deleting())
            .collect();
        if !set.is_deleting() {
            for pod in owned
                .iter()
                .filter(|p| pods::is_terminal(p) && !p.is_deleting())
            {
                pods::delete(storage, &pod_type, pod);
            }
            let live: Vec<&Value> = active
                .iter()
                .copied()
                .filter(|p| !pods::is_terminal(p))
                .collect();
            if live.is_empty() && fits {
                let generation = set.i64_at("/metadata/generation").unwrap_or(1).to_string();
                pods::create_from_template(
                    storage,
                    &set,
                    &template,
                    None,
                    &[
                        (REVISION_LABEL, hash.clone()),
                        ("pod-template-generation", generation),
                    ],
                    |_| {},
                );
            } else {
                let rolling = set
                    .str_at("/spec/updateStrategy/type")
                    .unwrap_or("RollingUpdate")
                    == "RollingUpdate";
                for pod in live.iter().skip(usize::from(fits)) {
                    pods::delete(storage, &pod_type, pod);
                }
                if rolling
                    && let Some(pod) = live
                        .first()
                        .filter(|p| p.label(REVISION_LABEL) != Some(hash.as_str()))
                {
                    pods::delete(storage, &pod_type, pod);
                }
            }
        }
        let owned = pods::controlled_pods(storage, namespace, set.uid());
        let active: Vec<&Value> = owned
            .iter()
            .map(AsRef::as_ref)
            .filter(|p| pods::is_active(p))
            .collect();
        let min_ready = set.i64_at("/spec/minReadySeconds").unwrap_or(0);
        let ready = active.iter().filter(|p| pods::is_ready(p)).count();
        let available = active
            .iter()
            .filter(|p| pods::is_available(p, min_ready))
            .count();
        let updated = active
            .iter()
            .filter(|p| p.label(REVISION_LABEL) == Some(hash.as_str()))
            .count();
        let status = json!({
            "observedGeneration": set.i64_at("/metadata/generation").unwrap_or(1),
            "currentNumberScheduled": active.len(),
            "desiredNumberScheduled": desired,
            "numberMisscheduled": 0,
            "numberReady": ready,
            "updatedNumberScheduled": updated,
            "numberAvailable": available,
            "numberUnavailable": (desired - available as i64).max(0),
        });
        let _ = storage.set_status(&daemonsets, namespace, set.name(), status);
    }
}
