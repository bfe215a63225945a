//! Every error this crate returns. Messages read as sentences, name what failed and never
//! contain a secret: endpoints are shown as scheme, host and port only, because webhook
//! paths and queries carry tokens.

use std::path::PathBuf;
use std::time::Duration;

/// A JUnit XML document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JunitError {
    /// The XML is not well-formed.
    #[error("{origin}:{line}:{column}: malformed JUnit XML: {message}")]
    Malformed {
        /// The input's name (a path or a job name).
        origin: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column (in bytes) of the error.
        column: usize,
        /// What the XML reader found.
        message: String,
    },
    /// The root element is neither `<testsuites>` nor `<testsuite>`.
    #[error(
        "{origin}: the root element is <{root}>, but JUnit XML starts with <testsuites> or <testsuite>"
    )]
    UnexpectedRoot {
        /// The input's name.
        origin: String,
        /// The root element found.
        root: String,
    },
    /// The bytes are not UTF-8.
    #[error("{origin}: JUnit XML must be UTF-8, but byte {offset} is not valid UTF-8")]
    NotUtf8 {
        /// The input's name.
        origin: String,
        /// Offset of the first invalid byte.
        offset: usize,
    },
}

/// A report could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// An override template exists but could not be read.
    #[error("cannot read the override template {}: {reason}", path.display())]
    OverrideUnreadable {
        /// The override file.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// A template does not compile or failed while rendering (with strict undefined, a
    /// misspelled variable fails here).
    #[error("template {name} failed: {detail}")]
    Template {
        /// The template name, and the override path when it came from one.
        name: String,
        /// minijinja's description, with line numbers.
        detail: String,
    },
}

/// A notifier's configuration cannot be turned into a working notifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A notifier names no channel or more than one.
    #[error("notifier {notifier}: configure exactly one of slack, dingtalk, lark, teams, webhook, email (found: {})", if found.is_empty() { "none" } else { found.as_str() })]
    ChannelCount {
        /// The notifier's name.
        notifier: String,
        /// The channels it names, comma-separated.
        found: String,
    },
    /// A secret names an environment variable that is not set.
    #[error(
        "notifier {notifier}: the {what} is taken from the environment variable {variable}, which is not set"
    )]
    SecretVariableMissing {
        /// The notifier's name.
        notifier: String,
        /// Which secret (e.g. `webhook URL`).
        what: &'static str,
        /// The variable name.
        variable: String,
    },
    /// A secret names a file that cannot be read.
    #[error("notifier {notifier}: the {what} is taken from {}, which cannot be read: {reason}", path.display())]
    SecretFileUnreadable {
        /// The notifier's name.
        notifier: String,
        /// Which secret.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// A secret resolved to an empty value.
    #[error("notifier {notifier}: the {what} from {source_name} is empty")]
    SecretEmpty {
        /// The notifier's name.
        notifier: String,
        /// Which secret.
        what: &'static str,
        /// Where it came from (`environment variable X` or `file Y`).
        source_name: String,
    },
    /// The webhook URL does not parse or is not http(s). The URL itself is not shown: it
    /// holds the token.
    #[error(
        "notifier {notifier}: the webhook URL from {source_name} is not a valid http(s) URL: {reason}"
    )]
    InvalidUrl {
        /// The notifier's name.
        notifier: String,
        /// Where the URL came from.
        source_name: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Plain (unencrypted) SMTP was asked for a host that is not loopback.
    #[error(
        "notifier {notifier}: plain SMTP without TLS is only allowed to a loopback host, not {host}; use `tls: starttls` or `tls: wrapper`"
    )]
    PlainSmtpNotLoopback {
        /// The notifier's name.
        notifier: String,
        /// The configured host.
        host: String,
    },
    /// An e-mail address does not parse.
    #[error("notifier {notifier}: {address:?} is not a valid e-mail address: {reason}")]
    InvalidAddress {
        /// The notifier's name.
        notifier: String,
        /// The address as configured.
        address: String,
        /// Why it is invalid.
        reason: String,
    },
    /// An e-mail notifier has no recipients.
    #[error("notifier {notifier}: an e-mail notifier needs at least one address in `to`")]
    NoRecipients {
        /// The notifier's name.
        notifier: String,
    },
    /// The extra CA certificate for SMTP cannot be used.
    #[error("notifier {notifier}: the CA certificate {} cannot be used: {reason}", path.display())]
    InvalidCaCertificate {
        /// The notifier's name.
        notifier: String,
        /// The PEM file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The SMTP or HTTP client could not be set up.
    #[error("notifier {notifier}: cannot set up the {what} client: {reason}")]
    Client {
        /// The notifier's name.
        notifier: String,
        /// `HTTP` or `SMTP`.
        what: &'static str,
        /// The library's reason.
        reason: String,
    },
}

/// One delivery attempt failed. [`DeliveryError::is_retryable`] tells whether another
/// attempt may succeed; [`DeliveryError::retry_after`] carries the receiver's `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// No connection could be made (refused, DNS, TLS handshake).
    #[error("{notifier}: cannot connect to {endpoint}: {reason}")]
    Connect {
        /// The notifier's name.
        notifier: String,
        /// Scheme, host and port of the receiver.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
    /// The receiver did not answer in time.
    #[error("{notifier}: {endpoint} did not answer within {} ms", timeout.as_millis())]
    Timeout {
        /// The notifier's name.
        notifier: String,
        /// Scheme, host and port of the receiver.
        endpoint: String,
        /// The per-attempt timeout.
        timeout: Duration,
    },
    /// The receiver answered with an HTTP error status.
    #[error("{notifier}: {endpoint} answered HTTP {status}{}: {body}", retry_after.map(|d| format!(" (retry after {} s)", d.as_secs())).unwrap_or_default())]
    Http {
        /// The notifier's name.
        notifier: String,
        /// Scheme, host and port of the receiver.
        endpoint: String,
        /// The HTTP status code.
        status: u16,
        /// The `Retry-After` the receiver asked for.
        retry_after: Option<Duration>,
        /// The start of the response body.
        body: String,
    },
    /// The receiver answered 200 but refused the message with a platform error code
    /// (DingTalk `errcode`, Lark `code`).
    #[error("{notifier}: {endpoint} refused the message with code {code}: {message}")]
    Refused {
        /// The notifier's name.
        notifier: String,
        /// Scheme, host and port of the receiver.
        endpoint: String,
        /// The platform's error code.
        code: i64,
        /// The platform's error message.
        message: String,
        /// Whether the code means "try again later" (rate limits).
        retryable: bool,
    },
    /// The SMTP exchange failed.
    #[error("{notifier}: SMTP server {endpoint}: {reason}")]
    Smtp {
        /// The notifier's name.
        notifier: String,
        /// Host and port of the SMTP server.
        endpoint: String,
        /// What went wrong.
        reason: String,
        /// Whether another attempt may succeed (4xx replies, network errors).
        retryable: bool,
    },
    /// A resumed delivery has no attempt left.
    #[error("{notifier}: all {attempts} attempts were already made")]
    AttemptsExhausted {
        /// The notifier's name.
        notifier: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The message given to `send` was built for another kind of channel.
    #[error("{notifier}: a {found} message cannot be sent through a {expected} notifier")]
    WrongChannel {
        /// The notifier's name.
        notifier: String,
        /// The notifier's channel kind.
        expected: &'static str,
        /// The message's channel kind.
        found: &'static str,
    },
}

impl DeliveryError {
    /// Whether another attempt may succeed: timeouts, connection failures, HTTP 408, 425,
    /// 429 and 5xx, platform rate-limit codes and transient SMTP failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            DeliveryError::Connect { .. } | DeliveryError::Timeout { .. } => true,
            DeliveryError::Http { status, .. } => {
                matches!(status, 408 | 425 | 429) || (500..=599).contains(status)
            }
            DeliveryError::Refused { retryable, .. } | DeliveryError::Smtp { retryable, .. } => {
                *retryable
            }
            DeliveryError::WrongChannel { .. } | DeliveryError::AttemptsExhausted { .. } => false,
        }
    }

    /// The delay the receiver asked for with `Retry-After`, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            DeliveryError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
