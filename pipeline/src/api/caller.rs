//! Who is calling: the bearer token of every request (401 without a valid one), with the
//! request's id and the client's address for the audit log. A bearer that starts with
//! `chorale_` is a Chorale token; any other is an OIDC token when the server accepts them.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use secrecy::{ExposeSecret, SecretString};

use super::ApiState;
use super::problem::Problem;
use crate::errors::Error;
use crate::ops::access::{SECRET_PREFIX, authenticate};
use crate::resources::access::{AuditEvent, Identity, Outcome};

/// The header a request id is read from (and made for when missing).
pub const REQUEST_ID: &str = "x-request-id";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who it is and its role.
    pub identity: Identity,
    /// The request's id.
    pub request_id: String,
    /// The client's address.
    pub client: Option<String>,
}

impl Caller {
    /// The audit event of this caller doing `action` to `resource`.
    pub fn audit(&self, action: &str, resource: String) -> AuditEvent {
        AuditEvent {
            request_id: Some(self.request_id.clone()),
            client: self.client.clone(),
            ..AuditEvent::new(&self.identity, action, resource)
        }
    }

    /// `result` as an answer; a refusal for the caller's role is written to the audit log as
    /// denied (nothing else changed).
    pub async fn audited<T>(
        &self,
        state: &ApiState,
        action: &str,
        resource: String,
        result: Result<T, Error>,
    ) -> Result<T, Problem> {
        if let Err(Error::Forbidden { .. }) = &result {
            let mut event = self.audit(action, resource);
            event.outcome = Outcome::Denied;
            if let Err(error) = state.context.store.record_audit(&event).await {
                return Err(Error::from(error).into());
            }
        }
        result.map_err(Problem::from)
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Problem> {
        let secret = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|secret| !secret.is_empty())
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "send `Authorization: Bearer TOKEN`; an admin makes tokens with `chorale tokens create`",
                )
            })?;
        let secret = SecretString::from(secret);
        let identity = match &state.oidc {
            Some(oidc) if !secret.expose_secret().starts_with(SECRET_PREFIX) => {
                oidc.identify(&secret).await.map_err(Error::from)?
            }
            _ => authenticate(&state.context.store, &secret).await?,
        };
        let request_id = parts
            .headers
            .get(REQUEST_ID)
            .and_then(|value| value.to_str().ok())
            .filter(|id| !id.is_empty() && id.len() <= 128)
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.to_string());
        Ok(Self {
            identity,
            request_id,
            client,
        })
    }
}
