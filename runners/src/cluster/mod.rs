//! Disposable clusters for a build: a [`ClusterProvider`] provisions a cluster and hands back
//! a [`Cluster`] (a kubeconfig, maybe a namespace, and a serialisable [`ClusterHandle`]); its
//! teardown needs nothing but that `Cluster`, so a reaper in another process can delete
//! clusters a killed chorale left behind.
//!
//! | provider | provisions | tears down | options |
//! | --- | --- | --- | --- |
//! | `sim` | starts `kube-sim serve --dir DIR/sim --name NAME --owner-pid PID` detached (own process group, log in `DIR/kube-sim.log`; it tears itself down when this process is gone), waits for its ready line and `/readyz` | SIGTERM to the kube-sim process (checked by `/proc/PID/cmdline`), SIGKILL after 60 s, then `kube-sim cleanup --name NAME` and removes `DIR/sim` | `kube_sim` (else `$CHORALE_KUBE_SIM`, else `kube-sim` next to the running program, else on `PATH`), `insecure_registries` |
//! | `kind` | `kind create cluster --name NAME --kubeconfig DIR/kubeconfig [--image IMAGE]` | `kind delete cluster --name NAME` | `node_image` |
//! | `k3d` | `k3d cluster create NAME` (default kubeconfig left alone), `k3d kubeconfig get NAME > DIR/kubeconfig` | `k3d cluster delete NAME` | `node_image` |
//! | `existing` | namespace `NAME` (the cluster name, `chorale-BUILD` for a build) (labels `app.kubernetes.io/managed-by=chorale`, `dev.chorale/cluster=NAME`) in the host cluster; `DIR/kubeconfig` is a copy of the host kubeconfig with the chosen context current | deletes the namespace and waits until it is gone | `kubeconfig` (else `$KUBECONFIG`, else `~/.kube/config`), `context` |
//! | `vcluster` | `vcluster create NAME --namespace vcluster-NAME --connect=false`, `vcluster connect … --print > DIR/kubeconfig`, with `KUBECONFIG` = the host (copied to `DIR/host-kubeconfig`) | `vcluster delete NAME --namespace vcluster-NAME` | `kubeconfig`, `context` |
//! | `command` | `sh -c CREATE` in `DIR` with `CHORALE_CLUSTER_NAME` and `CHORALE_CLUSTER_DIR`; the last line it prints is the kubeconfig path (relative to `DIR`) | `sh -c DELETE` with the same variables and `CHORALE_KUBECONFIG`; it must succeed when the cluster is already gone | `create_command`, `delete_command` (both required) |
//!
//! `DIR` is [`ClusterSpec::dir`] and `NAME` [`ClusterSpec::name`]. A failed create of `kind`,
//! `k3d`, `vcluster` and `command` is followed by a delete, so nothing half-made is left. A
//! missing CLI is [`ClusterError::MissingCli`] with an install hint; teardown of a cluster that
//! is already gone succeeds. Only `existing` hands out a namespace ([`Cluster::namespace`]).

mod cli;
mod command;
mod existing;
mod kubeconfig;
mod sim;

use std::ffi::OsString;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::process::Command;

use crate::errors::ClusterError;
use crate::process::{self, Finished};

/// The kinds of cluster provider.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ProviderKind {
    /// kube-sim, the stand-in cluster of this repository.
    Sim,
    /// kind (Kubernetes in podman or Docker).
    Kind,
    /// k3d (k3s in podman or Docker).
    K3d,
    /// A namespace in a cluster that already exists.
    Existing,
    /// A virtual cluster inside an existing cluster.
    Vcluster,
    /// Shell commands of the operator's choice.
    Command,
}

impl ProviderKind {
    /// Every provider, in documentation order.
    pub const ALL: &[Self] = <Self as strum::VariantArray>::VARIANTS;

    /// The name, as written in configuration.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl FromStr for ProviderKind {
    type Err = ClusterError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| ClusterError::UnknownProvider {
                given: text.to_owned(),
            })
    }
}

/// What the providers may be told; each reads only its own options.
#[derive(Default, Clone, Debug)]
pub struct ProviderOptions {
    /// `sim`: the kube-sim binary; else `$CHORALE_KUBE_SIM`, else `kube-sim` next to the
    /// running program, else on `PATH`.
    pub kube_sim: Option<PathBuf>,
    /// `sim`: registries (`HOST:PORT`) kube-sim pulls from without TLS verification.
    pub insecure_registries: Vec<String>,
    /// `existing`, `vcluster`: the host cluster's kubeconfig; else `$KUBECONFIG`, else
    /// `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// `existing`, `vcluster`: the kubeconfig context; else its current context.
    pub context: Option<String>,
    /// `command`: the create command, run with `sh -c` in the cluster's folder with
    /// `CHORALE_CLUSTER_NAME` and `CHORALE_CLUSTER_DIR`; the last line it prints is the
    /// kubeconfig path.
    pub create_command: Option<String>,
    /// `command`: the delete command, run like the create command with `CHORALE_KUBECONFIG`
    /// too.
    pub delete_command: Option<String>,
    /// `kind`, `k3d`: the node image.
    pub node_image: Option<String>,
    /// `kind`, `k3d`, `vcluster`, `sim`: the `PATH`-style list the provider's program is looked
    /// up in; else `$PATH`.
    pub search_path: Option<OsString>,
}

/// What to provision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// The cluster's name, a DNS label such as `chorale-20261123-101500-ab12`.
    pub name: String,
    /// A folder owned by this cluster (created if needed): its kubeconfig, logs and state.
    /// Keep it until the cluster is torn down: the `existing`, `vcluster` and `command`
    /// handles point into it.
    pub dir: PathBuf,
    /// How long the cluster may live; sets [`Cluster::expires_at`].
    pub ttl: Duration,
    /// How long provisioning may take.
    pub create_timeout: Duration,
}

/// A provisioned cluster: how to reach it and how to delete it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// The provider that made it.
    pub provider: ProviderKind,
    /// Its name ([`ClusterSpec::name`]).
    pub name: String,
    /// The kubeconfig that reaches it.
    pub kubeconfig: PathBuf,
    /// The namespace to deploy into when the provider hands one out (`existing`: the
    /// cluster's name); `None` when the whole cluster is the build's.
    pub namespace: Option<String>,
    /// When provisioning finished.
    pub created_at: jiff::Timestamp,
    /// When a reaper may delete it: `created_at` + the TTL.
    pub expires_at: jiff::Timestamp,
    /// Everything teardown needs.
    pub handle: ClusterHandle,
}

/// What a provider needs to delete a cluster, recorded so that another process can.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum ClusterHandle {
    /// A kube-sim process.
    Sim {
        /// Its process id.
        pid: u32,
        /// Its state folder (`DIR/sim`).
        dir: PathBuf,
        /// The kube-sim binary, for `kube-sim cleanup`.
        binary: PathBuf,
    },
    /// A kind cluster.
    Kind {
        /// Its kind name.
        name: String,
    },
    /// A k3d cluster.
    K3d {
        /// Its k3d name.
        name: String,
    },
    /// A namespace in an existing cluster.
    Existing {
        /// The copy of the host kubeconfig (`DIR/kubeconfig`, the chosen context current).
        kubeconfig: PathBuf,
        /// The context that was chosen, if one was.
        context: Option<String>,
        /// The namespace to delete.
        namespace: String,
    },
    /// A virtual cluster.
    Vcluster {
        /// Its vcluster name.
        name: String,
        /// The host namespace it lives in.
        namespace: String,
        /// The copy of the host kubeconfig (`DIR/host-kubeconfig`).
        host_kubeconfig: PathBuf,
    },
    /// A cluster made by the operator's create command.
    Command {
        /// The delete command.
        delete_command: String,
        /// The cluster's folder (`CHORALE_CLUSTER_DIR`).
        dir: PathBuf,
        /// The kubeconfig the create command printed (`CHORALE_KUBECONFIG`).
        kubeconfig: PathBuf,
    },
}

impl ClusterHandle {
    /// The provider that can use this handle.
    pub fn provider(&self) -> ProviderKind {
        match self {
            Self::Sim { .. } => ProviderKind::Sim,
            Self::Kind { .. } => ProviderKind::Kind,
            Self::K3d { .. } => ProviderKind::K3d,
            Self::Existing { .. } => ProviderKind::Existing,
            Self::Vcluster { .. } => ProviderKind::Vcluster,
            Self::Command { .. } => ProviderKind::Command,
        }
    }
}

/// Makes and deletes clusters of one kind.
pub trait ClusterProvider: Send + Sync {
    /// Which provider this is.
    fn kind(&self) -> ProviderKind;

    /// Makes a cluster; on failure, whatever was made is deleted again.
    fn provision<'a>(
        &'a self,
        spec: &'a ClusterSpec,
    ) -> BoxFuture<'a, Result<Cluster, ClusterError>>;

    /// Deletes a cluster. Idempotent; works from a `Cluster` deserialised in another process
    /// (the reaper, after chorale was killed), using only `cluster.handle`; a cluster already
    /// gone is `Ok`.
    fn teardown<'a>(&'a self, cluster: &'a Cluster) -> BoxFuture<'a, Result<(), ClusterError>>;
}

/// The provider of `kind`, configured with `options`.
pub fn provider_for(kind: ProviderKind, options: &ProviderOptions) -> Box<dyn ClusterProvider> {
    let options = options.clone();
    match kind {
        ProviderKind::Sim => Box::new(sim::SimProvider::new(options)),
        ProviderKind::Kind | ProviderKind::K3d | ProviderKind::Vcluster => {
            Box::new(cli::CliProvider::new(kind, options))
        }
        ProviderKind::Existing => Box::new(existing::ExistingProvider::new(options)),
        ProviderKind::Command => Box::new(command::CommandProvider::new(options)),
    }
}

/// How long a delete command (`kind delete`, the operator's delete command…) may take.
const DELETE_TIMEOUT: Duration = Duration::from_mins(10);

/// A cluster record for `spec`, created now.
fn cluster(
    provider: ProviderKind,
    spec: &ClusterSpec,
    kubeconfig: PathBuf,
    namespace: Option<String>,
    handle: ClusterHandle,
) -> Cluster {
    let created_at = jiff::Timestamp::now();
    let expires_at = created_at
        .checked_add(spec.ttl)
        .unwrap_or(jiff::Timestamp::MAX);
    Cluster {
        provider,
        name: spec.name.clone(),
        kubeconfig,
        namespace,
        created_at,
        expires_at,
        handle,
    }
}

/// The error for a teardown asked of the wrong provider.
fn wrong_provider(provider: ProviderKind, cluster: &Cluster) -> ClusterError {
    ClusterError::WrongProvider {
        name: cluster.name.clone(),
        provider,
        found: cluster.handle.provider(),
    }
}

/// Creates the cluster's folder.
fn create_dir(spec: &ClusterSpec) -> Result<(), ClusterError> {
    std::fs::create_dir_all(&spec.dir).map_err(|error| ClusterError::Io {
        name: spec.name.clone(),
        action: "create the folder",
        path: spec.dir.clone(),
        message: error.to_string(),
    })
}

/// Runs one step of a provider's program for the cluster `name`, at most `timeout`; a failure
/// carries the end of what the program printed.
async fn run_step(
    name: &str,
    command: &mut Command,
    timeout: Duration,
) -> Result<Finished, ClusterError> {
    let line = process::describe(command);
    match tokio::time::timeout(timeout, process::run(command)).await {
        Err(_) => Err(ClusterError::Timeout {
            name: name.to_owned(),
            what: format!("`{line}`"),
            timeout,
            log: None,
            tail: String::new(),
        }),
        Ok(Err(error)) => Err(ClusterError::Spawn {
            name: name.to_owned(),
            command: line,
            message: error.to_string(),
        }),
        Ok(Ok(finished)) if finished.status.success() => Ok(finished),
        Ok(Ok(finished)) => Err(ClusterError::CommandFailed {
            name: name.to_owned(),
            command: line,
            status: finished.status.to_string(),
            output: finished.output_tail(),
        }),
    }
}

/// After a failed create, deletes what may have been made; its own failure is only logged,
/// the create error is what the caller reports.
async fn clean_up_failed_create(name: &str, command: &mut Command) {
    if let Err(error) = run_step(name, command, DELETE_TIMEOUT).await {
        tracing::warn!(cluster = name, %error, "deleting a cluster whose create failed also failed");
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::{Cluster, ClusterHandle, ProviderKind};

    #[test]
    fn a_cluster_record_is_plain_json() {
        let cluster = Cluster {
            provider: ProviderKind::Sim,
            name: "chorale-20261123-101500-ab12".to_owned(),
            kubeconfig: PathBuf::from("/var/lib/chorale/clusters/ab12/sim/kubeconfig"),
            namespace: None,
            created_at: "2026-11-23T10:15:00Z".parse().unwrap(),
            expires_at: "2026-11-23T16:15:00Z".parse().unwrap(),
            handle: ClusterHandle::Sim {
                pid: 4242,
                dir: PathBuf::from("/var/lib/chorale/clusters/ab12/sim"),
                binary: PathBuf::from("/usr/local/bin/kube-sim"),
            },
        };
        let json = serde_json::json!({
            "provider": "sim",
            "name": "chorale-20261123-101500-ab12",
            "kubeconfig": "/var/lib/chorale/clusters/ab12/sim/kubeconfig",
            "namespace": null,
            "created_at": "2026-11-23T10:15:00Z",
            "expires_at": "2026-11-23T16:15:00Z",
            "handle": {
                "provider": "sim",
                "pid": 4242,
                "dir": "/var/lib/chorale/clusters/ab12/sim",
                "binary": "/usr/local/bin/kube-sim",
            },
        });
        assert_eq!(serde_json::to_value(&cluster).unwrap(), json);
        assert_eq!(serde_json::from_value::<Cluster>(json).unwrap(), cluster);
    }

    #[test]
    fn provider_names_parse_print_and_serialise_alike() {
        for &kind in ProviderKind::ALL {
            assert_eq!(kind.as_str().parse::<ProviderKind>().unwrap(), kind);
            assert_eq!(kind.to_string(), kind.as_str());
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
        assert_eq!(
            "minikube".parse::<ProviderKind>().unwrap_err().to_string(),
            "unknown cluster provider `minikube`; expected one of sim, kind, k3d, existing, vcluster, command"
        );
    }
}
