//! `kube-sim`: serve a sim cluster, or clean up after one that was killed.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use kube_sim::cluster::{self, Cluster, ServeOptions};
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
            } => {
                serve(ServeOptions {
                    dir,
                    name,
                    listen,
                    insecure_registries,
                })
                .await
            }
            Command::Cleanup { name } => {
                let removed = cluster::cleanup(&name).await?;
                tracing::info!(cluster = %name, removed, "cleaned up");
                Ok(())
            }
        }
    })
}

async fn serve(options: ServeOptions) -> anyhow::Result<()> {
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let cluster = Cluster::start(options).await?;
    let line = serde_json::to_string(cluster.info()).context("printing the cluster info")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").context("printing the cluster info")?;
    stdout.flush().context("printing the cluster info")?;
    drop(stdout);
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    cluster.shutdown().await?;
    Ok(())
}
