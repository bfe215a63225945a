//! Snapshot against a real registry and git daemon: commits, reproducible charts, OCI chart
//! ranges, image and index digests; and every way resolution can fail.

use chorale::ops::{SnapshotRequest, snapshot_product};
use chorale_testkit::{MultiArchImage, ScratchImage};

use crate::support::{World, quiet, tree_id, write_chart};

fn request(path: std::path::PathBuf) -> SnapshotRequest {
    SnapshotRequest {
        manifest: path,
        concurrency: 8,
    }
}

#[tokio::test]
async fn snapshot_pins_commits_charts_and_images() {
    let world = World::new();
    let db = world.chart_repo("db", "chart", "db");
    let api = world.git.create_repo("api").unwrap();
    write_chart(&api, "deploy/chart", "api", "1.4.0");
    api.commit("api v1").unwrap();
    api.branch("v2").unwrap();
    api.switch("v2").unwrap();
    api.write_file("deploy/chart/templates/extra.yaml", "# more\n")
        .unwrap();
    let api_v2 = api.commit("api v2").unwrap();
    for version in ["1.0.0", "1.1.0", "2.0.0"] {
        world.push_oci_chart("ext", version);
    }
    let db_image = world.push_image("demo/db:main");
    let multi = MultiArchImage::new(
        ScratchImage::new().label("multi", "yes"),
        &["amd64", "arm64"],
    )
    .push(&world.registry, "demo/multi:1")
    .unwrap();
    let host = world.registry.host();
    let product = world.product(&format!(
        r#"apiVersion: chorale.dev/v1alpha1
kind: Product
metadata: {{ name: demo }}
spec:
  versionLine: "2.1"
  components:
    - name: db
      source: {{ git: {db}, ref: main, chartPath: chart }}
      images:
        - ref: {host}/demo/db:main
    - name: api
      source: {{ git: {api_path}, ref: v2, chartPath: deploy/chart }}
      dependsOn: [db]
      images:
        - ref: {host}/demo/multi:1
          values: sidecar.image
    - name: ext
      chart: {{ oci: oci://{host}/charts/ext, version: "^1.0" }}
"#,
        db = db.url(),
        api_path = api.path().display(),
    ));
    let context = world.context().await;
    let lock = snapshot_product(&context, &request(product.clone()), &quiet())
        .await
        .unwrap();

    assert_eq!(lock.product, "demo");
    assert_eq!(lock.id, lock.compute_id());
    let names: Vec<&str> = lock.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["api", "db", "ext"], "sorted by name");

    let db_locked = lock.component("db").unwrap();
    let source = db_locked.source.as_ref().unwrap();
    assert_eq!(source.commit, db.rev_parse("main").unwrap());
    assert_eq!(source.reference, "main");
    assert_eq!(db_locked.chart.name, "db");
    let tree = tree_id(&db, "main", "chart");
    assert_eq!(
        db_locked.chart.version,
        format!("0.1.0+git.{}", &tree[..12]),
        "stamped with the chart folder's tree id"
    );
    assert_eq!(db_locked.images[0].digest, db_image.digest);

    let api_locked = lock.component("api").unwrap();
    assert_eq!(api_locked.source.as_ref().unwrap().commit, api_v2);
    assert_eq!(api_locked.depends_on, ["db"]);
    assert_eq!(
        api_locked.images[0].digest, multi.digest,
        "an index keeps its own digest"
    );
    assert_eq!(api_locked.images[0].values, "sidecar.image");

    let ext = lock.component("ext").unwrap();
    assert_eq!(
        ext.chart.version, "1.1.0",
        "the highest version matching ^1.0"
    );
    assert!(ext.source.is_none());
    assert_eq!(
        ext.chart.repository.as_deref(),
        Some(format!("oci://{host}/charts/ext").as_str())
    );

    // The same inputs give the same lock, even from a new state folder (fresh git mirrors).
    let again = snapshot_product(&context, &request(product.clone()), &quiet())
        .await
        .unwrap();
    assert_eq!(again, lock);
    let other_state = tempfile::tempdir().unwrap();
    let fresh = chorale::Context::open(
        other_state.path(),
        None,
        chorale_runners::registry::RegistryOptions::default(),
    )
    .await
    .unwrap();
    let elsewhere = snapshot_product(&fresh, &request(product.clone()), &quiet())
        .await
        .unwrap();
    assert_eq!(
        elsewhere.id, lock.id,
        "charts package to the same bytes everywhere"
    );

    // A new commit moves exactly that component.
    db.write_file("chart/templates/new.yaml", "# new\n")
        .unwrap();
    db.commit("change db").unwrap();
    let moved = snapshot_product(&context, &request(product), &quiet())
        .await
        .unwrap();
    assert_ne!(moved.id, lock.id);
    assert_ne!(
        moved.component("db").unwrap().chart.digest,
        db_locked.chart.digest
    );
    assert_eq!(moved.component("api"), lock.component("api"));

    // Locks are stored.
    assert_eq!(context.store.find_locks(&lock.id).await.unwrap(), [lock]);
}

/// A product with one git component and one image, to break in the tests below.
fn one_component(world: &World, git: &str, reference: &str, image: &str) -> std::path::PathBuf {
    world.product(&format!(
        r#"apiVersion: chorale.dev/v1alpha1
kind: Product
metadata: {{ name: broken }}
spec:
  versionLine: "1.0"
  components:
    - name: db
      source: {{ git: {git}, ref: {reference}, chartPath: chart }}
      images:
        - ref: {image}
"#
    ))
}

/// Snapshot must fail with `expected` in its message and store nothing.
async fn fails_storing_nothing(world: &World, product: std::path::PathBuf, expected: &str) {
    let context = world.context().await;
    let error = snapshot_product(&context, &request(product), &quiet())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(expected),
        "expected `{expected}` in: {error}"
    );
    assert!(
        context
            .store
            .find_locks("sha256:")
            .await
            .unwrap()
            .is_empty(),
        "no lock stored"
    );
}

#[tokio::test]
async fn a_missing_image_tag_is_named() {
    let world = World::new();
    let db = world.chart_repo("db", "chart", "db");
    world.push_image("demo/db:main");
    let image = format!("{}/demo/db:nightly", world.registry.host());
    let product = one_component(&world, db.url(), "main", &image);
    fails_storing_nothing(
        &world,
        product,
        &format!("component `db`: {image}: not found"),
    )
    .await;
}

#[tokio::test]
async fn a_missing_ref_lists_what_exists() {
    let world = World::new();
    let db = world.chart_repo("db", "chart", "db");
    db.tag("v1.0.0").unwrap();
    let image = world.push_image("demo/db:main").reference;
    let product = one_component(&world, db.url(), "v9", &image);
    fails_storing_nothing(&world, product, "ref `v9` not found in").await;
    let product = one_component(&world, db.url(), "v9", &image);
    fails_storing_nothing(&world, product, "branches: main; tags: v1.0.0").await;
}

#[tokio::test]
async fn an_unreachable_git_remote_is_named() {
    let world = World::new();
    let image = world.push_image("demo/db:main").reference;
    // A port nothing listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let remote = format!("git://127.0.0.1:{port}/db.git");
    let product = one_component(&world, &remote, "main", &image);
    fails_storing_nothing(
        &world,
        product,
        &format!("component `db`: cannot fetch {remote}"),
    )
    .await;
}

#[tokio::test]
async fn no_chart_version_in_range_lists_the_versions() {
    let world = World::new();
    world.push_oci_chart("ext", "1.0.0");
    world.push_oci_chart("ext", "1.2.0");
    let product = world.product(&format!(
        r#"apiVersion: chorale.dev/v1alpha1
kind: Product
metadata: {{ name: broken }}
spec:
  versionLine: "1.0"
  components:
    - name: ext
      chart: {{ oci: oci://{}/charts/ext, version: "^3.0" }}
"#,
        world.registry.host()
    ));
    fails_storing_nothing(&world, product, "no version of oci://127.0.0.1").await;
    let product = world.dir.path().join("product.yaml");
    fails_storing_nothing(&world, product, "matches `^3.0` (it has: 1.2.0, 1.0.0)").await;
}

#[tokio::test]
async fn every_broken_component_is_reported_in_one_run() {
    let world = World::new();
    let db = world.chart_repo("db", "chart", "db");
    let host = world.registry.host();
    let product = world.product(&format!(
        r#"apiVersion: chorale.dev/v1alpha1
kind: Product
metadata: {{ name: broken }}
spec:
  versionLine: "1.0"
  components:
    - name: db
      source: {{ git: {db}, ref: nope, chartPath: chart }}
    - name: web
      source: {{ git: {db}, ref: main, chartPath: not/there }}
      images:
        - ref: {host}/demo/web:missing
"#,
        db = db.url()
    ));
    let context = world.context().await;
    let error = snapshot_product(&context, &request(product), &quiet())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("component `db`: ref `nope` not found"),
        "{error}"
    );
    assert!(
        error.contains("component `web`: ") && error.contains("`not/there` is not a folder"),
        "{error}"
    );
    assert!(
        error.contains(&format!("{host}/demo/web:missing: not found")),
        "{error}"
    );
}

#[tokio::test]
async fn the_last_lock_makes_unchanged_images_cheap_and_a_moved_tag_is_still_seen() {
    let world = World::new();
    let db = world.chart_repo("db", "chart", "db");
    let host = world.registry.host();
    let first = world.push_image("demo/db:main");
    let cache = world.push_image("demo/cache:main");
    let product = world.product(&format!(
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
        - ref: {host}/demo/cache:main
          values: cache.image
"#,
        db = db.url(),
    ));
    let context = world.context().await;
    let manifest_answers = |since: usize| -> Vec<(String, u16)> {
        let mut answers: Vec<(String, u16)> = world.registry.served().unwrap()[since..]
            .iter()
            .filter(|r| r.uri.contains("/manifests/"))
            .map(|r| (format!("{} {}", r.method, r.uri), r.status))
            .collect();
        answers.sort();
        answers
    };
    let lock = snapshot_product(&context, &request(product.clone()), &quiet())
        .await
        .unwrap();
    assert_eq!(
        context.store.latest_lock("demo").await.unwrap().as_ref(),
        Some(&lock)
    );

    // The db tag moves; the cache tag stays.
    let second = ScratchImage::new()
        .label("build", "2")
        .push(&world.registry, "demo/db:main")
        .unwrap();
    assert_ne!(second.digest, first.digest);
    let before = world.registry.served().unwrap().len();
    let moved = snapshot_product(&context, &request(product.clone()), &quiet())
        .await
        .unwrap();
    let images = &moved.component("db").unwrap().images;
    assert_eq!(images[0].digest, second.digest, "the moved tag is seen");
    assert_eq!(images[1].digest, cache.digest);
    assert_eq!(
        manifest_answers(before),
        [
            ("HEAD /v2/demo/cache/manifests/main".to_owned(), 304),
            ("HEAD /v2/demo/db/manifests/main".to_owned(), 200),
        ],
        "asked on the digests of the last lock: the unchanged tag is not modified"
    );

    // Now nothing has moved since the last lock.
    let before = world.registry.served().unwrap().len();
    let again = snapshot_product(&context, &request(product), &quiet())
        .await
        .unwrap();
    assert_eq!(again, moved);
    assert_eq!(
        manifest_answers(before),
        [
            ("HEAD /v2/demo/cache/manifests/main".to_owned(), 304),
            ("HEAD /v2/demo/db/manifests/main".to_owned(), 304),
        ]
    );
}

#[tokio::test]
async fn a_library_chart_as_a_component_is_named() {
    let world = World::new();
    let db = world.git.create_repo("db").unwrap();
    db.write_file(
        "chart/Chart.yaml",
        "apiVersion: v2\nname: common\ntype: library\nversion: 1.0.0\n",
    )
    .unwrap();
    db.write_file("chart/templates/_helpers.tpl", "{{/* x */}}\n")
        .unwrap();
    db.commit("a library").unwrap();
    let image = world.push_image("demo/db:main").reference;
    let product = one_component(&world, db.url(), "main", &image);
    fails_storing_nothing(&world, product.clone(), "component `db`: chart ").await;
    fails_storing_nothing(
        &world,
        product,
        "Chart.yaml: `common` is a library chart (`type: library`), and helm does not install \
         library charts",
    )
    .await;
}
