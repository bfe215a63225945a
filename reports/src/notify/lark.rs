//! Lark/Feishu custom bot: an interactive card, signed as Lark documents ("签名校验"):
//! `timestamp` (seconds) and `sign` in the JSON body. Lark answers HTTP 200 with a `code`
//! (0 = accepted); it refuses cards over 30 KB (`19036`) and documents a 20 KB request
//! body for custom bots, the stricter of which is kept.

use secrecy::SecretString;
use serde_json::{Value, json};

use super::glance::{Budget, Dialect, Glance, fit};
use super::http::{Answer, CodeFields, Post};
use super::sign;

/// Largest body sent to Lark, leaving room for `timestamp` and `sign`.
pub(crate) const LIMIT_BYTES: usize = 19_800;

/// `code` values that mean "try later": rate limits and Lark's internal errors.
const RETRYABLE: &[i64] = &[9_499, 11_232, 2_200];

/// A configured bot.
pub(crate) struct Lark {
    pub url: SecretString,
    pub secret: Option<SecretString>,
}

/// The card payload and whether it was shortened.
pub(crate) fn message(glance: &Glance<'_>) -> (Value, bool) {
    fit(LIMIT_BYTES, |budget| build(glance, budget))
}

fn build(glance: &Glance<'_>, budget: &Budget) -> (Value, bool) {
    let d = Dialect::Markdown;
    let text =
        |content: String| json!({ "tag": "div", "text": { "tag": "lark_md", "content": content } });
    let facts: Vec<Value> = glance
        .facts()
        .into_iter()
        .map(|(label, value)| {
            json!({
                "is_short": true,
                "text": { "tag": "lark_md", "content": format!("**{label}**\n{}", d.escape(&value)) }
            })
        })
        .collect();
    let mut elements = vec![json!({ "tag": "div", "fields": facts })];
    let mut cut = false;
    if let Some(reasons) = glance.reasons(d, budget) {
        elements.push(text(reasons));
    }
    let (failed, failed_cut) = glance.failed_tests(d, budget);
    cut |= failed_cut;
    if let Some(failed) = failed {
        elements.push(json!({ "tag": "hr" }));
        elements.push(text(failed));
    }
    let (changes, changes_cut) = glance.changes(d, budget);
    cut |= changes_cut;
    elements.push(json!({ "tag": "hr" }));
    elements.push(text(changes));
    if cut && glance.report.links.report.is_some() {
        elements.push(json!({ "tag": "note", "elements": [{ "tag": "plain_text", "content": "Message shortened: the full report has everything." }] }));
    }
    let actions: Vec<Value> = glance
        .links()
        .into_iter()
        .map(|(label, url)| {
            json!({
                "tag": "button",
                "text": { "tag": "plain_text", "content": label },
                "type": if label == "Approve" { "primary" } else { "default" },
                "url": url,
            })
        })
        .collect();
    if !actions.is_empty() {
        elements.push(json!({ "tag": "action", "actions": actions }));
    }
    let payload = json!({
        "msg_type": "interactive",
        "card": {
            "config": { "wide_screen_mode": true },
            "header": {
                "title": { "tag": "plain_text", "content": glance.title() },
                "template": if glance.green() { "green" } else { "red" },
            },
            "elements": elements,
        }
    });
    (payload, cut)
}

impl Lark {
    /// The POST for `body`, with `timestamp` and `sign` added now when a secret is set.
    pub(crate) fn post(&self, body: &Value) -> Post {
        let mut body = body.clone();
        if let Some(secret) = &self.secret {
            let timestamp = jiff::Timestamp::now().as_second();
            body["timestamp"] = json!(timestamp.to_string());
            body["sign"] = json!(sign::lark(timestamp, secret));
        }
        Post::json(&self.url, &body)
    }
}

/// Lark answers `{"code":0,"msg":"success",…}` on success (older bots: `StatusCode`).
pub(crate) fn check(body: &[u8]) -> Answer {
    const FIELDS: CodeFields = CodeFields {
        code: &["code", "StatusCode"],
        message: &["msg", "StatusMessage"],
        retryable: RETRYABLE,
    };
    FIELDS.check(body)
}
