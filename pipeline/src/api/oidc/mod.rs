//! OIDC bearer tokens: JWTs signed by a configured issuer, checked with a key of its key set
//! (JWKS) and given the highest role a value of one of their claims maps to. A bearer that
//! starts with `chorale_` is a Chorale token whatever is configured; any other is one of these
//! when `chorale serve` has `--oidc-issuer`.
//!
//! - `claims`: the header (algorithm, key id) and the claims (issuer, audience, lifetime,
//!   subject, the role claim): pure functions;
//! - `keys`: the issuer's key set, fetched, kept, and fetched again when a token names a key it
//!   lacks (rate-limited) or it is an hour old.

mod claims;
mod keys;

use std::str::FromStr;
use std::time::Duration;

use jiff::Timestamp;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::errors::{Error, OidcError};
use crate::resources::access::{Identity, Role};

/// The signature algorithms accepted: asymmetric ones only (never `none`, never HMAC, whose
/// secret would be the issuer's public key).
pub const ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::PS256,
];

/// [`ALGORITHMS`] for people.
pub const ALGORITHM_NAMES: &str = "RS256, RS384, RS512, ES256, ES384 and PS256";

/// How far `exp` and `nbf` may be off, for clocks that differ.
pub const LEEWAY: Duration = Duration::from_secs(30);

/// The role claim when `--oidc-role-claim` is not given.
pub const DEFAULT_ROLE_CLAIM: &str = "groups";

/// Which tokens are accepted and what they may do: `chorale serve --oidc-…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcConfig {
    /// The `iss` a token must carry, exactly as given.
    pub issuer: String,
    /// A value the token's `aud` must hold.
    pub audience: String,
    /// Where the issuer publishes its keys; `None`: the `jwks_uri` of its discovery document
    /// (`ISSUER/.well-known/openid-configuration`).
    pub jwks_url: Option<Url>,
    /// The claim whose values map to roles (a string or an array of strings).
    pub role_claim: String,
    /// Which value of the role claim gives which role.
    pub roles: Vec<RoleMapping>,
}

/// A value of the role claim and the role it gives: `VALUE=ROLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleMapping {
    /// The claim's value, e.g. a group name.
    pub value: String,
    /// The role it gives.
    pub role: Role,
}

impl FromStr for RoleMapping {
    type Err = String;

    /// `VALUE=ROLE`, split at the last `=` (a value may hold `=`, as an LDAP group's DN does).
    fn from_str(text: &str) -> Result<Self, String> {
        let (value, role) = text.rsplit_once('=').ok_or_else(|| {
            format!("`{text}` is not VALUE=ROLE; write e.g. chorale-admins=admin")
        })?;
        if value.is_empty() {
            return Err(format!(
                "`{text}` has no value before `=`; write e.g. chorale-admins=admin"
            ));
        }
        Ok(Self {
            value: value.to_owned(),
            role: role.parse()?,
        })
    }
}

/// An issuer: an `https://` URL (`http://` only on a loopback host) without query or
/// fragment, kept exactly as written, since a token's `iss` must equal it.
pub fn parse_issuer(text: &str) -> Result<String, String> {
    let url = parse_url(text)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{text}` has a query or a fragment; an issuer has neither"
        ));
    }
    Ok(text.to_owned())
}

/// Where keys or discovery documents are fetched from: `https://` (`http://` only on a
/// loopback host, where nobody can change them on the way).
pub fn parse_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|error| format!("`{text}` is not a URL: {error}"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(format!(
            "`{text}` is not an https:// URL (http:// is accepted on a loopback host only)"
        )),
    }
}

/// Checks OIDC bearer tokens: the configuration and the issuer's keys.
#[derive(Debug)]
pub struct OidcVerifier {
    config: OidcConfig,
    keys: keys::Keys,
}

impl OidcVerifier {
    /// A verifier for `config` whose key fetches give up after [`keys::FETCH_TIMEOUT`].
    pub fn new(config: OidcConfig) -> Result<Self, Error> {
        let keys = keys::Keys::new(&config.issuer, config.jwks_url.clone(), keys::FETCH_TIMEOUT)
            .map_err(|error| {
                Error::Invalid(format!(
                    "cannot make the HTTP client for OIDC keys: {error}"
                ))
            })?;
        Ok(Self { config, keys })
    }

    /// The issuer whose tokens are accepted.
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// Fetch the issuer's keys now if none are kept (at start, so that a wrong URL shows in
    /// the log before the first token does).
    pub async fn load_keys(&self) {
        self.keys.load().await;
    }

    /// Who `token` (a JWT) is: `oidc:SUB` with the highest role its role claim maps to.
    /// Its claims are checked before any key is looked up (a token of another issuer, or an
    /// expired one, never makes the keys be fetched), then its signature, by the JWT library,
    /// which checks the claims again.
    pub async fn identify(&self, token: &SecretString) -> Result<Identity, OidcError> {
        let token = token.expose_secret();
        let header = claims::header(token)?;
        claims::check(&self.config, &claims::unverified(token)?, Timestamp::now())?;
        let jwk = self.keys.key(&header.kid).await?;
        let key = keys::decoding_key(&jwk, &header)?;
        let verified = self.verify(token, &key, &header)?;
        claims::identity(&self.config, &verified)
    }

    /// The claims of `token` once its signature verifies with `key`.
    fn verify(
        &self,
        token: &str,
        key: &DecodingKey,
        header: &claims::Header,
    ) -> Result<claims::Claims, OidcError> {
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY.as_secs();
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        jsonwebtoken::decode::<claims::Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                ErrorKind::InvalidSignature => OidcError::BadSignature {
                    kid: header.kid.clone(),
                },
                ErrorKind::InvalidEcdsaKey
                | ErrorKind::InvalidRsaKey(_)
                | ErrorKind::InvalidKeyFormat => OidcError::KeyUnusable {
                    kid: header.kid.clone(),
                    reason: error.to_string(),
                },
                _ => OidcError::Refused(error.to_string()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_algorithms_named_are_those_accepted() {
        let names: Vec<String> = ALGORITHMS.iter().map(|alg| format!("{alg:?}")).collect();
        let (last, others) = names.split_last().unwrap();
        assert_eq!(ALGORITHM_NAMES, format!("{} and {last}", others.join(", ")));
    }

    #[test]
    fn role_mappings_read_value_equals_role() {
        assert_eq!(
            "chorale-admins=admin".parse(),
            Ok(RoleMapping {
                value: "chorale-admins".to_owned(),
                role: Role::Admin
            })
        );
        assert_eq!(
            "cn=devs,ou=groups=developer".parse(),
            Ok(RoleMapping {
                value: "cn=devs,ou=groups".to_owned(),
                role: Role::Developer
            })
        );
        for (bad, expected) in [
            ("admins", "is not VALUE=ROLE"),
            ("=admin", "no value before `=`"),
            ("admins=root", "unknown role `root`"),
        ] {
            let error = bad.parse::<RoleMapping>().unwrap_err();
            assert!(error.contains(expected), "{bad}: {error}");
        }
    }

    #[test]
    fn issuers_are_https_or_loopback_and_kept_as_written() {
        for good in [
            "https://idp.example.com/realms/chorale",
            "https://idp.example.com/",
            "http://127.0.0.1:8080",
            "http://localhost:9000/issuer",
            "http://[::1]:9000",
        ] {
            assert_eq!(parse_issuer(good).as_deref(), Ok(good));
        }
        for (bad, expected) in [
            ("idp.example.com", "is not a URL"),
            ("http://idp.example.com", "not an https:// URL"),
            ("ftp://idp.example.com", "not an https:// URL"),
            ("https://idp.example.com/?tenant=1", "query or a fragment"),
        ] {
            let error = parse_issuer(bad).unwrap_err();
            assert!(error.contains(expected), "{bad}: {error}");
        }
        assert!(parse_url("https://idp.example.com/keys?v=2").is_ok());
    }
}
