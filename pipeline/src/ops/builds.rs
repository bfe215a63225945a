//! Builds through the service: a trigger queues a build of a registered product (its
//! manifest written out as files for it), a worker claims and runs the oldest queued one.

use std::future::Future;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::access::authorize;
use super::products::write_and_load;
use crate::context::Context;
use crate::engine::events::Observer;
use crate::engine::{RunOutcome, RunRequest, run_build};
use crate::errors::Error;
use crate::manifest::{Product, load_product};
use crate::resources::access::{AuditEvent, Identity, Role};
use crate::resources::build::{Build, ProductSource, RecordedRequest, Status};

/// What `POST /api/v1/products/{name}/builds` may say (nothing yet: every option comes from
/// the server's configuration); unknown fields are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerBuild {}

/// The product file of generation `generation` of `name`, written out once from `manifest`.
pub(crate) fn product_files(
    context: &Context,
    name: &str,
    generation: i64,
    manifest: &str,
) -> Result<PathBuf, Error> {
    let dir = context
        .state_dir
        .join("products")
        .join(name)
        .join(generation.to_string());
    let file = dir.join("product.yaml");
    if file.exists() {
        return Ok(file);
    }
    let io = |path: &Path, source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let parent = dir.parent().expect("a product folder has a parent");
    std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    let scratch = tempfile::Builder::new()
        .prefix(".writing-")
        .tempdir_in(parent)
        .map_err(|e| io(parent, e))?;
    write_and_load(manifest, scratch.path())?;
    // Whole or not at all: another writer of the same generation wrote the same files.
    match std::fs::rename(scratch.path(), &dir) {
        Ok(()) => {
            std::mem::forget(scratch);
            Ok(file)
        }
        Err(_) if file.exists() => Ok(file),
        Err(e) => Err(io(&dir, e)),
    }
}

/// Queue a build of the registered product `name` as `identity` (a developer or above), with
/// the server's `defaults` for everything but the manifest. Checked as `chorale run` checks
/// its input: a product that cannot build queues nothing.
pub async fn trigger_build(
    context: &Context,
    identity: &Identity,
    defaults: &RunRequest,
    name: &str,
    audit: AuditEvent,
) -> Result<Build, Error> {
    queue_build(context, identity, defaults, name, "api", false, audit).await
}

/// Queue a build of the registered product `name` started by `trigger` (`api`, `schedule`).
pub(crate) async fn queue_build(
    context: &Context,
    identity: &Identity,
    defaults: &RunRequest,
    name: &str,
    trigger: &str,
    skip_unchanged: bool,
    audit: AuditEvent,
) -> Result<Build, Error> {
    authorize(identity, Role::Developer)?;
    let record = super::products::get_product(context, identity, name).await?;
    let manifest = product_files(context, name, record.generation, &record.manifest)?;
    let request = RunRequest {
        manifest,
        trigger: trigger.to_owned(),
        skip_unchanged,
        ..defaults.clone()
    };
    let mut build = request.check(context)?.queued_build();
    let queued = serde_json::to_string(&RecordedRequest {
        product: ProductSource::Registered {
            name: name.to_owned(),
            generation: record.generation,
            body: record.manifest,
        },
        skip_unchanged,
    })
    .expect("a request serialises");
    context
        .store
        .queue_build(&mut build, &queued, &audit)
        .await?;
    Ok(build)
}

/// The product file a recorded request names (a registered product's generation is written out
/// in this process's state folder: the process that queued it may be on another host), and
/// whether an unchanged lock ends the build skipped.
pub(crate) fn read_request(context: &Context, recorded: &str) -> Result<(PathBuf, bool), Error> {
    let recorded: RecordedRequest = serde_json::from_str(recorded)
        .map_err(|e| Error::Invalid(format!("the build's recorded request does not read: {e}")))?;
    let manifest = match &recorded.product {
        ProductSource::Registered {
            name,
            generation,
            body,
        } => product_files(context, name, *generation, body)?,
        ProductSource::File { path } => path.clone(),
    };
    Ok((manifest, recorded.skip_unchanged))
}

/// The product the build `id` was run with, loaded from its recorded request.
pub(crate) async fn product_of_build(context: &Context, id: &str) -> Result<Product, Error> {
    let recorded = context
        .store
        .build_request(id)
        .await?
        .ok_or_else(|| Error::Invalid(format!("build {id} recorded no request")))?;
    let (manifest, _) = read_request(context, &recorded)?;
    Ok(load_product(&manifest)?)
}

/// Claim the oldest queued build and run it with `defaults`; `None` when none is queued. A
/// build whose product can no longer be loaded ends failed, saying why. A green build of a
/// product with a release policy then becomes a release candidate
/// ([`super::releases::propose_green_build`]).
pub async fn run_next_queued(
    context: &Context,
    defaults: &RunRequest,
    observer: &dyn Observer,
    interrupt: impl Future<Output = String>,
) -> Result<Option<RunOutcome>, Error> {
    let owner = crate::clusters::this_process();
    let Some((mut build, queued)) = context.store.claim_queued_build(&owner).await? else {
        return Ok(None);
    };
    let checked = read_request(context, &queued).and_then(|(manifest, skip_unchanged)| {
        RunRequest {
            manifest,
            trigger: build.trigger.clone(),
            skip_unchanged,
            ..defaults.clone()
        }
        .check(context)
    });
    match checked {
        Ok(run) => {
            let outcome = Box::pin(run_build(context, &run, build, observer, interrupt)).await?;
            super::releases::propose_green_build(context, run.product(), &outcome.build, observer)
                .await;
            Ok(Some(outcome))
        }
        Err(error) => {
            build.finish(Status::Failed, Some(error.to_string()));
            context.store.save_build(&build).await?;
            Err(error)
        }
    }
}
