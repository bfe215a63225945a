//! The `snapshot` and `bundle` stages, shared by `chorale bundle` and a full build: the product
//! resolved into a lock, and the lock, charts and tests pushed as one bundle.

use std::sync::Arc;

use chorale_runners::registry::{
    LayoutStore, OciStore, RegistryStore, has_registry_host, has_tag_or_digest, parse_reference,
};

use crate::bundle::push_bundle;
use crate::context::Context;
use crate::errors::Error;
use crate::manifest::Product;
use crate::resources::build::{Build, BundleRef, Stage, Status};
use crate::resources::bundle::BundleOutcome;
use crate::snapshot::{Snapshot, snapshot};

use super::recorder::Recorder;

/// Where a bundle request sends its bundle.
pub(crate) fn destination(
    context: &Context,
    registry: Option<&str>,
) -> Result<Arc<dyn OciStore>, Error> {
    match registry {
        None => Ok(Arc::new(LayoutStore::new(context.state_dir.join("oci")))),
        Some(text) => {
            let base = text.trim_start_matches("oci://").trim_end_matches('/');
            match parse_reference(&format!("{base}/probe")) {
                Ok(_) if has_registry_host(base) && !has_tag_or_digest(base) => Ok(Arc::new(
                    RegistryStore::new(context.runners.registry.clone(), base),
                )),
                _ => Err(Error::Invalid(format!(
                    "--registry `{text}` is not HOST[:PORT]/REPOSITORY, e.g. 127.0.0.1:5000/chorale"
                ))),
            }
        }
    }
}

/// What the `snapshot` and `bundle` stages made.
pub(crate) enum Packaged {
    /// The lock and the bundle pushed.
    Bundled(Box<(Snapshot, BundleOutcome)>),
    /// The lock equals the last green build's, and unchanged builds are skipped: the build
    /// was ended `skipped`, nothing pushed.
    Unchanged,
}

/// The `snapshot` and `bundle` stages of `build`, each recorded as it starts and ends. On
/// failure the build is recorded as failed and the error returned. With `skip_unchanged`, a
/// lock equal to the last green build's ends the build `skipped` before the bundle.
pub(crate) async fn snapshot_and_bundle(
    context: &Context,
    recorder: Recorder<'_>,
    product: &Product,
    destination: &dyn OciStore,
    build: &mut Build,
    concurrency: usize,
    skip_unchanged: bool,
) -> Result<Packaged, Error> {
    let store = &context.store;
    recorder.begin(build, Stage::Snapshot).await?;

    let previous = store.latest_lock(&product.name).await?;
    let snapshot = match snapshot(
        product,
        &context.runners,
        concurrency,
        previous.as_ref(),
        recorder.observer,
    )
    .await
    {
        Ok(snapshot) => snapshot,
        Err(error) => return recorder.fail(build, Stage::Snapshot, error.into()).await,
    };
    store.put_lock(&snapshot.lock).await?;
    build.lock_id = Some(snapshot.lock.id.clone());
    let message = format!("{} components locked", snapshot.lock.components.len());
    recorder
        .end(build, Stage::Snapshot, Status::Succeeded, message)
        .await?;
    if skip_unchanged
        && let Some(green) = store
            .last_green_build(&product.name, build.created_at, &build.id)
            .await?
        && let Some(green_lock) = match green.lock_id.as_deref() {
            Some(id) => store.lock(id).await?,
            None => None,
        }
        && green_lock.pins_the_same_as(&snapshot.lock)
    {
        let reason = format!(
            "nothing changed: the lock pins what the last green build {} pinned",
            green.id
        );
        recorder
            .finish(build, Status::Skipped, Some(reason))
            .await?;
        return Ok(Packaged::Unchanged);
    }
    recorder.begin(build, Stage::Bundle).await?;

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
        Err(error) => return recorder.fail(build, Stage::Bundle, error).await,
    };
    store.put_bundle(&outcome, &product.name).await?;
    build.bundle = Some(BundleRef {
        repository: outcome.repository.clone(),
        digest: outcome.digest.clone(),
    });
    let message = format!("{} bytes uploaded", outcome.uploaded_bytes);
    recorder
        .end(build, Stage::Bundle, Status::Succeeded, message)
        .await?;
    Ok(Packaged::Bundled(Box::new((snapshot, outcome))))
}
