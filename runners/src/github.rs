//! GitHub releases through GitHub's REST API (octocrab): [`ensure_release`] gives a git tag its
//! release, with notes and an asset, reusing the release the tag already has.
//!
//! The steps are idempotent, so a transient failure repeats them all: look the release up by
//! tag, create it if there is none, upload the asset if the release lacks one of that name. A
//! create or an upload that timed out but did happen is then found, not done twice.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use octocrab::Octocrab;
use octocrab::models::repos::{Asset as GithubAsset, Release};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use url::Url;

use crate::errors::GithubError;

/// The API host of github.com; its release assets are uploaded to [`GITHUB_UPLOADS`].
const GITHUB_API: &str = "api.github.com";
/// Where github.com takes release assets.
const GITHUB_UPLOADS: &str = "https://uploads.github.com/";

/// A repository on a GitHub API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubRepo {
    /// The REST API's root: `https://api.github.com/`, or a GitHub Enterprise-style server's.
    pub api_url: Url,
    /// The owner (user or organisation).
    pub owner: String,
    /// The repository's name.
    pub name: String,
}

/// The release a tag should have.
#[derive(Debug, Clone)]
pub struct NewRelease<'a> {
    /// The git tag.
    pub tag: &'a str,
    /// The commit the tag is made on when the repository does not have it yet (GitHub makes
    /// a missing tag on its default branch's head otherwise).
    pub commit: &'a str,
    /// The release's title.
    pub name: &'a str,
    /// The release notes (Markdown).
    pub body: &'a str,
    /// Whether GitHub shows it as a pre-release.
    pub prerelease: bool,
    /// A file attached to the release (the lock), if any.
    pub asset: Option<Asset<'a>>,
}

/// A file attached to a release.
#[derive(Debug, Clone)]
pub struct Asset<'a> {
    /// The file name, unique within the release.
    pub name: &'a str,
    /// Its media type, e.g. `application/octet-stream` (the only one GitHub's OpenAPI
    /// description declares for uploads).
    pub content_type: &'a str,
    /// Its content.
    pub data: Bytes,
}

/// The release a tag has after [`ensure_release`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedRelease {
    /// GitHub's id of the release.
    pub id: u64,
    /// Its page.
    pub html_url: String,
    /// Whether the tag had this release before the call (it was not created by it).
    pub reused: bool,
}

/// How patiently to talk to GitHub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GithubOptions {
    /// How long one request may take, connecting included.
    pub timeout: Duration,
    /// How many times the whole publication is tried when a request fails transiently (5xx,
    /// 429, no connection, timeout); at least 1.
    pub attempts: u32,
}

impl Default for GithubOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            attempts: 3,
        }
    }
}

/// Gives `release.tag` its GitHub release: the one the tag has (`reused`), or a new one with
/// the name, notes and pre-release flag of `release`. The asset is uploaded unless the release
/// already has an asset of that name.
///
/// ```no_run
/// # async fn run(token: secrecy::SecretString) -> Result<(), chorale_runners::GithubError> {
/// use chorale_runners::github::{GithubOptions, GithubRepo, NewRelease, ensure_release};
/// let repo = GithubRepo {
///     api_url: "https://api.github.com/".parse().unwrap(),
///     owner: "acme".into(),
///     name: "demo".into(),
/// };
/// let release = NewRelease {
///     tag: "demo-1.4.0",
///     commit: "0123456789abcdef0123456789abcdef01234567",
///     name: "demo 1.4.0",
///     body: "What changed",
///     prerelease: false,
///     asset: None,
/// };
/// let published = ensure_release(&repo, &token, &release, &GithubOptions::default()).await?;
/// println!("{}", published.html_url);
/// # Ok(()) }
/// ```
pub async fn ensure_release(
    repo: &GithubRepo,
    token: &SecretString,
    release: &NewRelease<'_>,
    options: &GithubOptions,
) -> Result<PublishedRelease, GithubError> {
    let client = Client::new(repo, token, options.timeout)?;
    // The id of a release this call created, so that an attempt after a failed upload does
    // not report it as reused.
    let created = Mutex::new(None);
    let attempts = options.attempts.max(1);
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(attempts as usize - 1)
        .with_jitter();
    let result = (|| client.ensure_once(release, &created))
        .retry(backoff)
        .when(GithubError::is_transient)
        .notify(|error, delay| {
            tracing::warn!(%error, ?delay, tag = release.tag, "publishing a GitHub release failed, retrying");
        })
        .await;
    match result {
        Err(error) if attempts > 1 && error.is_transient() => Err(GithubError::GaveUp {
            attempts,
            last: Box::new(error),
        }),
        result => result,
    }
}

/// Where `api_url` takes release assets: `https://uploads.github.com/` for github.com's API,
/// the API server itself otherwise (GitHub Enterprise-style servers and stand-ins).
pub fn upload_url(api_url: &Url) -> Url {
    if api_url.host_str() == Some(GITHUB_API) {
        Url::parse(GITHUB_UPLOADS).expect("a valid URL")
    } else {
        api_url.clone()
    }
}

/// One repository's releases, through octocrab.
struct Client<'r> {
    repo: &'r GithubRepo,
    octocrab: Octocrab,
    timeout: Duration,
}

impl<'r> Client<'r> {
    fn new(
        repo: &'r GithubRepo,
        token: &SecretString,
        timeout: Duration,
    ) -> Result<Self, GithubError> {
        let invalid = |message: String| GithubError::Client {
            api_url: repo.api_url.to_string(),
            message,
        };
        let octocrab = Octocrab::builder()
            .base_uri(repo.api_url.as_str())
            .map_err(|error| invalid(format!("not a base URI: {error}")))?
            .upload_uri(upload_url(&repo.api_url).as_str())
            .map_err(|error| invalid(format!("not an upload URI: {error}")))?
            .personal_token(token.expose_secret().to_owned())
            .set_connect_timeout(Some(timeout))
            .build()
            .map_err(|error| invalid(error_chain(&error)))?;
        Ok(Self {
            repo,
            octocrab,
            timeout,
        })
    }

    /// One attempt at every step.
    async fn ensure_once(
        &self,
        release: &NewRelease<'_>,
        created: &Mutex<Option<u64>>,
    ) -> Result<PublishedRelease, GithubError> {
        let created_by_us = || *created.lock().unwrap_or_else(PoisonError::into_inner);
        let (found, reused) = if let Some(found) = self.release_by_tag(release.tag).await? {
            let reused = created_by_us() != Some(found.id.into_inner());
            (found, reused)
        } else {
            let new = self.create(release).await?;
            *created.lock().unwrap_or_else(PoisonError::into_inner) = Some(new.id.into_inner());
            (new, false)
        };
        let id = found.id.into_inner();
        if let Some(asset) = &release.asset {
            if found
                .assets
                .iter()
                .any(|attached| attached.name == asset.name)
            {
                tracing::debug!(id, asset = asset.name, "the release has the asset already");
            } else {
                self.upload(id, asset).await?;
            }
        }
        Ok(PublishedRelease {
            id,
            html_url: found.html_url.to_string(),
            reused,
        })
    }

    /// The repository's path in the API: `/repos/{owner}/{repo}`.
    fn repo_path(&self) -> String {
        format!(
            "/repos/{}/{}",
            encode(&self.repo.owner),
            encode(&self.repo.name)
        )
    }

    /// `GET /repos/{owner}/{repo}/releases/tags/{tag}`; `None` on 404.
    async fn release_by_tag(&self, tag: &str) -> Result<Option<Release>, GithubError> {
        let path = format!("{}/releases/tags/{}", self.repo_path(), encode(tag));
        let request = describe("GET", &self.repo.api_url, &path);
        let call = self.octocrab._get(path.as_str());
        match self.within(&request, call).await {
            Err(GithubError::Status { status: 404, .. }) => Ok(None),
            Err(error) => Err(error),
            Ok(body) => decode(&request, &body).map(Some),
        }
    }

    /// `POST /repos/{owner}/{repo}/releases`.
    async fn create(&self, release: &NewRelease<'_>) -> Result<Release, GithubError> {
        let path = format!("{}/releases", self.repo_path());
        let request = describe("POST", &self.repo.api_url, &path);
        let body = serde_json::json!({
            "tag_name": release.tag,
            "target_commitish": release.commit,
            "name": release.name,
            "body": release.body,
            "prerelease": release.prerelease,
        });
        let call = self.octocrab._post(path.as_str(), Some(&body));
        let answer = self.within(&request, call).await?;
        let created: Release = decode(&request, &answer)?;
        tracing::info!(
            id = created.id.into_inner(),
            tag = release.tag,
            "created a GitHub release"
        );
        Ok(created)
    }

    /// `POST /repos/{owner}/{repo}/releases/{id}/assets?name=…`, on the upload server.
    async fn upload(&self, id: u64, asset: &Asset<'_>) -> Result<GithubAsset, GithubError> {
        let base = upload_url(&self.repo.api_url);
        let path = format!(
            "{}/releases/{id}/assets?name={}",
            self.repo_path(),
            encode(asset.name)
        );
        let request = describe("POST", &base, &path);
        let uri = format!("{}{path}", base.as_str().trim_end_matches('/'));
        let http_request = http::Request::post(uri)
            .header(http::header::CONTENT_TYPE, asset.content_type)
            .header(http::header::CONTENT_LENGTH, asset.data.len())
            .body(asset.data.clone())
            .map_err(|error| GithubError::Protocol {
                request: request.clone(),
                message: error.to_string(),
            })?;
        let call = self.octocrab.execute(http_request);
        let answer = self.within(&request, call).await?;
        let uploaded: GithubAsset = decode(&request, &answer)?;
        tracing::info!(
            release = id,
            asset = asset.name,
            "uploaded a GitHub release asset"
        );
        Ok(uploaded)
    }

    /// Runs `call` under the timeout; returns the body of a successful answer.
    async fn within(
        &self,
        request: &str,
        call: impl Future<Output = octocrab::Result<http::Response<ResponseBody>>>,
    ) -> Result<Bytes, GithubError> {
        let answer = async {
            let response = octocrab::map_github_error(call.await?).await?;
            http_body_util::BodyExt::collect(response.into_body())
                .await
                .map(http_body_util::Collected::to_bytes)
        };
        match tokio::time::timeout(self.timeout, answer).await {
            Err(_) => Err(GithubError::Timeout {
                request: request.to_owned(),
                timeout: self.timeout,
            }),
            Ok(Err(error)) => Err(classify(request, error)),
            Ok(Ok(body)) => Ok(body),
        }
    }
}

/// What a request is, for errors: its method and URL.
fn describe(method: &str, base: &Url, path_and_query: &str) -> String {
    format!(
        "{method} {}{path_and_query}",
        base.as_str().trim_end_matches('/')
    )
}

/// The body of an answer octocrab hands over.
type ResponseBody = http_body_util::combinators::BoxBody<Bytes, octocrab::Error>;

/// Parses an answer's JSON body.
fn decode<T: DeserializeOwned>(request: &str, body: &[u8]) -> Result<T, GithubError> {
    serde_json::from_slice(body).map_err(|error| GithubError::Protocol {
        request: request.to_owned(),
        message: format!("the answer is not what GitHub documents: {error}"),
    })
}

/// The error for an octocrab failure of `request`.
fn classify(request: &str, error: octocrab::Error) -> GithubError {
    let request = request.to_owned();
    match error {
        octocrab::Error::GitHub { source, .. } => GithubError::Status {
            request,
            status: source.status_code.as_u16(),
            message: github_message(&source),
        },
        octocrab::Error::Hyper { .. } | octocrab::Error::Service { .. } => {
            GithubError::Unreachable {
                request,
                message: error_chain(&error),
            }
        }
        other => GithubError::Protocol {
            request,
            message: error_chain(&other),
        },
    }
}

/// GitHub's message, with the details of a validation failure (`errors`).
fn github_message(error: &octocrab::GitHubError) -> String {
    let details: Vec<String> = error
        .errors
        .iter()
        .flatten()
        .map(|detail| match detail {
            serde_json::Value::Object(fields) => ["resource", "field", "code", "message"]
                .iter()
                .filter_map(|key| fields.get(*key).and_then(serde_json::Value::as_str))
                .collect::<Vec<_>>()
                .join(" "),
            other => other.to_string(),
        })
        .collect();
    if details.is_empty() {
        error.message.clone()
    } else {
        format!("{} ({})", error.message, details.join("; "))
    }
}

/// An error and its causes, on one line (octocrab's own messages leave the cause out).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        source = cause.source();
    }
    message
}

/// Percent-encodes one path segment or query value.
fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{encode, upload_url};
    use crate::errors::GithubError;
    use url::Url;

    #[test]
    fn server_errors_rate_limits_and_silence_are_transient_refusals_are_not() {
        let status = |status| GithubError::Status {
            request: "POST https://api.github.com/repos/acme/demo/releases".into(),
            status,
            message: "m".into(),
        };
        for transient in [500, 502, 503, 429] {
            assert!(status(transient).is_transient(), "{transient}");
        }
        for permanent in [401, 403, 404, 422] {
            assert!(!status(permanent).is_transient(), "{permanent}");
        }
        let timeout = GithubError::Timeout {
            request: "GET https://api.github.com/".into(),
            timeout: Duration::from_secs(1),
        };
        assert!(timeout.is_transient());
        let gave_up = GithubError::GaveUp {
            attempts: 3,
            last: Box::new(timeout),
        };
        assert!(gave_up.is_transient());
        assert_eq!(
            gave_up.to_string(),
            "GET https://api.github.com/: GitHub did not answer within 1s (gave up after 3 attempts)"
        );
    }

    #[test]
    fn github_com_takes_assets_on_its_upload_host_other_servers_on_their_own() {
        let url = |text: &str| Url::parse(text).unwrap();
        assert_eq!(
            upload_url(&url("https://api.github.com/")).as_str(),
            "https://uploads.github.com/"
        );
        assert_eq!(
            upload_url(&url("https://github.example.com/api/v3/")).as_str(),
            "https://github.example.com/api/v3/"
        );
        assert_eq!(
            upload_url(&url("http://127.0.0.1:4010")).as_str(),
            "http://127.0.0.1:4010/"
        );
    }

    #[test]
    fn tags_and_names_are_encoded_as_one_segment() {
        assert_eq!(encode("demo-1.4.0"), "demo-1.4.0");
        assert_eq!(encode("demo/1.4.0+build 2"), "demo%2F1.4.0%2Bbuild%202");
    }
}
