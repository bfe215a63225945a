//! Discovery documents: `/version`, `/api`, `/apis`, group and resource lists, in the legacy
//! form and the aggregated (`apidiscovery.k8s.io`) form, and a minimal OpenAPI document.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::catalog::{Catalog, ResourceType};
use crate::version::KubernetesVersion;

/// `/version` of a cluster serving `version`.
pub fn version(version: KubernetesVersion) -> Value {
    json!({
        "major": version.major().to_string(),
        "minor": version.minor().to_string(),
        "gitVersion": version.git_version(),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `/api` (legacy form).
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn groups(catalog: &Catalog) -> BTreeMap<String, Vec<String>> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for rt in catalog.all() {
        if rt.group.is_empty() {
            continue;
        }
        let versions = groups.entry(rt.group.clone()).or_default();
        for version in &rt.versions {
            if !versions.contains(version) {
                versions.push(version.clone());
            }
        }
    }
    groups
}

fn group_document(name: &str, versions: &[String]) -> Value {
    let entries: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({
        "name": name,
        "versions": entries,
        "preferredVersion": entries.first().cloned().unwrap_or(Value::Null),
    })
}

/// `/apis` (legacy form).
pub fn group_list(catalog: &Catalog) -> Value {
    let groups: Vec<Value> = groups(catalog)
        .iter()
        .map(|(name, versions)| group_document(name, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/GROUP`.
pub fn group(catalog: &Catalog, name: &str) -> Option<Value> {
    let groups = groups(catalog);
    let versions = groups.get(name)?;
    let mut document = group_document(name, versions);
    document["kind"] = json!("APIGroup");
    document["apiVersion"] = json!("v1");
    Some(document)
}

fn types_in(catalog: &Catalog, group: &str, version: &str) -> Vec<Arc<ResourceType>> {
    catalog
        .all()
        .into_iter()
        .filter(|t| t.group == group && t.serves(version))
        .collect()
}

fn subresources(rt: &ResourceType) -> Vec<(&'static str, Vec<&'static str>)> {
    let mut subs = Vec::new();
    if rt.subresources.status {
        subs.push(("status", vec!["get", "patch", "update"]));
    }
    if rt.subresources.scale {
        subs.push(("scale", vec!["get", "patch", "update"]));
    }
    if rt.subresources.log {
        subs.push(("log", vec!["get"]));
    }
    subs
}

/// `/api/v1` or `/apis/GROUP/VERSION` (legacy form); `None` when nothing is served there.
pub fn resource_list(catalog: &Catalog, group: &str, version: &str) -> Option<Value> {
    let types = types_in(catalog, group, version);
    if types.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for rt in &types {
        let mut entry = json!({
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": rt.verbs(),
        });
        if !rt.short_names.is_empty() {
            entry["shortNames"] = json!(rt.short_names);
        }
        if !rt.categories.is_empty() {
            entry["categories"] = json!(rt.categories);
        }
        resources.push(entry);
        for (sub, verbs) in subresources(rt) {
            let kind = match sub {
                "scale" => json!({"group": "autoscaling", "version": "v1", "kind": "Scale"}),
                _ => json!({"kind": rt.kind}),
            };
            let mut entry = json!({
                "name": format!("{}/{sub}", rt.plural),
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": kind["kind"],
                "verbs": verbs,
            });
            if sub == "scale" {
                entry["group"] = json!("autoscaling");
                entry["version"] = json!("v1");
            }
            resources.push(entry);
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

fn aggregated_group(catalog: &Catalog, group: &str, versions: &[String]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|version| {
            let resources: Vec<Value> = types_in(catalog, group, version)
                .iter()
                .map(|rt| {
                    let response_kind =
                        json!({"group": group, "version": version, "kind": rt.kind});
                    let subs: Vec<Value> = subresources(rt)
                        .into_iter()
                        .map(|(sub, verbs)| {
                            let kind = if sub == "scale" {
                                json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
                            } else {
                                response_kind.clone()
                            };
                            json!({"subresource": sub, "responseKind": kind, "verbs": verbs})
                        })
                        .collect();
                    let mut entry = json!({
                        "resource": rt.plural,
                        "responseKind": response_kind,
                        "scope": if rt.namespaced { "Namespaced" } else { "Cluster" },
                        "singularResource": rt.singular,
                        "verbs": rt.verbs(),
                    });
                    if !rt.short_names.is_empty() {
                        entry["shortNames"] = json!(rt.short_names);
                    }
                    if !rt.categories.is_empty() {
                        entry["categories"] = json!(rt.categories);
                    }
                    if !subs.is_empty() {
                        entry["subresources"] = json!(subs);
                    }
                    entry
                })
                .collect();
            json!({"version": version, "resources": resources, "freshness": "Current"})
        })
        .collect();
    let metadata = if group.is_empty() {
        json!({"creationTimestamp": null})
    } else {
        json!({"name": group, "creationTimestamp": null})
    };
    json!({"metadata": metadata, "versions": versions})
}

/// `/api` or `/apis` in the aggregated form.
pub fn aggregated(catalog: &Catalog, core: bool, api_version: &str) -> Value {
    let items: Vec<Value> = if core {
        vec![aggregated_group(catalog, "", &["v1".to_owned()])]
    } else {
        groups(catalog)
            .iter()
            .map(|(name, versions)| aggregated_group(catalog, name, versions))
            .collect()
    };
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{api_version}"),
        "metadata": {},
        "items": items,
    })
}

/// The content type of an aggregated discovery response.
pub fn aggregated_content_type(api_version: &str) -> String {
    format!("application/json;g=apidiscovery.k8s.io;v={api_version};as=APIGroupDiscoveryList")
}

/// `/openapi/v2` as JSON: an empty schema, so clients validate nothing client-side.
pub fn openapi_v2(version: KubernetesVersion) -> Value {
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": version.git_version()},
        "paths": {},
        "definitions": {},
    })
}
