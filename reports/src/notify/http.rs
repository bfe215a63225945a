//! The one HTTP path every webhook notifier shares: post, bound the time, classify the answer.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::errors::DeliveryError;

/// Most of a response body kept in an error.
const BODY_EXCERPT: usize = 300;

/// A prepared POST: the URL (which holds a token), extra headers and the body.
pub(crate) struct Post {
    /// The target; kept secret, only its endpoint is ever shown.
    pub url: SecretString,
    /// Extra query parameters (DingTalk's `timestamp` and `sign`).
    pub query: Vec<(&'static str, String)>,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
}

impl Post {
    /// A POST of `body` as JSON to `url`, without extra query parameters or headers.
    pub(crate) fn json(url: &SecretString, body: &serde_json::Value) -> Post {
        Post {
            url: url.clone(),
            query: Vec::new(),
            headers: Vec::new(),
            body: serde_json::to_vec(body).expect("JSON values serialize"),
        }
    }
}

/// A platform's verdict on a 2xx answer whose body carries its own status.
pub(crate) enum Answer {
    /// Accepted.
    Accepted,
    /// Refused with a platform code.
    Refused {
        /// The code.
        code: i64,
        /// The platform's message.
        message: String,
        /// Whether the code means "try again later".
        retryable: bool,
    },
}

/// Reads a 2xx body and says whether the platform accepted the message.
pub(crate) type AnswerCheck = fn(&[u8]) -> Answer;

/// Accepts every 2xx answer (Slack, Teams, generic webhooks signal errors with statuses).
pub(crate) fn any_2xx(_: &[u8]) -> Answer {
    Answer::Accepted
}

/// Where a platform that answers HTTP 200 for everything puts its verdict: the JSON field
/// names of the code (0 = accepted) and of the message, first match wins, and the codes
/// that mean "try again later".
pub(crate) struct CodeFields {
    /// Field names of the code.
    pub code: &'static [&'static str],
    /// Field names of the message.
    pub message: &'static [&'static str],
    /// Codes worth another attempt.
    pub retryable: &'static [i64],
}

impl CodeFields {
    /// Reads an answer of this shape.
    pub(crate) fn check(&self, body: &[u8]) -> Answer {
        let Ok(answer) = serde_json::from_slice::<serde_json::Value>(body) else {
            return Answer::Refused {
                code: -1,
                message: format!("the answer is not the platform's JSON: {}", excerpt(body)),
                retryable: true,
            };
        };
        let code = self.code.iter().find_map(|field| answer[*field].as_i64());
        if code == Some(0) {
            return Answer::Accepted;
        }
        let code = code.unwrap_or(-1);
        let message = self
            .message
            .iter()
            .find_map(|field| answer[*field].as_str())
            .unwrap_or_default()
            .to_owned();
        Answer::Refused {
            code,
            message,
            retryable: self.retryable.contains(&code),
        }
    }
}

/// Sends one POST with `timeout` for the whole exchange and classifies the outcome.
pub(crate) async fn post(
    client: &reqwest::Client,
    notifier: &str,
    post: Post,
    timeout: Duration,
    check: AnswerCheck,
) -> Result<(), DeliveryError> {
    let endpoint = endpoint(&post.url);
    let mut url = Url::parse(post.url.expose_secret()).map_err(|err| DeliveryError::Connect {
        notifier: notifier.to_owned(),
        endpoint: endpoint.clone(),
        reason: format!("the webhook URL is not valid: {err}"),
    })?;
    if !post.query.is_empty() {
        url.query_pairs_mut()
            .extend_pairs(post.query.iter().map(|(k, v)| (*k, v.as_str())));
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("chorale/", env!("CARGO_PKG_VERSION"))),
    );
    for (name, value) in &post.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    let response = client
        .post(url)
        .headers(headers)
        .body(post.body)
        .timeout(timeout)
        .send()
        .await
        .map_err(|err| transport_error(notifier, &endpoint, timeout, &err))?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(parse_retry_after);
    let body = response
        .bytes()
        .await
        .map_err(|err| transport_error(notifier, &endpoint, timeout, &err))?;
    if !status.is_success() {
        return Err(DeliveryError::Http {
            notifier: notifier.to_owned(),
            endpoint,
            status: status.as_u16(),
            retry_after,
            body: excerpt(&body),
        });
    }
    match check(&body) {
        Answer::Accepted => Ok(()),
        Answer::Refused {
            code,
            message,
            retryable,
        } => Err(DeliveryError::Refused {
            notifier: notifier.to_owned(),
            endpoint,
            code,
            message,
            retryable,
        }),
    }
}

/// Scheme, host and port of a URL: what errors and logs may show of a webhook address.
pub(crate) fn endpoint(url: &SecretString) -> String {
    match Url::parse(url.expose_secret()) {
        Ok(url) => match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
            (Some(host), None) => format!("{}://{host}", url.scheme()),
            _ => format!("{}://", url.scheme()),
        },
        Err(_) => "an invalid URL".to_owned(),
    }
}

/// `Retry-After` as seconds or as an HTTP date.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = when.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

fn transport_error(
    notifier: &str,
    endpoint: &str,
    timeout: Duration,
    err: &reqwest::Error,
) -> DeliveryError {
    if err.is_timeout() {
        return DeliveryError::Timeout {
            notifier: notifier.to_owned(),
            endpoint: endpoint.to_owned(),
            timeout,
        };
    }
    DeliveryError::Connect {
        notifier: notifier.to_owned(),
        endpoint: endpoint.to_owned(),
        reason: innermost(err),
    }
}

/// The most specific description in an error's source chain, without the URL (reqwest
/// puts the full URL, token included, into its own message).
fn innermost(err: &reqwest::Error) -> String {
    let mut reason = String::from("the request failed");
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        reason = inner.to_string();
        source = inner.source();
    }
    reason
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    crate::text::truncate_chars(&text.replace(['\n', '\r'], " "), BODY_EXCERPT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_hide_path_and_query() {
        let url =
            SecretString::from("https://oapi.dingtalk.com/robot/send?access_token=abc".to_owned());
        assert_eq!(endpoint(&url), "https://oapi.dingtalk.com");
        let url = SecretString::from("http://127.0.0.1:8080/hook/secret-token".to_owned());
        assert_eq!(endpoint(&url), "http://127.0.0.1:8080");
    }

    #[test]
    fn retry_after_in_seconds_and_as_date() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
