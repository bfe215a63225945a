//! kubectl against a sim cluster: apply, get, logs, Service DNS, namespaces, CRDs.

use std::time::Duration;

use crate::support::{Fixture, Sim, sim, wait_for};

/// A Deployment of two web servers and their Service, in namespace `NS`, image `IMAGE`.
pub const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: NS
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: httpd
          image: IMAGE
          command: [/bin/sh, -c, 'mkdir /www && echo "served by $(POD_NAME)" > /www/index.html && exec httpd -f -p 8080 -h /www']
          env:
            - name: POD_NAME
              valueFrom: {fieldRef: {fieldPath: metadata.name}}
          ports: [{name: http, containerPort: 8080}]
          readinessProbe:
            httpGet: {path: /index.html, port: http}
            periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: NS
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
"#;

const CLIENT: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: client
  namespace: NS
spec:
  restartPolicy: Never
  containers:
    - name: fetch
      image: IMAGE
      command: [/bin/sh, -c]
      args:
        - |
          for name in web web.NS web.NS.svc.cluster.local; do
            printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc $name 80 | tail -n 1
          done
          echo "greeting=$GREETING"
      env:
        - name: GREETING
          valueFrom: {configMapKeyRef: {name: settings, key: greeting}}
"#;

const SETTINGS: &str = r"
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: NS
data:
  greeting: bonjour
";

/// A manifest with its namespace and image filled in.
pub fn manifest(template: &str, namespace: &str, image: &str) -> String {
    template.replace("NS", namespace).replace("IMAGE", image)
}

#[test]
fn kubectl_apply_rolls_out_and_pods_reach_services_by_dns_name() {
    let fixture = Fixture::start("kubectl");
    let (sim, image) = (&fixture.sim, &fixture.image);
    sim.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n");
    sim.apply(&manifest(WEB, "shop", image));
    let rollout = sim.kubectl_ok(&[
        "rollout",
        "status",
        "deployment/web",
        "-n",
        "shop",
        "--timeout=90s",
    ]);
    assert!(rollout.contains("successfully rolled out"), "{rollout}");

    let deployment = sim
        .get("deployment", "web", "shop")
        .expect("the deployment");
    let status = &deployment["status"];
    assert_eq!(
        status["observedGeneration"],
        deployment["metadata"]["generation"]
    );
    for field in [
        "replicas",
        "readyReplicas",
        "updatedReplicas",
        "availableReplicas",
    ] {
        assert_eq!(status[field], 2, "status.{field} in {status}");
    }
    let endpoints = sim.get("endpoints", "web", "shop").expect("the endpoints");
    assert_eq!(
        endpoints["subsets"][0]["addresses"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{endpoints}"
    );
    assert_eq!(endpoints["subsets"][0]["ports"][0]["port"], 8080);

    sim.apply(&manifest(SETTINGS, "shop", image));
    sim.apply(&manifest(CLIENT, "shop", image));
    sim.wait("pod", "client", "shop", Duration::from_mins(1), |p| {
        p["status"]["phase"] == "Succeeded"
    });
    let logs = sim.kubectl_ok(&["logs", "client", "-n", "shop"]);
    let served: Vec<&str> = logs
        .lines()
        .filter(|l| l.starts_with("served by web-"))
        .collect();
    assert_eq!(served.len(), 3, "each DNS name reaches a web pod:\n{logs}");
    assert!(logs.contains("greeting=bonjour"), "{logs}");

    let pod = sim.get("pod", "client", "shop").expect("the client pod");
    let container = &pod["status"]["containerStatuses"][0];
    assert_eq!(
        container["state"]["terminated"]["exitCode"], 0,
        "{container}"
    );
    assert_eq!(container["state"]["terminated"]["reason"], "Completed");
    assert!(
        container["imageID"]
            .as_str()
            .is_some_and(|id| id.contains("@sha256:")),
        "{container}"
    );

    // `kubectl logs -f` streams until the container exits; --tail limits the lines.
    let tail = sim.kubectl_ok(&[
        "logs", "client", "-n", "shop", "-c", "fetch", "--tail=1", "-f",
    ]);
    assert_eq!(tail.trim(), "greeting=bonjour");
}

#[test]
fn typed_kubectl_commands_that_send_protobuf_are_refused() {
    let sim = Sim::start(&sim::unique_name("proto"));
    let output = sim.kubectl(&["create", "namespace", "typed"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "protobuf bodies are not accepted");
    assert!(
        stderr.contains("unknown format")
            || stderr.contains("415")
            || stderr.contains("media type"),
        "{stderr}"
    );
    // JSON through kubectl apply works.
    sim.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: typed\n");
    let namespace = sim
        .get("namespace", "typed", "default")
        .expect("the namespace");
    assert_eq!(namespace["status"]["phase"], "Active");
}

#[test]
fn deleting_a_namespace_terminates_it_and_everything_in_it() {
    let fixture = Fixture::start("cascade");
    let (sim, image) = (&fixture.sim, &fixture.image);
    sim.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: doomed\n");
    sim.apply(&manifest(WEB, "doomed", image));
    sim.apply(&manifest(SETTINGS, "doomed", image));
    sim.kubectl_ok(&[
        "rollout",
        "status",
        "deployment/web",
        "-n",
        "doomed",
        "--timeout=90s",
    ]);

    sim.kubectl_ok(&["delete", "namespace", "doomed", "--wait=false"]);
    let namespace = sim
        .get("namespace", "doomed", "default")
        .expect("the namespace is still there while pods stop");
    assert_eq!(namespace["status"]["phase"], "Terminating", "{namespace}");
    sim.wait_gone("namespace", "doomed", "default", Duration::from_mins(1));
    for kind in [
        "deployments",
        "replicasets",
        "pods",
        "services",
        "configmaps",
        "endpoints",
    ] {
        let left = sim.kubectl_ok(&["get", kind, "-n", "doomed", "-o", "name"]);
        assert_eq!(left.trim(), "", "{kind} left in the deleted namespace");
    }
    let creating = sim.kubectl(&["get", "namespace", "doomed"]);
    assert!(!creating.status.success());
}

const CRD: &str = r"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
";

#[test]
fn a_crd_registers_a_kind_with_discovery_and_crud() {
    let sim = Sim::start(&sim::unique_name("crd"));
    sim.apply(CRD);
    sim.wait(
        "crd",
        "widgets.example.com",
        "default",
        Duration::from_secs(10),
        |crd| {
            crd["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Established" && c["status"] == "True")
            })
        },
    );
    wait_for(
        "the kind in discovery",
        Duration::from_secs(10),
        || {
            sim.kubectl_ok(&["api-resources", "--api-group=example.com"])
                .contains("Widget")
                .then_some(())
        },
        || sim.kubectl_ok(&["api-resources"]),
    );
    sim.apply(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: gear\nspec:\n  teeth: 12\n",
    );
    let widget = sim.get("wd", "gear", "default").expect("the widget");
    assert_eq!(widget["spec"]["teeth"], 12);
    sim.apply(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: gear\nspec:\n  teeth: 14\n",
    );
    let widget = sim
        .get("widgets.example.com", "gear", "default")
        .expect("the widget");
    assert_eq!(widget["spec"]["teeth"], 14);
    assert_eq!(widget["metadata"]["generation"], 2);

    sim.kubectl_ok(&["delete", "crd", "widgets.example.com"]);
    wait_for(
        "the kind to leave discovery",
        Duration::from_secs(10),
        || (!sim.kubectl_ok(&["api-resources"]).contains("Widget")).then_some(()),
        String::new,
    );
}
