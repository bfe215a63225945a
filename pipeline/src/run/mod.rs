//! `chorale run`: a whole daily build. Snapshot → bundle → provision → deploy → test →
//! teardown, then the report; the build persisted after every step, the cluster torn down whatever
//! happened (a failure, an error, or a signal), and the verdict told apart from an
//! infrastructure failure.

mod deploy;
mod testing;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use chorale_reports::Format;
use chorale_runners::cluster::Cluster;
use chorale_runners::helm::Helm;
use chorale_runners::kube::Kube;
use chorale_test_jobs::{BuildContext, ComponentContext, ImageContext, PinnedImage};
use indicatif::ProgressBar;

use crate::builds::{Build, Status};
use crate::bundle::fetch_bundle;
use crate::clusters::{self, ClusterRecord, ClusterRequest, ClusterState, build_dir};
use crate::context::Context;
use crate::errors::Error;
use crate::lock::Lock;
use crate::manifest::{Product, load_product};
use crate::pipeline::{destination, fail, snapshot_and_bundle};

/// The stages of a run, in order.
pub const STAGES: [&str; 6] = [
    "snapshot",
    "bundle",
    "provision",
    "deploy",
    "test",
    "teardown",
];

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
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every component deployed and every blocking test passed.
    Passed,
    /// The product failed: a component did not deploy or a blocking test failed.
    ProductFailed,
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
/// Errors: an invalid manifest or option before anything is recorded; an infrastructure
/// failure (registry, cluster, Kubernetes API, store) after the build was recorded as failed
/// and its cluster torn down; [`Error::Interrupted`].
pub async fn run_product(
    context: &Context,
    request: &RunRequest,
    progress: &ProgressBar,
    interrupt: impl Future<Output = String>,
) -> Result<RunOutcome, Error> {
    // Bad input changes nothing: checked before anything else is touched.
    let product = load_product(&request.manifest)?;
    let destination = destination(context, request.registry.as_deref())?;
    if request.parallelism == 0 {
        return Err(Error::Invalid(
            "--parallelism must be at least 1".to_owned(),
        ));
    }
    // Whatever an earlier, killed run left behind goes next.
    let reaped = clusters::reap(context).await?;
    for build in &reaped.interrupted {
        announce(progress, &format!("build {build} was interrupted earlier"));
    }
    for cluster in &reaped.torn_down {
        announce(progress, &format!("reaped cluster {cluster}"));
    }
    // Deliveries a killed process left unsent go out alongside this run.
    let resumed = tokio::spawn({
        let context = context.clone();
        async move { crate::notify::resume_pending(&context).await }
    });

    let mut build = Build::start(&product.name, &request.trigger, &STAGES);
    build.owner = Some(clusters::this_process());
    build.candidate_version = Some(candidate_version(&product, &build));
    context.store.save_build(&build).await?;
    announce(
        progress,
        &format!(
            "build {} of {} (candidate {})",
            build.id,
            product.name,
            build.candidate_version.as_deref().unwrap_or_default()
        ),
    );

    let result = tokio::select! {
        result = stages(context, request, &product, &destination, &mut build, progress) => result,
        signal = interrupt => Err(Error::Interrupted(signal)),
    };
    if let Err(Error::Interrupted(signal)) = &result {
        let reason = format!("interrupted by {signal}");
        announce(progress, &format!("{reason}: tearing the cluster down"));
        clusters::mark_interrupted(&mut build, &reason);
        context.store.save_build(&build).await?;
        teardown_build_clusters(context, &build.id).await;
    }
    if build.status.is_final() {
        report_and_notify(context, &product, &build, progress).await;
    }
    let _ = resumed.await;
    let verdict = result?;
    Ok(RunOutcome { build, verdict })
}

/// Write the ended build's report into its folder and tell the product's notifiers. Neither
/// can fail the build: a report that cannot be written is a warning, and deliveries record
/// their own failures.
async fn report_and_notify(
    context: &Context,
    product: &Product,
    build: &Build,
    progress: &ProgressBar,
) {
    let report = match crate::report::write_report(context, product, build).await {
        Ok(files) => {
            if let Some((_, html)) = files.files.iter().find(|(f, _)| *f == Format::Html) {
                announce(progress, &format!("report   {}", html.display()));
            }
            files.report
        }
        Err(error) => {
            tracing::warn!(%error, build = %build.id, "the report could not be written");
            announce(progress, &format!("report   not written: {error}"));
            match crate::report::build_report(context, build).await {
                Ok(report) => report,
                Err(_) => return,
            }
        }
    };
    let event = crate::notify::finished_event(build);
    for delivery in crate::notify::notify(context, product, &report, event).await {
        announce(
            progress,
            &format!(
                "notify   {} ({}) {}: {}{}",
                delivery.notifier,
                delivery.channel.as_str(),
                delivery.event.as_str(),
                delivery.state.as_str(),
                delivery
                    .last_error
                    .as_deref()
                    .map_or_else(String::new, |e| format!(" ({e})"))
            ),
        );
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

/// `MAJOR.MINOR.YYYYMMDD` of the build's day (UTC).
fn candidate_version(product: &Product, build: &Build) -> String {
    format!(
        "{}.{}.{}",
        product.version_line.major,
        product.version_line.minor,
        build.created_at.strftime("%Y%m%d")
    )
}

/// A line about the run's progress on stderr (above the progress bar when there is one).
fn announce(progress: &ProgressBar, line: &str) {
    if progress.is_hidden() {
        eprintln!("{line}");
    } else {
        progress.println(line);
    }
}

/// Start `stage`, record and announce it.
async fn begin(
    context: &Context,
    build: &mut Build,
    stage: &str,
    progress: &ProgressBar,
) -> Result<(), Error> {
    build.begin_stage(stage);
    context.store.save_build(build).await?;
    progress.set_message(stage.to_owned());
    Ok(())
}

/// End `stage`, record and announce it.
async fn end(
    context: &Context,
    build: &mut Build,
    stage: &str,
    status: Status,
    message: String,
    progress: &ProgressBar,
) -> Result<(), Error> {
    build.end_stage(stage, status, Some(message.clone()));
    context.store.save_build(build).await?;
    let took = build
        .stages
        .iter()
        .find(|s| s.name == stage)
        .and_then(|s| Some(s.finished_at? - s.started_at?))
        .and_then(|span| span.total(jiff::Unit::Second).ok())
        .unwrap_or_default();
    announce(
        progress,
        &format!("{stage:<9} {status:<9} {message} ({took:.1}s)"),
    );
    Ok(())
}

/// Every stage after the build was recorded.
async fn stages(
    context: &Context,
    request: &RunRequest,
    product: &Product,
    destination: &crate::bundle::Destination,
    build: &mut Build,
    progress: &ProgressBar,
) -> Result<Verdict, Error> {
    let (snapshot, _bundle) = match snapshot_and_bundle(
        context,
        product,
        destination,
        build,
        request.concurrency,
        progress,
    )
    .await
    {
        Ok(done) => done,
        Err(error) => {
            announce(progress, &format!("snapshot/bundle failed: {error}"));
            return Err(error);
        }
    };
    for stage in ["snapshot", "bundle"] {
        if let Some(s) = build.stages.iter().find(|s| s.name == stage) {
            announce(
                progress,
                &format!(
                    "{stage:<9} {:<9} {}",
                    s.status,
                    s.message.as_deref().unwrap_or_default()
                ),
            );
        }
    }

    begin(context, build, "provision", progress).await?;
    let cluster = match clusters::provision(context, build, &request.cluster).await {
        Ok(cluster) => cluster,
        Err(error) => return fail(context, build, "provision", error).await,
    };
    build.cluster = Some(cluster.name.clone());
    end(
        context,
        build,
        "provision",
        Status::Succeeded,
        format!("{} cluster {}", cluster.provider, cluster.name),
        progress,
    )
    .await?;

    let tested = Box::pin(deploy_and_test(
        context,
        request,
        &snapshot.lock,
        build,
        &cluster,
        progress,
    ))
    .await;

    begin(context, build, "teardown", progress).await?;
    let mut record = ClusterRecord {
        cluster: cluster.clone(),
        build_id: Some(build.id.clone()),
        state: ClusterState::Active,
        torn_down_at: None,
        last_error: None,
    };
    let torn_down = clusters::teardown(context, &mut record).await;
    match &torn_down {
        Ok(()) => {
            end(
                context,
                build,
                "teardown",
                Status::Succeeded,
                format!("cluster {} deleted", cluster.name),
                progress,
            )
            .await?;
        }
        Err(error) => {
            end(
                context,
                build,
                "teardown",
                Status::Failed,
                format!("{error} (the reaper tries again)"),
                progress,
            )
            .await?;
        }
    }

    match tested {
        Ok(verdict) => {
            let error = match verdict {
                Verdict::Passed => None,
                Verdict::ProductFailed => failed_stage_message(build),
            };
            build.finish(
                if verdict == Verdict::Passed {
                    Status::Succeeded
                } else {
                    Status::Failed
                },
                error,
            );
            context.store.save_build(build).await?;
            Ok(verdict)
        }
        Err((stage, error)) => {
            let message = error.to_string();
            build.finish(Status::Failed, Some(format!("{stage}: {message}")));
            context.store.save_build(build).await?;
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
    request: &RunRequest,
    lock: &Lock,
    build: &mut Build,
    cluster: &Cluster,
    progress: &ProgressBar,
) -> Result<Verdict, (&'static str, Error)> {
    let stage_error = |stage: &'static str| move |error: Error| (stage, error);
    begin(context, build, "deploy", progress)
        .await
        .map_err(stage_error("deploy"))?;
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
            let _ = end(context, build, "deploy", Status::Failed, message, progress).await;
            return Err(("deploy", error));
        }
    };

    let deployed = deploy::deploy(
        context,
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
    .map_err(stage_error("deploy"))?;
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
        end(context, build, "deploy", Status::Failed, message, progress)
            .await
            .map_err(stage_error("deploy"))?;
        return Ok(Verdict::ProductFailed);
    }
    let message = format!("{} components deployed", build.components.len());
    end(
        context,
        build,
        "deploy",
        Status::Succeeded,
        message,
        progress,
    )
    .await
    .map_err(stage_error("deploy"))?;

    begin(context, build, "test", progress)
        .await
        .map_err(stage_error("test"))?;
    let build_context = build_context(build, lock, &namespace);
    let environment = testing::Environment {
        kube: &kube,
        helm: &helm,
        namespace: &namespace,
        context: &build_context,
        dir: &dir,
        parallelism: request.parallelism,
    };
    let tested = testing::run_plan(context, build, &fetched.tests, &environment, progress).await;
    match tested {
        Ok(()) => {}
        Err(error) => {
            let message = error.to_string();
            let _ = end(context, build, "test", Status::Failed, message, progress).await;
            return Err(("test", error));
        }
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
    end(context, build, "test", status, message, progress)
        .await
        .map_err(stage_error("test"))?;
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
