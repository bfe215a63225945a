//! Loading a product file and the component files it names into a checked [`Product`].

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_saphyr::{Location, Spanned};

use crate::scheduler::{self, Schedule};

use super::document::{
    API_VERSION, ComponentDocument, ComponentEntry, GitSource, ImageEntry, OciChart,
    ProductDocument,
};
use super::graph::find_cycle;
use super::{ChartSource, Component, ImageSpec, Origin, Product, VersionLine};
use chorale_runners::registry::{has_registry_host, has_tag_or_digest, parse_reference};
use chorale_test_jobs::{Action, BuildContext, ComponentContext, PlannedTest, check_plan};

use crate::errors::{ManifestError, ManifestErrors};

/// Load `path` and every component file it names, and check everything: the result is either
/// a valid product or every error found, each with `file:line:col`.
pub fn load_product(path: &Path) -> Result<Product, ManifestErrors> {
    let mut errors = Errors::default();
    let Some(document) = parse::<ProductDocument>(path, &mut errors) else {
        return Err(errors.finish());
    };
    check_header(
        path,
        &document.api_version,
        &document.kind,
        "Product",
        &mut errors,
    );
    check_name(path, &document.metadata.name, "product", &mut errors);
    let version_line = document
        .spec
        .version_line
        .value
        .parse::<VersionLine>()
        .map_err(|()| {
            errors.at(
                path,
                &document.spec.version_line,
                format!(
                    "versionLine `{}` is not MAJOR.MINOR; write it like \"1.0\" or \"2.13\"",
                    document.spec.version_line.value
                ),
            );
        })
        .ok();
    if document.spec.components.is_empty() {
        errors.at(
            path,
            &document.spec.version_line,
            "the product has no components; list at least one under spec.components".to_owned(),
        );
    }
    let base = path.parent().unwrap_or_else(|| Path::new(""));
    let mut components = Vec::new();
    // Name -> where it was first defined, for the duplicate and dependsOn checks.
    let mut defined: HashMap<String, Origin> = HashMap::new();
    let mut dependencies: Vec<(Origin, String, Vec<Spanned<String>>)> = Vec::new();
    let spec = document.spec;
    for entry in spec.components {
        let Some((file, name, entry)) = resolve_entry(path, base, entry, &mut errors) else {
            continue;
        };
        let origin = origin(&file, name.referenced);
        if let Some(first) = defined.get(&name.value) {
            errors.push(
                &origin,
                format!(
                    "component `{}` is defined twice (first at {first}); component names must be unique",
                    name.value
                ),
            );
            continue;
        }
        defined.insert(name.value.clone(), origin.clone());
        dependencies.push((origin.clone(), name.value.clone(), entry.depends_on.clone()));
        if let Some(component) = check_component(&file, name, entry, origin, &mut errors) {
            components.push(component);
        }
    }
    check_dependencies(&dependencies, &defined, &mut errors);
    let tests = check_test_plan(
        path,
        base,
        &document.metadata.name.value,
        &spec.test_plan,
        &components,
        &mut errors,
    );
    let test_image = check_test_image(
        path,
        spec.test_image.as_ref(),
        &spec.version_line,
        &tests,
        &mut errors,
    );
    let (reporting, problems) = super::reporting::check_reporting(
        base,
        spec.report_templates.as_ref(),
        spec.notifications,
        spec.notification_retry.as_ref(),
    );
    for (location, message) in problems {
        errors.push(&origin(path, location), message);
    }
    let cluster_provider = spec.cluster.as_ref().and_then(|profile| {
        let provider = &profile.provider;
        match provider.value.parse() {
            Ok(kind) => Some(kind),
            Err(error) => {
                errors.push(
                    &origin(path, provider.referenced),
                    format!("spec.cluster.provider: {error}"),
                );
                None
            }
        }
    });
    let schedule = spec
        .schedule
        .as_ref()
        .and_then(|schedule| check_schedule(path, schedule, &mut errors));
    let release = spec.release.and_then(|release| {
        let zone = schedule.as_ref().map(|s| &s.time_zone);
        let (policy, problems) = super::release::check_release(base, release, zone);
        for (location, message) in problems {
            errors.push(&origin(path, location), message);
        }
        policy
    });
    if !errors.is_empty() {
        return Err(errors.finish());
    }
    Ok(Product {
        name: document.metadata.name.value,
        version_line: version_line.expect("checked above"),
        components,
        tests,
        test_image,
        file: path.to_owned(),
        reporting,
        cluster_provider,
        schedule,
        release,
    })
}

/// Check `spec.schedule`: the cron pattern, its (required) time zone, the concurrency policy
/// and the starting deadline.
fn check_schedule(
    path: &Path,
    spec: &super::document::ScheduleSpec,
    errors: &mut Errors,
) -> Option<Schedule> {
    let cron = scheduler::parse_cron(&spec.cron.value)
        .map_err(|message| errors.at(path, &spec.cron, format!("spec.schedule.cron: {message}")))
        .ok();
    let zone = match &spec.time_zone {
        None => {
            errors.at(
                path,
                &spec.cron,
                "spec.schedule.timeZone is required with a cron: the IANA time zone its times are read in, e.g. `Asia/Shanghai`".to_owned(),
            );
            None
        }
        Some(name) => scheduler::parse_time_zone(&name.value)
            .map_err(|message| errors.at(path, name, format!("spec.schedule.timeZone: {message}")))
            .ok()
            .map(|zone| (zone, name.value.clone())),
    };
    let concurrency = match &spec.concurrency_policy {
        None => Some(scheduler::ConcurrencyPolicy::Forbid),
        Some(policy) => scheduler::parse_concurrency(&policy.value)
            .map_err(|message| {
                errors.at(
                    path,
                    policy,
                    format!("spec.schedule.concurrencyPolicy: {message}"),
                );
            })
            .ok(),
    };
    let deadline = match &spec.starting_deadline {
        None => Some(scheduler::DEFAULT_STARTING_DEADLINE),
        Some(text) => {
            let parsed = crate::resources::parse_duration(&text.value)
                .ok()
                .filter(|duration| !duration.is_zero());
            if parsed.is_none() {
                errors.at(
                    path,
                    text,
                    format!(
                        "spec.schedule.startingDeadline: `{}` is not a duration longer than zero; write e.g. 1h or 30m",
                        text.value
                    ),
                );
            }
            parsed
        }
    };
    let (cron, (time_zone, time_zone_name), concurrency, starting_deadline) =
        (cron?, zone?, concurrency?, deadline?);
    Some(Schedule {
        pattern: spec.cron.value.clone(),
        cron,
        time_zone,
        time_zone_name,
        concurrency,
        starting_deadline,
        skip_unchanged: spec.skip_unchanged,
    })
}

/// Check the test plan against the catalogue, rendering `job` templates with a sample context
/// of these components.
fn check_test_plan(
    path: &Path,
    base: &Path,
    product: &str,
    plan: &[chorale_test_jobs::TestPlanEntry],
    components: &[Component],
    errors: &mut Errors,
) -> Vec<PlannedTest> {
    let sample = BuildContext::sample(
        product,
        components
            .iter()
            .map(|c| {
                ComponentContext::unpinned(
                    &c.name,
                    c.images
                        .iter()
                        .map(|i| (i.reference.as_str(), i.values.as_str())),
                )
            })
            .collect(),
    );
    match check_plan(plan, base, &sample) {
        Ok(tests) => tests,
        Err(problems) => {
            for problem in problems {
                errors.push(&origin(path, problem.location), problem.message);
            }
            Vec::new()
        }
    }
}

/// The probe image of in-cluster test jobs: a valid image reference, required by such jobs.
fn check_test_image(
    path: &Path,
    image: Option<&Spanned<String>>,
    version_line: &Spanned<String>,
    tests: &[PlannedTest],
    errors: &mut Errors,
) -> Option<String> {
    let in_cluster: Vec<&str> = tests
        .iter()
        .filter(|t| matches!(t.action, Action::InCluster(_)))
        .map(|t| t.name.as_str())
        .collect();
    match image {
        Some(image) => check_image(
            path,
            &ImageEntry {
                reference: image.clone(),
                values: None,
            },
            errors,
        )
        .map(|spec| spec.reference),
        None if !in_cluster.is_empty() => {
            errors.at(
                path,
                version_line,
                format!(
                    "the in-cluster tests ({}) need `testImage:`, the probe image they run (e.g. registry.example.com/chorale/probe:0.1.0, pushed by infra/images/build)",
                    in_cluster.join(", ")
                ),
            );
            None
        }
        None => None,
    }
}

/// Errors collected while loading.
#[derive(Default)]
struct Errors(Vec<ManifestError>);

impl Errors {
    fn push(&mut self, origin: &Origin, message: String) {
        self.0.push(ManifestError {
            file: origin.file.clone(),
            line: origin.line,
            column: origin.column,
            message,
        });
    }

    fn at<T>(&mut self, file: &Path, spanned: &Spanned<T>, message: String) {
        self.push(&origin(file, spanned.referenced), message);
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn finish(mut self) -> ManifestErrors {
        self.0
            .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        self.0.dedup();
        ManifestErrors(self.0)
    }
}

fn origin(file: &Path, location: Location) -> Origin {
    Origin {
        file: file.to_owned(),
        line: location.line().max(1),
        column: location.column().max(1),
    }
}

/// Read and deserialize one document, recording a located error when that fails.
fn parse<T: DeserializeOwned>(path: &Path, errors: &mut Errors) -> Option<T> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            errors.push(
                &Origin {
                    file: path.to_owned(),
                    line: 1,
                    column: 1,
                },
                format!("cannot read the file: {error}"),
            );
            return None;
        }
    };
    match serde_saphyr::from_str::<T>(&text) {
        Ok(document) => Some(document),
        Err(error) => {
            let location = error.location().unwrap_or(Location::UNKNOWN);
            errors.push(&origin(path, location), describe_yaml_error(&error));
            None
        }
    }
}

/// The message of a YAML error without its location (we print that in front) or snippet.
fn describe_yaml_error(error: &serde_saphyr::Error) -> String {
    let text = error.without_snippet().to_string();
    // serde-saphyr appends " at line L column C"; the location is already in front.
    let text = match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    };
    if let Some(rest) = text.strip_prefix("unknown field ") {
        format!("unknown field {rest}; remove it or fix its spelling")
    } else if text.starts_with("missing field ") {
        format!("{text}; add it (product-manifests/schema/ describes every field)")
    } else {
        text
    }
}

fn check_header(
    file: &Path,
    api_version: &Spanned<String>,
    kind: &Spanned<String>,
    expected_kind: &str,
    errors: &mut Errors,
) {
    if api_version.value != API_VERSION {
        errors.at(
            file,
            api_version,
            format!(
                "apiVersion `{}` is not supported; use `{API_VERSION}`",
                api_version.value
            ),
        );
    }
    if kind.value != expected_kind {
        errors.at(
            file,
            kind,
            format!(
                "kind `{}` is not expected here; use `{expected_kind}`",
                kind.value
            ),
        );
    }
}

/// Names are DNS labels (they become Helm release names and Kubernetes object names).
fn check_name(file: &Path, name: &Spanned<String>, what: &str, errors: &mut Errors) -> bool {
    let text = &name.value;
    let valid = crate::resources::is_label(text, crate::resources::MAX_NAME);
    if !valid {
        errors.at(
            file,
            name,
            format!(
                "{what} name `{text}` is not a DNS label; use 1 to 53 lower-case letters, digits and `-`, starting and ending with a letter or digit"
            ),
        );
    }
    valid
}

/// Turn an entry of `spec.components` into (file it is defined in, name, body), loading the
/// component file for `file:` entries.
fn resolve_entry(
    product_file: &Path,
    base: &Path,
    entry: ComponentEntry,
    errors: &mut Errors,
) -> Option<(PathBuf, Spanned<String>, ComponentEntry)> {
    if let Some(file) = &entry.file {
        let others = entry.name.is_some()
            || entry.source.is_some()
            || entry.chart.is_some()
            || !entry.images.is_empty()
            || !entry.depends_on.is_empty()
            || entry.values.is_some();
        if others {
            errors.at(
                product_file,
                file,
                "a `file:` entry names a Component document and takes no other field; move the fields into that file".to_owned(),
            );
            return None;
        }
        let path = base.join(&file.value);
        if !path.is_file() {
            errors.at(
                product_file,
                file,
                format!(
                    "component file `{}` does not exist (looked for {}); paths are relative to the product file",
                    file.value,
                    path.display()
                ),
            );
            return None;
        }
        let document = parse::<ComponentDocument>(&path, errors)?;
        check_header(
            &path,
            &document.api_version,
            &document.kind,
            "Component",
            errors,
        );
        let name = document.metadata.name;
        return Some((path, name, ComponentEntry::from(document.spec)));
    }
    let Some(name) = entry.name.clone() else {
        let at = entry
            .source
            .as_ref()
            .map(|s| s.git.referenced)
            .or_else(|| entry.chart.as_ref().map(|c| c.oci.referenced))
            .unwrap_or(Location::UNKNOWN);
        errors.push(
            &origin(product_file, at),
            "a component entry needs `name:` (with `source:` or `chart:`) or `file:`".to_owned(),
        );
        return None;
    };
    Some((product_file.to_owned(), name, entry))
}

fn check_component(
    file: &Path,
    name: Spanned<String>,
    entry: ComponentEntry,
    origin: Origin,
    errors: &mut Errors,
) -> Option<Component> {
    let before = errors.0.len();
    check_name(file, &name, "component", errors);
    let chart = match (entry.source, entry.chart) {
        (Some(source), None) => check_git_source(file, &source, errors),
        (None, Some(chart)) => check_oci_chart(file, &chart, errors),
        (Some(source), Some(_)) => {
            errors.at(
                file,
                &source.git,
                format!(
                    "component `{}` has both `source:` and `chart:`; keep exactly one",
                    name.value
                ),
            );
            None
        }
        (None, None) => {
            errors.at(
                file,
                &name,
                format!(
                    "component `{}` has neither `source:` (a chart in git) nor `chart:` (a chart in an OCI registry); add one",
                    name.value
                ),
            );
            None
        }
    };
    let images: Vec<ImageSpec> = entry
        .images
        .iter()
        .filter_map(|image| check_image(file, image, errors))
        .collect();
    let chart = chart?;
    (errors.0.len() == before).then(|| Component {
        name: name.value,
        chart,
        images,
        depends_on: entry.depends_on.into_iter().map(|d| d.value).collect(),
        values: entry.values.unwrap_or_default(),
        origin,
    })
}

fn check_git_source(file: &Path, source: &GitSource, errors: &mut Errors) -> Option<ChartSource> {
    let before = errors.0.len();
    let url = source.git.value.trim();
    let repository = if url.contains("://") {
        let scheme = url.split("://").next().unwrap_or_default();
        if !matches!(scheme, "git" | "http" | "https" | "file" | "ssh") {
            errors.at(
                file,
                &source.git,
                format!(
                    "git remote `{url}` has the unsupported scheme `{scheme}`; use git://, https://, http://, ssh://, file:// or a path"
                ),
            );
        } else if url::Url::parse(url).is_err() {
            errors.at(
                file,
                &source.git,
                format!("git remote `{url}` is not a valid URL"),
            );
        }
        url.to_owned()
    } else if url.is_empty() {
        errors.at(
            file,
            &source.git,
            "the git remote is empty; give a URL or a path".to_owned(),
        );
        String::new()
    } else {
        // A path: relative to the manifest file's folder.
        let base = file.parent().unwrap_or_else(|| Path::new(""));
        let path = base.join(url);
        std::path::absolute(&path)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    };
    if source.reference.value.trim().is_empty() {
        errors.at(
            file,
            &source.reference,
            "`ref` is empty; give a branch, a tag or a commit id".to_owned(),
        );
    }
    let chart_path = source
        .chart_path
        .as_ref()
        .map_or(".", |p| p.value.as_str())
        .trim_matches('/')
        .to_owned();
    if let Some(path) = &source.chart_path
        && (Path::new(&path.value).is_absolute()
            || Path::new(&path.value)
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir)))
    {
        errors.at(
            file,
            path,
            format!(
                "chartPath `{}` must be a folder inside the repository (relative, without `..`)",
                path.value
            ),
        );
    }
    (errors.0.len() == before).then(|| ChartSource::Git {
        repository,
        reference: source.reference.value.trim().to_owned(),
        chart_path: if chart_path.is_empty() {
            ".".to_owned()
        } else {
            chart_path
        },
    })
}

fn check_oci_chart(file: &Path, chart: &OciChart, errors: &mut Errors) -> Option<ChartSource> {
    let range = match semver::VersionReq::parse(chart.version.value.trim()) {
        Ok(range) => Some(range),
        Err(error) => {
            errors.at(
                file,
                &chart.version,
                format!(
                    "`{}` is not a valid semver version or range ({error}); write e.g. \"1.2.3\", \"^1.0\" or \">=1.2, <2\"",
                    chart.version.value
                ),
            );
            None
        }
    };
    let repository = match chart.oci.value.strip_prefix("oci://") {
        None => {
            errors.at(
                file,
                &chart.oci,
                format!(
                    "chart `{}` must be an OCI reference starting with oci://, e.g. oci://registry.example.com/charts/name",
                    chart.oci.value
                ),
            );
            None
        }
        Some(rest) => match parse_reference(rest) {
            Ok(_) if has_tag_or_digest(rest) || !has_registry_host(rest) => {
                errors.at(
                    file,
                    &chart.oci,
                    format!(
                        "chart `{}` must name a registry host and a repository without tag or digest, e.g. oci://registry.example.com/charts/name; the version goes in `version:`",
                        chart.oci.value
                    ),
                );
                None
            }
            Ok(_) => Some(rest.to_owned()),
            Err(error) => {
                errors.at(file, &chart.oci, error.to_string());
                None
            }
        },
    };
    Some(ChartSource::Oci {
        repository: repository?,
        range: range?,
    })
}

fn check_image(file: &Path, image: &ImageEntry, errors: &mut Errors) -> Option<ImageSpec> {
    let text = image.reference.value.trim();
    let mut valid = true;
    match parse_reference(text) {
        Ok(_) if !has_registry_host(text) => {
            errors.at(
                file,
                &image.reference,
                format!(
                    "image `{text}` must name its registry host, e.g. registry.example.com/team/{text}"
                ),
            );
            valid = false;
        }
        Ok(_) => {}
        Err(error) => {
            errors.at(
                file,
                &image.reference,
                format!("{error}; write host[:port]/path[:tag][@sha256:digest]"),
            );
            valid = false;
        }
    }
    let values = image
        .values
        .as_ref()
        .map_or("image", |v| v.value.as_str())
        .to_owned();
    let path_ok = values.split('.').all(|part| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if !path_ok && let Some(spanned) = &image.values {
        errors.at(
            file,
            spanned,
            format!(
                "values prefix `{values}` is not a dotted path of keys; write e.g. `image` or `sidecar.image`"
            ),
        );
        valid = false;
    }
    valid.then(|| ImageSpec {
        reference: text.to_owned(),
        values,
    })
}

fn check_dependencies(
    dependencies: &[(Origin, String, Vec<Spanned<String>>)],
    defined: &HashMap<String, Origin>,
    errors: &mut Errors,
) {
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (origin, name, depends_on) in dependencies {
        let targets = edges.entry(name.as_str()).or_default();
        for target in depends_on {
            let at = Origin {
                line: target.referenced.line().max(1),
                column: target.referenced.column().max(1),
                ..origin.clone()
            };
            if target.value == *name {
                errors.push(
                    &at,
                    format!("component `{name}` depends on itself; remove it from dependsOn"),
                );
            } else if !defined.contains_key(&target.value) {
                let mut known: Vec<&str> = defined.keys().map(String::as_str).collect();
                known.sort_unstable();
                errors.push(
                    &at,
                    format!(
                        "component `{name}` depends on `{}`, which is not a component of this product (components: {})",
                        target.value,
                        known.join(", ")
                    ),
                );
            } else if targets.contains(&target.value.as_str()) {
                errors.push(
                    &at,
                    format!("`{}` is listed twice in dependsOn", target.value),
                );
            } else {
                targets.push(target.value.as_str());
            }
        }
    }
    if let Some(cycle) = find_cycle(&edges) {
        let origin = &defined[&cycle[0]];
        errors.push(
            origin,
            format!(
                "dependency cycle: {}; components must be deployable in order, remove one of these dependsOn entries",
                cycle.join(" -> ")
            ),
        );
    }
}
