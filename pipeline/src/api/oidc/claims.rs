//! What an OIDC token says, read without keys: its header (algorithm and key id), its claims
//! checked against the configuration (issuer, audience, lifetime, subject), and the role its
//! role claim maps to. Pure functions: no keys, no I/O, no clock but the one given.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use jsonwebtoken::Algorithm;
use serde_json::Value;

use super::{ALGORITHMS, LEEWAY, OidcConfig};
use crate::errors::OidcError;
use crate::resources::access::Identity;

/// A token's claims.
pub(super) type Claims = serde_json::Map<String, Value>;

/// What a token's header says: how it is signed and with which of the issuer's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Header {
    /// One of [`ALGORITHMS`].
    pub alg: Algorithm,
    /// The key's id in the issuer's key set.
    pub kid: String,
}

/// The header as it is written, before it is judged.
#[derive(serde::Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
    crit: Option<Value>,
}

/// The three parts of a JWS compact token.
fn parts(token: &str) -> Result<[&str; 3], OidcError> {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(header), Some(payload), Some(signature), None) => Ok([header, payload, signature]),
        _ => Err(OidcError::Malformed(
            "a JWT is three base64url parts separated by dots".to_owned(),
        )),
    }
}

/// The JSON object of one part.
fn decode<T: serde::de::DeserializeOwned>(part: &str, what: &str) -> Result<T, OidcError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| OidcError::Malformed(format!("its {what} is not base64url")))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| OidcError::Malformed(format!("its {what} is not a JSON object")))
}

/// The header of `token`: an accepted algorithm and a key id.
pub(super) fn header(token: &str) -> Result<Header, OidcError> {
    let [header, _, _] = parts(token)?;
    let raw: RawHeader = decode(header, "header")?;
    let alg = raw.alg.unwrap_or_default();
    let accepted = alg
        .parse::<Algorithm>()
        .ok()
        .filter(|alg| ALGORITHMS.contains(alg))
        .ok_or(OidcError::Algorithm { alg })?;
    if raw.crit.is_some() {
        return Err(OidcError::Critical);
    }
    let kid = raw.kid.ok_or(OidcError::NoKeyId)?;
    Ok(Header { alg: accepted, kid })
}

/// The claims of `token`, not yet verified: read to refuse early, never to accept.
pub(super) fn unverified(token: &str) -> Result<Claims, OidcError> {
    let [_, payload, _] = parts(token)?;
    decode(payload, "payload")
}

fn string<'a>(claims: &'a Claims, claim: &'static str) -> Result<&'a str, OidcError> {
    match claims.get(claim) {
        None => Err(OidcError::MissingClaim(claim)),
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(OidcError::BadClaim {
            claim,
            expected: "a string",
        }),
    }
}

/// A NumericDate claim (seconds since 1970, maybe with a fraction), when present.
fn time(claims: &Claims, claim: &'static str) -> Result<Option<Timestamp>, OidcError> {
    let bad = || OidcError::BadClaim {
        claim,
        expected: "a time (a number of seconds since 1970)",
    };
    claims
        .get(claim)
        .map(|value| {
            let seconds = value.as_f64().ok_or_else(bad)?.floor();
            Timestamp::from_second(seconds as i64).map_err(|_| bad())
        })
        .transpose()
}

/// One string or an array of strings.
fn strings(value: &Value) -> Option<Vec<&str>> {
    match value {
        Value::String(one) => Some(vec![one]),
        Value::Array(items) => items.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

/// Refuse claims that do not fit `config` at `now`: another issuer, another audience, past
/// `exp` or before `nbf` (each with [`LEEWAY`]), no `exp` or no subject.
pub(super) fn check(config: &OidcConfig, claims: &Claims, now: Timestamp) -> Result<(), OidcError> {
    let issuer = string(claims, "iss")?;
    if issuer != config.issuer {
        return Err(OidcError::WrongIssuer {
            found: issuer.to_owned(),
            expected: config.issuer.clone(),
        });
    }
    let audience = claims.get("aud").ok_or(OidcError::MissingClaim("aud"))?;
    let audience = strings(audience).ok_or(OidcError::BadClaim {
        claim: "aud",
        expected: "a string or an array of strings",
    })?;
    if !audience.contains(&config.audience.as_str()) {
        return Err(OidcError::WrongAudience {
            found: if audience.is_empty() {
                "empty".to_owned()
            } else {
                listing(&audience)
            },
            expected: config.audience.clone(),
        });
    }
    let leeway = LEEWAY.as_secs() as i64;
    let now = now.as_second();
    let expires = time(claims, "exp")?.ok_or(OidcError::MissingClaim("exp"))?;
    if expires.as_second().saturating_add(leeway) < now {
        return Err(OidcError::Expired { at: expires });
    }
    if let Some(begins) = time(claims, "nbf")?
        && begins.as_second().saturating_sub(leeway) > now
    {
        return Err(OidcError::NotYetValid { at: begins });
    }
    let subject = string(claims, "sub")?;
    if subject.is_empty() || subject.chars().any(char::is_control) {
        return Err(OidcError::BadClaim {
            claim: "sub",
            expected: "a name (not empty, no control characters)",
        });
    }
    Ok(())
}

/// `values` for people: the first few, quoted.
fn listing(values: &[&str]) -> String {
    const SHOWN: usize = 5;
    let mut text = values
        .iter()
        .take(SHOWN)
        .map(|value| format!("`{value}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if values.len() > SHOWN {
        let _ = write!(text, " and {} more", values.len() - SHOWN);
    }
    text
}

/// Who checked `claims` are: `oidc:SUB`, with the highest role a value of the role claim
/// maps to. A claim that is missing, of another type, or has no mapped value: no role (403).
pub(super) fn identity(config: &OidcConfig, claims: &Claims) -> Result<Identity, OidcError> {
    let actor = format!("oidc:{}", string(claims, "sub")?);
    let claim = &config.role_claim;
    let no_role = |reason: String| OidcError::NoRole {
        actor: actor.clone(),
        claim: claim.clone(),
        reason,
    };
    let value = claims
        .get(claim)
        .ok_or_else(|| no_role(format!("the token has no `{claim}` claim")))?;
    let values = strings(value).ok_or_else(|| {
        no_role(format!(
            "the token's `{claim}` claim is neither a string nor an array of strings"
        ))
    })?;
    let role = config
        .roles
        .iter()
        .filter(|mapping| values.contains(&mapping.value.as_str()))
        .map(|mapping| mapping.role)
        .max()
        .ok_or_else(|| {
            no_role(if values.is_empty() {
                format!("the token's `{claim}` claim is empty")
            } else {
                format!(
                    "no value of the token's `{claim}` claim ({}) is mapped to a role",
                    listing(&values)
                )
            })
        })?;
    Ok(Identity { actor, role })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::oidc::RoleMapping;
    use crate::resources::access::Role;

    const ISSUER: &str = "https://idp.example.com/realms/chorale";

    fn config() -> OidcConfig {
        OidcConfig {
            issuer: ISSUER.to_owned(),
            audience: "chorale".to_owned(),
            jwks_url: None,
            role_claim: "groups".to_owned(),
            roles: [
                "chorale-viewers=viewer",
                "chorale-devs=developer",
                "ops=admin",
            ]
            .iter()
            .map(|text| text.parse().unwrap())
            .collect(),
        }
    }

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    /// Claims that pass [`check`] at [`now`], with `changes` on top (`null` removes one).
    fn claims(changes: &Value) -> Claims {
        let mut claims = json!({
            "iss": ISSUER,
            "aud": ["account", "chorale"],
            "sub": "ana",
            "exp": 1_800_000_300,
            "nbf": 1_799_999_990,
            "groups": ["staff", "chorale-devs"],
        })
        .as_object()
        .unwrap()
        .clone();
        for (claim, value) in changes.as_object().unwrap() {
            if value.is_null() {
                claims.remove(claim);
            } else {
                claims.insert(claim.clone(), value.clone());
            }
        }
        claims
    }

    fn token(header: &Value) -> String {
        let part = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
        format!("{}.{}.c2ln", part(header), part(&json!({"sub": "ana"})))
    }

    #[test]
    fn the_highest_mapped_role_of_the_claims_values_is_the_identitys() {
        let config = config();
        let ana = identity(&config, &claims(&json!({}))).unwrap();
        assert_eq!(ana.actor, "oidc:ana");
        assert_eq!(ana.role, Role::Developer);
        let both = claims(&json!({"groups": ["chorale-viewers", "ops", "chorale-devs"]}));
        assert_eq!(identity(&config, &both).unwrap().role, Role::Admin);
        let one = claims(&json!({"groups": "chorale-viewers"}));
        assert_eq!(identity(&config, &one).unwrap().role, Role::Viewer);
        let mut roles = config.clone();
        roles.role_claim = "roles".to_owned();
        roles.roles.push(RoleMapping {
            value: "staff".to_owned(),
            role: Role::ReleaseManager,
        });
        let claims = claims(&json!({"roles": ["staff"]}));
        assert_eq!(
            identity(&roles, &claims).unwrap().role,
            Role::ReleaseManager
        );
    }

    #[test]
    fn a_valid_token_whose_claim_maps_to_no_role_has_none_and_is_told_why() {
        let config = config();
        for (changes, expected) in [
            (
                json!({"groups": ["staff", "qa"]}),
                "no value of the token's `groups` claim (`staff`, `qa`) is mapped to a role",
            ),
            (json!({"groups": null}), "the token has no `groups` claim"),
            (json!({"groups": []}), "the token's `groups` claim is empty"),
            (
                json!({"groups": [1, 2]}),
                "is neither a string nor an array of strings",
            ),
            (
                json!({"groups": ["a", "b", "c", "d", "e", "f", "g"]}),
                "`e` and 2 more",
            ),
        ] {
            let error = identity(&config, &claims(&changes)).unwrap_err();
            assert!(
                matches!(&error, OidcError::NoRole { actor, .. } if actor == "oidc:ana"),
                "{error:?}"
            );
            let message = error.to_string();
            assert!(message.contains(expected), "{changes}: {message}");
            assert!(message.contains("--oidc-role VALUE=ROLE"), "{message}");
        }
    }

    #[test]
    fn claims_of_another_issuer_audience_or_time_are_refused_with_what_they_hold() {
        let config = config();
        assert_eq!(check(&config, &claims(&json!({})), now()), Ok(()));
        assert_eq!(
            check(&config, &claims(&json!({"aud": "chorale"})), now()),
            Ok(())
        );
        for (changes, expected) in [
            (
                json!({"iss": "https://elsewhere.example"}),
                "the token's issuer is `https://elsewhere.example`, not `https://idp.example.com/realms/chorale`",
            ),
            (
                json!({"iss": format!("{ISSUER}/")}),
                "not `https://idp.example.com/realms/chorale`",
            ),
            (json!({"iss": null}), "the token has no `iss` claim"),
            (
                json!({"aud": ["account", "grafana"]}),
                "the token's audience is `account`, `grafana`, not `chorale`",
            ),
            (json!({"aud": []}), "the token's audience is empty"),
            (json!({"aud": null}), "the token has no `aud` claim"),
            (json!({"aud": 7}), "`aud` claim is not a string or an array"),
            (
                json!({"exp": 1_799_999_969}),
                "the token expired at 2027-01-15T07:59:29Z",
            ),
            (json!({"exp": null}), "the token has no `exp` claim"),
            (json!({"exp": "tomorrow"}), "`exp` claim is not a time"),
            (
                json!({"nbf": 1_800_000_031}),
                "the token is not valid before 2027-01-15T08:00:31Z",
            ),
            (json!({"sub": null}), "the token has no `sub` claim"),
            (json!({"sub": ""}), "`sub` claim is not a name"),
        ] {
            let error = check(&config, &claims(&changes), now()).unwrap_err();
            assert!(error.to_string().contains(expected), "{changes}: {error}");
        }
    }

    #[test]
    fn the_leeway_is_thirty_seconds_either_way() {
        let config = config();
        let just = claims(&json!({"exp": 1_799_999_970, "nbf": 1_800_000_030.5}));
        assert_eq!(check(&config, &just, now()), Ok(()));
    }

    #[test]
    fn only_asymmetric_algorithms_and_a_key_id_are_accepted() {
        assert_eq!(
            header(&token(&json!({"alg": "ES256", "kid": "k1", "typ": "JWT"}))),
            Ok(Header {
                alg: Algorithm::ES256,
                kid: "k1".to_owned()
            })
        );
        for alg in ["none", "HS256", "HS512", "EdDSA", "PS512", "nonsense"] {
            let error = header(&token(&json!({"alg": alg, "kid": "k1"}))).unwrap_err();
            let message = error.to_string();
            assert!(
                message.contains(&format!("algorithm is `{alg}`"))
                    && message.contains("RS256, RS384, RS512, ES256, ES384 and PS256"),
                "{message}"
            );
        }
        assert_eq!(
            header(&token(&json!({"kid": "k1"}))),
            Err(OidcError::Algorithm { alg: String::new() })
        );
        assert_eq!(
            header(&token(&json!({"alg": "RS256"}))),
            Err(OidcError::NoKeyId)
        );
        assert_eq!(
            header(&token(
                &json!({"alg": "RS256", "kid": "k", "crit": ["b64"]})
            )),
            Err(OidcError::Critical)
        );
    }

    #[test]
    fn what_is_not_a_jwt_says_so() {
        for (bearer, expected) in [
            ("ghp_abcdef", "three base64url parts"),
            ("a.b.c.d.e", "three base64url parts"),
            ("!!.e30.c2ln", "header is not base64url"),
            ("bm90IGpzb24.e30.c2ln", "header is not a JSON object"),
        ] {
            let error = header(bearer).unwrap_err().to_string();
            assert!(
                error.contains("neither a Chorale token") && error.contains(expected),
                "{bearer}: {error}"
            );
        }
        let bad_payload = format!("{}.bm9wZQ.c2ln", URL_SAFE_NO_PAD.encode("{}"));
        assert!(
            unverified(&bad_payload)
                .unwrap_err()
                .to_string()
                .contains("payload is not a JSON object")
        );
    }
}
