//! What the tests share: names, specs, podman leftovers, a registry with the probe image, a
//! test chart, and waiting.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chorale_runners::cluster::{ClusterSpec, ProviderOptions};
use chorale_testkit::{Registry, ScratchImage, kube_sim_binary};

/// A cluster name unique on this machine while the test runs (at most 40 characters).
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// What to provision: `name` in `dir`, an hour to live, a minute to start.
pub fn spec(dir: &Path, name: &str) -> ClusterSpec {
    ClusterSpec {
        name: name.to_owned(),
        dir: dir.to_owned(),
        ttl: Duration::from_hours(1),
        create_timeout: Duration::from_mins(1),
    }
}

/// Options of the sim provider with the kube-sim of this workspace.
pub fn sim_options() -> ProviderOptions {
    ProviderOptions {
        kube_sim: Some(kube_sim_binary().expect("building kube-sim")),
        ..ProviderOptions::default()
    }
}

/// The podman containers, pods and networks labelled for the sim cluster `name`.
pub fn leftovers(name: &str) -> Vec<String> {
    let filter = format!("label=dev.chorale.kube-sim/cluster={name}");
    let mut found = Vec::new();
    for (what, args) in [
        ("container", &["ps", "-a", "--format", "{{.Names}}"][..]),
        ("pod", &["pod", "ps", "--format", "{{.Name}}"][..]),
        ("network", &["network", "ls", "--format", "{{.Name}}"][..]),
    ] {
        let output = Command::new("podman")
            .args(args)
            .args(["--filter", &filter])
            .output()
            .expect("running podman");
        assert!(
            output.status.success(),
            "podman {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        found.extend(
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter(|line| !line.is_empty())
                .map(|line| format!("{what} {line}")),
        );
    }
    found
}

/// Whether `pid` is a live process (not gone, not a zombie: those have no command line).
pub fn alive(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| !cmdline.is_empty())
}

/// A registry holding the probe image.
pub struct Images {
    /// The probe image, pinned by digest.
    pub probe: String,
    /// An image that does not exist in the registry.
    pub missing: String,
    _registry: Registry,
}

impl Images {
    /// Starts a registry and pushes the probe image to it.
    pub fn start() -> Self {
        let registry = Registry::start().expect("starting a registry");
        let probe = ScratchImage::with_probe()
            .expect("building the probe")
            .push(&registry, "chorale/probe:test")
            .expect("pushing the probe image")
            .pinned();
        Self {
            probe,
            missing: format!("{}/chorale/missing:1", registry.host()),
            _registry: registry,
        }
    }
}

/// Packages the test chart `web` (a Deployment and a Service of the probe's HTTP server, and a
/// helm test hook that checks the Service answers with `.Values.greeting`) into `dir`; returns
/// the `.tgz`.
pub fn web_chart(dir: &Path) -> PathBuf {
    let source = dir.join("web");
    let files = [
        (
            "Chart.yaml",
            "apiVersion: v2\nname: web\nversion: 0.1.0\nappVersion: \"1\"\n",
        ),
        (
            "values.yaml",
            "image: \"\"\nreplicas: 1\ngreeting: default\n",
        ),
        (
            "templates/deployment.yaml",
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    app: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels:
      app: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app: {{ .Release.Name }}
    spec:
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 1
      containers:
        - name: web
          image: {{ .Values.image | quote }}
          args: [serve, --listen=0.0.0.0:8080, "--name={{ .Values.greeting }}"]
          ports:
            - name: http
              containerPort: 8080
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            periodSeconds: 1
"#,
        ),
        (
            "templates/service.yaml",
            r"apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector:
    app: {{ .Release.Name }}
  ports:
    - name: http
      port: 8080
      targetPort: http
",
        ),
        (
            "templates/tests/test-http.yaml",
            r#"apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-test
  annotations:
    helm.sh/hook: test
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 1
  containers:
    - name: check
      image: {{ .Values.image | quote }}
      args:
        - http
        - --timeout=30s
        - '--check=http://{{ .Release.Name }}:8080/~"name":"{{ .Values.greeting }}"'
"#,
        ),
    ];
    for (path, text) in files {
        let path = source.join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("creating the chart");
        std::fs::write(&path, text).expect("writing the chart");
    }
    let helm = chorale_testkit::helm().expect("helm 3.10.1");
    let output = Command::new(helm)
        .arg("package")
        .arg(&source)
        .arg("--destination")
        .arg(dir)
        .output()
        .expect("running helm package");
    assert!(
        output.status.success(),
        "helm package failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    dir.join("web-0.1.0.tgz")
}

/// Writes a values file.
pub fn values(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writing a values file");
    path
}

/// Calls `check` every 200 ms until it returns `Ok`, at most `timeout`; then panics with
/// `what` and the last `Err`, which says what was seen.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        let last = match check().await {
            Ok(value) => return value,
            Err(last) => last,
        };
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}; last: {last}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Writes an executable shell script.
pub fn script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, format!("#!/bin/sh\n{body}")).expect("writing a script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .expect("making a script executable");
}
