//! Bundles in a real registry and in an OCI layout, read back by independent clients (helm and
//! skopeo); registry authentication; and a registry that goes down halfway.

use chorale::archive;
use chorale::bundle::fetch_bundle;
use chorale::engine::events::{BuildEvent, Recorded};
use chorale::ops::{BundleRequest, bundle_product};
use chorale::resources::build::{BundleRef, Status};
use chorale_runners::registry::OciLayout;
use chorale_testkit::Registry;
use serde_json::Value;

use crate::support::outage::Outage;
use crate::support::{World, helm, quiet, skopeo};

fn bundle_request(manifest: std::path::PathBuf, registry: Option<String>) -> BundleRequest {
    BundleRequest {
        manifest,
        registry,
        concurrency: 8,
        trigger: "test".to_owned(),
    }
}

/// A product of two git charts (one depending on the other) and one OCI chart.
fn demo(world: &World) -> std::path::PathBuf {
    let db = world.chart_repo("db", "chart", "db");
    let api = world.chart_repo("api", "deploy/chart", "api");
    world.push_oci_chart("ext", "1.0.0");
    world.push_image("demo/db:main");
    world.push_image("demo/api:main");
    let host = world.registry.host();
    world.product(&format!(
        r#"apiVersion: chorale.dev/v1alpha1
kind: Product
metadata: {{ name: demo }}
spec:
  versionLine: "1.0"
  components:
    - name: db
      source: {{ git: {db}, ref: main, chartPath: chart }}
      images:
        - ref: {host}/demo/db:main
    - name: api
      source: {{ git: {api}, ref: main, chartPath: deploy/chart }}
      dependsOn: [db]
      images:
        - ref: {host}/demo/api:main
      values:
        replicas: 2
    - name: ext
      chart: {{ oci: oci://{host}/charts/ext, version: "^1" }}
"#,
        db = db.url(),
        api = api.url(),
    ))
}

#[tokio::test]
async fn a_bundle_in_the_registry_is_readable_by_helm_and_skopeo() {
    let world = World::new();
    let product = demo(&world);
    let context = world.context().await;
    let target = format!("{}/chorale", world.registry.host());
    let bundled = bundle_product(
        &context,
        &bundle_request(product.clone(), Some(target.clone())),
        &quiet(),
    )
    .await
    .unwrap();
    let outcome = &bundled.bundle;
    assert_eq!(outcome.repository, format!("{target}/demo"));
    assert_eq!(
        outcome.reference,
        format!("{target}/demo@{}", outcome.digest)
    );
    assert_eq!(
        outcome.tags,
        [format!("build-{}", bundled.build.id), "latest".to_owned()]
    );
    assert!(outcome.uploaded_bytes > 0);

    // skopeo reads the manifest: artifact type, the lock as config, a layer per chart and values.
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{target}/demo:latest"),
    ]);
    let manifest: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        manifest["artifactType"],
        "application/vnd.chorale.bundle.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.chorale.lock.v1+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(
        layers.len(),
        5,
        "the test plan, a chart per component, the values files"
    );
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.chorale.tests.v1+json"
    );
    let charts: Vec<&str> = layers
        .iter()
        .filter(|l| l["mediaType"] == "application/vnd.cncf.helm.chart.content.v1.tar+gzip")
        .map(|l| l["annotations"]["dev.chorale.component"].as_str().unwrap())
        .collect();
    assert_eq!(charts, ["api", "db", "ext"]);
    let config = skopeo(&[
        "inspect",
        "--raw",
        "--config",
        "--tls-verify=false",
        &format!("docker://{target}/demo:latest"),
    ]);
    assert_eq!(
        serde_json::from_str::<chorale::resources::lock::Lock>(&config).unwrap(),
        bundled.lock
    );
    let tags: Value = serde_json::from_str(&skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{target}/demo"),
    ]))
    .unwrap();
    let mut tags: Vec<&str> = tags["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    tags.sort_unstable();
    assert_eq!(
        tags,
        [format!("build-{}", bundled.build.id).as_str(), "latest"]
    );

    // helm pulls every standalone chart and renders it with the bundle's pinned values.
    let pulled = world.dir.path().join("pulled");
    std::fs::create_dir_all(&pulled).unwrap();
    for chart in &outcome.charts {
        let (repository, tag) = chart.reference.rsplit_once(':').unwrap();
        let version = tag.replace('_', "+");
        let output = helm(world.dir.path())
            .args([
                "pull",
                &format!("oci://{repository}"),
                "--version",
                &version,
                "--destination",
            ])
            .arg(&pulled)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // The values layer is a plain .tar.gz of every component's values file: tar unpacks it.
    let values_layer = layers.last().unwrap();
    assert_eq!(
        values_layer["mediaType"],
        "application/vnd.chorale.values.v1.tar+gzip"
    );
    let archive = reqwest::get(format!(
        "http://{}/v2/chorale/demo/blobs/{}",
        world.registry.host(),
        values_layer["digest"].as_str().unwrap()
    ))
    .await
    .unwrap()
    .bytes()
    .await
    .unwrap();
    let unpacked = world.dir.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    std::fs::write(unpacked.join("values.tar.gz"), &archive).unwrap();
    let tar = std::process::Command::new("tar")
        .args(["xzf", "values.tar.gz"])
        .current_dir(&unpacked)
        .output()
        .unwrap();
    assert!(tar.status.success(), "{tar:?}");
    let mut files: Vec<String> = std::fs::read_dir(unpacked.join("values"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort_unstable();
    assert_eq!(
        files,
        ["api.values.yaml", "db.values.yaml", "ext.values.yaml"]
    );
    let api = bundled.lock.component("api").unwrap();
    let values = unpacked.join("values/api.values.yaml");
    let rendered = helm(world.dir.path())
        .args(["template", "api"])
        .arg(pulled.join(format!("api-{}.tgz", api.chart.version)))
        .arg("--values")
        .arg(&values)
        .output()
        .unwrap();
    let rendered = String::from_utf8_lossy(&rendered.stdout);
    let image = &api.images[0];
    assert!(
        rendered.contains(&format!(
            "{}/demo/api@{}",
            world.registry.host(),
            image.digest
        )),
        "the image is pinned by digest: {rendered}"
    );

    // Reading the bundle back gives the lock and, per component, the chart helm pulled and
    // the values file that pins its images.
    let fetched = fetch_bundle(
        &BundleRef {
            repository: outcome.repository.clone(),
            digest: outcome.digest.clone(),
        },
        &context.runners.registry,
        &world.dir.path().join("read"),
    )
    .await
    .unwrap();
    assert_eq!(fetched.lock, bundled.lock);
    assert_eq!(fetched.components.len(), 3);
    let files = &fetched.components["api"];
    assert_eq!(
        std::fs::read(&files.chart).unwrap(),
        std::fs::read(pulled.join(format!("api-{}.tgz", api.chart.version))).unwrap()
    );
    assert_eq!(
        std::fs::read(&files.values).unwrap(),
        std::fs::read(&values).unwrap()
    );

    // Bundling the unchanged product uploads nothing and gives the same digest.
    let again = bundle_product(
        &context,
        &bundle_request(product, Some(target.clone())),
        &quiet(),
    )
    .await
    .unwrap();
    assert_eq!(again.bundle.uploaded_bytes, 0);
    assert_eq!(again.bundle.digest, outcome.digest);
    assert_ne!(again.build.id, bundled.build.id);

    // Both builds are recorded with their stages, the bundle with its charts.
    let build = context
        .store
        .build(&bundled.build.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(build.status, Status::Succeeded);
    assert_eq!(build.lock_id.as_deref(), Some(bundled.lock.id.as_str()));
    assert!(build.stages.iter().all(|s| s.status == Status::Succeeded));
    let stored = context
        .store
        .bundle(&outcome.repository, &outcome.digest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.charts, outcome.charts);
}

#[tokio::test]
async fn without_a_registry_the_bundle_is_an_oci_layout_skopeo_reads() {
    let world = World::new();
    let product = demo(&world);
    let context = world.context().await;
    let events = Recorded::default();
    let bundled = bundle_product(&context, &bundle_request(product.clone(), None), &events)
        .await
        .unwrap();
    // What the observer was told, in order: the build, each stage begun and ended, every
    // component resolved, the end.
    let told: Vec<String> = events
        .events()
        .iter()
        .map(|event| match event {
            BuildEvent::Started { product, .. } => format!("started {product}"),
            BuildEvent::StageStarted { stage } => format!("{stage} started"),
            BuildEvent::StageEnded { stage, status, .. } => format!("{stage} {status}"),
            BuildEvent::Resolving { components } => format!("resolving {components}"),
            BuildEvent::Resolved { .. } => "resolved".to_owned(),
            BuildEvent::Ended { status, .. } => format!("ended {status}"),
            other => format!("unexpected {other:?}"),
        })
        .collect();
    let components = bundled.lock.components.len();
    let mut expected = vec![
        "started demo".to_owned(),
        "snapshot started".to_owned(),
        format!("resolving {components}"),
    ];
    expected.extend(std::iter::repeat_n("resolved".to_owned(), components));
    expected.extend(
        [
            "snapshot succeeded",
            "bundle started",
            "bundle succeeded",
            "ended succeeded",
        ]
        .map(str::to_owned),
    );
    assert_eq!(told, expected);
    let layout = world.state().join("oci/demo");
    assert_eq!(
        bundled.bundle.repository,
        format!("oci:{}", layout.display())
    );
    let raw = skopeo(&[
        "inspect",
        "--raw",
        &format!("oci:{}:latest", layout.display()),
    ]);
    let manifest: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        manifest["artifactType"],
        "application/vnd.chorale.bundle.v1+json"
    );
    assert_eq!(
        chorale_runners::digest::sha256(raw.trim_end().as_bytes()),
        bundled.bundle.digest
    );
    let fetched = fetch_bundle(
        &BundleRef {
            repository: bundled.bundle.repository.clone(),
            digest: bundled.bundle.digest.clone(),
        },
        &context.runners.registry,
        &world.dir.path().join("read"),
    )
    .await
    .unwrap();
    assert_eq!(fetched.lock, bundled.lock);
    let db = &fetched.components["db"];
    let values: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&db.values).unwrap()).unwrap();
    assert_eq!(
        values["image"]["digest"],
        bundled.lock.component("db").unwrap().images[0].digest
    );
    let again = bundle_product(&context, &bundle_request(product, None), &quiet())
        .await
        .unwrap();
    assert_eq!(again.bundle.uploaded_bytes, 0);
    assert_eq!(again.bundle.digest, bundled.bundle.digest);
}

/// A values archive of `entries` (path, text).
fn tarball(entries: &[(&str, &str)]) -> Vec<u8> {
    let entries = entries.iter().map(|(path, text)| archive::Entry {
        path: (*path).to_owned(),
        content: text.as_bytes(),
        executable: false,
    });
    archive::tgz(entries, 0).unwrap()
}

#[tokio::test]
async fn a_bundle_whose_values_layer_is_wrong_is_not_read() {
    let world = World::new();
    let context = world.context().await;
    let bundled = bundle_product(&context, &bundle_request(demo(&world), None), &quiet())
        .await
        .unwrap();
    let repository = bundled.bundle.repository.clone();
    let layout = OciLayout::open(repository.strip_prefix("oci:").unwrap()).unwrap();
    let manifest: Value =
        serde_json::from_slice(&layout.read_blob(&bundled.bundle.digest).unwrap()).unwrap();

    // The same bundle with its values layer replaced by `entries`, read back.
    let read_with = |entries: &[(&str, &str)]| {
        let archive = tarball(entries);
        let digest = chorale_runners::digest::sha256(&archive);
        layout.put_blob(&digest, &archive).unwrap();
        let mut tampered = manifest.clone();
        let layers = tampered["layers"].as_array_mut().unwrap();
        let values = layers.last_mut().unwrap();
        values["digest"] = Value::from(digest);
        values["size"] = Value::from(archive.len());
        let bytes = serde_json::to_vec(&tampered).unwrap();
        let digest = layout
            .put_manifest(
                "tampered",
                "application/vnd.oci.image.manifest.v1+json",
                &bytes,
            )
            .unwrap();
        let bundle = BundleRef {
            repository: repository.clone(),
            digest,
        };
        let registry = context.runners.registry.clone();
        let read = world.dir.path().join("read");
        async move {
            fetch_bundle(&bundle, &registry, &read)
                .await
                .unwrap_err()
                .to_string()
        }
    };
    let fine = "image: {}\n";
    let missing = read_with(&[
        ("values/api.values.yaml", fine),
        ("values/ext.values.yaml", fine),
    ])
    .await;
    assert!(
        missing.ends_with("component `db` has no values file in it"),
        "{missing}"
    );
    let stray = read_with(&[("values/web.values.yaml", fine)]).await;
    assert!(
        stray.ends_with("its values layer holds `values/web.values.yaml`, no component's values"),
        "{stray}"
    );
    let empty = read_with(&[]).await;
    assert!(
        empty.contains("component `api` has no values file"),
        "{empty}"
    );
}

#[tokio::test]
async fn a_registry_that_refuses_access_fails_the_build_and_stores_nothing() {
    let world = World::with_registry(Registry::start_with_basic_auth("ci", "hunter22").unwrap());
    let db = world.chart_repo("db", "chart", "db");
    let product = world.product(&format!(
        r#"apiVersion: chorale.dev/v1alpha1
kind: Product
metadata: {{ name: locked }}
spec:
  versionLine: "1.0"
  components:
    - name: db
      source: {{ git: {}, ref: main, chartPath: chart }}
"#,
        db.url()
    ));
    let context = world.context().await;
    let target = format!("{}/chorale", world.registry.host());
    let error = bundle_product(&context, &bundle_request(product, Some(target)), &quiet())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("the registry refused access (HTTP 401/403)"),
        "{error}"
    );
    let builds = context.store.builds(None, 10).await.unwrap();
    assert_eq!(builds[0].status, Status::Failed);
    assert_eq!(builds[0].stages[1].status, Status::Failed);
    assert!(builds[0].bundle.is_none());
}

#[tokio::test]
async fn a_registry_going_down_mid_bundle_moves_no_tag_and_records_no_bundle() {
    let world = World::new();
    let product = demo(&world);
    let context = world.context().await;
    let direct = format!("{}/chorale", world.registry.host());
    let first = bundle_product(
        &context,
        &bundle_request(product.clone(), Some(direct.clone())),
        &quiet(),
    )
    .await
    .unwrap();
    let latest = || {
        let raw = skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{direct}/demo:latest"),
        ]);
        chorale_runners::digest::sha256(raw.trim_end().as_bytes())
    };
    assert_eq!(latest(), first.bundle.digest);

    // A new commit, pushed through a proxy that goes down once the bundle repository is touched
    // (after the standalone charts went through).
    let db = world.git.create_repo("db-next").unwrap();
    crate::support::write_chart(&db, "chart", "db", "0.2.0");
    db.commit("db 0.2").unwrap();
    let text = std::fs::read_to_string(&product)
        .unwrap()
        .replace("/db.git", "/db-next.git");
    std::fs::write(&product, text).unwrap();
    let outage = Outage::start(&world.registry.host(), "/v2/chorale/demo/").await;
    let through = format!("{}/chorale", outage.host);
    let error = bundle_product(
        &context,
        &bundle_request(product.clone(), Some(through.clone())),
        &quiet(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(outage.is_down());
    assert!(error.contains("503"), "{error}");

    // Nothing moved, nothing recorded as bundled; the build says where it failed.
    assert_eq!(
        latest(),
        first.bundle.digest,
        "latest still points at the last good bundle"
    );
    let builds = context.store.builds(None, 10).await.unwrap();
    let failed = &builds[0];
    assert_eq!(failed.status, Status::Failed);
    assert!(failed.bundle.is_none());
    assert_eq!(failed.stages[0].status, Status::Succeeded);
    assert_eq!(failed.stages[1].status, Status::Failed);
    assert!(
        failed.error.as_deref().unwrap().starts_with("bundle: "),
        "{failed:?}"
    );
    let tags: Value = serde_json::from_str(&skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{direct}/demo"),
    ]))
    .unwrap();
    assert_eq!(
        tags["Tags"].as_array().unwrap().len(),
        2,
        "only the first build's tags: {tags}"
    );

    // When the registry is back, the same request completes and moves latest.
    outage.recover();
    let second = bundle_product(&context, &bundle_request(product, Some(through)), &quiet())
        .await
        .unwrap();
    assert_ne!(second.bundle.digest, first.bundle.digest);
    assert_eq!(latest(), second.bundle.digest);
}
