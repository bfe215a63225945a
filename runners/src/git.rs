//! Git remotes through libgit2: resolve a ref to a commit, read a folder at a commit, list the
//! commits between two commits, and put a release's annotated tag on a commit
//! ([`GitRunner::push_annotated_tag`]).
//!
//! Every remote is mirrored into a bare repository under the cache folder, so a second snapshot
//! of the same remote only transfers what changed; only the refs asked for are fetched (see
//! [`fetch`]), so thousands of tags or a broken ref elsewhere in the remote cost nothing. `git://`, `file://`, plain paths and
//! `http(s)://` are supported; HTTPS remotes authenticate with a token from the environment
//! (`CHORALE_GIT_TOKEN_<HOST>` or `CHORALE_GIT_TOKEN`), sent as the password of the user
//! `x-access-token` the way GitHub, GitLab and Gitea accept it.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use git2::{ObjectType, Oid, RemoteCallbacks, Repository};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::errors::{GitError, env_host};

mod fetch;
mod hint;
mod tag;

pub use hint::RefHint;
pub use tag::{TagPushed, Tagger};

/// The commit a local work tree is at, and whether it has changes not committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkTree {
    /// The 40-hex commit of its `HEAD`.
    pub commit: String,
    /// Whether files differ from that commit (changed, staged or untracked; ignored files
    /// do not count).
    pub dirty: bool,
}

/// The work tree `path` is in (a file or a folder), at which commit and how clean; `None` when
/// it is in none, or the tree has no commit yet.
pub fn work_tree(path: &Path) -> Option<WorkTree> {
    let repository = Repository::discover(path).ok()?;
    if repository.is_bare() {
        return None;
    }
    let commit = repository
        .head()
        .ok()?
        .peel_to_commit()
        .ok()?
        .id()
        .to_string();
    let mut options = git2::StatusOptions::new();
    options.include_untracked(true).include_ignored(false);
    let dirty = repository
        .statuses(Some(&mut options))
        .map_or(true, |statuses| !statuses.is_empty());
    Some(WorkTree { commit, dirty })
}

/// One file of a folder read from a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    /// Path relative to the folder that was read, with `/` separators.
    pub path: String,
    /// Whether git records the file as executable.
    pub executable: bool,
    /// The file's bytes.
    pub content: Vec<u8>,
}

/// A folder read from a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// The 40-hex id of the folder's git tree: the same content gives the same id, whatever
    /// the commit (a commit elsewhere in the repository leaves it as it was).
    pub tree: String,
    /// The commit time (seconds since the epoch).
    pub commit_time: i64,
    /// The files, sorted by path; empty when the caller said it did not need them
    /// ([`GitRunner::fetch_folders_unless`]).
    pub files: Vec<TreeFile>,
}

/// Commits listed for a path, and how many more there are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitLog {
    /// Newest first, at most the limit asked.
    pub commits: Vec<CommitSummary>,
    /// Commits that touch the path but were not listed (past the limit).
    pub more: usize,
}

/// The most commits [`GitRunner::log`] looks at between two commits: a changelog between two
/// daily builds is rarely more than a few hundred, and a walk this long takes well under a
/// second; past it the commits are not looked at (nor counted).
pub const LOG_WALK_LIMIT: usize = 20_000;

/// A folder to read from a mirror: the ref (or commit id) to resolve and the folder's path in
/// that commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderAt {
    /// A branch, a tag, a full ref name or a 40-hex commit id.
    pub reference: String,
    /// The folder, relative to the repository root.
    pub path: String,
}

/// A commit as a person reads it in a change list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommitSummary {
    /// The full 40-hex commit id.
    pub id: String,
    /// The shortest unambiguous abbreviation of the id in the mirror (at least 7 hex).
    pub short_id: String,
    /// The first line of the message.
    pub subject: String,
    /// The author's name.
    pub author: String,
    /// Seconds since the Unix epoch of the author date.
    pub time: i64,
}

/// How many fetches run at once by default: git daemons and forges accept few connections at
/// a time (`git daemon` queues 5 connections before dropping more, and a dropped connection
/// costs a 1 s retry).
pub const DEFAULT_FETCHES: usize = 4;

/// Git access with a local mirror cache.
#[derive(Debug, Clone)]
pub struct GitRunner {
    cache: PathBuf,
    locks: Arc<Mutex<HashMap<String, Arc<Mutex<()>>>>>,
    tokens: Arc<TokenSource>,
    fetches: Arc<tokio::sync::Semaphore>,
}

/// Where HTTPS tokens come from: the process environment, read once.
#[derive(Default)]
struct TokenSource {
    default: Option<SecretString>,
    per_host: HashMap<String, SecretString>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("default", &self.default.is_some())
            .field("hosts", &self.per_host.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl TokenSource {
    fn from_env() -> Self {
        let mut source = Self::default();
        for (key, value) in std::env::vars() {
            if key == "CHORALE_GIT_TOKEN" {
                source.default = Some(SecretString::from(value));
            } else if let Some(host) = key.strip_prefix("CHORALE_GIT_TOKEN_") {
                source
                    .per_host
                    .insert(host.to_owned(), SecretString::from(value));
            }
        }
        source
    }

    /// The variable that holds the token for `url`'s host (`CHORALE_GIT_TOKEN_<HOST>`, or
    /// the host-less `CHORALE_GIT_TOKEN`), and the token it holds.
    fn for_url(&self, url: &str) -> (String, Option<&SecretString>) {
        let host = url::Url::parse(url).ok().and_then(|u| {
            u.host_str().map(|h| {
                u.port()
                    .map_or_else(|| h.to_owned(), |p| format!("{h}:{p}"))
            })
        });
        let host = env_host(host.as_deref().unwrap_or_default());
        let host_variable = format!("CHORALE_GIT_TOKEN_{host}");
        match (self.per_host.get(&host), &self.default) {
            (Some(token), _) => (host_variable, Some(token)),
            (None, Some(token)) => ("CHORALE_GIT_TOKEN".to_owned(), Some(token)),
            (None, None) => (host_variable, None),
        }
    }
}

impl GitRunner {
    /// A runner whose mirrors live under `cache`, fetching at most `fetches` remotes at once;
    /// tokens are read from the environment now.
    pub fn new(cache: impl Into<PathBuf>, fetches: usize) -> Self {
        Self {
            cache: cache.into(),
            locks: Arc::default(),
            tokens: Arc::new(TokenSource::from_env()),
            fetches: Arc::new(tokio::sync::Semaphore::new(fetches.max(1))),
        }
    }

    /// Fetch the refs of `wanted` into the mirror of `url` (only those: a branch or tag named,
    /// a commit id the mirror lacks), then read `wanted` from it with the mirror opened once
    /// (opening a repository is most of the cost of a small read): for each, the commit its
    /// reference resolves to and the folder at that commit, in the order asked. `Err` when the
    /// remote cannot be reached; a folder that cannot be read, or whose ref the remote does not
    /// have or cannot send, is an `Err` in its place.
    ///
    /// `shared` is a limit the caller shares with other work (a snapshot's registry requests):
    /// a permit of it is held while fetching, taken once this runner has a fetch slot, so that
    /// waiting for a slot holds none.
    pub async fn fetch_folders(
        &self,
        url: &str,
        wanted: Vec<FolderAt>,
        shared: Option<&tokio::sync::Semaphore>,
    ) -> Result<Vec<Result<(String, Folder), GitError>>, GitError> {
        self.fetch_folders_unless(url, wanted, shared, |_| false)
            .await
    }

    /// [`fetch_folders`](Self::fetch_folders), but a folder whose tree id `known` accepts is
    /// not read: its [`Folder::files`] are empty (the caller has what it makes of that tree,
    /// e.g. a packaged chart, and reading large blobs is most of the cost of a warm snapshot).
    pub async fn fetch_folders_unless(
        &self,
        url: &str,
        wanted: Vec<FolderAt>,
        shared: Option<&tokio::sync::Semaphore>,
        known: impl Fn(&str) -> bool + Send + 'static,
    ) -> Result<Vec<Result<(String, Folder), GitError>>, GitError> {
        let _slot = self
            .fetches
            .acquire()
            .await
            .expect("the fetch semaphore is never closed");
        let _shared = match shared {
            Some(limit) => Some(limit.acquire().await.expect("the caller's limit is open")),
            None => None,
        };
        let this = self.clone();
        let url = url.to_owned();
        run_blocking(move || {
            let lock = this.lock_for(&url);
            let _guard = lock.lock().expect("git lock poisoned");
            let repo = this.open_mirror(&url)?;
            let references: Vec<String> = wanted.iter().map(|f| f.reference.clone()).collect();
            let failures = this.fetch_refs(&repo, &url, &references)?;
            Ok(wanted
                .iter()
                .map(|folder| {
                    if let Some(failure) = failures.get(&folder.reference) {
                        return Err(failure.clone());
                    }
                    let commit = resolve_in(&repo, &url, &folder.reference)?;
                    let read = read_folder_in(&repo, &url, &commit, &folder.path, &known)?;
                    Ok((commit, read))
                })
                .collect())
        })
        .await
    }

    /// The commits reachable from `to` but not from `from` that change `path` (a folder or a
    /// file relative to the repository root; every commit when `None` or the root), newest
    /// first: at most `limit` listed, the rest counted. A commit changes the path when the
    /// path's content differs from that of each of its parents (a merge that takes one
    /// side's version unchanged does not count, as in `git log -- PATH`). At most
    /// [`LOG_WALK_LIMIT`] commits are looked at. A commit the mirror lacks (say, the last green
    /// build's, on a branch no longer fetched) is fetched first.
    pub async fn log(
        &self,
        url: &str,
        from: &str,
        to: &str,
        path: Option<&str>,
        limit: usize,
    ) -> Result<CommitLog, GitError> {
        let this = self.clone();
        let (url, from, to) = (url.to_owned(), from.to_owned(), to.to_owned());
        let path = path
            .map(|p| p.trim_matches('/').to_owned())
            .filter(|p| !p.is_empty() && p != ".");
        run_blocking(move || this.log_blocking(&url, &from, &to, path.as_deref(), limit)).await
    }

    fn mirror_path(&self, url: &str) -> PathBuf {
        let digest = Sha256::digest(url.as_bytes());
        self.cache
            .join(format!("{}.git", hex::encode(&digest[..12])))
    }

    fn lock_for(&self, url: &str) -> Arc<Mutex<()>> {
        let mut locks = self.locks.lock().expect("git lock table poisoned");
        locks.entry(url.to_owned()).or_default().clone()
    }

    fn open_mirror(&self, url: &str) -> Result<Repository, GitError> {
        let path = self.mirror_path(url);
        if path.exists() {
            Repository::open_bare(&path)
        } else {
            std::fs::create_dir_all(&self.cache).map_err(|e| GitError::Cache {
                path: self.cache.clone(),
                message: e.to_string(),
            })?;
            Repository::init_bare(&path)
        }
        .map_err(|e| GitError::Cache {
            path,
            message: e.message().to_owned(),
        })
    }

    /// The credentials of one connection to `url`.
    fn access<'r>(&'r self, url: &'r str) -> Access<'r> {
        let (variable, token) = self.tokens.for_url(url);
        Access {
            url,
            variable,
            token,
            asked: Cell::new(false),
            refused: Cell::new(false),
        }
    }

    fn log_blocking(
        &self,
        url: &str,
        from: &str,
        to: &str,
        path: Option<&str>,
        limit: usize,
    ) -> Result<CommitLog, GitError> {
        let repo = self.open_mirror(url)?;
        let missing = |commit: &str| {
            Oid::from_str(commit)
                .and_then(|oid| repo.find_commit(oid))
                .is_err()
        };
        if missing(from) || missing(to) {
            let lock = self.lock_for(url);
            let _guard = lock.lock().expect("git lock poisoned");
            let failures = self.fetch_refs(&repo, url, &[from.to_owned(), to.to_owned()])?;
            if let Some(failure) = failures.get(to).or_else(|| failures.get(from)) {
                return Err(failure.clone());
            }
        }
        let to = find_commit(&repo, url, to)?.id();
        let from = find_commit(&repo, url, from)?.id();
        let mut walk = repo.revwalk().map_err(|e| repo_error(url, &e))?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)
            .and_then(|()| walk.push(to))
            .and_then(|()| walk.hide(from))
            .map_err(|e| repo_error(url, &e))?;
        let mut log = CommitLog::default();
        for oid in walk.take(LOG_WALK_LIMIT) {
            let commit = oid
                .and_then(|oid| repo.find_commit(oid))
                .map_err(|e| repo_error(url, &e))?;
            if let Some(path) = path
                && !changes_path(&commit, path).map_err(|e| repo_error(url, &e))?
            {
                continue;
            }
            if log.commits.len() == limit {
                log.more += 1;
                continue;
            }
            let short_id = commit
                .as_object()
                .short_id()
                .map_err(|e| repo_error(url, &e))?;
            log.commits.push(CommitSummary {
                id: commit.id().to_string(),
                short_id: String::from_utf8_lossy(&short_id).into_owned(),
                subject: String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default())
                    .into_owned(),
                author: String::from_utf8_lossy(commit.author().name_bytes()).into_owned(),
                time: commit.author().when().seconds(),
            });
        }
        Ok(log)
    }
}

/// The id of what is at `path` in `commit` (`None` when nothing is).
fn entry_at(commit: &git2::Commit<'_>, path: &str) -> Result<Option<Oid>, git2::Error> {
    match commit.tree()?.get_path(Path::new(path)) {
        Ok(entry) => Ok(Some(entry.id())),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether `commit` changes what is at `path`: it differs from what each parent has there
/// (a root commit changes it when it has it). Comparing the ids of one entry per parent costs
/// a few tree lookups, not a diff.
fn changes_path(commit: &git2::Commit<'_>, path: &str) -> Result<bool, git2::Error> {
    let here = entry_at(commit, path)?;
    if commit.parent_count() == 0 {
        return Ok(here.is_some());
    }
    for parent in commit.parents() {
        if entry_at(&parent, path)? == here {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The token of one connection to a remote, and what the remote made of it.
///
/// libgit2 asks again each time the server refuses what it was given: a second question
/// means the token was rejected, a first one without a token that one is missing.
struct Access<'r> {
    url: &'r str,
    variable: String,
    token: Option<&'r SecretString>,
    asked: Cell<bool>,
    refused: Cell<bool>,
}

impl Access<'_> {
    /// Callbacks that answer the remote's questions with the token.
    fn callbacks(&self) -> RemoteCallbacks<'_> {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.credentials(|_url, _user, allowed| {
            if !allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT) {
                return Err(git2::Error::from_str(
                    "the remote asks for a credential type other than a token",
                ));
            }
            match self.token {
                Some(token) if !self.asked.replace(true) => {
                    git2::Cred::userpass_plaintext("x-access-token", token.expose_secret())
                }
                _ => {
                    self.refused.set(true);
                    Err(git2::Error::from_str("the remote refused access"))
                }
            }
        });
        callbacks
    }

    /// The error to report when the remote refused access during the connection.
    fn refusal(&self) -> Option<GitError> {
        self.refused.get().then(|| GitError::Unauthorized {
            url: self.url.to_owned(),
            rejected: self.token.is_some(),
            variable: self.variable.clone(),
        })
    }
}

fn find_commit<'r>(
    repo: &'r Repository,
    url: &str,
    commit: &str,
) -> Result<git2::Commit<'r>, GitError> {
    Oid::from_str(commit)
        .and_then(|oid| repo.find_commit(oid))
        .map_err(|_| GitError::RefNotFound {
            url: url.to_owned(),
            reference: commit.to_owned(),
            available: available_refs(repo, commit),
        })
}

/// The hint for `asked` from the branches and tags the mirror of `url` has (when the remote's
/// own list is not at hand).
fn available_refs(repo: &Repository, asked: &str) -> RefHint {
    let names: Vec<String> = repo
        .references()
        .map(|refs| {
            refs.filter_map(Result::ok)
                .filter_map(|r| r.name().ok().map(str::to_owned))
                .map(|n| match n.strip_prefix("refs/remotes/origin/") {
                    Some(branch) => format!("refs/heads/{branch}"),
                    None => n,
                })
                .collect()
        })
        .unwrap_or_default();
    RefHint::from_refs(asked, names.iter().map(String::as_str))
}

fn repo_error(url: &str, error: &git2::Error) -> GitError {
    GitError::Repository {
        url: url.to_owned(),
        message: error.message().to_owned(),
    }
}

/// Whether `text` is a full 40-hex commit id.
fn is_commit_id(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Resolve `reference` (a branch, a tag, a full ref name or a 40-hex commit id) to a commit id
/// in `repo`, the mirror of `url`.
fn resolve_in(repo: &Repository, url: &str, reference: &str) -> Result<String, GitError> {
    if is_commit_id(reference) {
        return find_commit(repo, url, reference).map(|c| c.id().to_string());
    }
    let candidates = [
        format!("refs/remotes/origin/{reference}"),
        format!("refs/tags/{reference}"),
        reference.replacen("refs/heads/", "refs/remotes/origin/", 1),
    ];
    for name in &candidates {
        if let Ok(r) = repo.find_reference(name)
            && let Ok(commit) = r.peel_to_commit()
        {
            return Ok(commit.id().to_string());
        }
    }
    Err(GitError::RefNotFound {
        url: url.to_owned(),
        reference: reference.to_owned(),
        available: available_refs(repo, reference),
    })
}

/// Every file below `path` at `commit` of `repo`, the mirror of `url`; none when `known`
/// accepts the folder's tree id.
fn read_folder_in(
    repo: &Repository,
    url: &str,
    commit: &str,
    path: &str,
    known: &dyn Fn(&str) -> bool,
) -> Result<Folder, GitError> {
    let commit_obj = find_commit(repo, url, commit)?;
    let root = commit_obj.tree().map_err(|e| repo_error(url, &e))?;
    let not_found = || GitError::PathNotFound {
        url: url.to_owned(),
        commit: commit.to_owned(),
        path: path.to_owned(),
    };
    let trimmed = path.trim_matches('/');
    let tree = if trimmed.is_empty() || trimmed == "." {
        root
    } else {
        let entry = root.get_path(Path::new(trimmed)).map_err(|_| not_found())?;
        if entry.kind() != Some(ObjectType::Tree) {
            return Err(not_found());
        }
        repo.find_tree(entry.id())
            .map_err(|e| repo_error(url, &e))?
    };
    let tree_id = tree.id().to_string();
    if known(&tree_id) {
        return Ok(Folder {
            tree: tree_id,
            commit_time: commit_obj.time().seconds(),
            files: Vec::new(),
        });
    }
    let mut files = Vec::new();
    let mut failure = None;
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        let name = String::from_utf8_lossy(entry.name_bytes());
        let rel = format!("{dir}{name}");
        let mode = entry.filemode();
        match entry.kind() {
            Some(ObjectType::Tree) => git2::TreeWalkResult::Ok,
            Some(ObjectType::Blob) if mode != 0o120_000 => {
                match repo.find_blob(entry.id()) {
                    Ok(blob) => files.push(TreeFile {
                        path: rel,
                        executable: mode == 0o100_755,
                        content: blob.content().to_vec(),
                    }),
                    Err(e) => failure = Some(repo_error(url, &e)),
                }
                git2::TreeWalkResult::Ok
            }
            _ => {
                failure = Some(GitError::UnsupportedEntry {
                    url: url.to_owned(),
                    commit: commit.to_owned(),
                    path: format!("{trimmed}/{rel}"),
                    what: if mode == 0o120_000 {
                        "symbolic link"
                    } else {
                        "submodule"
                    },
                });
                git2::TreeWalkResult::Abort
            }
        }
    })
    .or_else(|e| {
        if failure.is_some() {
            Ok(())
        } else {
            Err(repo_error(url, &e))
        }
    })?;
    if let Some(error) = failure {
        return Err(error);
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Folder {
        tree: tree_id,
        commit_time: commit_obj.time().seconds(),
        files,
    })
}

async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, GitError> + Send + 'static,
) -> Result<T, GitError> {
    tokio::task::spawn_blocking(work)
        .await
        .expect("git task panicked")
}

#[cfg(test)]
mod tests {
    use secrecy::{ExposeSecret, SecretString};

    use super::TokenSource;

    fn exposed(found: (String, Option<&SecretString>)) -> (String, Option<String>) {
        (found.0, found.1.map(|t| t.expose_secret().to_owned()))
    }

    #[test]
    fn a_host_token_wins_over_the_default_and_names_its_variable() {
        let mut tokens = TokenSource::default();
        assert_eq!(
            exposed(tokens.for_url("https://git.example.com:8443/a.git")),
            ("CHORALE_GIT_TOKEN_GIT_EXAMPLE_COM_8443".to_owned(), None)
        );
        tokens.default = Some(SecretString::from("default"));
        assert_eq!(
            exposed(tokens.for_url("https://git.example.com:8443/a.git")),
            ("CHORALE_GIT_TOKEN".to_owned(), Some("default".to_owned()))
        );
        tokens.per_host.insert(
            "GIT_EXAMPLE_COM_8443".to_owned(),
            SecretString::from("host"),
        );
        assert_eq!(
            exposed(tokens.for_url("https://git.example.com:8443/a.git")),
            (
                "CHORALE_GIT_TOKEN_GIT_EXAMPLE_COM_8443".to_owned(),
                Some("host".to_owned())
            )
        );
        assert_eq!(
            exposed(tokens.for_url("https://other.example.com/a.git")).1,
            Some("default".to_owned())
        );
    }
}
