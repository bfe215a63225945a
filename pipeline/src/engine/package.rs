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

/// The `snapshot` and `bundle` stages of `build`, each recorded as it starts and ends. On
/// failure the build is recorded as failed and the error returned.
pub(crate) async fn snapshot_and_bundle(
    context: &Context,
    recorder: Recorder<'_>,
    product: &Product,
    destination: &dyn OciStore,
    build: &mut Build,
    concurrency: usize,
) -> Result<(Snapshot, BundleOutcome), Error> {
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
    Ok((snapshot, outcome))
}
