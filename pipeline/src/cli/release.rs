//! `chorale release list|show|approve|reject|publish|promote|notes`: releases, release
//! managers' decisions and publishing, in-process as the local user (admin), or asked of a
//! server (`--server`). In-process, an approval that approves a release publishes it at once,
//! as `promote` does; a server publishes in the background.

use std::fmt::Write;

use clap::Subcommand;

use super::client::Client;
use super::progress::{Lines, Progress};
use super::{Global, Output, OutputArg, context, json, print, render};
use crate::errors::Error;
use crate::ops::publish::{self, PublishOptions};
use crate::ops::releases::{self, ApprovalRequest};
use crate::resources::access::{AuditEvent, Identity};
use crate::resources::release::{Decision, Release, ReleaseDocument, ReleaseList, ReleaseState};
use crate::store::{ReleaseFilter, ReleaseKey};

/// `chorale release …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ReleaseCommand {
    /// Releases, highest version first (semver precedence).
    List {
        /// Only this product's releases.
        #[arg(long)]
        product: Option<String>,
        /// Only releases in this state: candidate, approved, rejected, expired, publishing,
        /// publish-failed, published.
        #[arg(long)]
        state: Option<ReleaseState>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        output: OutputArg,
    },
    /// One release with every decision taken on it.
    Show {
        /// The version, e.g. 1.0.20261204 or 2.1.0-rc.3.
        version: String,
        /// Its product.
        #[arg(long)]
        product: String,
        #[command(flatten)]
        output: OutputArg,
    },
    /// Approve a build as a release (release managers); it is approved once as many distinct
    /// people approved it as the product's `spec.release.approvals`.
    Approve {
        /// The build id (or a unique prefix in-process).
        build: String,
        /// Why, in a sentence (stored with the decision).
        #[arg(long)]
        reason: String,
        /// Approve a build that is not green: the operator's manual accept, recorded as an
        /// override.
        #[arg(long = "override")]
        overridden: bool,
        /// In-process, an approval that approves the release publishes it at once: how long
        /// this process's claim on it lasts unless renewed.
        #[arg(long, default_value = "30s", value_parser = super::parse_lease)]
        lease: std::time::Duration,
        #[command(flatten)]
        output: OutputArg,
    },
    /// Reject a build's release candidate (release managers).
    Reject {
        /// The build id (or a unique prefix in-process).
        build: String,
        /// Why, in a sentence (stored with the decision).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        output: OutputArg,
    },
    /// Publish an approved release (registry tags, git tag, GitHub release, `released`
    /// notification); with --resume, continue one that failed or whose process died, from
    /// the step that did not finish.
    Publish {
        #[command(flatten)]
        release: PublishArgs,
        /// Continue a `publish-failed` release from the step that failed.
        #[arg(long)]
        resume: bool,
    },
    /// Publish the final version of a published release candidate (`2.1.0-rc.3` → `2.1.0`)
    /// on the same bundle digest, without building anything (release managers).
    Promote {
        #[command(flatten)]
        release: PublishArgs,
    },
    /// Print a release's notes (Markdown): what its GitHub release says.
    Notes {
        /// The version.
        version: String,
        /// Its product.
        #[arg(long)]
        product: String,
    },
}

/// Where a publishing command's release is, and how it publishes.
#[derive(Debug, clap::Args)]
pub(crate) struct PublishArgs {
    /// The version, e.g. 1.0.20261204 or 2.1.0-rc.3.
    version: String,
    /// Its product.
    #[arg(long)]
    product: String,
    /// How long this process's claim on the release lasts unless renewed (it renews it every
    /// third); another process takes over a release whose claim ran out.
    #[arg(long, default_value = "30s", value_parser = super::parse_lease)]
    lease: std::time::Duration,
    #[command(flatten)]
    output: OutputArg,
}

impl PublishArgs {
    /// The audit log's name of the release.
    fn resource(&self) -> String {
        format!("releases/{}?product={}", self.version, self.product)
    }

    fn options(&self, resume_failed: bool) -> PublishOptions {
        PublishOptions {
            lease: self.lease,
            resume_failed,
        }
    }
}

/// What an approve or reject asks: the build and the request; `None` for the other commands.
fn approval(command: &ReleaseCommand) -> Option<(&str, ApprovalRequest, Output)> {
    match command {
        ReleaseCommand::Approve {
            build,
            reason,
            overridden,
            output,
            ..
        } => Some((
            build.as_str(),
            ApprovalRequest {
                decision: Decision::Approve,
                reason: reason.clone(),
                overridden: *overridden,
            },
            output.output,
        )),
        ReleaseCommand::Reject {
            build,
            reason,
            output,
        } => Some((
            build.as_str(),
            ApprovalRequest {
                decision: Decision::Reject,
                reason: reason.clone(),
                overridden: false,
            },
            output.output,
        )),
        ReleaseCommand::List { .. }
        | ReleaseCommand::Show { .. }
        | ReleaseCommand::Publish { .. }
        | ReleaseCommand::Promote { .. }
        | ReleaseCommand::Notes { .. } => None,
    }
}

fn print_release(release: Release, output: Output) {
    print(&match output {
        Output::Json => json(&ReleaseDocument::from(release)),
        Output::Text => render::release(&release),
    });
}

fn print_releases(releases: Vec<Release>, output: Output) {
    print(&match output {
        Output::Json => json(&ReleaseList::new(
            releases.into_iter().map(ReleaseDocument::from).collect(),
            None,
        )),
        Output::Text => render::releases(&releases),
    });
}

/// Run `command` on the state folder, as the local user.
pub(super) async fn release(global: &Global, command: ReleaseCommand) -> Result<(), Error> {
    let context = context(global).await?;
    let local = Identity::local();
    if let Some((build, request, output)) = approval(&command) {
        let id = (context.store.build(build).await?)
            .ok_or_else(|| Error::NoSuchBuild(build.to_owned()))?
            .id;
        let audit = AuditEvent::new(&local, request.action(), format!("builds/{id}/approval"));
        let mut release = releases::decide(&context, &local, &id, &request, audit).await?;
        if release.state == ReleaseState::Approved {
            let key = ReleaseKey {
                build_id: release.build_id.clone(),
                version: release.version.clone(),
            };
            let lease = match command {
                ReleaseCommand::Approve { lease, .. } => lease,
                _ => PublishOptions::default().lease,
            };
            let options = PublishOptions {
                lease,
                resume_failed: false,
            };
            release = published(&context, &key, options).await?;
        }
        print_release(release, output);
        return Ok(());
    }
    match command {
        ReleaseCommand::List {
            product,
            state,
            limit,
            output,
        } => {
            let filter = ReleaseFilter { product, state };
            let list = releases::list_releases(&context, &local, &filter, limit, None).await?;
            print_releases(list, output.output);
        }
        ReleaseCommand::Show {
            version,
            product,
            output,
        } => {
            let release = releases::get_release(&context, &local, &product, &version).await?;
            print_release(release, output.output);
        }
        ReleaseCommand::Publish { release, resume } => {
            let progress = Progress::new("publishing", Lines::Build);
            let audit = AuditEvent::new(&local, "releases.publish", release.resource());
            let published = publish::publish_version(
                &context,
                &local,
                &release.product,
                &release.version,
                release.options(resume),
                &progress,
                &audit,
            )
            .await;
            progress.finish();
            print_release(published?, release.output.output);
        }
        ReleaseCommand::Promote { release } => {
            let progress = Progress::new("promoting", Lines::Build);
            let audit = AuditEvent::new(&local, "releases.promote", release.resource());
            let promoted = publish::promote(
                &context,
                &local,
                &release.product,
                &release.version,
                release.options(false),
                &progress,
                &audit,
            )
            .await;
            progress.finish();
            print_release(promoted?, release.output.output);
        }
        ReleaseCommand::Notes { version, product } => {
            let release = releases::get_release(&context, &local, &product, &version).await?;
            let build = (context.store.build(&release.build_id).await?)
                .ok_or_else(|| Error::NoSuchBuild(release.build_id.clone()))?;
            let product = crate::ops::builds::product_of_build(&context, &build.id).await?;
            print(&publish::release_notes(&context, &product, &release, &build).await?);
        }
        ReleaseCommand::Approve { .. } | ReleaseCommand::Reject { .. } => {
            unreachable!("decisions are taken above")
        }
    }
    Ok(())
}

/// Publish `key` in-process, drawing each step on stderr.
async fn published(
    context: &crate::context::Context,
    key: &ReleaseKey,
    options: PublishOptions,
) -> Result<Release, Error> {
    let progress = Progress::new("publishing", Lines::Build);
    let published = publish::publish(context, key, options, &progress).await;
    progress.finish();
    published
}

/// Run `command` against the server `client` calls.
pub(super) async fn remote(client: &Client, command: ReleaseCommand) -> Result<(), Error> {
    if let Some((build, request, output)) = approval(&command) {
        let document: ReleaseDocument = client
            .post_json(&format!("/builds/{build}/approval"), &request)
            .await?;
        print_release(document.into(), output);
        return Ok(());
    }
    match command {
        ReleaseCommand::List {
            product,
            state,
            limit,
            output,
        } => {
            let mut path = format!("/releases?limit={limit}");
            if let Some(product) = product {
                let _ = write!(path, "&product={product}");
            }
            if let Some(state) = state {
                let _ = write!(path, "&state={state}");
            }
            let list: ReleaseList = client.get(&path).await?;
            print_releases(
                list.items.into_iter().map(Release::from).collect(),
                output.output,
            );
        }
        ReleaseCommand::Show {
            version,
            product,
            output,
        } => {
            let document: ReleaseDocument = client
                .get(&format!("/releases/{version}?product={product}"))
                .await?;
            print_release(document.into(), output.output);
        }
        ReleaseCommand::Publish { release, resume } => {
            let document: ReleaseDocument = client
                .post_json(
                    &format!(
                        "/releases/{}/publication?product={}",
                        release.version, release.product
                    ),
                    &serde_json::json!({ "resume": resume }),
                )
                .await?;
            print_release(document.into(), release.output.output);
        }
        ReleaseCommand::Promote { release } => {
            let document: ReleaseDocument = client
                .post(&format!(
                    "/releases/{}/promotion?product={}",
                    release.version, release.product
                ))
                .await?;
            print_release(document.into(), release.output.output);
        }
        ReleaseCommand::Notes { version, product } => {
            print(
                &client
                    .text(&format!("/releases/{version}/notes?product={product}"))
                    .await?,
            );
        }
        ReleaseCommand::Approve { .. } | ReleaseCommand::Reject { .. } => {
            unreachable!("decisions are taken above")
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn command(line: &[&str]) -> ReleaseCommand {
        let cli = Cli::try_parse_from(line.iter().copied()).unwrap();
        let Command::Release { command } = cli.command else {
            panic!("{line:?} is a release command")
        };
        command
    }

    #[test]
    fn approve_and_reject_become_the_approval_request() {
        let approve = command(&[
            "chorale",
            "release",
            "approve",
            "20261204-023000-ab12",
            "--reason",
            "known flake",
            "--override",
            "-o",
            "json",
        ]);
        let (build, request, output) = approval(&approve).unwrap();
        assert_eq!(build, "20261204-023000-ab12");
        assert_eq!(
            request,
            ApprovalRequest {
                decision: Decision::Approve,
                reason: "known flake".to_owned(),
                overridden: true,
            }
        );
        assert_eq!(output, Output::Json);
        let reject = command(&["chorale", "release", "reject", "2026", "--reason", "no"]);
        let (_, request, output) = approval(&reject).unwrap();
        assert_eq!(request.decision, Decision::Reject);
        assert!(!request.overridden);
        assert_eq!(output, Output::Text);
        assert!(approval(&command(&["chorale", "release", "list"])).is_none());
        assert!(
            Cli::try_parse_from(["chorale", "release", "approve", "x"]).is_err(),
            "a decision needs its reason"
        );
        assert!(Cli::try_parse_from(["chorale", "release", "list", "--state", "gone"]).is_err());
    }
}
