//! helm 3.10 against a sim cluster: install, upgrade, test and uninstall a real chart, and an
//! atomic install that fails because an image cannot be pulled.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Fixture, Sim, wait_for};

fn chart() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/chart")
        .to_string_lossy()
        .into_owned()
}

fn ok(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "helm failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `helm VERB shop CHART --set VALUE... --wait --atomic`; returns the Deployment afterwards.
fn release(sim: &Sim, verb: &str, values: &[&str]) -> Value {
    let chart = chart();
    let mut args = vec![
        verb,
        "shop",
        &chart,
        "--wait",
        "--atomic",
        "--timeout",
        "120s",
    ];
    for value in values {
        args.extend(["--set", value]);
    }
    ok(&sim.helm(&args));
    sim.get("deployment", "shop-web", "default")
        .expect("the deployment")
}

#[test]
fn helm_installs_upgrades_tests_and_uninstalls_a_chart() {
    let fixture = Fixture::start("helm");
    let (sim, image) = (&fixture.sim, &fixture.image);
    let image_value = format!("image={image}");

    let deployment = release(sim, "install", &[&image_value]);
    assert_eq!(
        deployment["status"]["readyReplicas"], 2,
        "{}",
        deployment["status"]
    );
    let test = ok(&sim.helm(&["test", "shop", "--logs"]));
    assert!(test.contains("Phase:          Succeeded"), "{test}");
    assert!(test.contains("test passed: hello"), "{test}");

    // A three-way strategic merge patch of the Deployment: new content, three replicas.
    let deployment = release(
        sim,
        "upgrade",
        &[&image_value, "message=bonjour", "replicas=3"],
    );
    assert_eq!(
        deployment["status"]["updatedReplicas"], 3,
        "{}",
        deployment["status"]
    );
    assert_eq!(
        deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
    let config_map = sim
        .get("configmap", "shop-content", "default")
        .expect("the config map");
    assert_eq!(config_map["data"]["index.html"], "bonjour");
    // The old ReplicaSet was scaled down by the rolling update.
    let replica_sets: Value =
        serde_json::from_str(&sim.kubectl_ok(&["get", "rs", "-l", "app=shop-web", "-o", "json"]))
            .expect("JSON");
    let mut scales: Vec<i64> = replica_sets["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|rs| rs["spec"]["replicas"].as_i64().unwrap_or(-1))
        .collect();
    scales.sort_unstable();
    assert_eq!(scales, vec![0, 3]);
    let rollout = sim.kubectl_ok(&["rollout", "status", "deployment/shop-web", "--timeout=10s"]);
    assert!(rollout.contains("successfully rolled out"), "{rollout}");

    // A second `helm test` replaces the finished test pod (hook deletion before creation).
    let test = ok(&sim.helm(&["test", "shop", "--logs"]));
    assert!(test.contains("test passed: bonjour"), "{test}");

    ok(&sim.helm(&["uninstall", "shop", "--wait", "--timeout", "60s"]));
    assert!(sim.get("deployment", "shop-web", "default").is_none());
    assert!(sim.get("service", "shop-web", "default").is_none());
    wait_for(
        "the release's pods to be gone",
        Duration::from_mins(1),
        || {
            sim.kubectl_ok(&["get", "pods", "-l", "app=shop-web", "-o", "name"])
                .trim()
                .is_empty()
                .then_some(())
        },
        || sim.kubectl_ok(&["get", "pods"]),
    );
    let releases = ok(&sim.helm(&["list", "--all", "-q"]));
    assert_eq!(releases.trim(), "");
}

#[test]
fn an_atomic_install_whose_image_cannot_be_pulled_fails_and_rolls_back() {
    let fixture = Fixture::start("pull");
    let (sim, image) = (&fixture.sim, &fixture.image);
    let missing = image.replace("busybox:1", "missing:1");
    let chart = chart();
    let image_value = format!("image={missing}");

    std::thread::scope(|scope| {
        let install = scope.spawn(|| {
            sim.helm(&[
                "install",
                "broken",
                &chart,
                "--set",
                &image_value,
                "--wait",
                "--atomic",
                "--timeout",
                "25s",
            ])
        });
        let reason = wait_for(
            "a pod waiting on its image",
            Duration::from_secs(25),
            || {
                let pods: Value = serde_json::from_str(&sim.kubectl_ok(&[
                    "get",
                    "pods",
                    "-l",
                    "app=broken-web",
                    "-o",
                    "json",
                ]))
                .ok()?;
                pods["items"].as_array()?.iter().find_map(|pod| {
                    let reason =
                        pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                            .as_str()?;
                    matches!(reason, "ErrImagePull" | "ImagePullBackOff").then(|| reason.to_owned())
                })
            },
            || sim.kubectl_ok(&["get", "pods", "-o", "wide"]),
        );
        assert!(matches!(
            reason.as_str(),
            "ErrImagePull" | "ImagePullBackOff"
        ));
        let events: Value =
            serde_json::from_str(&sim.kubectl_ok(&["get", "events", "-o", "json"])).expect("JSON");
        let failed_pull = events["items"].as_array().expect("items").iter().any(|e| {
            e["type"] == "Warning"
                && e["reason"] == "Failed"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("Failed to pull image"))
        });
        assert!(failed_pull, "the kubelet records the failed pull: {events}");
        let output = install.join().expect("the helm thread");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "the install must fail");
        assert!(
            stderr.contains("atomic") || stderr.contains("timed out"),
            "{stderr}"
        );
    });
    assert!(
        sim.get("deployment", "broken-web", "default").is_none(),
        "--atomic removed the release's objects"
    );
    let releases = ok(&sim.helm(&["list", "--all", "-q"]));
    assert_eq!(releases.trim(), "", "--atomic uninstalled the release");
}
