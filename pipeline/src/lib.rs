//! Chorale: a daily-build delivery pipeline for products assembled from Helm-chart components.
//!
//! The library holds the resource model and the pipeline; the `chorale` binary is a thin layer
//! over [`cli`]. Stages so far: [`manifest`] loading and validation, [`snapshot`] into a
//! [`lock::Lock`], [`bundle`] into an OCI artifact, recorded as [`builds::Build`]s in the
//! [`store::Store`]; the [`report`] of a build and the [`notify`]cations that announce it.

pub mod archive;
pub mod builds;
pub mod bundle;
pub mod chart;
pub mod cli;
pub mod clusters;
pub mod context;
pub mod diff;
pub mod errors;
pub mod lock;
pub mod manifest;
pub mod notify;
pub mod pipeline;
pub mod report;
pub mod run;
pub mod snapshot;
pub mod store;
pub mod waves;

pub use context::{Context, Runners};
pub use errors::Error;
