//! Media types: what the client accepts, what it sent, and building responses.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use serde_json::Value;

use crate::errors::ApiError;

/// A response body: a whole document or a stream.
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// What the client asked to get back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Plain JSON objects.
    Json,
    /// `meta.k8s.io` Table (`kubectl get`).
    Table,
    /// `PartialObjectMetadata` / `PartialObjectMetadataList`.
    Metadata,
    /// Aggregated discovery (`apidiscovery.k8s.io/v2` or `v2beta1`).
    AggregatedDiscovery(&'static str),
}

/// Reads the `Accept` header: the first alternative kube-sim can produce wins. Aggregated
/// discovery is produced only in the versions in `aggregated` (those the cluster's Kubernetes
/// version serves); other alternatives are passed over as the API server passes them over.
pub fn negotiate(headers: &HeaderMap, aggregated: &[&'static str]) -> Result<Format, ApiError> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if accept.trim().is_empty() {
        return Ok(Format::Json);
    }
    for alternative in accept.split(',') {
        let mut parts = alternative.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let params: Vec<(String, String)> = parts
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if !matches!(media.as_str(), "application/json" | "*/*" | "application/*") {
            continue;
        }
        match (param("as"), param("g"), param("v")) {
            (Some("Table"), Some("meta.k8s.io"), _) => return Ok(Format::Table),
            (
                Some("PartialObjectMetadata" | "PartialObjectMetadataList"),
                Some("meta.k8s.io"),
                _,
            ) => {
                return Ok(Format::Metadata);
            }
            (Some("APIGroupDiscoveryList"), Some("apidiscovery.k8s.io"), Some(version)) => {
                if let Some(served) = aggregated.iter().find(|v| **v == version) {
                    return Ok(Format::AggregatedDiscovery(served));
                }
            }
            (None, _, _) => return Ok(Format::Json),
            _ => {}
        }
    }
    Err(ApiError::not_acceptable(&accept))
}

/// Fails with 415 when the request body is not JSON (protobuf, CBOR, ...). Patch and apply
/// media types are checked where patches are read.
pub fn require_json_body(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if matches!(media, "application/json" | "" | "*/*") {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type(content_type))
    }
}

/// The `Content-Type` of a request.
pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_owned()
}

/// A whole body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

/// A JSON response.
pub fn json(code: u16, value: &Value) -> Response<Body> {
    json_bytes(
        code,
        serde_json::to_vec(value).unwrap_or_default(),
        "application/json",
    )
}

/// A JSON response from bytes with a content type.
pub fn json_bytes(code: u16, bytes: Vec<u8>, content_type: &str) -> Response<Body> {
    let mut response = Response::new(full(bytes));
    *response.status_mut() =
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/json")),
    );
    response
}

/// The `Status` response of an error.
pub fn error(error: &ApiError) -> Response<Body> {
    json(error.code, &error.to_status())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepting(accept: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_str(accept).expect("a header"),
        );
        headers
    }

    #[test]
    fn aggregated_discovery_is_produced_only_in_the_versions_served() {
        let kubectl = accepting(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json",
        );
        assert_eq!(negotiate(&kubectl, &[]).expect("JSON"), Format::Json);
        assert_eq!(
            negotiate(&kubectl, &["v2beta1"]).expect("aggregated"),
            Format::AggregatedDiscovery("v2beta1")
        );
        assert_eq!(
            negotiate(&kubectl, &["v2", "v2beta1"]).expect("aggregated"),
            Format::AggregatedDiscovery("v2")
        );
        let only_aggregated =
            accepting("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
        assert_eq!(
            negotiate(&only_aggregated, &[])
                .expect_err("not acceptable")
                .code,
            406
        );
    }
}
