//! The hands of Chorale that touch the outside world, one module per system, each a small API
//! with its real implementation: [`git`] (libgit2), [`registry`] (OCI registries and image
//! layouts).
//!
//! Runners take plain inputs (a URL, a reference, a path) and return plain outputs (a commit,
//! a digest, bytes); they know nothing of products or builds.

pub mod digest;
pub mod errors;
pub mod git;
pub mod registry;

pub use errors::{GitError, RegistryError};
