//! The kube-sim fixture: built from this workspace, serving until dropped, leaving nothing.

use std::path::Path;
use std::process::Command;

use chorale_testkit::{SimCluster, kube_sim_binary};

fn podman_networks(name: &str) -> String {
    let output = Command::new("podman")
        .args(["network", "ls", "--format", "{{.Name}}", "--filter"])
        .arg(format!("label=dev.chorale.kube-sim/cluster={name}"))
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn a_sim_cluster_serves_until_dropped_and_leaves_nothing() {
    let binary = kube_sim_binary().unwrap();
    assert_eq!(
        kube_sim_binary().unwrap(),
        binary,
        "built once, then cached"
    );
    assert!(binary.ends_with("debug/kube-sim"), "{}", binary.display());

    let sim = SimCluster::start("tk").unwrap();
    let (name, pid) = (sim.name().to_owned(), sim.pid());
    assert!(name.starts_with("tk-"), "{name}");
    assert!(
        sim.server().starts_with("https://127.0.0.1:"),
        "{}",
        sim.server()
    );
    let ready = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(sim.kubeconfig())
        .args(["get", "--raw", "/readyz"])
        .output()
        .expect("kubectl is installed by infra/dev/install");
    assert_eq!(
        String::from_utf8_lossy(&ready.stdout),
        "ok",
        "{}",
        String::from_utf8_lossy(&ready.stderr)
    );
    assert_eq!(podman_networks(&name), format!("ksim-{name}"));
    assert!(sim.log().contains("cluster ready"), "{}", sim.log());

    drop(sim);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "kube-sim {pid} exited"
    );
    assert_eq!(podman_networks(&name), "");
}
