//! The cluster network: one podman bridge network per cluster, Service cluster IPs as /32
//! addresses on its bridge with userspace TCP proxies to ready endpoints, and a DNS server on
//! the bridge's gateway address. The bridge gets a MAC of its own, so that it keeps one.
//!
//! The network is a /23: pods get addresses from the first /24 (podman's `--ip-range`), Service
//! cluster IPs come from the second. An "anchor" pod (podman's infra container only) keeps the
//! bridge up while no workload pod runs, since netavark removes a bridge with no containers.

pub mod dns;
pub mod proxy;

use std::net::Ipv4Addr;

use serde_json::Value;

use crate::errors::Error;
use crate::podman::{self, Podman};

/// How many random subnets are tried before giving up.
const SUBNET_ATTEMPTS: u32 = 32;

/// A created cluster network.
#[derive(Debug, Clone)]
pub struct ClusterNetwork {
    /// The podman network name.
    pub name: String,
    /// The Linux bridge interface.
    pub interface: String,
    /// The gateway (the bridge's address); cluster DNS listens here.
    pub gateway: Ipv4Addr,
    /// Addresses for Service cluster IPs, in allocation order.
    pub service_range: Vec<Ipv4Addr>,
}

/// The podman network name of a cluster.
pub fn network_name(cluster: &str) -> String {
    format!("ksim-{cluster}")
}

impl ClusterNetwork {
    /// Creates the network and its anchor pod.
    pub async fn create(podman: &Podman) -> Result<Self, Error> {
        let name = network_name(podman.cluster());
        let mut last = String::new();
        let mut chosen = None;
        for _ in 0..SUBNET_ATTEMPTS {
            let block: u8 = rand::random_range(0..128) * 2;
            let subnet = format!("10.201.{block}.0/23");
            let gateway = Ipv4Addr::new(10, 201, block, 1);
            let result = podman
                .run(&[
                    "network".to_owned(),
                    "create".to_owned(),
                    "--disable-dns".to_owned(),
                    "--subnet".to_owned(),
                    subnet,
                    "--gateway".to_owned(),
                    gateway.to_string(),
                    "--ip-range".to_owned(),
                    format!("10.201.{block}.0/24"),
                    "--label".to_owned(),
                    podman.label(),
                    name.clone(),
                ])
                .await;
            match result {
                Ok(_) => {
                    chosen = Some((block, gateway));
                    break;
                }
                Err(Error::Command { stderr, .. })
                    if stderr.contains("subnet") || stderr.contains("already") =>
                {
                    last = stderr;
                }
                Err(other) => return Err(other),
            }
        }
        let Some((block, gateway)) = chosen else {
            return Err(Error::NoFreeSubnet {
                attempts: SUBNET_ATTEMPTS,
                last,
            });
        };
        let inspect = podman.run(&["network", "inspect", &name]).await?;
        let parsed: Value = serde_json::from_str(&inspect).map_err(|e| Error::CommandOutput {
            command: format!("podman network inspect {name}"),
            detail: e.to_string(),
        })?;
        let interface = parsed
            .pointer("/0/network_interface")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::CommandOutput {
                command: format!("podman network inspect {name}"),
                detail: "no network_interface".into(),
            })?
            .to_owned();
        let anchor = format!("{name}-anchor");
        podman
            .run(&[
                "pod",
                "create",
                "--name",
                &anchor,
                "--network",
                &name,
                "--label",
                &podman.label(),
            ])
            .await?;
        podman.run(&["pod", "start", &anchor]).await?;
        // A Linux bridge without an address of its own takes the lowest of its ports' MACs and
        // changes it when that port goes: every pod's ARP entry for the gateway and the Service
        // IPs would then point at a MAC nobody answers, and connections time out until the
        // entries expire (30-60 s), each time a short-lived pod (a helm test, a Job) leaves. A
        // MAC set on the bridge stays, as CNI's bridge plugin does it.
        let mac = locally_administered_mac();
        podman::run(
            "ip",
            &["link", "set", "dev", &interface, "address", &mac].map(str::to_owned),
        )
        .await?;
        let service_range = (1..=254)
            .map(|host| Ipv4Addr::new(10, 201, block + 1, host))
            .collect();
        tracing::info!(network = %name, %interface, %gateway, %mac, "cluster network ready");
        Ok(Self {
            name,
            interface,
            gateway,
            service_range,
        })
    }

    /// Adds a /32 address to the bridge.
    pub async fn add_address(&self, ip: Ipv4Addr) -> Result<(), Error> {
        let args = [
            "addr",
            "replace",
            &format!("{ip}/32"),
            "dev",
            &self.interface,
        ]
        .map(str::to_owned);
        podman::run("ip", &args).await.map(|_| ())
    }

    /// Removes a /32 address from the bridge (ignoring an address that is already gone).
    pub async fn remove_address(&self, ip: Ipv4Addr) {
        let args = ["addr", "del", &format!("{ip}/32"), "dev", &self.interface].map(str::to_owned);
        if let Err(error) = podman::run("ip", &args).await {
            tracing::debug!(%error, %ip, "removing a service address");
        }
    }
}

/// A random unicast MAC address with the locally administered bit set (`x2:…`).
fn locally_administered_mac() -> String {
    let mut bytes: [u8; 6] = rand::random();
    bytes[0] = (bytes[0] & 0xfc) | 0x02;
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_macs_are_unicast_and_locally_administered() {
        for _ in 0..64 {
            let mac = locally_administered_mac();
            let first = u8::from_str_radix(&mac[..2], 16).unwrap();
            assert_eq!(first & 0x03, 0x02, "{mac}");
            assert_eq!(mac.len(), 17, "{mac}");
        }
    }
}
