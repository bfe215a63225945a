//! Integration tests of chorale-runners' cluster, helm and kube modules, in one binary, against
//! real kube-sim clusters (podman), a real registry and the real helm CLI.

mod cli;
mod command;
mod existing;
mod helm;
mod kube;
mod sim;
mod support;
