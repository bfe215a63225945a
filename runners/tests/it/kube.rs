//! kube-rs against a sim cluster: Jobs that succeed, fail, hang and are blocked, their pods and
//! logs; pods created, summarised, found blocked and deleted; any object created and deleted by
//! kind.

use std::collections::BTreeMap;
use std::time::Duration;

use chorale_runners::KubeError;
use chorale_runners::kube::{JobResult, Kube};
use chorale_testkit::SimCluster;
use serde_json::{Value, json};

use crate::support::{Images, eventually};

fn job(name: &str, image: &str, args: &[&str]) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {"spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": false,
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "probe", "image": image, "args": args}],
            }},
        },
    })
}

fn pod(name: &str, image: &str, args: &[&str]) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"suite": "kube"}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": false,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "probe", "image": image, "args": args}],
        },
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_succeed_fail_and_time_out_with_their_pods_and_logs() {
    let images = Images::start();
    let sim = SimCluster::start("rjobs").expect("a sim cluster");
    let kube = Kube::connect(sim.kubeconfig()).await.unwrap();
    let labels = BTreeMap::from([("team".to_owned(), "qa".to_owned())]);
    kube.create_namespace("tests", &labels).await.unwrap();
    kube.create_namespace("tests", &labels).await.unwrap();

    let probe = images.probe.as_str();
    kube.create(
        "tests",
        &job("passes", probe, &["exit", "0", "--message", "smoke passed"]),
    )
    .await
    .unwrap();
    kube.create(
        "tests",
        &job(
            "fails",
            probe,
            &["exit", "3", "--message", "database unreachable"],
        ),
    )
    .await
    .unwrap();
    kube.create("tests", &job("hangs", probe, &["sleep", "1h"]))
        .await
        .unwrap();

    let minute = Duration::from_mins(1);
    assert_eq!(
        kube.wait_job("tests", "passes", minute, minute)
            .await
            .unwrap(),
        JobResult::Succeeded
    );
    let pods = kube.job_pods("tests", "passes").await.unwrap();
    let [pod] = pods.as_slice() else {
        panic!("one pod for the job: {pods:?}")
    };
    assert_eq!(pod.phase, "Succeeded");
    assert_eq!(pod.owner, Some(("Job".to_owned(), "passes".to_owned())));
    let log = kube.pod_logs("tests", &pod.name, None).await.unwrap();
    assert!(log.contains("smoke passed"), "{log:?}");
    let log = kube
        .pod_logs("tests", &pod.name, Some("probe"))
        .await
        .unwrap();
    assert!(log.contains("smoke passed"), "{log:?}");

    let JobResult::Failed { reason, message } = kube
        .wait_job("tests", "fails", minute, minute)
        .await
        .unwrap()
    else {
        panic!("the failing job fails")
    };
    assert_eq!(reason, "BackoffLimitExceeded");
    assert!(!message.is_empty());
    let pods = kube.job_pods("tests", "fails").await.unwrap();
    assert_eq!(pods.len(), 1, "{pods:?}");
    assert_eq!(pods[0].phase, "Failed");
    let log = kube.pod_logs("tests", &pods[0].name, None).await.unwrap();
    assert!(log.contains("database unreachable"), "{log:?}");

    assert_eq!(
        kube.wait_job("tests", "hangs", Duration::from_secs(2), minute)
            .await
            .unwrap(),
        JobResult::TimedOut
    );
    // The Job's own selector finds its pods on every Kubernetes version (1.25 labels them
    // `controller-uid`, 1.27 and later `batch.kubernetes.io/controller-uid`).
    let selector = kube.job_selector("tests", "hangs").await.unwrap();
    assert!(selector.contains("controller-uid="), "{selector}");
    kube.delete("tests", "batch/v1", "Job", "hangs")
        .await
        .unwrap();
    kube.delete("tests", "batch/v1", "Job", "hangs")
        .await
        .unwrap();
    eventually("the hanging job's pods to go", minute, || async {
        let pods = kube.pods("tests", Some(&selector)).await.unwrap();
        if pods.is_empty() {
            Ok(())
        } else {
            Err(format!("{pods:?}"))
        }
    })
    .await;

    // A Job whose image cannot be pulled ends the wait early, naming the pod and why.
    kube.create("tests", &job("unpullable", &images.missing, &["exit", "0"]))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let JobResult::Blocked(blocked) = kube
        .wait_job(
            "tests",
            "unpullable",
            Duration::from_mins(10),
            Duration::ZERO,
        )
        .await
        .unwrap()
    else {
        panic!("the unpullable job is blocked")
    };
    assert!(started.elapsed() < Duration::from_mins(10));
    assert!(
        blocked.object.starts_with("Pod tests/unpullable-")
            && blocked.object.ends_with("(container probe)"),
        "{blocked:?}"
    );
    assert!(
        ["ErrImagePull", "ImagePullBackOff"].contains(&blocked.reason.as_str()),
        "{blocked:?}"
    );

    let error = kube
        .wait_job("tests", "absent", minute, minute)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            KubeError::Api {
                status: Some(404),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("cannot read Job tests/absent: "),
        "{error}"
    );

    kube.delete_namespace("tests", minute).await.unwrap();
    kube.delete_namespace("tests", minute).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn pods_are_summarised_found_blocked_and_deleted() {
    let images = Images::start();
    let sim = SimCluster::start("rpods").expect("a sim cluster");
    let kube = Kube::connect(sim.kubeconfig()).await.unwrap();
    let minute = Duration::from_mins(1);
    let probe = images.probe.as_str();

    kube.create("default", &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"mode": "fast"}}))
        .await
        .unwrap();
    kube.create("default", &json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "results"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}))
        .await
        .unwrap();
    kube.create("default", &pod("quick", probe, &["exit", "0"]))
        .await
        .unwrap();
    kube.create("default", &pod("sleeper", probe, &["sleep", "1h"]))
        .await
        .unwrap();
    kube.create(
        "default",
        &pod("unpullable", &images.missing, &["sleep", "1h"]),
    )
    .await
    .unwrap();

    eventually("the quick pod to succeed", minute, || async {
        let pods = kube.pods("default", Some("suite=kube")).await.unwrap();
        match pods.iter().find(|pod| pod.name == "quick") {
            Some(pod) if pod.phase == "Succeeded" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let waiting = eventually(
        "the unpullable pod to wait for its image",
        minute,
        || async {
            let pods = kube.pods("default", Some("suite=kube")).await.unwrap();
            let pod = pods.iter().find(|pod| pod.name == "unpullable").cloned();
            match pod {
                Some(pod)
                    if pod.waiting.iter().any(|w| {
                        w.starts_with("ErrImagePull") || w.starts_with("ImagePullBackOff")
                    }) =>
                {
                    Ok(pod.waiting)
                }
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    assert!(
        waiting[0].contains(&images.missing),
        "the reason names the image: {waiting:?}"
    );
    // Blocked at once when no patience is asked for; the running and finished pods are not.
    let blocked = tokio::time::timeout(
        minute,
        kube.blocked("default", "suite=kube", Duration::ZERO),
    )
    .await
    .expect("the unpullable pod is found blocked");
    assert_eq!(blocked.object, "Pod default/unpullable (container probe)");

    // A pod whose node cannot make its sandbox says only `Pending` in its status: the kubelet's
    // event says why, and the wait ends on it.
    let mut stuck = pod("nosandbox", probe, &["sleep", "1h"]);
    stuck["metadata"]["labels"] = json!({"suite": "sandbox"});
    stuck["spec"]["nodeName"] = json!("a-node-of-its-own");
    kube.create("default", &stuck).await.unwrap();
    kube.create("default", &json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "nosandbox.1"},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "nosandbox"},
        "reason": "FailedCreatePodSandBox", "type": "Warning",
        "lastTimestamp": "2026-12-04T02:30:00Z",
        "message": "Failed to create pod sandbox: failed to pull image \"k8s-real.local/pause:1\""}))
        .await
        .unwrap();
    let blocked = tokio::time::timeout(
        minute,
        kube.blocked("default", "suite=sandbox", Duration::ZERO),
    )
    .await
    .expect("the pod without a sandbox is found blocked");
    assert_eq!(
        (blocked.object.as_str(), blocked.reason.as_str()),
        ("Pod default/nosandbox", "FailedCreatePodSandBox")
    );
    assert!(blocked.message.contains("pause:1"), "{blocked}");
    kube.delete_pod("default", "nosandbox").await.unwrap();

    let pods = kube.pods("default", Some("suite=kube")).await.unwrap();
    let names: Vec<&str> = pods.iter().map(|pod| pod.name.as_str()).collect();
    assert_eq!(names, ["quick", "sleeper", "unpullable"]);
    let sleeper = &pods[1];
    assert_eq!(sleeper.owner, None);
    assert_eq!(
        sleeper.labels.get("suite").map(String::as_str),
        Some("kube")
    );
    assert_eq!(sleeper.containers, ["probe"]);

    kube.delete_pod("default", "sleeper").await.unwrap();
    kube.delete_pod("default", "sleeper").await.unwrap();
    eventually("the deleted pod to go", minute, || async {
        let pods = kube.pods("default", Some("suite=kube")).await.unwrap();
        if pods.iter().any(|pod| pod.name == "sleeper") {
            Err(format!("{pods:?}"))
        } else {
            Ok(())
        }
    })
    .await;
    kube.delete("default", "v1", "ConfigMap", "settings")
        .await
        .unwrap();
    kube.delete("default", "v1", "PersistentVolumeClaim", "results")
        .await
        .unwrap();

    let error = kube
        .create(
            "default",
            &json!({"apiVersion": "v1", "metadata": {"name": "nameless-kind"}}),
        )
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot create object default/nameless-kind: an object needs `apiVersion`, `kind` and `metadata.name`"
    );
    let error = kube
        .delete("default", "example.com/v1", "Gadget", "one")
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("cannot find the kind Gadget of example.com/v1: "),
        "{error}"
    );
    let error = Kube::connect(&sim.dir().join("absent")).await.unwrap_err();
    assert!(
        error.to_string().starts_with(&format!(
            "kubeconfig {}: ",
            sim.dir().join("absent").display()
        )),
        "{error}"
    );
}
