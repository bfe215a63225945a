//! Starting and stopping a whole sim cluster: network, store, API server, controllers and
//! kubelet.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::controllers;
use crate::errors::Error;
use crate::kubelet::Kubelet;
use crate::network::{self, ClusterNetwork};
use crate::podman::Podman;
use crate::server::{self, Shared};
use crate::storage::Storage;
use crate::store::Store;
use crate::strategy::{Admission, ServiceIps};
use crate::version::KubernetesVersion;
use crate::{kubeconfig, pki};

/// How a cluster is started.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The state directory: kubeconfig, pid file, pod volumes.
    pub dir: PathBuf,
    /// The cluster name (context, cluster and node name; podman label value).
    pub name: Option<String>,
    /// Where the API server listens.
    pub listen: SocketAddr,
    /// Registries pulled from without TLS verification, besides loopback ones.
    pub insecure_registries: Vec<String>,
    /// The Kubernetes version the cluster answers as (discovery, defaulting, validation).
    pub kubernetes_version: KubernetesVersion,
}

/// What `kube-sim serve` prints when the cluster is ready: one line of JSON on stdout, the
/// ready line (see the README). Its one parser is [`ClusterInfo::from_ready_line`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// The cluster name.
    pub name: String,
    /// The API server URL.
    pub server: String,
    /// The kubeconfig path.
    pub kubeconfig: PathBuf,
    /// The process id.
    pub pid: u32,
}

impl ClusterInfo {
    /// Reads the ready line `kube-sim serve` printed.
    pub fn from_ready_line(line: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(line)
    }
}

/// A running cluster.
#[derive(Debug)]
pub struct Cluster {
    info: ClusterInfo,
    podman: Podman,
    stop: CancellationToken,
    tasks: JoinSet<()>,
    kubelet: Arc<Kubelet>,
}

/// A random cluster name, `sim-` and six letters or digits.
pub fn random_name() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let suffix: String = (0..6)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("sim-{suffix}")
}

/// Checks that a name works as a podman label value, part of a network name and a DNS label.
pub fn validate_name(name: &str) -> Result<(), Error> {
    let valid = !name.is_empty()
        && name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidName(name.to_owned()))
    }
}

fn create_dir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::WriteFile {
        path: dir.to_owned(),
        source,
    })
}

impl Cluster {
    /// Starts a cluster. On failure, whatever was created is removed again.
    pub async fn start(options: ServeOptions) -> Result<Self, Error> {
        let name = options.name.clone().unwrap_or_else(random_name);
        validate_name(&name)?;
        create_dir(&options.dir)?;
        let dir = std::path::absolute(&options.dir).unwrap_or_else(|_| options.dir.clone());
        let podman = Podman::new(&name);
        // A cluster of the same name killed earlier may have left objects behind; its network
        // is removed last, so it tells.
        if podman
            .run(&["network", "exists", &network::network_name(&name)])
            .await
            .is_ok()
        {
            podman.remove_all().await?;
        }
        match Self::start_with(&name, &dir, &options, &podman).await {
            Ok(cluster) => Ok(cluster),
            Err(error) => {
                if let Err(cleanup) = podman.remove_all().await {
                    tracing::warn!(error = %cleanup, "cleaning up after a failed start");
                }
                Err(error)
            }
        }
    }

    async fn start_with(
        name: &str,
        dir: &Path,
        options: &ServeOptions,
        podman: &Podman,
    ) -> Result<Self, Error> {
        let network = ClusterNetwork::create(podman).await?;
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();

        let store = Arc::new(Store::new());
        let version = options.kubernetes_version;
        let catalog = Arc::new(Catalog::for_version(version));
        let admission = Admission {
            node_name: name.to_owned(),
            service_ips: ServiceIps::new(network.service_range.clone()),
            version,
        };
        let storage = Arc::new(Storage::new(store.clone(), catalog, admission));

        let listener = TcpListener::bind(options.listen)
            .await
            .map_err(|source| Error::Listen {
                addr: options.listen,
                source,
            })?;
        let address = listener.local_addr().map_err(|source| Error::Listen {
            addr: options.listen,
            source,
        })?;
        let in_cluster_listen = SocketAddr::from((network.gateway, 0));
        let in_cluster = TcpListener::bind(in_cluster_listen)
            .await
            .map_err(|source| Error::Listen {
                addr: in_cluster_listen,
                source,
            })?;
        let in_cluster_port = in_cluster.local_addr().map_or(0, |a| a.port());
        let kubernetes_ip = network.service_range[0];

        let certificates = pki::generate(
            name,
            &[
                address.ip(),
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V4(network.gateway),
                IpAddr::V4(kubernetes_ip),
            ],
            &[
                "localhost".to_owned(),
                "kubernetes".to_owned(),
                "kubernetes.default".to_owned(),
                "kubernetes.default.svc".to_owned(),
                "kubernetes.default.svc.cluster.local".to_owned(),
            ],
        )?;
        let token = SecretString::from(hex::encode(rand::random::<[u8; 32]>()));

        seed(&storage, name, &network, in_cluster_port)?;

        network::dns::serve(network.gateway, store.clone(), stop.clone()).await?;
        tasks.spawn(network::proxy::run(
            network.clone(),
            storage.clone(),
            stop.clone(),
        ));

        let volumes = dir.join("volumes");
        create_dir(&volumes)?;
        let kubelet = Arc::new(Kubelet::new(
            storage.clone(),
            podman.clone(),
            network.clone(),
            volumes,
            options.insecure_registries.clone(),
            certificates.ca_pem.clone(),
            token.clone(),
        ));
        tasks.spawn(kubelet.clone().run(stop.clone()));
        controllers::spawn(&storage, &certificates.ca_pem, &mut tasks, &stop);

        let shared = Arc::new(Shared {
            storage: storage.clone(),
            token: token.clone(),
            address,
            logs: kubelet.clone(),
            version,
        });
        let acceptor = TlsAcceptor::from(certificates.server.clone());
        tasks.spawn(server::serve(
            listener,
            acceptor.clone(),
            shared.clone(),
            stop.clone(),
        ));
        tasks.spawn(server::serve(in_cluster, acceptor, shared, stop.clone()));

        // Clients of a server listening on every address reach it on loopback.
        let reachable = if address.ip().is_unspecified() {
            SocketAddr::from((Ipv4Addr::LOCALHOST, address.port()))
        } else {
            address
        };
        let server = format!("https://{reachable}");
        let kubeconfig_path = dir.join("kubeconfig");
        kubeconfig::write(
            &kubeconfig_path,
            name,
            &server,
            &certificates.ca_pem,
            &token,
        )?;
        let pid = std::process::id();
        kubeconfig::write_private(&dir.join("kube-sim.pid"), format!("{pid}\n").as_bytes())?;
        tracing::info!(cluster = name, %server, "cluster ready");
        Ok(Self {
            info: ClusterInfo {
                name: name.to_owned(),
                server,
                kubeconfig: kubeconfig_path,
                pid,
            },
            podman: podman.clone(),
            stop,
            tasks,
            kubelet,
        })
    }

    /// What clients need to reach the cluster.
    pub fn info(&self) -> &ClusterInfo {
        &self.info
    }

    /// Stops everything and removes every podman object and address the cluster created.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        tracing::info!(cluster = %self.info.name, "stopping");
        self.stop.cancel();
        self.kubelet.stop_all();
        let drained = tokio::time::timeout(Duration::from_secs(5), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            self.tasks.abort_all();
        }
        let removed = self.podman.remove_all().await?;
        tracing::info!(cluster = %self.info.name, removed, "stopped");
        Ok(())
    }
}

/// Removes what a cluster killed with SIGKILL left behind: containers, pods and the network
/// (its bridge and the addresses on it go with it). Returns how many objects were removed.
pub async fn cleanup(name: &str) -> Result<usize, Error> {
    validate_name(name)?;
    Podman::new(name).remove_all().await
}

/// The objects a new cluster starts with: system namespaces, the node, the default storage
/// class and the `kubernetes` Service.
fn seed(
    storage: &Storage,
    name: &str,
    network: &ClusterNetwork,
    api_port: u16,
) -> Result<(), Error> {
    let namespaces = storage.resource("", "namespaces");
    for namespace in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        storage
            .create(
                &namespaces,
                "",
                json!({"metadata": {"name": namespace}}),
                false,
            )
            .map_err(Error::Seed)?;
    }
    let now = crate::object::now_rfc3339();
    let version = storage.admission.version.git_version();
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let capacity = json!({"cpu": cpus.to_string(), "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"});
    let node = json!({
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": "amd64",
            "node-role.kubernetes.io/control-plane": "",
        }},
        "spec": {},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "kube-sim kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now}],
            "addresses": [{"type": "InternalIP", "address": network.gateway.to_string()}, {"type": "Hostname", "address": name}],
            "capacity": capacity,
            "allocatable": capacity,
            "nodeInfo": {"kubeletVersion": version, "containerRuntimeVersion": "podman", "operatingSystem": "linux",
                "architecture": "amd64", "osImage": "kube-sim", "kernelVersion": "", "kubeProxyVersion": version,
                "machineID": "", "systemUUID": "", "bootID": ""},
        },
    });
    storage
        .create(&storage.resource("", "nodes"), "", node, false)
        .map_err(Error::Seed)?;
    let storage_class = json!({
        "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "kube-sim/host-path",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    });
    storage
        .create(
            &storage.resource("storage.k8s.io", "storageclasses"),
            "",
            storage_class,
            false,
        )
        .map_err(Error::Seed)?;
    let kubernetes = json!({
        "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": network.service_range[0].to_string(), "ports": [{"name": "https", "port": 443, "targetPort": api_port}]},
    });
    storage
        .create(
            &storage.resource("", "services"),
            "default",
            kubernetes,
            false,
        )
        .map_err(Error::Seed)?;
    let endpoints = json!({
        "metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": network.gateway.to_string()}], "ports": [{"name": "https", "port": api_port, "protocol": "TCP"}]}],
    });
    storage
        .create(
            &storage.resource("", "endpoints"),
            "default",
            endpoints,
            false,
        )
        .map_err(Error::Seed)?;
    Ok(())
}
