//! `chorale serve`: one process runs the HTTP API, the scheduler, the build workers, and the
//! duties a dead process may leave (the reaper, the delivery resumer), at start and then every
//! half a build's lease. On SIGTERM it stops taking
//! requests and claiming builds, lets running builds finish for a grace period, then
//! interrupts them: their clusters are torn down and they are recorded as interrupted.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::api::metrics::Metrics;
use crate::api::oidc::{OidcConfig, OidcVerifier};
use crate::api::{ApiState, router};
use crate::context::Context;
use crate::engine::RunRequest;
use crate::engine::events::{Both, Ignore, Stored};
use crate::errors::Error;
use crate::ops::builds::run_next_queued;
use crate::ops::publish::resume_publications;
use crate::ops::{reap, resume_deliveries};
use crate::scheduler::run::{Recorded, Schedules, tick};

/// How often the scheduler looks at the schedules.
const SCHEDULER_TICK: Duration = Duration::from_millis(500);

/// How often an idle worker looks at the queue when nobody wakes it (a build queued by
/// another replica, or one left `pending` when a server stopped).
const IDLE_POLL: Duration = Duration::from_secs(2);

/// How the service runs.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Builds run at once at most.
    pub workers: usize,
    /// How long running builds may go on after SIGTERM before they are interrupted.
    pub grace: Duration,
    /// Everything of a build the server decides; a trigger adds the product's manifest.
    pub defaults: RunRequest,
    /// How each worker opens the state for itself.
    pub open: ContextOptions,
    /// Which OIDC bearer tokens are accepted besides Chorale's own, if any.
    pub oidc: Option<OidcConfig>,
}

/// What [`Context::open`] takes.
#[derive(Debug, Clone)]
pub struct ContextOptions {
    /// The state folder.
    pub state_dir: std::path::PathBuf,
    /// The database, when not the state folder's SQLite.
    pub database_url: Option<String>,
    /// How registries are reached.
    pub registry: chorale_runners::registry::RegistryOptions,
    /// Packaged chart size in bytes over which a snapshot warns.
    pub chart_size_warning: u64,
}

/// Serve on `listener` until `stop` resolves (with the signal's name), then stop as the
/// module says.
pub async fn serve(
    context: Context,
    config: ServiceConfig,
    listener: tokio::net::TcpListener,
    stop: impl Future<Output = String> + Send + 'static,
) -> Result<(), Error> {
    let oidc = config
        .oidc
        .map(OidcVerifier::new)
        .transpose()?
        .map(Arc::new);
    if let Some(oidc) = &oidc {
        tracing::info!(issuer = oidc.issuer(), "OIDC bearer tokens are accepted");
        tokio::spawn({
            let oidc = Arc::clone(oidc);
            async move { oidc.load_keys().await }
        });
    }
    let queued = Arc::new(Notify::new());
    let metrics = Arc::new(Metrics::default());
    let (stopping, stop_claiming) = watch::channel(false);
    let housekeeping = tokio::spawn(housekeeping_loop(
        context.clone(),
        config.defaults.lease,
        stop_claiming.clone(),
    ));
    let (interrupt_with, interrupt) = watch::channel(None::<String>);
    let workers = (0..config.workers.max(1))
        .map(|index| {
            let open = config.open.clone();
            let defaults = config.defaults.clone();
            let queued = Arc::clone(&queued);
            let stop = stop_claiming.clone();
            let interrupt = interrupt.clone();
            let metrics = Arc::clone(&metrics);
            std::thread::Builder::new()
                .name(format!("chorale-worker-{index}"))
                .spawn(move || worker_thread(&open, defaults, &queued, stop, &interrupt, &metrics))
                .map_err(|source| Error::Io {
                    path: "chorale-worker".into(),
                    source,
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let scheduler = tokio::spawn(schedule_loop(
        context.clone(),
        config.defaults.clone(),
        Arc::clone(&queued),
        stop_claiming.clone(),
        Arc::clone(&metrics),
    ));
    let state = ApiState {
        context,
        defaults: config.defaults,
        queued: Arc::clone(&queued),
        metrics,
        oidc,
    };
    let (signal_with, signal) = watch::channel(None::<String>);
    let served = axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let name = stop.await;
        tracing::warn!(signal = %name, "stopping: no new requests or builds");
        let _ = signal_with.send(Some(name));
        let _ = stopping.send(true);
    })
    .await;
    let _ = scheduler.await;
    let _ = housekeeping.await;
    let name = signal
        .borrow()
        .clone()
        .unwrap_or_else(|| "shutdown".to_owned());
    let mut all = tokio::task::spawn_blocking(move || {
        for worker in workers {
            let _ = worker.join();
        }
    });
    tokio::select! {
        _ = &mut all => {}
        () = tokio::time::sleep(config.grace) => {
            tracing::warn!(grace = ?config.grace, "running builds are interrupted");
            let _ = interrupt_with.send(Some(name));
            let _ = all.await;
        }
    }
    served.map_err(|source| Error::Io {
        path: "chorale serve".into(),
        source,
    })
}

/// A worker: a thread with a runtime and a database pool of its own, so that a build (whose
/// engine future is not `Send`) runs where it started, and a busy build never holds up the API.
fn worker_thread(
    open: &ContextOptions,
    defaults: RunRequest,
    queued: &Notify,
    stop: watch::Receiver<bool>,
    interrupt: &watch::Receiver<Option<String>>,
    metrics: &Metrics,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "a build worker cannot start its runtime");
            return;
        }
    };
    runtime.block_on(async {
        match Context::open(
            &open.state_dir,
            open.database_url.as_deref(),
            open.registry.clone(),
        )
        .await
        {
            Ok(mut context) => {
                context.runners.charts.size_warning = open.chart_size_warning;
                worker(context, defaults, queued, stop, interrupt, metrics).await;
            }
            Err(error) => tracing::error!(%error, "a build worker cannot open the state"),
        }
    });
}

/// Claim and run queued builds until told to stop claiming.
async fn worker(
    context: Context,
    defaults: RunRequest,
    queued: &Notify,
    mut stop: watch::Receiver<bool>,
    interrupt: &watch::Receiver<Option<String>>,
    metrics: &Metrics,
) {
    while !*stop.borrow() {
        let mut interrupt = interrupt.clone();
        let interrupted = async move {
            let name = interrupt
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|name| name.clone());
            match name {
                Some(name) => name,
                // The service is gone without interrupting: nothing will.
                None => std::future::pending().await,
            }
        };
        let events = Stored::start(context.store.clone());
        let observer = Both(&events, metrics);
        let outcome = run_next_queued(&context, &defaults, &observer, interrupted).await;
        events.finish().await;
        match outcome {
            Ok(Some(outcome)) => tracing::info!(
                build = %outcome.build.id,
                status = %outcome.build.status,
                "build ended"
            ),
            Ok(None) => {
                tokio::select! {
                    () = queued.notified() => {}
                    () = tokio::time::sleep(IDLE_POLL) => {}
                    // The sender gone means the service is going too: never spin on it.
                    changed = stop.changed() => if changed.is_err() { return; }
                }
            }
            Err(error) => tracing::warn!(%error, "a queued build failed"),
        }
    }
}

/// The duties no request asks for, at start and then every half `lease` until told to stop:
/// builds whose process is gone, on this host or silent past their lease on any, are marked
/// interrupted, reported and announced, and their clusters torn down (with clusters past their
/// TTL); deliveries a dead process left unsent are sent again; release candidates past their
/// expiry are marked expired; approved releases nobody publishes (their publisher died, past
/// its lease) are published.
async fn housekeeping_loop(context: Context, lease: Duration, mut stop: watch::Receiver<bool>) {
    let every = lease / 2;
    let mut resuming: Option<tokio::task::JoinHandle<()>> = None;
    let mut publishing: Option<tokio::task::JoinHandle<()>> = None;
    while !*stop.borrow() {
        match reap(&context, &Ignore).await {
            Ok(reaped) => {
                for build in &reaped.interrupted {
                    tracing::warn!(build, "a build's process is gone: marked interrupted");
                }
                for (cluster, error) in &reaped.failed {
                    tracing::warn!(
                        cluster,
                        error,
                        "a cluster's teardown failed; tried again later"
                    );
                }
            }
            Err(error) => tracing::warn!(%error, "reaping failed"),
        }
        // Sending may wait out retries: it never holds up the reaper, and one at a time.
        if resuming
            .as_ref()
            .is_none_or(tokio::task::JoinHandle::is_finished)
        {
            let context = context.clone();
            resuming = Some(tokio::spawn(async move {
                resume_deliveries(&context).await;
            }));
        }
        if let Err(error) = context.store.expire_releases(None).await {
            tracing::warn!(%error, "cannot expire release candidates");
        }
        // Releases approved but not published (their process died, or an approval's
        // background publish did): publishing may take long, so it runs on its own.
        if publishing
            .as_ref()
            .is_none_or(tokio::task::JoinHandle::is_finished)
        {
            let context = context.clone();
            publishing = Some(tokio::spawn(async move {
                resume_publications(&context, lease, &Ignore).await;
            }));
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            changed = stop.changed() => if changed.is_err() { return; }
        }
    }
}

/// Look at the schedules every [`SCHEDULER_TICK`] until told to stop; wake a worker for each
/// build queued.
async fn schedule_loop(
    context: Context,
    defaults: RunRequest,
    queued: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
) {
    let mut schedules = Schedules::default();
    while !*stop.borrow() {
        match tick(&context, &defaults, &mut schedules).await {
            Ok(recorded) => {
                for Recorded { occurrence, lag } in recorded {
                    if let Some(lag) = lag {
                        metrics.scheduled(lag);
                    }
                    tracing::info!(
                        product = %occurrence.product,
                        fire_at = %occurrence.fire_at,
                        state = %occurrence.state,
                        build = occurrence.build_id.as_deref().unwrap_or("-"),
                        "scheduled"
                    );
                    if occurrence.build_id.is_some() {
                        queued.notify_one();
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "the scheduler's look failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(SCHEDULER_TICK) => {}
            changed = stop.changed() => if changed.is_err() { return; }
        }
    }
}
