//! End-to-end tests of the pipeline against real servers started by the tests themselves:
//! `docker-registry`, `git daemon`, PostgreSQL, helm and skopeo. One binary, so the support
//! code is compiled once.

mod bundle;
mod cli;
mod git_https;
mod manifest;
mod run;
mod snapshot;
mod store;
mod support;
