//! Chorale: a daily-build delivery pipeline for products assembled from Helm-chart components.
//!
//! The library holds the resource model and the pipeline; the `chorale` binary is a thin layer
//! over [`cli`]. [`ops`] holds one request and one core function per thing a user can do; the
//! [`engine`] runs a build's typed stages ([`builds::Stage`]) and tells an observer what
//! happens ([`engine::events`]); [`manifest`] loading and validation, [`snapshot`] into a
//! [`lock::Lock`], [`bundle`] into an OCI artifact, recorded as [`builds::Build`]s in the
//! [`store::Store`]; the [`report`] of a build and the [`notify`]cations that announce it.

pub mod api;
pub mod archive;
pub mod bundle;
pub mod chart;
pub mod chart_cache;
pub mod cli;
pub mod clusters;
pub mod context;
pub mod diff;
pub mod engine;
pub mod errors;
pub mod manifest;
pub mod notify;
pub mod ops;
pub mod report;
pub mod resources;
pub mod scheduler;
pub mod service;
pub mod snapshot;
pub mod store;
pub mod versions;
pub mod waves;

pub use context::{Context, Runners};
pub use errors::Error;
