//! Publishing releases against real peers: a second docker-registry as the release registry,
//! the product's configuration repository behind a real `git daemon` receiving the tag (checked
//! with git itself on the bare repository), GitHub's REST API as Prism serves it from GitHub's
//! own OpenAPI description (every request validated) behind a recording stand-in that keeps
//! releases, and a webhook receiver checking Chorale's signature for `released`. The builds are
//! made by the `chorale` binary from a committed checkout of the configuration.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use chorale_testkit::Registry;
use chorale_testkit::github::{Fault, GithubFake, Prism};
use chorale_testkit::webhook::{Platform, Receiver};

use crate::cli::{chorale, text};
use crate::support::{World, skopeo};

const BOT_SECRET: &str = "release-bot-hmac-secret";
const GITHUB_TOKEN: &str = "ghp_publishing-test-token";

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
        let world = World::new();
        let releases = Registry::start().expect("a second docker-registry");
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
    policy: manual
    publish:
      registry: {releases}/releases
      git: {{ repository: "{config}" }}
      github: {{ repository: acme/demo, apiUrl: "{github}", token: {{ env: GITHUB_TOKEN }} }}
  notifications:
    - name: release-bot
      events: [released]
      webhook: {{ url: {{ env: RELEASE_BOT_URL }}, secret: {{ env: RELEASE_BOT_SECRET }} }}
  components:
    - name: db
      source: {{ git: {chart}, ref: main, chartPath: chart }}
      images:
        - ref: {image}
"#,
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
}

/// `git ARGS` in `dir`, which must succeed; its trimmed stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args(["-c", "user.name=ci", "-c", "user.email=ci@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {:?}", text(&output));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
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

    // The notes say what was released, on which digest, approved by whom.
    let notes = peers
        .run(&["release", "notes", &version, "--product", "demo"])
        .await;
    let (notes, _) = text(&notes);
    assert!(notes.contains(&format!("# demo {version}")), "{notes}");
    assert!(notes.contains(&bundle_digest), "{notes}");
    assert!(notes.contains("tests green"), "{notes}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publisher_killed_while_github_hangs_is_taken_over_and_everything_happens_once() {
    let peers = Publishing::new().await;
    let (build, _) = peers.bundle().await;
    let version = format!("1.0.{}", jiff::Timestamp::now().strftime("%Y%m%d"));
    // GitHub hangs on making the release; the publisher is killed (-9) while it waits.
    peers
        .github
        .fail("POST", "/repos/acme/demo/releases", 1, Fault::Hang);
    let mut publisher = peers
        .command(&[
            "release", "approve", &build, "--reason", "ship", "--lease", "3s",
        ])
        .spawn()
        .unwrap();
    let mut hung = false;
    for _ in 0..600 {
        if peers
            .github
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.status.is_none())
        {
            hung = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(hung, "the publisher reached GitHub");
    publisher.start_kill().unwrap();
    publisher.wait().await.unwrap();
    let stopped = peers.show(&version).await;
    assert_eq!(stopped["status"]["state"], "publishing", "{stopped:#}");
    assert_eq!(
        journal(&stopped),
        [
            step("registry", "done", 1),
            step("git", "done", 1),
            step("github", "started", 1)
        ]
    );

    // Another process takes over once the dead one's lease ran out.
    let mut taken = None;
    for _ in 0..100 {
        let output = peers
            .run(&[
                "release",
                "publish",
                &version,
                "--product",
                "demo",
                "-o",
                "json",
            ])
            .await;
        if output.status.success() {
            taken = Some(serde_json::from_slice::<Value>(&output.stdout).unwrap());
            break;
        }
        let (_, stderr) = text(&output);
        assert!(
            stderr.contains("being published by another process"),
            "{stderr}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let published = taken.expect("taken over within 20 s");
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
    assert_eq!(peers.releases_created(), 1, "one GitHub release");
    assert_eq!(peers.bare_git(&["tag", "--list"]), format!("v{version}"));
    assert_eq!(peers.bot.wait_for(1).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(peers.bot.received().len(), 1, "released is told once");
}
