//! The issuer's keys: its key set (JWKS), from `--oidc-jwks-url` or the `jwks_uri` of its
//! discovery document. It is fetched at start (or at the first token), kept, and fetched again
//! when a token names a key it lacks — at most once every [`REFETCH_INTERVAL`], so that keys
//! can rotate but made-up key ids cannot make Chorale hammer the issuer — or when it is
//! [`MAX_AGE`] old (a key the issuer stopped publishing stops working). A fetch that fails is
//! logged, refuses the tokens that needed it (401), and is tried again after
//! [`RETRY_AFTER_FAILURE`]; every fetch gives up after [`FETCH_TIMEOUT`], so a request never
//! hangs on the issuer. One fetch at a time: the requests that need it wait for its result.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::Value;
use url::Url;

use super::claims::Header;
use super::parse_url;
use crate::errors::OidcError;

/// A token naming a key the kept set lacks makes it be fetched again at most this often.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);

/// After a failed fetch, the next is tried no sooner than this.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// A kept key set older than this is fetched again before its keys are used (and used still
/// when that fetch fails).
pub const MAX_AGE: Duration = Duration::from_hours(1);

/// How long a fetch (connecting, asking, reading) may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest discovery document or key set read (real ones are a few KiB).
const MAX_DOCUMENT: usize = 1024 * 1024;

/// A key set as fetched.
#[derive(Debug, Clone)]
struct KeySet {
    /// Its signing keys (entries that are not keys are left out).
    keys: Vec<Jwk>,
    /// Where it came from.
    url: String,
    /// When, for the age.
    at: Instant,
    /// When, for people.
    fetched_at: Timestamp,
}

impl KeySet {
    fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys
            .iter()
            .find(|key| key.common.key_id.as_deref() == Some(kid))
    }
}

/// What is kept between requests: the last key set fetched, the last failure, and when a
/// token last made the set be fetched again.
#[derive(Debug, Default)]
struct KeyCache {
    set: Option<KeySet>,
    failure: Option<(Instant, OidcError)>,
    refetched_at: Option<Instant>,
}

/// What a look into the cache decides.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lookup {
    /// The key to check the token with.
    Found(Jwk),
    /// Fetch the set; `refetch`: because a token named a key it lacks.
    Fetch { refetch: bool },
    /// Refuse the token without a fetch.
    Refuse(OidcError),
}

impl Lookup {
    /// The answer when the lookup decided one; `Err(refetch)` when it says to fetch.
    fn answer(self) -> Result<Result<Jwk, OidcError>, bool> {
        match self {
            Self::Found(key) => Ok(Ok(key)),
            Self::Refuse(error) => Ok(Err(error)),
            Self::Fetch { refetch } => Err(refetch),
        }
    }
}

impl KeyCache {
    /// Whether the key `kid` is at hand at `now`, or a fetch is needed and allowed.
    fn lookup(&self, kid: &str, now: Instant) -> Lookup {
        let waiting = self
            .failure
            .as_ref()
            .filter(|(at, _)| now.saturating_duration_since(*at) < RETRY_AFTER_FAILURE)
            .map(|(_, error)| error);
        let Some(set) = &self.set else {
            return waiting.map_or(Lookup::Fetch { refetch: false }, |error| {
                Lookup::Refuse(error.clone())
            });
        };
        let fresh = now.saturating_duration_since(set.at) < MAX_AGE;
        match (set.find(kid), waiting) {
            (Some(key), _) if fresh => Lookup::Found(key.clone()),
            // Stale, and its fetch just failed: still the issuer's key as far as is known.
            (Some(key), Some(_)) => Lookup::Found(key.clone()),
            (_, Some(error)) => Lookup::Refuse(error.clone()),
            (Some(_), None) => Lookup::Fetch { refetch: false },
            (None, None) if !fresh => Lookup::Fetch { refetch: false },
            (None, None)
                if self
                    .refetched_at
                    .is_none_or(|at| now.saturating_duration_since(at) >= REFETCH_INTERVAL) =>
            {
                Lookup::Fetch { refetch: true }
            }
            (None, None) => Lookup::Refuse(unknown(kid, set)),
        }
    }

    /// Keep what a fetch at `now` gave.
    fn record(&mut self, fetched: Result<KeySet, OidcError>, now: Instant, refetch: bool) {
        if refetch {
            self.refetched_at = Some(now);
        }
        match fetched {
            Ok(set) => {
                self.set = Some(set);
                self.failure = None;
            }
            Err(error) => self.failure = Some((now, error)),
        }
    }

    /// The key `kid` after a fetch: from the new set, or the kept one when the fetch failed.
    fn after_fetch(&self, kid: &str) -> Result<Jwk, OidcError> {
        if let Some(key) = self.set.as_ref().and_then(|set| set.find(kid)) {
            return Ok(key.clone());
        }
        match (&self.failure, &self.set) {
            (Some((_, error)), _) => Err(error.clone()),
            (None, Some(set)) => Err(unknown(kid, set)),
            (None, None) => Err(OidcError::Refused(
                "the issuer's keys were never fetched".to_owned(),
            )),
        }
    }
}

fn unknown(kid: &str, set: &KeySet) -> OidcError {
    OidcError::UnknownKey {
        kid: kid.to_owned(),
        url: set.url.clone(),
        fetched_at: set.fetched_at,
    }
}

/// The issuer's keys, fetched over HTTP and kept.
#[derive(Debug)]
pub(super) struct Keys {
    client: reqwest::Client,
    /// How long a fetch may take.
    timeout: Duration,
    issuer: String,
    /// Held while fetching (one fetch at a time); the key set's URL once known, configured or
    /// discovered.
    fetching: tokio::sync::Mutex<Option<Url>>,
    cache: Mutex<KeyCache>,
}

impl Keys {
    /// The keys of `issuer`, at `jwks_url` or where its discovery document says; every fetch
    /// gives up after `timeout`.
    pub(super) fn new(
        issuer: &str,
        jwks_url: Option<Url>,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            client,
            timeout,
            issuer: issuer.to_owned(),
            fetching: tokio::sync::Mutex::new(jwks_url),
            cache: Mutex::default(),
        })
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, KeyCache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Fetch the key set if none is kept.
    pub(super) async fn load(&self) {
        let mut url = self.fetching.lock().await;
        if self.cache().set.is_none() {
            let fetched = self.fetch(&mut url).await;
            self.cache().record(fetched, Instant::now(), false);
        }
    }

    /// The issuer's key `kid`, fetching the key set when [`KeyCache::lookup`] says so.
    pub(super) async fn key(&self, kid: &str) -> Result<Jwk, OidcError> {
        let lookup = self.cache().lookup(kid, Instant::now());
        if let Ok(answer) = lookup.answer() {
            return answer;
        }
        let mut url = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        let lookup = self.cache().lookup(kid, Instant::now());
        let refetch = match lookup.answer() {
            Ok(answer) => return answer,
            Err(refetch) => refetch,
        };
        let fetched = self.fetch(&mut url).await;
        let mut cache = self.cache();
        cache.record(fetched, Instant::now(), refetch);
        cache.after_fetch(kid)
    }

    /// Fetch the key set (discovering its URL first when it is not known yet).
    async fn fetch(&self, url: &mut Option<Url>) -> Result<KeySet, OidcError> {
        let fetched = async {
            let jwks_url = match url {
                Some(known) => known.clone(),
                None => url.insert(self.discover().await?).clone(),
            };
            let document = self.get_json(&jwks_url).await?;
            let keys = key_set(&document).map_err(|reason| unavailable(&jwks_url, reason))?;
            tracing::info!(url = %jwks_url, keys = keys.len(), "fetched the OIDC issuer's keys");
            Ok(KeySet {
                keys,
                url: jwks_url.to_string(),
                at: Instant::now(),
                fetched_at: Timestamp::from_second(Timestamp::now().as_second())
                    .unwrap_or(Timestamp::UNIX_EPOCH),
            })
        }
        .await;
        if let Err(error) = &fetched {
            tracing::warn!(%error, "cannot fetch the OIDC issuer's keys");
        }
        fetched
    }

    /// The `jwks_uri` of the issuer's discovery document, which must name the issuer.
    async fn discover(&self) -> Result<Url, OidcError> {
        let discovery = Url::parse(&format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        ))
        .map_err(|error| unavailable_at(&self.issuer, error.to_string()))?;
        let document = self.get_json(&discovery).await?;
        let bad = |reason: String| unavailable(&discovery, reason);
        if document["issuer"].as_str() != Some(self.issuer.as_str()) {
            return Err(bad(format!(
                "the discovery document names the issuer {}, not `{}`",
                document["issuer"], self.issuer
            )));
        }
        let jwks_uri = document["jwks_uri"]
            .as_str()
            .ok_or_else(|| bad("the discovery document has no `jwks_uri`".to_owned()))?;
        parse_url(jwks_uri).map_err(|reason| bad(format!("its `jwks_uri`: {reason}")))
    }
}

fn unavailable(url: &Url, reason: String) -> OidcError {
    unavailable_at(url.as_str(), reason)
}

fn unavailable_at(url: &str, reason: String) -> OidcError {
    OidcError::KeysUnavailable {
        url: url.to_owned(),
        reason,
    }
}

impl Keys {
    /// GET `url` as JSON: a 2xx answer of at most [`MAX_DOCUMENT`] bytes.
    async fn get_json(&self, url: &Url) -> Result<Value, OidcError> {
        let failed = |error: reqwest::Error| {
            unavailable(
                url,
                if error.is_timeout() {
                    format!("no answer within {:?}", self.timeout)
                } else if error.is_connect() {
                    format!("cannot connect: {}", root_cause(&error))
                } else {
                    root_cause(&error)
                },
            )
        };
        let mut response = self
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(failed)?;
        if !response.status().is_success() {
            return Err(unavailable(url, format!("HTTP {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_DOCUMENT {
                return Err(unavailable(
                    url,
                    format!("the answer is larger than {} KiB", MAX_DOCUMENT / 1024),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body)
            .map_err(|error| unavailable(url, format!("the answer is not JSON: {error}")))
    }
}

/// What went wrong underneath an error (reqwest's own words name the request, not the cause).
fn root_cause(error: &dyn std::error::Error) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// The signing keys of a JWKS document: entries that do not read as keys, or are marked for
/// encryption, are left out (an issuer may publish kinds of keys this version does not know).
fn key_set(document: &Value) -> Result<Vec<Jwk>, String> {
    let entries = document["keys"]
        .as_array()
        .ok_or("the answer is not a key set (no `keys` array)")?;
    Ok(entries
        .iter()
        .filter_map(|entry| serde_json::from_value::<Jwk>(entry.clone()).ok())
        .filter(|key| {
            key.common
                .public_key_use
                .as_ref()
                .is_none_or(|usage| *usage == PublicKeyUse::Signature)
        })
        .collect())
}

/// The key to check a token of `header` with: `key` must be of the algorithm's type (and
/// curve), and of that algorithm when it names one.
pub(super) fn decoding_key(key: &Jwk, header: &Header) -> Result<DecodingKey, OidcError> {
    let unusable = |reason: String| OidcError::KeyUnusable {
        kid: header.kid.clone(),
        reason,
    };
    if let Some(named) = key.common.key_algorithm
        && named != KeyAlgorithm::from(header.alg)
    {
        return Err(unusable(format!(
            "it is a {named} key and the token is {:?}",
            header.alg
        )));
    }
    let fits = match (&key.algorithm, header.alg.family()) {
        (AlgorithmParameters::RSA(_), AlgorithmFamily::Rsa) => true,
        (AlgorithmParameters::EllipticCurve(ec), AlgorithmFamily::Ec) => matches!(
            (&ec.curve, header.alg),
            (EllipticCurve::P256, Algorithm::ES256) | (EllipticCurve::P384, Algorithm::ES384)
        ),
        _ => false,
    };
    if !fits {
        return Err(unusable(format!(
            "it is not a key for {:?} signatures",
            header.alg
        )));
    }
    DecodingKey::from_jwk(key).map_err(|error| unusable(error.to_string()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rsa(kid: &str) -> Value {
        json!({"kty": "RSA", "kid": kid, "use": "sig", "n": "sXch", "e": "AQAB"})
    }

    fn set(keys: &[Value], at: Instant) -> KeySet {
        KeySet {
            keys: key_set(&json!({ "keys": keys })).unwrap(),
            url: "https://idp.example.com/jwks".to_owned(),
            at,
            fetched_at: Timestamp::UNIX_EPOCH,
        }
    }

    fn header(alg: Algorithm) -> Header {
        Header {
            alg,
            kid: "k1".to_owned(),
        }
    }

    fn failure() -> OidcError {
        unavailable_at("https://idp.example.com/jwks", "HTTP 503".to_owned())
    }

    #[test]
    fn the_set_is_fetched_at_first_then_kept() {
        let start = Instant::now();
        let mut cache = KeyCache::default();
        assert_eq!(cache.lookup("k1", start), Lookup::Fetch { refetch: false });
        cache.record(Ok(set(&[rsa("k1")], start)), start, false);
        assert!(matches!(
            cache.lookup("k1", start + Duration::from_mins(59)),
            Lookup::Found(key) if key.common.key_id.as_deref() == Some("k1")
        ));
        assert_eq!(
            cache.lookup("k1", start + MAX_AGE),
            Lookup::Fetch { refetch: false },
            "an hour-old set is fetched again"
        );
    }

    #[test]
    fn an_unknown_key_makes_the_set_be_fetched_again_at_most_every_thirty_seconds() {
        let start = Instant::now();
        let mut cache = KeyCache::default();
        cache.record(Ok(set(&[rsa("k1")], start)), start, false);
        let later = start + Duration::from_secs(1);
        assert_eq!(cache.lookup("k2", later), Lookup::Fetch { refetch: true });
        cache.record(Ok(set(&[rsa("k1"), rsa("k2")], later)), later, true);
        assert!(cache.after_fetch("k2").is_ok(), "a rotated key is accepted");
        for kid in ["k3", "k4"] {
            let error = cache.after_fetch(kid).unwrap_err();
            assert!(matches!(error, OidcError::UnknownKey { .. }), "{error:?}");
            assert_eq!(
                cache.lookup(kid, later + Duration::from_secs(29)),
                Lookup::Refuse(error),
                "no fetch within 30 s of the last one an unknown key made"
            );
        }
        assert_eq!(
            cache.lookup("k3", later + REFETCH_INTERVAL),
            Lookup::Fetch { refetch: true }
        );
    }

    #[test]
    fn a_failed_fetch_refuses_for_five_seconds_and_a_stale_set_still_serves() {
        let start = Instant::now();
        let mut cache = KeyCache::default();
        cache.record(Err(failure()), start, false);
        assert_eq!(cache.after_fetch("k1"), Err(failure()));
        assert_eq!(
            cache.lookup("k1", start + Duration::from_secs(4)),
            Lookup::Refuse(failure())
        );
        let retry = start + RETRY_AFTER_FAILURE;
        assert_eq!(cache.lookup("k1", retry), Lookup::Fetch { refetch: false });
        cache.record(Ok(set(&[rsa("k1")], retry)), retry, false);
        assert!(cache.failure.is_none());

        let stale = retry + MAX_AGE;
        cache.record(Err(failure()), stale, false);
        assert!(
            cache.after_fetch("k1").is_ok(),
            "the kept key serves while the issuer is down"
        );
        assert!(matches!(
            cache.lookup("k1", stale + Duration::from_secs(1)),
            Lookup::Found(_)
        ));
        assert_eq!(cache.after_fetch("k9"), Err(failure()));
    }

    #[test]
    fn a_key_must_fit_the_tokens_algorithm() {
        let keys = key_set(&json!({"keys": [
            rsa("k1"),
            {"kty": "EC", "kid": "k1", "crv": "P-384", "x": "AA", "y": "AA"},
            {"kty": "RSA", "kid": "k1", "alg": "PS256", "n": "sXch", "e": "AQAB"},
            {"kty": "oct", "kid": "k1", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "sXch", "e": "AQAB"},
            {"kty": "unknown-kind", "kid": "k5"},
            "not a key",
        ]}))
        .unwrap();
        assert_eq!(
            keys.len(),
            5,
            "the encryption key and the non-key are left out"
        );
        assert!(decoding_key(&keys[0], &header(Algorithm::RS256)).is_ok());
        for (key, alg, expected) in [
            (&keys[0], Algorithm::ES256, "not a key for ES256"),
            (&keys[1], Algorithm::ES256, "not a key for ES256"),
            (
                &keys[2],
                Algorithm::RS256,
                "it is a PS256 key and the token is RS256",
            ),
            (&keys[3], Algorithm::RS256, "not a key for RS256"),
            (&keys[4], Algorithm::RS256, "not a key for RS256"),
        ] {
            let error = decoding_key(key, &header(alg)).err().unwrap();
            assert!(
                matches!(&error, OidcError::KeyUnusable { kid, .. } if kid == "k1")
                    && error.to_string().contains(expected),
                "{error}"
            );
        }
        assert!(
            key_set(&json!({"issuer": "x"}))
                .unwrap_err()
                .contains("no `keys` array")
        );
    }

    #[tokio::test]
    async fn an_issuer_that_cannot_be_reached_or_does_not_answer_refuses_quickly_and_says_where() {
        // Nobody listens on a port that was just free.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let jwks = Url::parse(&format!("http://{closed}/jwks")).unwrap();
        let keys = Keys::new("http://127.0.0.1", Some(jwks), FETCH_TIMEOUT).unwrap();
        let error = keys.key("k1").await.unwrap_err().to_string();
        assert!(
            error.contains(&format!(
                "cannot be fetched from http://{closed}/jwks: cannot connect: Connection refused"
            )),
            "{error}"
        );

        // A listener that never answers (its backlog accepts the connection).
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let issuer = format!("http://{}", silent.local_addr().unwrap());
        let keys = Keys::new(&issuer, None, Duration::from_millis(300)).unwrap();
        let started = Instant::now();
        let error = keys.key("k1").await.unwrap_err().to_string();
        assert!(started.elapsed() < Duration::from_secs(5), "{error}");
        assert!(
            error.contains(&format!(
                "cannot be fetched from {issuer}/.well-known/openid-configuration: no answer within"
            )),
            "{error}"
        );
        drop(silent);
    }
}
