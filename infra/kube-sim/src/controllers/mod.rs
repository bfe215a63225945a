//! The controllers of the control plane. Each is level-triggered: it reconciles every object it
//! owns whenever a watched type changes (debounced), and once a second for time-based rules
//! (deadlines, back-off, availability).

mod crd;
mod daemonset;
mod deployment;
mod endpoints;
mod garbage;
mod job;
mod namespace;
mod pods;
mod replicaset;
mod statefulset;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::catalog::ResourceKey;
use crate::storage::Storage;

/// How long a burst of changes is collected before reconciling.
const DEBOUNCE: Duration = Duration::from_millis(20);
/// How often every controller reconciles without a change.
const RESYNC: Duration = Duration::from_secs(1);

/// A controller: the types it watches and its reconcile function.
struct Controller {
    name: &'static str,
    watches: Vec<ResourceKey>,
    reconcile: Box<dyn FnMut(&Storage) + Send>,
}

/// Starts every controller.
pub fn spawn(
    storage: &Arc<Storage>,
    ca_pem: &str,
    tasks: &mut JoinSet<()>,
    stop: &CancellationToken,
) {
    let key = ResourceKey::new;
    let controllers = vec![
        Controller {
            name: "replicaset",
            watches: vec![key("apps", "replicasets"), key("", "pods")],
            reconcile: Box::new(replicaset::reconcile),
        },
        Controller {
            name: "deployment",
            watches: vec![key("apps", "deployments"), key("apps", "replicasets")],
            reconcile: Box::new(deployment::reconcile),
        },
        Controller {
            name: "statefulset",
            watches: vec![key("apps", "statefulsets"), key("", "pods")],
            reconcile: Box::new(statefulset::reconcile),
        },
        Controller {
            name: "daemonset",
            watches: vec![key("apps", "daemonsets"), key("", "pods")],
            reconcile: Box::new(daemonset::reconcile),
        },
        Controller {
            name: "job",
            watches: vec![key("batch", "jobs"), key("", "pods")],
            reconcile: Box::new(job::reconcile),
        },
        Controller {
            name: "endpoints",
            watches: vec![key("", "services"), key("", "pods"), key("", "endpoints")],
            reconcile: Box::new(endpoints::reconcile),
        },
        Controller {
            name: "namespace",
            watches: Vec::new(),
            reconcile: Box::new(namespace::reconciler(ca_pem.to_owned())),
        },
        Controller {
            name: "garbage-collector",
            watches: Vec::new(),
            reconcile: Box::new(garbage::reconcile),
        },
        Controller {
            name: "customresourcedefinition",
            watches: vec![key("apiextensions.k8s.io", "customresourcedefinitions")],
            reconcile: Box::new(crd::reconcile),
        },
    ];
    for controller in controllers {
        tasks.spawn(run(storage.clone(), controller, stop.clone()));
    }
}

/// Runs one controller until `stop` is cancelled. An empty watch list means every type.
async fn run(storage: Arc<Storage>, mut controller: Controller, stop: CancellationToken) {
    let mut events = storage.store.events();
    let mut ticker = tokio::time::interval(RESYNC);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::debug!(controller = controller.name, "started");
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
            event = events.recv() => match event {
                Ok(event) if !controller.watches.is_empty() && !controller.watches.contains(&event.key) => continue,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    tokio::time::sleep(DEBOUNCE).await;
                    // Drain what arrived meanwhile; one reconcile covers it all.
                    while !matches!(events.try_recv(), Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed)) {}
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
        (controller.reconcile)(&storage);
    }
}
