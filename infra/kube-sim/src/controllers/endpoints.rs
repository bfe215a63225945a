//! Endpoints and EndpointSlices of Services with a selector: the pods the selector matches,
//! ready ones as addresses and the others as not-ready addresses, with each Service port's
//! target port resolved (named ports by the pod's container ports).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::pods;
use crate::object::ObjectExt;
use crate::selector::LabelSelector;
use crate::storage::{Storage, Target};

const SLICE_MANAGER: &str = "endpointslice-controller.k8s.io";

/// Reconciles the Endpoints and EndpointSlices of every Service.
pub fn reconcile(storage: &Storage) {
    let services = storage.resource("", "services");
    let endpoints = storage.resource("", "endpoints");
    let slices = storage.resource("discovery.k8s.io", "endpointslices");
    let (all, _) = storage.store.list(&services.key(), None);
    for service in &all {
        let Some(selector) = service
            .pointer("/spec/selector")
            .and_then(Value::as_object)
            .filter(|s| !s.is_empty())
        else {
            continue;
        };
        let (subsets, slice_groups) =
            compute(storage, service, &LabelSelector::from_labels(selector));
        let mut labels = service.labels().cloned().unwrap_or_default();
        if service.str_at("/spec/clusterIP") == Some("None") {
            labels.insert("service.kubernetes.io/headless".into(), json!(""));
        }
        write(
            storage,
            &endpoints,
            service.namespace(),
            service.name(),
            json!({"metadata": {"name": service.name(), "labels": labels}, "subsets": subsets}),
        );
        write_slices(storage, service, slice_groups);
    }
    // Endpoints and slices of Services that are gone.
    let exists = |namespace: &str, name: &str| {
        all.iter()
            .any(|s| s.namespace() == namespace && s.name() == name)
    };
    let (current, _) = storage.store.list(&endpoints.key(), None);
    for object in current {
        if !exists(object.namespace(), object.name()) {
            pods::delete(storage, &endpoints, &object);
        }
    }
    let (current, _) = storage.store.list(&slices.key(), None);
    for slice in current {
        let managed = slice.label("endpointslice.kubernetes.io/managed-by") == Some(SLICE_MANAGER);
        let service = slice.label("kubernetes.io/service-name").unwrap_or("");
        if managed && !exists(slice.namespace(), service) {
            pods::delete(storage, &slices, &slice);
        }
    }
}

type Ports = Vec<(String, i64, String)>;

#[derive(Default)]
struct Group {
    ready: Vec<Value>,
    not_ready: Vec<Value>,
    slice_endpoints: Vec<Value>,
}

fn target_port(port: &Value, pod: &Value) -> Option<i64> {
    match port.get("targetPort") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(name)) => pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|c| {
                c.get("ports")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .find(|p| p.get("name").and_then(Value::as_str) == Some(name.as_str()))
            .and_then(|p| p.get("containerPort").and_then(Value::as_i64))
            .or_else(|| name.parse().ok()),
        _ => port.get("port").and_then(Value::as_i64),
    }
}

fn compute(
    storage: &Storage,
    service: &Value,
    selector: &LabelSelector,
) -> (Vec<Value>, BTreeMap<Ports, Group>) {
    let pod_type = storage.resource("", "pods");
    let (candidates, _) = storage
        .store
        .list(&pod_type.key(), Some(service.namespace()));
    let publish_not_ready = service
        .pointer("/spec/publishNotReadyAddresses")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let service_ports: Vec<Value> = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut groups: BTreeMap<Ports, Group> = BTreeMap::new();
    for pod in candidates
        .iter()
        .filter(|p| selector.matches(p) && !pods::is_terminal(p))
    {
        let Some(ip) = pod.str_at("/status/podIP") else {
            continue;
        };
        let ports: Ports = service_ports
            .iter()
            .filter_map(|port| {
                let number = target_port(port, pod)?;
                let name = port
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let protocol = port
                    .get("protocol")
                    .and_then(Value::as_str)
                    .unwrap_or("TCP")
                    .to_owned();
                Some((name, number, protocol))
            })
            .collect();
        let mut address = json!({
            "ip": ip,
            "nodeName": pod.str_at("/spec/nodeName"),
            "targetRef": {"kind": "Pod", "name": pod.name(), "namespace": pod.namespace(), "uid": pod.uid()},
        });
        let hostname = pod
            .str_at("/spec/hostname")
            .filter(|_| pod.str_at("/spec/subdomain") == Some(service.name()));
        if let Some(hostname) = hostname {
            address["hostname"] = json!(hostname);
        }
        let ready = pods::is_ready(pod) && !pod.is_deleting();
        let group = groups.entry(ports).or_default();
        let mut endpoint = json!({
            "addresses": [ip],
            "conditions": {"ready": ready, "serving": pods::is_ready(pod), "terminating": pod.is_deleting()},
            "nodeName": pod.str_at("/spec/nodeName"),
            "targetRef": {"kind": "Pod", "name": pod.name(), "namespace": pod.namespace(), "uid": pod.uid()},
        });
        if let Some(hostname) = hostname {
            endpoint["hostname"] = json!(hostname);
        }
        group.slice_endpoints.push(endpoint);
        if ready || publish_not_ready {
            group.ready.push(address);
        } else {
            group.not_ready.push(address);
        }
    }
    let subsets = groups
        .iter()
        .filter(|(ports, _)| !ports.is_empty())
        .map(|(ports, group)| {
            let mut subset = json!({
                "ports": ports.iter().map(|(name, port, protocol)| {
                    let mut p = json!({"port": port, "protocol": protocol});
                    if !name.is_empty() {
                        p["name"] = json!(name);
                    }
                    p
                }).collect::<Vec<_>>(),
            });
            if !group.ready.is_empty() {
                subset["addresses"] = json!(group.ready);
            }
            if !group.not_ready.is_empty() {
                subset["notReadyAddresses"] = json!(group.not_ready);
            }
            subset
        })
        .collect();
    (subsets, groups)
}

/// Creates or updates an object so that it has `desired`'s labels and content.
fn write(
    storage: &Storage,
    rt: &crate::catalog::ResourceType,
    namespace: &str,
    name: &str,
    desired: Value,
) {
    if storage.store.get(&rt.key(), namespace, name).is_some() {
        let _ = storage.modify(rt, namespace, name, Target::Main, |object| {
            for (key, value) in desired.as_object().into_iter().flatten() {
                if key == "metadata" {
                    if let Some(labels) = value.get("labels") {
                        object.meta_mut().insert("labels".into(), labels.clone());
                    }
                } else {
                    object.map_mut().insert(key.clone(), value.clone());
                }
            }
        });
    } else if let Err(error) = storage.create(rt, namespace, desired, false) {
        tracing::debug!(%error, name, "creating endpoints");
    }
}

fn write_slices(storage: &Storage, service: &Value, groups: BTreeMap<Ports, Group>) {
    let slices = storage.resource("discovery.k8s.io", "endpointslices");
    let mut wanted = Vec::new();
    for (ports, group) in groups {
        let suffix = pods::template_hash(&json!(ports), 0);
        let name = format!("{}-{suffix}", service.name());
        let mut labels = service.labels().cloned().unwrap_or_default();
        labels.insert("kubernetes.io/service-name".into(), json!(service.name()));
        labels.insert(
            "endpointslice.kubernetes.io/managed-by".into(),
            json!(SLICE_MANAGER),
        );
        let slice = json!({
            "metadata": {"name": name, "labels": labels, "ownerReferences": [crate::object::controller_reference(service)]},
            "addressType": "IPv4",
            "endpoints": group.slice_endpoints,
            "ports": ports.iter().map(|(name, port, protocol)| json!({"name": name, "port": port, "protocol": protocol})).collect::<Vec<_>>(),
        });
        write(storage, &slices, service.namespace(), &name, slice);
        wanted.push(name);
    }
    for slice in pods::controlled(storage, &slices, service.namespace(), service.uid()) {
        if !wanted.iter().any(|w| w == slice.name()) {
            pods::delete(storage, &slices, &slice);
        }
    }
}
