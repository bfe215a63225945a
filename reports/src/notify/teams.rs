//! Microsoft Teams workflow webhook ("When a Teams webhook request is received"): an
//! Adaptive Card in the `attachments` envelope. Teams refuses posts over about 28 KB
//! ("Request Entity too large").

use secrecy::SecretString;
use serde_json::{Value, json};

use super::glance::{Budget, Dialect, Glance, fit};
use super::http::Post;

/// Largest payload sent to Teams (documented limit about 28 KB).
pub(crate) const LIMIT_BYTES: usize = 27_000;

/// A configured workflow webhook.
pub(crate) struct Teams {
    pub url: SecretString,
}

/// The card payload and whether it was shortened.
pub(crate) fn message(glance: &Glance<'_>) -> (Value, bool) {
    fit(LIMIT_BYTES, |budget| build(glance, budget))
}

fn build(glance: &Glance<'_>, budget: &Budget) -> (Value, bool) {
    let d = Dialect::Markdown;
    let block = |text: String| json!({ "type": "TextBlock", "text": text, "wrap": true, "spacing": "Medium" });
    let facts: Vec<Value> = glance
        .facts()
        .into_iter()
        .map(|(label, value)| json!({ "title": label, "value": value }))
        .collect();
    let mut body = vec![
        json!({
            "type": "TextBlock",
            "text": glance.title(),
            "size": "Large",
            "weight": "Bolder",
            "color": if glance.green() { "Good" } else { "Attention" },
            "wrap": true,
        }),
        json!({ "type": "FactSet", "facts": facts }),
    ];
    let mut cut = false;
    if let Some(reasons) = glance.reasons(d, budget) {
        body.push(json!({ "type": "TextBlock", "text": reasons, "wrap": true, "color": "Attention", "spacing": "Medium" }));
    }
    let (failed, failed_cut) = glance.failed_tests(d, budget);
    cut |= failed_cut;
    body.extend(failed.map(block));
    let (changes, changes_cut) = glance.changes(d, budget);
    cut |= changes_cut;
    body.push(block(changes));
    if cut && glance.report.links.report.is_some() {
        body.push(json!({ "type": "TextBlock", "text": "Message shortened: the full report has everything.", "isSubtle": true, "wrap": true }));
    }
    let actions: Vec<Value> = glance
        .links()
        .into_iter()
        .map(|(label, url)| json!({ "type": "Action.OpenUrl", "title": label, "url": url }))
        .collect();
    let payload = json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": { "width": "Full" },
                "body": body,
                "actions": actions,
            }
        }]
    });
    (payload, cut)
}

impl Teams {
    /// The POST for `body`.
    pub(crate) fn post(&self, body: &Value) -> Post {
        Post::json(&self.url, body)
    }
}
