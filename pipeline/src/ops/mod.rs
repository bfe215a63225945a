//! Operations: one request struct and one core function for each thing a user can do (the CLI
//! and, later, the HTTP API and the scheduler build the same requests and call the same
//! functions). Each build is persisted after every stage, so what the store shows is what
//! happened, even when a stage fails; what happens is told to the caller's observer.

pub mod access;
pub mod builds;
pub mod products;
pub mod publish;
pub mod releases;

use std::path::PathBuf;

use crate::context::Context;
use crate::engine::events::Observer;
use crate::engine::recorder::Recorder;
use crate::engine::{Packaged, destination, snapshot_and_bundle};
use crate::errors::Error;
use crate::manifest::load_product;
use crate::resources::build::{Build, Stage, Status};
use crate::resources::bundle::BundleOutcome;
use crate::resources::lock::Lock;
use crate::snapshot::snapshot;

pub use crate::engine::{DEFAULT_PARALLELISM, RunOutcome, RunRequest, Verdict};

/// Run a whole build ([`crate::engine::run_product`]); a green build of a product with a
/// release policy then becomes a release candidate ([`releases::propose_green_build`]).
pub async fn run_product(
    context: &Context,
    run: &crate::engine::CheckedRun,
    observer: &dyn Observer,
    interrupt: impl Future<Output = String>,
) -> Result<RunOutcome, Error> {
    let outcome = Box::pin(crate::engine::run_product(
        context, run, observer, interrupt,
    ))
    .await?;
    releases::propose_green_build(context, run.product(), &outcome.build, observer).await;
    Ok(outcome)
}

use crate::clusters::Reaped;
use crate::engine::events::BuildEvent;
use crate::resources::delivery::Delivery;

/// Mark builds whose process is gone as interrupted and tear down the clusters that are past
/// their TTL or whose build is over or gone, telling `observer` of each. A duty for the
/// scheduler, and what `chorale run` does first.
pub async fn reap(context: &Context, observer: &dyn Observer) -> Result<Reaped, Error> {
    let reaped = crate::clusters::reap(context).await?;
    for build in &reaped.interrupted {
        observer.event(&BuildEvent::Housekeeping {
            message: format!("build {build} was interrupted earlier"),
        });
        if let Err(error) = report_interrupted(context, build).await {
            tracing::warn!(%error, build, "the report of an interrupted build was not written");
        }
    }
    for cluster in &reaped.torn_down {
        observer.event(&BuildEvent::Housekeeping {
            message: format!("reaped cluster {cluster}"),
        });
    }
    Ok(reaped)
}

/// Write the report of `id`, a build just found interrupted, and tell its product's notifiers
/// (once: a delivery is recorded once per build, notifier and event, whoever reaps it).
async fn report_interrupted(context: &Context, id: &str) -> Result<(), Error> {
    let Some(build) = context.store.build(id).await? else {
        return Ok(());
    };
    let product = builds::product_of_build(context, id).await?;
    let recorder = Recorder {
        store: &context.store,
        observer: &crate::engine::events::Ignore,
    };
    crate::engine::report_and_notify(context, recorder, &product, &build).await;
    Ok(())
}

/// Send again the deliveries a dead process left unsent (once their sender's lease ran out).
/// A duty for the scheduler, and what `chorale run` does alongside its build.
pub async fn resume_deliveries(context: &Context) -> Vec<Delivery> {
    crate::notify::resume_pending(context).await
}

/// Default number of requests in flight while resolving and pushing.
pub const DEFAULT_CONCURRENCY: usize = 32;

/// Resolve a product into a lock.
#[derive(Debug, Clone)]
pub struct SnapshotRequest {
    /// The product manifest.
    pub manifest: PathBuf,
    /// Requests in flight at most.
    pub concurrency: usize,
}

/// Snapshot a product and push it as a bundle.
#[derive(Debug, Clone)]
pub struct BundleRequest {
    /// The product manifest.
    pub manifest: PathBuf,
    /// `host[:port]/repo` to push to; `None` writes OCI layouts under `STATE/oci`.
    pub registry: Option<String>,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Who asked: `cli`, `schedule`, `api`.
    pub trigger: String,
}

/// A finished bundle build.
#[derive(Debug, Clone)]
pub struct Bundled {
    /// The build, as stored.
    pub build: Build,
    /// The lock it bundled.
    pub lock: Lock,
    /// What was pushed.
    pub bundle: BundleOutcome,
}

/// Load, check and snapshot a product; the lock is stored. Nothing is stored on failure.
pub async fn snapshot_product(
    context: &Context,
    request: &SnapshotRequest,
    observer: &dyn Observer,
) -> Result<Lock, Error> {
    let product = load_product(&request.manifest)?;
    let previous = context.store.latest_lock(&product.name).await?;
    let snapshot = snapshot(
        &product,
        &context.runners,
        request.concurrency,
        previous.as_ref(),
        observer,
    )
    .await?;
    context.store.put_lock(&snapshot.lock).await?;
    Ok(snapshot.lock)
}

/// Snapshot a product and push its bundle, recording the build and every stage. An invalid
/// manifest or option fails before any build is recorded.
pub async fn bundle_product(
    context: &Context,
    request: &BundleRequest,
    observer: &dyn Observer,
) -> Result<Bundled, Error> {
    let product = load_product(&request.manifest)?;
    let destination = destination(context, request.registry.as_deref())?;
    let recorder = Recorder {
        store: &context.store,
        observer,
    };
    let mut build = Build::start(&product.name, &request.trigger, &Stage::BUNDLE);
    build.config = crate::engine::config_commit(&request.manifest).await;
    context.store.insert_new_build(&mut build).await?;
    recorder.started(&build).await?;
    crate::engine::record_file_request(context, &build.id, &request.manifest, false).await?;
    let Packaged::Bundled(packaged) = snapshot_and_bundle(
        context,
        recorder,
        &product,
        destination.as_ref(),
        &mut build,
        request.concurrency,
        false,
    )
    .await?
    else {
        unreachable!("only a build that skips unchanged locks ends unchanged");
    };
    let (snapshot, outcome) = *packaged;
    recorder.finish(&mut build, Status::Succeeded, None).await?;
    Ok(Bundled {
        build,
        lock: snapshot.lock,
        bundle: outcome,
    })
}
