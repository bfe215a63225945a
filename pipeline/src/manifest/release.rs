//! Checking `spec.release`: the approval policy, the version channel, the time zone of daily
//! versions, approvals and their expiry, and where versions are published.

use std::path::Path;
use std::time::Duration;

use chorale_reports::notify::SecretRef;
use chorale_runners::registry::{has_registry_host, has_tag_or_digest, parse_reference};
use jiff::tz::TimeZone;
use serde_saphyr::Location;

use super::document::{GitPublishSpec, GithubPublishSpec, PublishSpec, ReleaseSpec};
use super::{GitTagTarget, GithubTarget, Publish, ReleasePolicy};
use crate::resources::release::ReleaseChannel;

/// How long a candidate may be approved unless the product says.
pub const DEFAULT_APPROVAL_EXPIRES: Duration = Duration::from_hours(72);

/// The GitHub REST API unless the product names another (GitHub Enterprise).
const GITHUB_API: &str = "https://api.github.com";

type Problems = Vec<(Location, String)>;

/// The checked policy of `spec` (for a product file in `base`; `schedule_zone` is the time
/// zone of its schedule, if it has one), and every problem found (where, what).
pub(super) fn check_release(
    base: &Path,
    spec: ReleaseSpec,
    schedule_zone: Option<&TimeZone>,
) -> (Option<ReleasePolicy>, Problems) {
    let mut problems = Vec::new();
    let patch = match (&spec.patch, spec.channel) {
        (None, _) => 0,
        (Some(patch), ReleaseChannel::Prerelease) => patch.value,
        (Some(patch), ReleaseChannel::Daily) => {
            problems.push((
                patch.referenced,
                "spec.release.patch applies to pre-release versions only; set `channel: prerelease` or remove it".to_owned(),
            ));
            0
        }
    };
    let time_zone = match &spec.time_zone {
        None => Some(schedule_zone.cloned().unwrap_or(TimeZone::UTC)),
        Some(name) => crate::scheduler::parse_time_zone(&name.value)
            .map_err(|message| {
                problems.push((name.referenced, format!("spec.release.timeZone: {message}")));
            })
            .ok(),
    };
    let approvals = match &spec.approvals {
        None => 1,
        Some(count) if count.value == 0 => {
            problems.push((
                count.referenced,
                "spec.release.approvals is 0; at least one release manager approves a candidate (write 1 or more)".to_owned(),
            ));
            1
        }
        Some(count) => count.value,
    };
    let approval_expires = match &spec.approval_expires {
        None => Some(DEFAULT_APPROVAL_EXPIRES),
        Some(text) => {
            let parsed = crate::resources::parse_duration(&text.value)
                .ok()
                .filter(|duration| !duration.is_zero());
            if parsed.is_none() {
                problems.push((
                    text.referenced,
                    format!(
                        "spec.release.approvalExpires: `{}` is not a duration longer than zero; write e.g. 72h or 7d",
                        text.value
                    ),
                ));
            }
            parsed
        }
    };
    let publish = spec
        .publish
        .map(|publish| check_publish(base, publish, &mut problems))
        .unwrap_or_default();
    let policy = match (time_zone, approval_expires) {
        (Some(time_zone), Some(approval_expires)) if problems.is_empty() => Some(ReleasePolicy {
            policy: spec.policy,
            channel: spec.channel,
            patch,
            time_zone,
            approvals,
            approval_expires,
            publish,
        }),
        _ => None,
    };
    (policy, problems)
}

fn check_publish(base: &Path, publish: PublishSpec, problems: &mut Problems) -> Publish {
    let registry = publish.registry.and_then(|registry| {
        let text = registry.value.trim();
        let valid = parse_reference(text).is_ok()
            && has_registry_host(text)
            && !has_tag_or_digest(text);
        if !valid {
            problems.push((
                registry.referenced,
                format!(
                    "spec.release.publish.registry `{text}` must be a repository with its registry host and no tag or digest, e.g. registry.example.com/releases"
                ),
            ));
        }
        valid.then(|| text.to_owned())
    });
    Publish {
        registry,
        git: publish.git.and_then(|git| check_git(&git, problems)),
        github: publish
            .github
            .and_then(|github| check_github(base, github, problems)),
    }
}

fn check_git(git: &GitPublishSpec, problems: &mut Problems) -> Option<GitTagTarget> {
    let url = git.repository.value.trim();
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    let parsed = url::Url::parse(url).ok();
    if parsed.as_ref().is_some_and(has_credentials) {
        problems.push((
            git.repository.referenced,
            "spec.release.publish.git.repository has credentials in it; give the URL without them and the token in CHORALE_GIT_TOKEN_<HOST> or CHORALE_GIT_TOKEN (docs/manifests.md)".to_owned(),
        ));
        return None;
    }
    let valid_url =
        matches!(scheme, Some("git" | "http" | "https" | "ssh" | "file")) && parsed.is_some();
    if !valid_url {
        problems.push((
            git.repository.referenced,
            format!(
                "spec.release.publish.git.repository `{url}` is not a git URL; write git://, https://, http://, ssh:// or file://"
            ),
        ));
    }
    let prefix = git.tag_prefix.as_ref().map_or("v", |p| p.value.as_str());
    let valid_prefix = prefix
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
        && !prefix.contains("..")
        && !prefix.starts_with(['-', '.', '/']);
    if !valid_prefix && let Some(spanned) = &git.tag_prefix {
        problems.push((
            spanned.referenced,
            format!(
                "spec.release.publish.git.tagPrefix `{prefix}` cannot start a git tag name; use letters, digits, `-`, `_`, `.` and `/`, e.g. `v` or `release/`"
            ),
        ));
    }
    (valid_url && valid_prefix).then(|| GitTagTarget {
        repository: url.to_owned(),
        tag_prefix: prefix.to_owned(),
    })
}

/// Whether `url` carries a user or a password (which would reach logs and the journal).
fn has_credentials(url: &url::Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

fn check_github(
    base: &Path,
    github: GithubPublishSpec,
    problems: &mut Problems,
) -> Option<GithubTarget> {
    let repository = github.repository.value.trim();
    let part = |text: &str| {
        !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    let valid_repository = repository
        .split_once('/')
        .is_some_and(|(owner, name)| part(owner) && part(name));
    if !valid_repository {
        problems.push((
            github.repository.referenced,
            format!(
                "spec.release.publish.github.repository `{repository}` is not OWNER/NAME, e.g. acme/product"
            ),
        ));
    }
    let api_url = match &github.api_url {
        None => Some(url::Url::parse(GITHUB_API).expect("the GitHub API URL parses")),
        Some(text) => {
            let parsed = url::Url::parse(text.value.trim()).ok();
            if parsed.as_ref().is_some_and(has_credentials) {
                problems.push((
                    text.referenced,
                    "spec.release.publish.github.apiUrl has credentials in it; give the URL without them and the token in `token`".to_owned(),
                ));
                return None;
            }
            let parsed = parsed.filter(|url| {
                let loopback = url
                    .host_str()
                    .is_some_and(|h| h == "localhost" || h.starts_with("127."));
                url.scheme() == "https" || (url.scheme() == "http" && loopback)
            });
            if parsed.is_none() {
                problems.push((
                    text.referenced,
                    format!(
                        "spec.release.publish.github.apiUrl `{}` must be an https:// URL (http:// only to a loopback host), e.g. {GITHUB_API}",
                        text.value
                    ),
                ));
            }
            parsed
        }
    };
    let token = match github.token {
        SecretRef::File(path) if path.is_relative() => SecretRef::File(base.join(path)),
        token => token,
    };
    Some(GithubTarget {
        repository: valid_repository.then(|| repository.to_owned())?,
        api_url: api_url?,
        token,
    })
}
