//! An in-process token server for a registry with `auth: token` (the Docker token
//! authentication flow that Docker Hub, GHCR and Harbor use).
//!
//! The registry (CNCF distribution 2.8) verifies each token as it documents: issuer and
//! audience must match its config, `exp`/`nbf` hold (with 60 s of leeway), and the signing key
//! comes from the `x5c` header, whose certificate chain must verify against the registry's
//! `rootcertbundle`. So the server keeps a CA (written to that bundle) and a leaf certificate
//! signed by it; tokens are ES256-signed with the leaf key and carry the leaf in `x5c`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::{CertificateParams, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256};
use serde::Serialize;

use crate::basic_auth;
use crate::certificates::{certificate_authority, distinguished_name};
use crate::errors::Error;

/// The `service` the registry names in its challenges (the tokens' audience).
pub(crate) const SERVICE: &str = "chorale-testkit-registry";
/// The tokens' issuer, as the registry's config expects it.
pub(crate) const ISSUER: &str = "chorale-testkit-token-server";
/// How long a token is valid, in seconds.
const LIFETIME: u64 = 300;

/// A running token server; stops when dropped.
pub(crate) struct TokenServer {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    realm: String,
    root_certificate: PathBuf,
}

/// What the server needs to answer a request.
struct Signer {
    user: String,
    password: String,
    key: EncodingKey,
    leaf_der_base64: String,
    next_id: AtomicU64,
}

/// `access` entries of a token, as distribution reads them.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct Access {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    actions: Vec<String>,
}

#[derive(Serialize)]
struct Claims {
    iss: &'static str,
    sub: String,
    aud: &'static str,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: String,
    access: Vec<Access>,
}

impl TokenServer {
    /// Creates the certificates in `dir` and serves `/token` on a free loopback port.
    pub(crate) fn start(dir: &Path, user: &str, password: &str) -> Result<Self, Error> {
        let (signer, root_certificate) = Signer::generate(dir, user, password)?;
        let server =
            tiny_http::Server::http("127.0.0.1:0").map_err(|error| Error::InProcessServer {
                server: "token server",
                action: "listen",
                reason: error.to_string(),
            })?;
        let port = server
            .server_addr()
            .to_ip()
            .map(|address| address.port())
            .ok_or_else(|| Error::InProcessServer {
                server: "token server",
                action: "listen",
                reason: "the server has no IP address".to_owned(),
            })?;
        let server = Arc::new(server);
        let serving = Arc::clone(&server);
        let thread = std::thread::spawn(move || {
            // `recv` fails once `unblock` is called on drop.
            while let Ok(request) = serving.recv() {
                let response = signer.answer(&request);
                let _ = request.respond(response);
            }
        });
        Ok(Self {
            server,
            thread: Some(thread),
            realm: format!("http://127.0.0.1:{port}/token"),
            root_certificate,
        })
    }

    /// The URL the registry sends clients to (`realm` of its challenge).
    pub(crate) fn realm(&self) -> &str {
        &self.realm
    }

    /// The CA certificate the registry trusts (`rootcertbundle`).
    pub(crate) fn root_certificate(&self) -> &Path {
        &self.root_certificate
    }
}

impl std::fmt::Debug for TokenServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenServer")
            .field("realm", &self.realm)
            .field("root_certificate", &self.root_certificate)
            .finish_non_exhaustive()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Response = tiny_http::Response<std::io::Cursor<Vec<u8>>>;

impl Signer {
    /// Creates a CA and a signing certificate issued by it; writes the CA to
    /// `dir/token-ca.pem` (the registry's `rootcertbundle`) and returns its path.
    fn generate(dir: &Path, user: &str, password: &str) -> Result<(Self, PathBuf), Error> {
        let token_error = |action: &'static str| {
            move |error: rcgen::Error| Error::InProcessServer {
                server: "token server",
                action,
                reason: error.to_string(),
            }
        };
        let ca = certificate_authority("chorale-testkit token CA")
            .map_err(token_error("create the CA"))?;

        let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .map_err(token_error("generate the signing key"))?;
        let mut leaf_params =
            CertificateParams::new(Vec::new()).map_err(token_error("describe the signing key"))?;
        leaf_params.distinguished_name = distinguished_name(ISSUER);
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let leaf_certificate = leaf_params
            .signed_by(&leaf_key, &ca)
            .map_err(token_error("sign the signing certificate"))?;

        let root_certificate = dir.join("token-ca.pem");
        std::fs::write(&root_certificate, ca.pem())
            .map_err(|source| Error::io("writing", &root_certificate, source))?;
        let signer = Self {
            user: user.to_owned(),
            password: password.to_owned(),
            key: EncodingKey::from_ec_der(&leaf_key.serialize_der()),
            leaf_der_base64: STANDARD.encode(leaf_certificate.der()),
            next_id: AtomicU64::new(1),
        };
        Ok((signer, root_certificate))
    }

    /// Answers `GET /token?service=…&scope=…` with HTTP basic credentials.
    fn answer(&self, request: &tiny_http::Request) -> Response {
        let (path, query) = request.url().split_once('?').unwrap_or((request.url(), ""));
        if path != "/token" {
            return json(404, &serde_json::json!({"errors": [{"code": "NOT_FOUND"}]}));
        }
        let authorization = request
            .headers()
            .iter()
            .find(|header| header.field.equiv("Authorization"))
            .map(|header| header.value.as_str().to_owned());
        if !basic_auth::matches(authorization.as_deref(), &self.user, &self.password) {
            let mut response = json(
                401,
                &serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "wrong or missing credentials"}]}),
            );
            if let Ok(header) = "WWW-Authenticate: Basic realm=\"chorale-testkit\"".parse() {
                response.add_header::<tiny_http::Header>(header);
            }
            return response;
        }
        let scopes: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
            .filter(|(key, _)| key == "scope")
            .map(|(_, value)| value.into_owned())
            .collect();
        match self.token(&scopes) {
            Ok(token) => json(
                200,
                &serde_json::json!({"token": token, "access_token": token, "expires_in": LIFETIME}),
            ),
            Err(reason) => json(
                500,
                &serde_json::json!({"errors": [{"code": "UNKNOWN", "message": reason}]}),
            ),
        }
    }

    /// A token granting every requested action (the user is authenticated).
    fn token(&self, scopes: &[String]) -> Result<String, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|error| error.to_string())?
            .as_secs();
        let claims = Claims {
            iss: ISSUER,
            sub: self.user.clone(),
            aud: SERVICE,
            exp: now + LIFETIME,
            nbf: now.saturating_sub(10),
            iat: now,
            jti: format!("chorale-{}", self.next_id.fetch_add(1, Ordering::Relaxed)),
            access: scopes.iter().flat_map(|scope| parse_scope(scope)).collect(),
        };
        let mut header = Header::new(Algorithm::ES256);
        header.x5c = Some(vec![self.leaf_der_base64.clone()]);
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|error| error.to_string())
    }
}

/// Parses `scope` values: space-separated `type:name:action,action` items, where `name` may
/// itself hold `:` (e.g. a registry with a port never appears, but be lenient).
fn parse_scope(scope: &str) -> Vec<Access> {
    scope
        .split(' ')
        .filter_map(|item| {
            let (kind, rest) = item.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            Some(Access {
                kind: kind.to_owned(),
                name: name.to_owned(),
                actions: actions.split(',').map(str::to_owned).collect(),
            })
        })
        .collect()
}

fn json(status: u16, body: &serde_json::Value) -> Response {
    let mut response = tiny_http::Response::from_string(body.to_string()).with_status_code(status);
    if let Ok(header) = "Content-Type: application/json".parse() {
        response.add_header::<tiny_http::Header>(header);
    }
    response
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::{Access, ISSUER, SERVICE, Signer, parse_scope};

    fn decode(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn parses_scopes_as_distribution_sends_them() {
        assert_eq!(
            parse_scope("repository:demo/api:pull,push registry:catalog:*"),
            vec![
                Access {
                    kind: "repository".to_owned(),
                    name: "demo/api".to_owned(),
                    actions: vec!["pull".to_owned(), "push".to_owned()],
                },
                Access {
                    kind: "registry".to_owned(),
                    name: "catalog".to_owned(),
                    actions: vec!["*".to_owned()],
                },
            ]
        );
        assert!(parse_scope("nonsense").is_empty());
    }

    #[test]
    fn tokens_carry_what_distribution_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let (signer, root) = Signer::generate(dir.path(), "alice", "pw").unwrap();
        assert!(
            std::fs::read_to_string(root)
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        let token = signer
            .token(&["repository:demo/api:pull,push".to_owned()])
            .unwrap();
        let parts: Vec<_> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = decode(parts[0]);
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["x5c"][0], signer.leaf_der_base64.as_str());
        let claims = decode(parts[1]);
        assert_eq!(claims["iss"], ISSUER);
        assert_eq!(claims["aud"], SERVICE);
        assert_eq!(claims["sub"], "alice");
        assert_eq!(
            claims["access"],
            serde_json::json!([{"type": "repository", "name": "demo/api", "actions": ["pull", "push"]}])
        );
        assert!(claims["exp"].as_u64().unwrap() > claims["nbf"].as_u64().unwrap());
    }
}
