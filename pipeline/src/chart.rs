//! Helm charts: packaging a chart folder read from a commit into a reproducible `.tgz`, and the
//! OCI form Helm pushes and pulls (config + one content layer).
//!
//! The same folder always gives the same bytes, whatever the commit it was read from: entries
//! sorted by path, every timestamp [`ARCHIVE_TIME`], owner 0:0, modes 0644/0755, a gzip header
//! without name or time. The chart's version gets the folder's git tree id as build metadata
//! (`0.1.0+git.0123456789ab`), so two different folders never publish the same chart version,
//! and a commit that leaves the folder as it was (one to another chart of a monorepo) leaves
//! the version, the bytes and the digest as they were.

use chorale_runners::git::{Folder, TreeFile};
use serde_json::{Map, Value};

use crate::archive::{Entry, tgz};

mod dependencies;
pub mod helmignore;

/// Media type of Helm's chart config blob.
pub const HELM_CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";
/// Media type of Helm's chart content layer.
pub const HELM_CHART_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// The time of every archive entry: 1980-01-01T00:00:00Z. Fixed rather than a commit's time,
/// so the bytes depend on the folder alone (the same tree reached by two histories, or read
/// from a later commit, packages identically, and the package can be cached by tree id); not
/// 0, which some tools read as "no time".
pub const ARCHIVE_TIME: u64 = 315_532_800;

/// The version of the packaging rules: part of the cache key of packaged charts
/// ([`crate::chart_cache`]). Bump it with any change to what bytes a folder packages into
/// (stamp, archive layout, ignore or dependency rules), so charts packaged by the old rules are
/// packaged again.
pub const PACKAGING_RULES: u32 = 3;

/// A chart ready to push: its `.tgz` and Helm's config blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartPackage {
    /// `name` of Chart.yaml.
    pub name: String,
    /// The version as packaged.
    pub version: String,
    /// The `.tgz` bytes.
    pub archive: Vec<u8>,
    /// The Helm config blob (Chart.yaml metadata as JSON).
    pub config: Vec<u8>,
}

impl ChartPackage {
    /// `sha256:…` of the archive.
    pub fn digest(&self) -> String {
        chorale_runners::digest::sha256(&self.archive)
    }

    /// The OCI tag Helm uses for this version (`+` is not allowed in tags and becomes `_`).
    pub fn tag(&self) -> String {
        self.version.replace('+', "_")
    }

    /// The file name Helm gives the archive.
    pub fn file_name(&self) -> String {
        format!("{}-{}.tgz", self.name, self.version)
    }
}

/// Package the chart in `folder` reproducibly, with the files `helm package` would put in it:
/// the bytes are a function of its files (and so of its tree id) alone.
///
/// As helm 3.10 loads a chart folder: `.helmignore` as helm reads it (see [`helmignore`]),
/// a UTF-8 byte-order mark dropped from the start of every file, `charts/.x` and `charts/_x`
/// left out; the dependencies of Chart.yaml must be vendored in what is packaged.
pub fn package(folder: &Folder) -> Result<ChartPackage, String> {
    let chart_yaml = folder
        .files
        .iter()
        .find(|f| f.path == "Chart.yaml")
        .ok_or("has no Chart.yaml at its root; point chartPath at the chart folder")?;
    let text = std::str::from_utf8(content(chart_yaml))
        .map_err(|_| "Chart.yaml is not UTF-8".to_owned())?;
    let mut metadata: Map<String, Value> =
        serde_saphyr::from_str(text).map_err(|e| format!("Chart.yaml: {}", e.without_snippet()))?;
    let name = string_field(&metadata, "name")?;
    let version = parse_version(&string_field(&metadata, "version")?)?;
    match metadata.get("apiVersion").and_then(Value::as_str) {
        Some("v1" | "v2") => {}
        _ => return Err("Chart.yaml: apiVersion must be v1 or v2".to_owned()),
    }
    if metadata.get("type").and_then(Value::as_str) == Some("library") {
        return Err(format!(
            "Chart.yaml: `{name}` is a library chart (`type: library`), and helm does not \
             install library charts: they are dependencies of application charts. Make the \
             component an application chart that vendors `{name}` under charts/"
        ));
    }

    let ignore_file = folder
        .files
        .iter()
        .find(|f| f.path == ".helmignore")
        .map(|f| String::from_utf8_lossy(content(f)).into_owned());
    let rules = helmignore::Rules::parse(ignore_file.as_deref())?;
    let packaged: Vec<&TreeFile> = folder
        .files
        .iter()
        .filter(|f| rules.packages(&f.path) && !dependencies::skipped_by_helm(&f.path))
        .collect();
    if !packaged.iter().any(|f| f.path == "Chart.yaml") {
        return Err(
            ".helmignore leaves out Chart.yaml (a `!` rule leaves out everything it does not \
             match), so helm cannot package the chart"
                .to_owned(),
        );
    }
    let vendored = dependencies::vendored(packaged.iter().map(|f| (f.path.as_str(), content(f))))?;
    let all = dependencies::vendored(folder.files.iter().map(|f| (f.path.as_str(), content(f))))
        .unwrap_or_default();
    dependencies::check(&metadata, &vendored, &all)?;

    let short = folder.tree.get(..12).unwrap_or(&folder.tree);
    let mut version = version;
    version.build = semver::BuildMetadata::new(&format!("git.{short}"))
        .map_err(|e| format!("cannot stamp the version: {e}"))?;
    let version = version.to_string();
    metadata.insert("version".to_owned(), Value::from(version.clone()));
    let rewritten = rewrite_version(text, &version)?;

    let entries = packaged.into_iter().map(|file| Entry {
        path: format!("{name}/{}", file.path),
        content: if file.path == "Chart.yaml" {
            rewritten.as_bytes()
        } else {
            content(file)
        },
        executable: file.executable,
    });
    let archive =
        tgz(entries, ARCHIVE_TIME).map_err(|e| format!("cannot archive the chart: {e}"))?;
    let config = serde_json::to_vec(&Value::Object(metadata)).expect("metadata serialises");
    Ok(ChartPackage {
        name,
        version,
        archive,
        config,
    })
}

const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

/// A file's bytes as helm loads them: without a UTF-8 byte-order mark at the start.
fn content(file: &TreeFile) -> &[u8] {
    file.content.strip_prefix(UTF8_BOM).unwrap_or(&file.content)
}

/// The chart's version, strict SemVer 2. helm 3.10 coerces `v1.9.0`, `1.9` or `1` into
/// `1.9.0`; Chorale refuses them and says what to write.
fn parse_version(text: &str) -> Result<semver::Version, String> {
    semver::Version::parse(text).map_err(|error| match coerce(text) {
        Some(coerced) => format!(
            "Chart.yaml: version `{text}` is not strict SemVer 2 (MAJOR.MINOR.PATCH); helm \
             would coerce it to {coerced}, Chorale does not: write `version: {coerced}`"
        ),
        None => format!(
            "Chart.yaml: version `{text}` is not semver ({error}); write MAJOR.MINOR.PATCH, \
             e.g. `version: 1.9.0`"
        ),
    })
}

/// The strict version helm would make of a loose one (`v` dropped, a missing minor or patch
/// made 0), if it is one.
fn coerce(text: &str) -> Option<semver::Version> {
    let text = text.strip_prefix('v').unwrap_or(text);
    let (text, build) = match text.split_once('+') {
        Some((text, build)) => (text, format!("+{build}")),
        None => (text, String::new()),
    };
    let (core, pre) = match text.split_once('-') {
        Some((core, pre)) => (core, format!("-{pre}")),
        None => (text, String::new()),
    };
    let mut parts: Vec<&str> = core.split('.').collect();
    if parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    parts.resize(3, "0");
    semver::Version::parse(&format!("{}{pre}{build}", parts.join("."))).ok()
}

fn string_field(metadata: &Map<String, Value>, key: &str) -> Result<String, String> {
    match metadata.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(format!("Chart.yaml: `{key}` is missing")),
    }
}

/// Replace the top-level `version:` line of Chart.yaml, keeping everything else byte for byte.
fn rewrite_version(text: &str, version: &str) -> Result<String, String> {
    let mut found = false;
    let lines: Vec<String> = text
        .split_inclusive('\n')
        .map(|line| {
            if !found && line.starts_with("version:") {
                found = true;
                let ending = if line.ends_with("\r\n") {
                    "\r\n"
                } else if line.ends_with('\n') {
                    "\n"
                } else {
                    ""
                };
                format!("version: {version}{ending}")
            } else {
                line.to_owned()
            }
        })
        .collect();
    if found {
        Ok(lines.concat())
    } else {
        Err("Chart.yaml: write `version:` at the start of a line (block style)".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &str) -> TreeFile {
        TreeFile {
            path: path.to_owned(),
            executable: false,
            content: content.as_bytes().to_vec(),
        }
    }

    const TREE: &str = "0123456789abcdef0123456789abcdef01234567";

    fn folder(files: Vec<TreeFile>) -> Folder {
        Folder {
            tree: TREE.to_owned(),
            commit_time: 1_700_000_000,
            files,
        }
    }

    const CHART: &str =
        "apiVersion: v2\nname: db\n# the version\nversion: 0.1.0\ndescription: a db\n";

    fn read_entries(archive: &[u8]) -> Vec<(String, u64, String)> {
        let mut out = Vec::new();
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
        for entry in tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
            out.push((
                entry.path().unwrap().to_string_lossy().into_owned(),
                entry.header().mtime().unwrap(),
                text,
            ));
        }
        out
    }

    #[test]
    fn the_same_folder_gives_the_same_bytes() {
        let f = folder(vec![
            file("Chart.yaml", CHART),
            file("templates/cm.yaml", "kind: ConfigMap\n"),
            file("values.yaml", "a: 1\n"),
        ]);
        let a = package(&f).unwrap();
        // Read from another commit (another time), the same tree packages the same.
        let later = Folder {
            commit_time: 1_800_000_000,
            ..f.clone()
        };
        assert_eq!(a, package(&later).unwrap());
        assert_eq!(a.version, "0.1.0+git.0123456789ab");
        assert_eq!(a.tag(), "0.1.0_git.0123456789ab");
        let other = Folder {
            tree: "ffff456789abcdef0123456789abcdef01234567".to_owned(),
            ..f.clone()
        };
        assert_ne!(a.digest(), package(&other).unwrap().digest());
        let entries = read_entries(&a.archive);
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            ["db/Chart.yaml", "db/templates/cm.yaml", "db/values.yaml"]
        );
        assert!(entries.iter().all(|e| e.1 == ARCHIVE_TIME));
        assert_eq!(
            entries[0].2,
            "apiVersion: v2\nname: db\n# the version\nversion: 0.1.0+git.0123456789ab\ndescription: a db\n"
        );
        let config: Value = serde_json::from_slice(&a.config).unwrap();
        assert_eq!(config["version"], "0.1.0+git.0123456789ab");
        assert_eq!(config["description"], "a db");
    }

    #[test]
    fn helmignore_excludes_files() {
        let f = folder(vec![
            file(".helmignore", "# comment\n*.md\nci/\n"),
            file("Chart.yaml", CHART),
            file("README.md", "x"),
            file("ci/values.yaml", "x"),
            file("templates/a.yaml", "x"),
        ]);
        let p = package(&f).unwrap();
        let names: Vec<String> = read_entries(&p.archive).into_iter().map(|e| e.0).collect();
        assert_eq!(
            names,
            ["db/.helmignore", "db/Chart.yaml", "db/templates/a.yaml"]
        );
    }

    #[test]
    fn broken_charts_say_what_is_wrong() {
        let no_chart = folder(vec![file("values.yaml", "")]);
        assert!(package(&no_chart).unwrap_err().contains("no Chart.yaml"));
        let bad_version = folder(vec![file(
            "Chart.yaml",
            "apiVersion: v2\nname: x\nversion: one\n",
        )]);
        assert!(package(&bad_version).unwrap_err().contains("not semver"));
        let missing_dep = folder(vec![file(
            "Chart.yaml",
            "apiVersion: v2\nname: x\nversion: 1.0.0\ndependencies:\n  - name: redis\n    version: 1.0.0\n",
        )]);
        assert!(
            package(&missing_dep)
                .unwrap_err()
                .contains("helm dependency build")
        );
    }

    #[test]
    fn loose_versions_say_what_helm_would_make_of_them() {
        for (loose, strict) in [("v1.9.0", "1.9.0"), ("1.9", "1.9.0"), ("2", "2.0.0")] {
            let chart = folder(vec![file(
                "Chart.yaml",
                &format!("apiVersion: v2\nname: x\nversion: \"{loose}\"\n"),
            )]);
            assert_eq!(
                package(&chart).unwrap_err(),
                format!(
                    "Chart.yaml: version `{loose}` is not strict SemVer 2 (MAJOR.MINOR.PATCH); \
                     helm would coerce it to {strict}, Chorale does not: write `version: {strict}`"
                )
            );
        }
    }

    #[test]
    fn a_library_chart_is_refused() {
        let chart = folder(vec![file(
            "Chart.yaml",
            "apiVersion: v2\nname: common\ntype: library\nversion: 1.0.0\n",
        )]);
        let error = package(&chart).unwrap_err();
        assert!(
            error.starts_with("Chart.yaml: `common` is a library chart (`type: library`)"),
            "{error}"
        );
        assert!(
            error.contains("helm does not install library charts"),
            "{error}"
        );
    }

    /// A chart archive as `helm package` makes it: NAME/Chart.yaml inside.
    fn chart_archive(name: &str, version: &str) -> Vec<u8> {
        let chart_yaml = format!("apiVersion: v2\nname: {name}\nversion: {version}\n");
        tgz(
            [Entry {
                path: format!("{name}/Chart.yaml"),
                content: chart_yaml.as_bytes(),
                executable: false,
            }],
            0,
        )
        .unwrap()
    }

    fn with_dependencies(extra: Vec<TreeFile>) -> Folder {
        let mut files = vec![file(
            "Chart.yaml",
            "apiVersion: v2\nname: x\nversion: 1.0.0\ndependencies:\n  - name: prometheus\n    version: 1.0.0\n  - name: redis\n    version: ^17.0.0\n  - name: pg\n    version: 12.1.0\n",
        )];
        files.extend(extra);
        files.sort_by(|a, b| a.path.cmp(&b.path));
        folder(files)
    }

    fn archive_file(path: &str, content: Vec<u8>) -> TreeFile {
        TreeFile {
            path: path.to_owned(),
            executable: false,
            content,
        }
    }

    #[test]
    fn dependencies_match_vendored_charts_by_name_and_version_and_all_are_named() {
        let error = package(&with_dependencies(vec![
            archive_file(
                "charts/prometheus-node-exporter-1.0.0.tgz",
                chart_archive("prometheus-node-exporter", "1.0.0"),
            ),
            archive_file("charts/redis-16.0.0.tgz", chart_archive("redis", "16.0.0")),
        ]))
        .unwrap_err();
        assert_eq!(
            error,
            "Chart.yaml: 3 dependencies are not vendored under charts/ as packaged: \
             `prometheus` 1.0.0 (missing), `redis` ^17.0.0 (charts/ has \
             charts/redis-16.0.0.tgz 16.0.0), `pg` 12.1.0 (missing); run `helm dependency \
             build` and commit charts/"
        );

        // An archive named otherwise and an unpacked folder count by their Chart.yaml.
        let ok = with_dependencies(vec![
            archive_file("charts/prom.tgz", chart_archive("prometheus", "1.0.0")),
            archive_file("charts/redis-17.3.0.tgz", chart_archive("redis", "17.3.0")),
            file(
                "charts/pg/Chart.yaml",
                "apiVersion: v2\nname: pg\nversion: 12.1.0\n",
            ),
        ]);
        package(&ok).unwrap();

        // What .helmignore leaves out is not vendored.
        let mut hidden = ok.clone();
        hidden.files.push(file(".helmignore", "charts/\n"));
        let error = package(&hidden).unwrap_err();
        assert!(
            error.contains("`pg` 12.1.0 (.helmignore leaves out charts/pg, so it is not packaged)"),
            "{error}"
        );

        // Anything else under charts/ makes helm refuse the chart.
        let mut stray = ok;
        stray.files.push(file("charts/README.md", "x"));
        let error = package(&stray).unwrap_err();
        assert!(error.starts_with("charts/README.md is neither"), "{error}");
    }

    #[test]
    fn byte_order_marks_are_dropped_as_helm_drops_them() {
        let f = folder(vec![
            file("Chart.yaml", &format!("\u{feff}{CHART}")),
            file("values.yaml", "\u{feff}a: 1\n"),
        ]);
        let p = package(&f).unwrap();
        let entries = read_entries(&p.archive);
        assert!(entries[0].2.starts_with("apiVersion: v2\n"));
        assert_eq!(entries[1].2, "a: 1\n");
    }
}
