//! Errors as `application/problem+json` (RFC 9457): a status, a title, and a sentence a person
//! can act on; `field` names the part of the request that is wrong, `errors` lists every
//! problem of a manifest as `body:LINE:COL: message`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::errors::{Error, OidcError};

/// The media type of a problem.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer: an RFC 9457 [`ProblemDocument`] (boxed: handlers return it as their error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem(Box<ProblemDocument>);

impl std::ops::Deref for Problem {
    type Target = ProblemDocument;

    fn deref(&self) -> &ProblemDocument {
        &self.0
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = Problem)]
pub struct ProblemDocument {
    /// `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's phrase, e.g. `Bad Request`.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What is wrong and what to do about it.
    pub detail: String,
    /// The request field that is wrong, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every located problem of a manifest, `body:LINE:COL: message`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl Problem {
    /// A problem with `status` and `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self(Box::new(ProblemDocument {
            kind: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
            errors: Vec::new(),
        }))
    }

    /// The same problem, naming the field that is wrong.
    #[must_use]
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.0.field = Some(field.into());
        self
    }

    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<Error> for Problem {
    fn from(error: Error) -> Self {
        let status = match &error {
            Error::Manifest(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::InvalidField { .. } | Error::Invalid(_) => StatusCode::BAD_REQUEST,
            Error::NoSuch { .. } | Error::NoSuchBuild(_) | Error::NotFound(_) => {
                StatusCode::NOT_FOUND
            }
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Publish { .. } => StatusCode::BAD_GATEWAY,
            Error::Forbidden { .. } | Error::Oidc(OidcError::NoRole { .. }) => {
                StatusCode::FORBIDDEN
            }
            Error::Unauthenticated(_) | Error::Oidc(_) => StatusCode::UNAUTHORIZED,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(%error, "a request failed");
        }
        let mut problem = match &error {
            Error::Manifest(errors) => {
                let mut problem = Self::new(
                    status,
                    format!(
                        "the manifest has {} problem(s); each is listed in `errors`",
                        errors.0.len()
                    ),
                );
                problem.0.errors = errors.0.iter().map(ToString::to_string).collect();
                problem
            }
            Error::InvalidField { message, .. } => Self::new(status, message.clone()),
            other => Self::new(status, other.to_string()),
        };
        if let Error::InvalidField { field, .. } = error {
            problem.0.field = Some(field);
        }
        problem
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let mut response = (status, axum::Json(&*self.0)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"chorale\""),
            );
        }
        response
    }
}
