//! The catalogue of test jobs a test plan can name. Each entry is a data file under
//! `test-jobs/catalogue/` embedded in the crate: its name and description, whether it runs in
//! the cluster as a Kubernetes Job or Chorale performs it through the Kubernetes API, its
//! default timeout and retries, and its parameters with their defaults.

use std::sync::LazyLock;
use std::time::Duration;

use serde::Deserialize;

use crate::duration;
use crate::errors::Error;
use crate::parameters::{self, ParameterType};

/// The built-in entries: (file name, text).
const FILES: [(&str, &str); 5] = [
    (
        "workloads-ready.yaml",
        include_str!("../catalogue/workloads-ready.yaml"),
    ),
    (
        "helm-test.yaml",
        include_str!("../catalogue/helm-test.yaml"),
    ),
    (
        "http-probe.yaml",
        include_str!("../catalogue/http-probe.yaml"),
    ),
    (
        "pod-restart.yaml",
        include_str!("../catalogue/pod-restart.yaml"),
    ),
    ("job.yaml", include_str!("../catalogue/job.yaml")),
];

/// The built-in Job templates under `test-jobs/templates/`: (file name, text).
const TEMPLATES: [(&str, &str); 1] = [(
    "http-probe.yaml.j2",
    include_str!("../templates/http-probe.yaml.j2"),
)];

/// The checks Chorale performs itself, by entry name (the pipeline implements each one).
pub(crate) const CHORALE_CHECKS: [&str; 3] = ["workloads-ready", "helm-test", "pod-restart"];

/// The test job catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalogue {
    entries: Vec<Entry>,
}

/// One catalogue entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The name a test plan `uses`.
    pub name: String,
    /// What it tests, for people.
    pub description: String,
    /// Where it runs.
    pub runs: Runs,
    /// For in-cluster entries, where the Job template comes from.
    pub template: Option<TemplateSource>,
    /// The timeout when the plan gives none.
    pub timeout: Duration,
    /// The retries when the plan gives none.
    pub retries: u32,
    /// The parameters `with:` accepts, in documentation order.
    pub parameters: Vec<Parameter>,
}

/// Where a catalogue entry runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runs {
    /// A Kubernetes Job in the build's namespace, with a results volume and a collector.
    InCluster,
    /// A check Chorale performs through the Kubernetes API (and helm).
    Chorale,
}

/// Where an in-cluster entry's Job template comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    /// A template of `test-jobs/templates/`, embedded in the crate.
    Builtin(Template),
    /// The file named by this `path` parameter, relative to the product file.
    Parameter(String),
}

/// A Job template: its name for messages and its minijinja text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Template {
    /// A built-in template's file name, or the product's file as the plan names it.
    pub name: String,
    /// The template text.
    pub text: String,
}

/// One parameter of an entry, or one field of an object parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// The key under `with:`.
    pub name: String,
    /// What it means, for people.
    pub description: String,
    /// Whether the plan must give it.
    pub required: bool,
    /// The value when the plan gives none, already checked and normalized.
    pub default: Option<serde_json::Value>,
    /// Which values it accepts.
    pub kind: ParameterType,
}

/// A catalogue file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EntryFile {
    name: String,
    description: String,
    runs: Runs,
    #[serde(default)]
    template: Option<String>,
    #[serde(default)]
    template_parameter: Option<String>,
    timeout: String,
    retries: u32,
    #[serde(default)]
    parameters: Vec<ParameterFile>,
}

/// A parameter (or, under `items`, a type) as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ParameterFile {
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) required: bool,
    #[serde(default)]
    pub(crate) default: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) minimum: Option<i64>,
    #[serde(default)]
    pub(crate) maximum: Option<i64>,
    #[serde(default)]
    pub(crate) min_items: Option<usize>,
    #[serde(default)]
    pub(crate) items: Option<Box<ParameterFile>>,
    #[serde(default)]
    pub(crate) fields: Vec<ParameterFile>,
}

static BUILTIN: LazyLock<Catalogue> = LazyLock::new(|| {
    Catalogue::load(&FILES, &TEMPLATES).expect("the built-in catalogue is checked by the tests")
});

impl Catalogue {
    /// The built-in catalogue.
    pub fn builtin() -> &'static Catalogue {
        &BUILTIN
    }

    /// Loads a catalogue from `(file name, text)` pairs; in-cluster entries name their
    /// template among `templates`.
    pub fn load(files: &[(&str, &str)], templates: &[(&str, &str)]) -> Result<Self, Error> {
        let mut entries: Vec<Entry> = Vec::new();
        for (file, text) in files {
            let invalid = |reason: String| Error::Catalogue {
                file: (*file).to_owned(),
                reason,
            };
            let raw: EntryFile =
                serde_saphyr::from_str(text).map_err(|error| invalid(error.to_string()))?;
            let entry = entry(raw, templates).map_err(invalid)?;
            if entries.iter().any(|known| known.name == entry.name) {
                return Err(invalid(format!("the name `{}` is used twice", entry.name)));
            }
            entries.push(entry);
        }
        Ok(Self { entries })
    }

    /// Every entry, in catalogue order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry named `name`.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|entry| entry.name == name)
    }

    /// The entry names, comma-separated, for messages.
    pub(crate) fn names(&self) -> String {
        self.entries
            .iter()
            .map(|entry| entry.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn entry(raw: EntryFile, templates: &[(&str, &str)]) -> Result<Entry, String> {
    let timeout = duration::parse(&raw.timeout)?;
    let parameters = raw
        .parameters
        .into_iter()
        .map(parameter)
        .collect::<Result<Vec<_>, _>>()?;
    let template = match (raw.runs, raw.template, raw.template_parameter) {
        (Runs::Chorale, None, None) => {
            if !CHORALE_CHECKS.contains(&raw.name.as_str()) {
                return Err(format!(
                    "Chorale performs no check named `{}`; it knows {}",
                    raw.name,
                    CHORALE_CHECKS.join(", ")
                ));
            }
            None
        }
        (Runs::InCluster, Some(name), None) => {
            let (_, text) = templates
                .iter()
                .find(|(file, _)| *file == name)
                .ok_or_else(|| format!("there is no built-in template `{name}`"))?;
            Some(TemplateSource::Builtin(Template {
                name,
                text: (*text).to_owned(),
            }))
        }
        (Runs::InCluster, None, Some(parameter)) => {
            let named = parameters.iter().find(|p| p.name == parameter);
            if !named.is_some_and(|p| p.kind == ParameterType::Path && p.required) {
                return Err(format!(
                    "templateParameter `{parameter}` must name a required parameter of type path"
                ));
            }
            Some(TemplateSource::Parameter(parameter))
        }
        (Runs::InCluster, _, _) => {
            return Err(
                "an in-cluster entry needs exactly one of `template` and `templateParameter`"
                    .to_owned(),
            );
        }
        (Runs::Chorale, _, _) => {
            return Err("an entry Chorale performs takes no template".to_owned());
        }
    };
    Ok(Entry {
        name: raw.name,
        description: raw.description,
        runs: raw.runs,
        template,
        timeout,
        retries: raw.retries,
        parameters,
    })
}

/// Checks a parameter as written and normalizes its default.
pub(crate) fn parameter(raw: ParameterFile) -> Result<Parameter, String> {
    let name = raw
        .name
        .clone()
        .ok_or_else(|| "a parameter has no name".to_owned())?;
    let description = raw
        .description
        .clone()
        .ok_or_else(|| format!("parameter `{name}` has no description"))?;
    let required = raw.required;
    let default = raw.default.clone();
    let kind = parameters::parameter_type(raw).map_err(|reason| format!("`{name}`: {reason}"))?;
    if required && default.is_some() {
        return Err(format!(
            "parameter `{name}` is required and has a default; keep one of them"
        ));
    }
    let default = default
        .map(|value| {
            parameters::normalize_default(&name, &kind, &value)
                .map_err(|reason| format!("the default of {reason}"))
        })
        .transpose()?;
    Ok(Parameter {
        name,
        description,
        required,
        default,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::{Catalogue, Runs, TemplateSource};

    #[test]
    fn the_builtin_catalogue_loads_with_every_entry_of_the_issue() {
        let catalogue = Catalogue::builtin();
        let entries: Vec<_> = catalogue
            .entries()
            .iter()
            .map(|entry| (entry.name.as_str(), entry.runs))
            .collect();
        assert_eq!(
            entries,
            [
                ("workloads-ready", Runs::Chorale),
                ("helm-test", Runs::Chorale),
                ("http-probe", Runs::InCluster),
                ("pod-restart", Runs::Chorale),
                ("job", Runs::InCluster),
            ]
        );
        let probe = catalogue.get("http-probe").unwrap();
        assert!(matches!(
            &probe.template,
            Some(TemplateSource::Builtin(template)) if template.text.contains("kind: Job")
        ));
        let defaults: Vec<_> = probe
            .parameters
            .iter()
            .map(|p| (p.name.as_str(), p.default.clone()))
            .collect();
        assert_eq!(defaults[1], ("retryFor", Some("60s".into())));
    }

    #[test]
    fn explains_malformed_entries() {
        let cases = [
            (
                "name: x\ndescription: d\nruns: chorale\ntimeout: 1m\nretries: 0\n",
                "Chorale performs no check named `x`",
            ),
            (
                "name: x\ndescription: d\nruns: in-cluster\ntimeout: 1m\nretries: 0\n",
                "needs exactly one of `template` and `templateParameter`",
            ),
            (
                "name: x\ndescription: d\nruns: in-cluster\ntemplate: nope.j2\ntimeout: 1m\nretries: 0\n",
                "there is no built-in template `nope.j2`",
            ),
            (
                "name: x\ndescription: d\nruns: in-cluster\ntemplateParameter: t\ntimeout: 1m\nretries: 0\n",
                "templateParameter `t` must name a required parameter of type path",
            ),
            (
                "name: helm-test\ndescription: d\nruns: chorale\ntimeout: soon\nretries: 0\n",
                "`soon` is not a duration",
            ),
            (
                "name: helm-test\ndescription: d\nruns: chorale\ntimeout: 1m\nretries: 0\nparameters:\n  - { name: a, description: d, type: duration, default: later }\n",
                "the default of `a`: `later` is not a duration",
            ),
            (
                "name: helm-test\ndescription: d\nruns: chorale\ntimeout: 1m\nretries: 0\nparameters:\n  - { name: a, description: d, type: colour }\n",
                "`a`: unknown parameter type `colour`",
            ),
            (
                "name: helm-test\ndescription: d\nruns: chorale\ntimeout: 1m\nretries: 0\nextra: 1\n",
                "unknown field",
            ),
        ];
        for (text, expected) in cases {
            let message = Catalogue::load(&[("x.yaml", text)], &[])
                .unwrap_err()
                .to_string();
            assert!(
                message.starts_with("the catalogue entry x.yaml is invalid: ")
                    && message.contains(expected),
                "{text}: {message}"
            );
        }
    }
}
