//! The `chorale` command line: argument parsing and one call into the library per subcommand.

mod client;
mod notifications;
pub mod progress;
mod release;
mod remote;
mod render;
mod service;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chorale_reports::Format;
use chorale_runners::registry::RegistryOptions;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};

use chorale_runners::ClusterError;
use chorale_runners::cluster::{ProviderKind, ProviderOptions};

use crate::api::documents::ProductDocument;
use crate::clusters::ClusterRequest;
use crate::context::Context;
use crate::engine::events::{Both, Stored};
use crate::errors::{Error, exit};
use crate::ops::{
    BundleRequest, DEFAULT_CONCURRENCY, DEFAULT_PARALLELISM, RunRequest, SnapshotRequest, Verdict,
    bundle_product, reap, resume_deliveries, run_product, snapshot_product,
};
use crate::resources::build::{BuildDocument, BuildList};
use crate::resources::bundle::BundleDocument;
use crate::resources::cluster::{ClusterDocument, ClusterList};
use crate::resources::delivery::{DeliveryDocument, DeliveryList};
use crate::resources::parse_duration;
use progress::{Lines, Progress};

/// Chorale: daily builds of products assembled from Helm-chart components.
#[derive(Debug, Parser)]
#[command(name = "chorale", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
pub(crate) struct Global {
    /// Folder for state: the SQLite database, git mirrors, OCI layouts.
    #[arg(
        long,
        global = true,
        env = "CHORALE_STATE_DIR",
        default_value = ".chorale"
    )]
    state_dir: PathBuf,
    /// Use this database instead of STATE_DIR/state.db (sqlite://… or postgres://…).
    #[arg(
        long,
        global = true,
        env = "CHORALE_DATABASE_URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// Registry hosts reached over plain HTTP although they are not loopback (repeatable).
    #[arg(long = "insecure-registry", global = true, value_name = "HOST[:PORT]")]
    insecure_registries: Vec<String>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Warn when a chart packaged from git is larger than this, unpacked (MiB).
    #[arg(
        long,
        global = true,
        env = "CHORALE_CHART_SIZE_WARNING",
        value_name = "MIB",
        default_value_t = 10
    )]
    chart_size_warning: u64,
    /// Ask this Chorale server (`chorale serve`'s URL) instead of the state folder: run,
    /// apply, builds, report, diff, notifications list BUILD, clusters list, release.
    #[arg(long, global = true, env = "CHORALE_SERVER", value_name = "URL")]
    server: Option<String>,
    /// The file whose first line is the API token for --server (default: CHORALE_TOKEN).
    #[arg(long, global = true, value_name = "FILE")]
    token_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    Text,
    /// For programs.
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct OutputArg {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
}

#[derive(Debug, Subcommand, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
enum Command {
    /// Register a product (or change it) from its manifest and component files, checked as
    /// `validate` checks them; the service's scheduled and triggered builds use it.
    Apply {
        /// The product manifest.
        file: PathBuf,
        #[command(flatten)]
        output: OutputArg,
    },
    /// Check a product manifest and its component files; print every error.
    Validate {
        /// The product manifest.
        file: PathBuf,
    },
    /// Write the JSON schema of the manifests.
    Schema {
        /// Folder to write product.schema.json and component.schema.json into.
        #[arg(long, default_value = "product-manifests/schema")]
        out: PathBuf,
    },
    /// Resolve every component to exact commits and digests, print and store the lock.
    Snapshot {
        /// The product manifest.
        file: PathBuf,
        /// Requests in flight at most.
        #[arg(long, default_value_t = DEFAULT_CONCURRENCY)]
        concurrency: usize,
        #[command(flatten)]
        output: OutputArg,
    },
    /// Snapshot, then push the product bundle and every chart.
    Bundle {
        /// The product manifest.
        file: PathBuf,
        /// HOST[:PORT]/REPOSITORY to push to (default: OCI layouts under STATE_DIR/oci).
        #[arg(long)]
        registry: Option<String>,
        /// Requests in flight at most.
        #[arg(long, default_value_t = DEFAULT_CONCURRENCY)]
        concurrency: usize,
        #[command(flatten)]
        output: OutputArg,
    },
    /// A whole daily build: snapshot, bundle, provision a test cluster, deploy, test, tear
    /// the cluster down. Exit 0 when the product passed, 4 when it failed, 5 when something
    /// outside Chorale failed, 130 when interrupted.
    Run(Box<RunArgs>),
    /// Test clusters Chorale made.
    Clusters {
        #[command(subcommand)]
        command: ClustersCommand,
    },
    /// Recorded builds.
    Builds {
        #[command(subcommand)]
        command: BuildsCommand,
    },
    /// Components that changed between two locks (lock ids, build ids or lock files).
    Diff {
        /// The older lock.
        from: String,
        /// The newer lock.
        to: String,
        #[command(flatten)]
        output: OutputArg,
    },
    /// A build's report: the one kept in its folder, or rendered now from the store.
    Report {
        /// The build id (or a unique prefix).
        build: String,
        /// Markdown, a self-contained HTML page, the merged JUnit XML, or JSON.
        #[arg(long, default_value = "md", value_parser = report_format())]
        format: Format,
    },
    /// Notification deliveries.
    Notifications {
        #[command(subcommand)]
        command: NotificationsCommand,
    },
    /// Releases: list, show, and a release manager's approve or reject of a build.
    Release {
        #[command(subcommand)]
        command: release::ReleaseCommand,
    },
    /// Run the service: the HTTP API (`/api/v1`, bearer tokens with roles) on the state
    /// folder's database, until SIGINT or SIGTERM.
    Serve(Box<service::ServeArgs>),
    /// API tokens: create (the secret is printed once), list, revoke.
    Tokens {
        #[command(subcommand)]
        command: service::TokensCommand,
    },
    /// The audit log: every change, who made it, and every refused attempt.
    Audit {
        #[command(subcommand)]
        command: service::AuditCommand,
    },
}

/// `md`, `html`, `junit` or `json`.
fn report_format() -> impl TypedValueParser<Value = Format> {
    PossibleValuesParser::new(Format::ALL.map(Format::name))
        .map(|name| name.parse::<Format>().expect("a listed format parses"))
}

#[derive(Debug, Subcommand)]
enum NotificationsCommand {
    /// Each delivery's notifier, channel, event, state, attempts and last error.
    List {
        /// Only this build's deliveries (an id or a unique prefix); default: the newest of
        /// all builds.
        build: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        output: OutputArg,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The product manifest.
    file: PathBuf,
    #[command(flatten)]
    build: BuildOptions,
    #[command(flatten)]
    output: OutputArg,
}

/// How a build runs, beyond its product: `chorale run`'s options and `chorale serve`'s
/// defaults for the builds it runs.
#[derive(Debug, Args)]
pub(crate) struct BuildOptions {
    /// Which provider makes the test cluster (default: the product's spec.cluster.provider).
    #[arg(long, value_parser = parse_provider)]
    cluster: Option<ProviderKind>,
    /// existing, vcluster: the host cluster's kubeconfig (default: $KUBECONFIG, ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// existing, vcluster: the kubeconfig context to use.
    #[arg(long)]
    context: Option<String>,
    /// command: the command that creates a cluster and prints its kubeconfig path last.
    #[arg(long)]
    create_command: Option<String>,
    /// command: the command that deletes the cluster.
    #[arg(long)]
    delete_command: Option<String>,
    /// sim: the kube-sim binary (default: $CHORALE_KUBE_SIM, next to chorale, on PATH).
    #[arg(long)]
    kube_sim: Option<PathBuf>,
    /// kind, k3d: the node image.
    #[arg(long)]
    node_image: Option<String>,
    /// How long the cluster may live before `chorale clusters reap` deletes it.
    #[arg(long, default_value = "2h", value_parser = parse_duration)]
    cluster_ttl: Duration,
    /// How long creating the cluster may take.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    provision_timeout: Duration,
    /// HOST[:PORT]/REPOSITORY to push the bundle to (default: OCI layouts under STATE_DIR/oci).
    #[arg(long)]
    registry: Option<String>,
    /// Requests in flight at most while resolving and pushing.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY)]
    concurrency: usize,
    /// Components deployed at once at most.
    #[arg(long, default_value_t = DEFAULT_PARALLELISM)]
    parallelism: usize,
    /// How long one component's helm install may take.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    deploy_timeout: Duration,
    /// How long a build stays owned without a heartbeat (renewed every third of it); a build
    /// whose lease ran out is reaped by any Chorale on the same database.
    #[arg(long, default_value = "30s", value_parser = parse_lease)]
    lease: Duration,
}

fn parse_lease(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        lease if lease >= Duration::from_secs(3) => Ok(lease),
        _ => Err(format!(
            "`{text}` is too short for a lease; give at least 3s"
        )),
    }
}

fn parse_provider(text: &str) -> Result<ProviderKind, String> {
    text.parse().map_err(|e: ClusterError| e.to_string())
}

#[derive(Debug, Subcommand)]
enum ClustersCommand {
    /// Every recorded cluster, newest first.
    List {
        #[command(flatten)]
        output: OutputArg,
    },
    /// Mark builds whose process died as interrupted; tear down clusters past their TTL or
    /// whose build is over or gone.
    Reap {
        #[command(flatten)]
        output: OutputArg,
    },
}

#[derive(Debug, Subcommand)]
enum BuildsCommand {
    /// The newest builds first.
    List {
        /// Only this product's builds.
        #[arg(long)]
        product: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        output: OutputArg,
    },
    /// One build with its stages.
    Show {
        /// The build id (or a unique prefix).
        id: String,
        #[command(flatten)]
        output: OutputArg,
    },
}

/// Parse the process arguments, run the command and return its exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.global.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(Error::Manifest(errors)) => {
            for error in &errors.0 {
                eprintln!("{error}");
            }
            eprintln!("error: {} problem(s) in the manifest", errors.0.len());
            exit::INVALID_INPUT
        }
        Err(error) => {
            eprintln!("error: {error}");
            error.exit_code()
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(exit::FAILURE as u8))
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHORALE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // A log line that cannot be written (stderr a closed pipe) is dropped: reporting it would
    // print to that same stderr, and printing to a closed stderr panics.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// How the state is opened, from the global options.
pub(crate) fn context_options(global: &Global) -> crate::service::ContextOptions {
    crate::service::ContextOptions {
        state_dir: global.state_dir.clone(),
        database_url: global.database_url.clone(),
        registry: RegistryOptions {
            insecure: global.insecure_registries.clone(),
            ..RegistryOptions::default()
        },
        chart_size_warning: global.chart_size_warning.saturating_mul(1024 * 1024),
    }
}

pub(crate) async fn context(global: &Global) -> Result<Context, Error> {
    let options = context_options(global);
    let mut context = Context::open(
        &options.state_dir,
        options.database_url.as_deref(),
        options.registry,
    )
    .await?;
    context.runners.charts.size_warning = options.chart_size_warning;
    Ok(context)
}

pub(crate) fn print(text: &str) {
    println!("{}", text.trim_end());
}

pub(crate) fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).expect("output serialises")
}

/// Resolves with the signal's name at the first SIGINT or SIGTERM.
pub(crate) fn interrupted() -> impl Future<Output = String> {
    use tokio::signal::unix::{SignalKind, signal};
    // Installed now, not when first awaited: a signal that comes before is not lost (nor
    // does it kill the process the default way).
    let signals = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    );
    async move {
        let (Ok(mut interrupt), Ok(mut terminate)) = signals else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = interrupt.recv() => "SIGINT".to_owned(),
            _ = terminate.recv() => "SIGTERM".to_owned(),
        }
    }
}

/// The request a build with these options makes of `manifest` (no I/O).
pub(crate) fn run_request(
    global: &Global,
    options: &BuildOptions,
    manifest: PathBuf,
    trigger: &str,
) -> RunRequest {
    RunRequest {
        manifest,
        registry: options.registry.clone(),
        concurrency: options.concurrency,
        cluster: ClusterRequest {
            provider: options.cluster,
            options: ProviderOptions {
                kube_sim: options.kube_sim.clone(),
                insecure_registries: global.insecure_registries.clone(),
                kubeconfig: options.kubeconfig.clone(),
                context: options.context.clone(),
                create_command: options.create_command.clone(),
                delete_command: options.delete_command.clone(),
                node_image: options.node_image.clone(),
                ..ProviderOptions::default()
            },
            ttl: options.cluster_ttl,
            create_timeout: options.provision_timeout,
        },
        parallelism: options.parallelism,
        deploy_timeout: options.deploy_timeout,
        lease: options.lease,
        trigger: trigger.to_owned(),
        skip_unchanged: false,
    }
}

async fn run_command(global: &Global, args: RunArgs) -> Result<i32, Error> {
    let context = context(global).await?;
    // Bad input changes nothing: checked before anything else is touched.
    let run = run_request(global, &args.build, args.file.clone(), "cli").check(&context)?;
    let progress = Progress::new("running", Lines::Build);
    // The duties a killed earlier run may have left: its build and cluster reaped first, its
    // unsent deliveries sent alongside this build.
    if let Err(error) = reap(&context, &progress).await {
        progress.finish();
        return Err(error);
    }
    let resumed = tokio::spawn({
        let context = context.clone();
        async move { resume_deliveries(&context).await }
    });
    // Its events are kept too, for the event stream of a server on the same database.
    let events = Stored::start(context.store.clone());
    let observer = Both(&progress, &events);
    let outcome = Box::pin(run_product(&context, &run, &observer, interrupted())).await;
    events.finish().await;
    let _ = resumed.await;
    progress.finish();
    let outcome = outcome?;
    let bundle = match &outcome.build.bundle {
        Some(b) => context.store.bundle(&b.repository, &b.digest).await?,
        None => None,
    };
    print(&match args.output.output {
        Output::Json => json(&BuildDocument::from(outcome.build.clone())),
        Output::Text => render::build(&outcome.build, bundle.as_ref()),
    });
    Ok(match outcome.verdict {
        Verdict::Passed | Verdict::Unchanged => exit::SUCCESS,
        Verdict::ProductFailed => exit::TESTS_FAILED,
    })
}

impl Command {
    /// The subcommand's name.
    fn name(&self) -> &'static str {
        self.into()
    }
}

/// What `apply` says of the product it registered.
fn applied(product: &ProductDocument) -> String {
    format!(
        "product `{}` registered (generation {})",
        product.metadata.name,
        product.metadata.generation.unwrap_or_default()
    )
}

async fn run(cli: Cli) -> Result<i32, Error> {
    if let Some(server) = &cli.global.server {
        let token = client::Client::token(cli.global.token_file.as_deref())?;
        let client = client::Client::new(server, token)?;
        return Box::pin(remote::run(&client, cli.command)).await;
    }
    match cli.command {
        Command::Apply { file, output } => {
            let context = context(&cli.global).await?;
            let (name, body) = crate::ops::products::body_of_file(&file)?;
            let local = crate::resources::access::Identity::local();
            let audit = crate::resources::access::AuditEvent::new(
                &local,
                "products.apply",
                format!("products/{name}"),
            );
            let record =
                crate::ops::products::apply_product(&context, &local, &name, &body, audit).await?;
            let product = ProductDocument::of(&record);
            print(&match output.output {
                Output::Json => json(&product),
                Output::Text => applied(&product),
            });
        }
        Command::Run(args) => return Box::pin(run_command(&cli.global, *args)).await,
        Command::Serve(args) => service::serve(&cli.global, &args).await?,
        Command::Tokens { command } => service::tokens(&cli.global, command).await?,
        Command::Audit { command } => service::audit(&cli.global, command).await?,
        Command::Release { command } => release::release(&cli.global, command).await?,
        Command::Clusters { command } => {
            let context = context(&cli.global).await?;
            match command {
                ClustersCommand::List { output } => {
                    let records = context.store.clusters(None).await?;
                    let clusters: Vec<ClusterDocument> =
                        records.into_iter().map(ClusterDocument::from).collect();
                    print(&match output.output {
                        Output::Json => json(&ClusterList::new(clusters, None)),
                        Output::Text => render::clusters(&clusters),
                    });
                }
                ClustersCommand::Reap { output } => {
                    let reaped = reap(&context, &crate::engine::events::Ignore).await?;
                    print(&match output.output {
                        Output::Json => json(&reaped),
                        Output::Text => render::reaped(&reaped),
                    });
                    if !reaped.failed.is_empty() {
                        return Ok(exit::INFRASTRUCTURE);
                    }
                }
            }
        }
        Command::Validate { file } => {
            let product = crate::manifest::load_product(&file)?;
            print(&format!(
                "{}: product `{}` is valid ({} components)",
                file.display(),
                product.name,
                product.components.len()
            ));
        }
        Command::Schema { out } => {
            let written =
                crate::manifest::schema::write_schema(&out).map_err(|source| Error::Io {
                    path: out.clone(),
                    source,
                })?;
            for path in written {
                print(&format!("wrote {}", path.display()));
            }
        }
        Command::Snapshot {
            file,
            concurrency,
            output,
        } => {
            let context = context(&cli.global).await?;
            let progress = Progress::new("resolving", Lines::None);
            let request = SnapshotRequest {
                manifest: file,
                concurrency,
            };
            let lock = snapshot_product(&context, &request, &progress).await;
            progress.finish();
            let lock = lock?;
            print(&match output.output {
                Output::Json => json(&lock),
                Output::Text => render::lock(&lock),
            });
        }
        Command::Bundle {
            file,
            registry,
            concurrency,
            output,
        } => {
            let context = context(&cli.global).await?;
            let progress = Progress::new("resolving", Lines::None);
            let request = BundleRequest {
                manifest: file,
                registry,
                concurrency,
                trigger: "cli".to_owned(),
            };
            let bundled = bundle_product(&context, &request, &progress).await;
            progress.finish();
            let bundled = bundled?;
            print(&match output.output {
                Output::Json => json(&BundleDocument::from(bundled.bundle.clone())),
                Output::Text => render::bundle(&bundled),
            });
        }
        Command::Builds { command } => {
            let context = context(&cli.global).await?;
            match command {
                BuildsCommand::List {
                    product,
                    limit,
                    output,
                } => {
                    let builds = context.store.builds(product.as_deref(), limit).await?;
                    print(&match output.output {
                        Output::Json => json(&BuildList::new(
                            builds.iter().cloned().map(BuildDocument::from).collect(),
                            None,
                        )),
                        Output::Text => render::builds(&builds),
                    });
                }
                BuildsCommand::Show { id, output } => {
                    let build = context
                        .store
                        .build(&id)
                        .await?
                        .ok_or_else(|| Error::NoSuchBuild(id.clone()))?;
                    let bundle = match &build.bundle {
                        Some(b) => context.store.bundle(&b.repository, &b.digest).await?,
                        None => None,
                    };
                    print(&match output.output {
                        Output::Json => json(&BuildDocument::from(build.clone())),
                        Output::Text => render::build(&build, bundle.as_ref()),
                    });
                }
            }
        }
        Command::Report { build, format } => {
            let context = context(&cli.global).await?;
            print(&crate::report::show_report(&context, &build, format).await?);
        }
        Command::Notifications {
            command:
                NotificationsCommand::List {
                    build,
                    limit,
                    output,
                },
        } => {
            let context = context(&cli.global).await?;
            let build_id = match build {
                Some(id) => Some(
                    context
                        .store
                        .build(&id)
                        .await?
                        .ok_or(Error::NoSuchBuild(id))?
                        .id,
                ),
                None => None,
            };
            let deliveries = context.store.deliveries(build_id.as_deref(), limit).await?;
            print(&match output.output {
                Output::Json => json(&DeliveryList::new(
                    deliveries
                        .iter()
                        .cloned()
                        .map(DeliveryDocument::from)
                        .collect(),
                    None,
                )),
                Output::Text => notifications::deliveries(&deliveries),
            });
        }
        Command::Diff { from, to, output } => {
            let context = context(&cli.global).await?;
            let from = crate::diff::find_lock(&context, &from).await?;
            let to = crate::diff::find_lock(&context, &to).await?;
            let diff = crate::diff::diff_with_commits(&context, &from, &to).await;
            print(&match output.output {
                Output::Json => json(&diff),
                Output::Text => render::diff(&diff),
            });
        }
    }
    Ok(exit::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("chorale").chain(line.iter().copied()))
            .unwrap_or_else(|error| panic!("{line:?}: {error}"))
    }

    #[test]
    fn run_arguments_become_the_run_request() {
        let cli = parse(&[
            "--insecure-registry",
            "registry.lan:5000",
            "run",
            "product.yaml",
            "--cluster",
            "existing",
            "--kubeconfig",
            "ci.yaml",
            "--context",
            "ci",
            "--cluster-ttl",
            "90m",
            "--parallelism",
            "2",
            "--deploy-timeout",
            "10m",
            "--registry",
            "127.0.0.1:5000/chorale",
        ]);
        let Command::Run(args) = &cli.command else {
            panic!("not run: {cli:?}")
        };
        let request = run_request(&cli.global, &args.build, args.file.clone(), "cli");
        assert_eq!(request.manifest, PathBuf::from("product.yaml"));
        assert_eq!(request.registry.as_deref(), Some("127.0.0.1:5000/chorale"));
        assert_eq!(request.concurrency, DEFAULT_CONCURRENCY);
        assert_eq!(request.parallelism, 2);
        assert_eq!(request.deploy_timeout, Duration::from_mins(10));
        assert_eq!(request.trigger, "cli");
        let cluster = &request.cluster;
        assert_eq!(cluster.provider, Some(ProviderKind::Existing));
        assert_eq!(cluster.ttl, Duration::from_mins(90));
        assert_eq!(cluster.create_timeout, Duration::from_mins(5));
        assert_eq!(cluster.options.kubeconfig, Some(PathBuf::from("ci.yaml")));
        assert_eq!(cluster.options.context.as_deref(), Some("ci"));
        assert_eq!(cluster.options.insecure_registries, ["registry.lan:5000"]);
    }

    #[test]
    fn run_defaults_are_those_the_docs_give() {
        let cli = parse(&["run", "product.yaml"]);
        let Command::Run(args) = &cli.command else {
            panic!("not run: {cli:?}")
        };
        let request = run_request(&cli.global, &args.build, args.file.clone(), "cli");
        assert_eq!(
            request.cluster.provider, None,
            "the product's spec.cluster decides"
        );
        assert_eq!(request.cluster.ttl, Duration::from_hours(2));
        assert_eq!(request.parallelism, DEFAULT_PARALLELISM);
        assert_eq!(request.deploy_timeout, Duration::from_mins(5));
        assert_eq!(request.registry, None);
    }

    #[test]
    fn bad_durations_and_providers_are_refused_with_a_hint() {
        for (line, expected) in [
            (
                &["run", "p.yaml", "--deploy-timeout", "10"][..],
                "is not a duration; write e.g. 90s, 5m or 2h",
            ),
            (&["run", "p.yaml", "--cluster", "minikube"][..], "minikube"),
        ] {
            let error = Cli::try_parse_from(std::iter::once("chorale").chain(line.iter().copied()))
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{line:?}: {error}");
        }
    }
}
