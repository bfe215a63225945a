//! Cluster DNS: answers `SERVICE.NAMESPACE.svc.cluster.local` with the Service's cluster IP
//! (or, for headless Services, the ready endpoints' addresses; for ExternalName Services a
//! CNAME), `HOST.SERVICE.NAMESPACE.svc.cluster.local` with the endpoint of that hostname, and
//! `A-B-C-D.NAMESPACE.pod.cluster.local` with that address; other names are forwarded to the
//! host's name server. Listens on UDP and TCP port 53 of the cluster bridge's gateway address.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, Metadata, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

use crate::catalog::ResourceKey;
use crate::errors::Error;
use crate::store::Store;

const TTL: u32 = 5;
const DOMAIN: &str = "cluster.local";

/// What a name resolves to.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// IPv4 addresses.
    Addresses(Vec<Ipv4Addr>),
    /// An alias.
    Alias(String),
    /// The name exists but has no records of the asked type.
    NoData,
    /// The name does not exist.
    NotFound,
}

/// Resolves a cluster name (with or without the trailing dot) from the store.
pub fn resolve(store: &Store, name: &str) -> Answer {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let Some(relative) = name.strip_suffix(DOMAIN).map(|r| r.trim_end_matches('.')) else {
        return Answer::NotFound;
    };
    let labels: Vec<&str> = if relative.is_empty() {
        Vec::new()
    } else {
        relative.split('.').collect()
    };
    match labels.as_slice() {
        [] | ["svc" | "pod"] => Answer::NoData,
        [namespace, "svc" | "pod"] => {
            if store
                .get(&ResourceKey::new("", "namespaces"), "", namespace)
                .is_some()
            {
                Answer::NoData
            } else {
                Answer::NotFound
            }
        }
        [service, namespace, "svc"] => service_answer(store, namespace, service),
        [host, service, namespace, "svc"] => endpoint_hostname(store, namespace, service, host),
        [dashed, _namespace, "pod"] => dashed
            .replace('-', ".")
            .parse()
            .map_or(Answer::NotFound, |ip| Answer::Addresses(vec![ip])),
        _ => Answer::NotFound,
    }
}

fn service_answer(store: &Store, namespace: &str, name: &str) -> Answer {
    let Some(service) = store.get(&ResourceKey::new("", "services"), namespace, name) else {
        return Answer::NotFound;
    };
    if let Some(external) = service
        .pointer("/spec/externalName")
        .and_then(Value::as_str)
    {
        return Answer::Alias(external.to_owned());
    }
    match service.pointer("/spec/clusterIP").and_then(Value::as_str) {
        Some("None") | None => {
            let addresses = ready_addresses(store, namespace, name)
                .into_iter()
                .map(|(ip, _)| ip)
                .collect::<Vec<_>>();
            if addresses.is_empty() {
                Answer::NoData
            } else {
                Answer::Addresses(addresses)
            }
        }
        Some(ip) => ip
            .parse()
            .map_or(Answer::NoData, |ip| Answer::Addresses(vec![ip])),
    }
}

fn endpoint_hostname(store: &Store, namespace: &str, service: &str, host: &str) -> Answer {
    let found: Vec<Ipv4Addr> = ready_addresses(store, namespace, service)
        .into_iter()
        .filter(|(_, hostname)| hostname.as_deref() == Some(host))
        .map(|(ip, _)| ip)
        .collect();
    if found.is_empty() {
        Answer::NotFound
    } else {
        Answer::Addresses(found)
    }
}

fn ready_addresses(
    store: &Store,
    namespace: &str,
    service: &str,
) -> Vec<(Ipv4Addr, Option<String>)> {
    let Some(endpoints) = store.get(&ResourceKey::new("", "endpoints"), namespace, service) else {
        return Vec::new();
    };
    endpoints
        .get("subsets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("addresses").and_then(Value::as_array))
        .flatten()
        .filter_map(|a| {
            let ip = a.get("ip")?.as_str()?.parse().ok()?;
            let hostname = a.get("hostname").and_then(Value::as_str).map(str::to_owned);
            Some((ip, hostname))
        })
        .collect()
}

/// Builds the response to one query message.
fn respond(store: &Store, request: &Message) -> Message {
    let mut response = Message::new(
        request.metadata.id,
        MessageType::Response,
        request.metadata.op_code,
    );
    response.metadata = Metadata::response_from_request(&request.metadata);
    response.metadata.authoritative = true;
    response.metadata.recursion_available = true;
    let Some(query) = request.queries.first() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return response;
    };
    response.add_query(query.clone());
    let name = query.name().clone();
    match resolve(store, &name.to_ascii()) {
        Answer::NotFound => response.metadata.response_code = ResponseCode::NXDomain,
        Answer::NoData => {}
        Answer::Alias(target) => {
            if let Ok(target) = Name::from_ascii(format!("{target}.")) {
                response.add_answer(Record::from_rdata(name, TTL, RData::CNAME(CNAME(target))));
            }
        }
        Answer::Addresses(addresses) => {
            if matches!(query.query_type(), RecordType::A | RecordType::ANY) {
                for ip in addresses {
                    response.add_answer(Record::from_rdata(name.clone(), TTL, RData::A(A(ip))));
                }
            }
        }
    }
    response
}

/// How long a forwarded query may take.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(2);

/// Answers cluster names from the store and forwards the others to the host's name server.
#[derive(Debug)]
struct Resolver {
    store: Arc<Store>,
    upstream: Option<SocketAddr>,
}

impl Resolver {
    async fn answer(&self, packet: &[u8]) -> Option<Vec<u8>> {
        let request = Message::from_vec(packet).ok()?;
        let cluster_name = request.queries.first().is_none_or(|q| {
            let name = q.name().to_ascii().to_ascii_lowercase();
            name.trim_end_matches('.').ends_with(DOMAIN)
        });
        match self.upstream {
            Some(upstream) if !cluster_name => match forward(upstream, packet).await {
                Some(reply) => Some(reply),
                None => Message::error_msg(
                    request.metadata.id,
                    request.metadata.op_code,
                    ResponseCode::ServFail,
                )
                .to_vec()
                .ok(),
            },
            _ => respond(&self.store, &request).to_vec().ok(),
        }
    }
}

async fn forward(upstream: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    let local: SocketAddr = if upstream.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0_u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(local).await.ok()?;
    socket.send_to(packet, upstream).await.ok()?;
    let mut buffer = vec![0_u8; 4096];
    let (length, _) = tokio::time::timeout(FORWARD_TIMEOUT, socket.recv_from(&mut buffer))
        .await
        .ok()?
        .ok()?;
    buffer.truncate(length);
    Some(buffer)
}

/// The first name server of the host's `/etc/resolv.conf`, unless it is `gateway` itself.
fn host_name_server(gateway: Ipv4Addr) -> Option<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .filter_map(|server| server.trim().parse::<std::net::IpAddr>().ok())
        .find(|ip| *ip != std::net::IpAddr::V4(gateway))
        .map(|ip| SocketAddr::new(ip, 53))
}

/// Binds UDP and TCP port 53 on `gateway` and answers until `stop` is cancelled.
pub async fn serve(
    gateway: Ipv4Addr,
    store: Arc<Store>,
    stop: CancellationToken,
) -> Result<(), Error> {
    let address = SocketAddr::from((gateway, 53));
    let fail = |source| Error::Dns {
        addr: address,
        source,
    };
    let udp = UdpSocket::bind(address).await.map_err(fail)?;
    let tcp = TcpListener::bind(address).await.map_err(fail)?;
    let resolver = Arc::new(Resolver {
        store,
        upstream: host_name_server(gateway),
    });
    let udp = Arc::new(udp);
    let udp_resolver = resolver.clone();
    let udp_stop = stop.clone();
    tokio::spawn(async move {
        let mut buffer = vec![0_u8; 4096];
        loop {
            let received = tokio::select! {
                () = udp_stop.cancelled() => return,
                received = udp.recv_from(&mut buffer) => received,
            };
            let Ok((length, peer)) = received else {
                continue;
            };
            let packet = buffer[..length].to_vec();
            let (udp, resolver) = (udp.clone(), udp_resolver.clone());
            tokio::spawn(async move {
                if let Some(reply) = resolver.answer(&packet).await {
                    let _ = udp.send_to(&reply, peer).await;
                }
            });
        }
    });
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = stop.cancelled() => return,
                accepted = tcp.accept() => accepted,
            };
            let Ok((mut stream, _)) = accepted else {
                continue;
            };
            let resolver = resolver.clone();
            tokio::spawn(async move {
                loop {
                    let Ok(length) = stream.read_u16().await else {
                        return;
                    };
                    let mut packet = vec![0_u8; usize::from(length)];
                    if stream.read_exact(&mut packet).await.is_err() {
                        return;
                    }
                    let Some(reply) = resolver.answer(&packet).await else {
                        return;
                    };
                    let Ok(reply_length) = u16::try_from(reply.len()) else {
                        return;
                    };
                    if stream.write_u16(reply_length).await.is_err()
                        || stream.write_all(&reply).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    tracing::info!(%address, "cluster DNS listening");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store() -> Store {
        let store = Store::new();
        let put = |plural: &str, object: Value| {
            store
                .insert(&ResourceKey::new("", plural), object)
                .expect("inserted");
        };
        put("namespaces", json!({"metadata": {"name": "shop"}}));
        put(
            "services",
            json!({"metadata": {"name": "web", "namespace": "shop"}, "spec": {"clusterIP": "10.0.1.5"}}),
        );
        put(
            "services",
            json!({"metadata": {"name": "db", "namespace": "shop"}, "spec": {"clusterIP": "None"}}),
        );
        put(
            "services",
            json!({"metadata": {"name": "out", "namespace": "shop"}, "spec": {"type": "ExternalName", "externalName": "example.org"}}),
        );
        put(
            "endpoints",
            json!({"metadata": {"name": "db", "namespace": "shop"}, "subsets": [{"addresses": [
                {"ip": "10.0.0.7", "hostname": "db-0"}, {"ip": "10.0.0.8", "hostname": "db-1"}
            ]}]}),
        );
        store
    }

    #[test]
    fn cluster_names_resolve_like_cluster_dns() {
        let store = store();
        let ip = |text: &str| text.parse::<Ipv4Addr>().unwrap();
        assert_eq!(
            resolve(&store, "web.shop.svc.cluster.local."),
            Answer::Addresses(vec![ip("10.0.1.5")])
        );
        assert_eq!(
            resolve(&store, "WEB.shop.svc.cluster.local"),
            Answer::Addresses(vec![ip("10.0.1.5")])
        );
        assert_eq!(
            resolve(&store, "db.shop.svc.cluster.local."),
            Answer::Addresses(vec![ip("10.0.0.7"), ip("10.0.0.8")])
        );
        assert_eq!(
            resolve(&store, "db-1.db.shop.svc.cluster.local."),
            Answer::Addresses(vec![ip("10.0.0.8")])
        );
        assert_eq!(
            resolve(&store, "out.shop.svc.cluster.local."),
            Answer::Alias("example.org".into())
        );
        assert_eq!(
            resolve(&store, "10-0-0-9.shop.pod.cluster.local."),
            Answer::Addresses(vec![ip("10.0.0.9")])
        );
        assert_eq!(resolve(&store, "shop.svc.cluster.local."), Answer::NoData);
        assert_eq!(
            resolve(&store, "nope.shop.svc.cluster.local."),
            Answer::NotFound
        );
        assert_eq!(
            resolve(&store, "web.other.svc.cluster.local."),
            Answer::NotFound
        );
        assert_eq!(
            resolve(&store, "web.shop.svc.cluster.local.shop.svc.cluster.local."),
            Answer::NotFound
        );
    }

    #[test]
    fn responses_answer_a_queries_and_say_nxdomain_for_unknown_names() {
        let store = store();
        let query = |name: &str, kind: RecordType| {
            let mut message = Message::query();
            message.add_query(hickory_proto::op::Query::query(
                Name::from_ascii(name).unwrap(),
                kind,
            ));
            respond(&store, &message)
        };
        let found = query("web.shop.svc.cluster.local.", RecordType::A);
        assert_eq!(found.metadata.response_code, ResponseCode::NoError);
        assert_eq!(found.answers.len(), 1);
        let no_ipv6 = query("web.shop.svc.cluster.local.", RecordType::AAAA);
        assert_eq!(
            (no_ipv6.metadata.response_code, no_ipv6.answers.len()),
            (ResponseCode::NoError, 0)
        );
        let missing = query("nope.shop.svc.cluster.local.", RecordType::A);
        assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    }
}
