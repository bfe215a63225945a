//! `GET /api/v1/builds/{id}/events`: a build's progress as Server-Sent Events, from the events
//! its worker keeps in the store (so any replica can serve them), then an `end` event with the
//! build as it ended.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::time::Instant;

use super::ApiState;
use super::caller::Caller;
use super::problem::{Problem, ProblemDocument};
use super::records::build_of;
use crate::ops::access::authorize;
use crate::resources::access::Role;
use crate::resources::build::BuildDocument;
use crate::store::{Store, StoredEvent};

/// How often the store is asked for new events.
const POLL: Duration = Duration::from_millis(300);

/// How long after a build ended its stream may stay open without its closing event (its
/// worker died, or it ran in a process that keeps no events).
const QUIET_AFTER_END: Duration = Duration::from_secs(5);

/// A build's events as they happen.
#[utoipa::path(get, path = "/api/v1/builds/{id}/events", tag = "builds",
    params(("id" = String, Path, description = "The build id"),
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event")),
    security(("bearer" = ["viewer"])),
    responses((status = 200, content_type = "text/event-stream", body = String,
            description = "One SSE event per build event: `id` its number, `event` its type (`started`, `stageStarted`, `stageEnded`, `componentDeployed`, `testEnded`, `ended`, …), `data` the event as JSON; last an `end` event whose data is the Build"),
        (status = 400, body = ProblemDocument), (status = 401, body = ProblemDocument),
        (status = 403, body = ProblemDocument), (status = 404, body = ProblemDocument)))]
pub async fn build_events(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    authorize(&caller.identity, Role::Viewer)?;
    let build = build_of(&state, &id).await?;
    let after = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    let follow = Follow {
        store: state.context.store.clone(),
        id: build.id,
        after,
        pending: VecDeque::new(),
        closed: false,
        ended_at: None,
        done: false,
    };
    Ok(Sse::new(futures::stream::unfold(follow, Follow::next)).keep_alive(KeepAlive::default()))
}

/// Where a stream of one build's events is.
struct Follow {
    store: Store,
    id: String,
    /// The number of the last event read.
    after: i64,
    pending: VecDeque<StoredEvent>,
    /// The closing event was read.
    closed: bool,
    /// When the build was first seen ended.
    ended_at: Option<Instant>,
    /// The `end` event was sent.
    done: bool,
}

impl Follow {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if let Some(stored) = self.pending.pop_front() {
                let kind = kind_of(&stored);
                let event = Event::default()
                    .id(stored.seq.to_string())
                    .event(kind)
                    .data(stored.event);
                return Some((Ok(event), self));
            }
            if self.done {
                return None;
            }
            match self.step().await {
                Ok(Some(end)) => {
                    self.done = true;
                    return Some((Ok(end), self));
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(%error, build = %self.id, "a build's event stream broke off");
                    return None;
                }
            }
        }
    }

    /// Read what is new; the `end` event once nothing more will come.
    async fn step(&mut self) -> Result<Option<Event>, crate::errors::StoreError> {
        let events = self.store.events_after(&self.id, self.after, 100).await?;
        if let Some(last) = events.last() {
            self.after = last.seq;
            self.closed |= events.iter().any(|e| kind_of(e) == "closed");
            self.pending.extend(events);
            return Ok(None);
        }
        let Some(build) = self.store.build(&self.id).await? else {
            return Ok(Some(Event::default().event("end").data("null")));
        };
        if build.status.is_final() {
            let ended_at = *self.ended_at.get_or_insert_with(Instant::now);
            if self.closed || self.after == 0 || ended_at.elapsed() >= QUIET_AFTER_END {
                let document =
                    serde_json::to_string(&BuildDocument::from(build)).expect("a build serialises");
                return Ok(Some(Event::default().event("end").data(document)));
            }
        }
        tokio::time::sleep(POLL).await;
        Ok(None)
    }
}

/// The type of a stored event (`stageEnded`, `closed`, …).
fn kind_of(stored: &StoredEvent) -> String {
    serde_json::from_str::<serde_json::Value>(&stored.event)
        .ok()
        .and_then(|v| v["type"].as_str().map(str::to_owned))
        .unwrap_or_default()
}
