//! The catalogue's reference in Markdown, generated from the entries so that
//! docs/test-jobs.md never disagrees with them (a test checks the committed copy).

use std::fmt::Write as _;

use crate::catalogue::{Catalogue, Parameter, Runs};
use crate::duration;
use crate::parameters::ParameterType;

impl Catalogue {
    /// One section per entry: where it runs, its defaults and a table of its parameters.
    pub fn reference_markdown(&self) -> String {
        let mut text = String::new();
        for entry in self.entries() {
            let runs = match entry.runs {
                Runs::InCluster => "runs in the cluster as a Kubernetes Job",
                Runs::Chorale => "Chorale performs it through the Kubernetes API",
            };
            let _ = writeln!(text, "### `{}`\n", entry.name);
            let _ = writeln!(text, "{}\n", entry.description.trim());
            let _ = writeln!(
                text,
                "{}; default timeout {}, retries {}.\n",
                capitalized(runs),
                duration::format(entry.timeout),
                entry.retries
            );
            if entry.parameters.is_empty() {
                text.push_str("No parameters.\n\n");
                continue;
            }
            text.push_str("| parameter | type | default | description |\n");
            text.push_str("| --- | --- | --- | --- |\n");
            rows(&mut text, "", &entry.parameters);
            text.push('\n');
        }
        text
    }
}

fn capitalized(text: &str) -> String {
    let mut characters = text.chars();
    characters.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(characters).collect()
    })
}

fn rows(text: &mut String, prefix: &str, parameters: &[Parameter]) {
    for parameter in parameters {
        let name = format!("{prefix}{}", parameter.name);
        let default = match (&parameter.default, parameter.required, &parameter.kind) {
            (_, true, _) => "required".to_owned(),
            (Some(default), _, _) => format!("`{}`", default_text(default)),
            (None, _, ParameterType::Components) => "every component".to_owned(),
            (None, _, _) => "none".to_owned(),
        };
        let _ = writeln!(
            text,
            "| `{name}` | {} | {default} | {} |",
            type_text(&parameter.kind),
            parameter.description.trim().replace('|', "\\|")
        );
        match &parameter.kind {
            ParameterType::Object { fields } => rows(text, &format!("{name}."), fields),
            ParameterType::List { items, .. } => {
                if let ParameterType::Object { fields } = items.as_ref() {
                    rows(text, &format!("{name}[]."), fields);
                }
            }
            _ => {}
        }
    }
}

fn type_text(kind: &ParameterType) -> String {
    match kind {
        ParameterType::List { items, min_items } => {
            let at_least = if *min_items > 0 {
                format!(", at least {min_items}")
            } else {
                String::new()
            };
            format!("list of {}{at_least}", type_text(items))
        }
        ParameterType::Integer {
            minimum: Some(minimum),
            maximum: Some(maximum),
        } => format!("integer {minimum}–{maximum}"),
        other => other.name().to_owned(),
    }
}

fn default_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
