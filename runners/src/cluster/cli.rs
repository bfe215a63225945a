//! The `kind`, `k3d` and `vcluster` providers: each drives its own CLI.

use std::path::{Path, PathBuf};

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

    /// The provider's CLI, which must be installed.
    fn locate(&self) -> Result<PathBuf, ClusterError> {
        let (program, hint) = self.program();
        process::find_program(program, self.options.search_path.as_deref()).ok_or_else(|| {
            ClusterError::MissingCli {
                provider: self.kind,
                program: program.to_owned(),
                hint: hint.to_owned(),
            }
        })
    }

    /// The command that deletes the cluster of `handle`, `None` when the handle is another
    /// provider's.
    fn delete_command(&self, program: &Path, handle: &ClusterHandle) -> Option<Command> {
        if handle.provider() != self.kind {
            return None;
        }
        let mut command = Command::new(program);
        match handle {
            ClusterHandle::Kind { name } => {
                command.args(["delete", "cluster", "--name", name]);
            }
            ClusterHandle::K3d { name } => {
                command.args(["cluster", "delete", name]);
            }
            ClusterHandle::Vcluster {
                name,
                namespace,
                host_kubeconfig,
            } => {
                command
                    .args([
                        "delete",
                        name,
                        "--namespace",
                        namespace,
                        "--ignore-not-found",
                    ])
                    .env("KUBECONFIG", host_kubeconfig);
            }
            _ => return None,
        }
        Some(command)
    }

    async fn provision(&self, spec: &ClusterSpec) -> Result<Cluster, ClusterError> {
        create_dir(spec)?;
        let path = spec.dir.join("kubeconfig");
        let name = spec.name.clone();
        let program = self.locate()?;
        let (handle, mut create, fetch) = match self.kind {
            ProviderKind::Kind => {
                let mut create = Command::new(&program);
                create
                    .args(["create", "cluster", "--name", &name, "--kubeconfig"])
                    .arg(&path);
                if let Some(image) = &self.options.node_image {
                    create.args(["--image", image]);
                }
                (ClusterHandle::Kind { name }, create, None)
            }
            ProviderKind::K3d => {
                let mut create = Command::new(&program);
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
                let mut fetch = Command::new(&program);
                fetch.args(["kubeconfig", "get", &name]);
                (ClusterHandle::K3d { name }, create, Some(fetch))
            }
            _ => {
                let host = spec.dir.join("host-kubeconfig");
                kubeconfig::copy_host(self.kind, &self.options, &spec.name, &host)?;
                let namespace = vcluster_namespace(&name);
                let mut create = Command::new(&program);
                create
                    .args([
                        "create",
                        &name,
                        "--namespace",
                        &namespace,
                        "--connect=false",
                    ])
                    .env("KUBECONFIG", &host);
                let mut fetch = Command::new(&program);
                fetch
                    .args(["connect", &name, "--namespace", &namespace, "--print"])
                    .env("KUBECONFIG", &host);
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
            if let Some(mut delete) = self.delete_command(&program, &handle) {
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
            if cluster.handle.provider() != self.kind {
                return Err(wrong_provider(self.kind, cluster));
            }
            let program = self.locate()?;
            let mut delete = self
                .delete_command(&program, &cluster.handle)
                .ok_or_else(|| wrong_provider(self.kind, cluster))?;
            // All three deletes succeed on a cluster that is already gone (`kind` always,
            // `k3d` since 3.1.4, `vcluster` with --ignore-not-found).
            run_step(&cluster.name, &mut delete, DELETE_TIMEOUT)
                .await
                .map(drop)
        }
        .boxed()
    }
}
