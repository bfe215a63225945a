//! Starting, stopping and cleaning up clusters.

use std::time::Duration;

use crate::support::{Fixture, run, run_ok, sim, wait_for};

fn podman_objects(name: &str) -> Vec<String> {
    let filter = format!("label=dev.chorale.kube-sim/cluster={name}");
    let mut found = Vec::new();
    for args in [
        vec!["ps", "-a", "--format", "{{.Names}}", "--filter", &filter],
        vec!["pod", "ps", "--format", "{{.Name}}", "--filter", &filter],
        vec![
            "network",
            "ls",
            "--format",
            "{{.Name}}",
            "--filter",
            &filter,
        ],
    ] {
        found.extend(
            run_ok("podman", &args, &[])
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
    }
    found
}

const RUNNING_POD: &str = r"
apiVersion: v1
kind: Pod
metadata:
  name: sleeper
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      image: IMAGE
      command: [/bin/sleep, '3600']
";

#[test]
fn serve_prints_its_ready_line_and_sigterm_removes_every_container_and_network() {
    let mut fixture = Fixture::start("life");
    let image = fixture.image.clone();
    let name = fixture.sim.name.clone();
    let sim = &mut fixture.sim;

    assert_eq!(sim.ready["name"], name.as_str());
    assert!(
        sim.server.starts_with("https://127.0.0.1:"),
        "{}",
        sim.server
    );
    assert_eq!(sim.ready["pid"], sim.pid());
    assert!(sim.kubeconfig.is_file());
    let pid_file = std::fs::read_to_string(sim.dir().join("kube-sim.pid")).expect("the pid file");
    assert_eq!(pid_file.trim(), sim.pid().to_string());
    let kubeconfig = std::fs::read_to_string(&sim.kubeconfig).expect("the kubeconfig");
    assert!(
        kubeconfig.contains(&format!("current-context: {name}")),
        "{kubeconfig}"
    );

    sim.apply(&RUNNING_POD.replace("IMAGE", &image));
    sim.wait("pod", "sleeper", "default", Duration::from_mins(1), |p| {
        p["status"]["phase"] == "Running"
    });
    assert!(
        !podman_objects(&name).is_empty(),
        "the cluster runs podman objects"
    );

    let status = sim.stop();
    assert!(status.success(), "kube-sim exited with {status}");
    assert_eq!(
        podman_objects(&name),
        Vec::<String>::new(),
        "objects left after SIGTERM"
    );
    let addresses = run_ok("ip", &["-o", "addr"], &[]);
    assert!(
        !addresses.contains("10.201.") || !addresses.contains(&format!("ksim-{name}")),
        "{addresses}"
    );
}

#[test]
fn cleanup_removes_what_a_killed_cluster_left_behind() {
    let mut fixture = Fixture::start("killed");
    let image = fixture.image.clone();
    let name = fixture.sim.name.clone();
    let sim = &mut fixture.sim;
    sim.apply(&RUNNING_POD.replace("IMAGE", &image));
    sim.wait("pod", "sleeper", "default", Duration::from_mins(1), |p| {
        p["status"]["phase"] == "Running"
    });

    sim.kill();
    assert!(
        !podman_objects(&name).is_empty(),
        "SIGKILL leaves the cluster's objects behind"
    );
    // ... but not the podman processes kube-sim ran (they watch its pipe).
    let label = format!("dev.chorale.kube-sim/cluster={name}");
    wait_for(
        "kube-sim's podman processes to end",
        Duration::from_secs(10),
        || (!run("pgrep", &["-f", &label], &[]).status.success()).then_some(()),
        || String::from_utf8_lossy(&run("pgrep", &["-af", &label], &[]).stdout).into_owned(),
    );
    run_ok(sim::binary(), &["cleanup", "--name", &name], &[]);
    assert_eq!(
        podman_objects(&name),
        Vec::<String>::new(),
        "objects left after cleanup"
    );
    // Nothing left: cleanup is idempotent.
    run_ok(sim::binary(), &["cleanup", "--name", &name], &[]);
}

/// The cluster bridge's sysfs attribute `attribute` (`address`, `addr_assign_type`).
fn bridge_attribute(cluster: &str, attribute: &str) -> String {
    let inspect = run_ok(
        "podman",
        &["network", "inspect", &format!("ksim-{cluster}")],
        &[],
    );
    let network: serde_json::Value = serde_json::from_str(&inspect).expect("JSON");
    let interface = network[0]["network_interface"]
        .as_str()
        .expect("the network names its bridge");
    std::fs::read_to_string(format!("/sys/class/net/{interface}/{attribute}"))
        .expect("the bridge is in sysfs")
        .trim()
        .to_owned()
}

#[test]
fn the_bridge_keeps_its_mac_while_pods_come_and_go() {
    let fixture = Fixture::start("mac");
    let (sim, image) = (&fixture.sim, &fixture.image);
    let name = sim.name.clone();
    // 3: the address was set, so the kernel never swaps it for a port's (which would leave
    // every pod's ARP entry for the gateway and the Service IPs pointing nowhere).
    assert_eq!(bridge_attribute(&name, "addr_assign_type"), "3");
    let mac = bridge_attribute(&name, "address");
    for pod in ["first", "second", "third"] {
        sim.apply(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{ name: {pod} }}\nspec:\n  restartPolicy: Never\n  containers:\n    - {{ name: main, image: {image}, command: [/bin/true] }}\n"
        ));
    }
    for pod in ["first", "second", "third"] {
        sim.wait("pod", pod, "default", Duration::from_secs(90), |p| {
            p["status"]["phase"] == "Succeeded"
        });
        sim.kubectl_ok(&["delete", "pod", pod, "--wait=true"]);
    }
    assert_eq!(bridge_attribute(&name, "address"), mac);
}
