//! The build engine: a whole daily build. Snapshot → bundle → provision → deploy → test →
//! teardown, then the report; the build persisted after every step (with its event sent to the
//! observer, see [`recorder`]), the cluster torn down whatever happened (a failure, an error,
//! or a signal), and the verdict told apart from an infrastructure failure.
//!
//! The engine never prints: it sends [`events::BuildEvent`]s to the [`events::Observer`] it
//! is given.

mod deploy;
pub mod events;
mod package;
pub mod recorder;
pub mod seams;
mod testing;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use chorale_reports::Format;
use chorale_runners::cluster::{Cluster, ProviderKind};
use chorale_runners::helm::Helm;
use chorale_runners::kube::Kube;
use chorale_test_jobs::{BuildContext, ComponentContext, ImageContext, PinnedImage};

use crate::bundle::fetch_bundle;
use crate::clusters::{self, ClusterRequest, build_dir};
use crate::context::Context;
use crate::errors::Error;
use crate::manifest::{Product, load_product};
use crate::resources::build::{Build, ConfigCommit, ProductSource, RecordedRequest, Stage, Status};
use crate::resources::cluster::{ClusterRecord, ClusterState};
use crate::resources::lock::Lock;
use crate::resources::release::ReleaseChannel;

use events::{BuildEvent, Observer};
pub(crate) use package::{Packaged, destination, snapshot_and_bundle};
use recorder::Recorder;

/// Default number of components deployed at once.
pub const DEFAULT_PARALLELISM: usize = 4;

/// How long a pod may stay blocked by something outside it (an image that cannot be pulled, no
/// node for it, an unbound claim) before a wait on it ends with that reason instead of its
/// whole timeout.
pub const BLOCKED_AFTER: Duration = Duration::from_secs(30);

/// A full build of a product.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The product manifest.
    pub manifest: PathBuf,
    /// `host[:port]/repo` to push the bundle to; `None` writes OCI layouts under `STATE/oci`.
    pub registry: Option<String>,
    /// Requests in flight at most while resolving and pushing.
    pub concurrency: usize,
    /// The test cluster.
    pub cluster: ClusterRequest,
    /// Components deployed at once at most.
    pub parallelism: usize,
    /// How long one component's `helm upgrade --install --wait` may take.
    pub deploy_timeout: Duration,
    /// Who asked: `cli`, `schedule`, `api`.
    pub trigger: String,
    /// End the build `skipped`, before its bundle, when its lock equals the last green
    /// build's (the schedule's `skipUnchanged`).
    pub skip_unchanged: bool,
    /// How long the build stays owned by this process without a heartbeat: it is renewed every
    /// third of it while the build runs, and a build whose lease ran out is reaped by any
    /// process on the same database.
    pub lease: Duration,
}

/// The lease of a build unless the caller says otherwise.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every component deployed and every blocking test passed.
    Passed,
    /// The product failed: a component did not deploy or a blocking test failed.
    ProductFailed,
    /// Nothing was built: the lock equals the last green build's (`skip_unchanged`).
    Unchanged,
}

/// A run whose input was checked ([`RunRequest::check`]): the product loaded, the bundle's
/// destination and the options valid. Nothing is touched before a run is checked.
#[derive(Debug, Clone)]
pub struct CheckedRun {
    request: RunRequest,
    product: Product,
    destination: std::sync::Arc<dyn chorale_runners::registry::OciStore>,
    provider: ProviderKind,
}

impl RunRequest {
    /// Checks everything a run needs from its request, before anything is touched: bad input
    /// changes nothing.
    pub fn check(&self, context: &Context) -> Result<CheckedRun, Error> {
        let product = load_product(&self.manifest)?;
        let destination = destination(context, self.registry.as_deref())?;
        if self.parallelism == 0 {
            return Err(Error::Invalid(
                "--parallelism must be at least 1".to_owned(),
            ));
        }
        let provider = self
            .cluster
            .provider
            .or(product.cluster_provider)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "{}: no test cluster: set spec.cluster.provider in the product (e.g. `cluster: {{ provider: sim }}`) or pass --cluster",
                    self.manifest.display()
                ))
            })?;
        Ok(CheckedRun {
            request: self.clone(),
            product,
            destination,
            provider,
        })
    }
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The build, as stored.
    pub build: Build,
    /// Whether the product passed.
    pub verdict: Verdict,
}

/// Run a whole build of a product. `interrupt` resolves (with the signal's name) when the run
/// must stop: the work under way is dropped (helm and kube calls are cancelled), the cluster
/// is torn down and the build recorded as interrupted.
///
/// Errors: an infrastructure failure (registry, cluster, Kubernetes API, store) after the
/// build was recorded as failed and its cluster torn down; [`Error::Interrupted`]. (Bad input
/// was refused by [`RunRequest::check`].)
pub async fn run_product(
    context: &Context,
    run: &CheckedRun,
    observer: &dyn Observer,
    interrupt: impl Future<Output = String>,
) -> Result<RunOutcome, Error> {
    let mut build = run.queued_build();
    build.config = config_commit(&run.request.manifest).await;
    context.store.insert_new_build(&mut build).await?;
    Box::pin(run_build(context, run, build, observer, interrupt)).await
}

/// The commit of the git work tree the product file `manifest` is in, if it is in one (a
/// registered product's files, written out in the state folder, are in none).
pub(crate) async fn config_commit(manifest: &std::path::Path) -> Option<ConfigCommit> {
    let manifest = manifest.to_owned();
    let tree = tokio::task::spawn_blocking(move || chorale_runners::git::work_tree(&manifest))
        .await
        .ok()
        .flatten()?;
    Some(ConfigCommit {
        commit: tree.commit,
        dirty: tree.dirty,
    })
}

impl CheckedRun {
    /// A new build of this run, not yet started (`pending`): what the API queues for a worker.
    pub fn queued_build(&self) -> Build {
        let mut build = Build::start(&self.product.name, &self.request.trigger, &Stage::RUN);
        build.status = Status::Pending;
        build.candidate_version = Some(candidate_version(&self.product, &build));
        build
    }

    /// The product it builds.
    pub fn product(&self) -> &Product {
        &self.product
    }
}

/// Run `build` (from [`CheckedRun::queued_build`], perhaps claimed from the queue) as
/// [`run_product`] does, owned by this process.
pub async fn run_build(
    context: &Context,
    run: &CheckedRun,
    mut build: Build,
    observer: &dyn Observer,
    interrupt: impl Future<Output = String>,
) -> Result<RunOutcome, Error> {
    let recorder = Recorder {
        store: &context.store,
        observer,
    };
    let CheckedRun {
        request,
        product,
        destination,
        provider,
    } = run;
    let product = product.clone();
    build.status = Status::Running;
    build.owner = Some(clusters::this_process());
    recorder.started(&build).await?;
    record_file_request(
        context,
        &build.id,
        &request.manifest,
        request.skip_unchanged,
    )
    .await?;
    context.store.renew_lease(&build.id, request.lease).await?;

    let id = build.id.clone();
    let result = tokio::select! {
        result = stages(context, recorder, request, *provider, &product, destination.as_ref(), &mut build) => result,
        signal = interrupt => Err(Error::Interrupted(signal)),
        lost = heartbeat(context, &id, request.lease) => Err(Error::Interrupted(lost)),
    };
    if let Err(Error::Interrupted(signal)) = &result {
        let reason = format!("interrupted by {signal}");
        recorder.tell(&BuildEvent::Interrupted {
            reason: reason.clone(),
        });
        clusters::mark_interrupted(&mut build, &reason);
        recorder.save(&build).await?;
        // Its lease was taken: the record says why (reaped, or replaced by a newer fire time).
        if let Some(stored) = context.store.build(&build.id).await?
            && stored.id == build.id
        {
            build.error = stored.error;
        }
        recorder.tell(&BuildEvent::Ended {
            status: build.status,
            error: build.error.clone(),
        });
        teardown_build_clusters(context, &build.id).await;
    }
    if build.status.is_final() {
        report_and_notify(context, recorder, &product, &build).await;
    }
    let verdict = result?;
    Ok(RunOutcome { build, verdict })
}

/// Renew the lease of the running build `id` every third of `lease`; ends (with what stopped
/// the build) when the build is no longer running: another process found the lease run out
/// and reaped it. A renewal the database refuses is tried again at the next beat.
async fn heartbeat(context: &Context, id: &str, lease: Duration) -> String {
    loop {
        tokio::time::sleep(lease / 3).await;
        match context.store.renew_lease(id, lease).await {
            Ok(true) => {}
            Ok(false) => {
                return "the loss of its lease (another process ended the build)".to_owned();
            }
            Err(error) => tracing::warn!(%error, build = id, "the build's lease was not renewed"),
        }
    }
}

/// Write the ended build's report into its folder and tell the product's notifiers. Neither
/// can fail the build: a report that cannot be written is a warning, and deliveries record
/// their own failures.
pub(crate) async fn report_and_notify(
    context: &Context,
    recorder: Recorder<'_>,
    product: &Product,
    build: &Build,
) {
    let report = match crate::report::write_report(context, product, build).await {
        Ok(files) => {
            if let Some((_, html)) = files.files.iter().find(|(f, _)| *f == Format::Html) {
                recorder.tell(&BuildEvent::Reported {
                    result: Ok(html.display().to_string()),
                });
            }
            files.report
        }
        Err(error) => {
            tracing::warn!(%error, build = %build.id, "the report could not be written");
            recorder.tell(&BuildEvent::Reported {
                result: Err(error.to_string()),
            });
            match crate::report::build_report(context, build).await {
                Ok(report) => report,
                Err(_) => return,
            }
        }
    };
    // The report's verdict, so that the event and the message it carries agree.
    let event = if build.status == Status::Skipped {
        chorale_reports::notify::Event::Skipped
    } else {
        chorale_reports::notify::Event::for_verdict(report.summary().verdict)
    };
    for delivery in crate::notify::notify(context, product, &report, event).await {
        recorder.tell(&BuildEvent::Notified {
            notifier: delivery.notifier,
            channel: delivery.channel.as_str().to_owned(),
            event: delivery.event.as_str().to_owned(),
            state: delivery.state.as_str().to_owned(),
            error: delivery.last_error,
        });
    }
}

/// Tear down every active cluster recorded for `build_id`, reporting failures as warnings (the
/// reaper tries again later).
async fn teardown_build_clusters(context: &Context, build_id: &str) {
    let Ok(records) = context.store.clusters(None).await else {
        return;
    };
    for mut record in records {
        if record.build_id.as_deref() == Some(build_id)
            && record.state != ClusterState::TornDown
            && let Err(error) = clusters::teardown(context, &mut record).await
        {
            tracing::warn!(cluster = %record.cluster.name, %error, "teardown failed");
        }
    }
}

/// The version the build would be released as: its daily version (the date in the release
/// time zone), or `MAJOR.MINOR.PATCH-rc` for a pre-release product, whose rc number is given
/// when the build becomes a candidate.
fn candidate_version(product: &Product, build: &Build) -> String {
    match &product.release {
        Some(policy) if policy.channel == ReleaseChannel::Prerelease => {
            format!("{}.{}-rc", product.version_line, policy.patch)
        }
        _ => product.daily_version(build.created_at).to_string(),
    }
}

/// Every stage after the build was recorded.
async fn stages(
    context: &Context,
    recorder: Recorder<'_>,
    request: &RunRequest,
    provider: ProviderKind,
    product: &Product,
    destination: &dyn chorale_runners::registry::OciStore,
    build: &mut Build,
) -> Result<Verdict, Error> {
    let Packaged::Bundled(packaged) = snapshot_and_bundle(
        context,
        recorder,
        product,
        destination,
        build,
        request.concurrency,
        request.skip_unchanged,
    )
    .await?
    else {
        return Ok(Verdict::Unchanged);
    };
    let (snapshot, _bundle) = *packaged;

    recorder.begin(build, Stage::Provision).await?;
    let cluster = match clusters::provision(context, build, provider, &request.cluster).await {
        Ok(cluster) => cluster,
        Err(error) => return recorder.fail(build, Stage::Provision, error).await,
    };
    build.cluster = Some(cluster.name.clone());
    let message = format!("{} cluster {}", cluster.provider, cluster.name);
    recorder
        .end(build, Stage::Provision, Status::Succeeded, message)
        .await?;

    let tested = Box::pin(deploy_and_test(
        context,
        recorder,
        request,
        &snapshot.lock,
        build,
        &cluster,
    ))
    .await;

    recorder.begin(build, Stage::Teardown).await?;
    let mut record = ClusterRecord::active(cluster.clone(), &build.id);
    let (status, message) = match clusters::teardown(context, &mut record).await {
        Ok(()) => (
            Status::Succeeded,
            format!("cluster {} deleted", cluster.name),
        ),
        Err(error) => (Status::Failed, format!("{error} (the reaper tries again)")),
    };
    recorder
        .end(build, Stage::Teardown, status, message)
        .await?;

    match tested {
        Ok(verdict) => {
            let (status, error) = match verdict {
                // (A deployed and tested build is never `Unchanged`: that ends before the bundle.)
                Verdict::Passed | Verdict::Unchanged => (Status::Succeeded, None),
                Verdict::ProductFailed => (Status::Failed, failed_stage_message(build)),
            };
            recorder.finish(build, status, error).await?;
            Ok(verdict)
        }
        Err((stage, error)) => {
            let message = format!("{stage}: {error}");
            recorder
                .finish(build, Status::Failed, Some(message))
                .await?;
            Err(error)
        }
    }
}

/// `STAGE: message` of the first failed stage.
fn failed_stage_message(build: &Build) -> Option<String> {
    build
        .stages
        .iter()
        .find(|s| s.status == Status::Failed)
        .map(|s| format!("{}: {}", s.name, s.message.as_deref().unwrap_or("failed")))
}

/// The `deploy` and `test` stages. An infrastructure error comes back with its stage (which is
/// recorded as failed); a product failure is a verdict.
async fn deploy_and_test(
    context: &Context,
    recorder: Recorder<'_>,
    request: &RunRequest,
    lock: &Lock,
    build: &mut Build,
    cluster: &Cluster,
) -> Result<Verdict, (Stage, Error)> {
    let stage_error = |stage: Stage| move |error: Error| (stage, error);
    recorder
        .begin(build, Stage::Deploy)
        .await
        .map_err(stage_error(Stage::Deploy))?;
    let dir = build_dir(context, &build.id);
    let namespace = cluster
        .namespace
        .clone()
        .unwrap_or_else(|| lock.product.clone());
    let prepared = async {
        let bundle = build
            .bundle
            .clone()
            .ok_or_else(|| Error::Invalid("the build has no bundle".to_owned()))?;
        let fetched = fetch_bundle(&bundle, &context.runners.registry, &dir.join("bundle"))
            .await
            .map_err(Error::Fetch)?;
        let kube = Kube::connect(&cluster.kubeconfig).await?;
        let labels = [
            (
                "app.kubernetes.io/managed-by".to_owned(),
                "chorale".to_owned(),
            ),
            ("dev.chorale/build".to_owned(), build.id.clone()),
        ]
        .into();
        kube.create_namespace(&namespace, &labels).await?;
        let helm = Helm::new(Helm::locate()?, cluster.kubeconfig.clone());
        Ok::<_, Error>((fetched, kube, helm))
    }
    .await;
    let (fetched, kube, helm) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => {
            let message = error.to_string();
            let _ = recorder
                .end(build, Stage::Deploy, Status::Failed, message)
                .await;
            return Err((Stage::Deploy, error));
        }
    };

    let deployed = deploy::deploy(
        recorder,
        build,
        &deploy::Target {
            helm: &helm,
            kube: &kube,
            namespace: &namespace,
            bundle: &fetched,
            parallelism: request.parallelism,
            timeout: request.deploy_timeout,
            dir: &dir,
        },
    )
    .await
    .map_err(stage_error(Stage::Deploy))?;
    let failed: Vec<&str> = build
        .components
        .iter()
        .filter(|c| c.status == Status::Failed)
        .map(|c| c.component.as_str())
        .collect();
    let skipped = build
        .components
        .iter()
        .filter(|c| c.status == Status::Skipped)
        .count();
    if !deployed {
        let message = format!(
            "{} of {} components failed ({}), {skipped} skipped",
            failed.len(),
            build.components.len(),
            failed.join(", ")
        );
        recorder
            .end(build, Stage::Deploy, Status::Failed, message)
            .await
            .map_err(stage_error(Stage::Deploy))?;
        return Ok(Verdict::ProductFailed);
    }
    let message = format!("{} components deployed", build.components.len());
    recorder
        .end(build, Stage::Deploy, Status::Succeeded, message)
        .await
        .map_err(stage_error(Stage::Deploy))?;

    recorder
        .begin(build, Stage::Test)
        .await
        .map_err(stage_error(Stage::Test))?;
    let build_context = build_context(build, lock, &namespace);
    let environment = testing::Environment {
        kube: &kube,
        helm: &helm,
        namespace: &namespace,
        context: &build_context,
        dir: &dir,
        parallelism: request.parallelism,
    };
    let tested = testing::run_plan(recorder, build, &fetched.tests, &environment).await;
    if let Err(error) = tested {
        let message = error.to_string();
        let _ = recorder
            .end(build, Stage::Test, Status::Failed, message)
            .await;
        return Err((Stage::Test, error));
    }
    let blocking_failed = build
        .tests
        .iter()
        .filter(|t| t.gate == chorale_test_jobs::Gate::Blocking && t.status != Status::Succeeded)
        .count();
    let passed = build
        .tests
        .iter()
        .filter(|t| t.status == Status::Succeeded)
        .count();
    let message = format!(
        "{passed} of {} tests passed, {blocking_failed} blocking failed",
        build.tests.len()
    );
    let status = if blocking_failed == 0 {
        Status::Succeeded
    } else {
        Status::Failed
    };
    recorder
        .end(build, Stage::Test, status, message)
        .await
        .map_err(stage_error(Stage::Test))?;
    Ok(if blocking_failed == 0 {
        Verdict::Passed
    } else {
        Verdict::ProductFailed
    })
}

/// What the test Jobs are rendered with.
fn build_context(build: &Build, lock: &Lock, namespace: &str) -> BuildContext {
    // Without a test image the plan has no in-cluster test (validation sees to that), and the
    // placeholder is never run.
    let probe = lock.test_image.as_ref().map_or_else(
        || PinnedImage {
            repository: "registry.invalid/chorale/probe".to_owned(),
            digest: format!("sha256:{}", "0".repeat(64)),
        },
        |image| PinnedImage {
            repository: image.repository().to_owned(),
            digest: image.digest.clone(),
        },
    );
    BuildContext {
        product: lock.product.clone(),
        build: build.id.clone(),
        version: build.candidate_version.clone().unwrap_or_default(),
        namespace: namespace.to_owned(),
        probe,
        components: lock
            .components
            .iter()
            .map(|c| ComponentContext {
                name: c.name.clone(),
                chart: chorale_test_jobs::ChartContext {
                    name: c.chart.name.clone(),
                    version: c.chart.version.clone(),
                    digest: c.chart.digest.clone(),
                },
                images: c
                    .images
                    .iter()
                    .map(|i| ImageContext {
                        reference: i.reference.clone(),
                        repository: i.repository().to_owned(),
                        digest: i.digest.clone(),
                        values: i.values.clone(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Record that build `id` was made from the product file `manifest` (made absolute), so that
/// any later process (a reaper, a publisher) reads the product it was made of.
pub(crate) async fn record_file_request(
    context: &Context,
    id: &str,
    manifest: &std::path::Path,
    skip_unchanged: bool,
) -> Result<(), Error> {
    let recorded = RecordedRequest {
        product: ProductSource::File {
            path: std::path::absolute(manifest).unwrap_or_else(|_| manifest.to_owned()),
        },
        skip_unchanged,
    };
    let recorded = serde_json::to_string(&recorded).expect("a request serialises");
    context.store.record_request(id, &recorded).await?;
    Ok(())
}
