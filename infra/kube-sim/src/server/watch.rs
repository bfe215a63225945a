//! Watches: a stream of `{"type": ..., "object": ...}` lines with resourceVersion semantics,
//! bookmarks, initial events and 410 Gone for versions older than the kept history.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::media::{Body, Format};
use super::table::{Include, partial_metadata, table};
use crate::catalog::ResourceType;
use crate::errors::ApiError;
use crate::selector::{FieldSelector, LabelSelector};
use crate::storage::Storage;
use crate::store::{Event, EventType};

/// How often a watch that asked for bookmarks gets one.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(10);

/// A watch request.
#[derive(Debug)]
pub struct WatchRequest {
    /// The type watched.
    pub rt: Arc<ResourceType>,
    /// The version the client reads.
    pub version: String,
    /// The namespace, or all.
    pub namespace: Option<String>,
    /// Label selector.
    pub labels: LabelSelector,
    /// Field selector.
    pub fields: FieldSelector,
    /// `resourceVersion` as sent.
    pub resource_version: Option<String>,
    /// `sendInitialEvents=true`.
    pub send_initial_events: bool,
    /// `allowWatchBookmarks=true`.
    pub bookmarks: bool,
    /// When the server ends the watch.
    pub timeout: Duration,
    /// The output format.
    pub format: Format,
    /// What Table rows carry.
    pub include: Include,
}

struct Watcher {
    request: WatchRequest,
    api_version: String,
    sender: mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>,
}

impl Watcher {
    fn present(&self, object: &Value) -> Value {
        let mut object = object.clone();
        object["apiVersion"] = json!(self.api_version);
        match self.request.format {
            Format::Table => table(
                &self.request.rt.kind,
                &[&object],
                object_revision(&object),
                self.request.include,
            ),
            Format::Metadata => partial_metadata(&object),
            _ => object,
        }
    }

    async fn send(&self, kind: &str, object: &Value) -> bool {
        let mut line =
            serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
        line.push(b'\n');
        self.sender
            .send(Ok(Frame::data(Bytes::from(line))))
            .await
            .is_ok()
    }

    async fn bookmark(&self, revision: u64, initial_events_end: bool) -> bool {
        let kind = if self.request.format == Format::Metadata {
            "PartialObjectMetadata"
        } else {
            &self.request.rt.kind
        };
        let api_version = if self.request.format == Format::Metadata {
            "meta.k8s.io/v1"
        } else {
            &self.api_version
        };
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        self.send(
            "BOOKMARK",
            &json!({"kind": kind, "apiVersion": api_version, "metadata": metadata}),
        )
        .await
    }

    fn selected(&self, object: &Value) -> bool {
        let namespace_ok = self.request.namespace.as_deref().is_none_or(|ns| {
            object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                == ns
        });
        namespace_ok && self.request.labels.matches(object) && self.request.fields.matches(object)
    }

    /// Sends one store event, translated for the selectors. Returns false when the client left.
    async fn forward(&self, event: &Event) -> bool {
        if event.key != self.request.rt.key() {
            return true;
        }
        let now = self.selected(&event.object);
        let before = event.previous.as_deref().is_some_and(|p| self.selected(p));
        let kind = match (event.kind, before, now) {
            (EventType::Added, _, true) | (EventType::Modified, false, true) => "ADDED",
            (EventType::Modified, true, true) => "MODIFIED",
            (EventType::Modified, true, false)
            | (EventType::Deleted, true, _)
            | (EventType::Deleted, _, true) => "DELETED",
            _ => return true,
        };
        self.send(kind, &self.present(&event.object)).await
    }
}

fn object_revision(object: &Value) -> u64 {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Starts a watch and returns the streaming response.
pub fn watch(storage: &Storage, request: WatchRequest) -> Result<Response<Body>, ApiError> {
    let requested: Option<u64> = match request.resource_version.as_deref() {
        None | Some("" | "0") => None,
        Some(text) => Some(
            text.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {text:?}")))?,
        ),
    };
    let initial = request.send_initial_events || requested.is_none();
    let (snapshot, start) = if initial {
        let (objects, revision) = storage.list(
            &request.rt,
            request.namespace.as_deref(),
            &request.labels,
            &request.fields,
        );
        (objects, revision)
    } else {
        (Vec::new(), requested.unwrap_or(0))
    };
    let subscription = storage.store.subscribe(Some(start));
    let (sender, receiver) = mpsc::channel(256);
    let api_version = request.rt.api_version(&request.version);
    let watcher = Watcher {
        request,
        api_version,
        sender,
    };
    tokio::spawn(async move {
        let mut subscription = match subscription {
            Ok(subscription) => subscription,
            Err(oldest) => {
                let status =
                    ApiError::gone(format!("too old resource version: {start} ({oldest})"))
                        .to_status();
                watcher.send("ERROR", &status).await;
                return;
            }
        };
        for object in &snapshot {
            if !watcher.send("ADDED", &watcher.present(object)).await {
                return;
            }
        }
        if watcher.request.send_initial_events
            && watcher.request.bookmarks
            && !watcher.bookmark(start, true).await
        {
            return;
        }
        let mut last = start;
        for event in std::mem::take(&mut subscription.backlog) {
            last = event.revision;
            if !watcher.forward(&event).await {
                return;
            }
        }
        let deadline = tokio::time::sleep(watcher.request.timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(BOOKMARK_INTERVAL);
        ticker.tick().await;
        loop {
            tokio::select! {
                () = &mut deadline => return,
                () = watcher.sender.closed() => return,
                _ = ticker.tick(), if watcher.request.bookmarks => {
                    if !watcher.bookmark(last, false).await {
                        return;
                    }
                }
                received = subscription.receiver.recv() => match received {
                    Ok(event) => {
                        if event.revision <= last {
                            continue;
                        }
                        last = event.revision;
                        if !watcher.forward(&event).await {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_) | broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    });
    let body = StreamBody::new(ReceiverStream::new(receiver)).boxed_unsync();
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
