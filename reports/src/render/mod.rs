//! Rendering a report: Markdown, a self-contained HTML page, merged JUnit XML and JSON.
//!
//! Markdown and HTML come from minijinja templates in `reports/templates/`, embedded in the
//! binary and overridable per product: a file of the same name in the product's override
//! directory wins. Undefined variables are errors (strict mode), so a misspelled field in an
//! override fails loudly instead of rendering blanks.

pub(crate) mod filters;
mod junit_out;
mod timeline;
mod view;

use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

use crate::errors::RenderError;
use crate::junit;
use crate::model::Report;

pub use timeline::{Bar, Tick, Timeline};
pub(crate) use view::ReportView;

/// The templates shipped with Chorale, by file name.
const BUILTIN: &[(&str, &str)] = &[
    ("report.md.j2", include_str!("../../templates/report.md.j2")),
    (
        "report.html.j2",
        include_str!("../../templates/report.html.j2"),
    ),
    (
        "email.html.j2",
        include_str!("../../templates/email.html.j2"),
    ),
    ("email.txt.j2", include_str!("../../templates/email.txt.j2")),
    (
        "release-notes.md.j2",
        include_str!("../../templates/release-notes.md.j2"),
    ),
];

/// A report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Markdown (GitHub-flavoured tables).
    #[serde(rename = "md")]
    Markdown,
    /// One self-contained HTML page: inline CSS, the stage timeline as inline SVG.
    Html,
    /// The test matrix as merged JUnit XML.
    Junit,
    /// The report and its summary as JSON.
    Json,
}

impl Format {
    /// Every format, in the order `chorale report` lists them.
    pub const ALL: [Format; 4] = [Format::Markdown, Format::Html, Format::Junit, Format::Json];

    /// The name used on the command line: `md`, `html`, `junit`, `json`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Html => "html",
            Format::Junit => "junit",
            Format::Json => "json",
        }
    }

    /// The file extension for a stored rendering.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Html => "html",
            Format::Junit => "xml",
            Format::Json => "json",
        }
    }

    /// The media type to serve a rendering with.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
            Format::Junit => "application/xml",
            Format::Json => "application/json",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == value)
            .ok_or_else(|| {
                format!("unknown report format {value:?}; expected one of md, html, junit, json")
            })
    }
}

/// The template set: the built-in templates, with a product's overrides in place.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    overridden: Vec<(String, PathBuf)>,
}

impl Templates {
    /// The built-in templates only.
    pub fn builtin() -> Self {
        let mut env = environment();
        for (name, source) in BUILTIN {
            env.add_template(name, source)
                .unwrap_or_else(|err| panic!("built-in template {name} does not compile: {err}"));
        }
        Templates {
            env,
            overridden: Vec::new(),
        }
    }

    /// The built-in templates, each replaced by a file of the same name in `dir` when there
    /// is one (`report.md.j2`, `report.html.j2`, `email.html.j2`, `email.txt.j2`,
    /// `release-notes.md.j2`). A missing directory means no overrides.
    pub fn with_overrides(dir: &Path) -> Result<Self, RenderError> {
        let mut templates = Templates::builtin();
        for (name, _) in BUILTIN {
            let path = dir.join(name);
            let source = match std::fs::read_to_string(&path) {
                Ok(source) => source,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => {
                    return Err(RenderError::OverrideUnreadable {
                        path,
                        reason: err.to_string(),
                    });
                }
            };
            templates
                .env
                .add_template_owned(*name, source)
                .map_err(|err| RenderError::Template {
                    name: format!("{name} ({})", path.display()),
                    detail: detail(&err),
                })?;
            templates.overridden.push(((*name).to_owned(), path));
        }
        Ok(templates)
    }

    /// The names of the templates taken from an override directory, with their paths.
    pub fn overridden(&self) -> &[(String, PathBuf)] {
        &self.overridden
    }

    /// Renders one template with a report's view as context.
    pub(crate) fn render(&self, name: &str, report: &Report) -> Result<String, RenderError> {
        self.render_with(name, report, ())
    }

    /// Renders one template with a report's view and `extra` (a struct or map whose fields
    /// join the context, e.g. the event of a notification).
    pub(crate) fn render_with<T: Serialize>(
        &self,
        name: &str,
        report: &Report,
        extra: T,
    ) -> Result<String, RenderError> {
        #[derive(Serialize)]
        struct Context<'a, T> {
            #[serde(flatten)]
            view: ReportView<'a>,
            #[serde(flatten)]
            extra: T,
        }
        let template = self
            .env
            .get_template(name)
            .map_err(|err| self.error(name, &err))?;
        template
            .render(minijinja::value::Serde(Context {
                view: ReportView::new(report),
                extra,
            }))
            .map_err(|err| self.error(name, &err))
    }

    fn error(&self, name: &str, err: &minijinja::Error) -> RenderError {
        let origin = self.overridden.iter().find(|(n, _)| n == name).map_or_else(
            || name.to_owned(),
            |(_, path)| format!("{name} ({})", path.display()),
        );
        RenderError::Template {
            name: origin,
            detail: detail(err),
        }
    }
}

impl Default for Templates {
    fn default() -> Self {
        Templates::builtin()
    }
}

/// What release notes say beyond the report of the released build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseFacts {
    /// The version.
    pub version: String,
    /// The bundle by digest: `repository@sha256:…`.
    pub bundle: String,
    /// The release candidate a final version was promoted from.
    pub promoted_from: Option<String>,
    /// The previous release of the product the changes are counted from, if any.
    pub previous: Option<String>,
    /// The approvals (and their reasons) the release was published on.
    pub approvals: Vec<ApprovalFact>,
}

/// One approval, as release notes show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalFact {
    /// Who.
    pub actor: String,
    /// With which role.
    pub role: String,
    /// Why.
    pub reason: String,
    /// Whether it approved a build that was not green.
    #[serde(rename = "override")]
    pub overridden: bool,
    /// When.
    pub at: jiff::Timestamp,
}

/// The release notes (Markdown) of `release`, from the report of its build whose `changes`
/// are those since the previous release, with `release-notes.md.j2` of `templates`.
pub fn release_notes(
    report: &Report,
    release: &ReleaseFacts,
    templates: &Templates,
) -> Result<String, RenderError> {
    #[derive(Serialize)]
    struct Extra<'a> {
        release: &'a ReleaseFacts,
    }
    templates.render_with("release-notes.md.j2", report, Extra { release })
}

/// Renders `report` in `format`. Markdown and HTML use `templates`; JUnit and JSON are
/// written by code (their shape is a contract, not a presentation).
pub fn render(
    report: &Report,
    format: Format,
    templates: &Templates,
) -> Result<String, RenderError> {
    match format {
        Format::Markdown => templates.render("report.md.j2", report),
        Format::Html => templates.render("report.html.j2", report),
        Format::Junit => Ok(junit::to_xml(&junit_out::document(report))),
        Format::Json => Ok(json(report)),
    }
}

/// The JSON document: `apiVersion`, `kind: Report`, every field of the report, and the
/// derived `summary`. [`Report`] deserializes from it (the extra keys are ignored).
fn json(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(&ReportDocument::new(report))
        .expect("a report always serializes");
    text.push('\n');
    text
}

/// The JSON form of a report, as rendered and as sent to generic webhooks.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReportDocument<'a> {
    api_version: &'static str,
    kind: &'static str,
    #[serde(flatten)]
    report: &'a Report,
    summary: crate::model::Summary,
}

impl<'a> ReportDocument<'a> {
    pub(crate) fn new(report: &'a Report) -> Self {
        ReportDocument {
            api_version: "chorale.dev/v1alpha1",
            kind: "Report",
            report,
            summary: report.summary(),
        }
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("the default delimiters are valid"),
    );
    filters::register(&mut env);
    env
}

/// minijinja's description with its source chain (line numbers live there).
fn detail(err: &minijinja::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}
