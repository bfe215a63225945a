//! What changed between two locks, component by component: the pins that moved ([`diff`]) and,
//! for a chart from git, the commits in between that touch its folder ([`diff_with_commits`]).
//!
//! A component whose repository commit moved but whose chart, images and values did not (a
//! commit elsewhere in a monorepo) did not change: it is not listed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::errors::Error;
use crate::resources::lock::{Lock, LockedComponent, LockedSource};

/// An old and a new value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Change {
    /// Before.
    pub old: String,
    /// After.
    pub new: String,
}

/// Whether a component is new, gone or different.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::Display,
    strum::IntoStaticStr,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ChangeKind {
    /// Only in the new lock.
    Added,
    /// Only in the old lock.
    Removed,
    /// In both, pinned differently.
    Changed,
}

/// How one component differs between two locks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComponentDiff {
    /// The component.
    pub name: String,
    /// `added`, `removed` or `changed`.
    pub kind: ChangeKind,
    /// The git commit, when it moved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<Change>,
    /// The chart `version@digest`, when it moved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chart: Option<Change>,
    /// Images whose digest moved, by reference (`-` for an image added or removed).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, Change>,
    /// The commits after the old commit up to the new one that touch the chart's folder,
    /// newest first, at most 50 (listed by `diff_with_commits`, not by `diff`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<ChangeCommit>,
    /// How many more commits touch the folder than are listed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub commits_omitted: usize,
}

/// One commit of a component's change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeCommit {
    /// The full commit id.
    pub id: String,
    /// The shortest unambiguous abbreviation of the id (at least 7 hex).
    pub short_id: String,
    /// The first line of the message.
    pub subject: String,
    /// The author's name.
    pub author: String,
}

/// Commits listed per component; the rest are counted as omitted.
pub const COMMITS_LISTED: usize = 50;

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if"
)]
fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The differences between two locks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LockDiff {
    /// The old lock id.
    pub from: String,
    /// The new lock id.
    pub to: String,
    /// Components that differ, by name.
    pub components: Vec<ComponentDiff>,
}

/// Compare two locks.
pub fn diff(from: &Lock, to: &Lock) -> LockDiff {
    let old: BTreeMap<&str, &LockedComponent> = from
        .components
        .iter()
        .map(|c| (c.name.as_str(), c))
        .collect();
    let new: BTreeMap<&str, &LockedComponent> =
        to.components.iter().map(|c| (c.name.as_str(), c)).collect();
    let mut names: Vec<&str> = old.keys().chain(new.keys()).copied().collect();
    names.sort_unstable();
    names.dedup();
    let components = names
        .into_iter()
        .filter_map(|name| {
            let (a, b) = (old.get(name).copied(), new.get(name).copied());
            let kind = match (a, b) {
                (None, Some(_)) => ChangeKind::Added,
                (Some(_), None) => ChangeKind::Removed,
                (Some(a), Some(b)) if a == b || same_but_commit(a, b) => return None,
                _ => ChangeKind::Changed,
            };
            let commit_of = |c: Option<&LockedComponent>| {
                c.and_then(|c| c.source.as_ref())
                    .map_or_else(|| "-".to_owned(), |s| s.commit.clone())
            };
            let chart_of = |c: Option<&LockedComponent>| {
                c.map_or_else(
                    || "-".to_owned(),
                    |c| format!("{}@{}", c.chart.version, c.chart.digest),
                )
            };
            let images_of = |c: Option<&LockedComponent>| -> BTreeMap<String, String> {
                c.map(|c| {
                    c.images
                        .iter()
                        .map(|i| (i.reference.clone(), i.digest.clone()))
                        .collect()
                })
                .unwrap_or_default()
            };
            let (old_images, new_images) = (images_of(a), images_of(b));
            let mut images = BTreeMap::new();
            for reference in old_images.keys().chain(new_images.keys()) {
                let old = old_images
                    .get(reference)
                    .cloned()
                    .unwrap_or_else(|| "-".to_owned());
                let new = new_images
                    .get(reference)
                    .cloned()
                    .unwrap_or_else(|| "-".to_owned());
                if old != new {
                    images.insert(reference.clone(), Change { old, new });
                }
            }
            let moved = |old: String, new: String| (old != new).then_some(Change { old, new });
            Some(ComponentDiff {
                name: name.to_owned(),
                kind,
                commit: moved(commit_of(a), commit_of(b)),
                chart: moved(chart_of(a), chart_of(b)),
                images,
                commits: Vec::new(),
                commits_omitted: 0,
            })
        })
        .collect();
    LockDiff {
        from: from.id.clone(),
        to: to.id.clone(),
        components,
    }
}

/// Whether two pins of a component differ only by the repository commit.
fn same_but_commit(a: &LockedComponent, b: &LockedComponent) -> bool {
    let mut a = a.clone();
    if let (Some(source), Some(other)) = (a.source.as_mut(), b.source.as_ref()) {
        source.commit.clone_from(&other.commit);
    }
    &a == b
}

/// [`diff`], with each git component's commits in between that touch its chart folder (from
/// the mirror, fetched when it lacks one of the commits; a remote that cannot be read lists
/// none, and is logged).
pub async fn diff_with_commits(context: &Context, from: &Lock, to: &Lock) -> LockDiff {
    let mut lock_diff = diff(from, to);
    for change in &mut lock_diff.components {
        let old = from.component(&change.name).and_then(|c| c.source.as_ref());
        let new = to.component(&change.name).and_then(|c| c.source.as_ref());
        if let (Some(old), Some(new)) = (old, new)
            && change.commit.is_some()
        {
            (change.commits, change.commits_omitted) = commits_between(context, old, new).await;
        }
    }
    lock_diff
}

/// The commits after `from` up to `to` (in `to`'s repository) that touch `to`'s chart folder,
/// newest first (at most [`COMMITS_LISTED`]), and how many more there are.
async fn commits_between(
    context: &Context,
    from: &LockedSource,
    to: &LockedSource,
) -> (Vec<ChangeCommit>, usize) {
    let git = &context.runners.git;
    let path = Some(to.chart_path.as_str());
    let log = || {
        git.log(
            &to.repository,
            &from.commit,
            &to.commit,
            path,
            COMMITS_LISTED,
        )
    };
    // The log fetches a commit the mirror lacks.
    match log().await {
        Ok(log) => (
            log.commits
                .into_iter()
                .map(|commit| ChangeCommit {
                    id: commit.id,
                    short_id: commit.short_id,
                    subject: commit.subject,
                    author: commit.author,
                })
                .collect(),
            log.more,
        ),
        Err(error) => {
            tracing::warn!(%error, "no commits are listed for a component");
            (Vec::new(), 0)
        }
    }
}

/// Find a lock by file path, build id, or lock id (or a unique prefix of one).
pub async fn find_lock(context: &Context, name: &str) -> Result<Lock, Error> {
    let path = Path::new(name);
    if path.is_file() {
        let text = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        return Lock::from_json(&text)
            .map_err(|message| Error::Invalid(format!("{name}: not a valid lock: {message}")));
    }
    find_stored_lock(context, name).await
}

/// The stored lock `name` names: a build (its lock) or a lock id (or a unique prefix). Never
/// a file: this is what the API looks up.
pub async fn find_stored_lock(context: &Context, name: &str) -> Result<Lock, Error> {
    if let Some(build) = context.store.build(name).await?
        && let Some(lock_id) = &build.lock_id
        && let [lock] = context.store.find_locks(lock_id).await?.as_slice()
    {
        return Ok(lock.clone());
    }
    let prefix = if name.starts_with("sha256:") {
        name.to_owned()
    } else {
        format!("sha256:{name}")
    };
    match context.store.find_locks(&prefix).await?.as_slice() {
        [lock] => Ok(lock.clone()),
        [] => Err(Error::NotFound(name.to_owned())),
        _ => Err(Error::Invalid(format!(
            "`{name}` matches several locks; give more of the id"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::lock::{LockedChart, LockedImage, LockedSource};
    use crate::resources::version_line::VersionLine;

    fn component(name: &str, commit: &str, image: &str) -> LockedComponent {
        LockedComponent {
            name: name.to_owned(),
            source: Some(LockedSource {
                repository: format!("git://h/{name}.git"),
                reference: "main".to_owned(),
                commit: commit.to_owned(),
                chart_path: "chart".to_owned(),
            }),
            chart: LockedChart {
                name: name.to_owned(),
                version: format!("0.1.0+git.{commit}"),
                digest: format!("sha256:{commit}"),
                repository: None,
            },
            images: vec![LockedImage {
                reference: format!("r.io/{name}:main"),
                digest: image.to_owned(),
                values: "image".to_owned(),
            }],
            depends_on: vec![],
            values: serde_json::Map::new(),
        }
    }

    #[test]
    fn lists_moved_commits_digests_and_membership() {
        let line = VersionLine { major: 1, minor: 0 };
        let a = Lock::new(
            "p",
            line,
            vec![
                component("db", "c1", "d1"),
                component("api", "c2", "d2"),
                component("old", "c3", "d3"),
            ],
            None,
        );
        let b = Lock::new(
            "p",
            line,
            vec![
                component("db", "c1", "d1"),
                component("api", "c9", "d8"),
                component("new", "c4", "d4"),
            ],
            None,
        );
        let d = diff(&a, &b);
        let names: Vec<(&str, &str)> = d
            .components
            .iter()
            .map(|c| (c.name.as_str(), c.kind.into()))
            .collect();
        assert_eq!(
            names,
            [("api", "changed"), ("new", "added"), ("old", "removed")]
        );
        let api = &d.components[0];
        assert_eq!(
            api.commit,
            Some(Change {
                old: "c2".into(),
                new: "c9".into()
            })
        );
        assert_eq!(
            api.images["r.io/api:main"],
            Change {
                old: "d2".into(),
                new: "d8".into()
            }
        );
        assert!(diff(&a, &a).components.is_empty());
    }
}
