//! [`GitHttpsServer`]: real `https://` git remotes that require a token, the way forges serve
//! them.
//!
//! An in-process HTTPS server (axum on rustls with aws-lc-rs, a certificate from a throw-away
//! CA) checks HTTP basic credentials `x-access-token:TOKEN` and hands every authenticated
//! request to git's own `git http-backend`, run as a CGI program by `cgi-service`. Everything
//! else answers 401 with `WWW-Authenticate: Basic realm="git"`.

use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use cgi_service::{CgiConfig, CgiService};
use rcgen::{
    CertificateParams, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::server::TlsStream;

use crate::basic_auth;
use crate::certificates::{certificate_authority, distinguished_name};
use crate::errors::Error;
use crate::process;

/// How long a client may take for its TLS handshake before the server moves on.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `git http-backend` may take to start answering.
const CGI_TIMEOUT: Duration = Duration::from_mins(1);

/// A running HTTPS git server for the bare repositories of a directory (usually
/// [`GitDaemon::base_dir`](crate::GitDaemon::base_dir), so that one repository is reachable
/// over `git://` and `https://`). Fetches and pushes need the user
/// [`GitHttpsServer::USER`] with the password [`GitHttpsServer::token`]. Stops when dropped.
pub struct GitHttpsServer {
    port: u16,
    token: Arc<str>,
    ca_pem: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    _dir: TempDir,
}

impl GitHttpsServer {
    /// The user name clients authenticate as, with the token as password.
    pub const USER: &'static str = "x-access-token";

    /// Serves the bare repositories `NAME.git` under `repositories` on a free loopback port,
    /// with a fresh CA and a random token.
    pub fn start(repositories: impl Into<PathBuf>) -> Result<Self, Error> {
        let repositories = repositories.into();
        let git = process::require("git", "to run `git http-backend` behind the HTTPS server")?;
        let dir = tempfile::Builder::new()
            .prefix("chorale-git-https-")
            .tempdir()
            .map_err(|source| Error::io("creating a temp dir in", std::env::temp_dir(), source))?;
        let (tls, ca_pem) = tls_config(dir.path())?;
        let token: Arc<str> =
            format!("chorale-test-{}", hex::encode(rand::random::<[u8; 16]>())).into();

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(failed("start a tokio runtime"))?;
        let tcp = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .map_err(|source| Error::io("binding a free port on", "127.0.0.1:0", source))?;
        let port = tcp
            .local_addr()
            .map_err(|source| Error::io("reading the address of", "127.0.0.1:0", source))?
            .port();
        let listener = TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(Arc::new(tls)),
        };
        let app = router(&git, &repositories, port, Arc::clone(&token));
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("git-https-{port}"))
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        _ = axum::serve(listener, app).into_future() => {}
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime here ends the open connections.
            })
            .map_err(failed("start the server thread"))?;
        Ok(Self {
            port,
            token,
            ca_pem,
            stop: Some(stop),
            thread: Some(thread),
            _dir: dir,
        })
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `https://127.0.0.1:PORT/NAME.git`.
    pub fn url(&self, name: &str) -> String {
        format!("https://{}/{name}.git", self.host())
    }

    /// The CA certificate (PEM) that issued the server's certificate: what `GIT_SSL_CAINFO`
    /// (git CLI) or `SSL_CERT_FILE` (OpenSSL, libgit2) must name.
    pub fn ca_pem_path(&self) -> &Path {
        &self.ca_pem
    }

    /// The token the server accepts as the password of [`GitHttpsServer::USER`].
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl std::fmt::Debug for GitHttpsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHttpsServer")
            .field("port", &self.port)
            .field("ca_pem", &self.ca_pem)
            .finish_non_exhaustive()
    }
}

impl Drop for GitHttpsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn failed<E: std::fmt::Display>(action: &'static str) -> impl FnOnce(E) -> Error {
    move |error| Error::InProcessServer {
        server: "git HTTPS server",
        action,
        reason: error.to_string(),
    }
}

/// A CA written to `dir/ca.pem` and a server configuration presenting a certificate it issued
/// for `127.0.0.1` and `localhost`.
fn tls_config(dir: &Path) -> Result<(ServerConfig, PathBuf), Error> {
    let ca =
        certificate_authority("chorale-testkit git HTTPS CA").map_err(failed("create the CA"))?;
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(failed("generate the key"))?;
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .map_err(failed("describe the server certificate"))?;
    params.distinguished_name = distinguished_name("127.0.0.1");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let certificate = params
        .signed_by(&key, &ca)
        .map_err(failed("sign the server certificate"))?;
    let ca_pem = dir.join("ca.pem");
    std::fs::write(&ca_pem, ca.pem()).map_err(|source| Error::io("writing", &ca_pem, source))?;
    let config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(failed("choose TLS versions"))?
        .with_no_client_auth()
        .with_single_cert(
            vec![certificate.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(failed("load the server certificate"))?;
    Ok((config, ca_pem))
}

/// Token check in front of `git http-backend` for every path.
fn router(git: &Path, repositories: &Path, port: u16, token: Arc<str>) -> Router {
    let backend = CgiConfig::new(git.to_string_lossy())
        .args(vec!["http-backend".to_owned()])
        // The whole request path is PATH_INFO: `/NAME.git/info/refs`.
        .script_name("")
        .https(true)
        .server_name("127.0.0.1")
        .server_port(port)
        .timeout(CGI_TIMEOUT)
        .inherit("PATH")
        .env("GIT_PROJECT_ROOT", repositories.to_string_lossy())
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REMOTE_USER", GitHttpsServer::USER)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null");
    Router::new()
        .fallback_service(CgiService::with_config(backend))
        .layer(middleware::from_fn_with_state(token, require_token))
}

async fn require_token(State(token): State<Arc<str>>, request: Request, next: Next) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    if basic_auth::matches(authorization, GitHttpsServer::USER, &token) {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"git\"")],
            "a token is required: user x-access-token, the token as password\n",
        )
            .into_response()
    }
}

/// TCP connections after their TLS handshake.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, address) = axum::serve::Listener::accept(&mut self.tcp).await;
            // A client that does not trust the CA, or stalls, is dropped; the next one is served.
            if let Ok(Ok(tls)) =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(stream)).await
            {
                return (tls, address);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
