//! Text output of the CLI, for people.

use std::fmt::Write;

use jiff::Timestamp;

use crate::builds::Build;
use crate::bundle::BundleOutcome;
use crate::diff::LockDiff;
use crate::lock::Lock;
use crate::pipeline::Bundled;

fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex.get(..12).unwrap_or(hex)
}

fn time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn duration(build: &Build) -> String {
    build.finished_at.map_or_else(
        || "-".to_owned(),
        |end| {
            let ms = end.as_millisecond() - build.created_at.as_millisecond();
            format!("{:.1}s", ms as f64 / 1000.0)
        },
    )
}

/// A lock as a table of components.
pub fn lock(lock: &Lock) -> String {
    let mut out = format!(
        "lock {} of product {} ({} components)\n",
        lock.id,
        lock.product,
        lock.components.len()
    );
    let width = lock
        .components
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(4)
        .max(9);
    let _ = writeln!(
        out,
        "{:width$}  {:12}  {:30}  {:12}  IMAGES",
        "COMPONENT", "COMMIT", "CHART", "DIGEST"
    );
    for c in &lock.components {
        let commit = c.source.as_ref().map_or("-", |s| &s.commit[..12]);
        let _ = writeln!(
            out,
            "{:width$}  {:12}  {:30}  {:12}  {}",
            c.name,
            commit,
            format!("{}-{}", c.chart.name, c.chart.version),
            short(&c.chart.digest),
            c.images.len()
        );
    }
    out
}

/// What a bundle build pushed.
pub fn bundle(bundled: &Bundled) -> String {
    let mut out = format!(
        "build {} bundled {} components\nbundle   {}\nlock     {}\n",
        bundled.build.id,
        bundled.lock.components.len(),
        bundled.bundle.reference,
        bundled.bundle.lock_id,
    );
    bundle_details(&mut out, &bundled.bundle);
    out
}

/// Tags, upload volume and charts of a bundle.
fn bundle_details(out: &mut String, bundle: &BundleOutcome) {
    let _ = writeln!(out, "tags     {}", bundle.tags.join(", "));
    let _ = writeln!(out, "uploaded {} bytes", bundle.uploaded_bytes);
    out.push_str("charts:\n");
    for chart in &bundle.charts {
        let _ = writeln!(out, "  {:16} {}", chart.component, chart.reference);
    }
}

/// Builds as a table, newest first.
pub fn builds(builds: &[Build]) -> String {
    if builds.is_empty() {
        return "no builds recorded\n".to_owned();
    }
    let mut out = format!(
        "{:20}  {:16}  {:11}  {:23}  {:>8}  LOCK\n",
        "BUILD", "PRODUCT", "STATUS", "CREATED", "DURATION"
    );
    for b in builds {
        let _ = writeln!(
            out,
            "{:20}  {:16}  {:11}  {:23}  {:>8}  {}",
            b.id,
            b.product,
            b.status.as_str(),
            time(b.created_at),
            duration(b),
            b.lock_id.as_deref().map_or("-", short)
        );
    }
    out
}

/// One build with its stages (and its bundle's charts when it has one).
pub fn build(build: &Build, bundle: Option<&BundleOutcome>) -> String {
    let mut out = format!(
        "build    {}\nproduct  {}\nstatus   {}\ntrigger  {}\ncreated  {}\nduration {}\n",
        build.id,
        build.product,
        build.status,
        build.trigger,
        time(build.created_at),
        duration(build)
    );
    if let Some(lock) = &build.lock_id {
        let _ = writeln!(out, "lock     {lock}");
    }
    if let Some(bundle) = &build.bundle {
        let _ = writeln!(out, "bundle   {}@{}", bundle.repository, bundle.digest);
    }
    if let Some(error) = &build.error {
        let _ = writeln!(out, "error    {error}");
    }
    if let Some(bundle) = bundle {
        bundle_details(&mut out, bundle);
    }
    out.push_str("stages:\n");
    for stage in &build.stages {
        let took = match (stage.started_at, stage.finished_at) {
            (Some(start), Some(end)) => format!(
                "{:.1}s",
                (end.as_millisecond() - start.as_millisecond()) as f64 / 1000.0
            ),
            _ => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "  {:10} {:11} {:>8}  {}",
            stage.name,
            stage.status.as_str(),
            took,
            stage.message.as_deref().unwrap_or("")
        );
    }
    out
}

/// A lock diff, one block per changed component.
pub fn diff(diff: &LockDiff) -> String {
    if diff.components.is_empty() {
        return format!(
            "no changes between {} and {}\n",
            short(&diff.from),
            short(&diff.to)
        );
    }
    let mut out = format!(
        "{} components changed between {} and {}\n",
        diff.components.len(),
        short(&diff.from),
        short(&diff.to)
    );
    for c in &diff.components {
        let _ = writeln!(out, "{} ({})", c.name, c.kind);
        if let Some(commit) = &c.commit {
            let _ = writeln!(out, "  commit  {} -> {}", commit.old, commit.new);
        }
        if let Some(chart) = &c.chart {
            let _ = writeln!(out, "  chart   {} -> {}", chart.old, chart.new);
        }
        for (reference, change) in &c.images {
            let _ = writeln!(
                out,
                "  image   {reference}: {} -> {}",
                change.old, change.new
            );
        }
    }
    out
}
