//! Chorale packages a chart folder as the real `helm package` (3.10.1) does: on a corpus of
//! chart folders built here, exercising every `.helmignore` rule helm knows and vendored
//! dependencies, both archives hold the same files with the same bytes.
//!
//! What differs by design, and is compared as data instead: helm writes Chart.yaml again from
//! what it parsed (Chorale keeps the file and rewrites only its `version:` line), and helm
//! writes a vendored `charts/NAME-VERSION.tgz` unpacked as `charts/NAME/…` (Chorale keeps the
//! archive; it is expanded here before comparing). The archives' times and modes differ too.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use chorale::chart;
use chorale_runners::git::{Folder, TreeFile};

use crate::support::helm;

const TREE: &str = "0123456789abcdef0123456789abcdef01234567";

fn write(root: &Path, files: &[(&str, &[u8])]) {
    for (path, content) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
}

/// The folder as Chorale reads it from a commit: every file, sorted by path.
fn read_folder(root: &Path) -> Folder {
    fn walk(root: &Path, dir: &Path, files: &mut Vec<TreeFile>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, files);
            } else {
                files.push(TreeFile {
                    path: path
                        .strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                    executable: false,
                    content: std::fs::read(&path).unwrap(),
                });
            }
        }
    }
    let mut files = Vec::new();
    walk(root, root, &mut files);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Folder {
        commit_time: 1_700_000_000,
        tree: TREE.to_owned(),
        files,
    }
}

fn entries(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let mut out = Vec::new();
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type().is_dir() {
            continue;
        }
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        out.push((path, content));
    }
    out
}

/// What an archive holds, comparable: vendored archives unpacked under `charts/`, every
/// Chart.yaml as the data it says.
fn comparable(archive: &[u8]) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for (path, content) in entries(archive) {
        let nested = path.rsplit_once("/charts/").filter(|(_, name)| {
            !name.contains('/') && Path::new(name).extension().is_some_and(|e| e == "tgz")
        });
        if let Some((parent, _)) = nested {
            for (inner, content) in comparable(&content) {
                files.insert(format!("{parent}/charts/{inner}"), content);
            }
        } else if path.ends_with("/Chart.yaml") {
            let data: serde_json::Value =
                serde_saphyr::from_str(std::str::from_utf8(&content).unwrap()).unwrap();
            files.insert(path, format!("(as data) {data}"));
        } else {
            files.insert(path, String::from_utf8_lossy(&content).into_owned());
        }
    }
    files
}

/// `helm package` of `dir` at `version`: the archive, or helm's error.
fn helm_package(dir: &Path, version: &str) -> Result<Vec<u8>, String> {
    let out = tempfile::tempdir().unwrap();
    let output = helm(out.path())
        .args(["package", "--version", version, "--destination"])
        .arg(out.path())
        .arg(dir)
        .output()
        .unwrap();
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let archive = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "tgz"))
        .expect("helm wrote an archive");
    Ok(std::fs::read(archive).unwrap())
}

/// A chart archive made by helm itself, to vendor.
fn helm_archive(root: &Path, name: &str, version: &str) -> Vec<u8> {
    let dir = root.join("vendor-src").join(name);
    write(
        &dir,
        &[
            (
                "Chart.yaml",
                format!("apiVersion: v2\nname: {name}\nversion: {version}\n").as_bytes(),
            ),
            ("templates/cm.yaml", b"kind: ConfigMap\n"),
            ("values.yaml", format!("who: {name}\n").as_bytes()),
        ],
    );
    helm_package(&dir, version).unwrap()
}

/// A chart folder's files: path and bytes.
type Files = Vec<(String, Vec<u8>)>;

/// A folder helm refuses: its name, its files, what helm says and what Chorale says.
type Refused<'a> = (&'a str, Vec<(&'a str, &'a [u8])>, &'a str, &'a str);

const CHART: &str = "apiVersion: v2\nname: NAME\ndescription: a corpus chart\nversion: 1.0.0\n";

/// The corpus: chart folders that helm packages, each one rule or feature at least.
fn corpus(root: &Path) -> Vec<(&'static str, Files)> {
    let chart = |name: &str| CHART.replace("NAME", name).into_bytes();
    let files = |name: &str, ignore: &str, rest: &[(&str, &[u8])]| {
        let mut all = vec![
            ("Chart.yaml".to_owned(), chart(name)),
            (".helmignore".to_owned(), ignore.as_bytes().to_vec()),
            ("values.yaml".to_owned(), b"a: 1\n".to_vec()),
            (
                "templates/cm.yaml".to_owned(),
                b"kind: ConfigMap\n".to_vec(),
            ),
        ];
        all.extend(rest.iter().map(|(p, c)| ((*p).to_owned(), c.to_vec())));
        all
    };
    let prometheus = helm_archive(root, "prometheus", "1.0.0");
    let exporter = helm_archive(root, "prometheus-node-exporter", "1.0.0");
    let dependencies = "apiVersion: v2
name: deps
version: 1.0.0
dependencies:
  - name: prometheus
    version: ^1.0.0
    repository: https://charts.example.com
  - name: pg
    version: 12.1.0
    repository: https://charts.example.com
";
    vec![
        (
            "every rule",
            files(
                "rules",
                "# comments and blank lines are skipped\n\n   # indented too\n*.md\nci/\n\
                 /root.txt\ntemplates/*.txt\na?.tpl\nfiles/x[0-9].log\nfiles/y[^0-9].log\n\
                 files/[a-c]*.cfg\n  spaced.txt  \n",
                &[
                    ("README.md", b"readme"),
                    ("docs/guide.md", b"guide"),
                    ("docs/guide.txt", b"kept"),
                    ("ci/values.yaml", b"ci"),
                    ("deep/ci/values.yaml", b"deep ci"),
                    ("ci.yaml", b"a file named like the folder rule"),
                    ("root.txt", b"root"),
                    ("sub/root.txt", b"not at the root"),
                    ("templates/notes.txt", b"n"),
                    ("templates/sub/notes.txt", b"deeper"),
                    ("a1.tpl", b"a1"),
                    ("a10.tpl", b"a10"),
                    ("files/x5.log", b"x5"),
                    ("files/xa.log", b"xa"),
                    ("files/y5.log", b"y5"),
                    ("files/ya.log", b"ya"),
                    ("files/b.cfg", b"b"),
                    ("files/d.cfg", b"d"),
                    ("spaced.txt", b"s"),
                    (".env", b"a dotfile at the root"),
                    ("files/.hidden", b"a dotfile elsewhere"),
                    ("templates/.dot.yaml", b"kind: Secret\n"),
                    ("templates/.hidden/cm.yaml", b"kind: Secret\n"),
                    ("templates/sub/.kept.yaml", b"kind: ConfigMap\n"),
                    ("templates/_helpers.tpl", b"{{/* helpers */}}\n"),
                    ("bom.txt", b"\xef\xbb\xbfwith a byte-order mark\n"),
                ],
            ),
        ),
        (
            "a negated rule",
            files(
                "negated",
                "!*.yaml\n",
                &[("keep.yaml", b"k"), ("drop.txt", b"d")],
            ),
        ),
        (
            "a negated rule after another",
            files(
                "negafter",
                "*.txt\n!*.yaml\n",
                &[("keep.txt", b"k"), ("other.yaml", b"o")],
            ),
        ),
        (
            "no .helmignore",
            vec![
                ("Chart.yaml".to_owned(), chart("plain")),
                ("templates/.dot".to_owned(), b"x".to_vec()),
                (
                    "templates/cm.yaml".to_owned(),
                    b"kind: ConfigMap\n".to_vec(),
                ),
            ],
        ),
        (
            "dependencies",
            vec![
                ("Chart.yaml".to_owned(), dependencies.as_bytes().to_vec()),
                (".helmignore".to_owned(), b"*.bak\n".to_vec()),
                ("charts/prometheus-1.0.0.tgz".to_owned(), prometheus),
                (
                    "charts/prometheus-node-exporter-1.0.0.tgz".to_owned(),
                    exporter,
                ),
                (
                    "charts/pg/Chart.yaml".to_owned(),
                    b"apiVersion: v2\nname: pg\nversion: 12.1.0\n".to_vec(),
                ),
                (
                    "charts/pg/templates/.dot.yaml".to_owned(),
                    b"kind: Secret\n".to_vec(),
                ),
                (
                    "charts/pg/templates/sts.yaml".to_owned(),
                    b"kind: StatefulSet\n".to_vec(),
                ),
                ("charts/pg/values.bak".to_owned(), b"old".to_vec()),
                (
                    "charts/_old/Chart.yaml".to_owned(),
                    b"not: loaded\n".to_vec(),
                ),
                ("charts/.cache/x".to_owned(), b"x".to_vec()),
                (
                    "templates/cm.yaml".to_owned(),
                    b"kind: ConfigMap\n".to_vec(),
                ),
            ],
        ),
    ]
}

#[test]
fn chorale_packages_what_helm_packages() {
    let root = tempfile::tempdir().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for (case, files) in corpus(root.path()) {
        let dir = root.path().join(case.replace(' ', "-"));
        let borrowed: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_slice()))
            .collect();
        write(&dir, &borrowed);
        let chorale = chart::package(&read_folder(&dir))
            .unwrap_or_else(|e| panic!("{case}: Chorale refuses it: {e}"));
        let helm = helm_package(&dir, &chorale.version)
            .unwrap_or_else(|e| panic!("{case}: helm refuses it: {e}"));
        let packaged = comparable(&chorale.archive);
        assert_eq!(packaged, comparable(&helm), "{case}");
        seen.extend(packaged.into_keys());
    }
    // The comparison is not of two empty lists: what each case is about is there, or not.
    for kept in [
        "rules/templates/sub/.kept.yaml",
        "rules/files/.hidden",
        "rules/.env",
        "rules/a10.tpl",
        "rules/sub/root.txt",
        "rules/files/xa.log",
        "rules/files/y5.log",
        "rules/files/d.cfg",
        "rules/bom.txt",
        "negated/keep.yaml",
        "negafter/other.yaml",
        "deps/charts/prometheus/values.yaml",
        "deps/charts/pg/templates/.dot.yaml",
    ] {
        assert!(seen.contains(kept), "{kept} is packaged");
    }
    for left_out in [
        "rules/templates/.dot.yaml",
        "rules/templates/.hidden/cm.yaml",
        "rules/deep/ci/values.yaml",
        "rules/root.txt",
        "rules/files/ya.log",
        "rules/spaced.txt",
        "negated/templates/cm.yaml",
        "plain/templates/.dot",
        "deps/charts/pg/values.bak",
        "deps/charts/.cache/x",
    ] {
        assert!(!seen.contains(left_out), "{left_out} is left out");
    }
}

#[test]
fn chorale_refuses_what_helm_refuses() {
    let root = tempfile::tempdir().unwrap();
    let chart = "apiVersion: v2\nname: bad\nversion: 1.0.0\n";
    let with_dependency = "apiVersion: v2\nname: bad\nversion: 1.0.0\ndependencies:\n  - name: \
                           pg\n    version: 12.1.0\n    repository: https://charts.example.com\n";
    let pg = b"apiVersion: v2\nname: pg\nversion: 12.1.0\n".as_slice();
    let cases: [Refused; 4] = [
        (
            "double star",
            vec![
                ("Chart.yaml", chart.as_bytes()),
                (".helmignore", b"**/*.md\n"),
            ],
            "double-star (**) syntax is not supported",
            ".helmignore:1: `**/*.md`: `**` is not supported",
        ),
        (
            "a broken glob",
            vec![
                ("Chart.yaml", chart.as_bytes()),
                (".helmignore", b"# x\n[a-\n"),
            ],
            "syntax error in pattern",
            ".helmignore:2: `[a-`: syntax error in pattern",
        ),
        (
            "helmignore hides charts",
            vec![
                ("Chart.yaml", with_dependency.as_bytes()),
                (".helmignore", b"charts/\n"),
                ("charts/pg/Chart.yaml", pg),
            ],
            "found in Chart.yaml, but missing in charts/ directory: pg",
            "`pg` 12.1.0 (.helmignore leaves out charts/pg, so it is not packaged)",
        ),
        (
            "a stray file in charts",
            vec![("Chart.yaml", chart.as_bytes()), ("charts/README.md", b"x")],
            "Chart.yaml file is missing",
            "charts/README.md is neither a chart archive (.tgz) nor a chart folder",
        ),
    ];
    for (case, files, helm_says, chorale_says) in cases {
        let dir = root.path().join(case.replace(' ', "-"));
        write(&dir, &files);
        let helm = helm_package(&dir, "1.0.0").expect_err(case);
        assert!(helm.contains(helm_says), "{case}: helm says {helm}");
        let chorale = chart::package(&read_folder(&dir)).expect_err(case);
        assert!(
            chorale.contains(chorale_says),
            "{case}: Chorale says {chorale}"
        );
    }
}
