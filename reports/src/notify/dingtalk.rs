//! DingTalk custom robot: a `markdown` message, signed as DingTalk documents ("加签"): the
//! `timestamp` (milliseconds) and `sign` query parameters. DingTalk refuses bodies over
//! 20000 bytes (`errcode 460101`) and answers HTTP 200 with an `errcode` for every outcome.

use secrecy::SecretString;
use serde_json::{Value, json};

use super::glance::{Budget, Dialect, Glance, fit};
use super::http::{Answer, CodeFields, Post};
use super::sign;

/// Largest body sent to DingTalk (its documented limit is 20000 bytes).
pub(crate) const LIMIT_BYTES: usize = 19_500;

/// `errcode` values that mean "too many messages, try later" (20 per minute per robot).
const RATE_LIMITED: &[i64] = &[130_101, 410_100];

/// A configured robot.
pub(crate) struct DingTalk {
    pub url: SecretString,
    pub secret: Option<SecretString>,
}

/// The markdown payload and whether it was shortened.
pub(crate) fn message(glance: &Glance<'_>) -> (Value, bool) {
    fit(LIMIT_BYTES, |budget| build(glance, budget))
}

fn build(glance: &Glance<'_>, budget: &Budget) -> (Value, bool) {
    let d = Dialect::Markdown;
    let title = glance.title();
    let mut parts = vec![format!("### {}", d.escape(&title))];
    parts.push(
        glance
            .facts()
            .into_iter()
            .map(|(label, value)| format!("- **{label}**: {}", d.escape(&value)))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let mut cut = false;
    if let Some(reasons) = glance.reasons(d, budget) {
        parts.push(reasons);
    }
    let (failed, failed_cut) = glance.failed_tests(d, budget);
    cut |= failed_cut;
    parts.extend(failed);
    let (changes, changes_cut) = glance.changes(d, budget);
    cut |= changes_cut;
    parts.push(changes);
    let mut links: Vec<String> = glance
        .links()
        .into_iter()
        .map(|(label, url)| d.link(label, url))
        .collect();
    if cut && !links.is_empty() {
        links.insert(0, "Message shortened.".to_owned());
    }
    if !links.is_empty() {
        parts.push(links.join(" · "));
    }
    let payload = json!({
        "msgtype": "markdown",
        "markdown": { "title": title, "text": parts.join("\n\n") },
    });
    (payload, cut)
}

impl DingTalk {
    /// The POST for `body`, signed now when a secret is configured.
    pub(crate) fn post(&self, body: &Value) -> Post {
        let mut post = Post::json(&self.url, body);
        if let Some(secret) = &self.secret {
            let timestamp = jiff::Timestamp::now().as_millisecond();
            post.query.push(("timestamp", timestamp.to_string()));
            post.query.push(("sign", sign::dingtalk(timestamp, secret)));
        }
        post
    }
}

/// DingTalk answers `{"errcode":0,"errmsg":"ok"}` on success.
pub(crate) fn check(body: &[u8]) -> Answer {
    const FIELDS: CodeFields = CodeFields {
        code: &["errcode"],
        message: &["errmsg"],
        retryable: RATE_LIMITED,
    };
    FIELDS.check(body)
}
