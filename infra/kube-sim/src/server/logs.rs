//! `GET /api/v1/namespaces/NS/pods/NAME/log`: options, container choice, and streaming what
//! the kubelet reads from the container runtime.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::{Response, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::Value;

use super::media::Body;
use crate::errors::ApiError;
use crate::object::ObjectExt;

/// Log options of the request.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// The container (already resolved to a name of the pod).
    pub container: String,
    /// Keep streaming until the container stops.
    pub follow: bool,
    /// Only the last lines.
    pub tail_lines: Option<u64>,
    /// Prefix each line with its RFC 3339 time.
    pub timestamps: bool,
    /// Only lines newer than this many seconds.
    pub since_seconds: Option<i64>,
    /// Only lines newer than this time.
    pub since_time: Option<String>,
    /// Stop after this many bytes.
    pub limit_bytes: Option<u64>,
    /// The previous instance of a restarted container.
    pub previous: bool,
}

/// A stream of log bytes.
pub type LogStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// Where pod logs come from (the kubelet).
pub trait PodLogs: Send + Sync + std::fmt::Debug {
    /// Opens the log of one container of a pod.
    fn open(&self, pod: &Value, options: &LogOptions) -> Result<LogStream, ApiError>;
}

fn container_names(pod: &Value) -> Vec<String> {
    ["/spec/initContainers", "/spec/containers"]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// Reads the log options of a query and picks the container.
pub fn options(pod: &Value, query: &HashMap<String, String>) -> Result<LogOptions, ApiError> {
    let flag = |name: &str| query.get(name).is_some_and(|v| v == "true" || v == "1");
    let number = |name: &str| -> Result<Option<u64>, ApiError> {
        query
            .get(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| ApiError::bad_request(format!("{name}: invalid number {v:?}")))
            })
            .transpose()
    };
    let main: Vec<String> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let all = container_names(pod);
    let container = match query.get("container").filter(|c| !c.is_empty()) {
        Some(name) if all.contains(name) => name.clone(),
        Some(name) => {
            return Err(ApiError::bad_request(format!(
                "container {name} is not valid for pod {}",
                pod.name()
            )));
        }
        None => match pod.annotation("kubectl.kubernetes.io/default-container") {
            Some(name) if all.iter().any(|c| c == name) => name.to_owned(),
            _ if main.len() == 1 => main[0].clone(),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {}, choose one of: [{}]",
                    pod.name(),
                    main.join(" ")
                )));
            }
        },
    };
    Ok(LogOptions {
        container,
        follow: flag("follow"),
        tail_lines: number("tailLines")?,
        timestamps: flag("timestamps"),
        since_seconds: number("sinceSeconds")?.map(|s| s as i64),
        since_time: query.get("sinceTime").cloned(),
        limit_bytes: number("limitBytes")?,
        previous: flag("previous"),
    })
}

/// The streaming response of a log.
pub fn response(stream: LogStream, limit: Option<u64>) -> Response<Body> {
    let mut remaining = limit;
    let limited = stream
        .map(move |chunk| {
            chunk.map(|mut bytes| {
                if let Some(left) = remaining.as_mut() {
                    let take = bytes
                        .len()
                        .min(usize::try_from(*left).unwrap_or(usize::MAX));
                    bytes.truncate(take);
                    *left -= take as u64;
                }
                bytes
            })
        })
        .take_while(|chunk| std::future::ready(!matches!(chunk, Ok(b) if b.is_empty())))
        .map(|chunk| chunk.map(Frame::data));
    let mut response = Response::new(BodyExt::boxed_unsync(StreamBody::new(limited)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    response
}
