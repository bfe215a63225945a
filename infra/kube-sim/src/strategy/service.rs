//! Service defaulting and the allocation of cluster IPs and node ports.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use serde_json::{Map, Value, json};

use super::validation::{self, FieldError};
use crate::errors::ApiError;
use crate::object::{ObjectExt, child_map};

const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

#[derive(Debug, Default)]
struct Allocations {
    ips: HashSet<Ipv4Addr>,
    ports: HashSet<u16>,
    next_ip: usize,
    next_port: u16,
}

/// Allocates Service cluster IPs from the cluster's service range, and node ports.
#[derive(Debug)]
pub struct ServiceIps {
    range: Vec<Ipv4Addr>,
    allocations: Mutex<Allocations>,
}

impl ServiceIps {
    /// An allocator over `range` (the first address goes to the `kubernetes` Service).
    pub fn new(range: Vec<Ipv4Addr>) -> Self {
        Self {
            range,
            allocations: Mutex::new(Allocations::default()),
        }
    }

    /// Marks an IP or node port as free again (the Service is gone).
    pub fn release(&self, service: &Value) {
        let mut allocations = self.allocations.lock().expect("allocator lock poisoned");
        if let Some(ip) = service
            .str_at("/spec/clusterIP")
            .and_then(|ip| ip.parse().ok())
        {
            allocations.ips.remove(&ip);
        }
        for port in node_ports(service) {
            allocations.ports.remove(&port);
        }
    }

    fn allocate_ip(&self, name: &str) -> Result<Ipv4Addr, ApiError> {
        let mut allocations = self.allocations.lock().expect("allocator lock poisoned");
        for offset in 0..self.range.len() {
            let index = (allocations.next_ip + offset) % self.range.len();
            let ip = self.range[index];
            if allocations.ips.insert(ip) {
                allocations.next_ip = index + 1;
                return Ok(ip);
            }
        }
        Err(validation::invalid(
            "",
            "Service",
            name,
            &[FieldError::internal(
                "spec.clusterIPs",
                "failed to allocate a serviceIP: range is full",
            )],
        ))
    }

    fn reserve_ip(&self, ip: Ipv4Addr) {
        self.allocations
            .lock()
            .expect("allocator lock poisoned")
            .ips
            .insert(ip);
    }

    fn allocate_port(&self, name: &str) -> Result<u16, ApiError> {
        let mut allocations = self.allocations.lock().expect("allocator lock poisoned");
        let size = NODE_PORTS.len();
        for offset in 0..size {
            let port =
                NODE_PORTS.start() + ((usize::from(allocations.next_port) + offset) % size) as u16;
            if allocations.ports.insert(port) {
                allocations.next_port = port - NODE_PORTS.start() + 1;
                return Ok(port);
            }
        }
        Err(validation::invalid(
            "",
            "Service",
            name,
            &[FieldError::internal(
                "spec.ports",
                "failed to allocate a nodePort: range is full",
            )],
        ))
    }

    /// Allocates the cluster IP and node ports of a new (defaulted, valid) Service and sets its
    /// status.
    pub fn allocate(&self, service: &mut Value) -> Result<(), ApiError> {
        let name = service.name().to_owned();
        let spec = child_map(service.map_mut(), "spec");
        let service_type = spec
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_owned();
        if service_type != "ExternalName" {
            let requested = spec
                .get("clusterIP")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let ip = match requested.as_str() {
                "" => self.allocate_ip(&name)?.to_string(),
                "None" => "None".to_owned(),
                explicit => {
                    let ip: Ipv4Addr = explicit.parse().map_err(|_| {
                        validation::invalid(
                            "",
                            "Service",
                            &name,
                            &[FieldError::invalid_string(
                                "spec.clusterIPs[0]",
                                explicit,
                                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                            )],
                        )
                    })?;
                    self.reserve_ip(ip);
                    explicit.to_owned()
                }
            };
            spec.insert("clusterIP".into(), json!(ip));
            spec.insert("clusterIPs".into(), json!([ip]));
            spec.insert("ipFamilies".into(), json!(["IPv4"]));
            spec.insert("ipFamilyPolicy".into(), json!("SingleStack"));
        }
        if matches!(service_type.as_str(), "NodePort" | "LoadBalancer") {
            spec.entry("externalTrafficPolicy")
                .or_insert(json!("Cluster"));
            if let Some(Value::Array(ports)) = spec.get_mut("ports") {
                for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                    if port.get("nodePort").and_then(Value::as_u64).is_none() {
                        port.insert("nodePort".into(), json!(self.allocate_port(&name)?));
                    }
                }
            }
        }
        let ip = spec.get("clusterIP").cloned();
        let status = if service_type == "LoadBalancer" {
            json!({"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}})
        } else {
            json!({"loadBalancer": {}})
        };
        service.map_mut().insert("status".into(), status);
        Ok(())
    }

    /// Defaults an updated Service and keeps its allocations.
    pub fn keep_allocations(&self, old: &Value, new: &mut Value) {
        let spec = child_map(new.map_mut(), "spec");
        default_spec(spec);
        for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            let missing = spec.get(field).is_none_or(|v| v.is_null() || v == "");
            if missing && let Some(value) = old.pointer(&format!("/spec/{field}")) {
                spec.insert(field.into(), value.clone());
            }
        }
        let old_ports = old
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(Value::Array(ports)) = spec.get_mut("ports") {
            for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                if port.get("nodePort").is_none()
                    && let Some(previous) =
                        old_ports.iter().find(|p| p.get("port") == port.get("port"))
                    && let Some(node_port) = previous.get("nodePort")
                {
                    port.insert("nodePort".into(), node_port.clone());
                }
            }
        }
    }
}

/// Defaults a Service's spec (type, session affinity, traffic policy, port protocols and
/// target ports).
pub fn default_service(service: &mut Value) {
    default_spec(child_map(service.map_mut(), "spec"));
}

fn default_spec(spec: &mut Map<String, Value>) {
    spec.entry("type").or_insert(json!("ClusterIP"));
    spec.entry("sessionAffinity").or_insert(json!("None"));
    if spec.get("type").and_then(Value::as_str) != Some("ExternalName") {
        spec.entry("internalTrafficPolicy")
            .or_insert(json!("Cluster"));
    }
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            port.entry("protocol").or_insert(json!("TCP"));
            if port.get("targetPort").is_none()
                && let Some(number) = port.get("port").cloned()
            {
                port.insert("targetPort".into(), number);
            }
        }
    }
}

fn node_ports(service: &Value) -> Vec<u16> {
    service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| p.get("nodePort").and_then(Value::as_u64))
                .filter_map(|p| u16::try_from(p).ok())
                .collect()
        })
        .unwrap_or_default()
}
