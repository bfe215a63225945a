//! End-to-end tests of the pipeline against real servers started by the tests themselves:
//! `docker-registry`, `git daemon`, PostgreSQL, helm, skopeo and chat webhook receivers. One
//! binary, so the support code is compiled once.

mod api;
mod bundle;
mod cli;
mod clusters;
mod deliveries;
mod git_https;
mod manifest;
mod monorepo;
mod notify;
mod packaging;
mod publish;
mod releases;
mod report;
mod run;
mod snapshot;
mod store;
mod support;
