//! Server-side printing: `meta.k8s.io/v1` Tables for `kubectl get`, and partial object
//! metadata.

use serde_json::{Value, json};

use crate::object::{ObjectExt, parse_time};

/// `PartialObjectMetadata` of an object.
pub fn partial_metadata(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object.get("metadata").cloned().unwrap_or(json!({})),
    })
}

/// What a Table row carries besides its cells (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    /// Nothing.
    None,
    /// The object's metadata (the default).
    Metadata,
    /// The whole object.
    Object,
}

impl Include {
    /// Parses the `includeObject` query parameter.
    pub fn parse(value: Option<&str>) -> Self {
        match value {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

/// A Table of objects of `kind`.
pub fn table(kind: &str, objects: &[&Value], resource_version: u64, include: Include) -> Value {
    let columns = columns(kind);
    let definitions: Vec<Value> = columns
        .iter()
        .map(|(name, kind, priority)| {
            json!({
                "name": name,
                "type": if *kind == "integer" { "integer" } else { "string" },
                "format": if *name == "Name" { "name" } else { "" },
                "description": "",
                "priority": priority,
            })
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let cells: Vec<Value> = columns
                .iter()
                .map(|(name, _, _)| cell(kind, name, object))
                .collect();
            let mut row = json!({"cells": cells});
            match include {
                Include::None => {}
                Include::Metadata => row["object"] = partial_metadata(object),
                Include::Object => row["object"] = (*object).clone(),
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version.to_string()},
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

fn columns(kind: &str) -> Vec<(&'static str, &'static str, u8)> {
    if kind == "Event" {
        return vec![
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Message", "string", 0),
            ("Name", "string", 1),
        ];
    }
    let mut columns: Vec<(&str, &str, u8)> = vec![("Name", "string", 0)];
    let specific: &[(&str, &str, u8)] = match kind {
        "Pod" => &[
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
        ],
        "Deployment" => &[
            ("Ready", "string", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
        ],
        "StatefulSet" => &[("Ready", "string", 0)],
        "ReplicaSet" | "DaemonSet" => &[
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
        ],
        "Job" => &[("Status", "string", 0), ("Completions", "string", 0)],
        "Service" => &[
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("Port(s)", "string", 0),
        ],
        "Namespace" | "PersistentVolumeClaim" => &[("Status", "string", 0)],
        "Node" => &[("Status", "string", 0), ("Version", "string", 0)],
        "Secret" => &[("Type", "string", 0), ("Data", "integer", 0)],
        "ConfigMap" => &[("Data", "integer", 0)],
        _ => &[],
    };
    columns.extend_from_slice(specific);
    columns.push(("Age", "string", 0));
    if kind == "Pod" {
        columns.push(("IP", "string", 1));
        columns.push(("Node", "string", 1));
    }
    columns
}

fn int(object: &Value, pointer: &str) -> i64 {
    object.i64_at(pointer).unwrap_or(0)
}

fn cell(kind: &str, column: &str, object: &Value) -> Value {
    match (kind, column) {
        (_, "Name") => json!(object.name()),
        ("Event", "Last Seen") => json!(age_at(object, "/lastTimestamp")),
        ("Event", "Type") => json!(object.str_at("/type").unwrap_or("")),
        ("Event", "Reason") => json!(object.str_at("/reason").unwrap_or("")),
        ("Event", "Object") => json!(format!(
            "{}/{}",
            object
                .str_at("/involvedObject/kind")
                .unwrap_or("")
                .to_lowercase(),
            object.str_at("/involvedObject/name").unwrap_or("")
        )),
        ("Event", "Message") => json!(object.str_at("/message").unwrap_or("")),
        (_, "Age") => json!(age(object)),
        ("Pod", "Ready") => {
            let statuses = object
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array);
            let total = object
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let ready = statuses.map_or(0, |s| s.iter().filter(|c| c["ready"] == true).count());
            json!(format!("{ready}/{total}"))
        }
        ("Pod", "Status") => json!(pod_status(object)),
        ("Pod", "Restarts") => {
            let restarts: i64 = object
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .map_or(0, |s| {
                    s.iter().filter_map(|c| c["restartCount"].as_i64()).sum()
                });
            json!(restarts.to_string())
        }
        ("Pod", "IP") => json!(object.str_at("/status/podIP").unwrap_or("<none>")),
        ("Pod", "Node") => json!(object.str_at("/spec/nodeName").unwrap_or("<none>")),
        ("Deployment" | "StatefulSet", "Ready") => json!(format!(
            "{}/{}",
            int(object, "/status/readyReplicas"),
            int(object, "/spec/replicas")
        )),
        ("Deployment", "Up-to-date") => json!(int(object, "/status/updatedReplicas")),
        ("Deployment", "Available") => json!(int(object, "/status/availableReplicas")),
        ("ReplicaSet", "Desired") => json!(int(object, "/spec/replicas")),
        ("ReplicaSet", "Current") => json!(int(object, "/status/replicas")),
        ("ReplicaSet", "Ready") => json!(int(object, "/status/readyReplicas")),
        ("DaemonSet", "Desired") => json!(int(object, "/status/desiredNumberScheduled")),
        ("DaemonSet", "Current") => json!(int(object, "/status/currentNumberScheduled")),
        ("DaemonSet", "Ready") => json!(int(object, "/status/numberReady")),
        ("Job", "Status") => json!(job_status(object)),
        ("Job", "Completions") => json!(format!(
            "{}/{}",
            int(object, "/status/succeeded"),
            object.i64_at("/spec/completions").unwrap_or(1)
        )),
        ("Service", "Type") => json!(object.str_at("/spec/type").unwrap_or("ClusterIP")),
        ("Service", "Cluster-IP") => json!(object.str_at("/spec/clusterIP").unwrap_or("<none>")),
        ("Service", "Port(s)") => {
            let ports: Vec<String> = object
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(|ports| {
                    ports
                        .iter()
                        .map(|p| {
                            format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP"))
                        })
                        .collect()
                })
                .unwrap_or_default();
            json!(if ports.is_empty() {
                "<none>".to_owned()
            } else {
                ports.join(",")
            })
        }
        ("Namespace" | "PersistentVolumeClaim", "Status") => {
            json!(object.str_at("/status/phase").unwrap_or(""))
        }
        ("Node", "Status") => json!("Ready"),
        ("Node", "Version") => json!(
            object
                .str_at("/status/nodeInfo/kubeletVersion")
                .unwrap_or("")
        ),
        ("Secret", "Type") => json!(object.str_at("/type").unwrap_or("Opaque")),
        ("Secret" | "ConfigMap", "Data") => {
            let count = |field: &str| {
                object
                    .get(field)
                    .and_then(Value::as_object)
                    .map_or(0, serde_json::Map::len)
            };
            json!(count("data") + count("binaryData"))
        }
        _ => json!(""),
    }
}

/// The `STATUS` column of `kubectl get pods`.
fn pod_status(pod: &Value) -> String {
    if pod.is_deleting() {
        return "Terminating".into();
    }
    let statuses = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array);
    for status in statuses.into_iter().flatten() {
        if let Some(reason) = status
            .pointer("/state/waiting/reason")
            .and_then(Value::as_str)
        {
            return reason.to_owned();
        }
        if let Some(reason) = status
            .pointer("/state/terminated/reason")
            .and_then(Value::as_str)
            && pod.str_at("/status/phase") != Some("Succeeded")
        {
            return reason.to_owned();
        }
    }
    match pod.str_at("/status/phase") {
        Some("Succeeded") => "Completed".into(),
        Some(phase) => phase.to_owned(),
        None => "Pending".into(),
    }
}

fn job_status(job: &Value) -> &'static str {
    let conditions = job.pointer("/status/conditions").and_then(Value::as_array);
    for condition in conditions.into_iter().flatten() {
        if condition["status"] == "True" {
            match condition["type"].as_str() {
                Some("Complete") => return "Complete",
                Some("Failed") => return "Failed",
                _ => {}
            }
        }
    }
    "Running"
}

fn age(object: &Value) -> String {
    age_at(object, "/metadata/creationTimestamp")
}

fn age_at(object: &Value, pointer: &str) -> String {
    let Some(created) = object.str_at(pointer).and_then(parse_time) else {
        return "<unknown>".into();
    };
    let seconds = (jiff::Timestamp::now() - created).get_seconds().max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}
