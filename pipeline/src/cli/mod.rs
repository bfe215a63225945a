//! The `chorale` command line: argument parsing and one call into the library per subcommand.

mod notifications;
mod render;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chorale_reports::Format;
use chorale_runners::registry::RegistryOptions;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::context::Context;
use crate::errors::{Error, exit};
use crate::pipeline::{
    BundleRequest, DEFAULT_CONCURRENCY, SnapshotRequest, bundle_product, snapshot_product,
};

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
struct Global {
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
struct OutputArg {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Debug, Subcommand)]
enum Command {
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
        Ok(()) => exit::SUCCESS,
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
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHORALE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
fn progress(message: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        None,
        if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {pos}/{len} components [{elapsed}]")
            .expect("a valid template"),
    );
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

async fn context(global: &Global) -> Result<Context, Error> {
    let options = RegistryOptions {
        insecure: global.insecure_registries.clone(),
        ..RegistryOptions::default()
    };
    Ok(Context::open(&global.state_dir, global.database_url.as_deref(), options).await?)
}

fn print(text: &str) {
    println!("{}", text.trim_end());
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).expect("output serialises")
}

async fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
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
            let bar = progress("resolving");
            let request = SnapshotRequest {
                manifest: file,
                concurrency,
            };
            let lock = snapshot_product(&context, &request, &bar).await;
            bar.finish_and_clear();
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
            let bar = progress("resolving");
            let request = BundleRequest {
                manifest: file,
                registry,
                concurrency,
                trigger: "cli".to_owned(),
            };
            let bundled = bundle_product(&context, &request, &bar).await;
            bar.finish_and_clear();
            let bundled = bundled?;
            print(&match output.output {
                Output::Json => json(&bundled.bundle),
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
                        Output::Json => json(&builds),
                        Output::Text => render::builds(&builds),
                    });
                }
                BuildsCommand::Show { id, output } => {
                    let build = context
                        .store
                        .build(&id)
                        .await?
                        .ok_or_else(|| Error::NotFound(id.clone()))?;
                    let bundle = match &build.bundle {
                        Some(b) => context.store.bundle(&b.repository, &b.digest).await?,
                        None => None,
                    };
                    print(&match output.output {
                        Output::Json => {
                            json(&serde_json::json!({"build": build, "bundle": bundle}))
                        }
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
                Output::Json => json(&deliveries),
                Output::Text => notifications::deliveries(&deliveries),
            });
        }
        Command::Diff { from, to, output } => {
            let context = context(&cli.global).await?;
            let from = crate::diff::find_lock(&context, &from).await?;
            let to = crate::diff::find_lock(&context, &to).await?;
            let diff = crate::diff::diff(&from, &to);
            print(&match output.output {
                Output::Json => json(&diff),
                Output::Text => render::diff(&diff),
            });
        }
    }
    Ok(())
}
