//! The sim provider: kube-sim started detached, reachable through its kubeconfig, torn down
//! without leftovers, also by a process that only has the cluster's record.

use std::collections::BTreeMap;
use std::time::Duration;

use chorale_runners::ClusterError;
use chorale_runners::cluster::{
    Cluster, ClusterHandle, ProviderKind, ProviderOptions, provider_for,
};
use chorale_runners::kube::Kube;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::{alive, eventually, leftovers, script, sim_options, spec, unique};

fn pid_of(cluster: &Cluster) -> u32 {
    match &cluster.handle {
        ClusterHandle::Sim { pid, .. } => *pid,
        other => panic!("a sim cluster has a sim handle, not {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn provisions_a_reachable_cluster_and_tears_it_down_without_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let name = unique("rsim");
    let provider = provider_for(ProviderKind::Sim, &sim_options());
    assert_eq!(provider.kind(), ProviderKind::Sim);

    let cluster = provider.provision(&spec(dir.path(), &name)).await.unwrap();
    assert_eq!(cluster.provider, ProviderKind::Sim);
    assert_eq!(cluster.name, name);
    assert_eq!(cluster.namespace, None);
    assert_eq!(cluster.kubeconfig, dir.path().join("sim/kubeconfig"));
    assert_eq!(
        cluster.expires_at.duration_since(cluster.created_at),
        jiff::SignedDuration::from_hours(1)
    );
    let pid = pid_of(&cluster);
    assert!(alive(pid), "kube-sim {pid} runs after provisioning");
    assert!(
        !leftovers(&name).is_empty(),
        "a running sim cluster has its podman network"
    );

    let kube = Kube::connect(&cluster.kubeconfig).await.unwrap();
    kube.create_namespace("smoke", &BTreeMap::new())
        .await
        .unwrap();
    assert!(
        std::fs::read_to_string(dir.path().join("kube-sim.log"))
            .unwrap()
            .contains("cluster ready"),
        "kube-sim logs to DIR/kube-sim.log"
    );

    provider.teardown(&cluster).await.unwrap();
    assert!(!alive(pid), "kube-sim {pid} is gone after teardown");
    assert_eq!(leftovers(&name), Vec::<String>::new());
    assert!(
        !dir.path().join("sim").exists(),
        "the state folder is removed"
    );
    assert!(dir.path().join("kube-sim.log").is_file(), "the log is kept");

    provider.teardown(&cluster).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reaper_tears_down_a_killed_cluster_from_its_record_alone() {
    let dir = tempfile::tempdir().unwrap();
    let name = unique("rreap");
    let record = {
        let provider = provider_for(ProviderKind::Sim, &sim_options());
        let cluster = provider.provision(&spec(dir.path(), &name)).await.unwrap();
        serde_json::to_string(&cluster).unwrap()
    };
    let cluster: Cluster = serde_json::from_str(&record).unwrap();
    let pid = pid_of(&cluster);

    // kube-sim dies without cleaning up, as it would with the machine's OOM killer.
    kill(Pid::from_raw(i32::try_from(pid).unwrap()), Signal::SIGKILL).unwrap();
    eventually("kube-sim to die", Duration::from_secs(10), || async {
        if alive(pid) {
            Err(format!("{pid} still runs"))
        } else {
            Ok(())
        }
    })
    .await;
    assert!(
        !leftovers(&name).is_empty(),
        "a killed kube-sim leaves its network and pods"
    );

    // The reaper knows nothing but the record: default options, a fresh provider.
    let reaper = provider_for(cluster.provider, &ProviderOptions::default());
    reaper.teardown(&cluster).await.unwrap();
    assert_eq!(leftovers(&name), Vec::<String>::new());
    reaper.teardown(&cluster).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_or_failing_kube_sim_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let options = ProviderOptions {
        kube_sim: Some("/nonexistent/kube-sim".into()),
        ..ProviderOptions::default()
    };
    let error = provider_for(ProviderKind::Sim, &options)
        .provision(&spec(dir.path(), "rmissing"))
        .await
        .unwrap_err();
    assert!(error.is_missing_cli(), "{error:?}");
    assert!(
        error.to_string().starts_with(
            "the sim cluster provider needs `/nonexistent/kube-sim`, which is not installed or not on PATH; the kube_sim option names no executable file"
        ),
        "{error}"
    );

    let broken = dir.path().join("kube-sim");
    script(
        &broken,
        "echo \"starting $*\" >&2\necho 'cannot create the cluster network: no free /23' >&2\nexit 3\n",
    );
    let options = ProviderOptions {
        kube_sim: Some(broken),
        insecure_registries: vec!["registry.internal:5000".to_owned()],
        ..ProviderOptions::default()
    };
    let error = provider_for(ProviderKind::Sim, &options)
        .provision(&spec(dir.path(), "rbroken"))
        .await
        .unwrap_err();
    assert!(matches!(error, ClusterError::SimExited { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "cluster rbroken: kube-sim exited (exit status: 3) before it was ready; its log {log} ends with:\nstarting serve --dir {state} --name rbroken --owner-pid {pid} --insecure-registry registry.internal:5000\ncannot create the cluster network: no free /23",
            log = dir.path().join("kube-sim.log").display(),
            state = dir.path().join("sim").display(),
            pid = std::process::id(),
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_start_kills_kube_sim_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("calls");
    let slow = dir.path().join("kube-sim");
    script(
        &slow,
        &format!(
            "echo \"$*\" >>{record}\ncase \"$1\" in serve) echo $$ >{pid}; exec sleep 600 ;; esac\n",
            record = record.display(),
            pid = dir.path().join("pid").display()
        ),
    );
    let options = ProviderOptions {
        kube_sim: Some(slow),
        ..ProviderOptions::default()
    };
    let provider = provider_for(ProviderKind::Sim, &options);
    let work = tempfile::tempdir().unwrap();
    let spec = spec(work.path(), "rcancel");
    let provisioning = provider.provision(&spec);
    // Cancel once the (never ready) kube-sim runs, as a SIGINT of chorale would.
    let pid = tokio::select! {
        result = provisioning => panic!("a kube-sim that never prints its ready line: {result:?}"),
        pid = eventually("the stand-in kube-sim to run", Duration::from_secs(10), || async {
            std::fs::read_to_string(dir.path().join("pid"))
                .ok()
                .and_then(|pid| pid.trim().parse::<u32>().ok())
                .ok_or_else(|| "no pid yet".to_owned())
        }) => pid,
    };
    eventually(
        "the cancelled kube-sim to be killed and cleaned up after",
        Duration::from_secs(10),
        || async {
            let calls = std::fs::read_to_string(&record).unwrap_or_default();
            if !alive(pid) && calls.contains("cleanup --name rcancel") {
                Ok(())
            } else {
                Err(format!("alive: {}, calls: {calls}", alive(pid)))
            }
        },
    )
    .await;
}
