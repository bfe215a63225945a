//! [`Issuer`]: an OpenID Connect issuer on a free loopback port, as a relying party sees one:
//! its discovery document (`/.well-known/openid-configuration`) and its key set (`/jwks`),
//! to which a test adds keys (a rotation), counting the fetches of the key set.
//! [`SigningKey`]s (EC P-256 made with rcgen, RSA made with `openssl`) sign tokens;
//! [`unsigned`] and [`hs256`] make the forgeries a verifier must refuse.
//!
//! Like [`crate::webhook`] it is async: it serves on the caller's tokio runtime (start it from
//! a multi-threaded `#[tokio::test]` when the test also blocks) and stops when dropped.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::errors::Error;
use crate::process::{require, run};

/// A private key of the issuer (or of someone else), with its id.
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    key: EncodingKey,
    public: Jwk,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn key_error(action: &'static str) -> impl Fn(String) -> Error {
    move |reason| Error::InProcessServer {
        server: "OIDC issuer",
        action,
        reason,
    }
}

impl SigningKey {
    /// A new EC P-256 key that signs ES256, with the id `kid`.
    pub fn es256(kid: &str) -> Result<Self, Error> {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|error| key_error("generate an EC key")(error.to_string()))?;
        Self::new(
            kid,
            Algorithm::ES256,
            EncodingKey::from_ec_der(&pair.serialize_der()),
        )
    }

    /// A new 2048-bit RSA key that signs RS256, with the id `kid`, made with `openssl` (as
    /// PKCS#1, which the JWT library signs with).
    pub fn rs256(kid: &str) -> Result<Self, Error> {
        let openssl = require("openssl", "RSA keys of the OIDC issuer")?;
        let dir =
            tempfile::tempdir().map_err(|source| Error::io("creating", "a temp dir", source))?;
        let pem = dir.path().join("key.pem");
        let der = dir.path().join("key.der");
        run(Command::new(&openssl)
            .arg("genrsa")
            .arg("-out")
            .arg(&pem)
            .arg("2048"))?;
        run(Command::new(&openssl)
            .args(["rsa", "-traditional", "-outform", "DER", "-in"])
            .arg(&pem)
            .arg("-out")
            .arg(&der))?;
        let bytes = std::fs::read(&der).map_err(|source| Error::io("reading", &der, source))?;
        Self::new(kid, Algorithm::RS256, EncodingKey::from_rsa_der(&bytes))
    }

    fn new(kid: &str, alg: Algorithm, key: EncodingKey) -> Result<Self, Error> {
        let mut public = Jwk::from_encoding_key(&key, alg)
            .map_err(|error| key_error("make the public JWK")(error.to_string()))?;
        public.common.key_id = Some(kid.to_owned());
        public.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(Self {
            kid: kid.to_owned(),
            alg,
            key,
            public,
        })
    }

    /// Its id (the `kid` of its JWK and of the tokens it signs).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Its public key, as the key set publishes it.
    pub fn public_jwk(&self) -> Value {
        serde_json::to_value(&self.public).expect("a JWK serialises")
    }

    /// `claims` signed with this key, its id in the header.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).expect("the key signs")
    }
}

/// `claims` in a token that is not signed at all (`alg: none`), naming the key `kid`.
pub fn unsigned(kid: &str, claims: &Value) -> String {
    let part = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    format!(
        "{}.{}.",
        part(&json!({"alg": "none", "typ": "JWT", "kid": kid})),
        part(claims)
    )
}

/// `claims` signed with HMAC-SHA256 keyed by `secret`, naming the key `kid`: with the issuer's
/// public key as the secret, the algorithm-confusion forgery.
pub fn hs256(kid: &str, secret: &[u8], claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret))
        .expect("HMAC signs anything")
}

struct Shared {
    url: String,
    keys: Mutex<Vec<Value>>,
    fetches: AtomicUsize,
}

/// A running issuer; stopped on drop.
pub struct Issuer {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("url", &self.shared.url)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// Starts an issuer whose key set holds `keys`.
    pub async fn start(keys: &[&SigningKey]) -> Result<Issuer, Error> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|error| key_error("listen")(error.to_string()))?;
        let address = listener
            .local_addr()
            .map_err(|error| key_error("listen")(error.to_string()))?;
        let shared = Arc::new(Shared {
            url: format!("http://{address}"),
            keys: Mutex::new(keys.iter().map(|key| key.public_jwk()).collect()),
            fetches: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(key_set))
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the OIDC issuer serves");
        });
        Ok(Issuer { shared, server })
    }

    /// The issuer: the `iss` of its tokens, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// Adds `key` to the key set, as an issuer does before it signs with a new key.
    pub fn publish(&self, key: &SigningKey) {
        self.shared
            .keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(key.public_jwk());
    }

    /// How many times the key set was fetched.
    pub fn key_set_fetches(&self) -> usize {
        self.shared.fetches.load(Ordering::SeqCst)
    }
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({
        "issuer": shared.url,
        "jwks_uri": format!("{}/jwks", shared.url),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
    }))
}

async fn key_set(State(shared): State<Arc<Shared>>) -> Json<Value> {
    shared.fetches.fetch_add(1, Ordering::SeqCst);
    let keys = shared
        .keys
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    Json(json!({ "keys": keys }))
}
