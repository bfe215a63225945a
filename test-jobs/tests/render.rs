//! Rendering in-cluster tests: the Job, with its results volume and collector container.

use std::path::Path;

use chorale_test_jobs::{
    BuildContext, Catalogue, ChartContext, ComponentContext, Error, ImageContext, PinnedImage,
    PlannedTest, TemplateSource, TestPlanEntry, check_plan,
};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    test_plan: Vec<TestPlanEntry>,
}

/// A build of the demo product as the pipeline would describe it.
fn build() -> BuildContext {
    let digest = |n: char| format!("sha256:{}", n.to_string().repeat(64));
    BuildContext {
        product: "demo".to_owned(),
        build: "20261123-153000-abcd".to_owned(),
        version: "1.0.20261123".to_owned(),
        namespace: "chorale-20261123-153000-abcd".to_owned(),
        probe: PinnedImage {
            repository: "127.0.0.1:5000/chorale/probe".to_owned(),
            digest: digest('p'),
        },
        components: vec![
            ComponentContext {
                name: "api".to_owned(),
                chart: ChartContext {
                    name: "api".to_owned(),
                    version: "2.1.0+git.0123456789abcdef0123456789abcdef01234567".to_owned(),
                    digest: digest('c'),
                },
                images: vec![ImageContext {
                    reference: "127.0.0.1:5000/demo/api:main".to_owned(),
                    repository: "127.0.0.1:5000/demo/api".to_owned(),
                    digest: digest('a'),
                    values: "image".to_owned(),
                }],
            },
            ComponentContext {
                name: "db".to_owned(),
                chart: ChartContext {
                    name: "db".to_owned(),
                    version: "1.0.0".to_owned(),
                    digest: digest('d'),
                },
                images: Vec::new(),
            },
        ],
    }
}

fn plan(dir: &Path, yaml: &str) -> Vec<PlannedTest> {
    let spec: Spec = serde_saphyr::from_str(yaml).unwrap();
    let components = build().components;
    let sample = BuildContext::sample("demo", components);
    check_plan(&spec.test_plan, dir, &sample).unwrap_or_else(|problems| panic!("{problems:?}"))
}

fn yaml(value: &Value) -> String {
    serde_saphyr::to_string(value).unwrap()
}

#[test]
fn renders_the_http_probe_job_with_its_results_volume_and_collector() {
    let dir = tempfile::tempdir().unwrap();
    let tests = plan(
        dir.path(),
        r#"
testPlan:
  - name: api-reachable
    uses: http-probe
    timeout: 90s
    retries: 2
    with:
      checks:
        - { url: "http://api:8080/healthz", status: 200, body: "ok" }
        - { url: "http://api:8080/?q=a=200", body: 'say "hi": <yes> & ~tilde' }
        - url: http://db:8080/readyz
          status: 2XX
      retryFor: 2m
"#,
    );
    let objects = tests[0].render(&build()).unwrap();
    assert_eq!(objects.job_name, "test-api-reachable");
    insta::assert_snapshot!("http_probe_job", yaml(&objects.job));

    // The collector is the last container, waits for the others a little less than the
    // test's 90s, and its arguments are ones the probe reads.
    let pod = &objects.job["spec"]["template"]["spec"];
    assert_eq!(pod["shareProcessNamespace"], true);
    let collector = pod["containers"].as_array().unwrap().last().unwrap();
    assert_eq!(collector["name"], "chorale-results");
    let args: Vec<String> = collector["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|arg| arg.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        chorale_probe::cli::parse(&args).unwrap(),
        chorale_probe::cli::Command::Collect(chorale_probe::cli::CollectArgs {
            dir: "/chorale/results".into(),
            after_others: Some(std::time::Duration::from_secs(85)),
        })
    );

    // The probe reads every check back exactly as the plan wrote it.
    let args: Vec<String> = objects.job["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|arg| arg.as_str().unwrap().to_owned())
        .collect();
    let chorale_probe::cli::Command::Http(http) = chorale_probe::cli::parse(&args).unwrap() else {
        panic!("not an http command: {args:?}");
    };
    let checks: Vec<_> = http
        .checks
        .iter()
        .map(|check| {
            (
                check.url.to_string(),
                check.status.to_string(),
                check.body.clone(),
            )
        })
        .collect();
    assert_eq!(
        checks,
        [
            (
                "http://api:8080/healthz".to_owned(),
                "200".to_owned(),
                Some("ok".to_owned())
            ),
            (
                "http://api:8080/?q=a=200".to_owned(),
                "2xx".to_owned(),
                Some(r#"say "hi": <yes> & ~tilde"#.to_owned())
            ),
            ("http://db:8080/readyz".to_owned(), "2xx".to_owned(), None),
        ]
    );
    assert_eq!(http.retry.timeout, std::time::Duration::from_mins(2));
    assert_eq!(
        http.junit.as_deref(),
        Some(Path::new("/chorale/results/api-reachable.xml"))
    );
}

#[test]
fn a_products_own_job_gets_the_results_volume_labels_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("e2e.yaml"),
        r#"# The product's end-to-end suite.
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ test.job }}
  labels: { team: qa }
spec:
  backoffLimit: 6
  template:
    metadata:
      annotations: { note: "built {{ build }} of {{ product }} {{ version }}" }
    spec:
      restartPolicy: OnFailure
      securityContext: { runAsUser: 1000, fsGroup: 1000 }
      initContainers:
        - name: wait
          image: {{ probe.image }}
          args: [http, --check, "http://api:8080/readyz=200"]
      containers:
{% for name, component in components | items %}
{% for image in component.images %}
        - name: {{ name }}-e2e
          image: {{ image.image }}
          args: [e2e, --junit-dir, {{ results.path }}/{{ name }}, --chart, {{ component.chart.version | tojson }}]
          env:
            - { name: TARGET, value: {{ params.values.target | tojson }} }
            - { name: DEADLINE, value: "{{ test.timeoutSeconds }}" }
{% endfor %}
{% endfor %}
"#,
    )
    .unwrap();
    let tests = plan(
        dir.path(),
        r#"
testPlan:
  - name: e2e
    uses: job
    timeout: 20m
    retries: 1
    with: { template: e2e.yaml, values: { target: "http://api:8080" } }
"#,
    );
    let objects = tests[0].render(&build()).unwrap();
    insta::assert_snapshot!("product_job", yaml(&objects.job));
}

#[test]
fn every_built_in_template_renders_with_a_sample_build() {
    // One example `with:` per in-cluster entry whose template is built in.
    let examples = [("http-probe", "{ checks: [{ url: 'http://api:8080/' }] }")];
    let builtin: Vec<&str> = Catalogue::builtin()
        .entries()
        .iter()
        .filter(|entry| matches!(entry.template, Some(TemplateSource::Builtin(_))))
        .map(|entry| entry.name.as_str())
        .collect();
    assert_eq!(
        builtin,
        examples.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
        "give every built-in template an example"
    );
    let dir = tempfile::tempdir().unwrap();
    for (name, with) in examples {
        let tests = plan(
            dir.path(),
            &format!("testPlan:\n  - {{ name: sample, uses: {name}, with: {with} }}\n"),
        );
        let sample = BuildContext::sample("demo", build().components);
        let objects = tests[0].render(&sample).unwrap();
        assert_eq!(objects.job["kind"], "Job", "{name}");
        assert_eq!(objects.job["metadata"]["name"], "test-sample", "{name}");
    }
}

#[test]
fn explains_what_cannot_be_rendered() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = [
        (
            "volume.yaml",
            "apiVersion: batch/v1\nkind: Job\nmetadata: { name: x }\nspec:\n  template:\n    spec:\n      containers: [{ name: c, image: i }]\n      volumes: [{ name: chorale-results, emptyDir: {} }]\n",
            "it has a volume named `chorale-results`",
        ),
        (
            "collector.yaml",
            "apiVersion: batch/v1\nkind: Job\nmetadata: { name: x }\nspec:\n  template:\n    spec:\n      containers: [{ name: chorale-results, image: i }]\n",
            "a container is named `chorale-results`",
        ),
        (
            "mount.yaml",
            "apiVersion: batch/v1\nkind: Job\nmetadata: { name: x }\nspec:\n  template:\n    spec:\n      containers: [{ name: c, image: i, volumeMounts: [{ name: v, mountPath: /chorale/results }] }]\n",
            "a container mounts a volume at /chorale/results",
        ),
        (
            "namespace.yaml",
            "apiVersion: batch/v1\nkind: Job\nmetadata: { name: x, namespace: default }\nspec:\n  template:\n    spec:\n      containers: [{ name: c, image: i }]\n",
            "metadata.namespace is `default`; leave it out",
        ),
        (
            "empty.yaml",
            "apiVersion: batch/v1\nkind: Job\nmetadata: { name: x }\nspec: { template: { spec: {} } }\n",
            "spec.template.spec.containers is empty",
        ),
        (
            "name.yaml",
            "apiVersion: batch/v1\nkind: Job\nmetadata: { name: Smoke_Test }\n",
            "metadata.name `Smoke_Test` is not a DNS label",
        ),
        (
            "text.yaml",
            "just text\n",
            "the template must render one YAML mapping",
        ),
        (
            "indent.yaml",
            "apiVersion: batch/v1\nkind: Job\n  metadata: {}\n",
            "does not render to YAML",
        ),
        (
            "syntax.yaml",
            "apiVersion: batch/v1\n{% if %}\n",
            "does not render: syntax error",
        ),
    ];
    for (file, text, expected) in jobs {
        std::fs::write(dir.path().join(file), text).unwrap();
        let spec: Spec = serde_saphyr::from_str(&format!(
            "testPlan:\n  - {{ name: t, uses: job, with: {{ template: {file} }} }}\n"
        ))
        .unwrap();
        let problems = check_plan(
            &spec.test_plan,
            dir.path(),
            &BuildContext::sample("demo", Vec::new()),
        )
        .unwrap_err();
        assert!(
            problems.len() == 1 && problems[0].message.contains(expected),
            "{file}: {problems:?}"
        );
    }

    let tests = plan(
        dir.path(),
        "testPlan:\n  - { name: ready, uses: workloads-ready }\n  - { name: probe, uses: http-probe, with: { checks: [{ url: 'http://api/' }] } }\n",
    );
    assert!(matches!(
        tests[0].render(&build()),
        Err(Error::NotInCluster { .. })
    ));
    let mut bad = build();
    bad.build = "not a label".to_owned();
    let message = tests[1].render(&bad).unwrap_err().to_string();
    assert!(
        message.contains("the build id `not a label` is not a Kubernetes label value"),
        "{message}"
    );
}
