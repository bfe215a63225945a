//! The hands of Chorale that touch the outside world, one module per system, each a small API
//! with its real implementation: [`git`] (libgit2), [`github`] (GitHub releases, octocrab),
//! [`registry`] (OCI registries and image layouts), [`cluster`] (disposable clusters from
//! providers), [`helm`] (the helm CLI) and [`kube`] (the Kubernetes API through kube-rs).
//!
//! Runners take plain inputs (a URL, a reference, a path) and return plain outputs (a commit,
//! a digest, bytes); they know nothing of products or builds.

pub mod cluster;
pub mod digest;
pub mod errors;
pub mod git;
pub mod github;
pub mod helm;
pub mod kube;
mod process;
pub mod registry;

pub use errors::{ClusterError, GitError, GithubError, HelmError, KubeError, RegistryError};
