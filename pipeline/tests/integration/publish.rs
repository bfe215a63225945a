//! Publishing releases against real peers: a second docker-registry as the release registry,
//! the product's configuration repository behind a real `git daemon` receiving the tag (checked
//! with git itself on the bare repository), GitHub's REST API as Prism serves it from GitHub's
//! own OpenAPI description (every request validated) behind a recording stand-in that keeps
//! releases, and a webhook receiver checking Chorale's signature for `released`. The builds are
//! made by the `chorale` binary from a committed checkout of the configuration.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use chorale_testkit::Registry;
use chorale_testkit::github::{Fault, GithubFake, Prism};
use chorale_testkit::webhook::{Platform, Receiver};

use crate::api::Server;
use crate::cli::{chorale, text};
use crate::support::{World, git, skopeo};

const BOT_SECRET: &str = "release-bot-hmac-secret";
const GITHUB_TOKEN: &str = "ghp_publishing-test-token";

/// How a [`Publishing`] fixture differs from the plain one.
#[derive(Debug, Default, Clone, Copy)]
struct Setup {
    /// `channel: prerelease`: versions `1.0.0-rc.N`.
    prerelease: bool,
    /// The release registry wants basic authentication (and the publisher has no credentials
    /// unless a test gives them).
    locked_registry: bool,
}

/// The release registry's user and password when it is locked.
const REGISTRY_USER: (&str, &str) = ("publisher", "registry-s3cret");

/// A product whose configuration lives in a git repository, published to real peers.
struct Publishing {
    world: World,
    releases: Registry,
    github: GithubFake,
    bot: Receiver,
    /// The configuration's bare repository, served by the git daemon.
    config_bare: PathBuf,
    /// The committed checkout the builds are made from.
    checkout: PathBuf,
}

impl Publishing {
    async fn new() -> Self {
        Self::with(Setup::default()).await
    }

    async fn with(setup: Setup) -> Self {
        let world = World::new();
        let releases = if setup.locked_registry {
            Registry::start_with_basic_auth(REGISTRY_USER.0, REGISTRY_USER.1)
        } else {
            Registry::start()
        }
        .expect("a second docker-registry");
        let prism = Prism::shared().expect("Prism serves GitHub's API description");
        let github = GithubFake::start(prism).await;
        let bot = Receiver::start(
            Platform::Webhook {
                secret: BOT_SECRET.to_owned(),
            },
            Vec::new(),
        )
        .await;
        let chart = world.chart_repo("db", "chart", "db");
        let image = world.push_image("demo/db:main");
        let config = world.git.create_repo("product-config").unwrap();
        let checkout = world.dir.path().join("config");
        git(world.dir.path(), &["clone", "-q", config.url(), "config"]);
        let manifest = format!(
            r#"apiVersion: chorale.dev/v1alpha1
kind: Product
metadata: {{ name: demo }}
spec:
  versionLine: "1.0"
  release:
    policy: manual{channel}
    publish:
      registry: {releases}/releases
      git: {{ repository: "{config}" }}
      github: {{ repository: acme/demo, apiUrl: "{github}", token: {{ env: GITHUB_TOKEN }} }}
  notifications:
    - name: release-bot
      events: [released]
      timeoutSeconds: 2
      webhook: {{ url: {{ env: RELEASE_BOT_URL }}, secret: {{ env: RELEASE_BOT_SECRET }} }}
  components:
    - name: db
      source: {{ git: {chart}, ref: main, chartPath: chart }}
      images:
        - ref: {image}
"#,
            channel = if setup.prerelease {
                "\n    channel: prerelease"
            } else {
                ""
            },
            releases = releases.host(),
            config = config.url(),
            github = github.url(),
            chart = chart.url(),
            image = image.reference,
        );
        std::fs::write(checkout.join("product.yaml"), manifest).unwrap();
        git(&checkout, &["add", "-A"]);
        git(&checkout, &["commit", "-q", "-m", "the product"]);
        git(&checkout, &["push", "-q", "origin", "HEAD:main"]);
        Self {
            config_bare: config.path().to_owned(),
            world,
            releases,
            github,
            bot,
            checkout,
        }
    }

    fn state(&self) -> PathBuf {
        self.world.state()
    }

    /// `chorale ARGS` with the peers' secrets in its environment.
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command =
            tokio::process::Command::from(chorale(&self.state(), self.world.dir.path()));
        command
            .args(args)
            .env("GITHUB_TOKEN", GITHUB_TOKEN)
            .env("RELEASE_BOT_URL", self.bot.url())
            .env("RELEASE_BOT_SECRET", BOT_SECRET)
            .kill_on_drop(true);
        command
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().await.unwrap()
    }

    /// `chorale ARGS -o json` that must succeed.
    async fn json(&self, args: &[&str]) -> Value {
        let mut line = args.to_vec();
        line.extend(["-o", "json"]);
        let output = self.run(&line).await;
        assert!(
            output.status.success(),
            "chorale {args:?}: {:?}",
            text(&output)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// A build with a bundle, made from the committed checkout: its id and its bundle.
    async fn bundle(&self) -> (String, Value) {
        let manifest = self.checkout.join("product.yaml");
        let bundle = self.json(&["bundle", manifest.to_str().unwrap()]).await;
        let list = self.json(&["builds", "list", "--limit", "1"]).await;
        let id = list["items"][0]["metadata"]["name"].as_str().unwrap();
        (id.to_owned(), bundle)
    }

    /// `chorale release show VERSION --product demo -o json`.
    async fn show(&self, version: &str) -> Value {
        self.json(&["release", "show", version, "--product", "demo"])
            .await
    }

    /// git in the configuration's bare repository.
    fn bare_git(&self, args: &[&str]) -> String {
        let mut line = vec!["--git-dir", self.config_bare.to_str().unwrap()];
        line.extend(args);
        git(self.world.dir.path(), &line)
    }

    /// The GitHub releases created (successful `POST /repos/acme/demo/releases`).
    fn releases_created(&self) -> usize {
        self.github
            .requests()
            .iter()
            .filter(|r| {
                r.method == "POST"
                    && r.path() == "/repos/acme/demo/releases"
                    && r.status == Some(201)
            })
            .count()
    }
    /// The tags of `repository` in the release registry (skopeo as an independent client).
    fn release_tags(&self, repository: &str) -> Vec<String> {
        let mut args = vec!["list-tags".to_owned(), "--tls-verify=false".to_owned()];
        if let Some((user, password)) = self.releases.credentials() {
            args.extend(["--creds".to_owned(), format!("{user}:{password}")]);
        }
        args.push(format!("docker://{}/{repository}", self.releases.host()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let listed: Value = serde_json::from_str(&skopeo(&args)).unwrap();
        let mut tags: Vec<String> = listed["Tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect();
        tags.sort();
        tags
    }

    /// The bodies of the GitHub releases created, in order.
    fn release_requests(&self) -> Vec<Value> {
        self.github
            .requests()
            .iter()
            .filter(|r| {
                r.method == "POST"
                    && r.path() == "/repos/acme/demo/releases"
                    && r.status == Some(201)
            })
            .map(|r| serde_json::from_str(&r.body).unwrap())
            .collect()
    }

    /// `chorale ARGS` that must fail with exit code `code`: its stderr.
    async fn refused(&self, args: &[&str], code: i32) -> String {
        let output = self.run(args).await;
        let (_, stderr) = text(&output);
        assert_eq!(
            output.status.code(),
            Some(code),
            "chorale {args:?}: {stderr}"
        );
        stderr
    }

    /// Retry `chorale release publish VERSION` until it takes the release over from a process
    /// that died (its lease ran out): the release as published.
    async fn take_over(&self, version: &str) -> Value {
        for _ in 0..150 {
            let output = self
                .run(&[
                    "release",
                    "publish",
                    version,
                    "--product",
                    "demo",
                    "-o",
                    "json",
                ])
                .await;
            if output.status.success() {
                return serde_json::from_slice::<Value>(&output.stdout).unwrap();
            }
            let (_, stderr) = text(&output);
            assert!(
                stderr.contains("being published by another process"),
                "{stderr}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("{version} was not taken over within 30 s");
    }
}

/// The state of each step of a release's journal, with its attempts.
fn journal(release: &Value) -> Vec<(String, String, u64)> {
    release["status"]["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .map(|s| {
                    (
                        s["step"].as_str().unwrap().to_owned(),
                        s["state"].as_str().unwrap().to_owned(),
                        s["attempts"].as_u64().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn step(name: &str, state: &str, attempts: u64) -> (String, String, u64) {
    (name.to_owned(), state.to_owned(), attempts)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approved_build_is_published_everywhere_once_and_a_failed_step_resumes_after_the_fix() {
    let peers = Publishing::new().await;
    let (build, bundle) = peers.bundle().await;
    let shown = peers.json(&["builds", "show", &build]).await;
    let config_commit = shown["status"]["config"]["commit"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(shown["status"]["config"]["dirty"], false);
    let bundle_digest = shown["status"]["bundle"]["digest"]
        .as_str()
        .unwrap()
        .to_owned();

    // Someone tagged the version on another commit already: the git step fails for good.
    let version = format!("1.0.{}", jiff::Timestamp::now().strftime("%Y%m%d"));
    git(
        &peers.checkout,
        &["commit", "-q", "--allow-empty", "-m", "later"],
    );
    let other = git(&peers.checkout, &["rev-parse", "HEAD"]);
    git(
        &peers.checkout,
        &["push", "-q", "origin", "HEAD:refs/heads/other"],
    );
    peers.bare_git(&["tag", &format!("v{version}"), &other]);

    let approved = peers
        .run(&[
            "release",
            "approve",
            &build,
            "--reason",
            "tests green",
            "-o",
            "json",
        ])
        .await;
    let (_, stderr) = text(&approved);
    assert_eq!(approved.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains(&format!("publishing demo {version} failed at step git"))
            && stderr.contains(&config_commit)
            && stderr.contains("--resume"),
        "{stderr}"
    );
    let failed = peers.show(&version).await;
    assert_eq!(failed["status"]["state"], "publish-failed", "{failed:#}");
    assert_eq!(failed["status"]["failure"]["step"], "git");
    assert_eq!(
        journal(&failed),
        [step("registry", "done", 1), step("git", "failed", 1)]
    );
    // The registry step is done: the version tag names the bundle's digest, and so do the
    // charts' tags; nothing later happened.
    let tagged = format!("docker://{}/releases/demo:{version}", peers.releases.host());
    let inspected: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &tagged,
    ]))
    .unwrap();
    assert!(inspected["layers"].is_array(), "{inspected:#}");
    assert_eq!(
        peers
            .releases
            .digest_of(&format!("releases/demo:{version}"))
            .unwrap(),
        bundle_digest
    );
    let chart = &bundle["status"]["charts"][0];
    let chart_tag = chart["reference"]
        .as_str()
        .unwrap()
        .rsplit_once(':')
        .unwrap()
        .1;
    assert_eq!(
        peers
            .releases
            .digest_of(&format!("releases/charts/db:{chart_tag}"))
            .unwrap(),
        chart["digest"].as_str().unwrap()
    );
    assert_eq!(
        peers.releases_created(),
        0,
        "GitHub is not asked before git"
    );
    assert!(peers.bot.received().is_empty(), "nothing is announced");

    // Publishing again without --resume says what failed and how to go on.
    let refused = peers
        .run(&["release", "publish", &version, "--product", "demo"])
        .await;
    let (_, stderr) = text(&refused);
    assert_eq!(refused.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("at step git") && stderr.contains("--resume"),
        "{stderr}"
    );

    // The cause is fixed (the stray tag goes); --resume goes on from the git step.
    peers.bare_git(&["tag", "-d", &format!("v{version}")]);
    let published = peers
        .json(&[
            "release",
            "publish",
            &version,
            "--product",
            "demo",
            "--resume",
        ])
        .await;
    assert_eq!(published["status"]["state"], "published", "{published:#}");
    assert!(published["status"]["publishedAt"].is_string());
    assert_eq!(
        journal(&published),
        [
            step("registry", "done", 1),
            step("git", "done", 2),
            step("github", "done", 1),
            step("notify", "done", 1)
        ]
    );
    // git itself reads an annotated tag on the configuration commit, naming the bundle.
    let tag = format!("v{version}");
    assert_eq!(peers.bare_git(&["cat-file", "-t", &tag]), "tag");
    assert_eq!(
        peers.bare_git(&["rev-parse", &format!("{tag}^{{commit}}")]),
        config_commit
    );
    assert!(
        peers
            .bare_git(&["cat-file", "-p", &tag])
            .contains(&bundle_digest)
    );
    // One GitHub release, with the lock attached, every request valid for GitHub's API.
    assert_eq!(peers.releases_created(), 1);
    assert!(
        Prism::shared().unwrap().violations().is_empty(),
        "{:?}",
        Prism::shared().unwrap().violations()
    );
    // The release bot is told once, `released`, naming the version.
    let told = peers.bot.wait_for(1).await;
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].verdict, Ok(()));
    assert_eq!(told[0].headers["x-chorale-event"], "released");
    assert!(String::from_utf8_lossy(&told[0].raw).contains(&version));

    // A version is published once.
    let again = peers
        .run(&[
            "release",
            "publish",
            &version,
            "--product",
            "demo",
            "--resume",
        ])
        .await;
    let (_, stderr) = text(&again);
    assert_eq!(again.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("published already"), "{stderr}");
    assert_eq!(peers.releases_created(), 1);
    assert_eq!(peers.bot.received().len(), 1);

    // The build shows the version it is released as.
    let shown = peers.json(&["builds", "show", &build]).await;
    assert_eq!(
        shown["status"]["releases"],
        serde_json::json!([{ "version": version, "state": "published" }])
    );

    // So does its report.
    let report = peers.run(&["report", &build, "--format", "md"]).await;
    let (report, _) = text(&report);
    assert!(
        report.starts_with(&format!("# demo {version} ")),
        "{report}"
    );

    // The notes say what was released, on which digest, approved by whom.
    let notes = peers
        .run(&["release", "notes", &version, "--product", "demo"])
        .await;
    let (notes, _) = text(&notes);
    assert!(notes.contains(&format!("# demo {version}")), "{notes}");
    assert!(notes.contains(&bundle_digest), "{notes}");
    assert!(notes.contains("tests green"), "{notes}");
}

/// The peer of a publishing step, made to hang while the publisher is inside that step.
#[derive(Debug, Clone, Copy)]
enum Peer {
    /// The release registry (SIGSTOP), for the `registry` step.
    Registry,
    /// The git daemon serving the configuration (SIGSTOP), for the `git` step.
    Git,
    /// GitHub never answers the release's creation, for the `github` step.
    Github,
    /// The release bot holds the `released` notification, for the `notify` step.
    Bot,
}

const STEPS: [&str; 4] = ["registry", "git", "github", "notify"];

impl Peer {
    fn step(self) -> &'static str {
        STEPS[self as usize]
    }

    fn hang(self, peers: &Publishing) {
        match self {
            Peer::Registry => peers.releases.pause(),
            Peer::Git => peers.world.git.pause(),
            Peer::Github => {
                peers
                    .github
                    .fail("POST", "/repos/acme/demo/releases", 1, Fault::Hang);
            }
            Peer::Bot => peers.bot.hold(),
        }
    }

    /// Whether the publisher waits on this peer: the step is started in the journal and, for
    /// GitHub and the bot, the request arrived.
    fn holds(self, peers: &Publishing, release: &Value) -> bool {
        let started = journal(release)
            .last()
            .is_some_and(|(step, state, _)| step == self.step() && state == "started");
        started
            && match self {
                Peer::Registry | Peer::Git => true,
                Peer::Github => peers
                    .github
                    .requests()
                    .iter()
                    .any(|r| r.method == "POST" && r.status.is_none()),
                Peer::Bot => peers.bot.held() > 0,
            }
    }

    fn let_go(self, peers: &Publishing) {
        match self {
            Peer::Registry => peers.releases.resume(),
            Peer::Git => peers.world.git.resume(),
            // A hang is for one request; the next is answered.
            Peer::Github => {}
            Peer::Bot => peers.bot.let_go(),
        }
    }
}

/// A publisher killed (-9) inside the step of `peer`, which hangs; the peer goes on, and
/// another process takes the release over once the dead one's lease ran out: every step
/// happens once — one version tag on the bundle's digest, one git tag, one GitHub release, one
/// `released` — and the release is published.
/// Who takes a release over from a publisher that died.
enum TakeOver {
    /// `chorale release publish` by hand.
    Cli,
    /// A `chorale serve` started afterwards on the same state: its housekeeping.
    Service,
}

async fn killed_inside_a_step_and_taken_over(peer: Peer, by: TakeOver) {
    let peers = Publishing::new().await;
    let (build, _) = peers.bundle().await;
    let shown = peers.json(&["builds", "show", &build]).await;
    let bundle_digest = shown["status"]["bundle"]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let version = format!("1.0.{}", jiff::Timestamp::now().strftime("%Y%m%d"));
    peer.hang(&peers);
    let mut publisher = peers
        .command(&[
            "release", "approve", &build, "--reason", "ship", "--lease", "3s",
        ])
        .spawn()
        .unwrap();
    let mut held = false;
    for _ in 0..600 {
        let output = peers
            .run(&[
                "release",
                "show",
                &version,
                "--product",
                "demo",
                "-o",
                "json",
            ])
            .await;
        if output.status.success()
            && peer.holds(&peers, &serde_json::from_slice(&output.stdout).unwrap())
        {
            held = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(held, "the publisher reached the {} step", peer.step());
    publisher.start_kill().unwrap();
    publisher.wait().await.unwrap();
    let stopped = peers.show(&version).await;
    assert_eq!(stopped["status"]["state"], "publishing", "{stopped:#}");
    let at = peer as usize;
    let mut expected: Vec<_> = STEPS[..at].iter().map(|s| step(s, "done", 1)).collect();
    expected.push(step(peer.step(), "started", 1));
    assert_eq!(journal(&stopped), expected, "{stopped:#}");

    peer.let_go(&peers);
    let published = match by {
        TakeOver::Cli => peers.take_over(&version).await,
        TakeOver::Service => {
            let envs = [
                ("GITHUB_TOKEN", GITHUB_TOKEN.to_owned()),
                ("RELEASE_BOT_URL", peers.bot.url()),
                ("RELEASE_BOT_SECRET", BOT_SECRET.to_owned()),
            ];
            let _server = tokio::task::block_in_place(|| {
                Server::start_with(
                    &peers.state(),
                    peers.world.dir.path(),
                    None,
                    &["--lease", "3s", "--grace", "0s"],
                    &envs,
                )
            });
            let mut published = None;
            for _ in 0..300 {
                let release = peers.show(&version).await;
                if release["status"]["state"] == "published" {
                    published = Some(release);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            published.expect("the service published the release within 30 s")
        }
    };
    assert_eq!(published["status"]["state"], "published", "{published:#}");
    let expected: Vec<_> = STEPS
        .iter()
        .enumerate()
        .map(|(i, s)| step(s, "done", if i == at { 2 } else { 1 }))
        .collect();
    assert_eq!(journal(&published), expected, "{published:#}");
    assert_eq!(peers.release_tags("releases/demo"), [version.as_str()]);
    assert_eq!(
        peers
            .releases
            .digest_of(&format!("releases/demo:{version}"))
            .unwrap(),
        bundle_digest
    );
    assert_eq!(peers.bare_git(&["tag", "--list"]), format!("v{version}"));
    assert_eq!(peers.releases_created(), 1, "one GitHub release");
    // The notify step ends when the bot was told: nothing more can come.
    let told = peers.bot.received();
    assert_eq!(told.len(), 1, "released is told once");
    assert_eq!(told[0].verdict, Ok(()));
    assert_eq!(told[0].headers["x-chorale-event"], "released");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publisher_killed_while_the_release_registry_hangs_is_taken_over_once() {
    killed_inside_a_step_and_taken_over(Peer::Registry, TakeOver::Cli).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publisher_killed_while_the_git_daemon_hangs_is_taken_over_once() {
    killed_inside_a_step_and_taken_over(Peer::Git, TakeOver::Cli).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publisher_killed_while_github_hangs_is_taken_over_once() {
    killed_inside_a_step_and_taken_over(Peer::Github, TakeOver::Cli).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publisher_killed_while_the_release_bot_hangs_is_taken_over_once_by_the_service() {
    killed_inside_a_step_and_taken_over(Peer::Bot, TakeOver::Service).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registry_that_refuses_fails_the_first_step_and_nothing_later_until_credentials_are_given()
 {
    let peers = Publishing::with(Setup {
        locked_registry: true,
        ..Setup::default()
    })
    .await;
    let (build, _) = peers.bundle().await;
    let version = format!("1.0.{}", jiff::Timestamp::now().strftime("%Y%m%d"));
    let stderr = peers
        .refused(&["release", "approve", &build, "--reason", "ship"], 5)
        .await;
    assert!(
        stderr.contains(&format!(
            "publishing demo {version} failed at step registry"
        )) && stderr.contains("--resume"),
        "{stderr}"
    );
    let failed = peers.show(&version).await;
    assert_eq!(failed["status"]["state"], "publish-failed", "{failed:#}");
    assert_eq!(failed["status"]["failure"]["step"], "registry");
    let error = failed["status"]["failure"]["error"].as_str().unwrap();
    assert!(
        error.contains("401") || error.to_lowercase().contains("unauthorized"),
        "{error}"
    );
    assert_eq!(journal(&failed), [step("registry", "failed", 1)]);
    assert!(!error.contains(REGISTRY_USER.1));
    // Nothing later happened.
    assert_eq!(peers.bare_git(&["tag", "--list"]), "");
    assert!(peers.github.requests().is_empty(), "GitHub is not asked");
    assert!(peers.bot.received().is_empty(), "nothing is announced");

    // The cause is fixed: the publisher has the registry's credentials (a docker config).
    let docker = peers.world.dir.path().join("docker");
    peers.releases.write_docker_config(&docker).unwrap();
    let output = peers
        .command(&[
            "release",
            "publish",
            &version,
            "--product",
            "demo",
            "--resume",
            "-o",
            "json",
        ])
        .env("DOCKER_CONFIG", &docker)
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{:?}", text(&output));
    let published: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(published["status"]["state"], "published", "{published:#}");
    assert_eq!(
        journal(&published),
        [
            step("registry", "done", 2),
            step("git", "done", 1),
            step("github", "done", 1),
            step("notify", "done", 1)
        ]
    );
    assert_eq!(peers.release_tags("releases/demo"), [version.as_str()]);
    assert_eq!(peers.bare_git(&["tag", "--list"]), format!("v{version}"));
    assert_eq!(peers.releases_created(), 1);
    assert_eq!(peers.bot.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn github_refusing_fails_its_step_for_good_and_its_server_errors_are_retried_inside_it() {
    let peers = Publishing::with(Setup {
        prerelease: true,
        ..Setup::default()
    })
    .await;

    // 422 is final: publish-failed at github, nothing announced; --resume publishes.
    peers
        .github
        .fail("POST", "/repos/acme/demo/releases", 1, Fault::Status(422));
    let (first, _) = peers.bundle().await;
    let stderr = peers
        .refused(&["release", "approve", &first, "--reason", "ship"], 5)
        .await;
    assert!(
        stderr.contains("publishing demo 1.0.0-rc.1 failed at step github"),
        "{stderr}"
    );
    let failed = peers.show("1.0.0-rc.1").await;
    assert_eq!(failed["status"]["state"], "publish-failed", "{failed:#}");
    assert_eq!(failed["status"]["failure"]["step"], "github");
    assert!(
        failed["status"]["failure"]["error"]
            .as_str()
            .unwrap()
            .contains("422"),
        "{failed:#}"
    );
    assert_eq!(
        journal(&failed),
        [
            step("registry", "done", 1),
            step("git", "done", 1),
            step("github", "failed", 1)
        ]
    );
    assert!(peers.bot.received().is_empty(), "nothing is announced");
    let published = peers
        .json(&[
            "release",
            "publish",
            "1.0.0-rc.1",
            "--product",
            "demo",
            "--resume",
        ])
        .await;
    assert_eq!(published["status"]["state"], "published", "{published:#}");
    assert_eq!(
        journal(&published),
        [
            step("registry", "done", 1),
            step("git", "done", 1),
            step("github", "done", 2),
            step("notify", "done", 1)
        ]
    );
    assert_eq!(peers.releases_created(), 1, "one release");
    assert_eq!(peers.bot.received().len(), 1);

    // 500 twice is transient: retried inside the step, which succeeds at its first attempt.
    peers
        .github
        .fail("POST", "/repos/acme/demo/releases", 2, Fault::Status(500));
    let (second, _) = peers.bundle().await;
    let approved = peers
        .json(&["release", "approve", &second, "--reason", "ship"])
        .await;
    let published = peers.show("1.0.0-rc.2").await;
    assert_eq!(
        published["status"]["state"], "published",
        "{approved:#}\n{published:#}"
    );
    assert_eq!(
        journal(&published),
        [
            step("registry", "done", 1),
            step("git", "done", 1),
            step("github", "done", 1),
            step("notify", "done", 1)
        ]
    );
    let tried: Vec<_> = peers
        .github
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path() == "/repos/acme/demo/releases")
        .filter_map(|r| r.status)
        .collect();
    assert_eq!(tried, [422, 201, 500, 500, 201]);
    assert_eq!(peers.releases_created(), 2);
    assert_eq!(peers.bot.wait_for(2).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_published_rc_is_promoted_on_the_same_bundle_once_and_bad_requests_change_nothing() {
    let peers = Publishing::with(Setup {
        prerelease: true,
        ..Setup::default()
    })
    .await;
    let (build, _) = peers.bundle().await;
    peers
        .json(&["release", "approve", &build, "--reason", "rc ready"])
        .await;
    let rc = peers.show("1.0.0-rc.1").await;
    assert_eq!(rc["status"]["state"], "published", "{rc:#}");
    let rc_digest = peers
        .releases
        .digest_of("releases/demo:1.0.0-rc.1")
        .unwrap();

    let promoted = peers
        .json(&["release", "promote", "1.0.0-rc.1", "--product", "demo"])
        .await;
    assert_eq!(promoted["status"]["state"], "published", "{promoted:#}");
    assert_eq!(
        journal(&promoted),
        STEPS.iter().map(|s| step(s, "done", 1)).collect::<Vec<_>>()
    );
    // The same bundle: the final tag names the rc's digest, and nothing was sent to say so.
    assert_eq!(
        peers.releases.digest_of("releases/demo:1.0.0").unwrap(),
        rc_digest
    );
    let registry = &promoted["status"]["steps"][0];
    assert!(
        registry["detail"]
            .as_str()
            .unwrap()
            .contains("0 sent (0 bytes)"),
        "{registry:#}"
    );
    assert_eq!(
        peers.release_tags("releases/demo"),
        ["1.0.0".to_owned(), "1.0.0-rc.1".to_owned()]
    );
    // The same configuration commit.
    assert_eq!(
        peers.bare_git(&["rev-parse", "v1.0.0^{commit}"]),
        peers.bare_git(&["rev-parse", "v1.0.0-rc.1^{commit}"])
    );
    // A second GitHub release, not a pre-release.
    let made = peers.release_requests();
    assert_eq!(made.len(), 2, "{made:#?}");
    assert_eq!(
        (
            made[0]["tag_name"].as_str(),
            made[0]["prerelease"].as_bool()
        ),
        (Some("v1.0.0-rc.1"), Some(true))
    );
    assert_eq!(
        (
            made[1]["tag_name"].as_str(),
            made[1]["prerelease"].as_bool()
        ),
        (Some("v1.0.0"), Some(false))
    );
    // Each version is announced once.
    let told = peers.bot.wait_for(2).await;
    assert_eq!(told.len(), 2);
    assert!(String::from_utf8_lossy(&told[0].raw).contains("1.0.0-rc.1"));
    assert!(
        told[1].body["report"]["candidateVersion"] == "1.0.0" || {
            let raw = String::from_utf8_lossy(&told[1].raw);
            raw.contains("1.0.0") && !raw.contains("1.0.0-rc.1")
        },
        "{:#}",
        told[1].body
    );

    // Refused, and nothing changes: promoting again (the final version exists) …
    let before = (
        peers.release_tags("releases/demo"),
        peers.bare_git(&["tag", "--list"]),
        peers.github.requests().len(),
        peers.bot.received().len(),
    );
    let unchanged = |peers: &Publishing| {
        (
            peers.release_tags("releases/demo"),
            peers.bare_git(&["tag", "--list"]),
            peers.github.requests().len(),
            peers.bot.received().len(),
        )
    };
    let stderr = peers
        .refused(
            &["release", "promote", "1.0.0-rc.1", "--product", "demo"],
            3,
        )
        .await;
    assert!(stderr.contains("1.0.0 exists already"), "{stderr}");
    assert_eq!(unchanged(&peers), before);
    // … an rc that failed to publish …
    let (second, _) = peers.bundle().await;
    peers
        .github
        .fail("POST", "/repos/acme/demo/releases", 1, Fault::Status(422));
    peers
        .refused(&["release", "approve", &second, "--reason", "rc2"], 5)
        .await;
    assert_eq!(
        peers.show("1.0.0-rc.2").await["status"]["state"],
        "publish-failed"
    );
    let before = unchanged(&peers);
    let stderr = peers
        .refused(
            &["release", "promote", "1.0.0-rc.2", "--product", "demo"],
            3,
        )
        .await;
    assert!(
        stderr.contains("1.0.0-rc.2 is publish-failed, not published"),
        "{stderr}"
    );
    // … and a version that is not an rc.
    let stderr = peers
        .refused(&["release", "promote", "1.0.0", "--product", "demo"], 3)
        .await;
    assert!(stderr.contains("1.0.0"), "{stderr}");
    assert_eq!(unchanged(&peers), before);
    assert_eq!(
        peers.show("1.0.0").await["status"]["steps"],
        promoted["status"]["steps"]
    );
    // … and publishing an unknown version.
    let stderr = peers
        .refused(&["release", "publish", "9.9.9", "--product", "demo"], 3)
        .await;
    assert!(stderr.contains("9.9.9"), "{stderr}");
    assert_eq!(unchanged(&peers), before);
    let failed = peers.show("1.0.0-rc.2").await;
    assert_eq!(failed["status"]["state"], "publish-failed", "{failed:#}");
}
