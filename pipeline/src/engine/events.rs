//! What a build tells while it runs. The engine never prints: it sends [`BuildEvent`]s to an
//! [`Observer`] it is given. The CLI draws them (a progress line and one line per stage); the
//! service will store them and stream them to its clients. Events say what happened; the build
//! record in the store says where everything is.

use std::sync::Mutex;

use crate::resources::build::{Stage, Status};

/// One thing that happened during a build (or a snapshot).
#[derive(Debug, Clone, PartialEq)]
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
        /// The HTML report, or why there is none.
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
    /// The build ended.
    Ended {
        /// How.
        status: Status,
        /// Why it failed.
        error: Option<String>,
    },
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
