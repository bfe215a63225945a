//! Test clusters as Chorale records them: every cluster is stored before its build uses it
//! and after every change, so a cluster can always be found and torn down, even after the
//! process that made it was killed. The reaper tears down clusters past their TTL and clusters
//! whose build is over or gone; it runs at the start of every `chorale run` and as
//! `chorale clusters reap`.

use std::path::PathBuf;
use std::time::Duration;

use chorale_runners::cluster::{Cluster, ClusterSpec, ProviderKind, ProviderOptions, provider_for};
use jiff::Timestamp;
use serde::Serialize;

use crate::context::Context;
use crate::errors::Error;
use crate::resources::build::{Build, Owner, Status};
use crate::resources::cluster::{ClusterRecord, ClusterState};

/// What a build asks of its cluster.
#[derive(Debug, Clone)]
pub struct ClusterRequest {
    /// Which provider makes it; `None`: the product's `spec.cluster.provider`.
    pub provider: Option<ProviderKind>,
    /// The provider's options.
    pub options: ProviderOptions,
    /// How long the cluster may live before the reaper deletes it.
    pub ttl: Duration,
    /// How long provisioning may take.
    pub create_timeout: Duration,
}

/// The folder of a build's files: `STATE/builds/ID`.
pub fn build_dir(context: &Context, build_id: &str) -> PathBuf {
    context.state_dir.join("builds").join(build_id)
}

/// Provision a cluster for `build` and record it. A failed provisioning leaves no record (the
/// provider cleans up what it started).
pub async fn provision(
    context: &Context,
    build: &Build,
    provider: ProviderKind,
    request: &ClusterRequest,
) -> Result<Cluster, Error> {
    let spec = ClusterSpec {
        name: cluster_name(&build.id),
        dir: build_dir(context, &build.id).join("cluster"),
        ttl: request.ttl,
        create_timeout: request.create_timeout,
    };
    std::fs::create_dir_all(&spec.dir).map_err(|source| Error::Io {
        path: spec.dir.clone(),
        source,
    })?;
    let provider = provider_for(provider, &request.options);
    let cluster = provider.provision(&spec).await?;
    let record = ClusterRecord::active(cluster.clone(), &build.id);
    if let Err(error) = context.store.save_cluster(&record).await {
        // Unrecorded, nobody could reap it later: remove it now.
        let _ = provider.teardown(&cluster).await;
        return Err(error.into());
    }
    Ok(cluster)
}

/// Tear a recorded cluster down and record the outcome.
pub async fn teardown(context: &Context, record: &mut ClusterRecord) -> Result<(), Error> {
    let provider = provider_for(record.cluster.provider, &ProviderOptions::default());
    let outcome = provider.teardown(&record.cluster).await;
    match &outcome {
        Ok(()) => {
            record.state = ClusterState::TornDown;
            record.torn_down_at = Some(Timestamp::now());
            record.last_error = None;
        }
        Err(error) => {
            record.state = ClusterState::TeardownFailed;
            record.last_error = Some(error.to_string());
        }
    }
    context.store.save_cluster(record).await?;
    Ok(outcome?)
}

/// A cluster's name for a build: `chorale-` and the build id, lower case (a DNS label).
pub fn cluster_name(build_id: &str) -> String {
    format!("chorale-{}", build_id.to_ascii_lowercase())
}

/// This process, as a build's owner.
pub fn this_process() -> Owner {
    Owner {
        host: nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".to_owned()),
        pid: std::process::id(),
    }
}

/// Whether the process `owner` names is still running (only knowable on its own host; builds
/// of other hosts count as alive).
fn is_alive(owner: &Owner) -> bool {
    if owner.host != this_process().host {
        return true;
    }
    let Ok(pid) = i32::try_from(owner.pid) else {
        return false;
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

/// Mark `build` interrupted: its running stage, component deploys and tests too.
pub fn mark_interrupted(build: &mut Build, reason: &str) {
    for deploy in &mut build.components {
        if !deploy.status.is_final() {
            deploy.status = Status::Interrupted;
            deploy.message = Some(reason.to_owned());
        }
    }
    for test in &mut build.tests {
        if !test.status.is_final() {
            test.status = Status::Interrupted;
            test.message = Some(reason.to_owned());
        }
    }
    let error = build
        .stages
        .iter()
        .find(|s| s.status == Status::Running)
        .map_or_else(|| reason.to_owned(), |s| format!("{}: {reason}", s.name));
    build.finish(Status::Interrupted, Some(error));
}

/// What a reap did.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reaped {
    /// Builds found running whose process is gone, now marked interrupted.
    pub interrupted: Vec<String>,
    /// Clusters torn down.
    pub torn_down: Vec<String>,
    /// Clusters whose teardown failed, with the error.
    pub failed: Vec<(String, String)>,
}

/// Mark builds whose process died as interrupted, then tear down every active cluster that is
/// past its TTL or whose build is over or gone.
pub async fn reap(context: &Context) -> Result<Reaped, Error> {
    let mut reaped = Reaped::default();
    let mut records = context.store.clusters(Some(ClusterState::Active)).await?;
    records.extend(
        context
            .store
            .clusters(Some(ClusterState::TeardownFailed))
            .await?,
    );
    // Running builds of dead processes: gone from this host, or (on any host) silent past
    // their lease.
    let expired = context.store.expired_leases().await?;
    for mut build in context.store.running_builds().await? {
        let silent = expired.contains(&build.id);
        if silent || build.owner.as_ref().is_none_or(|owner| !is_alive(owner)) {
            let reason = if silent {
                "the process running it stopped (its lease ran out)"
            } else {
                "the process running it stopped"
            };
            mark_interrupted(&mut build, reason);
            context.store.save_build(&build).await?;
            reaped.interrupted.push(build.id.clone());
        }
    }
    let now = Timestamp::now();
    for mut record in records {
        let build = match &record.build_id {
            Some(id) => context.store.build(id).await?,
            None => None,
        };
        let over = build.as_ref().is_none_or(|b| b.status.is_final());
        if !over && record.cluster.expires_at > now {
            continue;
        }
        let name = record.cluster.name.clone();
        match teardown(context, &mut record).await {
            Ok(()) => reaped.torn_down.push(name),
            Err(error) => reaped.failed.push((name, error.to_string())),
        }
    }
    Ok(reaped)
}
