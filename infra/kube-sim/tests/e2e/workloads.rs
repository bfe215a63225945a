//! StatefulSets, DaemonSets, multi-container pods, probes and restarts, foreground deletion.

use std::time::Duration;

use serde_json::Value;

use crate::kubectl::{WEB, manifest};
use crate::support::{Fixture, Registry, Sim, push, sim, wait_for};

const STATEFUL: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: db
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: tcp, port: 9000}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: 2
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: IMAGE
          command: [/bin/sh, -c, 'hostname > /data/name && exec httpd -f -p 9000 -h /data']
          readinessProbe:
            tcpSocket: {port: 9000}
            periodSeconds: 1
          volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
    - metadata: {name: data}
      spec:
        accessModes: [ReadWriteOnce]
        resources: {requests: {storage: 1Gi}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: IMAGE
          command: [/bin/sleep, '3600']
---
apiVersion: v1
kind: Pod
metadata:
  name: lookup
spec:
  restartPolicy: OnFailure
  containers:
    - name: main
      image: IMAGE
      command: [/bin/sh, -c, 'printf "GET /name HTTP/1.0\r\n\r\n" | nc db-1.db 9000 | tail -n 1 | grep db-1']
"#;

#[test]
fn statefulsets_get_stable_names_claims_and_dns_and_daemonsets_roll_out() {
    let fixture = Fixture::start("stateful");
    let (sim, image) = (&fixture.sim, &fixture.image);
    sim.apply(&STATEFUL.replace("IMAGE", image));
    let rollout = sim.kubectl_ok(&["rollout", "status", "statefulset/db", "--timeout=90s"]);
    assert!(rollout.contains("roll out complete"), "{rollout}");
    let rollout = sim.kubectl_ok(&["rollout", "status", "daemonset/agent", "--timeout=90s"]);
    assert!(rollout.contains("successfully rolled out"), "{rollout}");

    let set = sim
        .get("statefulset", "db", "default")
        .expect("the statefulset");
    assert_eq!(set["status"]["readyReplicas"], 2);
    assert_eq!(
        set["status"]["currentRevision"],
        set["status"]["updateRevision"]
    );
    for index in 0..2 {
        let claim = sim
            .get("pvc", &format!("data-db-{index}"), "default")
            .expect("a claim per pod");
        assert_eq!(claim["status"]["phase"], "Bound");
        let pod = sim
            .get("pod", &format!("db-{index}"), "default")
            .expect("a pod per ordinal");
        assert_eq!(pod["spec"]["hostname"], format!("db-{index}"));
    }
    // `db-1.db` resolves through the pod's DNS search path to the pod behind the headless Service.
    // The lookup races db-1's ordered start, so it may fail and back off (10 s, 20 s, 40 s …)
    // before it succeeds: the wait allows for several back-offs on a loaded machine.
    sim.wait("pod", "lookup", "default", Duration::from_mins(4), |p| {
        p["status"]["phase"] == "Succeeded"
    });
    let logs = sim.kubectl_ok(&["logs", "lookup"]);
    assert_eq!(logs.trim(), "db-1");

    let agent = sim
        .get("daemonset", "agent", "default")
        .expect("the daemonset");
    assert_eq!(agent["status"]["numberReady"], 1, "{}", agent["status"]);
}

const MULTI: &str = r#"
apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  password: s3cret
  config.txt: |
    line one
    line two
---
apiVersion: v1
kind: Pod
metadata:
  name: multi
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
    - name: prepare
      image: IMAGE
      command: [/bin/sh, -c, 'echo prepared > /shared/index.html']
      volumeMounts: [{name: shared, mountPath: /shared}]
  containers:
    - name: server
      image: IMAGE
      command: [/bin/httpd, -f, -p, '127.0.0.1:8080', -h, /shared]
      volumeMounts: [{name: shared, mountPath: /shared}]
    - name: client
      image: IMAGE
      command: [/bin/sh, -c]
      args:
        - |
          until printf 'GET / HTTP/1.0\r\n\r\n' | nc 127.0.0.1 8080 | grep prepared; do sleep 0.2; done
          echo "password=$PASSWORD"
          cat /creds/config.txt
          sleep 3600
      env:
        - name: PASSWORD
          valueFrom: {secretKeyRef: {name: creds, key: password}}
      volumeMounts: [{name: creds, mountPath: /creds, readOnly: true}]
      livenessProbe:
        exec: {command: [/bin/test, -f, /creds/missing]}
        initialDelaySeconds: 2
        periodSeconds: 1
        failureThreshold: 2
  volumes:
    - name: shared
      emptyDir: {}
    - name: creds
      secret: {secretName: creds}
"#;

#[test]
fn containers_of_a_pod_share_localhost_and_a_failing_liveness_probe_restarts_one() {
    let fixture = Fixture::start("multi");
    let (sim, image) = (&fixture.sim, &fixture.image);
    sim.apply(&MULTI.replace("IMAGE", image));

    let logs = wait_for(
        "the client to reach the server on localhost",
        Duration::from_mins(1),
        || {
            let output = sim.kubectl(&["logs", "multi", "-c", "client"]);
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            text.contains("line two").then_some(text)
        },
        || sim.kubectl_ok(&["get", "pod", "multi", "-o", "json"]),
    );
    assert!(logs.contains("prepared"), "{logs}");
    assert!(logs.contains("password=s3cret"), "{logs}");

    let pod = sim.wait("pod", "multi", "default", Duration::from_mins(1), |p| {
        p["status"]["containerStatuses"]
            .as_array()
            .and_then(|s| s.iter().find(|c| c["name"] == "client"))
            .is_some_and(|c| c["restartCount"].as_i64() >= Some(1))
    });
    let statuses = pod["status"]["containerStatuses"]
        .as_array()
        .expect("statuses");
    let client = statuses
        .iter()
        .find(|c| c["name"] == "client")
        .expect("the client");
    assert_eq!(
        client["lastState"]["terminated"]["exitCode"], 137,
        "{client}"
    );
    let server = statuses
        .iter()
        .find(|c| c["name"] == "server")
        .expect("the server");
    assert_eq!(server["restartCount"], 0);
    assert_eq!(
        pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["reason"],
        "Completed"
    );
    let previous = sim.kubectl_ok(&["logs", "multi", "-c", "client", "--previous"]);
    assert!(previous.contains("password=s3cret"), "{previous}");
}

#[test]
fn foreground_deletion_removes_dependents_before_the_owner() {
    let fixture = Fixture::start("foreground");
    let (sim, image) = (&fixture.sim, &fixture.image);
    sim.apply(&manifest(WEB, "default", image));
    sim.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    sim.kubectl_ok(&[
        "delete",
        "deployment",
        "web",
        "--cascade=foreground",
        "--wait=false",
    ]);
    let deleting = sim
        .get("deployment", "web", "default")
        .expect("the deployment waits for its dependents");
    let finalizers: Vec<&Value> = deleting["metadata"]["finalizers"]
        .as_array()
        .map(|f| f.iter().collect())
        .unwrap_or_default();
    assert!(
        finalizers.iter().any(|f| *f == "foregroundDeletion"),
        "{deleting}"
    );
    sim.wait_gone("deployment", "web", "default", Duration::from_mins(1));
    let left = sim.kubectl_ok(&["get", "replicasets,pods", "-l", "app=web", "-o", "name"]);
    assert_eq!(left.trim(), "", "the dependents went first");
}

const PRIVATE: &str = r#"
apiVersion: v1
kind: Secret
metadata:
  name: registry
type: kubernetes.io/dockerconfigjson
stringData:
  .dockerconfigjson: '{"auths": {"HOST": {"username": "robot", "password": "hunter2"}}}'
---
apiVersion: v1
kind: Pod
metadata:
  name: with-secret
spec:
  restartPolicy: Never
  imagePullSecrets: [{name: registry}]
  containers:
    - name: main
      image: IMAGE
      imagePullPolicy: Always
      command: [/bin/sh, -c, 'echo pulled with credentials']
---
apiVersion: v1
kind: Pod
metadata:
  name: without-secret
spec:
  restartPolicy: Never
  containers:
    - name: main
      image: IMAGE
      imagePullPolicy: Always
      command: [/bin/true]
"#;

#[test]
fn image_pull_secrets_authenticate_to_a_private_registry() {
    let registry = Registry::start_with_auth("robot", "hunter2");
    let image = push(&registry, Some("robot:hunter2"));
    let sim = Sim::start(&sim::unique_name("private"));
    sim.apply(
        &PRIVATE
            .replace("HOST", &registry.host)
            .replace("IMAGE", &image),
    );
    sim.wait(
        "pod",
        "with-secret",
        "default",
        Duration::from_mins(1),
        |p| p["status"]["phase"] == "Succeeded",
    );
    assert_eq!(
        sim.kubectl_ok(&["logs", "with-secret"]).trim(),
        "pulled with credentials"
    );
    let refused = sim.wait(
        "pod",
        "without-secret",
        "default",
        Duration::from_mins(1),
        |p| {
            p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                .as_str()
                .is_some_and(|r| r == "ErrImagePull" || r == "ImagePullBackOff")
        },
    );
    assert_eq!(refused["status"]["phase"], "Pending");
}
