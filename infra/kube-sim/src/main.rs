//! `kube-sim`: serve a sim cluster, or clean up after one that was killed.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use kube_sim::cluster::{self, Cluster, ServeOptions};
use kube_sim::owner::Owner;
use kube_sim::version::KubernetesVersion;
use tokio::signal::unix::{SignalKind, signal};

/// A single-process stand-in for a Kubernetes cluster.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a cluster and serve it until SIGTERM or SIGINT.
    Serve {
        /// State directory (created if needed): kubeconfig, pid file, volumes.
        #[arg(long)]
        dir: PathBuf,
        /// Cluster name (default: a random `sim-xxxxxx`).
        #[arg(long)]
        name: Option<String>,
        /// Address of the API server.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// A registry (HOST:PORT) to pull from without TLS verification; loopback registries
        /// always are.
        #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
        insecure_registries: Vec<String>,
        /// The Kubernetes version to answer as, 1.25 to 1.33: discovery, defaulting and
        /// validation follow it.
        #[arg(
            long = "kubernetes-version",
            value_name = "MAJOR.MINOR[.PATCH]",
            default_value_t = KubernetesVersion::DEFAULT
        )]
        kubernetes_version: KubernetesVersion,
        /// Tear the cluster down, as on SIGTERM, when this process is gone (the program that
        /// started it, killed without a chance to stop it).
        #[arg(long, value_name = "PID")]
        owner_pid: Option<u32>,
    },
    /// Remove the containers, pods and network of a cluster that was killed.
    Cleanup {
        /// The cluster name.
        #[arg(long)]
        name: String,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KUBE_SIM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve {
                dir,
                name,
                listen,
                insecure_registries,
                kubernetes_version,
                owner_pid,
            } => {
                let owner =
                    match owner_pid {
                        Some(pid) => Some(Owner::find(pid).with_context(|| {
                            format!("--owner-pid {pid}: there is no such process")
                        })?),
                        None => None,
                    };
                let options = ServeOptions {
                    dir,
                    name,
                    listen,
                    insecure_registries,
                    kubernetes_version,
                };
                serve(options, owner).await
            }
            Command::Cleanup { name } => {
                let removed = cluster::cleanup(&name).await?;
                tracing::info!(cluster = %name, removed, "cleaned up");
                Ok(())
            }
        }
    })
}

async fn serve(options: ServeOptions, owner: Option<Owner>) -> anyhow::Result<()> {
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let cluster = Cluster::start(options).await?;
    let line = serde_json::to_string(cluster.info()).context("printing the cluster info")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").context("printing the cluster info")?;
    stdout.flush().context("printing the cluster info")?;
    drop(stdout);
    let owner_gone = async {
        match owner {
            Some(owner) => owner.gone().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
        () = owner_gone => tracing::warn!("the owner process is gone: tearing the cluster down"),
    }
    cluster.shutdown().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version_of(args: &[&str]) -> Result<KubernetesVersion, String> {
        let mut line = vec!["kube-sim", "serve", "--dir", "d"];
        line.extend(args);
        match Cli::try_parse_from(line)
            .map_err(|e| e.to_string())?
            .command
        {
            Command::Serve {
                kubernetes_version, ..
            } => Ok(kubernetes_version),
            Command::Cleanup { .. } => Err("not serve".to_owned()),
        }
    }

    #[test]
    fn serve_answers_as_kubernetes_1_25_9_unless_told_otherwise() {
        assert_eq!(version_of(&[]), Ok(KubernetesVersion::DEFAULT));
        assert_eq!(
            version_of(&["--kubernetes-version", "1.30"]).map(|v| v.to_string()),
            Ok("1.30.0".to_owned())
        );
        let refused = version_of(&["--kubernetes-version", "1.34"]).expect_err("refused");
        assert!(
            refused.contains("kube-sim serves Kubernetes 1.25 to 1.33; 1.34 is not one of them"),
            "{refused}"
        );
    }
}
