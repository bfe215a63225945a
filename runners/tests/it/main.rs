//! Integration tests of chorale-runners' cluster, git, helm, kube and registry modules, in one
//! binary, against real kube-sim clusters (podman), a real registry, a real git daemon and the
//! real helm CLI.

mod cli;
mod command;
mod existing;
mod git;
mod git_tag;
mod helm;
mod kube;
mod registry;
mod sim;
mod support;
