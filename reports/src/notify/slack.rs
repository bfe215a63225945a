//! Slack incoming webhook: a Block Kit message.
//!
//! Slack documents at most 50 blocks per message, 150 characters of header text and 3000
//! characters per section text; long messages are also refused as a whole
//! (`msg_blocks_too_long`) well before 50 full sections, so the whole payload is kept under
//! [`LIMIT_BYTES`].

use secrecy::SecretString;
use serde_json::{Value, json};

use super::glance::{Budget, Dialect, Glance, fit};
use super::http::Post;
use crate::text::truncate_chars;

/// Largest payload sent to Slack.
pub(crate) const LIMIT_BYTES: usize = 12_000;
/// Slack's limit on blocks per message.
const MAX_BLOCKS: usize = 50;
/// Slack's limit on a section's text.
const SECTION_CHARS: usize = 3_000;
/// Slack's limit on a header's text.
const HEADER_CHARS: usize = 150;

/// A configured incoming webhook.
pub(crate) struct Slack {
    pub url: SecretString,
}

impl Slack {
    /// The POST for `body`.
    pub(crate) fn post(&self, body: &Value) -> Post {
        Post::json(&self.url, body)
    }
}

/// The Block Kit payload and whether it was shortened.
pub(crate) fn message(glance: &Glance<'_>) -> (Value, bool) {
    fit(LIMIT_BYTES, |budget| build(glance, budget))
}

fn build(glance: &Glance<'_>, budget: &Budget) -> (Value, bool) {
    let d = Dialect::Slack;
    let title = glance.title();
    let mut blocks = vec![json!({
        "type": "header",
        "text": { "type": "plain_text", "text": truncate_chars(&title, HEADER_CHARS), "emoji": true }
    })];
    let fields: Vec<Value> = glance
        .facts()
        .into_iter()
        .take(10)
        .map(|(label, value)| json!({ "type": "mrkdwn", "text": format!("*{label}*\n{}", d.escape(&value)) }))
        .collect();
    blocks.push(json!({ "type": "section", "fields": fields }));

    let mut cut = false;
    if let Some(reasons) = glance.reasons(d, budget) {
        push_sections(&mut blocks, &reasons);
    }
    let (failed, failed_cut) = glance.failed_tests(d, budget);
    cut |= failed_cut;
    if let Some(failed) = failed {
        blocks.push(json!({ "type": "divider" }));
        push_sections(&mut blocks, &failed);
    }
    let (changes, changes_cut) = glance.changes(d, budget);
    cut |= changes_cut;
    blocks.push(json!({ "type": "divider" }));
    push_sections(&mut blocks, &changes);

    let footer = glance
        .footer(d, cut)
        .unwrap_or_else(|| format!("build {}", d.escape(&glance.report.build_id)));
    let buttons: Vec<Value> = glance
        .links()
        .into_iter()
        .map(|(label, url)| {
            let mut button = json!({
                "type": "button",
                "text": { "type": "plain_text", "text": label },
                "url": url,
            });
            if label == "Approve" {
                button["style"] = json!("primary");
            }
            button
        })
        .collect();
    let mut tail = vec![json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": truncate_chars(&footer, SECTION_CHARS) }]
    })];
    if !buttons.is_empty() {
        tail.push(json!({ "type": "actions", "elements": buttons }));
    }
    blocks.truncate(MAX_BLOCKS - tail.len());
    blocks.extend(tail);
    let payload = json!({
        // The notification text shown where blocks are not (push notifications, previews).
        "text": title,
        "blocks": blocks,
    });
    (payload, cut)
}

/// Adds `text` as one or more section blocks of at most 3000 characters, split at lines.
fn push_sections(blocks: &mut Vec<Value>, text: &str) {
    let mut chunk = String::new();
    for line in text.lines() {
        let line = truncate_chars(line, SECTION_CHARS - 1);
        if chunk.chars().count() + line.chars().count() + 1 > SECTION_CHARS {
            blocks.push(section(&chunk));
            chunk.clear();
        }
        if !chunk.is_empty() {
            chunk.push('\n');
        }
        chunk.push_str(&line);
    }
    if !chunk.is_empty() {
        blocks.push(section(&chunk));
    }
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })
}
