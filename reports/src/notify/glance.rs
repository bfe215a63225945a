//! What every chat message shows at a glance, shared by all channels: the headline (product,
//! version, green or red), the facts, why it is red, failed tests first, what changed, and
//! the links. Channels lay these parts out in their own format and fit them into their size
//! limit by shrinking a [`Budget`].

use serde_json::Value;

use super::Event;
use crate::model::{ChangeKind, FailedTest, Gate, Report, Summary, Verdict};
use crate::render::filters::{format_duration, format_short_digest};
use crate::text::truncate_chars;

/// How much of each list a message may show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Failed tests listed.
    pub failed_tests: usize,
    /// Changed components listed.
    pub components: usize,
    /// Commits listed per component.
    pub commits: usize,
    /// Reasons listed.
    pub reasons: usize,
    /// Longest free-text item (a failure message, a commit subject).
    pub line_chars: usize,
}

impl Budget {
    /// What a message shows when nothing forces it to be shorter.
    pub const FULL: Budget = Budget {
        failed_tests: 15,
        components: 10,
        commits: 3,
        reasons: 5,
        line_chars: 200,
    };

    /// A smaller budget, or `None` when nothing can be dropped any more.
    fn shrink(self) -> Option<Budget> {
        let smaller = Budget {
            failed_tests: self.failed_tests / 2,
            components: self.components / 2,
            commits: self.commits / 2,
            reasons: (self.reasons / 2).max(1),
            line_chars: (self.line_chars * 2 / 3).max(60),
        };
        (smaller != self).then_some(smaller)
    }
}

/// Builds a payload with ever smaller budgets until its JSON fits in `limit` bytes.
/// Returns the payload and whether anything was left out.
pub(crate) fn fit(limit: usize, mut build: impl FnMut(&Budget) -> (Value, bool)) -> (Value, bool) {
    let mut budget = Budget::FULL;
    loop {
        let (value, cut) = build(&budget);
        let size = serde_json::to_vec(&value).map_or(usize::MAX, |bytes| bytes.len());
        if size <= limit {
            return (value, cut || budget != Budget::FULL);
        }
        match budget.shrink() {
            Some(smaller) => budget = smaller,
            None => return (value, true),
        }
    }
}

/// The markup of a chat platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// CommonMark-like: DingTalk markdown, Lark `lark_md`, Teams TextBlock.
    Markdown,
    /// Slack `mrkdwn`.
    Slack,
}

impl Dialect {
    /// Text with the platform's markup characters neutralised.
    pub fn escape(self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            match (self, c) {
                (_, '\n' | '\r') => out.push(' '),
                (Dialect::Slack, '&') => out.push_str("&amp;"),
                (_, '<') => out.push_str("&lt;"),
                (_, '>') => out.push_str("&gt;"),
                (Dialect::Markdown, '\\' | '*' | '[' | ']' | '`') => {
                    out.push('\\');
                    out.push(c);
                }
                (_, c) => out.push(c),
            }
        }
        out
    }

    /// Bold text (escaped).
    pub fn bold(self, text: &str) -> String {
        match self {
            Dialect::Markdown => format!("**{}**", self.escape(text)),
            Dialect::Slack => format!("*{}*", self.escape(text)),
        }
    }

    /// An identifier (test name, commit id) set apart from prose.
    pub fn code(self, text: &str) -> String {
        match self {
            Dialect::Markdown => self.escape(text),
            Dialect::Slack => format!("`{}`", self.escape(&text.replace('`', "'"))),
        }
    }

    /// A link.
    pub fn link(self, text: &str, url: &str) -> String {
        match self {
            Dialect::Markdown => format!("[{}]({})", self.escape(text), url.replace(')', "%29")),
            Dialect::Slack => format!(
                "<{}|{}>",
                url.replace('|', "%7C").replace('>', "%3E"),
                self.escape(text)
            ),
        }
    }

    /// A list item.
    pub fn item(self, text: &str) -> String {
        match self {
            Dialect::Markdown => format!("- {text}"),
            Dialect::Slack => format!("• {text}"),
        }
    }

    /// A nested list item.
    pub fn subitem(self, text: &str) -> String {
        match self {
            Dialect::Markdown => format!("    - {text}"),
            Dialect::Slack => format!("      ◦ {text}"),
        }
    }
}

/// `1 commit`, `3 commits`.
fn count(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// A report seen for one event.
pub(crate) struct Glance<'a> {
    pub report: &'a Report,
    pub summary: Summary,
    pub event: Event,
    pub failed: Vec<FailedTest<'a>>,
}

impl<'a> Glance<'a> {
    pub fn new(report: &'a Report, event: Event) -> Self {
        Glance {
            report,
            summary: report.summary(),
            event,
            failed: report.failed_tests(),
        }
    }

    /// Whether the build is green.
    pub fn green(&self) -> bool {
        self.summary.verdict == Verdict::Green
    }

    /// The headline in plain text, with an emoji for the event.
    pub fn title(&self) -> String {
        let subject = format!(
            "{} {}",
            truncate_chars(&self.report.product, 60),
            truncate_chars(&self.report.candidate_version, 40)
        );
        match self.event {
            Event::Released => format!("🚀 {subject} released"),
            Event::Skipped => {
                format!("⏭️ {subject} skipped: nothing changed since the last green build")
            }
            Event::ApprovalNeeded => format!("🟢 {subject} is green and awaits approval"),
            Event::Success | Event::Failure if self.green() => format!("✅ {subject} is GREEN"),
            Event::Success | Event::Failure => format!("❌ {subject} is RED"),
        }
    }

    /// Label/value facts for a fact list.
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        let tests = &self.summary.tests;
        let mut facts = vec![
            ("Verdict", self.summary.verdict.label().to_owned()),
            ("Build", truncate_chars(&self.report.build_id, 80)),
            (
                "Tests",
                format!(
                    "{} of {} passed · {} failed · {} errored · {} skipped · {} flaky",
                    tests.passed,
                    tests.total,
                    tests.failed,
                    tests.errored,
                    tests.skipped,
                    tests.flaky
                ),
            ),
            (
                "Blocking jobs",
                format!(
                    "{} of {} passed",
                    self.summary.blocking.passed, self.summary.blocking.total
                ),
            ),
            (
                "Deploys",
                format!(
                    "{} of {} deployed",
                    self.summary.deploys.deployed, self.summary.deploys.total
                ),
            ),
        ];
        if let Some(ms) = self.summary.duration_ms {
            facts.push(("Duration", format_duration(ms)));
        }
        facts.push(("Lock", format_short_digest(&self.report.lock_id)));
        if let Some(bundle) = &self.report.bundle_digest {
            facts.push(("Bundle", format_short_digest(bundle)));
        }
        facts
    }

    /// Why it is red, as list lines; `None` when green.
    pub fn reasons(&self, dialect: Dialect, budget: &Budget) -> Option<String> {
        if self.summary.reasons.is_empty() {
            return None;
        }
        let mut lines: Vec<String> = self
            .summary
            .reasons
            .iter()
            .take(budget.reasons)
            .map(|reason| dialect.item(&dialect.escape(&truncate_chars(reason, budget.line_chars))))
            .collect();
        let rest = self.summary.reasons.len().saturating_sub(budget.reasons);
        if rest > 0 {
            lines.push(dialect.item(&format!("… and {rest} more")));
        }
        Some(format!(
            "{}\n{}",
            dialect.bold("Why it is red"),
            lines.join("\n")
        ))
    }

    /// Failed tests, blocking jobs first; `None` when none failed. The flag tells whether
    /// some were left out.
    pub fn failed_tests(&self, dialect: Dialect, budget: &Budget) -> (Option<String>, bool) {
        if self.failed.is_empty() {
            return (None, false);
        }
        let mut lines = vec![dialect.bold(&format!("Failed tests ({})", self.failed.len()))];
        for failed in self.failed.iter().take(budget.failed_tests) {
            let gate = if failed.gate == Gate::Blocking {
                ""
            } else {
                " (informing)"
            };
            let message = failed
                .case
                .message
                .as_deref()
                .map(|m| {
                    format!(
                        " — {}",
                        dialect.escape(&truncate_chars(m, budget.line_chars))
                    )
                })
                .unwrap_or_default();
            lines.push(dialect.item(&format!(
                "{}{gate} › {}{message}",
                dialect.escape(failed.job),
                dialect.code(&truncate_chars(&failed.case.name, budget.line_chars)),
            )));
        }
        let rest = self.failed.len().saturating_sub(budget.failed_tests);
        if rest > 0 {
            lines.push(dialect.item(&format!("… and {rest} more failed tests")));
        }
        (Some(lines.join("\n")), rest > 0)
    }

    /// What changed since the last green build. The flag tells whether something was left out.
    pub fn changes(&self, dialect: Dialect, budget: &Budget) -> (String, bool) {
        let changes = &self.report.changes;
        let Some(baseline) = &changes.baseline else {
            return (
                format!(
                    "{}\nNo earlier green build of {}: every component is new.",
                    dialect.bold("Changes"),
                    dialect.escape(&self.report.product)
                ),
                false,
            );
        };
        let since = match &baseline.version {
            Some(version) => format!(
                "{} ({})",
                dialect.code(&baseline.build_id),
                dialect.escape(version)
            ),
            None => dialect.code(&baseline.build_id),
        };
        if changes.components.is_empty() {
            return (
                format!(
                    "{}\nNo component changed since build {since}.",
                    dialect.bold("Changes")
                ),
                false,
            );
        }
        let mut cut = false;
        let mut lines = vec![format!(
            "{} since build {since}: {}, {}",
            dialect.bold("Changes"),
            count(self.summary.components_changed, "component"),
            count(self.summary.commits, "commit")
        )];
        for change in changes.components.iter().take(budget.components) {
            let kind = match change.change {
                ChangeKind::Added => "added",
                ChangeKind::Removed => "removed",
                ChangeKind::Updated => "updated",
            };
            let commits = change.commits.len() + change.commits_omitted;
            let summary = if commits == 0 {
                kind.to_owned()
            } else {
                format!("{kind}, {}", count(commits, "commit"))
            };
            lines.push(dialect.item(&format!("{} {summary}", dialect.bold(&change.component))));
            let shown = change.commits.len().min(budget.commits);
            for commit in &change.commits[..shown] {
                lines.push(dialect.subitem(&format!(
                    "{} {} — {}",
                    dialect.code(&commit.short_id),
                    dialect.escape(&truncate_chars(&commit.subject, budget.line_chars)),
                    dialect.escape(&truncate_chars(&commit.author, 60)),
                )));
            }
            if commits > shown {
                lines.push(
                    dialect.subitem(&format!("… and {} more", count(commits - shown, "commit"))),
                );
                cut |= shown < change.commits.len();
            }
            let moved = change.images.len() + usize::from(change.chart.is_some());
            if moved > 0 {
                let names: Vec<String> = change
                    .chart
                    .iter()
                    .map(|chart| {
                        format!(
                            "chart {}",
                            dialect.code(&truncate_chars(&chart.reference, 80))
                        )
                    })
                    .chain(
                        change
                            .images
                            .iter()
                            .map(|image| dialect.code(&truncate_chars(&image.reference, 80))),
                    )
                    .take(3)
                    .collect();
                let more = if moved > 3 {
                    format!(" and {} more", moved - 3)
                } else {
                    String::new()
                };
                lines.push(dialect.subitem(&format!("new digests: {}{more}", names.join(", "))));
            }
        }
        let rest = changes.components.len().saturating_sub(budget.components);
        if rest > 0 {
            lines.push(dialect.item(&format!("… and {rest} more components")));
            cut = true;
        }
        (lines.join("\n"), cut)
    }

    /// The links a message offers as buttons: the full report, and for approval the
    /// approval page.
    pub fn links(&self) -> Vec<(&'static str, &'a str)> {
        let links = &self.report.links;
        let mut out = Vec::new();
        if let Some(url) = &links.report {
            out.push(("Open report", url.as_str()));
        }
        if self.event == Event::ApprovalNeeded
            && let Some(url) = &links.approve
        {
            out.push(("Approve", url.as_str()));
        }
        if out.is_empty()
            && let Some(url) = &links.build
        {
            out.push(("Open build", url.as_str()));
        }
        out
    }

    /// The closing line: where the full report is, saying so more loudly when the message
    /// was shortened.
    pub fn footer(&self, dialect: Dialect, shortened: bool) -> Option<String> {
        let url = self.report.links.report.as_deref()?;
        Some(if shortened {
            format!("Message shortened. {}", dialect.link("Full report", url))
        } else {
            dialect.link("Full report", url)
        })
    }
}
