//! E-mail over SMTP with lettre: an HTML body with a plain-text alternative, both rendered
//! from templates (`email.html.j2`, `email.txt.j2`), overridable per product.

use std::net::IpAddr;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;
use serde::Serialize;

use super::Payload;
use super::config::{EmailConfig, SmtpTls};
use super::glance::Glance;
use super::secret::{EnvLookup, resolve};
use crate::errors::{ConfigError, DeliveryError, RenderError};
use crate::render::Templates;

/// A configured SMTP delivery.
pub(crate) struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    endpoint: String,
}

/// Extra template context of e-mails.
#[derive(Serialize)]
struct EmailContext<'a> {
    event: &'a str,
    headline: &'a str,
}

/// The e-mail for a report and event: subject, text and HTML.
pub(crate) fn message(glance: &Glance<'_>, templates: &Templates) -> Result<Payload, RenderError> {
    let headline = glance.title();
    let context = || EmailContext {
        event: glance.event.as_str(),
        headline: &headline,
    };
    let text = templates.render_with("email.txt.j2", glance.report, context())?;
    let html = templates.render_with("email.html.j2", glance.report, context())?;
    Ok(Payload::Email {
        subject: headline.clone(),
        text,
        html,
    })
}

/// The sender and the recipients of an e-mail configuration, checked without reading any
/// secret: every address parses, there is a recipient, plain SMTP goes to loopback only.
pub(crate) fn check(
    notifier: &str,
    config: &EmailConfig,
) -> Result<(Mailbox, Vec<Mailbox>), ConfigError> {
    let mailbox = |address: &str| {
        address
            .parse::<Mailbox>()
            .map_err(|err| ConfigError::InvalidAddress {
                notifier: notifier.to_owned(),
                address: address.to_owned(),
                reason: err.to_string(),
            })
    };
    let from = mailbox(&config.from)?;
    let to = config
        .to
        .iter()
        .map(|a| mailbox(a))
        .collect::<Result<Vec<_>, _>>()?;
    if to.is_empty() {
        return Err(ConfigError::NoRecipients {
            notifier: notifier.to_owned(),
        });
    }
    if config.smtp.tls == SmtpTls::None && !is_loopback(&config.smtp.host) {
        return Err(ConfigError::PlainSmtpNotLoopback {
            notifier: notifier.to_owned(),
            host: config.smtp.host.clone(),
        });
    }
    Ok((from, to))
}

impl Email {
    /// Resolves the password, parses the addresses and prepares the transport.
    pub(crate) fn from_config(
        notifier: &str,
        config: &EmailConfig,
        env: EnvLookup<'_>,
        timeout: Duration,
    ) -> Result<Self, ConfigError> {
        let smtp = &config.smtp;
        let (from, to) = check(notifier, config)?;
        let tls = match smtp.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => Tls::Required(tls_parameters(notifier, smtp)?),
            SmtpTls::Wrapper => Tls::Wrapper(tls_parameters(notifier, smtp)?),
        };
        let port = smtp.effective_port();
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.as_str())
                .port(port)
                .tls(tls)
                .timeout(Some(timeout));
        if let Some(username) = &smtp.username {
            let password = match &smtp.password {
                Some(reference) => resolve(notifier, "SMTP password", reference, env)?,
                None => secrecy::SecretString::from(String::new()),
            };
            builder = builder.credentials(Credentials::new(
                username.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        Ok(Email {
            transport: builder.build(),
            from,
            to,
            endpoint: format!("{}:{port}", smtp.host),
        })
    }

    /// Sends one e-mail; the whole exchange is bounded by `timeout`.
    pub(crate) async fn send(
        &self,
        notifier: &str,
        subject: &str,
        text: &str,
        html: &str,
        timeout: Duration,
    ) -> Result<(), DeliveryError> {
        let smtp_error = |reason: String, retryable: bool| DeliveryError::Smtp {
            notifier: notifier.to_owned(),
            endpoint: self.endpoint.clone(),
            reason,
            retryable,
        };
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .subject(subject);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let email = builder
            .multipart(MultiPart::alternative_plain_html(
                text.to_owned(),
                html.to_owned(),
            ))
            .map_err(|err| smtp_error(format!("cannot build the e-mail: {err}"), false))?;
        match tokio::time::timeout(timeout, self.transport.send(email)).await {
            Err(_) => Err(DeliveryError::Timeout {
                notifier: notifier.to_owned(),
                endpoint: self.endpoint.clone(),
                timeout,
            }),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => {
                let retryable = !(err.is_permanent()
                    || err.is_tls()
                    || err.is_client()
                    || is_invalid_data(&err));
                Err(smtp_error(describe(&err), retryable))
            }
        }
    }
}

fn tls_parameters(
    notifier: &str,
    smtp: &super::config::SmtpConfig,
) -> Result<TlsParameters, ConfigError> {
    let mut builder = TlsParameters::builder(smtp.host.clone());
    if let Some(path) = &smtp.ca_file {
        let invalid = |reason: String| ConfigError::InvalidCaCertificate {
            notifier: notifier.to_owned(),
            path: path.clone(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|err| invalid(err.to_string()))?;
        let certificate = Certificate::from_pem(&pem).map_err(|err| invalid(err.to_string()))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder.build_rustls().map_err(|err| ConfigError::Client {
        notifier: notifier.to_owned(),
        what: "SMTP",
        reason: err.to_string(),
    })
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// lettre's error with those of its causes it does not already show.
fn describe(err: &lettre::transport::smtp::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        let cause = inner.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = inner.source();
    }
    text
}

/// Whether the server's answer could not be used (an untrusted certificate, a broken TLS
/// handshake): trying again will not change it.
fn is_invalid_data(err: &lettre::transport::smtp::Error) -> bool {
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        if inner
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidData)
        {
            return true;
        }
        source = inner.source();
    }
    false
}
