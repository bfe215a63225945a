//! Integration tests of chorale-runners' cluster, git, github, helm, kube and registry modules,
//! in one binary, against real kube-sim clusters (podman), a real registry, a real git daemon,
//! the real helm CLI and Prism serving GitHub's own OpenAPI description.

mod cli;
mod command;
mod existing;
mod git;
mod git_tag;
mod github;
mod helm;
mod kube;
mod registry;
mod sim;
mod support;
