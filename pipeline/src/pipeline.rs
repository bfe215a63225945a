//! The pipeline's entry points, one request struct per operation (the CLI and, later, the HTTP
//! API build the same requests and call the same functions). Each build is persisted after
//! every stage, so what the store shows is what happened, even when a stage fails.

use std::path::PathBuf;

use chorale_runners::registry::{has_registry_host, has_tag_or_digest, parse_reference};
use indicatif::ProgressBar;

use crate::builds::{Build, BundleRef, Status};
use crate::bundle::{BundleOutcome, Destination, push_bundle};
use crate::context::Context;
use crate::errors::Error;
use crate::lock::Lock;
use crate::manifest::{Product, load_product};
use crate::snapshot::{Snapshot, snapshot};

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
    progress: &ProgressBar,
) -> Result<Lock, Error> {
    let product = load_product(&request.manifest)?;
    let previous = context.store.latest_lock(&product.name).await?;
    let snapshot = snapshot(
        &product,
        &context.runners,
        request.concurrency,
        previous.as_ref(),
        progress,
    )
    .await?;
    context.store.put_lock(&snapshot.lock).await?;
    Ok(snapshot.lock)
}

/// Where a bundle request sends its bundle.
pub(crate) fn destination(context: &Context, registry: Option<&str>) -> Result<Destination, Error> {
    match registry {
        None => Ok(Destination::Layout {
            root: context.state_dir.join("oci"),
        }),
        Some(text) => {
            let base = text.trim_start_matches("oci://").trim_end_matches('/');
            match parse_reference(&format!("{base}/probe")) {
                Ok(_) if has_registry_host(base) && !has_tag_or_digest(base) => {
                    Ok(Destination::Registry {
                        client: context.runners.registry.clone(),
                        base: base.to_owned(),
                    })
                }
                _ => Err(Error::Invalid(format!(
                    "--registry `{text}` is not HOST[:PORT]/REPOSITORY, e.g. 127.0.0.1:5000/chorale"
                ))),
            }
        }
    }
}

/// Snapshot a product and push its bundle, recording the build and every stage. An invalid
/// manifest or option fails before any build is recorded.
pub async fn bundle_product(
    context: &Context,
    request: &BundleRequest,
    progress: &ProgressBar,
) -> Result<Bundled, Error> {
    let product = load_product(&request.manifest)?;
    let destination = destination(context, request.registry.as_deref())?;
    let mut build = Build::start(&product.name, &request.trigger, &["snapshot", "bundle"]);
    let (snapshot, outcome) = snapshot_and_bundle(
        context,
        &product,
        &destination,
        &mut build,
        request.concurrency,
        progress,
    )
    .await?;
    build.finish(Status::Succeeded, None);
    context.store.save_build(&build).await?;
    Ok(Bundled {
        build,
        lock: snapshot.lock,
        bundle: outcome,
    })
}

/// The `snapshot` and `bundle` stages of `build`, each recorded as it starts and ends. On
/// failure the build is recorded as failed and the error returned.
pub(crate) async fn snapshot_and_bundle(
    context: &Context,
    product: &Product,
    destination: &Destination,
    build: &mut Build,
    concurrency: usize,
    progress: &ProgressBar,
) -> Result<(Snapshot, BundleOutcome), Error> {
    let store = &context.store;
    build.begin_stage("snapshot");
    store.save_build(build).await?;

    let previous = store.latest_lock(&product.name).await?;
    let snapshot = match snapshot(
        product,
        &context.runners,
        concurrency,
        previous.as_ref(),
        progress,
    )
    .await
    {
        Ok(snapshot) => snapshot,
        Err(error) => return fail(context, build, "snapshot", error.into()).await,
    };
    store.put_lock(&snapshot.lock).await?;
    build.lock_id = Some(snapshot.lock.id.clone());
    build.end_stage(
        "snapshot",
        Status::Succeeded,
        Some(format!(
            "{} components locked",
            snapshot.lock.components.len()
        )),
    );
    build.begin_stage("bundle");
    store.save_build(build).await?;

    let tag = format!("build-{}", build.id);
    let outcome = match push_bundle(
        &snapshot,
        &context.runners.registry,
        destination,
        &tag,
        concurrency,
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(error) => return fail(context, build, "bundle", error).await,
    };
    store.put_bundle(&outcome, &product.name).await?;
    build.bundle = Some(BundleRef {
        repository: outcome.repository.clone(),
        digest: outcome.digest.clone(),
    });
    build.end_stage(
        "bundle",
        Status::Succeeded,
        Some(format!("{} bytes uploaded", outcome.uploaded_bytes)),
    );
    store.save_build(build).await?;
    Ok((snapshot, outcome))
}

/// Record `stage` and the build as failed with `error`, and return the error.
pub(crate) async fn fail<T>(
    context: &Context,
    build: &mut Build,
    stage: &str,
    error: Error,
) -> Result<T, Error> {
    let message = error.to_string();
    build.end_stage(stage, Status::Failed, Some(message.clone()));
    build.finish(Status::Failed, Some(format!("{stage}: {message}")));
    context.store.save_build(build).await?;
    Err(error)
}
