//! The `existing` provider: a fresh namespace in a cluster that already exists, named as the
//! cluster is (`chorale-BUILD`, see the pipeline's cluster names).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::BoxFuture;

use super::{
    Cluster, ClusterHandle, ClusterProvider, ClusterSpec, ProviderKind, ProviderOptions, cluster,
    create_dir, kubeconfig, wrong_provider,
};
use crate::errors::ClusterError;
use crate::kube::Kube;

/// The label that marks what Chorale made.
const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "chorale");

/// The label that names the cluster a namespace belongs to.
const CLUSTER_LABEL: &str = "dev.chorale/cluster";

/// How long teardown waits for the namespace to be gone.
const DELETE_WAIT: Duration = Duration::from_mins(5);

/// Namespaces in an existing cluster.
pub(super) struct ExistingProvider {
    options: ProviderOptions,
}

impl ExistingProvider {
    pub(super) fn new(options: ProviderOptions) -> Self {
        Self { options }
    }

    async fn provision(&self, spec: &ClusterSpec) -> Result<Cluster, ClusterError> {
        create_dir(spec)?;
        let path = spec.dir.join("kubeconfig");
        kubeconfig::copy_host(ProviderKind::Existing, &self.options, &spec.name, &path)?;
        let namespace = spec.name.clone();
        let labels = BTreeMap::from([
            (MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned()),
            (CLUSTER_LABEL.to_owned(), spec.name.clone()),
        ]);
        let kube_error = |source| ClusterError::Kube {
            name: spec.name.clone(),
            source,
        };
        let kube = Kube::connect(&path).await.map_err(kube_error)?;
        tokio::time::timeout(
            spec.create_timeout,
            kube.create_namespace(&namespace, &labels),
        )
        .await
        .map_err(|_| ClusterError::Timeout {
            name: spec.name.clone(),
            what: format!("creating namespace {namespace}"),
            timeout: spec.create_timeout,
            log: None,
            tail: String::new(),
        })?
        .map_err(kube_error)?;
        Ok(cluster(
            ProviderKind::Existing,
            spec,
            path.clone(),
            Some(namespace.clone()),
            ClusterHandle::Existing {
                kubeconfig: path,
                context: self.options.context.clone(),
                namespace,
            },
        ))
    }
}

impl ClusterProvider for ExistingProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Existing
    }

    fn provision<'a>(
        &'a self,
        spec: &'a ClusterSpec,
    ) -> BoxFuture<'a, Result<Cluster, ClusterError>> {
        self.provision(spec).boxed()
    }

    fn teardown<'a>(&'a self, cluster: &'a Cluster) -> BoxFuture<'a, Result<(), ClusterError>> {
        async move {
            let ClusterHandle::Existing {
                kubeconfig,
                namespace,
                ..
            } = &cluster.handle
            else {
                return Err(wrong_provider(ProviderKind::Existing, cluster));
            };
            let kube_error = |source| ClusterError::Kube {
                name: cluster.name.clone(),
                source,
            };
            let kube = Kube::connect(kubeconfig).await.map_err(kube_error)?;
            kube.delete_namespace(namespace, DELETE_WAIT)
                .await
                .map_err(kube_error)
        }
        .boxed()
    }
}
