//! Builds and locks as a full run records them, made by hand with fixed ids and times, and
//! a state folder with a git daemon to hold them.

use std::path::{Path, PathBuf};

use chorale::Context;
use chorale::manifest::{Product, VersionLine, load_product};
use chorale::resources::build::{Build, Stage, StageRun, Status};
use chorale::resources::lock::{Lock, LockedChart, LockedComponent, LockedImage, LockedSource};
use chorale_runners::registry::RegistryOptions;
use chorale_testkit::{GitDaemon, GitRepo};
use jiff::Timestamp;

/// `2026-11-DAYTHH:MM:SSZ`, e.g. `at("23T02:14:00")`.
pub fn at(day_and_time: &str) -> Timestamp {
    format!("2026-11-{day_and_time}Z")
        .parse()
        .expect("a fixed timestamp parses")
}

/// A state folder, its context and a git daemon for the components' repositories.
pub struct Bench {
    pub git: GitDaemon,
    pub dir: tempfile::TempDir,
    pub context: Context,
}

impl Bench {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let context = Context::open(&dir.path().join("state"), None, RegistryOptions::default())
            .await
            .expect("the state store opens");
        Self {
            git: GitDaemon::start().expect("git daemon starts"),
            dir,
            context,
        }
    }

    /// The state folder.
    pub fn state(&self) -> PathBuf {
        self.context.state_dir.clone()
    }

    /// A build's folder.
    pub fn build_dir(&self, id: &str) -> PathBuf {
        chorale::clusters::build_dir(&self.context, id)
    }

    /// Write `contents` at `relative` in build `id`'s folder.
    pub fn build_file(&self, id: &str, relative: &str, contents: &str) {
        let path = self.build_dir(id).join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    /// A product `demo` (one component) whose `spec` ends with `extra_spec` (indented by
    /// two spaces), loaded from the bench's folder.
    pub fn product(&self, extra_spec: &str) -> Product {
        let path = self.dir.path().join("product.yaml");
        std::fs::write(
            &path,
            format!(
                "apiVersion: chorale.dev/v1alpha1
kind: Product
metadata: {{ name: demo }}
spec:
  versionLine: \"1.0\"
  components:
    - name: db
      source: {{ git: git://127.0.0.1:9418/db.git, ref: main }}
{extra_spec}"
            ),
        )
        .unwrap();
        load_product(&path).unwrap_or_else(|errors| panic!("{errors}"))
    }

    /// A path in the bench's folder.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }
}

/// A component built from `repo` at `commit`, with one image.
pub fn git_component(
    repo: &GitRepo,
    commit: &str,
    chart_digit: char,
    image_digit: char,
) -> LockedComponent {
    let name = repo.name().to_owned();
    LockedComponent {
        source: Some(LockedSource {
            repository: repo.url().to_owned(),
            reference: "main".to_owned(),
            commit: commit.to_owned(),
            chart_path: "chart".to_owned(),
        }),
        chart: LockedChart {
            name: name.clone(),
            version: format!("0.1.0+git.{}", &commit[..12]),
            digest: format!("sha256:{}", chart_digit.to_string().repeat(64)),
            repository: None,
        },
        images: vec![LockedImage {
            reference: format!("127.0.0.1:5000/demo/{name}:main"),
            digest: format!("sha256:{}", image_digit.to_string().repeat(64)),
            values: "image".to_owned(),
        }],
        depends_on: vec![],
        values: serde_json::Map::new(),
        name,
    }
}

/// A component whose chart comes from an OCI registry.
pub fn oci_component(name: &str, digit: char) -> LockedComponent {
    LockedComponent {
        name: name.to_owned(),
        source: None,
        chart: LockedChart {
            name: name.to_owned(),
            version: "1.2.0".to_owned(),
            digest: format!("sha256:{}", digit.to_string().repeat(64)),
            repository: Some(format!("oci://127.0.0.1:5000/charts/{name}")),
        },
        images: vec![],
        depends_on: vec![],
        values: serde_json::Map::new(),
    }
}

/// A lock of product `demo`.
pub fn lock(components: Vec<LockedComponent>) -> Lock {
    Lock::new("demo", VersionLine { major: 1, minor: 0 }, components, None)
}

/// A finished build of `demo` created on `day` (`23` for 2026-11-23) at 02:14, its stages
/// each a minute long and ended with `status` (the last stages skipped after a failure).
pub fn finished_build(id: &str, day: &str, status: Status, lock: Option<&Lock>) -> Build {
    let mut build = Build::start("demo", "schedule", &Stage::RUN);
    id.clone_into(&mut build.id);
    build.created_at = at(&format!("{day}T02:14:00"));
    build.lock_id = lock.map(|l| l.id.clone());
    build.candidate_version = Some(format!("1.0.202611{day}"));
    let failed_at = if status == Status::Failed {
        4
    } else {
        Stage::RUN.len()
    };
    build.stages = Stage::RUN
        .iter()
        .enumerate()
        .map(|(i, name)| StageRun {
            name: *name,
            status: match i.cmp(&failed_at) {
                std::cmp::Ordering::Less => Status::Succeeded,
                std::cmp::Ordering::Equal => Status::Failed,
                std::cmp::Ordering::Greater if *name == Stage::Teardown => Status::Succeeded,
                std::cmp::Ordering::Greater => Status::Skipped,
            },
            started_at: Some(at(&format!("{day}T02:{:02}:00", 14 + i))),
            finished_at: Some(at(&format!("{day}T02:{:02}:00", 15 + i))),
            message: (i == failed_at).then(|| "1 blocking test failed".to_owned()),
        })
        .collect();
    build.status = status;
    build.finished_at = Some(at(&format!("{day}T02:20:00")));
    build
}

/// Save a build (and its lock) through the store.
pub async fn save(context: &Context, build: &Build, lock: Option<&Lock>) {
    if let Some(lock) = lock {
        context.store.put_lock(lock).await.unwrap();
    }
    context.store.save_build(build).await.unwrap();
}

/// `text` with `path` (and its absolute form) written as `<STATE>`.
pub fn without_path(text: &str, path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    text.replace(&absolute.display().to_string(), "<STATE>")
        .replace(&path.display().to_string(), "<STATE>")
}
