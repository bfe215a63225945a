//! The charts vendored under `charts/`, read as helm's loader reads them, and the check that
//! every dependency of Chart.yaml is among them.
//!
//! helm (`pkg/chart/loader/load.go`) loads every `charts/NAME.tgz` archive and every
//! `charts/NAME/` folder as a subchart and knows it by the `name` of *its* Chart.yaml, never
//! by the file name; `charts/.x` and `charts/_x` are skipped, `*.prov` files are kept as
//! plain files, and anything else under `charts/` makes `helm package` fail. `helm dependency
//! list` (`pkg/action/dependency.go`) then calls a dependency satisfied when a subchart has
//! its name and a version equal to, or within, the dependency's `version`.

use std::io::Read;

use serde_json::{Map, Value};

/// A subchart found under `charts/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Vendored {
    /// `charts/NAME.tgz` or `charts/NAME`.
    pub path: String,
    /// `name` of its Chart.yaml.
    pub name: String,
    /// `version` of its Chart.yaml.
    pub version: String,
}

/// Whether helm passes over the file at `path` when it loads subcharts: it is under
/// `charts/.x` or `charts/_x` (and not a provenance file). Such files are not packaged.
pub(super) fn skipped_by_helm(path: &str) -> bool {
    path.strip_prefix("charts/").is_some_and(|rest| {
        (rest.starts_with('.') || rest.starts_with('_')) && !is_provenance(path)
    })
}

/// A provenance file (`.prov`, as helm spells it: case matters).
fn is_provenance(path: &str) -> bool {
    std::path::Path::new(path)
        .extension()
        .is_some_and(|e| e == "prov")
}

/// The subcharts helm would load from `files` (path from the chart's root, bytes).
pub(super) fn vendored<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<Vec<Vendored>, String> {
    let files: Vec<(&str, &[u8])> = files.into_iter().collect();
    let mut subcharts: Vec<&str> = files
        .iter()
        .filter(|(path, _)| !skipped_by_helm(path) && !is_provenance(path))
        .filter_map(|(path, _)| path.strip_prefix("charts/"))
        .map(|rest| rest.split('/').next().unwrap_or(rest))
        .collect();
    subcharts.sort_unstable();
    subcharts.dedup();
    let mut found = Vec::new();
    for subchart in subcharts {
        let path = format!("charts/{subchart}");
        let chart_yaml = if std::path::Path::new(subchart)
            .extension()
            .is_some_and(|e| e == "tgz")
        {
            let (_, archive) = files
                .iter()
                .find(|(p, _)| *p == path)
                .ok_or_else(|| format!("{path}/ is a folder named like a chart archive"))?;
            chart_yaml_in_archive(archive).map_err(|e| format!("{path}: {e}"))?
        } else {
            let wanted = format!("{path}/Chart.yaml");
            files
                .iter()
                .find(|(p, _)| *p == wanted)
                .map(|(_, content)| content.to_vec())
                .ok_or_else(|| {
                    format!(
                        "{path} is neither a chart archive (.tgz) nor a chart folder with a \
                         Chart.yaml; helm refuses to package a chart with it"
                    )
                })?
        };
        let metadata: Map<String, Value> = std::str::from_utf8(&chart_yaml)
            .map_err(|_| format!("{path}: its Chart.yaml is not UTF-8"))
            .and_then(|text| {
                serde_saphyr::from_str(text.trim_start_matches('\u{feff}'))
                    .map_err(|e| format!("{path}: its Chart.yaml: {}", e.without_snippet()))
            })?;
        let field = |key: &str| match metadata.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(format!("{path}: its Chart.yaml has no `{key}`")),
        };
        found.push(Vendored {
            name: field("name")?,
            version: field("version")?,
            path,
        });
    }
    Ok(found)
}

/// The Chart.yaml of a chart archive: the file `Chart.yaml` in its one top folder.
fn chart_yaml_in_archive(archive: &[u8]) -> Result<Vec<u8>, String> {
    let unreadable = |e: std::io::Error| format!("not a readable chart archive ({e})");
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    for entry in tar.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let path = entry
            .path()
            .map_err(unreadable)?
            .to_string_lossy()
            .into_owned();
        let mut parts = path.trim_start_matches("./").splitn(2, '/');
        if parts.nth(1) == Some("Chart.yaml") {
            let mut content = Vec::new();
            entry.read_to_end(&mut content).map_err(unreadable)?;
            return Ok(content);
        }
    }
    Err("the archive has no Chart.yaml".to_owned())
}

/// Every dependency of `metadata` must be among `packaged` by exact name, with a version
/// equal to or within its `version`. `all` (the subcharts before `.helmignore`) only makes
/// the error say when `.helmignore` is what leaves one out. Every problem is named at once.
pub(super) fn check(
    metadata: &Map<String, Value>,
    packaged: &[Vendored],
    all: &[Vendored],
) -> Result<(), String> {
    let Some(dependencies) = metadata.get("dependencies").and_then(Value::as_array) else {
        return Ok(());
    };
    let mut problems = Vec::new();
    for dependency in dependencies {
        let text = |key: &str| match dependency.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let (name, wanted) = (text("name"), text("version"));
        let described = if wanted.is_empty() {
            format!("`{name}`")
        } else {
            format!("`{name}` {wanted}")
        };
        let named: Vec<&Vendored> = packaged.iter().filter(|v| v.name == name).collect();
        if named.iter().any(|v| version_satisfies(&wanted, &v.version)) {
            continue;
        }
        if !named.is_empty() {
            let has: Vec<String> = named
                .iter()
                .map(|v| format!("{} {}", v.path, v.version))
                .collect();
            problems.push(format!("{described} (charts/ has {})", has.join(", ")));
        } else if let Some(hidden) = all.iter().find(|v| v.name == name) {
            problems.push(format!(
                "{described} (.helmignore leaves out {}, so it is not packaged)",
                hidden.path
            ));
        } else {
            problems.push(format!("{described} (missing)"));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(format!(
        "Chart.yaml: {} {} not vendored under charts/ as packaged: {}; run `helm dependency \
         build` and commit charts/",
        problems.len(),
        if problems.len() == 1 {
            "dependency is"
        } else {
            "dependencies are"
        },
        problems.join(", ")
    ))
}

/// Whether `version` (a vendored chart's) is `wanted` or within it, as helm's constraints
/// read: `1.2.3` exactly, `^1.2`, `~1.2.3`, `>= 1.2, < 2`, `1.2.x`, alternatives with `||`.
fn version_satisfies(wanted: &str, version: &str) -> bool {
    if wanted == version {
        return true;
    }
    let Ok(version) = semver::Version::parse(version.trim_start_matches('v')) else {
        return false;
    };
    wanted.split("||").any(|alternative| {
        let mut comparators = Vec::new();
        let mut operator = String::new();
        for token in alternative
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
        {
            if token.chars().all(|c| "<>=!~^".contains(c)) {
                operator.push_str(token);
                continue;
            }
            let operator = std::mem::take(&mut operator);
            let split = token
                .find(|c: char| !"<>=~^".contains(c))
                .unwrap_or(token.len());
            let (own, bare) = token.split_at(split);
            let operator = if operator.is_empty() { own } else { &operator };
            let bare = bare.trim_start_matches('v');
            let wildcard = bare.split('.').any(|p| matches!(p, "x" | "X" | "*"));
            let operator = if operator.is_empty() && !wildcard {
                "="
            } else {
                operator
            };
            comparators.push(format!("{operator}{bare}"));
        }
        !comparators.is_empty()
            && semver::VersionReq::parse(&comparators.join(", "))
                .is_ok_and(|req| req.matches(&version))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_match_exactly_or_within_the_constraint() {
        for (wanted, version) in [
            ("1.2.3", "1.2.3"),
            ("^1.2.0", "1.9.0"),
            ("~1.2.0", "1.2.7"),
            (">= 1.2, < 2", "1.5.0"),
            (">=1.2 <2", "1.5.0"),
            ("1.2.x", "1.2.9"),
            ("1.0.0 || ^2.0.0", "2.1.0"),
            ("v1.2.3", "1.2.3"),
        ] {
            assert!(version_satisfies(wanted, version), "{wanted} {version}");
        }
        for (wanted, version) in [
            ("1.2.3", "1.2.4"),
            ("^1.2.0", "2.0.0"),
            ("~1.2.0", "1.3.0"),
            (">= 1.2, < 2", "2.0.0"),
            ("", "1.0.0"),
        ] {
            assert!(!version_satisfies(wanted, version), "{wanted} {version}");
        }
    }

    #[test]
    fn charts_under_dot_or_underscore_are_skipped_but_provenance_is_kept() {
        assert!(skipped_by_helm("charts/.cache/x"));
        assert!(skipped_by_helm("charts/_old-1.0.0.tgz"));
        assert!(!skipped_by_helm("charts/_x-1.0.0.tgz.prov"));
        assert!(!skipped_by_helm("charts/redis-1.0.0.tgz"));
        assert!(!skipped_by_helm("templates/_helpers.tpl"));
    }
}
