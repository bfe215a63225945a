//! The generic webhook: the report JSON with the event, signed like GitHub's webhooks:
//! `X-Chorale-Signature: sha256=<hex HMAC-SHA256 of the body>`, with `X-Chorale-Timestamp`
//! (Unix seconds of the attempt) and `X-Chorale-Event`.

use secrecy::SecretString;
use serde_json::{Value, json};

use super::Event;
use super::glance::Glance;
use super::http::Post;
use super::sign;
use crate::render::ReportDocument;

/// A configured webhook.
pub(crate) struct Webhook {
    pub url: SecretString,
    pub secret: SecretString,
}

/// The notification document: event, headline and the full report JSON.
pub(crate) fn message(glance: &Glance<'_>) -> Value {
    json!({
        "apiVersion": "chorale.dev/v1alpha1",
        "kind": "Notification",
        "event": glance.event,
        "headline": glance.title(),
        "report": ReportDocument::new(glance.report),
    })
}

impl Webhook {
    /// The POST for `body`, signed.
    pub(crate) fn post(&self, body: &Value, event: Event) -> Post {
        let bytes = serde_json::to_vec(body).expect("JSON values serialize");
        Post {
            url: self.url.clone(),
            query: Vec::new(),
            headers: vec![
                ("x-chorale-event", event.as_str().to_owned()),
                (
                    "x-chorale-timestamp",
                    jiff::Timestamp::now().as_second().to_string(),
                ),
                ("x-chorale-signature", sign::webhook(&bytes, &self.secret)),
            ],
            body: bytes,
        }
    }
}
