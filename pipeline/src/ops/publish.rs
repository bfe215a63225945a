//! Publishing an approved release, once, resumably. Publishing is a journal of steps run in
//! order — the registry tags, the git tag, the GitHub release, the `released` notification —
//! each recorded before it runs and after it ends, each idempotent (it looks before it writes
//! and finds its own earlier work done). A process claims the release with a lease on the
//! database's clock and renews it while it works; when it dies, the next process (the
//! service's housekeeping, or `chorale release publish --resume`) claims the release once the
//! lease ran out and goes on from the first step not done. A step that fails for good (after
//! its own retries of transient errors) marks the release `publish-failed` at that step and
//! nothing later is done; `--resume` continues after the cause is fixed.
//!
//! Promotion publishes the final `X.Y.Z` of a published `X.Y.Z-rc.N` on the same bundle
//! digest, as a second release of the same build.

use std::fmt::Write as _;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable as _};
use bytes::Bytes;
use chorale_reports::{ApprovalFact, ReleaseFacts};
use chorale_runners::git::Tagger;
use chorale_runners::github::{Asset, GithubOptions, GithubRepo, NewRelease, ensure_release};
use chorale_runners::registry::{Copied, RegistryClient, TagState, copy_to_tag, tag_state};
use futures::{StreamExt as _, TryStreamExt as _};
use strum::VariantArray as _;

use super::access::authorize;
use crate::context::Context;
use crate::engine::events::{BuildEvent, Observer};
use crate::errors::Error;
use crate::manifest::{GitTagTarget, GithubTarget, Product, ReleasePolicy};
use crate::notify::Event;
use crate::resources::access::{AuditEvent, Identity, Role};
use crate::resources::build::Build;
use crate::resources::bundle::PushedChart;
use crate::resources::release::{Decision, PublishStep, Release, ReleaseState, StepState};
use crate::store::{Claim, Proposed, ReleaseKey};

/// How long a publishing process's claim on a release lasts unless it renews it.
pub const DEFAULT_PUBLISH_LEASE: Duration = Duration::from_secs(30);

/// The shortest lease a publishing process may take.
pub const MIN_PUBLISH_LEASE: Duration = Duration::from_secs(3);

/// Who the git tags of releases are by.
const TAGGER_NAME: &str = "Chorale";
const TAGGER_EMAIL: &str = "chorale@localhost";

/// How many times a git tag push that failed on the network is tried again.
const GIT_RETRIES: usize = 2;

/// The name of the lock asset of a GitHub release.
const LOCK_ASSET: &str = "chorale-lock.json";

/// How a process publishes.
#[derive(Debug, Clone, Copy)]
pub struct PublishOptions {
    /// How long its claim on a release lasts without renewal (renewed every third of it).
    pub lease: Duration,
    /// Take on a `publish-failed` release too (`--resume`), from the step that failed.
    pub resume_failed: bool,
}

impl Default for PublishOptions {
    fn default() -> Self {
        Self {
            lease: DEFAULT_PUBLISH_LEASE,
            resume_failed: false,
        }
    }
}

/// What a step did, for the journal.
enum Outcome {
    /// It did (or found done) this.
    Done(String),
    /// It had nothing to do, for this reason.
    Skipped(String),
}

/// Publish the release `key` (approved, or publishing by a process that died; with
/// `resume_failed`, `publish-failed` too), telling `observer` what each step did. Returns the
/// release as it ended. Refused when it is not approved, published already, or being published
/// by a live process.
pub async fn publish(
    context: &Context,
    key: &ReleaseKey,
    options: PublishOptions,
    observer: &dyn Observer,
) -> Result<Release, Error> {
    publish_audited(context, key, options, observer, None).await
}

/// [`publish`], writing `audit` (who asked) once the release is claimed: a refused request
/// leaves no trace of having published.
async fn publish_audited(
    context: &Context,
    key: &ReleaseKey,
    options: PublishOptions,
    observer: &dyn Observer,
    audit: Option<&AuditEvent>,
) -> Result<Release, Error> {
    let lease = options.lease.max(MIN_PUBLISH_LEASE);
    let Some(claim) = context
        .store
        .claim_publication(key, lease, options.resume_failed)
        .await?
    else {
        return Err(not_claimed(
            &load(context, key).await?,
            options.resume_failed,
        ));
    };
    if let Some(audit) = audit {
        context.store.record_audit(audit).await?;
    }
    let release = load(context, key).await?;
    let lost = || {
        Error::Conflict(format!(
            "release {} of {} was taken over by another process while this one published it (this one's lease ran out)",
            release.version, release.product
        ))
    };
    let fail = async |step: PublishStep, message: String| -> Error {
        if let Err(error) = context.store.fail_publication(&claim, step, &message).await {
            tracing::error!(%error, "cannot record that publishing failed");
        }
        Error::Publish {
            product: release.product.clone(),
            version: release.version.clone(),
            step,
            message,
        }
    };
    let made_of = async {
        let build = (context.store.build(&key.build_id).await?)
            .ok_or_else(|| Error::NoSuchBuild(key.build_id.clone()))?;
        let product = super::builds::product_of_build(context, &key.build_id).await?;
        Ok::<_, Error>((build, product))
    };
    let to_do: Vec<PublishStep> = (PublishStep::VARIANTS.iter().copied())
        .filter(|step| !finished(&release, *step))
        .collect();
    if let Some(&first) = to_do.first() {
        let (build, product) = match made_of.await {
            Ok(found) => found,
            Err(error) => {
                let message = format!("cannot read what the build was made from: {error}");
                return Err(fail(first, message).await);
            }
        };
        let Some(policy) = product.release.clone() else {
            let message = format!("product {} has no spec.release any more", product.name);
            return Err(fail(first, message).await);
        };
        let work = Work {
            context,
            release: &release,
            build: &build,
            product: &product,
            policy: &policy,
        };
        for step in to_do {
            if !context.store.start_step(&claim, step).await? {
                return Err(lost());
            }
            let outcome = tokio::select! {
                outcome = work.run(step) => outcome,
                () = hold(context, &claim, lease) => return Err(lost()),
            };
            let (state, detail) = match outcome {
                Ok(Outcome::Done(detail)) => (StepState::Done, detail),
                Ok(Outcome::Skipped(why)) => (StepState::Skipped, why),
                Err(message) => return Err(fail(step, message).await),
            };
            if !(context
                .store
                .finish_step(&claim, step, state, &detail)
                .await?)
            {
                return Err(lost());
            }
            if state == StepState::Done {
                observer.event(&BuildEvent::Release {
                    message: format!("{} {step}: {detail}", release.version),
                });
            }
        }
    }
    if !context.store.finish_publication(&claim).await? {
        return Err(lost());
    }
    let published = load(context, key).await?;
    rewrite_report(context, &key.build_id).await;
    observer.event(&BuildEvent::Release {
        message: format!("{} {} published", published.product, published.version),
    });
    Ok(published)
}

/// Write the report of build `id` again (kept on this host), so that it names the version
/// the build was released as; a failure is logged.
async fn rewrite_report(context: &Context, id: &str) {
    let rewritten = async {
        let product = super::builds::product_of_build(context, id).await?;
        if let Some(build) = context.store.build(id).await? {
            crate::report::write_report(context, &product, &build).await?;
        }
        Ok::<_, Error>(())
    };
    if let Err(error) = rewritten.await {
        tracing::warn!(%error, build = id, "the build's report was not rewritten");
    }
}

/// Whether `step` of `release` is done (or skipped) in its journal.
fn finished(release: &Release, step: PublishStep) -> bool {
    release
        .steps
        .iter()
        .any(|record| record.step == step && record.state.is_finished())
}

/// Renew `claim` every third of `lease`; returns only when the claim is lost: another process
/// took the release over, or no renewal succeeded for a whole lease (the database is out of
/// reach, and another process may take over meanwhile).
async fn hold(context: &Context, claim: &Claim, lease: Duration) {
    let mut ticks = tokio::time::interval(lease / 3);
    ticks.tick().await;
    let mut renewed = std::time::Instant::now();
    loop {
        ticks.tick().await;
        match context.store.renew_publication(claim, lease).await {
            Ok(true) => renewed = std::time::Instant::now(),
            Ok(false) => return,
            Err(error) => {
                tracing::warn!(%error, "cannot renew the publishing lease");
                if renewed.elapsed() >= lease {
                    return;
                }
            }
        }
    }
}

/// Why `release` could not be claimed for publishing.
fn not_claimed(release: &Release, resume_failed: bool) -> Error {
    let what = format!("{} {}", release.product, release.version);
    Error::Conflict(match release.state {
        ReleaseState::Published => format!(
            "{what} is published already (build {}, at {}); a version is published once",
            release.build_id,
            release
                .published_at
                .map_or_else(|| "an unknown time".to_owned(), |at| at.to_string())
        ),
        ReleaseState::Publishing => format!(
            "{what} is being published by another process; if that process died, its lease runs out within a lease and `chorale release publish {} {} --resume` takes over",
            release.product, release.version
        ),
        ReleaseState::PublishFailed if !resume_failed => format!(
            "{what} failed to publish{}; fix the cause, then `chorale release publish {} {} --resume`",
            release
                .failure
                .as_ref()
                .map(|f| format!(" at step {}: {}", f.step, f.error))
                .unwrap_or_default(),
            release.product,
            release.version
        ),
        state => format!("{what} is {state}; only an approved release is published"),
    })
}

/// The release `key`, with its decisions and journal.
async fn load(context: &Context, key: &ReleaseKey) -> Result<Release, Error> {
    (context.store.release_by_key(key).await?).ok_or_else(|| Error::NoSuch {
        kind: "release",
        name: format!("{} of build {}", key.version, key.build_id),
        hint: "`chorale release list` shows the releases",
    })
}

/// What the steps of one publication work with.
struct Work<'a> {
    context: &'a Context,
    release: &'a Release,
    build: &'a Build,
    product: &'a Product,
    policy: &'a ReleasePolicy,
}

impl Work<'_> {
    /// Run `step`; its error is the journal's message.
    async fn run(&self, step: PublishStep) -> Result<Outcome, String> {
        match step {
            PublishStep::Registry => self.registry().await,
            PublishStep::Git => self.git().await,
            PublishStep::Github => self.github().await,
            PublishStep::Notify => Ok(self.notify().await),
        }
    }

    /// Tag the bundle and its charts under `spec.release.publish.registry`; see
    /// [`publish_to_registry`].
    async fn registry(&self) -> Result<Outcome, String> {
        let Some(base) = &self.policy.publish.registry else {
            return Ok(Outcome::Skipped(
                "spec.release.publish.registry is not set".to_owned(),
            ));
        };
        let bundle = &self.release.bundle;
        let record = (self
            .context
            .store
            .bundle(&bundle.repository, &bundle.digest)
            .await)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "the bundle {}@{} is not recorded",
                    bundle.repository, bundle.digest
                )
            })?;
        let published = publish_to_registry(
            &self.context.runners.registry,
            &RegistryPublication {
                base,
                product: &self.release.product,
                version: &self.release.version,
                bundle_repository: &bundle.repository,
                bundle_digest: &bundle.digest,
                charts: &record.charts,
            },
        )
        .await?;
        Ok(Outcome::Done(format!(
            "{base}/{}:{} and {} chart tag(s); {published}",
            self.release.product,
            self.release.version,
            published.tags - 1
        )))
    }

    /// The configuration commit the build used, which the version's tags go on (`repository`
    /// names where, for messages); an error when there is none or it had changes not
    /// committed.
    fn configuration_commit(&self, repository: &str) -> Result<&str, String> {
        let config = self.build.config.as_ref().ok_or_else(|| {
            format!(
                "build {} recorded no configuration commit (its product manifest was not in a git work tree), so there is nothing to tag; build from a committed checkout of {repository}",
                self.build.id
            )
        })?;
        if config.dirty {
            return Err(format!(
                "build {} ran on configuration commit {} with changes not committed, so no tag can say what it was built from; commit them and build again",
                self.build.id, config.commit
            ));
        }
        Ok(&config.commit)
    }

    /// The annotated tag on the configuration commit the build used.
    async fn git(&self) -> Result<Outcome, String> {
        let Some(GitTagTarget {
            repository,
            tag_prefix,
        }) = &self.policy.publish.git
        else {
            return Ok(Outcome::Skipped(
                "spec.release.publish.git is not set".to_owned(),
            ));
        };
        let commit = self.configuration_commit(repository)?;
        let tag = format!("{tag_prefix}{}", self.release.version);
        let message = format!(
            "{} {}\n\nbundle: {}@{}\nlock: {}\nbuild: {}\n",
            self.release.product,
            self.release.version,
            self.release.bundle.repository,
            self.release.bundle.digest,
            self.release.lock_id,
            self.build.id
        );
        let tagger = Tagger {
            name: TAGGER_NAME.to_owned(),
            email: TAGGER_EMAIL.to_owned(),
        };
        let git = &self.context.runners.git;
        // A network blip is tried again (the push is idempotent); the rest fails the step.
        let pushed = (|| git.push_annotated_tag(repository, commit, &tag, &message, &tagger))
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(500))
                    .with_max_times(GIT_RETRIES),
            )
            .when(chorale_runners::GitError::is_transient)
            .notify(
                |error, delay| tracing::warn!(%error, ?delay, "the git tag push failed, retrying"),
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(Outcome::Done(format!(
            "{tag} on {commit} in {repository} ({pushed:?})"
        )))
    }

    /// The GitHub release of the version's tag, with the notes and the lock.
    async fn github(&self) -> Result<Outcome, String> {
        let Some(GithubTarget {
            repository,
            api_url,
            token,
        }) = &self.policy.publish.github
        else {
            return Ok(Outcome::Skipped(
                "spec.release.publish.github is not set".to_owned(),
            ));
        };
        let (owner, name) = repository
            .split_once('/')
            .ok_or_else(|| format!("`{repository}` is not OWNER/NAME"))?;
        // A tag GitHub does not have yet is made on this commit (not on its default branch).
        let commit = self.configuration_commit(repository)?;
        let token = token
            .read("spec.release.publish.github", "token")
            .map_err(|e| e.to_string())?;
        let notes = release_notes(self.context, self.product, self.release, self.build)
            .await
            .map_err(|e| format!("the release notes: {e}"))?;
        let lock = self
            .context
            .store
            .lock(&self.release.lock_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("the lock {} is not stored", self.release.lock_id))?;
        let lock = serde_json::to_vec_pretty(&lock).map_err(|e| e.to_string())?;
        let prefix = self
            .policy
            .publish
            .git
            .as_ref()
            .map_or("v", |git| git.tag_prefix.as_str());
        let tag = format!("{prefix}{}", self.release.version);
        let title = format!("{} {}", self.release.product, self.release.version);
        let published = ensure_release(
            &GithubRepo {
                api_url: api_url.clone(),
                owner: owner.to_owned(),
                name: name.to_owned(),
            },
            &token,
            &NewRelease {
                tag: &tag,
                commit,
                name: &title,
                body: &notes,
                prerelease: self.release.version.contains('-'),
                asset: Some(Asset {
                    name: LOCK_ASSET,
                    content_type: "application/octet-stream",
                    data: Bytes::from(lock),
                }),
            },
            &GithubOptions::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(Outcome::Done(format!(
            "{} release {} ({})",
            if published.reused { "reused" } else { "made" },
            published.id,
            published.html_url
        )))
    }

    /// The `released` notification of the version, once per notifier (a delivery is recorded
    /// before it is sent; a resumed step finds it, and sends it only if the process that
    /// recorded it died before it was sent, once its lease ran out).
    async fn notify(&self) -> Outcome {
        let mut report = match crate::report::build_report(self.context, self.build).await {
            Ok(report) => report,
            Err(error) => return Outcome::Done(format!("no notification: no report ({error})")),
        };
        report.candidate_version.clone_from(&self.release.version);
        let mut deliveries =
            crate::notify::notify(self.context, self.product, &report, Event::Released).await;
        // Those a publisher that died recorded and did not finish sending.
        deliveries.extend(
            crate::notify::resume_unsent(
                self.context,
                &self.build.id,
                Event::Released,
                Some(&self.release.version),
            )
            .await,
        );
        let mut detail = format!("{} notifier(s)", deliveries.len());
        for delivery in &deliveries {
            let _ = write!(
                detail,
                "; {} {}",
                delivery.notifier,
                delivery.state.as_str()
            );
        }
        Outcome::Done(detail)
    }
}

/// What the registry step of publishing tags: a bundle and its charts, under a base.
#[derive(Debug, Clone, Copy)]
pub struct RegistryPublication<'a> {
    /// Where the release goes: `host[:port]/path`.
    pub base: &'a str,
    /// The product: the bundle is tagged `BASE/PRODUCT:VERSION`.
    pub product: &'a str,
    /// The release's version.
    pub version: &'a str,
    /// The repository the bundle is in.
    pub bundle_repository: &'a str,
    /// The bundle's manifest digest.
    pub bundle_digest: &'a str,
    /// Its charts as pushed with it: each is tagged `BASE/charts/NAME:TAG`.
    pub charts: &'a [PushedChart],
}

/// What [`publish_to_registry`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegistryPublished {
    /// Tags it is about: one per chart and the version's.
    pub tags: usize,
    /// Tags written (the others named the digest already).
    pub written: u32,
    /// Blobs found in or mounted into their destination, bytes not sent.
    pub linked: u32,
    /// Blobs read and sent.
    pub sent: u32,
    /// Blob bytes sent.
    pub bytes: u64,
}

impl std::fmt::Display for RegistryPublished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} tag(s) written, {} blob(s) linked, {} sent ({} bytes)",
            self.written, self.linked, self.sent, self.bytes
        )
    }
}

/// How many tags are checked, or charts copied, at once.
pub const PUBLISH_CONCURRENCY: usize = 16;

/// Tag the bundle digest `BASE/PRODUCT:VERSION` and each chart `BASE/charts/NAME:TAG`, the same
/// manifests (blobs linked on the same registry, copied to another): first every tag is checked
/// — none may name another digest, a published tag never moves — then the charts are copied,
/// and the version's tag is written last, once every chart is in. Up to
/// [`PUBLISH_CONCURRENCY`] tags are checked, or charts copied, at once. Tags that name the
/// digest already are left as they are, so that it can be run again. The error says why, as
/// the release's journal records it.
pub async fn publish_to_registry(
    client: &RegistryClient,
    publication: &RegistryPublication<'_>,
) -> Result<RegistryPublished, String> {
    let RegistryPublication {
        base,
        product,
        version,
        bundle_repository,
        bundle_digest,
        charts,
    } = *publication;
    let mut tags = Vec::with_capacity(charts.len() + 1);
    for chart in charts {
        let (name, tag) = chart_tag(&chart.reference)
            .ok_or_else(|| format!("chart reference `{}` has no name and tag", chart.reference))?;
        tags.push((
            chart_repository(&chart.reference),
            chart.digest.as_str(),
            format!("{base}/charts/{name}"),
            tag,
        ));
    }
    tags.push((
        bundle_repository.to_owned(),
        bundle_digest,
        format!("{base}/{product}"),
        version.to_owned(),
    ));
    // By index: a stream of references here would make the future not provably `Send`.
    let states: Vec<TagState> = futures::stream::iter(0..tags.len())
        .map(|i| {
            let (_, digest, to, tag) = &tags[i];
            tag_state(client, to, tag, digest)
        })
        .buffered(PUBLISH_CONCURRENCY)
        .try_collect()
        .await
        .map_err(|e| e.to_string())?;
    for ((_, digest, to, tag), state) in tags.iter().zip(&states) {
        if let TagState::Elsewhere(found) = state {
            return Err(format!(
                "{to}:{tag} names {found} already, not {digest}: a published tag never moves (a chart version is published once; bump the chart's version)"
            ));
        }
    }
    let copy = |i: usize| {
        let (from, digest, to, tag) = &tags[i];
        copy_to_tag(client, from, digest, to, tag, &states[i])
    };
    // The charts, then the version's tag (the last).
    let version = tags.len() - 1;
    let charts = futures::stream::iter(0..version)
        .map(copy)
        .buffer_unordered(PUBLISH_CONCURRENCY)
        .try_fold(RegistryPublished::default(), |sum, copied| async move {
            Ok(sum.add(copied))
        })
        .await
        .map_err(|e| e.to_string())?;
    let mut published = charts.add(copy(version).await.map_err(|e| e.to_string())?);
    published.tags = tags.len();
    Ok(published)
}

impl RegistryPublished {
    fn add(self, copied: Copied) -> Self {
        Self {
            tags: self.tags,
            written: self.written + u32::from(copied.tagged),
            linked: self.linked + copied.blobs_linked,
            sent: self.sent + copied.blobs_sent,
            bytes: self.bytes + copied.bytes_sent,
        }
    }
}

/// `NAME` and `TAG` of a chart reference `…/charts/NAME:TAG` (or `oci:DIR/charts/NAME:TAG`).
fn chart_tag(reference: &str) -> Option<(String, String)> {
    let (repository, tag) = reference.rsplit_once(':')?;
    let name = repository.rsplit_once('/')?.1;
    (!name.is_empty() && !tag.is_empty() && !tag.contains('/'))
        .then(|| (name.to_owned(), tag.to_owned()))
}

/// The repository of a chart reference (without its tag).
fn chart_repository(reference: &str) -> String {
    reference
        .rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/'))
        .map_or(reference, |(repository, _)| repository)
        .to_owned()
}

/// The release notes of `release`: the build's report with the changes since the product's
/// previous published release, rendered with `release-notes.md.j2` (the product's override in
/// `spec.reportTemplates` if it has one).
pub async fn release_notes(
    context: &Context,
    product: &Product,
    release: &Release,
    build: &Build,
) -> Result<String, Error> {
    let mut report = crate::report::build_report(context, build).await?;
    let version = semver::Version::parse(&release.version)
        .map_err(|e| Error::Invalid(format!("`{}` is not a version: {e}", release.version)))?;
    let previous = context
        .store
        .previous_published(&product.name, &version)
        .await?;
    report.changes = chorale_reports::model::Changes::default();
    report.candidate_version.clone_from(&release.version);
    let lock = match &build.lock_id {
        Some(id) => context.store.lock(id).await?,
        None => None,
    };
    if let (Some(previous), Some(lock)) = (&previous, &lock)
        && let Some(baseline) = context.store.build(&previous.build_id).await?
    {
        report.changes =
            crate::report::changes_since(context, lock, &baseline, Some(previous.version.clone()))
                .await?;
    }
    let facts = ReleaseFacts {
        version: release.version.clone(),
        bundle: format!("{}@{}", release.bundle.repository, release.bundle.digest),
        promoted_from: release.promoted_from.clone(),
        previous: previous.map(|p| p.version),
        approvals: release
            .decisions
            .iter()
            .filter(|d| d.decision == Decision::Approve)
            .map(|d| ApprovalFact {
                actor: d.actor.clone(),
                role: d.role.as_str().to_owned(),
                reason: d.reason.clone(),
                overridden: d.overridden,
                at: d.at,
            })
            .collect(),
    };
    let templates = product.reporting.templates()?;
    Ok(chorale_reports::release_notes(&report, &facts, &templates)?)
}

/// Publish the release `version` of `product` by hand, as `identity` (a release manager or
/// above), with `audit` written once the release is claimed; see [`publish`].
pub async fn publish_version(
    context: &Context,
    identity: &Identity,
    product: &str,
    version: &str,
    options: PublishOptions,
    observer: &dyn Observer,
    audit: &AuditEvent,
) -> Result<Release, Error> {
    authorize(identity, Role::ReleaseManager)?;
    let release =
        (context.store.release(product, version).await?).ok_or_else(|| Error::NoSuch {
            kind: "release",
            name: format!("{product} {version}"),
            hint: "`chorale release list --product PRODUCT` shows the releases",
        })?;
    let key = ReleaseKey {
        build_id: release.build_id,
        version: release.version,
    };
    publish_audited(context, &key, options, observer, Some(audit)).await
}

/// Promote the published release candidate `rc` of `product` to its final version on the same
/// bundle digest, as `identity` (a release manager or above), with `audit` written alongside,
/// and publish it. Refused: a version that is not an rc, an rc that is not published, a final
/// version that exists.
pub async fn promote(
    context: &Context,
    identity: &Identity,
    product: &str,
    rc: &str,
    options: PublishOptions,
    observer: &dyn Observer,
    audit: &AuditEvent,
) -> Result<Release, Error> {
    authorize(identity, Role::ReleaseManager)?;
    let parsed = semver::Version::parse(rc).map_err(|e| Error::InvalidField {
        field: "version".to_owned(),
        message: format!("`{rc}` is not a semantic version: {e}"),
    })?;
    let version = crate::versions::promoted(&parsed).map_err(|message| Error::InvalidField {
        field: "version".to_owned(),
        message,
    })?;
    let candidate = (context.store.release(product, rc).await?).ok_or_else(|| Error::NoSuch {
        kind: "release",
        name: format!("{product} {rc}"),
        hint: "`chorale release list --product PRODUCT` shows the releases",
    })?;
    if candidate.state != ReleaseState::Published {
        return Err(Error::Conflict(format!(
            "{product} {rc} is {}, not published: only a published release candidate is promoted",
            candidate.state
        )));
    }
    let now = context.store.now().await?;
    let mut final_release = candidate.clone();
    final_release.version = version.to_string();
    final_release.state = ReleaseState::Approved;
    final_release.created_at = now;
    final_release.decided_at = Some(now);
    final_release.promoted_from = Some(rc.to_owned());
    final_release.decisions = Vec::new();
    final_release.published_at = None;
    final_release.failure = None;
    final_release.steps = Vec::new();
    // A new promotion is audited with its record; taking up one left half-way, when claimed.
    let (key, audit) = match context
        .store
        .propose_release(&final_release, Some(audit))
        .await?
    {
        Proposed::Recorded => (
            ReleaseKey {
                build_id: final_release.build_id.clone(),
                version: final_release.version.clone(),
            },
            None,
        ),
        // Promoted before (and perhaps published, or left half-way by a process that died).
        Proposed::Taken(held)
            if held.build_id == candidate.build_id
                && held.promoted_from.as_deref() == Some(rc)
                && held.state != ReleaseState::Published =>
        {
            (
                ReleaseKey {
                    build_id: held.build_id.clone(),
                    version: held.version.clone(),
                },
                Some(audit),
            )
        }
        Proposed::Taken(held) => {
            return Err(Error::Conflict(format!(
                "{product} {} exists already ({}, build {}{}); a version is published once",
                held.version,
                held.state,
                held.build_id,
                held.promoted_from
                    .as_deref()
                    .map(|from| format!(", promoted from {from}"))
                    .unwrap_or_default()
            )));
        }
    };
    publish_audited(context, &key, options, observer, audit).await
}

/// Publish every release that waits: approved ones nobody started, and publishing ones whose
/// process died. What each did is logged; never fails.
pub async fn resume_publications(context: &Context, lease: Duration, observer: &dyn Observer) {
    let keys = match context.store.publications_to_resume().await {
        Ok(keys) => keys,
        Err(error) => {
            tracing::error!(%error, "cannot look for releases to publish");
            return;
        }
    };
    let options = PublishOptions {
        lease,
        resume_failed: false,
    };
    for key in keys {
        match publish(context, &key, options, observer).await {
            Ok(release) => {
                tracing::info!(version = %release.version, product = %release.product, "published");
            }
            // Another replica took it first.
            Err(Error::Conflict(reason)) => tracing::debug!(%reason, "not published here"),
            Err(error) => {
                tracing::warn!(%error, build = %key.build_id, version = %key.version, "publishing failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_reference_gives_its_name_tag_and_repository() {
        let reference = "127.0.0.1:5000/chorale/charts/db:1.2.3";
        assert_eq!(
            chart_tag(reference),
            Some(("db".to_owned(), "1.2.3".to_owned()))
        );
        assert_eq!(
            chart_repository(reference),
            "127.0.0.1:5000/chorale/charts/db"
        );
        assert_eq!(
            chart_tag("oci:/state/oci/charts/cache:0.1.0"),
            Some(("cache".to_owned(), "0.1.0".to_owned()))
        );
        assert_eq!(chart_tag("127.0.0.1:5000/charts/db"), None);
    }
}
