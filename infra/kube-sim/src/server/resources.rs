//! Requests on resources: get, list, watch, create, update, patch, delete, deletecollection,
//! and the status, scale and log subresources.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Response};
use serde_json::{Value, json};

use super::Shared;
use super::logs;
use super::media::{self, Body, Format};
use super::route::ResourcePath;
use super::table::{Include, partial_metadata, table};
use super::watch::{WatchRequest, watch};
use crate::catalog::ResourceType;
use crate::errors::ApiError;
use crate::object::ObjectExt;
use crate::patch::PatchKind;
use crate::selector::{FieldSelector, LabelSelector};
use crate::storage::{DeleteOptions, Target};

/// One request on a resource path.
pub struct ResourceRequest<'a> {
    /// The parsed path.
    pub path: ResourcePath,
    /// The HTTP method.
    pub method: Method,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The query parameters.
    pub query: HashMap<String, String>,
    /// The body.
    pub body: Bytes,
}

impl ResourceRequest<'_> {
    fn flag(&self, name: &str) -> bool {
        self.query
            .get(name)
            .is_some_and(|v| v == "true" || v == "1")
    }

    fn dry_run(&self) -> bool {
        self.query.get("dryRun").is_some_and(|v| v == "All")
    }

    fn json_body(&self) -> Result<Value, ApiError> {
        media::require_json_body(self.headers)?;
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
    }
}

fn present(rt: &ResourceType, version: &str, object: &Value) -> Value {
    let mut object = object.clone();
    object["apiVersion"] = json!(rt.api_version(version));
    object
}

fn respond(
    format: Format,
    code: u16,
    rt: &ResourceType,
    version: &str,
    object: &Value,
) -> Response<Body> {
    let object = present(rt, version, object);
    match format {
        Format::Table => media::json(
            code,
            &table(
                &rt.kind,
                &[&object],
                object.resource_version(),
                Include::Metadata,
            ),
        ),
        Format::Metadata => media::json(code, &partial_metadata(&object)),
        _ => media::json(code, &object),
    }
}

/// Serves a resource request.
pub fn handle(shared: &Shared, request: &ResourceRequest<'_>) -> Result<Response<Body>, ApiError> {
    let storage = &shared.storage;
    let path = &request.path;
    let rt = storage
        .catalog
        .lookup(&path.group, &path.version, &path.plural)
        .ok_or_else(|| ApiError::no_route(&format!("{}/{}", path.group, path.plural)))?;
    if !rt.namespaced && path.namespace.is_some() {
        return Err(ApiError::no_route(&rt.plural));
    }
    if rt.namespaced && path.namespace.is_none() && path.name.is_some() {
        return Err(ApiError::no_route(&rt.plural));
    }
    if rt.create_only && request.method != Method::POST {
        return Err(ApiError::method_not_allowed(format!(
            "{} only supports create",
            rt.plural
        )));
    }
    let namespace = path.namespace.clone().unwrap_or_default();
    let format = media::negotiate(request.headers, shared.version.aggregated_discovery())?;
    let version = path.version.clone();

    let Some(name) = path.name.clone() else {
        return match request.method {
            Method::GET if request.flag("watch") => {
                watch(storage, watch_request(&rt, request, format)?)
            }
            Method::GET => list(shared, &rt, request, format),
            Method::POST => {
                if rt.namespaced && path.namespace.is_none() {
                    return Err(ApiError::method_not_allowed(format!(
                        "create {} needs a namespace in the path",
                        rt.plural
                    )));
                }
                let body = request.json_body()?;
                let created = storage.create(&rt, &namespace, body, request.dry_run())?;
                let code = if rt.create_only { 200 } else { 201 };
                Ok(respond(format, code, &rt, &version, &created))
            }
            Method::DELETE => delete_collection(shared, &rt, request),
            _ => Err(ApiError::method_not_allowed(format!(
                "{} is not supported on the {} collection",
                request.method, rt.plural
            ))),
        };
    };

    let target = match path.subresource.as_deref() {
        None => Target::Main,
        Some("status") if rt.subresources.status => Target::Status,
        Some("scale") if rt.subresources.scale => {
            return scale(shared, &rt, &namespace, &name, request);
        }
        Some("log") if rt.subresources.log && request.method == Method::GET => {
            let pod = storage.get(&rt, &namespace, &name)?;
            let options = logs::options(&pod, &request.query)?;
            let stream = shared.logs.open(&pod, &options)?;
            return Ok(logs::response(stream, options.limit_bytes));
        }
        Some(other) => {
            return Err(ApiError::no_route(&format!("{}/{other}", rt.plural)));
        }
    };

    match request.method {
        Method::GET => {
            let object = storage.get(&rt, &namespace, &name)?;
            Ok(respond(format, 200, &rt, &version, &object))
        }
        Method::PUT => {
            let body = request.json_body()?;
            let updated =
                storage.update(&rt, &namespace, &name, body, target, request.dry_run())?;
            Ok(respond(format, 200, &rt, &version, &updated))
        }
        Method::PATCH => {
            let content_type = media::content_type(request.headers);
            let kind = PatchKind::from_content_type(&content_type)
                .ok_or_else(|| ApiError::unsupported_media_type(&content_type))?;
            let parsed = crate::patch::parse(kind, &request.body)?;
            let patched =
                storage.patch(&rt, &namespace, &name, &parsed, target, request.dry_run())?;
            Ok(respond(format, 200, &rt, &version, &patched))
        }
        Method::DELETE => {
            let options = delete_options(request)?;
            let (code, object) = storage.delete(&rt, &namespace, &name, &options)?;
            Ok(respond(format, code, &rt, &version, &object))
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "{} is not supported on {}",
            request.method, rt.plural
        ))),
    }
}

fn selectors(request: &ResourceRequest<'_>) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(
        request
            .query
            .get("labelSelector")
            .map_or("", String::as_str),
    )?;
    let fields = FieldSelector::parse(
        request
            .query
            .get("fieldSelector")
            .map_or("", String::as_str),
    )?;
    Ok((labels, fields))
}

fn watch_request(
    rt: &Arc<ResourceType>,
    request: &ResourceRequest<'_>,
    format: Format,
) -> Result<WatchRequest, ApiError> {
    let (labels, fields) = selectors(request)?;
    let timeout = request
        .query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(Duration::from_mins(30), Duration::from_secs);
    Ok(WatchRequest {
        rt: rt.clone(),
        version: request.path.version.clone(),
        namespace: request.path.namespace.clone(),
        labels,
        fields,
        resource_version: request.query.get("resourceVersion").cloned(),
        send_initial_events: request.flag("sendInitialEvents"),
        bookmarks: request.flag("allowWatchBookmarks"),
        timeout,
        format,
        include: Include::parse(request.query.get("includeObject").map(String::as_str)),
    })
}

fn list(
    shared: &Shared,
    rt: &ResourceType,
    request: &ResourceRequest<'_>,
    format: Format,
) -> Result<Response<Body>, ApiError> {
    let (labels, fields) = selectors(request)?;
    let (objects, revision) =
        shared
            .storage
            .list(rt, request.path.namespace.as_deref(), &labels, &fields);
    let version = &request.path.version;
    let items: Vec<Value> = objects.iter().map(|o| present(rt, version, o)).collect();
    let document = match format {
        Format::Table => {
            let refs: Vec<&Value> = items.iter().collect();
            let include = Include::parse(request.query.get("includeObject").map(String::as_str));
            table(&rt.kind, &refs, revision, include)
        }
        Format::Metadata => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": revision.to_string()},
            "items": items.iter().map(partial_metadata).collect::<Vec<_>>(),
        }),
        _ => json!({
            "kind": format!("{}List", rt.kind),
            "apiVersion": rt.api_version(version),
            "metadata": {"resourceVersion": revision.to_string()},
            "items": items,
        }),
    };
    Ok(media::json(200, &document))
}

fn delete_options(request: &ResourceRequest<'_>) -> Result<DeleteOptions, ApiError> {
    let body: Value = if request.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        request.json_body()?
    };
    let query = |name: &str| request.query.get(name).cloned();
    Ok(DeleteOptions {
        propagation: body
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| query("propagationPolicy"))
            .or_else(|| {
                let orphan = body
                    .get("orphanDependents")
                    .and_then(Value::as_bool)
                    .or_else(|| query("orphanDependents").map(|v| v == "true"));
                (orphan == Some(true)).then(|| "Orphan".to_owned())
            }),
        grace_period: body
            .get("gracePeriodSeconds")
            .and_then(Value::as_i64)
            .or_else(|| query("gracePeriodSeconds").and_then(|v| v.parse().ok())),
        uid: body
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_owned),
        resource_version: body
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_owned),
        dry_run: request.dry_run()
            || body
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|d| d.iter().any(|v| v == "All")),
    })
}

fn delete_collection(
    shared: &Shared,
    rt: &ResourceType,
    request: &ResourceRequest<'_>,
) -> Result<Response<Body>, ApiError> {
    let (labels, fields) = selectors(request)?;
    let options = delete_options(request)?;
    let (objects, revision) =
        shared
            .storage
            .list(rt, request.path.namespace.as_deref(), &labels, &fields);
    let mut deleted = Vec::new();
    for object in objects {
        match shared
            .storage
            .delete(rt, object.namespace(), object.name(), &options)
        {
            Ok((_, object)) => deleted.push(present(rt, &request.path.version, &object)),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let document = json!({
        "kind": format!("{}List", rt.kind),
        "apiVersion": rt.api_version(&request.path.version),
        "metadata": {"resourceVersion": revision.to_string()},
        "items": deleted,
    });
    Ok(media::json(200, &document))
}

fn scale_of(object: &Value) -> Value {
    let selector = object
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": object.name(),
            "namespace": object.namespace(),
            "uid": object.uid(),
            "resourceVersion": object.resource_version().to_string(),
            "creationTimestamp": object.pointer("/metadata/creationTimestamp"),
        },
        "spec": {"replicas": object.i64_at("/spec/replicas").unwrap_or(0)},
        "status": {"replicas": object.i64_at("/status/replicas").unwrap_or(0), "selector": selector},
    })
}

fn scale(
    shared: &Shared,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    request: &ResourceRequest<'_>,
) -> Result<Response<Body>, ApiError> {
    let storage = &shared.storage;
    let current = storage.get(rt, namespace, name)?;
    let desired = match request.method {
        Method::GET => return Ok(media::json(200, &scale_of(&current))),
        Method::PUT => request.json_body()?,
        Method::PATCH => {
            let content_type = media::content_type(request.headers);
            let kind = PatchKind::from_content_type(&content_type)
                .ok_or_else(|| ApiError::unsupported_media_type(&content_type))?;
            crate::patch::parse(kind, &request.body)?.apply(&scale_of(&current))?
        }
        _ => {
            return Err(ApiError::method_not_allowed(
                "scale supports get, update and patch",
            ));
        }
    };
    let replicas = desired.i64_at("/spec/replicas").ok_or_else(|| {
        crate::strategy::validation::invalid(
            "autoscaling",
            "Scale",
            name,
            &[crate::strategy::validation::FieldError::required(
                "spec.replicas",
                "",
            )],
        )
    })?;
    let updated = storage.modify(rt, namespace, name, Target::Main, |object| {
        object["spec"]["replicas"] = json!(replicas);
    })?;
    Ok(media::json(200, &scale_of(&updated)))
}
