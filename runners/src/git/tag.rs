//! A release's git tag: an annotated tag put on a commit of a remote, once.
//!
//! Publishing may be resumed after a crash at any point, so putting the tag is idempotent: the
//! remote's tag is read first (after fetching the mirror), a tag already on the commit is left
//! as it is, a tag on another commit is an error (a version's tag never moves), and the push
//! never forces. When the push fails, the remote is read again: someone (or an earlier attempt
//! whose answer was lost) may have put the tag meanwhile.

use std::cell::RefCell;

use git2::{ErrorClass, ObjectType, Oid, PushOptions, Reference, Repository, Signature};

use super::{GitRunner, find_commit, is_commit_id, repo_error, run_blocking};
use crate::errors::GitError;

/// Who signs a release's tag (written into the tag object; the user's git configuration is
/// never read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagger {
    /// The tagger's name, e.g. `Chorale`.
    pub name: String,
    /// The tagger's e-mail, e.g. `chorale@example.com`.
    pub email: String,
}

/// What [`GitRunner::push_annotated_tag`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagPushed {
    /// The tag was created in the remote by this call.
    Created,
    /// The remote already had the tag on that commit; nothing was written.
    AlreadyThere,
}

impl GitRunner {
    /// Put the annotated tag `tag` with `message`, signed by `tagger`, on `commit` (a full
    /// commit id) in the remote `url`.
    ///
    /// The tag name is checked before anything is fetched. The remote is fetched into its
    /// mirror; the commit must be in it ([`GitError::CommitNotInRemote`] otherwise). A tag
    /// already on `commit` gives [`TagPushed::AlreadyThere`]; one on another commit gives
    /// [`GitError::TagElsewhere`] and is left as it is. Otherwise the tag object is made in the
    /// mirror and pushed without force; a rejected update is [`GitError::PushRejected`], unless
    /// reading the remote again shows the tag was put there meanwhile.
    pub async fn push_annotated_tag(
        &self,
        url: &str,
        commit: &str,
        tag: &str,
        message: &str,
        tagger: &Tagger,
    ) -> Result<TagPushed, GitError> {
        let reference = format!("refs/tags/{tag}");
        if !Reference::is_valid_name(&reference) || tag.starts_with('-') {
            return Err(GitError::InvalidTagName {
                tag: tag.to_owned(),
            });
        }
        if !is_commit_id(commit) {
            return Err(GitError::InvalidCommitId {
                commit: commit.to_owned(),
            });
        }
        Signature::now(&tagger.name, &tagger.email).map_err(|e| invalid_tagger(tagger, &e))?;
        let _slot = self
            .fetches
            .acquire()
            .await
            .expect("the fetch semaphore is never closed");
        let this = self.clone();
        let request = TagRequest {
            url: url.to_owned(),
            commit: commit.to_owned(),
            tag: tag.to_owned(),
            reference,
            message: message.to_owned(),
            tagger: tagger.clone(),
        };
        run_blocking(move || {
            let lock = this.lock_for(&request.url);
            let _guard = lock.lock().expect("git lock poisoned");
            this.push_tag_blocking(&request)
        })
        .await
    }

    fn push_tag_blocking(&self, request: &TagRequest) -> Result<TagPushed, GitError> {
        let url = request.url.as_str();
        let repo = self.open_mirror(url)?;
        // The commit and the tag only; the tag missing from the remote is the usual case.
        let wanted = [request.commit.clone(), request.reference.clone()];
        self.fetch_refs(&repo, url, &wanted)?;
        let commit =
            find_commit(&repo, url, &request.commit).map_err(|_| GitError::CommitNotInRemote {
                url: url.to_owned(),
                commit: request.commit.clone(),
            })?;
        if let Some(found) = existing_tag(&repo, request)? {
            return found.judge(request, None);
        }
        let tagger = Signature::now(&request.tagger.name, &request.tagger.email)
            .map_err(|e| invalid_tagger(&request.tagger, &e))?;
        // The tag object only: the mirror's `refs/tags/*` keep mirroring the remote, so a push
        // that fails leaves no tag behind that a later call would take for the remote's.
        let object = repo
            .tag_annotation_create(&request.tag, commit.as_object(), &tagger, &request.message)
            .map_err(|e| repo_error(url, &e))?;
        match self.push_into(&repo, url, object, &request.reference) {
            Ok(()) => {
                repo.reference(&request.reference, object, true, "pushed")
                    .map_err(|e| repo_error(url, &e))?;
                tracing::info!(url, tag = %request.tag, commit = %request.commit, "pushed the tag");
                Ok(TagPushed::Created)
            }
            Err(push_error) => {
                tracing::debug!(url, tag = %request.tag, error = %push_error, "push failed; reading the remote again");
                if self.fetch_refs(&repo, url, &wanted).is_ok()
                    && let Some(found) = existing_tag(&repo, request)?
                {
                    return found.judge(request, Some(object));
                }
                Err(push_error)
            }
        }
    }

    /// Push `object` to `reference` of `url`, without force.
    fn push_into(
        &self,
        repo: &Repository,
        url: &str,
        object: Oid,
        reference: &str,
    ) -> Result<(), GitError> {
        let access = self.access(url);
        let rejections = RefCell::new(Vec::new());
        let mut callbacks = access.callbacks();
        callbacks.push_update_reference(|name, status| {
            if let Some(status) = status {
                rejections.borrow_mut().push(format!("{name}: {status}"));
            }
            Ok(())
        });
        let mut options = PushOptions::new();
        options.remote_callbacks(callbacks);
        let mut remote = repo
            .remote_anonymous(url)
            .map_err(|e| GitError::PushInterrupted {
                url: url.to_owned(),
                reference: reference.to_owned(),
                message: e.message().to_owned(),
            })?;
        let pushed = remote.push(&[format!("{object}:{reference}")], Some(&mut options));
        drop(options);
        if let Err(e) = pushed {
            return Err(access
                .refusal()
                .unwrap_or_else(|| push_error(url, reference, &e)));
        }
        let rejections = rejections.into_inner();
        if rejections.is_empty() {
            Ok(())
        } else {
            Err(GitError::PushRejected {
                url: url.to_owned(),
                reference: reference.to_owned(),
                reason: rejections.join("; "),
            })
        }
    }
}

/// What to tag where, owned for the blocking task.
struct TagRequest {
    url: String,
    commit: String,
    tag: String,
    reference: String,
    message: String,
    tagger: Tagger,
}

/// The remote's tag as the mirror has it after a fetch.
struct ExistingTag {
    /// The object the ref points at (a tag object, or a commit for a lightweight tag).
    target: Oid,
    /// The commit it peels to; `None` when it peels to no commit.
    commit: Option<Oid>,
}

impl ExistingTag {
    /// The answer when the remote has the tag: there already when it is on the commit (or is
    /// the object this call pushed, whose answer was lost), an error when it is elsewhere.
    fn judge(&self, request: &TagRequest, pushed: Option<Oid>) -> Result<TagPushed, GitError> {
        if pushed == Some(self.target) {
            return Ok(TagPushed::Created);
        }
        match self.commit {
            Some(commit) if commit.to_string() == request.commit => Ok(TagPushed::AlreadyThere),
            found => Err(GitError::TagElsewhere {
                url: request.url.clone(),
                tag: request.tag.clone(),
                commit: request.commit.clone(),
                found: found.map_or_else(
                    || format!("{} (not a commit)", self.target),
                    |commit| commit.to_string(),
                ),
            }),
        }
    }
}

fn existing_tag(repo: &Repository, request: &TagRequest) -> Result<Option<ExistingTag>, GitError> {
    let reference = match repo.find_reference(&request.reference) {
        Ok(reference) => reference,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(e) => return Err(repo_error(&request.url, &e)),
    };
    let target = reference
        .resolve()
        .ok()
        .and_then(|r| r.target())
        .ok_or_else(|| GitError::Repository {
            url: request.url.clone(),
            message: format!("{} points at no object", request.reference),
        })?;
    let commit = reference
        .peel(ObjectType::Commit)
        .ok()
        .map(|object| object.id());
    Ok(Some(ExistingTag { target, commit }))
}

/// A failed push: the network's fault (worth another try) or the remote's answer.
fn push_error(url: &str, reference: &str, error: &git2::Error) -> GitError {
    let message = error.message().to_owned();
    let network = matches!(
        error.class(),
        ErrorClass::Net | ErrorClass::Os | ErrorClass::Ssl | ErrorClass::Ssh | ErrorClass::Http
    ) && !message.contains("403");
    if network {
        GitError::PushInterrupted {
            url: url.to_owned(),
            reference: reference.to_owned(),
            message,
        }
    } else {
        GitError::PushRejected {
            url: url.to_owned(),
            reference: reference.to_owned(),
            reason: message,
        }
    }
}

fn invalid_tagger(tagger: &Tagger, error: &git2::Error) -> GitError {
    GitError::InvalidTagger {
        name: tagger.name.clone(),
        email: tagger.email.clone(),
        message: error.message().to_owned(),
    }
}
