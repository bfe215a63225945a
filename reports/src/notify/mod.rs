//! Notifiers: telling people about a build in chat and e-mail.
//!
//! A product configures [`NotifierConfig`]s; [`Notifier::from_config`] resolves their
//! secrets. For an [`Event`], [`Notifier::message`] builds the [`Message`] (pure: same
//! report, same message, ready for snapshot tests and for storing with a delivery record),
//! [`Notifier::send`] makes one attempt, and [`deliver`] makes the attempts a
//! [`RetryPolicy`] allows, reporting each one before it is sent.

mod config;
mod dingtalk;
mod email;
mod glance;
mod http;
mod lark;
mod retry;
mod secret;
mod sign;
mod slack;
mod teams;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::errors::{ConfigError, DeliveryError, RenderError};
use crate::model::{Report, Verdict};
use crate::render::Templates;

pub use config::{
    EmailConfig, GenericWebhookConfig, NotifierConfig, SecretRef, SignedWebhookConfig, SmtpConfig,
    SmtpTls, WebhookConfig,
};
pub use retry::{AttemptEvent, DeliveryOutcome, RetryPolicy, deliver};
pub use secret::{EnvLookup, process_env};

/// What a notification is about.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Event {
    /// A build finished green.
    Success,
    /// A build finished red.
    Failure,
    /// A green build waits for a release manager.
    ApprovalNeeded,
    /// A build was published as a version.
    Released,
    /// A scheduled build found nothing changed since the last green build and ended skipped
    /// (only for notifiers that name this event).
    Skipped,
}

impl Event {
    /// All events, the default subscription.
    pub fn all() -> Vec<Event> {
        vec![
            Event::Success,
            Event::Failure,
            Event::ApprovalNeeded,
            Event::Released,
        ]
    }

    /// `success` or `failure` for a finished build.
    pub fn for_verdict(verdict: Verdict) -> Event {
        match verdict {
            Verdict::Green => Event::Success,
            Verdict::Red => Event::Failure,
        }
    }

    /// The event's name as configured (`approval-needed`, …).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The kind of channel a notifier talks to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum ChannelKind {
    /// Slack incoming webhook.
    Slack,
    /// DingTalk custom robot.
    Dingtalk,
    /// Lark/Feishu custom bot.
    Lark,
    /// Microsoft Teams workflow webhook.
    Teams,
    /// Generic signed webhook.
    Webhook,
    /// E-mail over SMTP.
    Email,
}

impl ChannelKind {
    /// The kind's name (`slack`, `dingtalk`, …).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A message ready to send: built once, sent (and retried) as is. It holds no secret, so
/// it can be stored with the delivery record and sent again after a restart. Signatures
/// and timestamps are added at each attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// The channel kind it was built for.
    pub channel: ChannelKind,
    /// The event it announces.
    pub event: Event,
    /// The headline (e-mail subject, card title), for delivery records.
    pub headline: String,
    /// Whether lists were shortened to fit the platform's limit.
    pub truncated: bool,
    /// What is sent.
    pub payload: Payload,
}

/// The body of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum Payload {
    /// A JSON body posted to a webhook.
    Json {
        /// The body.
        body: Value,
    },
    /// An e-mail.
    Email {
        /// The subject.
        subject: String,
        /// The plain-text part.
        text: String,
        /// The HTML part.
        html: String,
    },
}

/// A notifier with its secrets resolved, ready to build and send messages.
pub struct Notifier {
    name: String,
    kind: ChannelKind,
    events: Vec<Event>,
    timeout: Duration,
    channel: Channel,
    http: reqwest::Client,
    templates: Arc<Templates>,
}

enum Channel {
    Slack(slack::Slack),
    DingTalk(dingtalk::DingTalk),
    Lark(lark::Lark),
    Teams(teams::Teams),
    Webhook(webhook::Webhook),
    Email(Box<email::Email>),
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("name", &self.name)
            .field("kind", &self.kind())
            .field("events", &self.events)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// Builds a notifier, reading its secrets from the process environment and files.
    /// `templates` renders e-mails (the product's overrides included).
    pub fn from_config(
        config: &NotifierConfig,
        templates: Arc<Templates>,
    ) -> Result<Self, ConfigError> {
        Self::from_config_with_env(config, templates, &process_env)
    }

    /// Like [`Notifier::from_config`], with environment variables looked up by `env`.
    pub fn from_config_with_env(
        config: &NotifierConfig,
        templates: Arc<Templates>,
        env: EnvLookup<'_>,
    ) -> Result<Self, ConfigError> {
        use config::ChannelConfig;
        let name = config.name.as_str();
        let timeout = Duration::from_secs(config.timeout_seconds.max(1));
        let url = |reference: &SecretRef| webhook_url(name, reference, env);
        let signing = |reference: &Option<SecretRef>| {
            reference
                .as_ref()
                .map(|r| secret::resolve(name, "signing secret", r, env))
                .transpose()
        };
        let channel = match config.channel()? {
            ChannelConfig::Slack(c) => Channel::Slack(slack::Slack { url: url(&c.url)? }),
            ChannelConfig::DingTalk(c) => Channel::DingTalk(dingtalk::DingTalk {
                url: url(&c.url)?,
                secret: signing(&c.secret)?,
            }),
            ChannelConfig::Lark(c) => Channel::Lark(lark::Lark {
                url: url(&c.url)?,
                secret: signing(&c.secret)?,
            }),
            ChannelConfig::Teams(c) => Channel::Teams(teams::Teams { url: url(&c.url)? }),
            ChannelConfig::Webhook(c) => Channel::Webhook(webhook::Webhook {
                url: url(&c.url)?,
                secret: secret::resolve(name, "signing secret", &c.secret, env)?,
            }),
            ChannelConfig::Email(c) => {
                Channel::Email(Box::new(email::Email::from_config(name, c, env, timeout)?))
            }
        };
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| ConfigError::Client {
                notifier: name.to_owned(),
                what: "HTTP",
                reason: err.to_string(),
            })?;
        Ok(Notifier {
            name: config.name.clone(),
            kind: config.kind()?,
            events: config.events.clone(),
            timeout,
            channel,
            http,
            templates,
        })
    }

    /// The notifier's configured name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The kind of channel it talks to.
    pub fn kind(&self) -> ChannelKind {
        self.kind
    }

    /// Whether it subscribed to `event`.
    pub fn wants(&self, event: Event) -> bool {
        self.events.contains(&event)
    }

    /// The message announcing `event` for `report`, fitted to the platform's size limit.
    /// Only e-mail rendering can fail (a product's override template).
    pub fn message(&self, report: &Report, event: Event) -> Result<Message, RenderError> {
        let glance = glance::Glance::new(report, event);
        let json = |(body, truncated): (Value, bool)| (Payload::Json { body }, truncated);
        let (payload, truncated) = match &self.channel {
            Channel::Slack(_) => json(slack::message(&glance)),
            Channel::DingTalk(_) => json(dingtalk::message(&glance)),
            Channel::Lark(_) => json(lark::message(&glance)),
            Channel::Teams(_) => json(teams::message(&glance)),
            Channel::Webhook(_) => json((webhook::message(&glance), false)),
            Channel::Email(_) => (email::message(&glance, &self.templates)?, false),
        };
        Ok(Message {
            channel: self.kind(),
            event,
            headline: glance.title(),
            truncated,
            payload,
        })
    }

    /// Makes one attempt to send `message`, bounded by the notifier's timeout.
    pub async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        let wrong = || DeliveryError::WrongChannel {
            notifier: self.name.clone(),
            expected: self.kind().as_str(),
            found: message.channel.as_str(),
        };
        if message.channel != self.kind() {
            return Err(wrong());
        }
        let body = match (&self.channel, &message.payload) {
            (
                Channel::Email(email),
                Payload::Email {
                    subject,
                    text,
                    html,
                },
            ) => {
                return email
                    .send(&self.name, subject, text, html, self.timeout)
                    .await;
            }
            (Channel::Email(_), Payload::Json { .. }) | (_, Payload::Email { .. }) => {
                return Err(wrong());
            }
            (_, Payload::Json { body }) => body,
        };
        let (post, check): (http::Post, http::AnswerCheck) = match &self.channel {
            Channel::Slack(slack) => (slack.post(body), http::any_2xx),
            Channel::DingTalk(dingtalk) => (dingtalk.post(body), dingtalk::check),
            Channel::Lark(lark) => (lark.post(body), lark::check),
            Channel::Teams(teams) => (teams.post(body), http::any_2xx),
            Channel::Webhook(webhook) => (webhook.post(body, message.event), http::any_2xx),
            Channel::Email(_) => return Err(wrong()),
        };
        http::post(&self.http, &self.name, post, self.timeout, check).await
    }
}

/// Reads and checks a webhook URL without ever showing it.
fn webhook_url(
    notifier: &str,
    reference: &SecretRef,
    env: EnvLookup<'_>,
) -> Result<secrecy::SecretString, ConfigError> {
    use secrecy::ExposeSecret;
    let url = secret::resolve(notifier, "webhook URL", reference, env)?;
    let invalid = |reason: String| ConfigError::InvalidUrl {
        notifier: notifier.to_owned(),
        source_name: reference.describe(),
        reason,
    };
    let parsed = url::Url::parse(url.expose_secret()).map_err(|err| invalid(err.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(invalid(
            "only http and https URLs with a host are accepted".to_owned(),
        ));
    }
    Ok(url)
}
