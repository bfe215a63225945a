//! The terminal's view of a build: an [`Observer`] that draws the engine's events with
//! indicatif — a spinner line with the current stage (only when stderr is a terminal) and one
//! line on stderr per thing worth keeping (stages, housekeeping, the report, notifications).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::events::{BuildEvent, Observer};

/// What the progress view prints as lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// Only the spinner and warnings (`snapshot`, `bundle`: their result is the output).
    None,
    /// A line per stage and per housekeeping, report and notification (`run`).
    Build,
}

/// Draws a build's events on stderr.
pub struct Progress {
    bar: ProgressBar,
    lines: Lines,
}

impl Progress {
    /// A progress view starting with `message`, drawn only when stderr is a terminal.
    pub fn new(message: &str, lines: Lines) -> Self {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self::with_target(message, lines, target)
    }

    fn with_target(message: &str, lines: Lines, target: ProgressDrawTarget) -> Self {
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {pos}/{len} components [{elapsed}]")
                .expect("a valid template"),
        );
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        Self { bar, lines }
    }

    /// Removes the spinner.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// A line on stderr (above the spinner when there is one).
    fn line(&self, line: &str) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }
}

impl Observer for Progress {
    fn event(&self, event: &BuildEvent) {
        match event {
            BuildEvent::Resolving { components } => self.bar.set_length(*components as u64),
            BuildEvent::Resolved { .. } => self.bar.inc(1),
            BuildEvent::StageStarted { stage } => self.bar.set_message(stage.to_string()),
            BuildEvent::TestStarted { test } => self.bar.set_message(format!("test {test}")),
            _ => {}
        }
        // Warnings are shown whatever the command: they are not in its output.
        if (self.lines == Lines::Build || matches!(event, BuildEvent::Warning { .. }))
            && let Some(line) = line(event)
        {
            self.line(&line);
        }
    }
}

/// The line an event prints in a build's log on stderr, if any.
pub fn line(event: &BuildEvent) -> Option<String> {
    Some(match event {
        BuildEvent::Started {
            build,
            product,
            candidate,
        } => format!(
            "build {build} of {product} (candidate {})",
            candidate.as_deref().unwrap_or_default()
        ),
        BuildEvent::Housekeeping { message } => message.clone(),
        BuildEvent::Warning { message } => format!("warning  {message}"),
        BuildEvent::StageEnded {
            stage,
            status,
            message,
            seconds,
        } => format!(
            "{:<9} {} {} ({seconds:.1}s)",
            stage.as_str(),
            status.as_str(),
            message.as_deref().unwrap_or_default()
        ),
        BuildEvent::Interrupted { reason } => format!("{reason}: tearing the cluster down"),
        BuildEvent::Reported { result: Ok(html) } => format!("report   {html}"),
        BuildEvent::Reported { result: Err(error) } => format!("report   not written: {error}"),
        BuildEvent::Notified {
            notifier,
            channel,
            event,
            state,
            error,
        } => format!(
            "notify   {notifier} ({channel}) {event}: {state}{}",
            error
                .as_deref()
                .map_or_else(String::new, |e| format!(" ({e})"))
        ),
        BuildEvent::Release { message } => format!("release  {message}"),
        BuildEvent::Resolving { .. }
        | BuildEvent::Resolved { .. }
        | BuildEvent::StageStarted { .. }
        | BuildEvent::ComponentDeployed { .. }
        | BuildEvent::TestStarted { .. }
        | BuildEvent::TestEnded { .. }
        | BuildEvent::Ended { .. }
        | BuildEvent::Closed => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::build::{Stage, Status};

    #[test]
    fn a_builds_lines_read_as_before() {
        let events = [
            BuildEvent::Started {
                build: "20261204-101500-ab12".to_owned(),
                product: "demo".to_owned(),
                candidate: Some("1.0.20261204".to_owned()),
            },
            BuildEvent::Housekeeping {
                message: "reaped cluster chorale-x".to_owned(),
            },
            BuildEvent::Resolving { components: 6 },
            BuildEvent::StageStarted {
                stage: Stage::Deploy,
            },
            BuildEvent::StageEnded {
                stage: Stage::Deploy,
                status: Status::Failed,
                message: Some("1 of 6 components failed (db), 3 skipped".to_owned()),
                seconds: 15.04,
            },
            BuildEvent::Interrupted {
                reason: "interrupted by SIGTERM".to_owned(),
            },
            BuildEvent::Reported {
                result: Ok(".chorale/builds/x/report.html".to_owned()),
            },
            BuildEvent::Notified {
                notifier: "team-chat".to_owned(),
                channel: "slack".to_owned(),
                event: "failure".to_owned(),
                state: "failed".to_owned(),
                error: Some("HTTP 500".to_owned()),
            },
            BuildEvent::Release {
                message: "candidate 1.0.20261204 awaits 2 approval(s)".to_owned(),
            },
            BuildEvent::Ended {
                status: Status::Failed,
                error: None,
            },
        ];
        let lines: Vec<String> = events.iter().filter_map(line).collect();
        insta::assert_snapshot!(lines.join("\n"), @r"
        build 20261204-101500-ab12 of demo (candidate 1.0.20261204)
        reaped cluster chorale-x
        deploy    failed 1 of 6 components failed (db), 3 skipped (15.0s)
        interrupted by SIGTERM: tearing the cluster down
        report   .chorale/builds/x/report.html
        notify   team-chat (slack) failure: failed (HTTP 500)
        release  candidate 1.0.20261204 awaits 2 approval(s)
        ");
    }

    #[test]
    fn the_spinner_follows_the_stages_and_counts_components() {
        let progress = Progress::with_target("running", Lines::None, ProgressDrawTarget::hidden());
        progress.event(&BuildEvent::Resolving { components: 3 });
        progress.event(&BuildEvent::Resolved {
            component: "db".to_owned(),
        });
        progress.event(&BuildEvent::StageStarted {
            stage: Stage::Bundle,
        });
        assert_eq!(progress.bar.length(), Some(3));
        assert_eq!(progress.bar.position(), 1);
        assert_eq!(progress.bar.message(), "bundle");
        progress.event(&BuildEvent::TestStarted {
            test: "ready".to_owned(),
        });
        assert_eq!(progress.bar.message(), "test ready");
        progress.finish();
    }
}
