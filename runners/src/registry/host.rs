//! One registry host: its `oci-client` clients, credentials, and the shortcuts an open registry
//! allows.
//!
//! `oci-client` caches tokens, not the absence of a challenge: once credentials are stored for
//! a registry without authentication, it asks `/v2/` for a challenge before every request,
//! which doubles the requests of a snapshot or a bundle. For an *open* registry — no
//! credentials configured, and `/v2/` answers an anonymous client with 200, checked once —
//! Chorale therefore (1) reads manifest digests with one `HEAD` each, conditional on the digest
//! the tag had before when that is known (see [`HostClient::head_digest`]), (2) stores a blob
//! with one request when it is already there and two when it is not (see
//! [`HostClient::mount_or_upload`]), and (3) writes through a second client that never has
//! credentials stored, so its requests go out as they are. Anything unexpected on a shortcut
//! (an error status, a missing header, a mismatch) returns `None`, and the caller takes the
//! full `oci-client` path, which retries and reports errors properly.

use std::time::Duration;

use bytes::Bytes;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use tokio::sync::OnceCell;

use super::MANIFEST_MEDIA_TYPES;

/// Clients and credentials for one registry host.
pub(super) struct HostClient {
    /// The authenticated client (tokens, basic auth, challenges).
    pub(super) client: Client,
    /// The credentials `client` uses.
    pub(super) auth: RegistryAuth,
    registry: String,
    /// For hosts without credentials: a client that never has credentials stored.
    direct: Option<Client>,
    http: reqwest::Client,
    base: String,
    open: OnceCell<bool>,
}

impl std::fmt::Debug for HostClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostClient")
            .field("registry", &self.registry)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl HostClient {
    /// Clients for `registry` over plain HTTP or HTTPS with `auth`.
    pub(super) fn new(
        registry: &str,
        plain_http: bool,
        auth: RegistryAuth,
        timeout: Duration,
    ) -> Self {
        let config = || ClientConfig {
            protocol: if plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            use_monolithic_push: true,
            read_timeout: Some(timeout),
            connect_timeout: Some(timeout),
            ..ClientConfig::default()
        };
        let direct = matches!(auth, RegistryAuth::Anonymous).then(|| Client::new(config()));
        Self {
            client: Client::new(config()),
            auth,
            registry: registry.to_owned(),
            direct,
            http: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .build()
                .unwrap_or_default(),
            base: format!("{}://{registry}", if plain_http { "http" } else { "https" }),
            open: OnceCell::new(),
        }
    }

    /// Whether the registry needs no credentials at all (no credentials configured and `/v2/`
    /// answers 200); asked once.
    async fn is_open(&self) -> bool {
        if self.direct.is_none() {
            return false;
        }
        *self
            .open
            .get_or_init(|| async {
                self.http
                    .get(format!("{}/v2/", self.base))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
            })
            .await
    }

    /// The client for blob and manifest requests: for an open registry one that sends no
    /// challenge request first; otherwise the authenticated one, credentials stored.
    pub(super) async fn requests(&self) -> &Client {
        if self.is_open().await
            && let Some(direct) = &self.direct
        {
            return direct;
        }
        self.client
            .store_auth_if_needed(&self.registry, &self.auth)
            .await;
        &self.client
    }

    /// The digest of the manifest `reference` names in one request, for an open registry:
    /// `Some(Ok(digest))`, `Some(Err(()))` when the registry says it has no such manifest, or
    /// `None` to use the full client.
    ///
    /// With `last` (the digest this reference had before) the request is conditional
    /// (`If-None-Match`): a registry whose `ETag` is the manifest digest, as `docker-registry`'s
    /// is, answers 304 Not Modified without reading the manifest, which costs it about a fifth
    /// less than a plain `HEAD`; a registry that ignores the condition answers 200 as usual.
    pub(super) async fn head_digest(
        &self,
        reference: &Reference,
        last: Option<&str>,
    ) -> Option<Result<String, ()>> {
        if !self.is_open().await {
            return None;
        }
        let target = reference.digest().or(reference.tag())?;
        let mut request = self
            .http
            .head(format!(
                "{}/v2/{}/manifests/{target}",
                self.base,
                reference.repository()
            ))
            .header(reqwest::header::ACCEPT, MANIFEST_MEDIA_TYPES.join(", "));
        let last = last.filter(|_| reference.digest().is_none());
        if let Some(last) = last {
            request = request.header(reqwest::header::IF_NONE_MATCH, format!("\"{last}\""));
        }
        let response = request.send().await.ok()?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(|value| value.trim_matches('"'))
        };
        match (response.status(), last) {
            (reqwest::StatusCode::OK, _) => {}
            (reqwest::StatusCode::NOT_MODIFIED, Some(last)) => {
                // Not modified: the digest is `last`, unless the answer names another one.
                let named = [header("docker-content-digest"), header("etag")];
                return named
                    .into_iter()
                    .flatten()
                    .all(|digest| digest == last)
                    .then(|| Ok(last.to_owned()));
            }
            (reqwest::StatusCode::NOT_FOUND, _) => return Some(Err(())),
            _ => return None,
        }
        let digest = header("docker-content-digest")?.to_owned();
        let consistent = reference.digest().is_none_or(|asked| asked == digest);
        (digest.starts_with("sha256:") && consistent).then_some(Ok(digest))
    }

    /// Make sure repository `repository` holds blob `digest` (`data`), for an open registry, in
    /// one request when the blob is there and two when it is not:
    /// `POST /v2/REPO/blobs/uploads/?mount=DIGEST&from=FROM` links the blob from repository
    /// `from` (201 Created; `from` may be `repository` itself, which then answers "already
    /// there") or, when `from` does not hold it, opens an upload session (202 Accepted, as the
    /// OCI distribution spec says a registry that cannot mount must), which one `PUT` of the
    /// bytes completes. (The spec's single-`POST` upload would save that request, but
    /// `docker-registry` 2.8 ignores its body and answers 202.)
    ///
    /// `Some(bytes uploaded)`, or `None` to use the full client: not an open registry, or any
    /// other answer (a failed `PUT` leaves an upload session the registry purges).
    pub(super) async fn mount_or_upload(
        &self,
        repository: &Reference,
        from: &str,
        digest: &str,
        data: &Bytes,
    ) -> Option<u64> {
        if !self.is_open().await {
            return None;
        }
        let base = url::Url::parse(&self.base).ok()?;
        let mut start = base
            .join(&format!("/v2/{}/blobs/uploads/", repository.repository()))
            .ok()?;
        start
            .query_pairs_mut()
            .append_pair("mount", digest)
            .append_pair("from", from);
        let response = self
            .http
            .post(start)
            .header(reqwest::header::CONTENT_LENGTH, 0)
            .send()
            .await
            .ok()?;
        match response.status() {
            reqwest::StatusCode::CREATED => return Some(0),
            reqwest::StatusCode::ACCEPTED => {}
            _ => return None,
        }
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)?
            .to_str()
            .ok()?;
        // The location may be relative to the registry.
        let mut upload = base.join(location).ok()?;
        upload.query_pairs_mut().append_pair("digest", digest);
        let response = self
            .http
            .put(upload)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(data.clone())
            .send()
            .await
            .ok()?;
        (response.status() == reqwest::StatusCode::CREATED).then_some(data.len() as u64)
    }
}
