//! Defaults of a `PodSpec`, as the API server fills them in for pods and pod templates.

use serde_json::{Map, Value, json};

use crate::object::child_map;

/// Fills in the defaults of a pod spec.
pub fn default_pod_spec(spec: &mut Map<String, Value>) {
    let defaults = [
        ("restartPolicy", json!("Always")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("dnsPolicy", json!("ClusterFirst")),
        ("securityContext", json!({})),
        ("schedulerName", json!("default-scheduler")),
        ("enableServiceLinks", json!(true)),
    ];
    for (key, value) in defaults {
        spec.entry(key).or_insert(value);
    }
    let account = spec
        .get("serviceAccountName")
        .or_else(|| spec.get("serviceAccount"))
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_owned();
    spec.insert("serviceAccountName".into(), json!(account));
    spec.insert("serviceAccount".into(), json!(account));
    for list in ["initContainers", "containers"] {
        if let Some(Value::Array(containers)) = spec.get_mut(list) {
            for container in containers.iter_mut().filter_map(Value::as_object_mut) {
                default_container(container);
            }
        }
    }
    if let Some(Value::Array(volumes)) = spec.get_mut("volumes") {
        for volume in volumes.iter_mut().filter_map(Value::as_object_mut) {
            for source in ["configMap", "secret"] {
                if let Some(Value::Object(source)) = volume.get_mut(source) {
                    source.entry("defaultMode").or_insert(json!(420));
                }
            }
        }
    }
}

fn default_container(container: &mut Map<String, Value>) {
    let image = container.get("image").and_then(Value::as_str).unwrap_or("");
    let policy = if image.contains('@') {
        "IfNotPresent"
    } else {
        let last = image.rsplit('/').next().unwrap_or(image);
        match last.split_once(':') {
            Some((_, tag)) if tag != "latest" => "IfNotPresent",
            _ => "Always",
        }
    };
    container.entry("imagePullPolicy").or_insert(json!(policy));
    container
        .entry("terminationMessagePath")
        .or_insert(json!("/dev/termination-log"));
    container
        .entry("terminationMessagePolicy")
        .or_insert(json!("File"));
    container.entry("resources").or_insert(json!({}));
    if let Some(Value::Array(ports)) = container.get_mut("ports") {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            port.entry("protocol").or_insert(json!("TCP"));
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(Value::Object(probe)) = container.get_mut(probe) {
            for (key, value) in [
                ("timeoutSeconds", 1),
                ("periodSeconds", 10),
                ("successThreshold", 1),
                ("failureThreshold", 3),
            ] {
                probe.entry(key).or_insert(json!(value));
            }
            if let Some(Value::Object(get)) = probe.get_mut("httpGet") {
                get.entry("scheme").or_insert(json!("HTTP"));
                get.entry("path").or_insert(json!("/"));
            }
        }
    }
}

/// Defaults the pod template at `spec.template` of a workload.
pub fn default_template(spec: &mut Map<String, Value>) {
    let template = child_map(spec, "template");
    child_map(template, "metadata");
    default_pod_spec(child_map(template, "spec"));
}
