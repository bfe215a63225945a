//! How a product configures its notifiers (part of the Product manifest).
//!
//! ```yaml
//! notifications:
//!   - name: team-chat
//!     events: [failure, approval-needed]
//!     slack:
//!       url: { env: SLACK_WEBHOOK_URL }
//!   - name: release-managers
//!     events: [approval-needed, released]
//!     email:
//!       smtp: { host: smtp.example.com, username: chorale, password: { file: /run/secrets/smtp } }
//!       from: Chorale <chorale@example.com>
//!       to: [release@example.com]
//! ```
//!
//! Every secret (webhook URLs carry tokens too) is named by where it lives, never written
//! in the manifest.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ChannelKind, Event};
use crate::errors::ConfigError;

/// One notifier of a product: a name, the events it wants and exactly one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotifierConfig {
    /// A name unique within the product, used in delivery records and errors.
    pub name: String,
    /// The events this notifier is told about; all four when omitted.
    #[serde(default = "Event::all")]
    pub events: Vec<Event>,
    /// Per-attempt timeout in seconds (connect, send and answer).
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
    /// A Slack incoming webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<WebhookConfig>,
    /// A DingTalk custom robot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dingtalk: Option<SignedWebhookConfig>,
    /// A Lark/Feishu custom bot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lark: Option<SignedWebhookConfig>,
    /// A Microsoft Teams workflow webhook ("When a Teams webhook request is received").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teams: Option<WebhookConfig>,
    /// A generic webhook receiving the report JSON, signed with HMAC-SHA256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<GenericWebhookConfig>,
    /// E-mail over SMTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailConfig>,
}

fn default_timeout_seconds() -> u64 {
    10
}

/// A webhook whose URL is the only secret (Slack, Teams).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where the webhook URL (which holds the token) is kept.
    pub url: SecretRef,
}

/// A webhook with an optional signing secret (DingTalk "加签", Lark "签名校验").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignedWebhookConfig {
    /// Where the webhook URL is kept.
    pub url: SecretRef,
    /// Where the signing secret is kept; unsigned when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretRef>,
}

/// The generic webhook: URL and the HMAC signing secret, both required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenericWebhookConfig {
    /// Where the webhook URL is kept.
    pub url: SecretRef,
    /// Where the HMAC-SHA256 signing secret is kept.
    pub secret: SecretRef,
}

/// E-mail delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailConfig {
    /// The SMTP server.
    pub smtp: SmtpConfig,
    /// The sender, e.g. `Chorale <chorale@example.com>`.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
}

/// An SMTP server and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SmtpConfig {
    /// Host name or address.
    pub host: String,
    /// Port; 587 for `starttls`, 465 for `wrapper`, 25 for `none` when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Transport security.
    #[serde(default)]
    pub tls: SmtpTls,
    /// The user to authenticate as; no authentication when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Where the password is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    /// A PEM file with an extra CA to trust (a private relay's CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

impl SmtpConfig {
    /// The configured port, or the usual one for the TLS mode.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Wrapper => 465,
            SmtpTls::None => 25,
        })
    }
}

/// SMTP transport security.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which the server must offer.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS).
    Wrapper,
    /// No encryption: only allowed to a loopback host (a local relay).
    None,
}

/// Where a secret is kept: `{ env: VARIABLE }` or `{ file: PATH }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum SecretRef {
    /// An environment variable of the Chorale process.
    Env(String),
    /// A file whose content (surrounding whitespace trimmed) is the secret.
    File(PathBuf),
}

impl SecretRef {
    /// `environment variable X` or `file Y`, for messages.
    pub fn describe(&self) -> String {
        match self {
            SecretRef::Env(variable) => format!("environment variable {variable}"),
            SecretRef::File(path) => format!("file {}", path.display()),
        }
    }
}

/// The one channel a configuration names.
pub(crate) enum ChannelConfig<'a> {
    Slack(&'a WebhookConfig),
    DingTalk(&'a SignedWebhookConfig),
    Lark(&'a SignedWebhookConfig),
    Teams(&'a WebhookConfig),
    Webhook(&'a GenericWebhookConfig),
    Email(&'a EmailConfig),
}

impl NotifierConfig {
    /// Checks what can be checked without reading a secret, as a manifest is validated:
    /// exactly one channel, and for e-mail the addresses, a recipient and TLS to any host
    /// that is not loopback. [`Notifier::from_config`](super::Notifier::from_config) checks
    /// the rest (secrets present, webhook URLs valid) when the notifier is used.
    pub fn check(&self) -> Result<(), ConfigError> {
        match self.channel()? {
            ChannelConfig::Email(email) => super::email::check(&self.name, email).map(drop),
            _ => Ok(()),
        }
    }

    /// The kind of channel this notifier uses; exactly one must be configured.
    pub fn kind(&self) -> Result<ChannelKind, ConfigError> {
        Ok(match self.channel()? {
            ChannelConfig::Slack(_) => ChannelKind::Slack,
            ChannelConfig::DingTalk(_) => ChannelKind::Dingtalk,
            ChannelConfig::Lark(_) => ChannelKind::Lark,
            ChannelConfig::Teams(_) => ChannelKind::Teams,
            ChannelConfig::Webhook(_) => ChannelKind::Webhook,
            ChannelConfig::Email(_) => ChannelKind::Email,
        })
    }

    /// Makes every relative file path (secret files, the SMTP CA file) relative to `base`
    /// instead of the working directory, as a manifest means them: relative to itself.
    pub fn relative_to(&mut self, base: &Path) {
        let rebase = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        };
        let rebase_secret = |secret: &mut SecretRef| {
            if let SecretRef::File(path) = secret {
                rebase(path);
            }
        };
        for webhook in self.slack.iter_mut().chain(self.teams.iter_mut()) {
            rebase_secret(&mut webhook.url);
        }
        for signed in self.dingtalk.iter_mut().chain(self.lark.iter_mut()) {
            rebase_secret(&mut signed.url);
            signed.secret.iter_mut().for_each(rebase_secret);
        }
        if let Some(webhook) = &mut self.webhook {
            rebase_secret(&mut webhook.url);
            rebase_secret(&mut webhook.secret);
        }
        if let Some(email) = &mut self.email {
            email.smtp.password.iter_mut().for_each(rebase_secret);
            email.smtp.ca_file.iter_mut().for_each(rebase);
        }
    }

    /// The channel this notifier uses; exactly one must be configured.
    pub(crate) fn channel(&self) -> Result<ChannelConfig<'_>, ConfigError> {
        let mut found = Vec::new();
        if let Some(c) = &self.slack {
            found.push(("slack", ChannelConfig::Slack(c)));
        }
        if let Some(c) = &self.dingtalk {
            found.push(("dingtalk", ChannelConfig::DingTalk(c)));
        }
        if let Some(c) = &self.lark {
            found.push(("lark", ChannelConfig::Lark(c)));
        }
        if let Some(c) = &self.teams {
            found.push(("teams", ChannelConfig::Teams(c)));
        }
        if let Some(c) = &self.webhook {
            found.push(("webhook", ChannelConfig::Webhook(c)));
        }
        if let Some(c) = &self.email {
            found.push(("email", ChannelConfig::Email(c)));
        }
        if found.len() == 1 {
            return Ok(found.pop().expect("one element").1);
        }
        Err(ConfigError::ChannelCount {
            notifier: self.name.clone(),
            found: found
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_file_paths_are_rebased_and_the_rest_kept() {
        let mut config: NotifierConfig = serde_json::from_value(serde_json::json!({
            "name": "chat",
            "dingtalk": { "url": { "file": "secrets/url" }, "secret": { "env": "SIGNING" } }
        }))
        .unwrap();
        config.relative_to(Path::new("/products/demo"));
        let dingtalk = config.dingtalk.as_ref().unwrap();
        assert_eq!(
            dingtalk.url,
            SecretRef::File(PathBuf::from("/products/demo/secrets/url"))
        );
        assert_eq!(dingtalk.secret, Some(SecretRef::Env("SIGNING".to_owned())));

        let mut email: NotifierConfig = serde_json::from_value(serde_json::json!({
            "name": "mail",
            "email": {
                "smtp": { "host": "127.0.0.1", "password": { "file": "/run/pw" }, "caFile": "ca.pem" },
                "from": "a@example.com",
                "to": ["b@example.com"]
            }
        }))
        .unwrap();
        email.relative_to(Path::new("/p"));
        let smtp = &email.email.as_ref().unwrap().smtp;
        assert_eq!(
            smtp.password,
            Some(SecretRef::File(PathBuf::from("/run/pw")))
        );
        assert_eq!(smtp.ca_file, Some(PathBuf::from("/p/ca.pem")));
    }
}
