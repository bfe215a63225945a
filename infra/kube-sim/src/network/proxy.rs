//! The service proxy (kube-proxy's job): for every Service with a cluster IP, the IP as an
//! address on the cluster bridge and a TCP listener per port that forwards each connection to
//! a ready endpoint (round robin), as the Service's Endpoints object lists them.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::ClusterNetwork;
use crate::catalog::ResourceKey;
use crate::object::ObjectExt;
use crate::storage::Storage;
use crate::store::{EventType, Store};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug)]
struct Proxied {
    ip: Ipv4Addr,
    listeners: HashMap<u16, JoinHandle<()>>,
}

/// Runs the proxy until `stop` is cancelled, then removes every address it added.
pub async fn run(network: ClusterNetwork, storage: Arc<Storage>, stop: CancellationToken) {
    let services = ResourceKey::new("", "services");
    let mut events = storage.store.events();
    let mut proxied: HashMap<String, Proxied> = HashMap::new();
    let (existing, _) = storage.store.list(&services, None);
    for service in existing {
        ensure(&network, &storage.store, &mut proxied, &service).await;
    }
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => break,
            event = events.recv() => event,
        };
        match event {
            Ok(event) if event.key == services => {
                if event.kind == EventType::Deleted {
                    storage.admission.service_ips.release(&event.object);
                    if let Some(gone) = proxied.remove(event.object.uid()) {
                        close(&network, gone).await;
                    }
                } else {
                    ensure(&network, &storage.store, &mut proxied, &event.object).await;
                }
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let (existing, _) = storage.store.list(&services, None);
                for service in existing {
                    ensure(&network, &storage.store, &mut proxied, &service).await;
                }
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
    for (_, gone) in proxied.drain() {
        close(&network, gone).await;
    }
}

async fn close(network: &ClusterNetwork, proxied: Proxied) {
    for (_, listener) in proxied.listeners {
        listener.abort();
    }
    network.remove_address(proxied.ip).await;
}

fn tcp_ports(service: &Value) -> Vec<(u16, String)> {
    service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|p| p.get("protocol").and_then(Value::as_str).unwrap_or("TCP") == "TCP")
        .filter_map(|p| {
            let port = u16::try_from(p.get("port")?.as_u64()?).ok()?;
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            Some((port, name))
        })
        .collect()
}

async fn ensure(
    network: &ClusterNetwork,
    store: &Arc<Store>,
    proxied: &mut HashMap<String, Proxied>,
    service: &Value,
) {
    let Some(ip) = service
        .str_at("/spec/clusterIP")
        .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
    else {
        return;
    };
    let uid = service.uid().to_owned();
    if !proxied.contains_key(&uid) {
        if let Err(error) = network.add_address(ip).await {
            tracing::warn!(%error, %ip, service = service.name(), "could not add the service address");
            return;
        }
        proxied.insert(
            uid.clone(),
            Proxied {
                ip,
                listeners: HashMap::new(),
            },
        );
    }
    let entry = proxied.get_mut(&uid).expect("inserted above");
    let ports = tcp_ports(service);
    entry.listeners.retain(|port, listener| {
        let keep = ports.iter().any(|(p, _)| p == port);
        if !keep {
            listener.abort();
        }
        keep
    });
    for (port, port_name) in ports {
        if entry.listeners.contains_key(&port) {
            continue;
        }
        let listener = match TcpListener::bind((ip, port)).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, %ip, port, "could not listen on the service address");
                continue;
            }
        };
        let target = Target {
            store: store.clone(),
            namespace: service.namespace().to_owned(),
            name: service.name().to_owned(),
            port_name,
            port,
            next: Arc::new(AtomicUsize::new(0)),
        };
        tracing::debug!(%ip, port, service = %target.name, "proxying");
        entry
            .listeners
            .insert(port, tokio::spawn(accept(listener, target)));
    }
}

#[derive(Debug, Clone)]
struct Target {
    store: Arc<Store>,
    namespace: String,
    name: String,
    port_name: String,
    port: u16,
    next: Arc<AtomicUsize>,
}

impl Target {
    /// The ready endpoints for this service port.
    fn endpoints(&self) -> Vec<SocketAddr> {
        let Some(endpoints) = self.store.get(
            &ResourceKey::new("", "endpoints"),
            &self.namespace,
            &self.name,
        ) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for subset in endpoints
            .get("subsets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let ports: Vec<&Value> = subset
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .collect();
            let port = ports
                .iter()
                .find(|p| p.get("name").and_then(Value::as_str).unwrap_or("") == self.port_name)
                .or_else(|| (ports.len() == 1).then(|| &ports[0]))
                .and_then(|p| p.get("port")?.as_u64())
                .and_then(|p| u16::try_from(p).ok());
            let Some(port) = port else { continue };
            for address in subset
                .get("addresses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(ip) = address
                    .get("ip")
                    .and_then(Value::as_str)
                    .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
                {
                    found.push(SocketAddr::from((ip, port)));
                }
            }
        }
        found
    }
}

async fn accept(listener: TcpListener, target: Target) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let target = target.clone();
        tokio::spawn(async move {
            let endpoints = target.endpoints();
            if endpoints.is_empty() {
                tracing::debug!(service = %target.name, port = target.port, "no ready endpoint; closing the connection");
                return;
            }
            let start = target.next.fetch_add(1, Ordering::Relaxed);
            for offset in 0..endpoints.len() {
                let endpoint = endpoints[(start + offset) % endpoints.len()];
                let Ok(Ok(mut upstream)) =
                    tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(endpoint)).await
                else {
                    continue;
                };
                let mut client = client;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                return;
            }
        });
    }
}
