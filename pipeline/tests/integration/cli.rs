//! The `chorale` binary as users run it: output formats, exit codes, credentials from the
//! environment and from the docker auth file.

use std::path::Path;
use std::process::{Command, Output};

use chorale_testkit::Registry;
use serde_json::Value;

use crate::support::{World, git};

/// `chorale` with its state in `state` and no credentials from the user's home.
pub(crate) fn chorale(state: &Path, home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chorale"));
    command
        .arg("--state-dir")
        .arg(state)
        .env("HOME", home)
        .env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("CHORALE_DATABASE_URL")
        .env_remove("CHORALE_SERVER")
        .env_remove("CHORALE_TOKEN");
    command
}

/// stdout and stderr of a finished command.
pub(crate) fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn product(world: &World, name: &str) -> std::path::PathBuf {
    let db = world.chart_repo(name, "chart", name);
    let image = world.push_image(&format!("demo/{name}:main"));
    world.product(&format!(
        r#"apiVersion: chorale.dev/v1alpha1
kind: Product
metadata: {{ name: demo }}
spec:
  versionLine: "1.0"
  components:
    - name: {name}
      source: {{ git: {}, ref: main, chartPath: chart }}
      images:
        - ref: {}
"#,
        db.url(),
        image.reference
    ))
}

#[test]
fn a_build_records_the_commit_of_the_configuration_its_manifest_is_in() {
    let world = World::new();
    // The product file alone in a folder that becomes a work tree.
    let manifest = world.dir.path().join("config/product.yaml");
    std::fs::create_dir_all(manifest.parent().unwrap()).unwrap();
    std::fs::copy(product(&world, "db"), &manifest).unwrap();
    let config = manifest.parent().unwrap().to_owned();
    let git = |args: &[&str]| git(&config, args);
    let state = world.dir.path().join("state-outside");
    let bundle = || {
        let output = chorale(&state, world.dir.path())
            .args(["bundle", "-o", "json"])
            .arg(&manifest)
            .output()
            .unwrap();
        assert!(output.status.success(), "{:?}", text(&output));
        let list = chorale(&state, world.dir.path())
            .args(["builds", "list", "--limit", "1", "-o", "json"])
            .output()
            .unwrap();
        let list: Value = serde_json::from_slice(&list.stdout).unwrap();
        list["items"][0]["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let show = |id: &str| -> Value {
        let output = chorale(&state, world.dir.path())
            .args(["builds", "show", id, "-o", "json"])
            .output()
            .unwrap();
        serde_json::from_slice(&output.stdout).unwrap()
    };

    // Not in a work tree: nothing is recorded.
    let outside = bundle();
    assert!(show(&outside)["status"].get("config").is_none());

    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "the product"]);
    let head = git(&["rev-parse", "HEAD"]);
    let clean = show(&bundle());
    assert_eq!(
        clean["status"]["config"],
        serde_json::json!({"commit": head, "dirty": false})
    );
    std::fs::write(manifest.with_file_name("notes.txt"), "not committed\n").unwrap();
    let dirty = bundle();
    assert_eq!(show(&dirty)["status"]["config"]["dirty"], true);
    let shown = chorale(&state, world.dir.path())
        .args(["builds", "show", &dirty])
        .output()
        .unwrap();
    assert!(
        text(&shown)
            .0
            .contains(&format!("config   {head} (with changes not committed)")),
        "{:?}",
        text(&shown)
    );
}

#[test]
fn validate_exits_zero_only_for_a_valid_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/manifests");
    let ok = chorale(dir.path(), dir.path())
        .arg("validate")
        .arg(fixtures.join("valid/product.yaml"))
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{:?}", text(&ok));
    assert!(
        text(&ok)
            .0
            .contains("product `demo` is valid (4 components)")
    );
    let bad = chorale(dir.path(), dir.path())
        .arg("validate")
        .arg(fixtures.join("invalid/everything.yaml"))
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(chorale::errors::exit::INVALID_INPUT)
    );
    let stderr = text(&bad).1;
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.contains("everything.yaml:"))
            .count(),
        11,
        "{stderr}"
    );
    assert!(
        stderr.ends_with("error: 11 problem(s) in the manifest\n"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("state.db").exists(),
        "validate stores nothing"
    );
}

#[test]
fn snapshot_prints_the_lock_as_json_and_builds_are_listed() {
    let world = World::new();
    let manifest = product(&world, "db");
    let state = world.state();
    let output = chorale(&state, world.dir.path())
        .args(["snapshot", "--output", "json"])
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(output.status.success(), "{:?}", text(&output));
    let lock: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(lock["apiVersion"], "chorale.dev/v1alpha1");
    assert_eq!(lock["kind"], "Lock");
    assert_eq!(lock["spec"]["product"], "demo");
    assert_eq!(lock["metadata"]["labels"]["chorale.dev/product"], "demo");
    assert!(
        lock["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let component = &lock["spec"]["components"][0];
    assert_eq!(component["name"], "db");
    assert_eq!(component["source"]["ref"], "main");
    assert_eq!(component["source"]["commit"].as_str().unwrap().len(), 40);
    assert!(
        component["chart"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(
        component["images"][0]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );

    let bundle = chorale(&state, world.dir.path())
        .args(["bundle", "-o", "json", "--registry"])
        .arg(format!("{}/chorale", world.registry.host()))
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(bundle.status.success(), "{:?}", text(&bundle));
    let bundle: Value = serde_json::from_slice(&bundle.stdout).unwrap();
    assert_eq!(bundle["kind"], "Bundle");
    assert!(
        bundle["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(bundle["spec"]["lockId"], lock["metadata"]["name"]);
    for key in ["reference", "tags", "charts", "uploadedBytes"] {
        assert!(
            bundle["status"].get(key).is_some(),
            "bundle output has `status.{key}`: {bundle}"
        );
    }
    assert!(
        bundle["status"]["charts"][0]["reference"]
            .as_str()
            .unwrap()
            .contains("/chorale/charts/db:")
    );

    let list = chorale(&state, world.dir.path())
        .args(["builds", "list", "-o", "json"])
        .output()
        .unwrap();
    let builds: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(builds["kind"], "BuildList");
    let id = builds["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(builds["items"][0]["status"]["phase"], "succeeded");
    let show = chorale(&state, world.dir.path())
        .args(["builds", "show", &id])
        .output()
        .unwrap();
    let (shown, _) = text(&show);
    assert!(shown.contains(&format!("build    {id}")), "{shown}");
    assert!(shown.contains("snapshot   succeeded"), "{shown}");
    assert!(shown.contains("bundle     succeeded"), "{shown}");
    let missing = chorale(&state, world.dir.path())
        .args(["builds", "show", "nope"])
        .output()
        .unwrap();
    assert_eq!(
        missing.status.code(),
        Some(chorale::errors::exit::INVALID_INPUT)
    );
    // Said as `notifications list` says it: no such build.
    let (_, stderr) = text(&missing);
    assert!(stderr.contains("no build `nope` is recorded"), "{stderr}");
}

#[test]
fn diff_names_the_moved_commit_and_digest() {
    let world = World::new();
    let db = world.chart_repo("db", "chart", "db");
    let manifest = world.product(&format!(
        r#"apiVersion: chorale.dev/v1alpha1
kind: Product
metadata: {{ name: demo }}
spec:
  versionLine: "1.0"
  components:
    - name: db
      source: {{ git: {}, ref: main, chartPath: chart }}
"#,
        db.url()
    ));
    let state = world.state();
    let lock_of = |output: Output| -> String {
        assert!(output.status.success(), "{:?}", text(&output));
        serde_json::from_slice::<Value>(&output.stdout).unwrap()["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let first_commit = db.rev_parse("main").unwrap();
    let first = lock_of(
        chorale(&state, world.dir.path())
            .args(["snapshot", "-o", "json"])
            .arg(&manifest)
            .output()
            .unwrap(),
    );
    db.write_file("chart/templates/more.yaml", "# more\n")
        .unwrap();
    let second_commit = db.commit("more").unwrap();
    let second = lock_of(
        chorale(&state, world.dir.path())
            .args(["snapshot", "-o", "json"])
            .arg(&manifest)
            .output()
            .unwrap(),
    );
    let diff = chorale(&state, world.dir.path())
        .args(["diff", &first[..20], &second, "-o", "json"])
        .output()
        .unwrap();
    assert!(diff.status.success(), "{:?}", text(&diff));
    let diff: Value = serde_json::from_slice(&diff.stdout).unwrap();
    assert_eq!(diff["components"][0]["name"], "db");
    assert_eq!(
        diff["components"][0]["commit"]["old"],
        first_commit.as_str()
    );
    assert_eq!(
        diff["components"][0]["commit"]["new"],
        second_commit.as_str()
    );
    let text_diff = chorale(&state, world.dir.path())
        .args(["diff", &first, &second])
        .output()
        .unwrap();
    assert!(
        text(&text_diff)
            .0
            .contains(&format!("commit  {first_commit} -> {second_commit}"))
    );
}

#[test]
fn registry_credentials_come_from_the_environment_or_the_docker_auth_file() {
    let world = World::with_registry(Registry::start_with_basic_auth("ci", "hunter22").unwrap());
    let manifest = product(&world, "db");
    let target = format!("{}/chorale", world.registry.host());
    let bundle = |command: &mut Command| {
        command
            .args(["bundle", "-o", "json", "--registry", &target])
            .arg(&manifest)
            .output()
            .unwrap()
    };

    // No credentials: a clear refusal, exit code for input/infrastructure, no secret printed.
    let denied = bundle(&mut chorale(&world.state(), world.dir.path()));
    let (_, stderr) = text(&denied);
    assert_ne!(denied.status.code(), Some(0));
    assert!(stderr.contains("refused access"), "{stderr}");

    // From the environment.
    let env_host = chorale_runners::errors::env_host(&world.registry.host());
    let from_env = bundle(
        chorale(&world.state(), world.dir.path())
            .env(format!("CHORALE_REGISTRY_{env_host}_USERNAME"), "ci")
            .env(format!("CHORALE_REGISTRY_{env_host}_PASSWORD"), "hunter22"),
    );
    assert!(from_env.status.success(), "{:?}", text(&from_env));
    assert!(!text(&from_env).0.contains("hunter22"));

    // From ~/.docker/config.json.
    let home = world.dir.path().join("home");
    world
        .registry
        .write_docker_config(&home.join(".docker"))
        .unwrap();
    let from_file = bundle(&mut chorale(&world.state(), &home));
    assert!(from_file.status.success(), "{:?}", text(&from_file));
}

#[test]
fn token_authentication_works_end_to_end() {
    let world =
        World::with_registry(Registry::start_with_token_auth("robot", "t0ken-pass").unwrap());
    let manifest = product(&world, "db");
    let target = format!("{}/chorale", world.registry.host());
    let home = world.dir.path().join("home");
    world
        .registry
        .write_docker_config(&home.join(".docker"))
        .unwrap();
    let output = chorale(&world.state(), &home)
        .args(["bundle", "-o", "json", "--registry", &target])
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(output.status.success(), "{:?}", text(&output));
    let wrong = chorale(&world.state(), world.dir.path())
        .env(
            format!(
                "CHORALE_REGISTRY_{}_USERNAME",
                chorale_runners::errors::env_host(&world.registry.host())
            ),
            "robot",
        )
        .env(
            format!(
                "CHORALE_REGISTRY_{}_PASSWORD",
                chorale_runners::errors::env_host(&world.registry.host())
            ),
            "wrong",
        )
        .args(["snapshot"])
        .arg(&manifest)
        .output()
        .unwrap();
    assert_ne!(wrong.status.code(), Some(0));
    assert!(
        text(&wrong).1.contains("refused access"),
        "{:?}",
        text(&wrong)
    );
}
