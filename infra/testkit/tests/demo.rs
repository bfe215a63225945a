//! The demo product published to fixtures: every git ref, image and OCI chart the manifests
//! name exists, as independent clients (git, skopeo, helm) see it; seeding is idempotent;
//! the charts are lint-clean and pin images by digest.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chorale_testkit::{DemoProduct, GitDaemon, Registry, helm, workspace_root};
use serde_json::Value;

fn yaml(path: &Path) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every component of the product, with `file:` entries resolved to their `spec` (plus name).
fn components(demo: &DemoProduct) -> Vec<Value> {
    let product = yaml(&demo.manifest());
    product["spec"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| match entry["file"].as_str() {
            Some(file) => {
                let document = yaml(&demo.dir().join(file));
                assert_eq!(document["kind"], "Component");
                let mut spec = document["spec"].clone();
                spec["name"] = document["metadata"]["name"].clone();
                spec
            }
            None => entry.clone(),
        })
        .collect()
}

fn run(command: &mut Command) -> Output {
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn everything_the_manifests_name_is_published() {
    let (registry, git) = (Registry::start().unwrap(), GitDaemon::start().unwrap());
    let work = tempfile::tempdir().unwrap();
    let demo = DemoProduct::seed(&registry, &git, work.path()).unwrap();
    let components = components(&demo);
    assert!(components.len() >= 6);

    for component in &components {
        let name = component["name"].as_str().unwrap();
        if let Some(source) = component.get("source") {
            let url = source["git"].as_str().unwrap();
            let reference = source["ref"].as_str().unwrap();
            assert!(url.starts_with(&format!("git://{}/", git.host())), "{url}");
            let listed = run(Command::new("git").args(["ls-remote", url, reference]));
            let commit = demo.commit(name, reference).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&listed.stdout),
                format!("{commit}\trefs/heads/{reference}\n")
            );
            let chart = git.base_dir().join(format!("{name}.git"));
            let path = format!(
                "{reference}:{}/Chart.yaml",
                source["chartPath"].as_str().unwrap()
            );
            run(Command::new("git")
                .arg("--git-dir")
                .arg(chart)
                .args(["cat-file", "-e", &path]));
        } else {
            let chart = &component["chart"];
            let oci = chart["oci"].as_str().unwrap();
            assert_eq!(oci, format!("oci://{}/charts/{name}", registry.host()));
            let pulled = tempfile::tempdir().unwrap();
            let output = run(Command::new(helm().unwrap())
                .args(["pull", oci, "--version", chart["version"].as_str().unwrap()])
                .arg("--destination")
                .arg(pulled.path())
                .env("HELM_CONFIG_HOME", pulled.path().join("config"))
                .env("HELM_CACHE_HOME", pulled.path().join("cache")));
            let printed = String::from_utf8_lossy(&output.stderr).into_owned()
                + &String::from_utf8_lossy(&output.stdout);
            // The range ^1.0 picks 1.1.0 over 1.0.0 and 2.0.0.
            assert!(
                printed.contains(&format!("charts/{name}:1.1.0")),
                "{printed}"
            );
            let digest = demo.chart_digest(name, "1.1.0").unwrap();
            assert!(printed.contains(digest), "{printed}");
            assert!(demo.chart_digest(name, "2.0.0").is_some());
        }
        for image in component["images"].as_array().unwrap() {
            let reference = image["ref"].as_str().unwrap();
            let (host, repository) = reference.split_once('/').unwrap();
            assert_eq!(host, registry.host());
            assert_eq!(
                registry.digest_of(repository).unwrap(),
                demo.image_digest(reference).unwrap(),
                "{reference}"
            );
        }
    }
}

#[test]
fn the_demo_has_a_diamond_and_an_independent_component() {
    let (registry, git) = (Registry::start().unwrap(), GitDaemon::start().unwrap());
    let work = tempfile::tempdir().unwrap();
    let demo = DemoProduct::seed(&registry, &git, work.path()).unwrap();
    let depends_on = |name: &str| -> Vec<String> {
        components(&demo)
            .into_iter()
            .find(|component| component["name"] == name)
            .map(|component| {
                component["dependsOn"]
                    .as_array()
                    .map(|names| {
                        names
                            .iter()
                            .map(|n| n.as_str().unwrap().to_owned())
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .unwrap()
    };
    assert_eq!(depends_on("web"), ["api", "worker"]);
    assert!(depends_on("api").contains(&"db".to_owned()));
    assert!(depends_on("worker").contains(&"db".to_owned()));
    assert!(depends_on("docs").is_empty());
    assert!(
        components(&demo)
            .iter()
            .all(|c| !depends_on(c["name"].as_str().unwrap()).contains(&"docs".to_owned()))
    );
}

#[test]
fn seeding_again_changes_nothing() {
    let (registry, git) = (Registry::start().unwrap(), GitDaemon::start().unwrap());
    let (first_dir, second_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = DemoProduct::seed(&registry, &git, first_dir.path()).unwrap();
    let second = DemoProduct::seed(&registry, &git, second_dir.path()).unwrap();
    assert_eq!(first.images(), second.images());
    for (repository, reference) in [("db", "main"), ("api", "release-2"), ("web", "main")] {
        assert_eq!(
            first.commit(repository, reference),
            second.commit(repository, reference)
        );
    }
    for version in ["1.0.0", "1.1.0", "2.0.0"] {
        assert_eq!(
            first.chart_digest("cache", version),
            second.chart_digest("cache", version)
        );
    }
    // Another registry and git daemon: the same commits and images (deterministic).
    let (registry2, git2) = (Registry::start().unwrap(), GitDaemon::start().unwrap());
    let third_dir = tempfile::tempdir().unwrap();
    let third = DemoProduct::seed(&registry2, &git2, third_dir.path()).unwrap();
    assert_eq!(
        first.commit("api", "release-2"),
        third.commit("api", "release-2")
    );
    // Charts are repacked reproducibly: a fresh registry gets the same chart digests.
    assert_eq!(
        first.chart_digest("cache", "1.1.0"),
        third.chart_digest("cache", "1.1.0")
    );
    let probe = |demo: &DemoProduct, host: String| {
        demo.image_digest(&format!("{host}/demo/api:main"))
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        probe(&first, registry.host()),
        probe(&third, registry2.host())
    );
}

fn charts() -> Vec<PathBuf> {
    let sources = workspace_root().join("product-manifests/demo/sources");
    let mut charts: Vec<PathBuf> = std::fs::read_dir(&sources)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .flat_map(|dir| [dir.join("chart"), dir.join("deploy/chart")])
        .filter(|chart| chart.join("Chart.yaml").is_file())
        .collect();
    charts.sort();
    charts
}

#[test]
fn every_chart_is_lint_clean_and_pins_images_by_digest() {
    let helm = helm().unwrap();
    let charts = charts();
    assert_eq!(charts.len(), 6);
    for chart in charts {
        let lint = run(Command::new(&helm).args(["lint", "--strict"]).arg(&chart));
        let printed = String::from_utf8_lossy(&lint.stdout);
        assert!(
            !printed.contains("[WARNING]") && !printed.contains("[INFO]"),
            "{printed}"
        );

        let template = |digest: Option<&str>| {
            let mut command = Command::new(&helm);
            command.args(["template", "demo"]).arg(&chart).args([
                "--set=image.repository=r.example/demo/x",
                "--set=probe.repository=r.example/probe",
                "--set=probe.digest=sha256:1",
            ]);
            if let Some(digest) = digest {
                command.arg(format!("--set=image.digest={digest}"));
            }
            command.output().unwrap()
        };
        let missing = template(None);
        assert!(!missing.status.success());
        let error = String::from_utf8_lossy(&missing.stderr);
        assert!(
            error.contains("image.digest is required (images are pinned by digest"),
            "{error}"
        );

        let rendered = template(Some("sha256:2"));
        assert!(rendered.status.success());
        let manifests = String::from_utf8_lossy(&rendered.stdout);
        assert!(
            manifests.contains("image: \"r.example/demo/x@sha256:2\""),
            "{manifests}"
        );
        assert!(
            manifests.contains("image: \"r.example/probe@sha256:1\""),
            "{manifests}"
        );
        assert!(manifests.contains("helm.sh/hook: test"));
        assert!(manifests.contains("path: /readyz"));
    }
}
