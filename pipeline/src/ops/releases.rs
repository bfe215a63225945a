//! Releases: a green build of a product with `spec.release` becomes a release candidate (with
//! `policy: auto`, approved and published at once); release managers approve it (as many
//! distinct ones as the policy needs) or reject it; releases are listed and shown. Publishing
//! an approved release is [`super::publish`].

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::access::authorize;
use super::publish::PublishOptions;
use crate::context::Context;
use crate::engine::events::{BuildEvent, Observer};
use crate::errors::Error;
use crate::manifest::{Product, ReleasePolicy};
use crate::notify::Event;
use crate::resources::access::{AuditEvent, Identity, Role};
use crate::resources::build::{Build, Status};
use crate::resources::release::{
    ApprovalPolicy, Decision, Release, ReleaseChannel, ReleaseDecision, ReleaseState,
};
use crate::store::{Decided, PageStart, Proposed, ReleaseFilter, ReleaseKey};

/// The actor of the approvals the `auto` policy gives.
pub const AUTO_APPROVER: &str = "policy:auto";

/// A release manager's decision on a build: `POST /api/v1/builds/{id}/approval`,
/// `chorale release approve|reject BUILD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    /// `approve` or `reject`.
    pub decision: Decision,
    /// Why, in a sentence (stored with the decision).
    pub reason: String,
    /// Approve a build that is not green: the operator's manual accept, recorded as an
    /// override.
    #[serde(default, rename = "override")]
    pub overridden: bool,
}

impl ApprovalRequest {
    /// The audit log's name of the decision: `releases.approve` or `releases.reject`.
    pub fn action(&self) -> &'static str {
        match self.decision {
            Decision::Approve => "releases.approve",
            Decision::Reject => "releases.reject",
        }
    }

    /// Refuse what no build could be decided with: a blank reason, an overriding rejection.
    fn check(&self) -> Result<(), Error> {
        if self.reason.trim().is_empty() {
            return Err(Error::InvalidField {
                field: "reason".to_owned(),
                message: "say why, in a sentence: the reason is stored with the decision"
                    .to_owned(),
            });
        }
        if self.overridden && self.decision == Decision::Reject {
            return Err(Error::InvalidField {
                field: "override".to_owned(),
                message: "only an approval overrides; reject without it".to_owned(),
            });
        }
        Ok(())
    }
}

/// After a build ended: when it is green and its product has a release policy, it becomes a
/// release candidate (and its product's notifiers get `approval-needed`), or with
/// `policy: auto` it is approved at once. Never fails the build: what became of it, or why it is no
/// candidate (its daily version is held by another build), is told to `observer`.
pub async fn propose_green_build(
    context: &Context,
    product: &Product,
    build: &Build,
    observer: &dyn Observer,
) {
    let Some(policy) = &product.release else {
        return;
    };
    if build.status != Status::Succeeded {
        return;
    }
    let message = match propose(context, product, policy, build, true).await {
        Ok(release) if release.state == ReleaseState::Approved => {
            observer.event(&BuildEvent::Release {
                message: format!(
                    "{} approved at once (policy auto); publishing it",
                    release.version
                ),
            });
            let key = ReleaseKey {
                build_id: release.build_id.clone(),
                version: release.version.clone(),
            };
            let publishing =
                super::publish::publish(context, &key, PublishOptions::default(), observer);
            match Box::pin(publishing).await {
                Ok(_) => return,
                Err(error) => format!("not published: {error}"),
            }
        }
        Ok(release) => {
            announce_candidate(context, product, build, observer).await;
            format!(
                "candidate {} awaits {} approval(s) until {}: chorale release approve {} --reason …",
                release.version, release.approvals_needed, release.expires_at, build.id
            )
        }
        Err(error) => {
            tracing::warn!(%error, build = %build.id, "the green build is no release candidate");
            format!("no candidate: {error}")
        }
    };
    observer.event(&BuildEvent::Release { message });
}

/// Tell the product's notifiers that `build` waits for approval.
async fn announce_candidate(
    context: &Context,
    product: &Product,
    build: &Build,
    observer: &dyn Observer,
) {
    let report = match crate::report::build_report(context, build).await {
        Ok(report) => report,
        Err(error) => {
            tracing::warn!(%error, build = %build.id, "approval-needed not sent: no report");
            return;
        }
    };
    for delivery in crate::notify::notify(context, product, &report, Event::ApprovalNeeded).await {
        observer.event(&BuildEvent::Notified {
            notifier: delivery.notifier,
            channel: delivery.channel.as_str().to_owned(),
            event: delivery.event.as_str().to_owned(),
            state: delivery.state.as_str().to_owned(),
            error: delivery.last_error,
        });
    }
}

/// Record the release of `build` (a candidate, or approved at once when `auto_allowed` and
/// the policy is `auto`), or find the one it has. Errors: no bundle; the version is held by
/// another build.
async fn propose(
    context: &Context,
    product: &Product,
    policy: &ReleasePolicy,
    build: &Build,
    auto_allowed: bool,
) -> Result<Release, Error> {
    let (Some(bundle), Some(lock_id)) = (build.bundle.clone(), build.lock_id.clone()) else {
        return Err(Error::Conflict(format!(
            "build {} pushed no bundle; only a build with a bundle can be released",
            build.id
        )));
    };
    let version = match policy.channel {
        ReleaseChannel::Daily => product.daily_version(build.created_at),
        ReleaseChannel::Prerelease => {
            let held: Vec<semver::Version> = (context.store.held_versions(&product.name).await?)
                .iter()
                .filter_map(|v| semver::Version::parse(v).ok())
                .collect();
            crate::versions::next_rc(product.version_line, policy.patch, &held)
        }
    };
    let now = context.store.now().await?;
    let expires_at = SignedDuration::try_from(policy.approval_expires)
        .ok()
        .and_then(|lifetime| now.checked_add(lifetime).ok())
        .unwrap_or(Timestamp::MAX);
    let mut release = Release {
        version: version.to_string(),
        product: product.name.clone(),
        build_id: build.id.clone(),
        bundle,
        lock_id,
        state: ReleaseState::Candidate,
        approvals_needed: policy.approvals,
        created_at: now,
        expires_at,
        decided_at: None,
        decisions: Vec::new(),
        promoted_from: None,
        published_at: None,
        failure: None,
        steps: Vec::new(),
    };
    let mut audit = None;
    if auto_allowed && policy.policy == ApprovalPolicy::Auto {
        let approver = Identity {
            actor: AUTO_APPROVER.to_owned(),
            role: Role::ReleaseManager,
        };
        release.state = ReleaseState::Approved;
        release.decided_at = Some(now);
        release.decisions.push(ReleaseDecision {
            actor: approver.actor.clone(),
            role: approver.role,
            decision: Decision::Approve,
            reason: "spec.release.policy is auto: every green build is approved".to_owned(),
            overridden: false,
            at: now,
        });
        audit = Some(AuditEvent::new(
            &approver,
            "releases.approve",
            format!("builds/{}/approval", build.id),
        ));
    }
    match context
        .store
        .propose_release(&release, audit.as_ref())
        .await?
    {
        Proposed::Recorded => Ok(release),
        Proposed::Taken(held) if held.build_id == build.id => Ok(*held),
        Proposed::Taken(held) => Err(Error::Conflict(format!(
            "version {} of {} is held by build {} ({}); a version is released once — approve that build, or cut release candidates with `channel: prerelease` in spec.release (docs/manifests.md)",
            held.version, held.product, held.build_id, held.state
        ))),
    }
}

/// Why `release` cannot be decided on at `now`, if it cannot: it is no candidate any more, or
/// its time ran out.
fn refusal(release: &Release, now: Timestamp) -> Option<Error> {
    let what = format!(
        "release {} of {} (build {})",
        release.version, release.product, release.build_id
    );
    let decided_by = || {
        release
            .decisions
            .iter()
            .map(|d| format!("{} ({}: {})", d.actor, d.decision, d.reason))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let message = match release.state {
        ReleaseState::Candidate if now < release.expires_at => return None,
        ReleaseState::Candidate | ReleaseState::Expired => format!(
            "{what} expired at {}: nobody approved it within spec.release.approvalExpires",
            release.expires_at
        ),
        ReleaseState::Approved => format!("{what} is approved already, by {}", decided_by()),
        ReleaseState::Rejected => format!("{what} was rejected, by {}", decided_by()),
        ReleaseState::Publishing => format!("{what} is approved and being published"),
        ReleaseState::PublishFailed => format!(
            "{what} is approved; publishing it failed (`chorale release publish {} {} --resume` continues)",
            release.product, release.version
        ),
        ReleaseState::Published => format!("{what} is published already"),
    };
    Some(Error::Conflict(message))
}

/// Approve or reject the build `build_id` as `identity` (a release manager or above), with
/// `audit` written alongside the decision. A build that is not green is approved only with
/// `override`, and then becomes a candidate first. Refused with the reason: a build that has
/// not ended, a product without `spec.release`, a release that is no candidate (approved,
/// rejected, expired, published) or is superseded by a newer one, a second decision by the
/// same person.
pub async fn decide(
    context: &Context,
    identity: &Identity,
    build_id: &str,
    request: &ApprovalRequest,
    audit: AuditEvent,
) -> Result<Release, Error> {
    authorize(identity, Role::ReleaseManager)?;
    request.check()?;
    let build = (context.store.build(build_id).await?)
        .filter(|b| b.id == build_id)
        .ok_or_else(|| Error::NoSuchBuild(build_id.to_owned()))?;
    if !build.status.is_final() {
        return Err(Error::Conflict(format!(
            "build {} is {}; a build is decided on once it has ended",
            build.id, build.status
        )));
    }
    let green = build.status == Status::Succeeded;
    if request.decision == Decision::Approve && green == request.overridden {
        return Err(if green {
            Error::InvalidField {
                field: "override".to_owned(),
                message: format!("build {} is green; approve it without override", build.id),
            }
        } else {
            Error::Conflict(format!(
                "build {} is {}, not green: approving it needs an override (--override, `\"override\": true`) with a reason, recorded as such",
                build.id, build.status
            ))
        });
    }
    let release = if let Some(release) = context.store.release_of_build(&build.id).await? {
        release
    } else {
        // Not a candidate yet: a red build being overridden (or a green one whose candidate
        // was not made, its process having died as it ended).
        let product = super::builds::product_of_build(context, &build.id).await?;
        let policy = product.release.as_ref().ok_or_else(|| {
            Error::Conflict(format!(
                "product {} has no spec.release: its builds are not released",
                product.name
            ))
        })?;
        if request.decision == Decision::Reject {
            return Err(Error::Conflict(format!(
                "build {} is no release candidate: there is nothing to reject",
                build.id
            )));
        }
        propose(context, &product, policy, &build, false).await?
    };
    let now = context.store.now().await?;
    if let Some(refused) = refusal(&release, now) {
        return Err(refused);
    }
    if let Some(newer) = context.store.newer_release(&release).await? {
        return Err(Error::Conflict(format!(
            "release {} of {} (build {}) is superseded by {} (build {}); decide on the newer one",
            release.version, release.product, release.build_id, newer.version, newer.build_id
        )));
    }
    let decision = ReleaseDecision {
        actor: identity.actor.clone(),
        role: identity.role,
        decision: request.decision,
        reason: request.reason.trim().to_owned(),
        overridden: request.overridden,
        at: now,
    };
    let decided = context
        .store
        .decide_release(&build.id, &decision, &audit)
        .await?;
    let release = (context.store.release_of_build(&build.id).await?)
        .ok_or_else(|| Error::NoSuchBuild(build.id.clone()))?;
    match decided {
        Decided::Recorded => Ok(release),
        Decided::NotCandidate => Err(refusal(&release, Timestamp::now()).unwrap_or_else(|| {
            Error::Conflict(format!("release {} changed meanwhile", release.version))
        })),
        Decided::Duplicate => Err(Error::Conflict(format!(
            "{} decided on release {} already; approvals need distinct people",
            identity.actor, release.version
        ))),
    }
}

/// A page of releases, highest version first (semver precedence), as `identity` (any
/// role); `start` is where the page begins.
pub async fn list_releases(
    context: &Context,
    identity: &Identity,
    filter: &ReleaseFilter,
    limit: u32,
    start: Option<&PageStart>,
) -> Result<Vec<Release>, Error> {
    authorize(identity, Role::Viewer)?;
    Ok(context.store.release_page(filter, limit, start).await?)
}

/// The release of `product` with `version` (the one holding it, else the newest), as
/// `identity` (any role).
pub async fn get_release(
    context: &Context,
    identity: &Identity,
    product: &str,
    version: &str,
) -> Result<Release, Error> {
    authorize(identity, Role::Viewer)?;
    context.store.expire_releases(Some(product)).await?;
    (context.store.release(product, version).await?).ok_or_else(|| Error::NoSuch {
        kind: "release",
        name: format!("{product} {version}"),
        hint: "`chorale release list` shows the releases",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_needs_a_reason_and_only_approvals_override() {
        let request = |decision, reason: &str, overridden| ApprovalRequest {
            decision,
            reason: reason.to_owned(),
            overridden,
        };
        let field = |request: ApprovalRequest| match request.check() {
            Err(Error::InvalidField { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(request(Decision::Approve, "  ", false)), "reason");
        assert_eq!(field(request(Decision::Reject, "no", true)), "override");
        assert!(
            request(Decision::Approve, "red, but known", true)
                .check()
                .is_ok()
        );
        assert_eq!(
            request(Decision::Reject, "no", false).action(),
            "releases.reject"
        );
    }
}
