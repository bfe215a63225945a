//! One contract for the state store, run against SQLite and a throw-away PostgreSQL.

use std::time::Duration;

use chorale::resources::access::{AuditEvent, Identity, Role, Token};
use chorale::resources::build::{
    Build, BundleRef, ComponentDeploy, Owner, Stage, Status, TestArtefacts, TestRun,
};
use chorale::resources::bundle::BundleOutcome;
use chorale::resources::lock::{Lock, LockedChart, LockedComponent};
use chorale::resources::version_line::VersionLine;
use chorale::store::{BuildFilter, PageStart, Store};
use chorale_test_jobs::Gate;

fn lock(product: &str, version: &str) -> Lock {
    Lock::new(
        product,
        VersionLine { major: 1, minor: 0 },
        vec![LockedComponent {
            name: "db".to_owned(),
            source: None,
            chart: LockedChart {
                name: "db".to_owned(),
                version: version.to_owned(),
                digest: format!("sha256:{}", "c".repeat(64)),
                repository: Some("oci://r.io/charts/db".to_owned()),
            },
            images: vec![],
            depends_on: vec![],
            values: serde_json::Map::new(),
        }],
        None,
    )
}

fn round(t: jiff::Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(t.as_millisecond()).unwrap()
}

/// What every backend must do.
async fn contract(store: Store) {
    // Locks: stored once, found by id or unique prefix, verified on the way out.
    let first = lock("demo", "1.0.0");
    let second = lock("demo", "1.1.0");
    assert_eq!(store.latest_lock("demo").await.unwrap(), None);
    store.put_lock(&first).await.unwrap();
    store.put_lock(&first).await.unwrap();
    assert_eq!(
        store.latest_lock("demo").await.unwrap().as_ref(),
        Some(&first)
    );
    // Recorded a few milliseconds later (times are kept to the millisecond).
    tokio::time::sleep(Duration::from_millis(5)).await;
    store.put_lock(&second).await.unwrap();
    assert_eq!(
        store.latest_lock("demo").await.unwrap().as_ref(),
        Some(&second),
        "the lock recorded last"
    );
    assert_eq!(store.latest_lock("other").await.unwrap(), None);
    assert_eq!(
        store.find_locks(&first.id).await.unwrap(),
        std::slice::from_ref(&first)
    );
    assert_eq!(
        store.find_locks(&first.id[..20]).await.unwrap(),
        std::slice::from_ref(&first)
    );
    assert_eq!(store.find_locks("sha256:").await.unwrap().len(), 2);
    assert!(store.find_locks("sha256:zz").await.unwrap().is_empty());

    // Builds: saved after every stage; the latest save wins, stages keep their order.
    let mut build = Build::start("demo", "cli", &Stage::BUNDLE);
    build.begin_stage(Stage::Snapshot);
    store.save_build(&build).await.unwrap();
    let stored = store.build(&build.id).await.unwrap().unwrap();
    assert_eq!(stored.status, Status::Running);
    assert_eq!(stored.stages[0].status, Status::Running);
    assert_eq!(stored.stages[1].status, Status::Pending);

    build.lock_id = Some(first.id.clone());
    build.end_stage(
        Stage::Snapshot,
        Status::Succeeded,
        Some("1 component".to_owned()),
    );
    build.begin_stage(Stage::Bundle);
    build.bundle = Some(BundleRef {
        repository: "r.io/chorale/demo".to_owned(),
        digest: format!("sha256:{}", "d".repeat(64)),
    });
    build.end_stage(Stage::Bundle, Status::Succeeded, None);
    build.owner = Some(Owner {
        host: "ci-1".to_owned(),
        pid: 4242,
    });
    build.candidate_version = Some("1.0.20261123".to_owned());
    build.cluster = Some("chorale-abc".to_owned());
    build.components = vec![
        ComponentDeploy {
            component: "db".to_owned(),
            wave: 0,
            status: Status::Failed,
            started_at: Some(jiff::Timestamp::now()),
            finished_at: Some(jiff::Timestamp::now()),
            message: Some("helm: timed out".to_owned()),
            log: Some("deploy/db.log".to_owned()),
        },
        ComponentDeploy {
            component: "api".to_owned(),
            wave: 1,
            status: Status::Skipped,
            started_at: None,
            finished_at: None,
            message: Some("db failed".to_owned()),
            log: None,
        },
    ];
    build.tests = vec![TestRun {
        name: "smoke".to_owned(),
        uses: "http-probe".to_owned(),
        gate: Gate::Informing,
        status: Status::Succeeded,
        attempts: 2,
        started_at: Some(jiff::Timestamp::now()),
        finished_at: Some(jiff::Timestamp::now()),
        message: None,
        artefacts: TestArtefacts {
            junit: vec!["tests/smoke/junit.xml".to_owned()],
            logs: vec!["tests/smoke/attempt-1/pod.log".to_owned()],
        },
    }];
    assert!(build.tests[0].is_flaky());
    build.finish(Status::Succeeded, None);
    store.save_build(&build).await.unwrap();
    let stored = store.build(&build.id).await.unwrap().unwrap();
    // Timestamps are kept to the millisecond.
    let mut expected = build.clone();
    expected.created_at = round(expected.created_at);
    expected.finished_at = expected.finished_at.map(round);
    for stage in &mut expected.stages {
        stage.started_at = stage.started_at.map(round);
        stage.finished_at = stage.finished_at.map(round);
    }
    for deploy in &mut expected.components {
        deploy.started_at = deploy.started_at.map(round);
        deploy.finished_at = deploy.finished_at.map(round);
    }
    for test in &mut expected.tests {
        test.started_at = test.started_at.map(round);
        test.finished_at = test.finished_at.map(round);
    }
    assert_eq!(stored, expected);
    assert!(
        store.build(&build.id[..15]).await.unwrap().is_some(),
        "unique prefix"
    );
    assert!(store.build("no-such-build").await.unwrap().is_none());

    // A failed build of another product; lists are newest first and filter by product.
    let mut other = Build::start("other", "schedule", &[Stage::Snapshot]);
    other.finish(Status::Failed, Some("snapshot: boom".to_owned()));
    store.save_build(&other).await.unwrap();
    let all = store.builds(None, 10).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all[0].created_at >= all[1].created_at);
    let demo = store.builds(Some("demo"), 10).await.unwrap();
    assert_eq!(
        demo.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(),
        [build.id.as_str()]
    );
    assert_eq!(store.builds(None, 1).await.unwrap().len(), 1);
    let failed = store.build(&other.id).await.unwrap().unwrap();
    assert_eq!(failed.error.as_deref(), Some("snapshot: boom"));
    assert_eq!(failed.stages[0].status, Status::Skipped);

    // Bundles: recorded by repository and digest; a lock must exist.
    let outcome = BundleOutcome {
        digest: format!("sha256:{}", "d".repeat(64)),
        reference: "r.io/chorale/demo@sha256:dd".to_owned(),
        repository: "r.io/chorale/demo".to_owned(),
        tags: vec!["latest".to_owned()],
        lock_id: first.id.clone(),
        charts: vec![],
        uploaded_bytes: 42,
    };
    assert!(
        store
            .bundle(&outcome.repository, &outcome.digest)
            .await
            .unwrap()
            .is_none()
    );
    store.put_bundle(&outcome, "demo").await.unwrap();
    store.put_bundle(&outcome, "demo").await.unwrap();
    assert_eq!(
        store
            .bundle(&outcome.repository, &outcome.digest)
            .await
            .unwrap(),
        Some(outcome.clone())
    );
    let orphan = BundleOutcome {
        lock_id: "sha256:unknown".to_owned(),
        digest: format!("sha256:{}", "e".repeat(64)),
        ..outcome
    };
    assert!(
        store.put_bundle(&orphan, "demo").await.is_err(),
        "a bundle needs its lock"
    );
}

/// What every backend must do for the service: tokens by hash, the audit log written with each
/// change, products by generation, and builds a page at a time.
async fn service_contract(store: Store) {
    store.ping().await.expect("migrated and answering");
    let admin = Identity {
        actor: "local:root".to_owned(),
        role: Role::Admin,
    };
    let now = round(jiff::Timestamp::now());
    let token = Token {
        name: "ci".to_owned(),
        role: Role::Developer,
        created_at: now,
        created_by: admin.actor.clone(),
        expires_at: None,
        revoked_at: None,
    };
    let audit = |action: &str, resource: &str| AuditEvent::new(&admin, action, resource.to_owned());
    assert!(
        store
            .create_token(&token, "hash-1", &audit("tokens.create", "tokens/ci"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .create_token(&token, "hash-2", &audit("tokens.create", "tokens/ci"))
            .await
            .unwrap(),
        "a name is taken once"
    );
    assert_eq!(
        store.token_by_hash("hash-1").await.unwrap(),
        Some(token.clone())
    );
    assert_eq!(store.token_by_hash("hash-2").await.unwrap(), None);
    assert!(
        store
            .revoke_token("ci", now, &audit("tokens.revoke", "tokens/ci"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_token("ci", now, &audit("tokens.revoke", "tokens/ci"))
            .await
            .unwrap()
    );
    assert_eq!(store.tokens().await.unwrap()[0].revoked_at, Some(now));

    let first = store
        .put_product(
            "demo",
            "kind: Product\n",
            &audit("products.apply", "products/demo"),
        )
        .await
        .unwrap();
    let same = store
        .put_product(
            "demo",
            "kind: Product\n",
            &audit("products.apply", "products/demo"),
        )
        .await
        .unwrap();
    let changed = store
        .put_product(
            "demo",
            "kind: Product # v2\n",
            &audit("products.apply", "products/demo"),
        )
        .await
        .unwrap();
    assert_eq!(
        (first.generation, same.generation, changed.generation),
        (1, 1, 2)
    );
    assert_eq!(store.product("demo").await.unwrap(), Some(changed));
    assert_eq!(store.products().await.unwrap().len(), 1);

    // Only the changes that happened are logged, newest first, each with its own id.
    let events = store.audit_events(10, None).await.unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "products.apply",
            "products.apply",
            "products.apply",
            "tokens.revoke",
            "tokens.create"
        ]
    );
    let older = store.audit_events(10, Some(events[2].id)).await.unwrap();
    assert_eq!(older.len(), 2);

    // Pages of builds: newest first, each page after the last of the one before.
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut build = Build::start(if i % 2 == 0 { "even" } else { "odd" }, "api", &Stage::RUN);
        build.created_at = jiff::Timestamp::from_millisecond(1_800_000_000_000 + i).unwrap();
        build.id = format!("20270115-080000-000{i}");
        store.save_build(&build).await.unwrap();
        ids.push(build.id);
    }
    let all = BuildFilter::default();
    let page = store.build_page(&all, 2, None).await.unwrap();
    let page_ids: Vec<&str> = page.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(page_ids, [ids[4].as_str(), ids[3].as_str()]);
    assert!(page[0].stages.is_empty(), "a page has no details");
    let next = store
        .build_page(&all, 10, Some(&PageStart::after(&page[1])))
        .await
        .unwrap();
    let next_ids: Vec<&str> = next.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(
        next_ids,
        [ids[2].as_str(), ids[1].as_str(), ids[0].as_str()]
    );
    let even = BuildFilter {
        product: Some("even".to_owned()),
        status: Some(Status::Running),
    };
    assert_eq!(store.build_page(&even, 10, None).await.unwrap().len(), 3);

    // Two builds that drew the same id in the same second: the second is given another.
    let mut first = Build::start("even", "cli", &Stage::RUN);
    let mut second = first.clone();
    "odd".clone_into(&mut second.product);
    store.insert_new_build(&mut first).await.unwrap();
    store.insert_new_build(&mut second).await.unwrap();
    assert_ne!(first.id, second.id);
    assert_eq!(first.id[..15], second.id[..15], "of the same second");
    let stored = store.build(&second.id).await.unwrap().unwrap();
    assert_eq!(stored.product, "odd");
    assert_eq!(
        store.build(&first.id).await.unwrap().unwrap().product,
        "even"
    );

    // Leases, by the database's clock: a renewed one holds, one that ran out is found, and a
    // build no longer running cannot be renewed (its owner learns it was reaped).
    assert!(
        store
            .renew_lease(&ids[0], Duration::from_mins(1))
            .await
            .unwrap()
    );
    assert!(store.renew_lease(&ids[1], Duration::ZERO).await.unwrap());
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(store.expired_leases().await.unwrap(), [ids[1].clone()]);
    let mut reaped = store.build(&ids[1]).await.unwrap().unwrap();
    reaped.finish(Status::Interrupted, Some("its lease ran out".to_owned()));
    store.save_build(&reaped).await.unwrap();
    assert!(
        !store
            .renew_lease(&ids[1], Duration::from_mins(1))
            .await
            .unwrap()
    );
    assert!(store.expired_leases().await.unwrap().is_empty());
    assert_eq!(store.build_request(&ids[0]).await.unwrap(), None);
    store
        .record_request(&ids[0], "{\"first\":1}")
        .await
        .unwrap();
    store
        .record_request(&ids[0], "{\"second\":2}")
        .await
        .unwrap();
    assert_eq!(
        store.build_request(&ids[0]).await.unwrap().as_deref(),
        Some("{\"first\":1}"),
        "a recorded request is kept"
    );
}

#[tokio::test]
async fn sqlite_keeps_tokens_audit_products_and_pages_of_builds() {
    let dir = tempfile::tempdir().unwrap();
    service_contract(Store::open_in(dir.path()).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_keeps_tokens_audit_products_and_pages_of_builds() {
    let postgres = chorale_testkit::Postgres::start().expect("a throw-away PostgreSQL starts");
    service_contract(Store::open(&postgres.url()).await.unwrap()).await;
}

#[tokio::test]
async fn sqlite_keeps_builds_locks_and_bundles() {
    let dir = tempfile::tempdir().unwrap();
    contract(Store::open_in(dir.path()).await.unwrap()).await;
    // Reopening migrates nothing twice and keeps the data.
    let store = Store::open_in(dir.path()).await.unwrap();
    assert_eq!(store.builds(None, 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn postgres_keeps_builds_locks_and_bundles() {
    let postgres = chorale_testkit::Postgres::start().expect("a throw-away PostgreSQL starts");
    contract(Store::open(&postgres.url()).await.unwrap()).await;
    let store = Store::open(&postgres.url()).await.unwrap();
    assert_eq!(store.builds(None, 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn an_unreachable_database_is_reported_without_its_password() {
    let error = Store::open("postgres://chorale:s3cret@127.0.0.1:1/chorale")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("cannot open the state database"), "{error}");
    assert!(!error.contains("s3cret"), "{error}");
}

/// A candidate of `build` at `version` that needs `needed` approvals.
fn candidate(build: &Build, version: &str, needed: u32) -> chorale::resources::release::Release {
    chorale::resources::release::Release {
        version: version.to_owned(),
        product: build.product.clone(),
        build_id: build.id.clone(),
        bundle: BundleRef {
            repository: "127.0.0.1:5000/demo".to_owned(),
            digest: format!("sha256:{}", "d".repeat(64)),
        },
        lock_id: format!("sha256:{}", "e".repeat(64)),
        state: chorale::resources::release::ReleaseState::Candidate,
        approvals_needed: needed,
        created_at: round(build.created_at),
        expires_at: round(build.created_at) + jiff::SignedDuration::from_hours(72),
        decided_at: None,
        decisions: Vec::new(),
        promoted_from: None,
        published_at: None,
        failure: None,
        steps: Vec::new(),
    }
}

/// What every backend must do with releases.
async fn release_contract(store: Store) {
    use chorale::resources::release::{Decision, ReleaseDecision, ReleaseState};
    use chorale::store::{Decided, Proposed, ReleaseFilter};

    let build = |n: u32| {
        let mut build = Build::start("demo", "api", &Stage::RUN);
        build.id = format!("20270115-08000{n}-ab12");
        build.created_at = jiff::Timestamp::from_millisecond(
            jiff::Timestamp::now().as_millisecond() + i64::from(n),
        )
        .unwrap();
        build
    };
    let builds: Vec<Build> = (0..4).map(build).collect();
    for build in &builds {
        store.save_build(build).await.unwrap();
    }
    let decision = |actor: &str, decision: Decision| ReleaseDecision {
        actor: actor.to_owned(),
        role: Role::ReleaseManager,
        decision,
        reason: format!("{actor} read the report"),
        overridden: false,
        at: round(jiff::Timestamp::now()),
    };
    let audit = |action: &str| {
        AuditEvent::new(
            &Identity {
                actor: "token:rm".to_owned(),
                role: Role::ReleaseManager,
            },
            action,
            "releases/demo/1.0.20270115".to_owned(),
        )
    };

    // A version is held by one release of a product: a second build gets the first one back.
    let first = candidate(&builds[0], "1.0.20270115", 2);
    assert_eq!(
        store.propose_release(&first, None).await.unwrap(),
        Proposed::Recorded
    );
    let Proposed::Taken(holder) = store
        .propose_release(&candidate(&builds[1], "1.0.20270115", 2), None)
        .await
        .unwrap()
    else {
        panic!("the version is taken");
    };
    assert_eq!(holder.build_id, builds[0].id);
    assert_eq!(store.release_of_build(&builds[1].id).await.unwrap(), None);
    assert_eq!(
        store.held_versions("demo").await.unwrap(),
        ["1.0.20270115".to_owned()]
    );

    // Two distinct approvers approve it; the same one twice counts once; a decision on a
    // release that is no candidate is refused.
    let approve = |actor: &str| decision(actor, Decision::Approve);
    let decide = |actor: &str| {
        let store = store.clone();
        let id = builds[0].id.clone();
        let approval = approve(actor);
        async move {
            store
                .decide_release(&id, &approval, &audit("releases.approve"))
                .await
                .unwrap()
        }
    };
    assert_eq!(decide("token:alice").await, Decided::Recorded);
    assert_eq!(decide("token:alice").await, Decided::Duplicate);
    let stored = store
        .release_of_build(&builds[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.state, ReleaseState::Candidate);
    assert_eq!(stored.approvals(), 1);
    assert_eq!(decide("token:bob").await, Decided::Recorded);
    let stored = store
        .release("demo", "1.0.20270115")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.state, ReleaseState::Approved);
    assert!(stored.decided_at.is_some());
    let actors: Vec<&str> = stored.decisions.iter().map(|d| d.actor.as_str()).collect();
    assert_eq!(actors, ["token:alice", "token:bob"]);
    assert_eq!(stored.decisions[0].reason, "token:alice read the report");
    assert_eq!(decide("token:carol").await, Decided::NotCandidate);

    // A rejection frees the version: another build may take it; an expired candidate too.
    let second = candidate(&builds[1], "1.0.20270116", 1);
    store.propose_release(&second, None).await.unwrap();
    let rejection = decision("token:alice", Decision::Reject);
    assert_eq!(
        store
            .decide_release(&builds[1].id, &rejection, &audit("releases.reject"))
            .await
            .unwrap(),
        Decided::Recorded
    );
    let rejected = store
        .release_of_build(&builds[1].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rejected.state, ReleaseState::Rejected);
    let mut expiring = candidate(&builds[2], "1.0.20270116", 1);
    expiring.expires_at = round(jiff::Timestamp::now()) - jiff::SignedDuration::from_secs(1);
    assert_eq!(
        store.propose_release(&expiring, None).await.unwrap(),
        Proposed::Recorded,
        "a rejected candidate gives its version back"
    );
    assert_eq!(
        store
            .decide_release(
                &builds[2].id,
                &approve("token:bob"),
                &audit("releases.approve")
            )
            .await
            .unwrap(),
        Decided::NotCandidate,
        "an expired candidate is not approved"
    );
    assert_eq!(
        store
            .release_of_build(&builds[2].id)
            .await
            .unwrap()
            .unwrap()
            .state,
        ReleaseState::Expired
    );
    // The build of a release that gave its version back has it still: no second release.
    let Proposed::Taken(own) = store
        .propose_release(&candidate(&builds[2], "1.0.20270117", 1), None)
        .await
        .unwrap()
    else {
        panic!("a build has one release");
    };
    assert_eq!(own.build_id, builds[2].id);

    // Recorded at once with its decision (the auto policy); a newer release supersedes.
    let mut auto = candidate(&builds[3], "1.0.20270116", 1);
    auto.state = ReleaseState::Approved;
    auto.decided_at = Some(auto.created_at);
    auto.decisions = vec![approve("policy:auto")];
    store
        .propose_release(&auto, Some(&audit("releases.approve")))
        .await
        .unwrap();
    let stored = store
        .release_of_build(&builds[3].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, auto);
    let newer = store.newer_release(&first).await.unwrap().unwrap();
    assert_eq!(newer.build_id, builds[3].id);
    assert_eq!(store.newer_release(&auto).await.unwrap(), None);

    // Pages: highest version first (semver precedence), by product and state.
    let all = ReleaseFilter::default();
    let page = store.release_page(&all, 2, None).await.unwrap();
    let ids: Vec<&str> = page.iter().map(|r| r.build_id.as_str()).collect();
    assert_eq!(ids, [builds[3].id.as_str(), builds[2].id.as_str()]);
    let rest = store
        .release_page(&all, 10, Some(&PageStart::after_release(&page[1])))
        .await
        .unwrap();
    let ids: Vec<&str> = rest.iter().map(|r| r.build_id.as_str()).collect();
    assert_eq!(ids, [builds[1].id.as_str(), builds[0].id.as_str()]);
    assert_eq!(rest[1].decisions.len(), 2, "a page has the decisions");
    let approved = ReleaseFilter {
        product: Some("demo".to_owned()),
        state: Some(ReleaseState::Approved),
    };
    assert_eq!(
        store.release_page(&approved, 10, None).await.unwrap().len(),
        2
    );
    let audit = store.audit_events(10, None).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "releases.approve",
            "releases.reject",
            "releases.approve",
            "releases.approve"
        ],
        "decisions that were recorded, each with its audit event"
    );

    // Release candidates are listed by precedence, not by when they were made: rc.10 (made
    // first) after the final, before rc.9, and paged through in that order.
    let mut versions = Vec::new();
    for (n, version) in ["2.1.0-rc.10", "2.1.0-rc.9", "2.1.0", "2.0.20270115"]
        .iter()
        .enumerate()
    {
        let mut build = build(5 + u32::try_from(n).unwrap());
        "ordered".clone_into(&mut build.product);
        store.save_build(&build).await.unwrap();
        let mut release = candidate(&build, version, 1);
        "ordered".clone_into(&mut release.product);
        assert_eq!(
            store.propose_release(&release, None).await.unwrap(),
            Proposed::Recorded
        );
        versions.push(*version);
    }
    let ordered = ReleaseFilter {
        product: Some("ordered".to_owned()),
        state: None,
    };
    let first = store.release_page(&ordered, 2, None).await.unwrap();
    let rest = store
        .release_page(&ordered, 10, Some(&PageStart::after_release(&first[1])))
        .await
        .unwrap();
    let listed: Vec<&str> = (first.iter().chain(&rest))
        .map(|r| r.version.as_str())
        .collect();
    assert_eq!(
        listed,
        ["2.1.0", "2.1.0-rc.10", "2.1.0-rc.9", "2.0.20270115"],
        "made in the order {versions:?}"
    );
}

#[tokio::test]
async fn sqlite_keeps_releases_and_their_decisions() {
    let dir = tempfile::tempdir().unwrap();
    release_contract(Store::open_in(dir.path()).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_keeps_releases_and_their_decisions() {
    let postgres = chorale_testkit::Postgres::start().expect("a throw-away PostgreSQL starts");
    release_contract(Store::open(&postgres.url()).await.unwrap()).await;
}
