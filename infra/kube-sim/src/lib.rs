//! kube-sim: a single-process stand-in for a Kubernetes cluster.
//!
//! It serves the Kubernetes API over HTTPS (JSON only) from an in-memory store, runs the
//! controllers that turn Deployments, StatefulSets, DaemonSets and Jobs into Pods, runs those
//! Pods' containers with podman on a per-cluster bridge network, and gives Services cluster IPs
//! and DNS names on that network. Real clients (kubectl, helm, kube-rs) talk to it through the
//! kubeconfig it writes.

pub mod catalog;
pub mod cluster;
pub mod controllers;
pub mod errors;
pub mod events;
pub mod kubeconfig;
pub mod kubelet;
pub mod network;
pub mod object;
pub mod owner;
pub mod patch;
pub mod pki;
pub mod podman;
pub mod selector;
pub mod server;
pub mod storage;
pub mod store;
pub mod strategy;
pub mod version;
