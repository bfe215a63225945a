//! What a build tells while it runs. The engine never prints: it sends [`BuildEvent`]s to an
//! [`Observer`] it is given. The CLI draws them (a progress line and one line per stage); the
//! service will store them and stream them to its clients. Events say what happened; the build
//! record in the store says where everything is.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::resources::build::{Stage, Status};

/// One thing that happened during a build (or a snapshot). As JSON (stored with the build and
/// streamed by `GET /api/v1/builds/{id}/events`): `{"type": "stageEnded", "stage": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum BuildEvent {
    /// A build was recorded and starts.
    Started {
        /// Its id.
        build: String,
        /// Its product.
        product: String,
        /// The version it would publish.
        candidate: Option<String>,
    },
    /// Something found at the start of a run: a build an earlier process left is marked
    /// interrupted, a cluster it left is reaped.
    Housekeeping {
        /// What was done, in a sentence.
        message: String,
    },
    /// Something a person should look at that does not stop the run (a chart larger than the
    /// size warning, naming its largest files).
    Warning {
        /// What, in a sentence.
        message: String,
    },
    /// The snapshot resolves this many components.
    Resolving {
        /// How many.
        components: usize,
    },
    /// One more component resolved (or failed to).
    Resolved {
        /// Its name.
        component: String,
    },
    /// A stage started.
    StageStarted {
        /// Which.
        stage: Stage,
    },
    /// A stage ended.
    StageEnded {
        /// Which.
        stage: Stage,
        /// How.
        status: Status,
        /// Its one-line summary or error.
        message: Option<String>,
        /// How long it took, in seconds.
        seconds: f64,
    },
    /// A component's deploy ended.
    ComponentDeployed {
        /// Its name.
        component: String,
        /// How it ended.
        status: Status,
        /// Why it failed or was skipped.
        message: Option<String>,
    },
    /// A test of the plan started.
    TestStarted {
        /// Its name.
        test: String,
    },
    /// A test of the plan ended.
    TestEnded {
        /// Its name.
        test: String,
        /// How it ended.
        status: Status,
        /// Runs made.
        attempts: u32,
    },
    /// The run is stopping because of a signal; the cluster is torn down.
    Interrupted {
        /// Why, e.g. `interrupted by SIGTERM`.
        reason: String,
    },
    /// The report of the ended build was written (the HTML page's path), or could not be.
    Reported {
        /// The HTML report (`{"html": PATH}`), or why there is none (`{"error": …}`).
        #[serde(with = "report_result")]
        #[schema(value_type = Object)]
        result: Result<String, String>,
    },
    /// A notification delivery was attempted.
    Notified {
        /// The notifier's name.
        notifier: String,
        /// Its channel (`slack`, `email`, …).
        channel: String,
        /// The event it was told (`success`, `failure`, …).
        event: String,
        /// Its delivery state (`delivered`, `failed`, …).
        state: String,
        /// The last error, if any.
        error: Option<String>,
    },
    /// What became of a green build of a product with a release policy: a candidate waiting
    /// for approval, approved at once, or why it is no candidate.
    Release {
        /// In a sentence.
        message: String,
    },
    /// The build ended.
    Ended {
        /// How.
        status: Status,
        /// Why it failed.
        error: Option<String>,
    },
    /// The last event of a build's stream, after its report and notifications: nothing more
    /// will be told.
    Closed,
}

/// A report's outcome as `{"html": PATH}` or `{"error": MESSAGE}`.
mod report_result {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    enum Outcome {
        Html(String),
        Error(String),
    }

    pub fn serialize<S: Serializer>(
        result: &Result<String, String>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match result {
            Ok(html) => Outcome::Html(html.clone()),
            Err(error) => Outcome::Error(error.clone()),
        }
        .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Result<String, String>, D::Error> {
        Ok(match Outcome::deserialize(deserializer)? {
            Outcome::Html(html) => Ok(html),
            Outcome::Error(error) => Err(error),
        })
    }
}

/// Receives a build's events as they happen. It must not block for long: the build waits.
pub trait Observer: Send + Sync {
    /// One event.
    fn event(&self, event: &BuildEvent);
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Ignore;

impl Observer for Ignore {
    fn event(&self, _: &BuildEvent) {}
}

/// Two observers told the same events, in turn.
#[derive(Clone, Copy)]
pub struct Both<'a>(pub &'a dyn Observer, pub &'a dyn Observer);

impl Observer for Both<'_> {
    fn event(&self, event: &BuildEvent) {
        self.0.event(event);
        self.1.event(event);
    }
}

/// An observer that keeps every event, in order (for tests and for whoever reads them after
/// the build).
#[derive(Debug, Default)]
pub struct Recorded(Mutex<Vec<BuildEvent>>);

impl Recorded {
    /// The events so far.
    pub fn events(&self) -> Vec<BuildEvent> {
        self.0.lock().expect("events lock poisoned").clone()
    }
}

impl Observer for Recorded {
    fn event(&self, event: &BuildEvent) {
        self.0
            .lock()
            .expect("events lock poisoned")
            .push(event.clone());
    }
}

/// An observer that keeps a build's events in the store, from its `Started` on, numbered in
/// order, for the event stream of any replica. The build never waits on the database: events
/// go through a channel to a task of their own; [`Stored::finish`] waits until all are kept.
#[derive(Debug)]
pub struct Stored {
    sender: tokio::sync::mpsc::UnboundedSender<(jiff::Timestamp, BuildEvent)>,
    writer: tokio::task::JoinHandle<()>,
}

impl Stored {
    /// An observer writing to `store` (on the current runtime).
    pub fn start(store: crate::store::Store) -> Self {
        let (sender, mut events) =
            tokio::sync::mpsc::unbounded_channel::<(jiff::Timestamp, BuildEvent)>();
        let writer = tokio::spawn(async move {
            let mut build = None;
            let mut seq = 0;
            while let Some((at, event)) = events.recv().await {
                if let BuildEvent::Started { build: id, .. } = &event {
                    build = Some(id.clone());
                }
                let Some(id) = &build else { continue };
                seq += 1;
                let json = serde_json::to_string(&event).expect("an event serialises");
                if let Err(error) = store.append_event(id, seq, at, &json).await {
                    tracing::warn!(%error, build = %id, "a build event was not kept");
                }
            }
        });
        Self { sender, writer }
    }

    /// Close the build's stream ([`BuildEvent::Closed`]) and wait until every event is kept.
    pub async fn finish(self) {
        self.event(&BuildEvent::Closed);
        drop(self.sender);
        let _ = self.writer.await;
    }
}

impl Observer for Stored {
    fn event(&self, event: &BuildEvent) {
        let _ = self.sender.send((jiff::Timestamp::now(), event.clone()));
    }
}
