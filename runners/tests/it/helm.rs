//! helm against a sim cluster: install with values until ready, test hooks with their logs,
//! uninstall; a release that never gets ready fails with helm's whole output and is rolled
//! back.

use std::time::Duration;

use chorale_runners::HelmError;
use chorale_runners::helm::{Helm, Release};
use chorale_runners::kube::Kube;
use chorale_testkit::{Registry, SimCluster};

use crate::support::{Images, alive, eventually, script, values, web_chart};

#[tokio::test(flavor = "multi_thread")]
async fn installs_tests_and_uninstalls_a_release() {
    let images = Images::start();
    let sim = SimCluster::start("rhelm").expect("a sim cluster");
    let work = tempfile::tempdir().unwrap();
    let release = Release {
        name: "web".to_owned(),
        namespace: "shop".to_owned(),
        chart: web_chart(work.path()),
        values: vec![
            values(
                work.path(),
                "image.yaml",
                &format!("image: {}\n", images.probe),
            ),
            values(
                work.path(),
                "size.yaml",
                "replicas: 2\ngreeting: from-values\n",
            ),
        ],
        timeout: Duration::from_mins(2),
    };
    let located = Helm::locate().expect("helm on PATH or in CHORALE_HELM");
    assert!(located.is_file());
    let helm = Helm::new(
        chorale_testkit::helm().expect("helm 3.10.1"),
        sim.kubeconfig().to_owned(),
    );

    let installed = helm.upgrade_install(&release).await.unwrap();
    assert!(
        installed.command.ends_with(&format!(
            "upgrade --install web {} --namespace shop --create-namespace --wait --atomic --timeout 120s --values {} --values {}",
            release.chart.display(),
            release.values[0].display(),
            release.values[1].display()
        )),
        "{}",
        installed.command
    );
    assert!(
        installed.stdout.contains("STATUS: deployed"),
        "{}",
        installed.stdout
    );

    let kube = Kube::connect(sim.kubeconfig()).await.unwrap();
    let workload = eventually(
        "the Deployment to be ready",
        Duration::from_secs(30),
        || async {
            let workloads = kube.workloads("shop", Some("app=web")).await.unwrap();
            match workloads.as_slice() {
                [workload] if workload.is_ready() => Ok(workload.clone()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    assert_eq!(
        (
            workload.kind.as_str(),
            workload.name.as_str(),
            workload.desired
        ),
        ("Deployment", "web", 2)
    );
    assert_eq!(workload.labels.get("app").map(String::as_str), Some("web"));
    let pods = kube.pods("shop", Some("app=web")).await.unwrap();
    assert_eq!(pods.len(), 2, "{pods:?}");
    for pod in &pods {
        assert!(pod.ready && pod.phase == "Running", "{pod:?}");
        assert_eq!(pod.containers, ["web"]);
        assert_eq!(
            pod.owner.as_ref().map(|(kind, _)| kind.as_str()),
            Some("ReplicaSet")
        );
    }

    let tested = helm
        .test("web", "shop", Duration::from_secs(90))
        .await
        .unwrap();
    assert!(
        tested.stdout.contains("Phase:          Succeeded"),
        "{}",
        tested.stdout
    );
    assert!(
        tested.stdout.contains("POD LOGS: web-test")
            && tested.stdout.contains("PASS GET http://web:8080/"),
        "helm test --logs shows the hook's log:\n{}",
        tested.stdout
    );

    let removed = helm
        .uninstall("web", "shop", Duration::from_mins(1))
        .await
        .unwrap();
    assert!(
        removed.stdout.contains("release \"web\" uninstalled"),
        "{}",
        removed.stdout
    );
    assert_eq!(kube.workloads("shop", None).await.unwrap(), []);
    let again = helm
        .uninstall("web", "shop", Duration::from_mins(1))
        .await
        .unwrap();
    assert!(
        again.stderr.contains("release: not found"),
        "{}",
        again.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_that_never_gets_ready_fails_with_its_output_and_is_rolled_back() {
    let registry = Registry::start().expect("a registry");
    let sim = SimCluster::start("rhelmfail").expect("a sim cluster");
    let work = tempfile::tempdir().unwrap();
    let release = Release {
        name: "broken".to_owned(),
        namespace: "shop".to_owned(),
        chart: web_chart(work.path()),
        values: vec![values(
            work.path(),
            "values.yaml",
            &format!("image: {}/chorale/missing:1\n", registry.host()),
        )],
        timeout: Duration::from_secs(10),
    };
    let helm = Helm::new(
        chorale_testkit::helm().expect("helm 3.10.1"),
        sim.kubeconfig().to_owned(),
    );

    let error = helm.upgrade_install(&release).await.unwrap_err();
    let HelmError::Failed { what, exit, output } = &error else {
        panic!("expected HelmError::Failed, got {error:?}");
    };
    assert_eq!(
        what,
        "upgrade --install of release broken in namespace shop"
    );
    assert_eq!(*exit, Some(1));
    assert!(output.command.contains("--atomic"), "{}", output.command);
    assert!(
        output
            .stderr
            .contains("release broken failed, and has been uninstalled due to atomic being set"),
        "{}",
        output.stderr
    );
    assert!(
        error.to_string().starts_with(
            "helm upgrade --install of release broken in namespace shop failed (exit code 1):\nError: release broken failed, and has been uninstalled due to atomic being set"
        ),
        "{error}"
    );
    let kube = Kube::connect(sim.kubeconfig()).await.unwrap();
    assert_eq!(
        kube.workloads("shop", None).await.unwrap(),
        [],
        "rolled back"
    );

    let error = Helm::new("/nonexistent/helm".into(), sim.kubeconfig().to_owned())
        .uninstall("broken", "shop", Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot run `/nonexistent/helm uninstall broken --namespace shop --wait --timeout 5s`: No such file or directory (os error 2)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_call_kills_helm() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let stand_in = dir.path().join("helm");
    script(
        &stand_in,
        &format!("echo $$ >{}\nexec sleep 600\n", pid_file.display()),
    );
    let helm = Helm::new(stand_in, dir.path().join("kubeconfig"));
    let release = Release {
        name: "web".to_owned(),
        namespace: "shop".to_owned(),
        chart: dir.path().join("web-0.1.0.tgz"),
        values: Vec::new(),
        timeout: Duration::from_mins(5),
    };
    // Cancelled once helm runs, as a SIGINT of chorale would.
    let pid = tokio::select! {
        result = helm.upgrade_install(&release) => panic!("a helm that sleeps: {result:?}"),
        pid = eventually("the stand-in helm to run", Duration::from_secs(10), || async {
            std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|pid| pid.trim().parse::<u32>().ok())
                .ok_or_else(|| "no pid yet".to_owned())
        }) => pid,
    };
    eventually(
        "the dropped helm to be killed",
        Duration::from_secs(10),
        || async {
            if alive(pid) {
                Err(format!("{pid} still runs"))
            } else {
                Ok(())
            }
        },
    )
    .await;
}
