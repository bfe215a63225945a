//! The commands that have an API operation, asked of a server (`--server`): the same requests,
//! the same output and exit codes as in-process.

use super::client::Client;
use super::progress::{Lines, Progress};
use super::{
    BuildsCommand, ClustersCommand, Command, NotificationsCommand, Output, json, notifications,
    print, render,
};
use crate::api::documents::ProductDocument;
use crate::diff::LockDiff;
use crate::errors::{Error, exit};
use crate::ops::products::body_of_file;
use crate::resources::build::{Build, BuildDocument, BuildList, Status};
use crate::resources::bundle::{BundleDocument, BundleOutcome};
use crate::resources::cluster::ClusterList;
use crate::resources::delivery::{Delivery, DeliveryList};

/// Run `command` against the server `client` calls.
pub(super) async fn run(client: &Client, command: Command) -> Result<i32, Error> {
    match command {
        Command::Run(args) => {
            // A product file names the registered product; the server builds what is
            // registered (`chorale apply` changes it).
            let name = if args.file.is_file() {
                crate::manifest::load_product(&args.file)?.name
            } else {
                args.file.display().to_string()
            };
            let queued: BuildDocument = client.post(&format!("/products/{name}/builds")).await?;
            let progress = Progress::new("running", Lines::Build);
            let ended = client.follow(&queued.metadata.name, &progress).await;
            progress.finish();
            let build = Build::from(ended?);
            let bundle = bundle_of(client, &build).await?;
            print(&match args.output.output {
                Output::Json => json(&BuildDocument::from(build.clone())),
                Output::Text => render::build(&build, bundle.as_ref()),
            });
            return Ok(match build.status {
                Status::Succeeded | Status::Skipped => exit::SUCCESS,
                Status::Interrupted => exit::INTERRUPTED,
                _ => exit::TESTS_FAILED,
            });
        }
        Command::Apply { file, output } => {
            let (name, body) = body_of_file(&file)?;
            let product: ProductDocument =
                client.put_yaml(&format!("/products/{name}"), body).await?;
            print(&match output.output {
                Output::Json => json(&product),
                Output::Text => super::applied(&product),
            });
        }
        Command::Builds {
            command:
                BuildsCommand::List {
                    product,
                    limit,
                    output,
                },
        } => {
            let query = product.map_or_else(String::new, |p| format!("&product={p}"));
            let list: BuildList = client.get(&format!("/builds?limit={limit}{query}")).await?;
            print(&match output.output {
                Output::Json => json(&list),
                Output::Text => {
                    render::builds(&list.items.into_iter().map(Build::from).collect::<Vec<_>>())
                }
            });
        }
        Command::Builds {
            command: BuildsCommand::Show { id, output },
        } => {
            let document: BuildDocument = client.get(&format!("/builds/{id}")).await?;
            let build = Build::from(document.clone());
            let bundle = bundle_of(client, &build).await?;
            print(&match output.output {
                Output::Json => json(&document),
                Output::Text => render::build(&build, bundle.as_ref()),
            });
        }
        Command::Report { build, format } => {
            print(
                &client
                    .text(&format!("/builds/{build}/report?format={}", format.name()))
                    .await?,
            );
        }
        Command::Diff { from, to, output } => {
            let diff: LockDiff = client.get(&format!("/diff?from={from}&to={to}")).await?;
            print(&match output.output {
                Output::Json => json(&diff),
                Output::Text => render::diff(&diff),
            });
        }
        Command::Notifications {
            command:
                NotificationsCommand::List {
                    build: Some(build),
                    output,
                    ..
                },
        } => {
            let list: DeliveryList = client.get(&format!("/builds/{build}/deliveries")).await?;
            print(&match output.output {
                Output::Json => json(&list),
                Output::Text => notifications::deliveries(
                    &list
                        .items
                        .into_iter()
                        .map(Delivery::from)
                        .collect::<Vec<_>>(),
                ),
            });
        }
        Command::Release { command } => super::release::remote(client, command).await?,
        Command::Clusters {
            command: ClustersCommand::List { output },
        } => {
            let list: ClusterList = client.get("/clusters?limit=500").await?;
            print(&match output.output {
                Output::Json => json(&list),
                Output::Text => render::clusters(&list.items),
            });
        }
        other => {
            return Err(Error::Invalid(format!(
                "`chorale {}` works on the state folder, not through a server: drop --server{}",
                other.name(),
                if matches!(other, Command::Notifications { .. }) {
                    " (or name a build: the server lists one build's notifications)"
                } else {
                    ""
                }
            )));
        }
    }
    Ok(exit::SUCCESS)
}

/// The bundle of `build`, when it has one.
async fn bundle_of(client: &Client, build: &Build) -> Result<Option<BundleOutcome>, Error> {
    if build.bundle.is_none() {
        return Ok(None);
    }
    let document: BundleDocument = client.get(&format!("/builds/{}/bundle", build.id)).await?;
    Ok(Some(document.into()))
}
