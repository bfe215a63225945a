//! OCI registries through `oci-client`: resolve tags to digests, list tags, pull and push blobs
//! and manifests; plus [`OciLayout`], an OCI image layout on disk with the same operations.
//!
//! HTTP is used only for loopback registries and hosts listed as insecure; everything else is
//! HTTPS. Every request is retried with exponential backoff and jitter on 429, 5xx, timeouts and
//! refused connections, a bounded number of times.

mod copy;
mod credentials;
mod host;
mod layout;
mod store;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
pub use oci_client::Reference;
use oci_client::errors::{OciDistributionError, OciErrorCode};

pub use copy::{Copied, TagState, copy_to_tag, tag_state};
pub use credentials::Credentials;
use host::HostClient;
pub use layout::OciLayout;
pub use store::{LayoutStore, OciStore, RegistryStore, open_repository};

use crate::errors::RegistryError;

/// Media types of manifests Chorale asks for: OCI and Docker, single images and indexes.
pub const MANIFEST_MEDIA_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// How the client talks to registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Hosts (`host[:port]`) reached over plain HTTP although they are not loopback.
    pub insecure: Vec<String>,
    /// How many times a request is tried in all before its error is returned.
    pub max_attempts: usize,
    /// The first retry delay; it doubles on every retry (with jitter).
    pub min_backoff: Duration,
    /// Timeout of one request.
    pub timeout: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            insecure: Vec::new(),
            max_attempts: 4,
            min_backoff: Duration::from_millis(200),
            timeout: Duration::from_secs(30),
        }
    }
}

/// A manifest as stored: its bytes, media type and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawManifest {
    /// The exact bytes (their sha256 is the digest).
    pub bytes: Bytes,
    /// `mediaType` of the manifest.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
}

/// A registry client shared by every task of a process; one HTTP connection pool per host.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    options: Arc<RegistryOptions>,
    hosts: Arc<Mutex<HashMap<String, Arc<HostClient>>>>,
}

/// Parse an image or repository reference (`host[:port]/path[:tag][@digest]`).
pub fn parse_reference(text: &str) -> Result<Reference, RegistryError> {
    text.parse::<Reference>()
        .map_err(|e| RegistryError::InvalidReference {
            reference: text.to_owned(),
            message: e.to_string(),
        })
}

/// Whether a reference names a tag (a `:` after the last `/`) or a digest (`@`).
pub fn has_tag_or_digest(reference: &str) -> bool {
    reference.contains('@')
        || reference
            .rsplit_once('/')
            .is_some_and(|(_, last)| last.contains(':'))
}

/// Whether the first path segment of a reference is a registry host (it has a `.` or a `:`,
/// or is `localhost`), as docker decides it: Chorale never guesses Docker Hub.
pub fn has_registry_host(reference: &str) -> bool {
    let first = reference.split('/').next().unwrap_or_default();
    reference.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost")
}

/// Whether `host[:port]` names this machine (plain HTTP is allowed there).
pub fn is_loopback(host: &str) -> bool {
    let name = host
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(name, _)| name);
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl RegistryClient {
    /// A client with these options; credentials are looked up per host on first use.
    pub fn new(options: RegistryOptions) -> Self {
        Self {
            options: Arc::new(options),
            hosts: Arc::default(),
        }
    }

    fn host(&self, registry: &str) -> Result<Arc<HostClient>, RegistryError> {
        if let Some(host) = self.hosts.lock().expect("registry table").get(registry) {
            return Ok(host.clone());
        }
        let plain_http =
            is_loopback(registry) || self.options.insecure.iter().any(|h| h == registry);
        let auth = Credentials::lookup(registry)?.to_registry_auth();
        let host = Arc::new(HostClient::new(
            registry,
            plain_http,
            auth,
            self.options.timeout,
        ));
        self.hosts
            .lock()
            .expect("registry table")
            .insert(registry.to_owned(), host.clone());
        Ok(host)
    }

    /// Run `op` against the host of `reference`, retrying transient failures; errors name
    /// `target` (what the operation was about).
    async fn with_retry<T, F, Fut>(
        &self,
        reference: &Reference,
        target: &str,
        op: F,
    ) -> Result<T, RegistryError>
    where
        F: Fn(Arc<HostClient>) -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        let host = self.host(reference.resolve_registry())?;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.options.min_backoff)
            .with_max_times(self.options.max_attempts.saturating_sub(1))
            .with_jitter();
        (|| {
            let host = host.clone();
            let call = op(host);
            async move {
                call.await
                    .map_err(|e| classify(reference.resolve_registry(), target, e))
            }
        })
        .retry(backoff)
        .when(RegistryError::is_transient)
        .notify(|error, delay| {
            tracing::warn!(%error, ?delay, "registry request failed, retrying");
        })
        .await
    }

    /// The digest of the manifest `reference` points at; a multi-arch index keeps its own digest.
    pub async fn resolve_digest(&self, reference: &Reference) -> Result<String, RegistryError> {
        self.resolve_digest_since(reference, None).await
    }

    /// [`resolve_digest`](Self::resolve_digest), knowing the digest `last` the reference had
    /// before: an open registry is asked conditionally (`If-None-Match`), so that an unchanged
    /// tag costs it less. The answer is the same either way.
    pub async fn resolve_digest_since(
        &self,
        reference: &Reference,
        last: Option<&str>,
    ) -> Result<String, RegistryError> {
        let host = self.host(reference.resolve_registry())?;
        match host.head_digest(reference, last).await {
            Some(Ok(digest)) => return Ok(digest),
            Some(Err(())) => {
                return Err(RegistryError::NotFound {
                    reference: reference.whole(),
                });
            }
            None => {}
        }
        self.with_retry(reference, &reference.whole(), |h| async move {
            h.client.fetch_manifest_digest(reference, &h.auth).await
        })
        .await
    }

    /// Every tag of the repository of `repository`.
    pub async fn list_tags(&self, repository: &Reference) -> Result<Vec<String>, RegistryError> {
        const PAGE: usize = 1000;
        let mut tags = Vec::new();
        loop {
            let last = tags.last().cloned();
            let page = self
                .with_retry(repository, &repository_name(repository), |h| {
                    let last = last.clone();
                    async move {
                        h.client
                            .list_tags(repository, &h.auth, Some(PAGE), last.as_deref())
                            .await
                    }
                })
                .await?;
            let full = page.tags.len() >= PAGE;
            tags.extend(page.tags);
            if !full {
                return Ok(tags);
            }
        }
    }

    /// The manifest `reference` points at, as stored.
    pub async fn pull_manifest(&self, reference: &Reference) -> Result<RawManifest, RegistryError> {
        let (bytes, digest) = self
            .with_retry(reference, &reference.whole(), |h| async move {
                h.client
                    .pull_manifest_raw(reference, &h.auth, MANIFEST_MEDIA_TYPES)
                    .await
            })
            .await?;
        let parsed: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::Protocol {
                reference: reference.whole(),
                message: format!("the manifest is not JSON: {e}"),
            })?;
        // `mediaType` is optional in OCI manifests (Helm leaves it out): infer it then.
        let media_type = match parsed.get("mediaType").and_then(|v| v.as_str()) {
            Some(media_type) => media_type.to_owned(),
            None if parsed.get("manifests").is_some() => MANIFEST_MEDIA_TYPES[1].to_owned(),
            None => MANIFEST_MEDIA_TYPES[0].to_owned(),
        };
        Ok(RawManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// The blob `digest` of the repository of `repository`, verified against its digest.
    pub async fn pull_blob(
        &self,
        repository: &Reference,
        digest: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        self.with_retry(repository, &blob_name(repository, digest), |h| async move {
            let mut out = Vec::new();
            h.requests()
                .await
                .pull_blob(repository, digest, &mut out)
                .await?;
            Ok(out)
        })
        .await
    }

    /// Whether the repository of `repository` already holds the blob `digest`.
    pub async fn has_blob(
        &self,
        repository: &Reference,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        self.with_retry(repository, &blob_name(repository, digest), |h| async move {
            h.requests().await.blob_exists(repository, digest).await
        })
        .await
    }

    /// Upload a blob to the repository of `repository`.
    pub async fn push_blob(
        &self,
        repository: &Reference,
        digest: &str,
        data: Bytes,
    ) -> Result<(), RegistryError> {
        self.with_retry(repository, &blob_name(repository, digest), |h| {
            let data = data.clone();
            async move {
                h.requests()
                    .await
                    .push_blob(repository, data, digest)
                    .await
                    .map(drop)
            }
        })
        .await
    }

    /// Ask the registry to link blob `digest` from the repository of `from` into the repository
    /// of `repository` without uploading it; `false` when the registry declined.
    pub async fn mount_blob(
        &self,
        repository: &Reference,
        from: &Reference,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        let mounted = self
            .with_retry(repository, &blob_name(repository, digest), |h| async move {
                h.requests()
                    .await
                    .mount_blob(repository, from, digest)
                    .await
            })
            .await;
        match mounted {
            Ok(()) => Ok(true),
            // A registry that does not mount answers 202 with an upload session instead; a
            // token service may refuse the cross-repository scope. Either way, upload instead:
            // a real lack of push rights shows on the upload.
            Err(RegistryError::Protocol { .. } | RegistryError::Unauthorized { .. }) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Make sure the repository of `repository` holds the blob `digest` (`data`), uploading it
    /// only when it is not there; `from` names another repository of the same registry that
    /// may hold it (where it was just pushed), to link it from without uploading. Returns the
    /// bytes uploaded: 0 when the blob was there or was linked.
    ///
    /// An open registry takes one request when the blob is there or in `from` and two when it
    /// is not; otherwise it is a mount (with `from`), a check and an upload, as needed.
    pub async fn put_blob(
        &self,
        repository: &Reference,
        digest: &str,
        data: Bytes,
        from: Option<&Reference>,
    ) -> Result<u64, RegistryError> {
        let host = self.host(repository.resolve_registry())?;
        let source = from.unwrap_or(repository).repository();
        if let Some(uploaded) = host
            .mount_or_upload(repository, source, digest, &data)
            .await
        {
            return Ok(uploaded);
        }
        if let Some(from) = from
            && self.mount_blob(repository, from, digest).await?
        {
            return Ok(0);
        }
        if self.has_blob(repository, digest).await? {
            return Ok(0);
        }
        let size = data.len() as u64;
        self.push_blob(repository, digest, data).await?;
        Ok(size)
    }

    /// Store a manifest under `reference` (a tag or its digest); returns its digest.
    pub async fn push_manifest(
        &self,
        reference: &Reference,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<String, RegistryError> {
        let content_type: reqwest::header::HeaderValue =
            media_type.parse().map_err(|_| RegistryError::Protocol {
                reference: reference.whole(),
                message: format!("`{media_type}` is not a valid media type"),
            })?;
        self.with_retry(reference, &reference.whole(), |h| {
            let (bytes, content_type) = (bytes.clone(), content_type.clone());
            async move {
                h.requests()
                    .await
                    .push_manifest_raw(reference, bytes, content_type)
                    .await
            }
        })
        .await?;
        Ok(crate::digest::sha256(&bytes))
    }
}

/// `host/repository` of a reference, without tag or digest.
fn repository_name(reference: &Reference) -> String {
    format!(
        "{}/{}",
        reference.resolve_registry(),
        reference.repository()
    )
}

/// `host/repository@digest` of a blob.
fn blob_name(repository: &Reference, digest: &str) -> String {
    format!("{}@{digest}", repository_name(repository))
}

/// Map an `oci-client` error about `target` on `registry` to what a person can act on.
fn classify(registry: &str, target: &str, error: OciDistributionError) -> RegistryError {
    let registry = registry.to_owned();
    let whole = target.to_owned();
    match error {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => RegistryError::Unauthorized {
            registry,
            reference: whole,
        },
        OciDistributionError::ImageManifestNotFoundError(_) => {
            RegistryError::NotFound { reference: whole }
        }
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            let message = envelope
                .errors
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            if codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NotFound
                )
            }) {
                RegistryError::NotFound { reference: whole }
            } else if codes
                .iter()
                .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
            {
                RegistryError::Unauthorized {
                    registry,
                    reference: whole,
                }
            } else if codes
                .iter()
                .any(|c| matches!(c, OciErrorCode::Toomanyrequests))
            {
                RegistryError::Server {
                    reference: whole,
                    status: 429,
                    message,
                }
            } else {
                RegistryError::Server {
                    reference: whole,
                    status: 400,
                    message,
                }
            }
        }
        OciDistributionError::ServerError { code, message, .. } => match code {
            401 | 403 => RegistryError::Unauthorized {
                registry,
                reference: whole,
            },
            404 => RegistryError::NotFound { reference: whole },
            _ => RegistryError::Server {
                reference: whole,
                status: code,
                message: message.chars().take(300).collect(),
            },
        },
        OciDistributionError::RequestError(e) => match e.status() {
            Some(status) if status.as_u16() == 404 => RegistryError::NotFound { reference: whole },
            Some(status) if matches!(status.as_u16(), 401 | 403) => RegistryError::Unauthorized {
                registry,
                reference: whole,
            },
            Some(status) => RegistryError::Server {
                reference: whole,
                status: status.as_u16(),
                message: e.to_string(),
            },
            None => RegistryError::Unreachable {
                registry,
                message: error_chain(&e),
            },
        },
        other => RegistryError::Protocol {
            reference: whole,
            message: other.to_string(),
        },
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        for host in [
            "127.0.0.1:5000",
            "localhost",
            "localhost:80",
            "[::1]:5000",
            "127.3.2.1",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "registry.example.com",
            "10.0.0.1:5000",
            "ghcr.io",
            "localhost.evil.com",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn references_parse_or_say_why_not() {
        let r = parse_reference("127.0.0.1:5000/demo/db:main").unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "demo/db");
        assert_eq!(r.tag(), Some("main"));
        let err = parse_reference("127.0.0.1:5000/Demo/DB:main").unwrap_err();
        assert!(
            err.to_string().contains("is not a valid image reference"),
            "{err}"
        );
    }

    #[test]
    fn transient_errors_are_the_retryable_ones() {
        let r = "127.0.0.1:5000";
        let e = classify(
            r,
            "127.0.0.1:5000/x:y",
            OciDistributionError::ServerError {
                code: 503,
                url: String::new(),
                message: String::new(),
            },
        );
        assert!(e.is_transient());
        let e = classify(
            r,
            "127.0.0.1:5000/x:y",
            OciDistributionError::ServerError {
                code: 429,
                url: String::new(),
                message: String::new(),
            },
        );
        assert!(e.is_transient());
        let e = classify(
            r,
            "x",
            OciDistributionError::UnauthorizedError { url: String::new() },
        );
        assert!(!e.is_transient());
        assert!(matches!(e, RegistryError::Unauthorized { .. }));
    }
}
