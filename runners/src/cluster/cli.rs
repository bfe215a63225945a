//! The `kind`, `k3d` and `vcluster` providers: each drives its own CLI.

use std::path::Path;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use tokio::process::Command;

use super::{
    Cluster, ClusterHandle, ClusterProvider, ClusterSpec, DELETE_TIMEOUT, ProviderKind,
    ProviderOptions, clean_up_failed_create, cluster, create_dir, kubeconfig, run_step,
    wrong_provider,
};
use crate::errors::ClusterError;
use crate::process;

/// A cluster provider that drives a CLI.
pub(super) struct CliProvider {
    kind: ProviderKind,
    options: ProviderOptions,
}

/// The vcluster's namespace in the host cluster.
fn vcluster_namespace(name: &str) -> String {
    format!("vcluster-{name}")
}

impl CliProvider {
    pub(super) fn new(kind: ProviderKind, options: ProviderOptions) -> Self {
        Self { kind, options }
    }

    /// The program and how to install it.
    fn program(&self) -> (&'static str, &'static str) {
        match self.kind {
            ProviderKind::Kind => (
                "kind",
                "install it from https://kind.sigs.k8s.io/docs/user/quick-start/#installation (e.g. `go install sigs.k8s.io/kind@latest`); it needs podman or Docker",
            ),
            ProviderKind::K3d => (
                "k3d",
                "install it from https://k3d.io/stable/#installation (e.g. `go install github.com/k3d-io/k3d/v5@latest`); it needs podman or Docker",
            ),
            _ => (
                "vcluster",
                "install it from https://www.vcluster.com/docs/get-started (the vcluster CLI release for linux-amd64 on GitHub)",
            ),
        }
    }

    /// A command of the provider's CLI, which must be installed.
    fn command(&self, host_kubeconfig: Option<&Path>) -> Result<Command, ClusterError> {
        let (program, hint) = self.program();
        let path = process::find_program(program, self.options.search_path.as_deref()).ok_or_else(
            || ClusterError::MissingCli {
                provider: self.kind,
                program: program.to_owned(),
                hint: hint.to_owned(),
            },
        )?;
        let mut command = Command::new(path);
        if let Some(host) = host_kubeconfig {
            command.env("KUBECONFIG", host);
        }
        Ok(command)
    }

    /// The command that deletes the cluster of `handle`.
    fn delete_command(&self, handle: &ClusterHandle) -> Option<Result<Command, ClusterError>> {
        let command = match handle {
            ClusterHandle::Kind { name } => self.command(None).map(|mut command| {
                command.args(["delete", "cluster", "--name", name]);
                command
            }),
            ClusterHandle::K3d { name } => self.command(None).map(|mut command| {
                command.args(["cluster", "delete", name]);
                command
            }),
            ClusterHandle::Vcluster {
                name,
                namespace,
                host_kubeconfig,
            } => self.command(Some(host_kubeconfig)).map(|mut command| {
                command.args([
                    "delete",
                    name,
                    "--namespace",
                    namespace,
                    "--ignore-not-found",
                ]);
                command
            }),
            _ => return None,
        };
        (handle.provider() == self.kind).then_some(command)
    }

    async fn provision(&self, spec: &ClusterSpec) -> Result<Cluster, ClusterError> {
        create_dir(spec)?;
        let path = spec.dir.join("kubeconfig");
        let name = spec.name.clone();
        let (handle, mut create, fetch) = match self.kind {
            ProviderKind::Kind => {
                let mut create = self.command(None)?;
                create
                    .args(["create", "cluster", "--name", &name, "--kubeconfig"])
                    .arg(&path);
                if let Some(image) = &self.options.node_image {
                    create.args(["--image", image]);
                }
                (ClusterHandle::Kind { name }, create, None)
            }
            ProviderKind::K3d => {
                let mut create = self.command(None)?;
                create.args([
                    "cluster",
                    "create",
                    &name,
                    "--kubeconfig-update-default=false",
                    "--kubeconfig-switch-context=false",
                ]);
                if let Some(image) = &self.options.node_image {
                    create.args(["--image", image]);
                }
                let mut fetch = self.command(None)?;
                fetch.args(["kubeconfig", "get", &name]);
                (ClusterHandle::K3d { name }, create, Some(fetch))
            }
            _ => {
                let host = spec.dir.join("host-kubeconfig");
                kubeconfig::copy_host(self.kind, &self.options, &spec.name, &host)?;
                let namespace = vcluster_namespace(&name);
                let mut create = self.command(Some(&host))?;
                create.args([
                    "create",
                    &name,
                    "--namespace",
                    &namespace,
                    "--connect=false",
                ]);
                let mut fetch = self.command(Some(&host))?;
                fetch.args(["connect", &name, "--namespace", &namespace, "--print"]);
                let handle = ClusterHandle::Vcluster {
                    name,
                    namespace,
                    host_kubeconfig: host,
                };
                (handle, create, Some(fetch))
            }
        };
        let created = async {
            run_step(&spec.name, &mut create, spec.create_timeout).await?;
            if let Some(mut fetch) = fetch {
                let printed = run_step(&spec.name, &mut fetch, spec.create_timeout).await?;
                kubeconfig::write_private(&spec.name, &path, printed.stdout.as_bytes())?;
            }
            Ok(())
        }
        .await;
        if let Err(error) = created {
            if let Some(Ok(mut delete)) = self.delete_command(&handle) {
                clean_up_failed_create(&spec.name, &mut delete).await;
            }
            return Err(error);
        }
        Ok(cluster(self.kind, spec, path, None, handle))
    }
}

impl ClusterProvider for CliProvider {
    fn kind(&self) -> ProviderKind {
        self.kind
    }

    fn provision<'a>(
        &'a self,
        spec: &'a ClusterSpec,
    ) -> BoxFuture<'a, Result<Cluster, ClusterError>> {
        self.provision(spec).boxed()
    }

    fn teardown<'a>(&'a self, cluster: &'a Cluster) -> BoxFuture<'a, Result<(), ClusterError>> {
        async move {
            let mut delete = self
                .delete_command(&cluster.handle)
                .ok_or_else(|| wrong_provider(self.kind, cluster))??;
            // All three deletes succeed on a cluster that is already gone (`kind` always,
            // `k3d` since 3.1.4, `vcluster` with --ignore-not-found).
            run_step(&cluster.name, &mut delete, DELETE_TIMEOUT)
                .await
                .map(drop)
        }
        .boxed()
    }
}
