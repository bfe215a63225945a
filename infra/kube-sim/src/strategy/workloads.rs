//! Defaulting of workloads (apps and batch), including the selector and labels a Job gets.

use serde_json::{Map, Value, json};

use super::pod_spec::{default_pod_spec, default_template};
use crate::errors::ApiError;
use crate::object::{ObjectExt, child_map};

/// Defaults a workload of `kind`; `old` is the stored object on updates.
pub fn default_workload(
    kind: &str,
    object: &mut Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    let name = object.name().to_owned();
    let uid = object.uid().to_owned();
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
            require_selector(kind, &name, spec)?;
        }
        "ReplicaSet" => {
            let spec = child_map(object.map_mut(), "spec");
            spec.entry("replicas").or_insert(json!(1));
            default_template(spec);
            require_selector(kind, &name, spec)?;
        }
        "StatefulSet" => {
            let spec = child_map(object.map_mut(), "spec");
            spec.entry("replicas").or_insert(json!(1));
            spec.entry("podManagementPolicy")
                .or_insert(json!("OrderedReady"));
            spec.entry("revisionHistoryLimit").or_insert(json!(10));
            spec.entry("persistentVolumeClaimRetentionPolicy")
                .or_insert(json!({"whenDeleted": "Retain", "whenScaled": "Retain"}));
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
            require_selector(kind, &name, spec)?;
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
            require_selector(kind, &name, spec)?;
        }
        "Job" => default_job(&name, &uid, object, old)?,
        "CronJob" => {
            let spec = child_map(object.map_mut(), "spec");
            spec.entry("concurrencyPolicy").or_insert(json!("Allow"));
            spec.entry("suspend").or_insert(json!(false));
            spec.entry("successfulJobsHistoryLimit").or_insert(json!(3));
            spec.entry("failedJobsHistoryLimit").or_insert(json!(1));
            let job_spec = child_map(child_map(spec, "jobTemplate"), "spec");
            default_job_spec(job_spec);
        }
        _ => {}
    }
    Ok(())
}

fn require_selector(kind: &str, name: &str, spec: &Map<String, Value>) -> Result<(), ApiError> {
    let selector = spec.get("selector").and_then(Value::as_object);
    let has_requirements = selector.is_some_and(|s| {
        s.get("matchLabels")
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
            || s.get("matchExpressions")
                .and_then(Value::as_array)
                .is_some_and(|m| !m.is_empty())
    });
    if !has_requirements {
        return Err(ApiError::invalid(
            kind,
            name,
            "spec.selector: Required value",
        ));
    }
    let template_labels = crate::object::pointer_in(spec, "/template/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let selector = crate::selector::LabelSelector::from_object(spec.get("selector"));
    if !selector.is_some_and(|s| s.matches_labels(&template_labels)) {
        return Err(ApiError::invalid(
            kind,
            name,
            "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`",
        ));
    }
    Ok(())
}

fn default_job_spec(spec: &mut Map<String, Value>) {
    if spec.get("completions").is_none() && spec.get("parallelism").is_none() {
        spec.insert("completions".into(), json!(1));
    }
    spec.entry("parallelism").or_insert(json!(1));
    spec.entry("backoffLimit").or_insert(json!(6));
    spec.entry("completionMode").or_insert(json!("NonIndexed"));
    spec.entry("suspend").or_insert(json!(false));
    spec.entry("podReplacementPolicy")
        .or_insert(json!("TerminatingOrFailed"));
    let template = child_map(spec, "template");
    child_map(template, "metadata");
    default_pod_spec(child_map(template, "spec"));
}

fn default_job(
    name: &str,
    uid: &str,
    job: &mut Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    let spec = child_map(job.map_mut(), "spec");
    let restart = crate::object::pointer_in(spec, "/template/spec/restartPolicy")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if !matches!(restart.as_deref(), Some("Never" | "OnFailure")) {
        return Err(ApiError::invalid(
            "Job",
            name,
            format!(
                "spec.template.spec.restartPolicy: {}: supported values: \"OnFailure\", \"Never\"",
                restart.map_or_else(
                    || "Required value".to_owned(),
                    |r| format!("Unsupported value: {r:?}")
                )
            ),
        ));
    }
    default_job_spec(spec);
    if let Some(old) = old {
        for field in ["selector", "manualSelector"] {
            if let Some(value) = old.pointer(&format!("/spec/{field}")) {
                spec.entry(field).or_insert_with(|| value.clone());
            }
        }
        if let Some(labels) = old
            .pointer("/spec/template/metadata/labels")
            .and_then(Value::as_object)
        {
            let new_labels =
                child_map(child_map(child_map(spec, "template"), "metadata"), "labels");
            for (key, value) in labels {
                if key.contains("controller-uid") || key.ends_with("job-name") {
                    new_labels
                        .entry(key.clone())
                        .or_insert_with(|| value.clone());
                }
            }
        }
        return Ok(());
    }
    if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        return Ok(());
    }
    let labels = child_map(child_map(child_map(spec, "template"), "metadata"), "labels");
    for (key, value) in [
        ("batch.kubernetes.io/controller-uid", uid),
        ("batch.kubernetes.io/job-name", name),
        ("controller-uid", uid),
        ("job-name", name),
    ] {
        labels.insert(key.into(), json!(value));
    }
    spec.insert(
        "selector".into(),
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
    );
    Ok(())
}
