//! Who may do what: roles, the identity a request acts as, API tokens (never their secret) and
//! the audit events every change leaves.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::meta::list_resource;

/// What a caller may do. Each role may do everything the ones before it may.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
    utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case", parse_err_fn = unknown_role, parse_err_ty = String)]
pub enum Role {
    /// Reads everything but secrets.
    Viewer,
    /// Also triggers builds (and, later, uploads components).
    Developer,
    /// Also approves, rejects and promotes releases.
    ReleaseManager,
    /// Also manages products and tokens.
    Admin,
}

fn unknown_role(text: &str) -> String {
    format!("unknown role `{text}`; the roles are viewer, developer, release-manager and admin")
}

impl Role {
    /// The name used in the API, the database and tokens' listings.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Who a request acts as: a token's name (or an OIDC subject) and its role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Identity {
    /// `token:NAME`, `oidc:SUBJECT`, or `local:USER` for the in-process CLI.
    pub actor: String,
    /// What it may do.
    pub role: Role,
}

impl Identity {
    /// The user of the in-process CLI: whoever can open the state folder may do everything.
    pub fn local() -> Self {
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
        Self {
            actor: format!("local:{user}"),
            role: Role::Admin,
        }
    }

    /// Whether this identity may do what `needed` may.
    pub fn may(&self, needed: Role) -> bool {
        self.role >= needed
    }
}

/// An API token as it is listed: everything but its secret, which is shown once at creation
/// and stored only as a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    /// A unique name, e.g. `nightly-ci`.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was made.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Who made it.
    pub created_by: String,
    /// When it stops working, if ever.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// When it was revoked.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
}

impl Token {
    /// Whether it is neither revoked nor expired at `now`.
    pub fn is_valid_at(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expires| now < expires)
    }
}

/// How a change that was asked for ended.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Outcome {
    /// It was made.
    Succeeded,
    /// The caller's role does not allow it.
    Denied,
}

/// One change, as the audit log keeps it: written in the same transaction as the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// Increasing; the order events happened in.
    #[serde(default)]
    pub id: i64,
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// Who (`token:NAME`, `local:USER`, …).
    pub actor: String,
    /// With which role.
    pub role: Role,
    /// What, e.g. `products.apply`, `builds.create`, `tokens.revoke`.
    pub action: String,
    /// On what, e.g. `products/demo`.
    pub resource: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The request's id (its `x-request-id`), when it came through the API.
    pub request_id: Option<String>,
    /// The client's address, when it came through the API.
    pub client: Option<String>,
}

impl AuditEvent {
    /// What `identity` did to `resource`, now, succeeded; request id and client unset.
    pub fn new(identity: &Identity, action: &str, resource: String) -> Self {
        Self {
            id: 0,
            at: Timestamp::now(),
            actor: identity.actor.clone(),
            role: identity.role,
            action: action.to_owned(),
            resource,
            outcome: Outcome::Succeeded,
            request_id: None,
            client: None,
        }
    }
}

list_resource!(
    /// Tokens, newest first, never their secrets (no paging: tokens are few).
    TokenList of Token
);

list_resource!(
    /// A page of the audit log, newest first.
    AuditEventList of AuditEvent
);

/// A token just made: the only answer that holds its secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedTokenDocument {
    /// The token as it is listed.
    pub token: Token,
    /// The bearer secret; it is not stored and cannot be shown again.
    pub secret: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_may_do_what_the_ones_before_it_may() {
        let developer = Identity {
            actor: "token:ci".to_owned(),
            role: Role::Developer,
        };
        assert!(developer.may(Role::Viewer));
        assert!(developer.may(Role::Developer));
        assert!(!developer.may(Role::ReleaseManager));
        assert!(!developer.may(Role::Admin));
        assert!(Identity::local().may(Role::Admin));
        assert_eq!("release-manager".parse::<Role>(), Ok(Role::ReleaseManager));
        assert!(
            "root"
                .parse::<Role>()
                .unwrap_err()
                .contains("viewer, developer")
        );
    }

    #[test]
    fn a_token_is_valid_until_it_expires_or_is_revoked() {
        let now = Timestamp::now();
        let mut token = Token {
            name: "ci".to_owned(),
            role: Role::Viewer,
            created_at: now,
            created_by: "local:root".to_owned(),
            expires_at: Some(now + jiff::SignedDuration::from_secs(60)),
            revoked_at: None,
        };
        assert!(token.is_valid_at(now));
        assert!(!token.is_valid_at(now + jiff::SignedDuration::from_secs(61)));
        token.expires_at = None;
        assert!(token.is_valid_at(now + jiff::SignedDuration::from_hours(24 * 365)));
        token.revoked_at = Some(now);
        assert!(!token.is_valid_at(now));
    }
}
