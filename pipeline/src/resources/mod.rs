//! The records people see (through the CLI now, through the API later): plain data types, no
//! I/O. The store keeps them and depends on nothing else of Chorale; the engine and the
//! operations act on them.
//!
//! - [`build::Build`]: one run of the pipeline, with its [`build::StageRun`]s, component
//!   deploys and test runs; the typed [`build::Stage`] and [`build::Status`];
//! - [`lock::Lock`]: every component's exact commit, chart digest and image digests;
//! - [`bundle::BundleOutcome`]: what a bundle push made;
//! - [`cluster::ClusterRecord`]: a test cluster and where it is in its life;
//! - [`delivery::Delivery`]: one notification to one notifier;
//! - [`version_line::VersionLine`]: `MAJOR.MINOR` of a product's versions.

pub mod access;
pub mod build;
pub mod bundle;
pub mod cluster;
pub mod delivery;
pub mod lock;
pub mod occurrence;
pub mod product;
pub mod version_line;

/// The `apiVersion` of every Chorale document.
pub const API_VERSION: &str = "chorale.dev/v1alpha1";
