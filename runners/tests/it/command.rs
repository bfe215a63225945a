//! The command provider: the operator's shell commands make and delete the cluster (here, a
//! kube-sim started in the background).

use std::collections::BTreeMap;
use std::path::Path;

use chorale_runners::ClusterError;
use chorale_runners::cluster::{ClusterHandle, ProviderKind, ProviderOptions, provider_for};
use chorale_runners::kube::Kube;
use chorale_testkit::kube_sim_binary;

use crate::support::{alive, leftovers, script, spec, unique};

/// Scripts that run kube-sim in the background and stop it; the delete script records the
/// variables it was given and succeeds when the cluster is gone.
fn scripts(dir: &Path) -> ProviderOptions {
    let kube_sim = kube_sim_binary().expect("building kube-sim");
    let create = dir.join("create.sh");
    script(
        &create,
        &format!(
            r#"set -e
"{kube_sim}" serve --dir "$CHORALE_CLUSTER_DIR/sim" --name "$CHORALE_CLUSTER_NAME" >ready 2>kube-sim.log </dev/null &
echo $! >pid
for _ in $(seq 300); do [ -s ready ] && break; sleep 0.1; done
echo "started $CHORALE_CLUSTER_NAME"
echo sim/kubeconfig
"#,
            kube_sim = kube_sim.display()
        ),
    );
    let delete = dir.join("delete.sh");
    script(
        &delete,
        r#"echo "$CHORALE_CLUSTER_NAME $CHORALE_CLUSTER_DIR $CHORALE_KUBECONFIG" >>"$CHORALE_CLUSTER_DIR/deleted"
[ -f "$CHORALE_CLUSTER_DIR/pid" ] || exit 0
pid=$(cat "$CHORALE_CLUSTER_DIR/pid")
kill -TERM "$pid"
while grep -q kube-sim "/proc/$pid/cmdline" 2>/dev/null; do sleep 0.1; done
rm "$CHORALE_CLUSTER_DIR/pid"
"#,
    );
    ProviderOptions {
        create_command: Some(create.display().to_string()),
        delete_command: Some(delete.display().to_string()),
        ..ProviderOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_the_operators_create_and_delete_commands() {
    let scripts_dir = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = unique("rcmd");
    let options = scripts(scripts_dir.path());
    let provider = provider_for(ProviderKind::Command, &options);

    let cluster = provider.provision(&spec(dir.path(), &name)).await.unwrap();
    let kubeconfig = dir.path().join("sim/kubeconfig");
    assert_eq!(cluster.kubeconfig, kubeconfig);
    assert_eq!(cluster.namespace, None);
    assert_eq!(
        cluster.handle,
        ClusterHandle::Command {
            delete_command: options.delete_command.clone().unwrap(),
            dir: dir.path().to_owned(),
            kubeconfig: kubeconfig.clone(),
        }
    );
    let pid: u32 = std::fs::read_to_string(dir.path().join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    Kube::connect(&cluster.kubeconfig)
        .await
        .unwrap()
        .create_namespace("smoke", &BTreeMap::new())
        .await
        .unwrap();

    // Torn down from its record by a provider that has no options.
    let reaper = provider_for(ProviderKind::Command, &ProviderOptions::default());
    reaper.teardown(&cluster).await.unwrap();
    assert!(!alive(pid), "the delete command stopped kube-sim");
    assert_eq!(leftovers(&name), Vec::<String>::new());
    reaper.teardown(&cluster).await.unwrap();
    let expected = format!("{name} {} {}\n", dir.path().display(), kubeconfig.display());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("deleted")).unwrap(),
        expected.repeat(2),
        "the delete command ran twice with the cluster's variables"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_create_command_reports_its_stderr_and_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let options = ProviderOptions {
        create_command: Some(
            "echo preparing; echo 'no capacity left in pool gpu-a' >&2; exit 7".to_owned(),
        ),
        delete_command: Some("touch deleted-after-failure".to_owned()),
        ..ProviderOptions::default()
    };
    let error = provider_for(ProviderKind::Command, &options)
        .provision(&spec(dir.path(), "rfail"))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "cluster rfail: `sh -c echo preparing; echo 'no capacity left in pool gpu-a' >&2; exit 7` failed (exit status: 7):\nno capacity left in pool gpu-a"
    );
    assert!(dir.path().join("deleted-after-failure").is_file());

    let options = ProviderOptions {
        create_command: Some("echo nowhere.yaml".to_owned()),
        ..options
    };
    let error = provider_for(ProviderKind::Command, &options)
        .provision(&spec(dir.path(), "rnowhere"))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "cluster rnowhere: `sh -c echo nowhere.yaml` printed `nowhere.yaml` as the kubeconfig path, but {} is not a file",
            dir.path().join("nowhere.yaml").display()
        )
    );

    let error = provider_for(ProviderKind::Command, &ProviderOptions::default())
        .provision(&spec(dir.path(), "runset"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClusterError::NotConfigured { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "the command cluster provider needs a create command; set create_command: a shell command that makes the cluster and prints its kubeconfig path as its last line"
    );
}
