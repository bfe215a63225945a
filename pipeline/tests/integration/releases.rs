//! Releases through `chorale serve`, with the demo product built for real: a green build
//! becomes a candidate and the release bot (a real webhook receiver checking Chorale's
//! signature) is told `approval-needed`; release managers approve it, as many distinct ones
//! as the policy needs; `auto` approves at once; a red build is approved only with an
//! override; every decision is in the audit log.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use chorale_testkit::webhook::{Platform, Receiver};

use crate::api::{Server, ended, poll_until, published_demo, register, send};
use crate::support::World;

const BOT_SECRET: &str = "release-bot-hmac-secret";

/// The demo product published to a world of its own with `spec_extra` at the top of its
/// `spec`, a server on that world telling the release bot, and the admin's token.
async fn release_service(spec_extra: &str, bot: &Receiver) -> (World, Server, String, String) {
    let world = World::new();
    let body = published_demo(
        &world,
        &format!(
            "{spec_extra}  notifications:\n    - name: release-bot\n      events: [approval-needed]\n      webhook: {{ url: {{ env: RELEASE_BOT_URL }}, secret: {{ env: RELEASE_BOT_SECRET }} }}\n"
        ),
    );
    let server = Server::start_with(
        &world.state(),
        world.dir.path(),
        None,
        &["--grace", "0s"],
        &[
            ("RELEASE_BOT_URL", bot.url()),
            ("RELEASE_BOT_SECRET", BOT_SECRET.to_owned()),
        ],
    );
    let admin = server.token("admin", "admin", None);
    register(&server, &admin, body.clone()).await;
    (world, server, admin, body)
}

/// Trigger a build of `demo` and wait until it has ended.
async fn build(server: &Server, admin: &str) -> Value {
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/products/demo/builds", server.url);
    let (status, _, queued) = send(&client, Method::POST, &url, Some(admin), None).await;
    assert_eq!(status, 202, "{queued:#}");
    let id = queued["metadata"]["name"].as_str().unwrap();
    ended(&client, server, admin, id).await
}

/// The releases of `demo`, once there are `count` (the candidate is made after the build's
/// record shows it ended).
async fn releases(server: &Server, token: &str, count: usize) -> Vec<Value> {
    let url = format!("{}/api/v1/releases?product=demo", server.url);
    let what = format!("{count} releases of demo");
    let list = poll_until(&reqwest::Client::new(), &url, token, &what, |list| {
        list["items"]
            .as_array()
            .is_some_and(|items| items.len() >= count)
    })
    .await;
    list["items"].as_array().unwrap().clone()
}

/// The release `version` of `demo` once it is published (an approved release is published in
/// the background; with no `spec.release.publish` targets its journal skips them all).
async fn published(server: &Server, token: &str, version: &str) -> Value {
    let url = format!("{}/api/v1/releases/{version}?product=demo", server.url);
    let what = format!("publishing {version} of demo");
    poll_until(&reqwest::Client::new(), &url, token, &what, |release| {
        release["status"]["state"] == "published"
    })
    .await
}

/// `POST /builds/{id}/approval` as `token`.
async fn decide(server: &Server, token: &str, id: &str, body: &Value) -> (StatusCode, Value) {
    let (status, _, answer) = send(
        &reqwest::Client::new(),
        Method::POST,
        &format!("{}/api/v1/builds/{id}/approval", server.url),
        Some(token),
        Some(("application/json", serde_json::to_vec(body).unwrap())),
    )
    .await;
    (status, answer)
}

fn approve(reason: &str) -> Value {
    json!({ "decision": "approve", "reason": reason })
}

#[tokio::test]
async fn a_manual_candidate_is_announced_and_approved_by_two_distinct_release_managers() {
    let bot = Receiver::start(
        Platform::Webhook {
            secret: BOT_SECRET.to_owned(),
        },
        Vec::new(),
    )
    .await;
    let (world, server, admin, _) =
        release_service("  release: { policy: manual, approvals: 2 }\n", &bot).await;
    let developer = server.token("dev", "developer", None);
    let alice = server.token("alice", "release-manager", None);
    let bob = server.token("bob", "release-manager", None);

    let green = build(&server, &admin).await;
    assert_eq!(green["status"]["phase"], "succeeded", "{green:#}");
    let id = green["metadata"]["name"].as_str().unwrap();
    let candidate = &releases(&server, &admin, 1).await[0];
    let version = candidate["metadata"]["name"].as_str().unwrap();
    assert_eq!(candidate["kind"], "Release");
    assert_eq!(candidate["spec"]["build"], id);
    assert_eq!(
        version, green["status"]["candidateVersion"],
        "the daily version"
    );
    assert_eq!(candidate["spec"]["bundle"], green["status"]["bundle"]);
    assert_eq!(candidate["spec"]["lockId"], green["status"]["lockId"]);
    assert_eq!(candidate["spec"]["approvalsNeeded"], 2);
    assert_eq!(candidate["status"]["state"], "candidate");

    // The release bot is told, once, with a well-signed message naming the build.
    let told = bot.wait_for(1).await;
    assert_eq!(told[0].verdict, Ok(()), "a well-signed webhook");
    assert_eq!(told[0].headers["x-chorale-event"], "approval-needed");
    assert!(
        told[0].raw.windows(id.len()).any(|w| w == id.as_bytes()),
        "the message names the build"
    );

    // A candidate is not published, by anyone; a developer may not even ask (audited as
    // denied); a daily version is no release candidate to promote. Nothing changes.
    let base = server.url.clone();
    let post = |path: String, token: String| {
        let url = format!("{base}/api/v1/releases/{path}");
        async move {
            send(
                &reqwest::Client::new(),
                Method::POST,
                &url,
                Some(&token),
                Some(("application/json", b"{}".to_vec())),
            )
            .await
        }
    };
    let (status, _, problem) = post(
        format!("{version}/publication?product=demo"),
        developer.clone(),
    )
    .await;
    assert_eq!(status, 403, "{problem:#}");
    let (status, _, problem) =
        post(format!("{version}/publication?product=demo"), alice.clone()).await;
    assert_eq!(status, 409, "{problem:#}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("is candidate; only an approved release is published"),
        "{problem:#}"
    );
    let (status, _, problem) =
        post(format!("{version}/promotion?product=demo"), alice.clone()).await;
    assert_eq!(status, 400, "{problem:#}");
    assert_eq!(problem["field"], "version", "{problem:#}");
    let (status, _, problem) = post(
        "1.0.0-rc.1/promotion?product=demo".to_owned(),
        alice.clone(),
    )
    .await;
    assert_eq!(status, 404, "{problem:#}");
    let (status, _, problem) =
        post(format!("{version}/publication?product=demo"), alice.clone()).await;
    assert_eq!(status, 409, "{problem:#}");
    assert_eq!(
        releases(&server, &admin, 1).await[0]["status"]["state"],
        "candidate",
        "refusals change nothing"
    );

    // A developer may not approve; a release manager approves once; two distinct ones
    // approve it.
    let (status, problem) = decide(&server, &developer, id, &approve("ship it")).await;
    assert_eq!(status, 403, "{problem:#}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("release-manager"),
        "{problem:#}"
    );
    let (status, release) = decide(&server, &alice, id, &approve("report read")).await;
    assert_eq!(status, 200, "{release:#}");
    assert_eq!(release["status"]["state"], "candidate");
    assert_eq!(release["status"]["approvals"], 1);
    let (status, problem) = decide(&server, &alice, id, &approve("really")).await;
    assert_eq!(status, 409, "{problem:#}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("distinct people"),
        "{problem:#}"
    );
    let (status, problem) = decide(&server, &bob, id, &json!({ "decision": "approve" })).await;
    assert_eq!(status, 400, "{problem:#}");
    assert_eq!(problem["field"], "reason", "{problem:#}");
    // Bob approves with the CLI through the server.
    let token_file = world.dir.path().join("bob.token");
    std::fs::write(&token_file, &bob).unwrap();
    let through_server = |args: &[&str]| -> Value {
        let mut line = vec!["--server", server.url.as_str()];
        line.extend(["--token-file", token_file.to_str().unwrap()]);
        line.extend(args);
        serde_json::from_str(&server.cli(&line)).unwrap()
    };
    let release = through_server(&[
        "release",
        "approve",
        id,
        "--reason",
        "tests green, notes fine",
        "-o",
        "json",
    ]);
    assert_eq!(release["status"]["state"], "approved", "{release:#}");
    assert_eq!(release["status"]["approvals"], 2);
    let done = published(&server, &admin, version).await;
    let steps: Vec<(&str, &str)> = (done["status"]["steps"].as_array().unwrap().iter())
        .map(|s| (s["step"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("registry", "skipped"),
            ("git", "skipped"),
            ("github", "skipped"),
            ("notify", "done")
        ]
    );
    let listed = through_server(&["release", "list", "--state", "published", "-o", "json"]);
    assert_eq!(listed["items"][0], done);
    let (status, problem) = decide(&server, &admin, id, &approve("late")).await;
    assert_eq!(status, 409, "{problem:#}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("published already"),
        "{problem:#}"
    );

    // The release reads the same through the API and the in-process CLI, decisions in order.
    let (status, _, shown) = send(
        &reqwest::Client::new(),
        Method::GET,
        &format!("{}/api/v1/releases/{version}?product=demo", server.url),
        Some(&developer),
        None,
    )
    .await;
    assert_eq!(status, 200, "{shown:#}");
    let actors: Vec<&str> = (shown["status"]["decisions"].as_array().unwrap().iter())
        .map(|d| d["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors, ["token:alice", "token:bob"]);
    let cli: Value = serde_json::from_str(&server.cli(&[
        "release",
        "show",
        version,
        "--product",
        "demo",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(cli, shown);

    // Every decision is in the audit log: the refused one as denied, the duplicate not at all.
    let (_, _, audit) = send(
        &reqwest::Client::new(),
        Method::GET,
        &format!("{}/api/v1/audit?limit=500", server.url),
        Some(&admin),
        None,
    )
    .await;
    let publishes: Vec<(&str, &str)> = (audit["items"].as_array().unwrap().iter())
        .filter(|e| e["action"] == "releases.publish")
        .map(|e| (e["actor"].as_str().unwrap(), e["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        publishes,
        [("token:dev", "denied")],
        "a refused publish (the release was a candidate) is not audited as done: {audit:#}"
    );
    let decisions: Vec<(&str, &str)> = (audit["items"].as_array().unwrap().iter())
        .filter(|e| e["action"] == "releases.approve")
        .map(|e| (e["actor"].as_str().unwrap(), e["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        decisions,
        [
            ("token:bob", "succeeded"),
            ("token:alice", "succeeded"),
            ("token:dev", "denied")
        ],
        "{audit:#}"
    );

    // A second green build the same day is no candidate: the version is held, and its
    // event stream says by which build.
    let second = build(&server, &admin).await;
    assert_eq!(second["status"]["phase"], "succeeded", "{second:#}");
    let second_id = second["metadata"]["name"].as_str().unwrap();
    let (_, _, events) = send(
        &reqwest::Client::new(),
        Method::GET,
        &format!("{}/api/v1/builds/{second_id}/events", server.url),
        Some(&admin),
        None,
    )
    .await;
    let events = events.as_str().unwrap_or_default().to_owned();
    assert!(
        events.contains(&format!("version {version} of demo is held by build {id}")),
        "{events}"
    );
    assert_eq!(releases(&server, &admin, 1).await.len(), 1);
    let (status, problem) = decide(&server, &alice, second_id, &approve("newer")).await;
    assert_eq!(status, 409, "{problem:#}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("is held by build"),
        "{problem:#}"
    );
    assert_eq!(bot.received().len(), 1, "approval-needed is sent once");
}

#[tokio::test]
async fn auto_approves_a_green_build_at_once_and_a_red_one_only_with_an_override() {
    let bot = Receiver::start(
        Platform::Webhook {
            secret: BOT_SECRET.to_owned(),
        },
        Vec::new(),
    )
    .await;
    let (_world, server, admin, body) = release_service(
        "  release: { policy: auto, channel: prerelease, patch: 2 }\n",
        &bot,
    )
    .await;
    let manager = server.token("rm", "release-manager", None);

    // Red: a blocking check that never passes (and gives up after a second).
    let red_body = body
        .replace(
            "      timeout: 2m\n      with:\n        checks:",
            "      timeout: 2m\n      with:\n        retryFor: 1s\n        checks:",
        )
        .replace("body: ready }", "body: never-this }");
    assert_ne!(red_body, body);
    register(&server, &admin, red_body).await;
    let red = build(&server, &admin).await;
    assert_eq!(red["status"]["phase"], "failed", "{red:#}");
    let red_id = red["metadata"]["name"].as_str().unwrap();
    let (status, problem) = decide(&server, &manager, red_id, &approve("fine")).await;
    assert_eq!(status, 409, "{problem:#}");
    assert!(
        problem["detail"].as_str().unwrap().contains("not green"),
        "{problem:#}"
    );
    let overriding = json!({
        "decision": "approve", "reason": "the readiness check is wrong, not the product",
        "override": true
    });
    let (status, release) = decide(&server, &manager, red_id, &overriding).await;
    assert_eq!(status, 200, "{release:#}");
    assert_eq!(release["metadata"]["name"], "1.0.2-rc.1");
    assert_eq!(release["status"]["state"], "approved");
    let decision = &release["status"]["decisions"][0];
    assert_eq!(decision["override"], true, "{release:#}");
    assert_eq!(decision["actor"], "token:rm");
    assert_eq!(decision["role"], "release-manager");

    // Green, with `auto`: approved by the policy as soon as it ends, the next rc.
    register(&server, &admin, body).await;
    let green = build(&server, &admin).await;
    assert_eq!(green["status"]["phase"], "succeeded", "{green:#}");
    let list = releases(&server, &admin, 2).await;
    let newest = &list[0];
    assert_eq!(newest["spec"]["build"], green["metadata"]["name"]);
    assert_eq!(newest["metadata"]["name"], "1.0.2-rc.2");
    assert_ne!(newest["status"]["state"], "candidate");
    assert_eq!(
        published(&server, &admin, "1.0.2-rc.2").await["status"]["state"],
        "published"
    );
    assert_eq!(newest["status"]["decisions"][0]["actor"], "policy:auto");
    assert!(bot.received().is_empty(), "nothing waits for approval");
    let (status, problem) = decide(&server, &manager, red_id, &approve("again")).await;
    assert_eq!(status, 409, "{problem:#}");
}

#[tokio::test]
async fn a_decision_on_a_build_that_is_no_live_candidate_is_refused_with_the_reason() {
    use chorale::errors::Error;
    use chorale::ops::releases::{ApprovalRequest, decide};
    use chorale::resources::access::{AuditEvent, Identity, Role};
    use chorale::resources::build::{Build, BundleRef, Stage, Status};
    use chorale::resources::release::{Decision, Release, ReleaseState};

    let dir = tempfile::tempdir().unwrap();
    let context = chorale::Context::open(
        dir.path(),
        None,
        chorale_runners::registry::RegistryOptions::default(),
    )
    .await
    .unwrap();
    let manager = Identity {
        actor: "token:rm".to_owned(),
        role: Role::ReleaseManager,
    };
    let now = jiff::Timestamp::from_millisecond(jiff::Timestamp::now().as_millisecond()).unwrap();
    // Three green builds of demo, each a candidate; the first one's time is up.
    let mut ids = Vec::new();
    for n in 0..3_i64 {
        let mut build = Build::start("demo", "api", &Stage::RUN);
        build.id = format!("20270115-08000{n}-ab12");
        build.created_at = now + jiff::SignedDuration::from_millis(n);
        build.finish(Status::Succeeded, None);
        context.store.save_build(&build).await.unwrap();
        let release = Release {
            version: format!("1.0.0-rc.{}", n + 1),
            product: "demo".to_owned(),
            build_id: build.id.clone(),
            bundle: BundleRef {
                repository: "127.0.0.1:5000/demo".to_owned(),
                digest: format!("sha256:{}", "d".repeat(64)),
            },
            lock_id: format!("sha256:{}", "e".repeat(64)),
            state: ReleaseState::Candidate,
            approvals_needed: 1,
            created_at: build.created_at,
            expires_at: if n == 0 {
                now - jiff::SignedDuration::from_secs(1)
            } else {
                now + jiff::SignedDuration::from_hours(1)
            },
            decided_at: None,
            decisions: Vec::new(),
            promoted_from: None,
            published_at: None,
            failure: None,
            steps: Vec::new(),
        };
        context.store.propose_release(&release, None).await.unwrap();
        ids.push(build.id);
    }
    let refusal = |result: Result<Release, Error>| match result {
        Err(Error::Conflict(message)) => message,
        other => panic!("{other:?}"),
    };
    let approve = ApprovalRequest {
        decision: Decision::Approve,
        reason: "report read".to_owned(),
        overridden: false,
    };
    let audit = |id: &str| {
        AuditEvent::new(
            &manager,
            "releases.approve",
            format!("builds/{id}/approval"),
        )
    };

    let expired = refusal(decide(&context, &manager, &ids[0], &approve, audit(&ids[0])).await);
    assert!(expired.contains("expired at"), "{expired}");
    let superseded = refusal(decide(&context, &manager, &ids[1], &approve, audit(&ids[1])).await);
    assert!(
        superseded.contains(&format!("superseded by 1.0.0-rc.3 (build {})", ids[2])),
        "{superseded}"
    );
    let approved = decide(&context, &manager, &ids[2], &approve, audit(&ids[2]))
        .await
        .unwrap();
    assert_eq!(approved.state, ReleaseState::Approved);
    let again = refusal(decide(&context, &manager, &ids[2], &approve, audit(&ids[2])).await);
    assert!(again.contains("approved already, by token:rm"), "{again}");
    let developer = Identity {
        actor: "token:dev".to_owned(),
        role: Role::Developer,
    };
    assert!(matches!(
        decide(&context, &developer, &ids[2], &approve, audit(&ids[2])).await,
        Err(Error::Forbidden { .. })
    ));
    let unknown = decide(
        &context,
        &manager,
        "20270115-090000-ffff",
        &approve,
        audit("x"),
    )
    .await;
    assert!(matches!(unknown, Err(Error::NoSuchBuild(_))), "{unknown:?}");
    let events = context.store.audit_events(10, None).await.unwrap();
    assert_eq!(
        events.len(),
        1,
        "only the approval that counted: {events:?}"
    );
}
