//! `chorale release list|show|approve|reject`: releases and release managers' decisions,
//! in-process as the local user (admin), or asked of a server (`--server`).

use std::fmt::Write;

use clap::Subcommand;

use super::client::Client;
use super::{Global, Output, OutputArg, context, json, print, render};
use crate::errors::Error;
use crate::ops::releases::{self, ApprovalRequest};
use crate::resources::access::{AuditEvent, Identity};
use crate::resources::release::{Decision, Release, ReleaseDocument, ReleaseList, ReleaseState};
use crate::store::ReleaseFilter;

/// `chorale release …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ReleaseCommand {
    /// Releases, newest first (by when their build became a candidate).
    List {
        /// Only this product's releases.
        #[arg(long)]
        product: Option<String>,
        /// Only releases in this state: candidate, approved, rejected, expired, published.
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
}

/// What an approve or reject asks: the build and the request; `None` for the other commands.
fn approval(command: &ReleaseCommand) -> Option<(&str, ApprovalRequest, Output)> {
    match command {
        ReleaseCommand::Approve {
            build,
            reason,
            overridden,
            output,
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
        ReleaseCommand::List { .. } | ReleaseCommand::Show { .. } => None,
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
        let release = releases::decide(&context, &local, &id, &request, audit).await?;
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
        ReleaseCommand::Approve { .. } | ReleaseCommand::Reject { .. } => {
            unreachable!("decisions are taken above")
        }
    }
    Ok(())
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
