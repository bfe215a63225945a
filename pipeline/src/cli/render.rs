//! Text output of the CLI, for people.

use std::fmt::Write;

use jiff::Timestamp;

use crate::clusters::Reaped;
use crate::diff::LockDiff;
use crate::ops::Bundled;
use crate::resources::access::{AuditEvent, Token};
use crate::resources::build::Build;
use crate::resources::bundle::BundleOutcome;
use crate::resources::cluster::ClusterDocument;
use crate::resources::lock::Lock;
use crate::resources::meta::BUILD_LABEL;
use crate::resources::release::Release;

fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex.get(..12).unwrap_or(hex)
}

fn time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn duration(build: &Build) -> String {
    build.finished_at.map_or_else(
        || "-".to_owned(),
        |end| {
            let ms = end.as_millisecond() - build.created_at.as_millisecond();
            format!("{:.1}s", ms as f64 / 1000.0)
        },
    )
}

/// A lock as a table of components.
pub fn lock(lock: &Lock) -> String {
    let mut out = format!(
        "lock {} of product {} ({} components)\n",
        lock.id,
        lock.product,
        lock.components.len()
    );
    let width = lock
        .components
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(4)
        .max(9);
    let _ = writeln!(
        out,
        "{:width$}  {:12}  {:30}  {:12}  IMAGES",
        "COMPONENT", "COMMIT", "CHART", "DIGEST"
    );
    for c in &lock.components {
        let commit = c.source.as_ref().map_or("-", |s| &s.commit[..12]);
        let _ = writeln!(
            out,
            "{:width$}  {:12}  {:30}  {:12}  {}",
            c.name,
            commit,
            format!("{}-{}", c.chart.name, c.chart.version),
            short(&c.chart.digest),
            c.images.len()
        );
    }
    out
}

/// What a bundle build pushed.
pub fn bundle(bundled: &Bundled) -> String {
    let mut out = format!(
        "build {} bundled {} components\nbundle   {}\nlock     {}\n",
        bundled.build.id,
        bundled.lock.components.len(),
        bundled.bundle.reference,
        bundled.bundle.lock_id,
    );
    bundle_details(&mut out, &bundled.bundle);
    out
}

/// Tags, upload volume and charts of a bundle.
fn bundle_details(out: &mut String, bundle: &BundleOutcome) {
    let _ = writeln!(out, "tags     {}", bundle.tags.join(", "));
    let _ = writeln!(out, "uploaded {} bytes", bundle.uploaded_bytes);
    out.push_str("charts:\n");
    for chart in &bundle.charts {
        let _ = writeln!(out, "  {:16} {}", chart.component, chart.reference);
    }
}

/// Builds as a table, newest first.
pub fn builds(builds: &[Build]) -> String {
    if builds.is_empty() {
        return "no builds recorded\n".to_owned();
    }
    let mut out = format!(
        "{:20}  {:16}  {:11}  {:23}  {:>8}  LOCK\n",
        "BUILD", "PRODUCT", "STATUS", "CREATED", "DURATION"
    );
    for b in builds {
        let _ = writeln!(
            out,
            "{:20}  {:16}  {:11}  {:23}  {:>8}  {}",
            b.id,
            b.product,
            b.status.as_str(),
            time(b.created_at),
            duration(b),
            b.lock_id.as_deref().map_or("-", short)
        );
    }
    out
}

/// One build with its stages (and its bundle's charts when it has one).
pub fn build(build: &Build, bundle: Option<&BundleOutcome>) -> String {
    let mut out = format!(
        "build    {}\nproduct  {}\nstatus   {}\ntrigger  {}\ncreated  {}\nduration {}\n",
        build.id,
        build.product,
        build.status,
        build.trigger,
        time(build.created_at),
        duration(build)
    );
    if let Some(lock) = &build.lock_id {
        let _ = writeln!(out, "lock     {lock}");
    }
    if let Some(bundle) = &build.bundle {
        let _ = writeln!(out, "bundle   {}@{}", bundle.repository, bundle.digest);
    }
    if let Some(config) = &build.config {
        let dirty = if config.dirty {
            " (with changes not committed)"
        } else {
            ""
        };
        let _ = writeln!(out, "config   {}{dirty}", config.commit);
    }
    for release in &build.releases {
        let _ = writeln!(out, "release  {} ({})", release.version, release.state);
    }
    if let Some(error) = &build.error {
        let _ = writeln!(out, "error    {error}");
    }
    if let Some(bundle) = bundle {
        bundle_details(&mut out, bundle);
    }
    out.push_str("stages:\n");
    for stage in &build.stages {
        let _ = writeln!(
            out,
            "  {:10} {:11} {:>8}  {}",
            stage.name,
            stage.status.as_str(),
            span(stage.started_at, stage.finished_at),
            stage.message.as_deref().unwrap_or("")
        );
    }
    if !build.components.is_empty() {
        out.push_str("components:\n");
        for deploy in &build.components {
            let _ = writeln!(
                out,
                "  {:16} wave {:<2} {:11} {:>8}  {}",
                deploy.component,
                deploy.wave,
                deploy.status.as_str(),
                span(deploy.started_at, deploy.finished_at),
                deploy
                    .message
                    .as_deref()
                    .or(deploy.log.as_deref())
                    .unwrap_or("")
            );
        }
    }
    if !build.tests.is_empty() {
        out.push_str("tests:\n");
        for test in &build.tests {
            let status = if test.is_flaky() {
                "flaky"
            } else {
                test.status.as_str()
            };
            let _ = writeln!(
                out,
                "  {:16} {:9} {:11} {:>8}  attempts {}  {}",
                test.name,
                test.gate.as_str(),
                status,
                span(test.started_at, test.finished_at),
                test.attempts,
                test.message.as_deref().unwrap_or("")
            );
        }
    }
    out
}

/// Seconds between two times, or `-`.
fn span(start: Option<Timestamp>, end: Option<Timestamp>) -> String {
    match (start, end) {
        (Some(start), Some(end)) => format!(
            "{:.1}s",
            (end.as_millisecond() - start.as_millisecond()) as f64 / 1000.0
        ),
        _ => "-".to_owned(),
    }
}

/// Releases as a table, newest first.
pub fn releases(releases: &[Release]) -> String {
    if releases.is_empty() {
        return "no releases recorded\n".to_owned();
    }
    let mut out = format!(
        "{:20}  {:16}  {:9}  {:9}  {:20}  CREATED\n",
        "VERSION", "PRODUCT", "STATE", "APPROVALS", "BUILD"
    );
    for release in releases {
        let approvals = format!("{}/{}", release.approvals(), release.approvals_needed);
        let _ = writeln!(
            out,
            "{:20}  {:16}  {:9}  {approvals:9}  {:20}  {}",
            release.version,
            release.product,
            release.state.as_str(),
            release.build_id,
            time(release.created_at)
        );
    }
    out
}

/// One release with every decision taken on it.
pub fn release(release: &Release) -> String {
    let mut out = format!(
        "release {} of {}: {}\n",
        release.version,
        release.product,
        release.state.as_str()
    );
    let _ = writeln!(out, "  build      {}", release.build_id);
    let _ = writeln!(
        out,
        "  bundle     {}@{}",
        release.bundle.repository, release.bundle.digest
    );
    let _ = writeln!(out, "  lock       {}", release.lock_id);
    let _ = writeln!(
        out,
        "  approvals  {} of {}",
        release.approvals(),
        release.approvals_needed
    );
    let _ = writeln!(out, "  candidate  {}", time(release.created_at));
    let _ = writeln!(out, "  expires    {}", time(release.expires_at));
    if let Some(decided) = release.decided_at {
        let _ = writeln!(out, "  decided    {}", time(decided));
    }
    for decision in &release.decisions {
        let _ = writeln!(
            out,
            "  {}  {} ({}) {}{}: {}",
            time(decision.at),
            decision.actor,
            decision.role.as_str(),
            decision.decision.as_str(),
            if decision.overridden {
                " (override)"
            } else {
                ""
            },
            decision.reason
        );
    }
    if let Some(from) = &release.promoted_from {
        let _ = writeln!(out, "  promoted from {from} (same bundle)");
    }
    if let Some(published) = release.published_at {
        let _ = writeln!(out, "  published  {}", time(published));
    }
    if let Some(failure) = &release.failure {
        let _ = writeln!(
            out,
            "  failed at  {}: {} (`chorale release publish {} --product {} --resume` continues)",
            failure.step, failure.error, release.version, release.product
        );
    }
    for step in &release.steps {
        let _ = writeln!(
            out,
            "  step {:9} {:8} attempts {}{}",
            step.step.as_str(),
            step.state.as_str(),
            step.attempts,
            step.detail
                .as_deref()
                .or(step.error.as_deref())
                .map(|text| format!(": {text}"))
                .unwrap_or_default()
        );
    }
    out
}

/// Tokens, one per line (never a secret).
pub fn tokens(tokens: &[Token]) -> String {
    if tokens.is_empty() {
        return "no tokens; `chorale tokens create --name NAME --role ROLE` makes one\n".to_owned();
    }
    let mut out = format!(
        "{:24}  {:15}  {:23}  {:23}  {:10}  CREATED BY\n",
        "TOKEN", "ROLE", "CREATED", "EXPIRES", "STATE"
    );
    let now = Timestamp::now();
    for token in tokens {
        let state = if token.revoked_at.is_some() {
            "revoked"
        } else if token.is_valid_at(now) {
            "valid"
        } else {
            "expired"
        };
        let _ = writeln!(
            out,
            "{:24}  {:15}  {:23}  {:23}  {:10}  {}",
            token.name,
            token.role.as_str(),
            time(token.created_at),
            token.expires_at.map_or_else(|| "never".to_owned(), time),
            state,
            token.created_by
        );
    }
    out
}

/// Audit events, newest first.
pub fn audit(events: &[AuditEvent]) -> String {
    if events.is_empty() {
        return "no audit events recorded\n".to_owned();
    }
    let mut out = format!(
        "{:23}  {:24}  {:15}  {:16}  {:28}  OUTCOME\n",
        "TIME", "ACTOR", "ROLE", "ACTION", "RESOURCE"
    );
    for event in events {
        let _ = writeln!(
            out,
            "{:23}  {:24}  {:15}  {:16}  {:28}  {}",
            time(event.at),
            event.actor,
            event.role.as_str(),
            event.action,
            event.resource,
            event.outcome
        );
    }
    out
}

/// Recorded clusters as a table.
pub fn clusters(clusters: &[ClusterDocument]) -> String {
    if clusters.is_empty() {
        return "no clusters recorded\n".to_owned();
    }
    let mut out = format!(
        "{:32}  {:9}  {:15}  {:20}  {:23}  ERROR\n",
        "CLUSTER", "PROVIDER", "STATE", "BUILD", "EXPIRES"
    );
    for cluster in clusters {
        let _ = writeln!(
            out,
            "{:32}  {:9}  {:15}  {:20}  {:23}  {}",
            cluster.metadata.name,
            cluster.spec.provider,
            cluster.status.state.as_str(),
            cluster
                .metadata
                .labels
                .get(BUILD_LABEL)
                .map_or("-", String::as_str),
            time(cluster.spec.expires_at),
            cluster.status.last_error.as_deref().unwrap_or("")
        );
    }
    out
}

/// What a reap did.
pub fn reaped(reaped: &Reaped) -> String {
    let mut out = String::new();
    for build in &reaped.interrupted {
        let _ = writeln!(
            out,
            "build {build}: marked interrupted (its process is gone)"
        );
    }
    for cluster in &reaped.torn_down {
        let _ = writeln!(out, "cluster {cluster}: torn down");
    }
    for (cluster, error) in &reaped.failed {
        let _ = writeln!(out, "cluster {cluster}: teardown failed: {error}");
    }
    if out.is_empty() {
        out.push_str("nothing to reap\n");
    }
    out
}

/// A lock diff, one block per changed component.
pub fn diff(diff: &LockDiff) -> String {
    if diff.components.is_empty() {
        return format!(
            "no changes between {} and {}\n",
            short(&diff.from),
            short(&diff.to)
        );
    }
    let mut out = format!(
        "{} components changed between {} and {}\n",
        diff.components.len(),
        short(&diff.from),
        short(&diff.to)
    );
    for c in &diff.components {
        let _ = writeln!(out, "{} ({})", c.name, c.kind);
        if let Some(commit) = &c.commit {
            let _ = writeln!(out, "  commit  {} -> {}", commit.old, commit.new);
        }
        if let Some(chart) = &c.chart {
            let _ = writeln!(out, "  chart   {} -> {}", chart.old, chart.new);
        }
        for (reference, change) in &c.images {
            let _ = writeln!(
                out,
                "  image   {reference}: {} -> {}",
                change.old, change.new
            );
        }
        for commit in &c.commits {
            let _ = writeln!(
                out,
                "  {} {} ({})",
                commit.short_id, commit.subject, commit.author
            );
        }
        if c.commits_omitted > 0 {
            let _ = writeln!(out, "  … and {} more commits", c.commits_omitted);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chorale_test_jobs::Gate;

    use super::*;
    use crate::resources::build::{
        BundleRef, ComponentDeploy, Stage, Status, TestArtefacts, TestRun,
    };

    fn at(time: &str) -> Timestamp {
        format!("2026-12-04T{time}Z").parse().unwrap()
    }

    /// A failed run of the demo, every time fixed.
    fn failed_build() -> Build {
        let mut build = Build::start("demo", "cli", &Stage::RUN);
        "20261204-021500-ab12".clone_into(&mut build.id);
        build.created_at = at("02:15:00");
        build.finished_at = Some(at("02:16:40"));
        build.status = Status::Failed;
        build.lock_id = Some(format!("sha256:{}", "1".repeat(64)));
        build.bundle = Some(BundleRef {
            repository: "127.0.0.1:5000/chorale/demo".to_owned(),
            digest: format!("sha256:{}", "b".repeat(64)),
        });
        build.error = Some("test: 1 of 2 tests passed, 1 blocking failed".to_owned());
        for (index, stage) in build.stages.iter_mut().enumerate() {
            let minute = u32::try_from(index).unwrap() * 10;
            stage.started_at = Some(at(&format!("02:15:{minute:02}")));
            stage.finished_at = Some(at(&format!("02:15:{:02}", minute + 7)));
            stage.status = if stage.name == Stage::Test {
                Status::Failed
            } else {
                Status::Succeeded
            };
        }
        build.components = vec![ComponentDeploy {
            component: "db".to_owned(),
            wave: 0,
            status: Status::Succeeded,
            started_at: Some(at("02:15:30")),
            finished_at: Some(at("02:15:33")),
            message: None,
            log: Some("deploy/db.log".to_owned()),
        }];
        let test = |name: &str, status, attempts, message: Option<&str>| TestRun {
            name: name.to_owned(),
            uses: "http-probe".to_owned(),
            gate: Gate::Blocking,
            status,
            attempts,
            started_at: Some(at("02:15:40")),
            finished_at: Some(at("02:15:46")),
            message: message.map(str::to_owned),
            artefacts: TestArtefacts::default(),
        };
        build.tests = vec![
            test("reachable", Status::Succeeded, 2, None),
            test(
                "smoke",
                Status::Failed,
                1,
                Some("BackoffLimitExceeded: Job has reached the specified backoff limit"),
            ),
        ];
        build
    }

    #[test]
    fn a_build_reads_stage_by_stage() {
        insta::assert_snapshot!(build(&failed_build(), None));
    }

    #[test]
    fn builds_are_a_table_newest_first() {
        let mut running = failed_build();
        "20261204-031500-cd34".clone_into(&mut running.id);
        running.status = Status::Running;
        running.finished_at = None;
        running.lock_id = None;
        insta::assert_snapshot!(builds(&[running, failed_build()]));
        assert_eq!(builds(&[]), "no builds recorded\n");
    }

    #[test]
    fn releases_read_with_their_decisions() {
        use crate::resources::access::Role;
        use crate::resources::release::{Decision, ReleaseDecision, ReleaseState};
        let build = failed_build();
        let decision = |actor: &str, overridden, reason: &str| ReleaseDecision {
            actor: actor.to_owned(),
            role: Role::ReleaseManager,
            decision: Decision::Approve,
            reason: reason.to_owned(),
            overridden,
            at: at("09:00:00"),
        };
        let approved = Release {
            version: "1.0.20261204".to_owned(),
            product: build.product.clone(),
            build_id: build.id.clone(),
            bundle: build.bundle.clone().unwrap(),
            lock_id: build.lock_id.clone().unwrap(),
            state: ReleaseState::Approved,
            approvals_needed: 2,
            created_at: at("02:16:40"),
            expires_at: at("23:16:40"),
            decided_at: Some(at("09:00:00")),
            decisions: vec![
                decision("token:alice", true, "the smoke failure is a known flake"),
                decision("oidc:bob", false, "report read"),
            ],
            promoted_from: None,
            published_at: None,
            failure: None,
            steps: Vec::new(),
        };
        insta::assert_snapshot!(release(&approved));
        let mut candidate = approved.clone();
        candidate.version = "1.0.20261205".to_owned();
        candidate.state = ReleaseState::Candidate;
        candidate.decisions.truncate(1);
        insta::assert_snapshot!(releases(&[candidate, approved]));
        assert_eq!(releases(&[]), "no releases recorded\n");
    }
}
