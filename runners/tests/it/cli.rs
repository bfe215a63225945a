//! The kind, k3d and vcluster providers, driven against stand-in CLIs (shell scripts that
//! record their arguments): none of the real ones can run on this machine.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use chorale_runners::ClusterError;
use chorale_runners::cluster::{
    Cluster, ClusterHandle, ProviderKind, ProviderOptions, provider_for,
};

use crate::support::{script, spec};

/// A stand-in for `program` in `bin`: appends `program ARGS (KUBECONFIG=…)` to `bin/calls`,
/// fails `create` with a message on stderr when `fail_create`, and prints a kubeconfig for
/// `kubeconfig get` (k3d) and `connect … --print` (vcluster).
fn stand_in(bin: &Path, program: &str, fail_create: bool) {
    let failure = if fail_create {
        "echo 'ERROR: failed to create cluster: the node image is missing' >&2; exit 1"
    } else {
        ":"
    };
    script(
        &bin.join(program),
        &format!(
            r#"echo "{program} $* (KUBECONFIG=$KUBECONFIG)" >>"{calls}"
case "$*" in
  *create*) {failure} ;;
  "kubeconfig get "*) printf 'apiVersion: v1\nkind: Config\ncurrent-context: %s\n' "$3" ;;
  *--print*) printf 'apiVersion: v1\nkind: Config\ncurrent-context: %s\n' "$2" ;;
esac
"#,
            calls = bin.join("calls").display()
        ),
    );
}

fn calls(bin: &Path) -> String {
    std::fs::read_to_string(bin.join("calls")).unwrap_or_default()
}

fn options(bin: &Path) -> ProviderOptions {
    ProviderOptions {
        search_path: Some(OsString::from(bin)),
        node_image: Some("kindest/node:v1.33.0".to_owned()),
        ..ProviderOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_cli_names_the_program_and_how_to_install_it() {
    let empty = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (kind, program) in [
        (ProviderKind::Kind, "kind"),
        (ProviderKind::K3d, "k3d"),
        (ProviderKind::Vcluster, "vcluster"),
    ] {
        let host = dir.path().join("host.yaml");
        std::fs::write(&host, "apiVersion: v1\nkind: Config\ncontexts:\n- name: a\n  context: {cluster: a}\ncurrent-context: a\n").unwrap();
        let options = ProviderOptions {
            kubeconfig: Some(host),
            ..options(empty.path())
        };
        let provider = provider_for(kind, &options);
        let error = provider
            .provision(&spec(dir.path(), "rcli"))
            .await
            .unwrap_err();
        assert!(error.is_missing_cli(), "{error:?}");
        let ClusterError::MissingCli {
            program: named,
            hint,
            ..
        } = &error
        else {
            unreachable!()
        };
        assert_eq!(named, program);
        assert!(hint.starts_with("install it from https://"), "{hint}");
        assert!(
            error.to_string().starts_with(&format!(
                "the {kind} cluster provider needs `{program}`, which is not installed or not on PATH; install it from "
            )),
            "{error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_kind_create_shows_its_stderr_and_deletes_what_it_made() {
    let bin = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    stand_in(bin.path(), "kind", true);
    let error = provider_for(ProviderKind::Kind, &options(bin.path()))
        .provision(&spec(dir.path(), "rkind"))
        .await
        .unwrap_err();
    let kind = bin.path().join("kind");
    let kubeconfig = dir.path().join("kubeconfig");
    assert_eq!(
        error.to_string(),
        format!(
            "cluster rkind: `{} create cluster --name rkind --kubeconfig {} --image kindest/node:v1.33.0` failed (exit status: 1):\nERROR: failed to create cluster: the node image is missing",
            kind.display(),
            kubeconfig.display()
        )
    );
    assert_eq!(
        calls(bin.path()),
        format!(
            "kind create cluster --name rkind --kubeconfig {} --image kindest/node:v1.33.0 (KUBECONFIG=)\nkind delete cluster --name rkind (KUBECONFIG=)\n",
            kubeconfig.display()
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn k3d_and_vcluster_write_the_kubeconfig_their_cli_prints() {
    let bin = tempfile::tempdir().unwrap();
    stand_in(bin.path(), "k3d", false);
    stand_in(bin.path(), "vcluster", false);

    let dir = tempfile::tempdir().unwrap();
    let provider = provider_for(ProviderKind::K3d, &options(bin.path()));
    let cluster = provider.provision(&spec(dir.path(), "rk3d")).await.unwrap();
    assert_eq!(
        cluster.handle,
        ClusterHandle::K3d {
            name: "rk3d".to_owned()
        }
    );
    assert_kubeconfig(&cluster, "rk3d");
    provider.teardown(&cluster).await.unwrap();
    assert_eq!(
        calls(bin.path()),
        "k3d cluster create rk3d --kubeconfig-update-default=false --kubeconfig-switch-context=false --image kindest/node:v1.33.0 (KUBECONFIG=)\n\
         k3d kubeconfig get rk3d (KUBECONFIG=)\n\
         k3d cluster delete rk3d (KUBECONFIG=)\n"
    );

    std::fs::remove_file(bin.path().join("calls")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host.yaml");
    std::fs::write(
        &host,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster: {server: 'https://127.0.0.1:1'}\n- name: b\n  cluster: {server: 'https://127.0.0.1:2'}\ncontexts:\n- name: a\n  context: {cluster: a}\n- name: b\n  context: {cluster: b}\ncurrent-context: a\n",
    )
    .unwrap();
    let options = ProviderOptions {
        kubeconfig: Some(host),
        context: Some("b".to_owned()),
        ..options(bin.path())
    };
    let provider = provider_for(ProviderKind::Vcluster, &options);
    let cluster = provider.provision(&spec(dir.path(), "rvc")).await.unwrap();
    let host_copy = dir.path().join("host-kubeconfig");
    assert_eq!(
        cluster.handle,
        ClusterHandle::Vcluster {
            name: "rvc".to_owned(),
            namespace: "vcluster-rvc".to_owned(),
            host_kubeconfig: host_copy.clone(),
        }
    );
    assert_kubeconfig(&cluster, "rvc");
    let copy = kube::config::Kubeconfig::read_from(&host_copy).unwrap();
    assert_eq!(
        copy.current_context.as_deref(),
        Some("b"),
        "the chosen context is current"
    );
    // The reaper has no options; the handle carries the host kubeconfig.
    provider_for(
        ProviderKind::Vcluster,
        &ProviderOptions {
            search_path: options.search_path.clone(),
            ..ProviderOptions::default()
        },
    )
    .teardown(&cluster)
    .await
    .unwrap();
    let host_copy = host_copy.display();
    assert_eq!(
        calls(bin.path()),
        format!(
            "vcluster create rvc --namespace vcluster-rvc --connect=false (KUBECONFIG={host_copy})\n\
             vcluster connect rvc --namespace vcluster-rvc --print (KUBECONFIG={host_copy})\n\
             vcluster delete rvc --namespace vcluster-rvc --ignore-not-found (KUBECONFIG={host_copy})\n"
        )
    );

    let error = provider_for(ProviderKind::K3d, &options)
        .teardown(&cluster)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "cluster rvc was provisioned by the vcluster provider; the k3d provider cannot tear it down"
    );
}

fn assert_kubeconfig(cluster: &Cluster, context: &str) {
    let text = std::fs::read_to_string(&cluster.kubeconfig).unwrap();
    assert_eq!(
        text,
        format!("apiVersion: v1\nkind: Config\ncurrent-context: {context}\n")
    );
    let mode = std::fs::metadata(&cluster.kubeconfig)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}
