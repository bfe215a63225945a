//! Helm charts: packaging a chart folder read from a commit into a reproducible `.tgz`, and the
//! OCI form Helm pushes and pulls (config + one content layer).
//!
//! The same commit always gives the same bytes: entries sorted by path, every timestamp the
//! commit time, owner 0:0, modes 0644/0755, a gzip header without name or time. The chart's
//! version gets the commit as build metadata (`0.1.0+git.0123456789ab`) so two commits never
//! publish the same chart version with different content.

use chorale_runners::git::{Folder, TreeFile};
use serde_json::{Map, Value};

use crate::archive::{Entry, tgz};

/// Media type of Helm's chart config blob.
pub const HELM_CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";
/// Media type of Helm's chart content layer.
pub const HELM_CHART_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

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

/// Package the chart in `folder` (read from `commit`) reproducibly.
pub fn package(folder: &Folder, commit: &str) -> Result<ChartPackage, String> {
    let chart_yaml = folder
        .files
        .iter()
        .find(|f| f.path == "Chart.yaml")
        .ok_or("has no Chart.yaml at its root; point chartPath at the chart folder")?;
    let text = std::str::from_utf8(&chart_yaml.content)
        .map_err(|_| "Chart.yaml is not UTF-8".to_owned())?;
    let mut metadata: Map<String, Value> =
        serde_saphyr::from_str(text).map_err(|e| format!("Chart.yaml: {}", e.without_snippet()))?;
    let name = string_field(&metadata, "name")?;
    let version = semver::Version::parse(&string_field(&metadata, "version")?)
        .map_err(|e| format!("Chart.yaml: version is not semver ({e})"))?;
    match metadata.get("apiVersion").and_then(Value::as_str) {
        Some("v1" | "v2") => {}
        _ => return Err("Chart.yaml: apiVersion must be v1 or v2".to_owned()),
    }
    check_dependencies(&metadata, &folder.files)?;
    let short = commit.get(..12).unwrap_or(commit);
    let mut version = version;
    version.build = semver::BuildMetadata::new(&format!("git.{short}"))
        .map_err(|e| format!("cannot stamp the version: {e}"))?;
    let version = version.to_string();
    metadata.insert("version".to_owned(), Value::from(version.clone()));
    let rewritten = rewrite_version(text, &version)?;

    let ignore = helmignore(folder)?;
    let mtime = u64::try_from(folder.commit_time).unwrap_or(0);
    let entries = folder
        .files
        .iter()
        .filter(|file| {
            !ignore
                .matched_path_or_any_parents(&file.path, false)
                .is_ignore()
        })
        .map(|file| Entry {
            path: format!("{name}/{}", file.path),
            content: if file.path == "Chart.yaml" {
                rewritten.as_bytes()
            } else {
                &file.content
            },
            executable: file.executable,
        });
    let archive = tgz(entries, mtime).map_err(|e| format!("cannot archive the chart: {e}"))?;
    let config = serde_json::to_vec(&Value::Object(metadata)).expect("metadata serialises");
    Ok(ChartPackage {
        name,
        version,
        archive,
        config,
    })
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

/// Charts declared in `dependencies` must be vendored under `charts/` (as Helm packages them).
fn check_dependencies(metadata: &Map<String, Value>, files: &[TreeFile]) -> Result<(), String> {
    let Some(dependencies) = metadata.get("dependencies").and_then(Value::as_array) else {
        return Ok(());
    };
    for dependency in dependencies {
        let name = dependency
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("?");
        let vendored = files.iter().any(|f| {
            f.path.starts_with(&format!("charts/{name}/"))
                || (f.path.starts_with(&format!("charts/{name}-"))
                    && std::path::Path::new(&f.path)
                        .extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("tgz")))
        });
        if !vendored {
            return Err(format!(
                "Chart.yaml depends on chart `{name}`, which is not under charts/; run `helm dependency build` and commit charts/"
            ));
        }
    }
    Ok(())
}

fn helmignore(folder: &Folder) -> Result<ignore::gitignore::Gitignore, String> {
    let mut builder = ignore::gitignore::GitignoreBuilder::new("");
    if let Some(file) = folder.files.iter().find(|f| f.path == ".helmignore") {
        let text = String::from_utf8_lossy(&file.content);
        for line in text.lines() {
            let line = line.trim();
            if !line.is_empty() && !line.starts_with('#') {
                builder
                    .add_line(None, line)
                    .map_err(|e| format!(".helmignore: {e}"))?;
            }
        }
    }
    builder.build().map_err(|e| format!(".helmignore: {e}"))
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

    fn folder(files: Vec<TreeFile>) -> Folder {
        Folder {
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
        let a = package(&f, "0123456789abcdef0123456789abcdef01234567").unwrap();
        let b = package(&f, "0123456789abcdef0123456789abcdef01234567").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.version, "0.1.0+git.0123456789ab");
        assert_eq!(a.tag(), "0.1.0_git.0123456789ab");
        let c = package(&f, "ffff456789abcdef0123456789abcdef01234567").unwrap();
        assert_ne!(a.digest(), c.digest());
        let entries = read_entries(&a.archive);
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            ["db/Chart.yaml", "db/templates/cm.yaml", "db/values.yaml"]
        );
        assert!(entries.iter().all(|e| e.1 == 1_700_000_000));
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
        let p = package(&f, "0123456789abcdef0123456789abcdef01234567").unwrap();
        let names: Vec<String> = read_entries(&p.archive).into_iter().map(|e| e.0).collect();
        assert_eq!(
            names,
            ["db/.helmignore", "db/Chart.yaml", "db/templates/a.yaml"]
        );
    }

    #[test]
    fn broken_charts_say_what_is_wrong() {
        let no_chart = folder(vec![file("values.yaml", "")]);
        assert!(
            package(&no_chart, "c")
                .unwrap_err()
                .contains("no Chart.yaml")
        );
        let bad_version = folder(vec![file(
            "Chart.yaml",
            "apiVersion: v2\nname: x\nversion: one\n",
        )]);
        assert!(
            package(&bad_version, "c")
                .unwrap_err()
                .contains("not semver")
        );
        let missing_dep = folder(vec![file(
            "Chart.yaml",
            "apiVersion: v2\nname: x\nversion: 1.0.0\ndependencies:\n  - name: redis\n    version: 1.0.0\n",
        )]);
        assert!(
            package(&missing_dep, "c")
                .unwrap_err()
                .contains("helm dependency build")
        );
    }
}
