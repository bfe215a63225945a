//! Test fixtures for Chorale: real servers, each started on a free loopback port in its own
//! temp dir, waited for until it answers, and stopped and cleaned up when dropped.
//!
//! - [`Registry`]: `docker-registry`, anonymous, basic or token auth; stop and start again.
//! - [`GitDaemon`] and [`GitRepo`]: `git daemon` and repositories with deterministic commits.
//! - [`GitHttpsServer`]: the same repositories over `https://`, behind a token.
//! - [`Postgres`]: a throw-away PostgreSQL 15 cluster.
//! - [`ScratchImage`], [`MultiArchImage`] and [`probe_binary`]: images built `FROM scratch`
//!   with buildah and pushed to a [`Registry`].
//! - [`helm`]: the pinned helm 3.10.1.
//! - [`SimCluster`] and [`kube_sim_binary`]: a kube-sim cluster (the stand-in Kubernetes of
//!   `infra/kube-sim`) built from this workspace.
//! - [`DemoProduct`]: the demo product of `product-manifests/demo`, published to fixtures.
//! - [`webhook::Receiver`]: a chat-platform webhook receiver that checks signatures and
//!   payloads as each platform documents them, and answers as a test scripts it.
//! - [`oidc::Issuer`]: an OpenID Connect issuer (discovery document and key set) with
//!   [`oidc::SigningKey`]s that sign its tokens, and the forgeries a verifier must refuse.
//! - [`github::Prism`] and [`github::GithubFake`]: GitHub's REST API as its own OpenAPI
//!   description has it (Prism validates every request), with releases that exist once created.
//!
//! The API is synchronous, so it works from plain and from tokio tests; the exceptions are
//! [`webhook`], [`oidc`] and [`github::GithubFake`], which serve on the caller's tokio runtime.
//! Every fixture fails with an [`Error`] that names a missing program and `infra/dev/install`.

mod basic_auth;
mod certificates;
mod demo;
mod errors;
mod git;
mod git_https;
pub mod github;
mod helm;
mod image;
mod kube_sim;
mod logs;
pub mod oidc;
mod postgres;
mod process;
mod registry;
mod token;
pub mod webhook;

use std::path::{Path, PathBuf};

pub use demo::DemoProduct;
pub use errors::Error;
pub use git::{GitDaemon, GitRepo};
pub use git_https::GitHttpsServer;
pub use helm::{HELM_VERSION, helm};
pub use image::{MultiArchImage, PROBE_PATH, PushedImage, ScratchImage, probe_binary};
pub use kube_sim::{SimCluster, kube_sim_binary};
pub use logs::LogCapture;
pub use postgres::Postgres;
pub use registry::{Registry, Served};

/// The root of the Chorale workspace (where `Cargo.toml`, `infra/` and `product-manifests/`
/// are).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .nth(2)
        .unwrap_or(manifest_dir)
        .to_path_buf()
}
