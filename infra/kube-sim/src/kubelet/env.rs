//! A container's environment: service links, `envFrom`, `env` with `valueFrom`, and the
//! `$(VAR)` expansion Kubernetes applies to env values, command and args.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::Value;

use super::data::{self, Source};
use crate::catalog::ResourceKey;
use crate::object::ObjectExt;
use crate::store::Store;

/// What the environment of a container is built from.
#[derive(Debug)]
pub struct EnvContext<'a> {
    /// The store (ConfigMaps, Secrets, Services).
    pub store: &'a Store,
    /// The pod as stored (for field references).
    pub pod: &'a Value,
    /// The typed pod.
    pub typed: &'a Pod,
    /// The pod IP.
    pub pod_ip: &'a str,
    /// The node IP.
    pub host_ip: &'a str,
}

/// Builds the environment of a container, in order. Fails with the message Kubernetes gives
/// for `CreateContainerConfigError` when a non-optional source is missing.
pub fn build(
    context: &EnvContext<'_>,
    container: &Container,
) -> Result<Vec<(String, String)>, String> {
    let namespace = context.pod.namespace();
    let mut env: Vec<(String, String)> = Vec::new();
    let set = |env: &mut Vec<(String, String)>, key: String, value: String| {
        if let Some(existing) = env.iter_mut().find(|(k, _)| *k == key) {
            existing.1 = value;
        } else {
            env.push((key, value));
        }
    };
    let links = context
        .typed
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    for (key, value) in service_links(context.store, namespace, links) {
        set(&mut env, key, value);
    }
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let (source, name, optional) = if let Some(r) = &from.config_map_ref {
            (
                Source::ConfigMap,
                r.name.clone(),
                r.optional.unwrap_or(false),
            )
        } else if let Some(r) = &from.secret_ref {
            (Source::Secret, r.name.clone(), r.optional.unwrap_or(false))
        } else {
            continue;
        };
        match data::read(context.store, source, namespace, &name) {
            Some(entries) => {
                for (key, bytes) in entries {
                    set(
                        &mut env,
                        format!("{prefix}{key}"),
                        String::from_utf8_lossy(&bytes).into_owned(),
                    );
                }
            }
            None if optional => {}
            None => return Err(format!("{} \"{name}\" not found", source.noun())),
        }
    }
    for var in container.env.iter().flatten() {
        let value = if let Some(from) = &var.value_from {
            let resolved = if let Some(field) = &from.field_ref {
                Some(field_value(context, &field.field_path))
            } else if let Some(key) = &from.config_map_key_ref {
                key_value(
                    context.store,
                    Source::ConfigMap,
                    namespace,
                    &key.name,
                    &key.key,
                    key.optional.unwrap_or(false),
                )?
            } else if let Some(key) = &from.secret_key_ref {
                key_value(
                    context.store,
                    Source::Secret,
                    namespace,
                    &key.name,
                    &key.key,
                    key.optional.unwrap_or(false),
                )?
            } else {
                from.resource_field_ref
                    .as_ref()
                    .map(|resource| resource_value(container, &resource.resource))
            };
            match resolved {
                Some(value) => value,
                None => continue,
            }
        } else {
            let current: BTreeMap<String, String> = env.iter().cloned().collect();
            expand(var.value.as_deref().unwrap_or(""), &current)
        };
        set(&mut env, var.name.clone(), value);
    }
    Ok(env)
}

fn key_value(
    store: &Store,
    source: Source,
    namespace: &str,
    name: &str,
    key: &str,
    optional: bool,
) -> Result<Option<String>, String> {
    match data::read(store, source, namespace, name) {
        Some(entries) => match entries.get(key) {
            Some(bytes) => Ok(Some(String::from_utf8_lossy(bytes).into_owned())),
            None if optional => Ok(None),
            None => Err(format!(
                "couldn't find key {key} in {} {namespace}/{name}",
                match source {
                    Source::ConfigMap => "ConfigMap",
                    Source::Secret => "Secret",
                }
            )),
        },
        None if optional => Ok(None),
        None => Err(format!("{} \"{name}\" not found", source.noun())),
    }
}

fn field_value(context: &EnvContext<'_>, path: &str) -> String {
    let pod = context.pod;
    let bracketed = |prefix: &str| -> Option<String> {
        path.strip_prefix(prefix)?
            .strip_suffix("']")
            .map(str::to_owned)
    };
    if let Some(key) = bracketed("metadata.labels['") {
        return pod.label(&key).unwrap_or("").to_owned();
    }
    if let Some(key) = bracketed("metadata.annotations['") {
        return pod.annotation(&key).unwrap_or("").to_owned();
    }
    match path {
        "status.podIP" | "status.podIPs" => context.pod_ip.to_owned(),
        "status.hostIP" | "status.hostIPs" => context.host_ip.to_owned(),
        other => pod
            .pointer(&format!("/{}", other.replace('.', "/")))
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default(),
    }
}

fn resource_value(container: &Container, resource: &str) -> String {
    let (section, name) = resource.split_once('.').unwrap_or(("limits", resource));
    let resources = container.resources.as_ref();
    let map = match section {
        "requests" => resources.and_then(|r| r.requests.as_ref()),
        _ => resources.and_then(|r| r.limits.as_ref()),
    };
    map.and_then(|m| m.get(name)).map_or_else(
        || match name {
            "cpu" => std::thread::available_parallelism()
                .map_or(1, std::num::NonZero::get)
                .to_string(),
            _ => "0".to_owned(),
        },
        |q| q.0.clone(),
    )
}

/// `SVC_SERVICE_HOST`, `SVC_SERVICE_PORT`, `SVC_PORT` ... for the Services of the namespace
/// (when `links`), and always for `kubernetes` in `default`.
fn service_links(store: &Store, namespace: &str, links: bool) -> Vec<(String, String)> {
    let key = ResourceKey::new("", "services");
    let mut services: Vec<(String, std::sync::Arc<Value>)> = Vec::new();
    if links {
        let (list, _) = store.list(&key, Some(namespace));
        services.extend(list.into_iter().map(|s| (s.name().to_owned(), s)));
    }
    if (!links || namespace != "default")
        && let Some(kubernetes) = store.get(&key, "default", "kubernetes")
    {
        services.push(("kubernetes".to_owned(), kubernetes));
    }
    let mut env = Vec::new();
    for (name, service) in services {
        let Some(ip) = service.str_at("/spec/clusterIP").filter(|ip| *ip != "None") else {
            continue;
        };
        let prefix = name.to_uppercase().replace('-', "_");
        let ports: Vec<&Value> = service
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .collect();
        let Some(first) = ports.first() else { continue };
        env.push((format!("{prefix}_SERVICE_HOST"), ip.to_owned()));
        env.push((format!("{prefix}_SERVICE_PORT"), first["port"].to_string()));
        let protocol = |p: &Value| {
            p.get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("TCP")
                .to_lowercase()
        };
        env.push((
            format!("{prefix}_PORT"),
            format!("{}://{ip}:{}", protocol(first), first["port"]),
        ));
        for port in &ports {
            if let Some(port_name) = port
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
            {
                env.push((
                    format!(
                        "{prefix}_SERVICE_PORT_{}",
                        port_name.to_uppercase().replace('-', "_")
                    ),
                    port["port"].to_string(),
                ));
            }
            let proto = protocol(port);
            let upper = proto.to_uppercase();
            let number = &port["port"];
            let base = format!("{prefix}_PORT_{number}_{upper}");
            env.push((base.clone(), format!("{proto}://{ip}:{number}")));
            env.push((format!("{base}_PROTO"), proto.clone()));
            env.push((format!("{base}_PORT"), number.to_string()));
            env.push((format!("{base}_ADDR"), ip.to_owned()));
        }
    }
    env
}

/// Expands `$(VAR)` references from `env`; `$$` escapes a `$`; unknown references stay.
pub fn expand(text: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(index) = rest.find('$') {
        out.push_str(&rest[..index]);
        let after = &rest[index + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            if let Some(value) = env.get(name) {
                out.push_str(value);
            } else {
                out.push_str("$(");
                out.push_str(name);
                out.push(')');
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_expand_escapes_stay_and_unknown_names_are_kept() {
        let env: BTreeMap<String, String> = [("A".to_owned(), "1".to_owned())].into();
        assert_eq!(expand("x$(A)y", &env), "x1y");
        assert_eq!(expand("$$(A) $(B) $", &env), "$(A) $(B) $");
    }
}
