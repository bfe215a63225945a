//! Tokens and the audit log: creating a token (its secret shown once, only a hash stored),
//! listing and revoking them, telling who a bearer secret belongs to, and reading the log.

use std::time::Duration;

use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::errors::Error;
use crate::resources::access::{AuditEvent, Identity, Role, Token};
use crate::store::Store;

/// What every secret starts with, so that a leaked one is easy to find (and to scan for).
pub const SECRET_PREFIX: &str = "chorale_";

/// Refuse what `identity` may not do.
pub fn authorize(identity: &Identity, needed: Role) -> Result<(), Error> {
    if identity.may(needed) {
        Ok(())
    } else {
        Err(Error::Forbidden {
            actor: identity.actor.clone(),
            role: identity.role,
            needed,
        })
    }
}

/// Make a token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateToken {
    /// A unique name: lower-case letters, digits and `-`, at most 63.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// How long it works, e.g. `90d` or `12h`; for ever if not given.
    #[serde(default, with = "optional_lifetime")]
    #[schema(value_type = Option<String>, example = "90d")]
    pub expires_in: Option<Duration>,
}

/// A token just made: the only time its secret is shown.
#[derive(Debug)]
pub struct CreatedToken {
    /// The token as it is listed.
    pub token: Token,
    /// The bearer secret.
    pub secret: SecretString,
}

/// Parse a token's lifetime: `90d`, `12h`, `30m`, … (a day is 24 hours).
pub fn parse_lifetime(text: &str) -> Result<Duration, String> {
    let lifetime = crate::resources::parse_duration(text)
        .map_err(|_| format!("`{text}` is not a lifetime; write e.g. 90d, 12h or 30m"))?;
    if lifetime.is_zero() {
        return Err(format!("`{text}` must be longer than zero"));
    }
    Ok(lifetime)
}

mod optional_lifetime {
    use std::time::Duration;

    use serde::Deserialize;

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| super::parse_lifetime(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

fn check_token_name(name: &str) -> Result<(), Error> {
    if crate::resources::is_label(name, 63) {
        Ok(())
    } else {
        Err(Error::InvalidField {
            field: "name".to_owned(),
            message: format!(
                "`{name}` is not a token name: use 1 to 63 lower-case letters, digits and `-`, not at either end"
            ),
        })
    }
}

/// The stored form of a secret.
fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Make a token for `request`, as `identity` (an admin).
pub async fn create_token(
    store: &Store,
    identity: &Identity,
    request: &CreateToken,
    audit: AuditEvent,
) -> Result<CreatedToken, Error> {
    authorize(identity, Role::Admin)?;
    check_token_name(&request.name)?;
    let now = Timestamp::now();
    let expires_at = request
        .expires_in
        .map(|lifetime| {
            jiff::SignedDuration::try_from(lifetime)
                .ok()
                .and_then(|d| now.checked_add(d).ok())
                .ok_or_else(|| Error::InvalidField {
                    field: "expiresIn".to_owned(),
                    message: "the lifetime is too long".to_owned(),
                })
        })
        .transpose()?;
    let mut random = [0u8; 32];
    rand::fill(&mut random);
    let secret = format!("{SECRET_PREFIX}{}", hex::encode(random));
    let token = Token {
        name: request.name.clone(),
        role: request.role,
        created_at: now,
        created_by: identity.actor.clone(),
        expires_at,
        revoked_at: None,
    };
    if !store.create_token(&token, &hash(&secret), &audit).await? {
        return Err(Error::Conflict(format!(
            "a token named `{}` exists; revoke it or choose another name",
            request.name
        )));
    }
    Ok(CreatedToken {
        token,
        secret: secret.into(),
    })
}

/// Every token (never a secret), as `identity` (an admin).
pub async fn list_tokens(store: &Store, identity: &Identity) -> Result<Vec<Token>, Error> {
    authorize(identity, Role::Admin)?;
    Ok(store.tokens().await?)
}

/// Revoke the token `name`, as `identity` (an admin).
pub async fn revoke_token(
    store: &Store,
    identity: &Identity,
    name: &str,
    audit: AuditEvent,
) -> Result<(), Error> {
    authorize(identity, Role::Admin)?;
    if store.revoke_token(name, Timestamp::now(), &audit).await? {
        Ok(())
    } else {
        Err(Error::NoSuch {
            kind: "token",
            name: name.to_owned(),
            hint: "`chorale tokens list` shows the tokens that are not revoked",
        })
    }
}

/// Who `secret` belongs to. Errors: [`Error::Unauthenticated`] for an unknown, expired or
/// revoked secret (the message says which, never the secret).
pub async fn authenticate(store: &Store, secret: &SecretString) -> Result<Identity, Error> {
    let token = store
        .token_by_hash(&hash(secret.expose_secret()))
        .await?
        .ok_or_else(|| Error::Unauthenticated("the bearer token is not known".to_owned()))?;
    if token.revoked_at.is_some() {
        return Err(Error::Unauthenticated(format!(
            "the token `{}` was revoked",
            token.name
        )));
    }
    if !token.is_valid_at(Timestamp::now()) {
        return Err(Error::Unauthenticated(format!(
            "the token `{}` has expired",
            token.name
        )));
    }
    Ok(Identity {
        actor: format!("token:{}", token.name),
        role: token.role,
    })
}

/// Audit events, newest first, as `identity` (any role may read them).
pub async fn audit_events(
    store: &Store,
    identity: &Identity,
    limit: u32,
    before: Option<i64>,
) -> Result<Vec<AuditEvent>, Error> {
    authorize(identity, Role::Viewer)?;
    Ok(store.audit_events(limit, before).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_read_as_people_write_them() {
        assert_eq!(parse_lifetime("90d"), Ok(Duration::from_hours(90 * 24)));
        assert_eq!(parse_lifetime("12h"), Ok(Duration::from_hours(12)));
        assert!(
            parse_lifetime("0s")
                .unwrap_err()
                .contains("longer than zero")
        );
        assert!(
            parse_lifetime("soon")
                .unwrap_err()
                .contains("90d, 12h or 30m")
        );
    }

    #[test]
    fn token_names_are_checked_and_secrets_only_hashed() {
        assert!(check_token_name("nightly-ci").is_ok());
        for bad in ["", "-ci", "CI", "ci_1", &"x".repeat(64)] {
            assert!(
                matches!(check_token_name(bad), Err(Error::InvalidField { ref field, .. }) if field == "name"),
                "{bad}"
            );
        }
        let stored = hash("chorale_secret");
        assert_eq!(stored.len(), 64);
        assert!(!stored.contains("secret"));
    }

    #[test]
    fn a_role_below_the_one_needed_is_refused_by_name() {
        let viewer = Identity {
            actor: "token:read".to_owned(),
            role: Role::Viewer,
        };
        let error = authorize(&viewer, Role::Admin).unwrap_err().to_string();
        assert!(
            error.contains("token:read") && error.contains("admin"),
            "{error}"
        );
        assert!(authorize(&viewer, Role::Viewer).is_ok());
    }
}
