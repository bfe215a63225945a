//! Charts of a monorepo (`charts/<name>` of one repository, commits touching one chart at a
//! time): a chart's identity is its own folder, its changelog follows its path, and a chart
//! that did not change is not packaged again.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chorale::diff::{COMMITS_LISTED, diff, diff_with_commits};
use chorale::engine::events::{BuildEvent, Recorded};
use chorale::ops::{SnapshotRequest, snapshot_product};
use chorale::resources::lock::Lock;
use chorale::{Context, chart};
use chorale_testkit::GitRepo;

use crate::support::{World, quiet, tree_id, write_chart};

/// A repository with charts `a`, `b` and `c` under `charts/`, and a README beside them.
fn monorepo(world: &World) -> GitRepo {
    let repo = world.git.create_repo("mono").unwrap();
    for name in ["a", "b", "c"] {
        write_chart(&repo, &format!("charts/{name}"), name, "1.0.0");
    }
    repo.write_file("README.md", "# charts\n").unwrap();
    repo.commit("three charts").unwrap();
    repo
}

/// Change chart `name` of `repo` (a new line in its values) and commit with `message`.
fn touch(repo: &GitRepo, name: &str, message: &str) -> String {
    let values = repo.work_dir().join(format!("charts/{name}/values.yaml"));
    let mut text = std::fs::read_to_string(&values).unwrap();
    let _ = writeln!(text, "# {message}");
    repo.write_file(&format!("charts/{name}/values.yaml"), text)
        .unwrap();
    repo.commit(message).unwrap()
}

/// A product manifest `name` in `dir` with one component per chart of `charts`, all from `repo`.
fn product(dir: &Path, name: &str, repo: &GitRepo, charts: &[&str]) -> PathBuf {
    let mut yaml = format!(
        "apiVersion: chorale.dev/v1alpha1\nkind: Product\nmetadata: {{ name: {name} }}\nspec:\n  versionLine: \"1.0\"\n  components:\n"
    );
    for chart in charts {
        let _ = writeln!(
            yaml,
            "    - name: {chart}\n      source: {{ git: {}, ref: main, chartPath: charts/{chart} }}",
            repo.url()
        );
    }
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, yaml).unwrap();
    path
}

async fn snapshot(context: &Context, manifest: &Path) -> Lock {
    let request = SnapshotRequest {
        manifest: manifest.to_owned(),
        concurrency: 4,
    };
    snapshot_product(context, &request, &quiet()).await.unwrap()
}

/// Each file of the chart cache with its modification time.
fn cache_files(context: &Context) -> Vec<(String, SystemTime)> {
    let mut files: Vec<(String, SystemTime)> = std::fs::read_dir(context.runners.charts.dir())
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let modified = entry.metadata().unwrap().modified().unwrap();
            (entry.file_name().to_string_lossy().into_owned(), modified)
        })
        .collect();
    files.sort();
    files
}

/// Set every file of the chart cache's modification time to an hour ago.
fn age_cache(context: &Context) -> SystemTime {
    let old = SystemTime::now() - Duration::from_hours(1);
    for entry in std::fs::read_dir(context.runners.charts.dir()).unwrap() {
        let file = std::fs::File::options()
            .write(true)
            .open(entry.unwrap().path())
            .unwrap();
        file.set_modified(old).unwrap();
    }
    old
}

#[tokio::test]
async fn a_commit_to_one_chart_leaves_the_others_as_they_were() {
    let world = World::new();
    let repo = monorepo(&world);
    let dir = tempfile::tempdir().unwrap();
    let both = product(dir.path(), "ab", &repo, &["a", "b"]);
    let only_b = product(dir.path(), "justb", &repo, &["b"]);
    let context = world.context().await;
    let before = snapshot(&context, &both).await;
    let b_before = snapshot(&context, &only_b).await;

    let b = before.component("b").unwrap();
    assert_eq!(
        b.chart.version,
        format!("1.0.0+git.{}", &tree_id(&repo, "main", "charts/b")[..12]),
        "stamped with the tree id of the chart's folder"
    );

    let commit = touch(&repo, "a", "a: more replicas");
    repo.write_file("README.md", "# charts, documented\n")
        .unwrap();
    let docs = repo.commit("docs").unwrap();
    let after = snapshot(&context, &both).await;
    let b_after = snapshot(&context, &only_b).await;

    // The lock records the repository commit, for every component of the repository.
    assert_eq!(
        after
            .component("a")
            .unwrap()
            .source
            .as_ref()
            .unwrap()
            .commit,
        docs
    );
    assert_eq!(
        after
            .component("b")
            .unwrap()
            .source
            .as_ref()
            .unwrap()
            .commit,
        docs
    );
    // A's chart moved; B's version, digest (so bytes) are as they were.
    assert_ne!(
        after.component("a").unwrap().chart,
        before.component("a").unwrap().chart
    );
    assert_eq!(after.component("b").unwrap().chart, b.chart);
    // The product of B alone pins what it did: skip-unchanged holds, and no change is listed.
    assert_ne!(b_after.id, b_before.id, "the commit moved");
    assert!(b_after.pins_the_same_as(&b_before));
    assert!(diff(&b_before, &b_after).components.is_empty());
    assert!(!after.pins_the_same_as(&before));
    let changed = diff_with_commits(&context, &before, &after).await;
    let names: Vec<&str> = changed.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a"], "only the chart that changed is listed");
    let subjects: Vec<&str> = (changed.components[0].commits.iter())
        .map(|c| c.subject.as_str())
        .collect();
    assert_eq!(
        subjects,
        ["a: more replicas"],
        "only the commit that touched it"
    );
    assert_eq!(changed.components[0].commits[0].id, commit);

    // From a fresh state (new mirror, another commit time), the same bytes.
    let other = tempfile::tempdir().unwrap();
    let fresh = Context::open(
        other.path(),
        None,
        chorale_runners::registry::RegistryOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(snapshot(&fresh, &only_b).await, b_after);
}

#[tokio::test]
async fn the_changelog_lists_the_commits_that_touch_the_chart_newest_first() {
    let world = World::new();
    let repo = monorepo(&world);
    let dir = tempfile::tempdir().unwrap();
    let manifest = product(dir.path(), "ab", &repo, &["a", "b"]);
    let context = world.context().await;
    let before = snapshot(&context, &manifest).await;

    let extra = 3;
    let mut a_commits = Vec::new();
    for n in 0..COMMITS_LISTED + extra {
        a_commits.push(touch(&repo, "a", &format!("a: change {n}")));
        if n % 10 == 0 {
            touch(&repo, "b", &format!("b: change {n}"));
            touch(&repo, "c", &format!("c: change {n}"));
        }
    }
    let after = snapshot(&context, &manifest).await;
    let changed = diff_with_commits(&context, &before, &after).await;
    let a = changed.components.iter().find(|c| c.name == "a").unwrap();
    let listed: Vec<&str> = a.commits.iter().map(|c| c.id.as_str()).collect();
    let newest_first: Vec<&str> = a_commits
        .iter()
        .rev()
        .take(COMMITS_LISTED)
        .map(String::as_str)
        .collect();
    assert_eq!(listed, newest_first, "A's commits only, newest first");
    assert_eq!(a.commits_omitted, extra, "the rest are counted");
    let b = changed.components.iter().find(|c| c.name == "b").unwrap();
    assert_eq!(b.commits.len(), 6, "B's own commits: {:?}", b.commits);
    assert!(b.commits.iter().all(|c| c.subject.starts_with("b: ")));
    assert_eq!(b.commits[0].subject, "b: change 50");
    assert_eq!(b.commits_omitted, 0);
}

#[tokio::test]
async fn an_unchanged_chart_is_not_packaged_again_and_a_large_one_warns() {
    let world = World::new();
    let repo = monorepo(&world);
    repo.write_file("charts/c/files/data.bin", vec![7_u8; 3 << 20])
        .unwrap();
    repo.write_file("charts/c/files/small.bin", vec![1_u8; 1 << 20])
        .unwrap();
    repo.commit("c carries data").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifest = product(dir.path(), "abc", &repo, &["a", "b", "c"]);
    let mut context = world.context().await;
    context.runners.charts.size_warning = 2 << 20;

    let events = Recorded::default();
    let request = SnapshotRequest {
        manifest: manifest.clone(),
        concurrency: 4,
    };
    let first = snapshot_product(&context, &request, &events).await.unwrap();
    let warnings = |events: &Recorded| -> Vec<String> {
        (events.events().into_iter())
            .filter_map(|e| match e {
                BuildEvent::Warning { message } => Some(message),
                _ => None,
            })
            .collect()
    };
    let warned = warnings(&events);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].starts_with(
            "component c: the chart is 4.0 MiB unpacked, over the 2.0 MiB warning size; its largest files: c/files/data.bin (3.0 MiB), c/files/small.bin (1.0 MiB), "
        ),
        "{}",
        warned[0]
    );
    let rules = format!(".r{}.tgz", chart::PACKAGING_RULES);
    let kept = cache_files(&context);
    assert_eq!(
        kept.len(),
        6,
        "an archive and its description per chart: {kept:?}"
    );
    let c_tree = tree_id(&repo, "main", "charts/c");
    assert!(
        kept.iter()
            .any(|(name, _)| *name == format!("{c_tree}{rules}"))
    );

    // Nothing changed: nothing is packaged (or written) again, the lock is the same, and the
    // large chart still warns.
    let old = age_cache(&context);
    let events = Recorded::default();
    let second = snapshot_product(&context, &request, &events).await.unwrap();
    assert_eq!(second, first);
    assert!(
        cache_files(&context)
            .iter()
            .all(|(_, modified)| *modified == old)
    );
    assert_eq!(warnings(&events), warned);

    // A commit to A packages A alone.
    touch(&repo, "a", "a: change");
    let third = snapshot(&context, &manifest).await;
    let a_tree = tree_id(&repo, "main", "charts/a");
    let fresh: Vec<String> = (cache_files(&context).into_iter())
        .filter(|(_, modified)| *modified != old)
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        fresh,
        [
            format!("{a_tree}.r{}.json", chart::PACKAGING_RULES),
            format!("{a_tree}{rules}")
        ]
    );
    assert_eq!(
        third.component("c").unwrap().chart,
        first.component("c").unwrap().chart
    );

    // A damaged entry is packaged again, to the same bytes.
    std::fs::write(
        context
            .runners
            .charts
            .dir()
            .join(format!("{c_tree}{rules}")),
        b"damaged",
    )
    .unwrap();
    let fourth = snapshot(&context, &manifest).await;
    assert_eq!(
        fourth.component("c").unwrap().chart,
        first.component("c").unwrap().chart
    );
}
