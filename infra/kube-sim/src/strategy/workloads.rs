//! Defaulting of workloads (apps and batch), including the selector and labels a Job gets.

use serde_json::{Map, Value, json};

use super::pod_spec::{default_pod_spec, default_template};
use super::validation;
use crate::object::{ObjectExt, child_map};
use crate::version::KubernetesVersion;

/// Defaults a workload of `kind`; `old` is the stored object on updates.
pub fn default_workload(
    version: KubernetesVersion,
    kind: &str,
    object: &mut Value,
    old: Option<&Value>,
) {
    match kind {
        "Deployment" => {
            let spec = child_map(object.map_mut(), "spec");
            spec.entry("replicas").or_insert(json!(1));
            spec.entry("revisionHistoryLimit").or_insert(json!(10));
            spec.entry("progressDeadlineSeconds").or_insert(json!(600));
            let strategy = child_map(spec, "strategy");
            strategy.entry("type").or_insert(json!("RollingUpdate"));
            if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                let rolling = child_map(strategy, "rollingUpdate");
                rolling.entry("maxUnavailable").or_insert(json!("25%"));
                rolling.entry("maxSurge").or_insert(json!("25%"));
            }
            default_template(spec);
        }
        "ReplicaSet" => {
            let spec = child_map(object.map_mut(), "spec");
            spec.entry("replicas").or_insert(json!(1));
            default_template(spec);
        }
        "StatefulSet" => {
            let spec = child_map(object.map_mut(), "spec");
            spec.entry("replicas").or_insert(json!(1));
            spec.entry("podManagementPolicy")
                .or_insert(json!("OrderedReady"));
            spec.entry("revisionHistoryLimit").or_insert(json!(10));
            if version.defaults_statefulset_claim_retention() {
                spec.entry("persistentVolumeClaimRetentionPolicy")
                    .or_insert(json!({"whenDeleted": "Retain", "whenScaled": "Retain"}));
            }
            let strategy = child_map(spec, "updateStrategy");
            strategy.entry("type").or_insert(json!("RollingUpdate"));
            if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                child_map(strategy, "rollingUpdate")
                    .entry("partition")
                    .or_insert(json!(0));
            }
            if let Some(Value::Array(claims)) = spec.get_mut("volumeClaimTemplates") {
                for claim in claims.iter_mut().filter_map(Value::as_object_mut) {
                    let claim_spec = child_map(claim, "spec");
                    claim_spec
                        .entry("volumeMode")
                        .or_insert(json!("Filesystem"));
                }
            }
            default_template(spec);
        }
        "DaemonSet" => {
            let spec = child_map(object.map_mut(), "spec");
            spec.entry("revisionHistoryLimit").or_insert(json!(10));
            let strategy = child_map(spec, "updateStrategy");
            strategy.entry("type").or_insert(json!("RollingUpdate"));
            if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                let rolling = child_map(strategy, "rollingUpdate");
                rolling.entry("maxUnavailable").or_insert(json!(1));
                rolling.entry("maxSurge").or_insert(json!(0));
            }
            default_template(spec);
        }
        "Job" => default_job(version, object, old),
        "CronJob" => {
            let spec = child_map(object.map_mut(), "spec");
            spec.entry("concurrencyPolicy").or_insert(json!("Allow"));
            spec.entry("suspend").or_insert(json!(false));
            spec.entry("successfulJobsHistoryLimit").or_insert(json!(3));
            spec.entry("failedJobsHistoryLimit").or_insert(json!(1));
            let job_spec = child_map(child_map(spec, "jobTemplate"), "spec");
            default_job_spec(version, job_spec);
        }
        _ => {}
    }
}

fn default_job_spec(version: KubernetesVersion, spec: &mut Map<String, Value>) {
    if spec.get("completions").is_none() && spec.get("parallelism").is_none() {
        spec.insert("completions".into(), json!(1));
    }
    spec.entry("parallelism").or_insert(json!(1));
    spec.entry("backoffLimit").or_insert(json!(6));
    spec.entry("completionMode").or_insert(json!("NonIndexed"));
    spec.entry("suspend").or_insert(json!(false));
    if version.defaults_job_pod_replacement_policy() {
        spec.entry("podReplacementPolicy")
            .or_insert(json!("TerminatingOrFailed"));
    }
    let template = child_map(spec, "template");
    child_map(template, "metadata");
    default_pod_spec(child_map(template, "spec"));
}

/// Defaults a Job as the API server does: the spec's defaults; on creation, unless the
/// selector is manual, the generated labels on the pod template (those the user did not set)
/// and the generated selector (added to the user's `matchLabels`), as `generateSelector` does;
/// on update, what the stored Job had of those. A Job without labels whose template has labels
/// gets the template's labels, generated ones included (the API server's defaulting shares the
/// template's label map with the Job).
fn default_job(version: KubernetesVersion, job: &mut Value, old: Option<&Value>) {
    let generated = validation::generated_labels(version, job);
    let job_has_labels = job
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .is_some_and(|labels| !labels.is_empty());
    let template_has_labels = job
        .pointer("/spec/template/metadata/labels")
        .is_some_and(Value::is_object);
    let spec = child_map(job.map_mut(), "spec");
    default_job_spec(version, spec);
    let manual = spec.get("manualSelector").and_then(Value::as_bool) == Some(true);
    match old {
        Some(old) => keep_generated(spec, old),
        None if !manual => {
            let labels = template_labels(spec);
            for (key, value) in &generated {
                labels.entry(*key).or_insert_with(|| json!(value));
            }
            let uid = generated[0].1.clone();
            let selector = child_map(spec, "selector");
            child_map(selector, "matchLabels")
                .entry(validation::selector_label(version))
                .or_insert(json!(uid));
        }
        None => {}
    }
    if !job_has_labels && template_has_labels {
        let labels = Value::Object(template_labels(spec).clone());
        child_map(job.map_mut(), "metadata").insert("labels".into(), labels);
    }
}

fn template_labels(spec: &mut Map<String, Value>) -> &mut Map<String, Value> {
    child_map(child_map(child_map(spec, "template"), "metadata"), "labels")
}

/// An update that leaves out the generated selector or labels keeps the stored ones.
fn keep_generated(spec: &mut Map<String, Value>, old: &Value) {
    for field in ["selector", "manualSelector"] {
        if let Some(value) = old.pointer(&format!("/spec/{field}")) {
            spec.entry(field).or_insert_with(|| value.clone());
        }
    }
    if let Some(labels) = old
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object)
    {
        let new_labels = template_labels(spec);
        for (key, value) in labels {
            if key.ends_with("controller-uid") || key.ends_with("job-name") {
                new_labels
                    .entry(key.clone())
                    .or_insert_with(|| value.clone());
            }
        }
    }
}
