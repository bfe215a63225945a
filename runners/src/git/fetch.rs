//! Fetching into a mirror only what is asked: the branches, tags and commits a product names,
//! not every ref of the remote.
//!
//! One connection lists the remote's refs; each name asked is matched there (a branch before a
//! tag of the same name), and only those refs are downloaded, with their full history (the
//! changelog walks it by path). A ref whose commit the mirror already has is set without a
//! download. A ref the remote cannot send fails alone, named. A commit id the mirror lacks
//! is asked for directly (servers that allow it: GitHub, GitLab, `uploadpack.allowAnySHA1InWant`),
//! else every branch and tag is fetched as before.

use std::collections::{BTreeSet, HashMap};

use git2::{AutotagOption, Direction, FetchOptions, Oid, RemoteUpdateFlags, Repository};

use super::{GitRunner, RefHint, is_commit_id};
use crate::errors::GitError;

/// Every tag: the last place to look for a commit the server will not send by id.
const EVERY_TAG: &str = "+refs/tags/*:refs/tags/*";

/// What went wrong for single references of one fetch (not found on the remote, or not sent),
/// by the reference as it was asked; references not in it were fetched.
pub(super) type RefFailures = HashMap<String, GitError>;

impl GitRunner {
    /// Bring `references` (branches, tags, full ref names, 40-hex commit ids) of `url` into its
    /// mirror `repo`. `Err` when the remote cannot be reached or refuses access; a reference
    /// that cannot be had is in the failures returned.
    pub(super) fn fetch_refs(
        &self,
        repo: &Repository,
        url: &str,
        references: &[String],
    ) -> Result<RefFailures, GitError> {
        let asked: BTreeSet<&str> = references.iter().map(String::as_str).collect();
        let (commits, names): (Vec<&str>, Vec<&str>) =
            asked.into_iter().partition(|r| is_commit_id(r));
        let missing = |commits: &[&str]| -> Vec<String> {
            commits
                .iter()
                .filter(|c| {
                    Oid::from_str(c)
                        .and_then(|oid| repo.find_commit(oid))
                        .is_err()
                })
                .map(|c| (*c).to_owned())
                .collect()
        };
        let mut failures = RefFailures::new();
        if names.is_empty() && missing(&commits).is_empty() {
            return Ok(failures);
        }
        let access = self.access(url);
        let unreachable = |e: &git2::Error| {
            access.refusal().unwrap_or_else(|| GitError::Unreachable {
                url: url.to_owned(),
                message: e.message().to_owned(),
            })
        };
        let options = || {
            let mut options = FetchOptions::new();
            options
                .remote_callbacks(access.callbacks())
                .download_tags(AutotagOption::None)
                .update_fetchhead(false);
            options
        };
        let mut remote = repo.remote_anonymous(url).map_err(|e| unreachable(&e))?;
        let mut connection = remote
            .connect_auth(Direction::Fetch, Some(access.callbacks()), None)
            .map_err(|e| unreachable(&e))?;
        let advertised: Vec<(String, Oid)> = connection
            .list()
            .map_err(|e| unreachable(&e))?
            .iter()
            .map(|head| (head.name().to_owned(), head.oid()))
            .collect();
        let hint =
            |asked: &str| RefHint::from_refs(asked, advertised.iter().map(|(n, _)| n.as_str()));
        let odb = repo.odb().map_err(|e| super::repo_error(url, &e))?;

        // Each name, matched on the remote: set when the mirror has its commit, else downloaded.
        let mut specs: Vec<(String, &str)> = Vec::new();
        for name in names {
            let Some((remote_name, oid)) = match_ref(&advertised, name) else {
                // Gone from the remote (or never there): gone from the mirror too.
                for stale in stale_names(name) {
                    if let Ok(mut reference) = repo.find_reference(&stale) {
                        reference.delete().map_err(|e| super::repo_error(url, &e))?;
                    }
                }
                failures.insert(
                    name.to_owned(),
                    GitError::RefNotFound {
                        url: url.to_owned(),
                        reference: name.to_owned(),
                        available: hint(name),
                    },
                );
                continue;
            };
            let local = local_name(remote_name);
            if odb.exists(*oid) {
                repo.reference(&local, *oid, true, "chorale: fetch (known)")
                    .map_err(|e| super::repo_error(url, &e))?;
            } else {
                specs.push((format!("+{remote_name}:{local}"), name));
            }
        }
        if specs.is_empty() {
            drop(connection);
        } else {
            let refspecs: Vec<&str> = specs.iter().map(|(spec, _)| spec.as_str()).collect();
            let remote = connection.remote();
            let fetched = remote
                .download(&refspecs, Some(&mut options()))
                .and_then(|()| {
                    remote.update_tips(
                        None,
                        RemoteUpdateFlags::empty(),
                        AutotagOption::None,
                        Some("chorale: fetch"),
                    )
                });
            drop(connection);
            if let Err(error) = fetched {
                if let Some(refused) = access.refusal() {
                    return Err(refused);
                }
                tracing::debug!(%url, %error, "fetching several refs failed; fetching each alone");
                // Which ref could not be sent: each alone (one ref needs no second try).
                let failed: Vec<(usize, String)> = if specs.len() == 1 {
                    vec![(0, error.message().to_owned())]
                } else {
                    let refspecs: Vec<&str> = specs.iter().map(|(spec, _)| spec.as_str()).collect();
                    each_alone(repo, url, &refspecs, &options)
                };
                for (index, message) in failed {
                    let name = specs[index].1;
                    failures.insert(
                        name.to_owned(),
                        GitError::RefFetch {
                            url: url.to_owned(),
                            reference: name.to_owned(),
                            message,
                        },
                    );
                }
            }
        }

        // Commits still missing (not in the history of the names fetched): by id, else all.
        let lacking = missing(&commits);
        if lacking.is_empty() {
            return Ok(failures);
        }
        let by_id = repo
            .remote_anonymous(url)
            .and_then(|mut r| r.fetch(&lacking, Some(&mut options()), None));
        if let Err(error) = by_id {
            // Every branch, each alone when together they fail (a broken one stays out); then,
            // when still lacking, every tag.
            tracing::debug!(%url, %error, "the remote does not send commits by id; fetching every branch");
            let branches: Vec<String> = advertised
                .iter()
                .filter_map(|(name, _)| name.strip_prefix("refs/heads/"))
                .map(|branch| format!("+refs/heads/{branch}:refs/remotes/origin/{branch}"))
                .collect();
            let branches: Vec<&str> = branches.iter().map(String::as_str).collect();
            let together = repo
                .remote_anonymous(url)
                .and_then(|mut r| r.fetch(&branches, Some(&mut options()), None));
            if together.is_err() {
                if let Some(refused) = access.refusal() {
                    return Err(refused);
                }
                each_alone(repo, url, &branches, &options);
            }
            if !missing(&lacking.iter().map(String::as_str).collect::<Vec<_>>()).is_empty() {
                tracing::debug!(%url, "a commit is on no branch; fetching every tag");
                let tags = repo
                    .remote_anonymous(url)
                    .and_then(|mut r| r.fetch(&[EVERY_TAG], Some(&mut options()), None));
                if let Err(e) = tags {
                    tracing::warn!(%url, error = %e.message(), "cannot fetch the tags of the remote");
                }
            }
        }
        for commit in missing(&lacking.iter().map(String::as_str).collect::<Vec<_>>()) {
            failures.insert(
                commit.clone(),
                GitError::RefNotFound {
                    url: url.to_owned(),
                    available: hint(&commit),
                    reference: commit,
                },
            );
        }
        Ok(failures)
    }
}

/// Fetch each of `refspecs` from `url` alone (a new connection each); the index and message of
/// each that failed.
fn each_alone<'a>(
    repo: &Repository,
    url: &str,
    refspecs: &[&str],
    options: &dyn Fn() -> FetchOptions<'a>,
) -> Vec<(usize, String)> {
    refspecs
        .iter()
        .enumerate()
        .filter_map(|(index, spec)| {
            repo.remote_anonymous(url)
                .and_then(|mut r| r.fetch(&[*spec], Some(&mut options()), None))
                .err()
                .map(|e| (index, e.message().to_owned()))
        })
        .collect()
}

/// The ref of the remote that `asked` names, and its id: a full name as it is, a short name as
/// a branch, else as a tag.
fn match_ref<'a>(advertised: &'a [(String, Oid)], asked: &str) -> Option<&'a (String, Oid)> {
    let candidates = if asked.starts_with("refs/") {
        vec![asked.to_owned()]
    } else {
        vec![format!("refs/heads/{asked}"), format!("refs/tags/{asked}")]
    };
    candidates
        .iter()
        .find_map(|name| advertised.iter().find(|(n, _)| n == name))
}

/// Where the mirror would keep what `asked` names.
fn stale_names(asked: &str) -> Vec<String> {
    if asked.starts_with("refs/") {
        vec![local_name(asked)]
    } else {
        vec![
            format!("refs/remotes/origin/{asked}"),
            format!("refs/tags/{asked}"),
        ]
    }
}

/// Where the mirror keeps the remote's ref `name`: branches under `refs/remotes/origin/`,
/// everything else under its own name.
fn local_name(name: &str) -> String {
    name.strip_prefix("refs/heads/").map_or_else(
        || name.to_owned(),
        |branch| format!("refs/remotes/origin/{branch}"),
    )
}
