//! The CLI as a client of a Chorale server: with `--server URL` (or `CHORALE_SERVER`) and a
//! token (`--token-file FILE` or `CHORALE_TOKEN`), the commands that have an API operation ask
//! the server instead of opening the state folder, and print what they print in-process.

use std::path::Path;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use reqwest::{Method, RequestBuilder, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use crate::engine::events::{BuildEvent, Observer};
use crate::errors::Error;
use crate::resources::build::BuildDocument;

/// A Chorale server and the token to call it with.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: SecretString,
    http: reqwest::Client,
}

impl Client {
    /// A client of `server` (`http[s]://host[:port]`), calling with `token`.
    pub fn new(server: &str, token: SecretString) -> Result<Self, Error> {
        let url = url::Url::parse(server)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
            .ok_or_else(|| Error::InvalidField {
                field: "--server".to_owned(),
                message: format!("`{server}` is not a server URL; give e.g. http://127.0.0.1:8080"),
            })?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Unreachable(format!("no HTTP client: {e}")))?;
        Ok(Self {
            base: url.as_str().trim_end_matches('/').to_owned(),
            token,
            http,
        })
    }

    /// The token: `--token-file` (its first line), else `CHORALE_TOKEN`.
    pub fn token(file: Option<&Path>) -> Result<SecretString, Error> {
        if let Some(file) = file {
            let text = std::fs::read_to_string(file).map_err(|source| Error::Io {
                path: file.to_owned(),
                source,
            })?;
            let token = text.lines().next().unwrap_or_default().trim();
            if token.is_empty() {
                return Err(Error::InvalidField {
                    field: "--token-file".to_owned(),
                    message: format!("{} holds no token", file.display()),
                });
            }
            return Ok(SecretString::from(token.to_owned()));
        }
        match std::env::var("CHORALE_TOKEN") {
            Ok(token) if !token.trim().is_empty() => Ok(SecretString::from(token.trim().to_owned())),
            _ => Err(Error::InvalidField {
                field: "--token-file".to_owned(),
                message: "a server needs a token: give --token-file FILE or set CHORALE_TOKEN (`chorale tokens create` makes one)".to_owned(),
            }),
        }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(self.token.expose_secret())
    }

    /// Send `request`; a refusal becomes [`Error::Server`] with the problem's detail.
    async fn send(&self, request: RequestBuilder) -> Result<Response, Error> {
        let response = request
            .send()
            .await
            .map_err(|e| Error::Unreachable(format!("{} did not answer: {e}", self.base)))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let problem: serde_json::Value = response.json().await.unwrap_or_default();
        let mut detail = problem["detail"]
            .as_str()
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("an error"))
            .to_owned();
        if let Some(field) = problem["field"].as_str() {
            detail = format!("{field}: {detail}");
        }
        for error in problem["errors"].as_array().into_iter().flatten() {
            detail.push_str("\n  ");
            detail.push_str(error.as_str().unwrap_or_default());
        }
        Err(Error::Server {
            status: status.as_u16(),
            detail,
        })
    }

    async fn json<T: DeserializeOwned>(response: Response) -> Result<T, Error> {
        let url = response.url().clone();
        response
            .json()
            .await
            .map_err(|e| Error::Unreachable(format!("{url} answered what Chorale does not: {e}")))
    }

    /// `GET /api/v1{path}` as JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        Self::json(self.send(self.request(Method::GET, path)).await?).await
    }

    /// `GET /api/v1{path}` as text.
    pub async fn text(&self, path: &str) -> Result<String, Error> {
        let response = self.send(self.request(Method::GET, path)).await?;
        response
            .text()
            .await
            .map_err(|e| Error::Unreachable(format!("the answer broke off: {e}")))
    }

    /// `PUT /api/v1{path}` with a YAML body.
    pub async fn put_yaml<T: DeserializeOwned>(
        &self,
        path: &str,
        body: String,
    ) -> Result<T, Error> {
        let request = self
            .request(Method::PUT, path)
            .header(reqwest::header::CONTENT_TYPE, "application/yaml")
            .body(body);
        Self::json(self.send(request).await?).await
    }

    /// `POST /api/v1{path}` without a body.
    pub async fn post<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        Self::json(self.send(self.request(Method::POST, path)).await?).await
    }

    /// `POST /api/v1{path}` with `body` as JSON.
    pub async fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<T, Error> {
        Self::json(
            self.send(self.request(Method::POST, path).json(body))
                .await?,
        )
        .await
    }

    /// Follow build `id`'s event stream, telling `observer` each event, until it ends; the
    /// build as it ended. A dropped connection is resumed from the last event received.
    pub async fn follow(&self, id: &str, observer: &dyn Observer) -> Result<BuildDocument, Error> {
        let mut last = None::<String>;
        let mut broken = 0;
        loop {
            let mut request = self.request(Method::GET, &format!("/builds/{id}/events"));
            if let Some(last) = &last {
                request = request.header("last-event-id", last);
            }
            let mut events = self.send(request).await?.bytes_stream().eventsource();
            while let Some(event) = events.next().await {
                let Ok(event) = event else { break };
                if event.event == "end" {
                    return serde_json::from_str(&event.data).map_err(|e| {
                        Error::Unreachable(format!("the build's last event does not read: {e}"))
                    });
                }
                if let Ok(told) = serde_json::from_str::<BuildEvent>(&event.data) {
                    observer.event(&told);
                }
                last = Some(event.id);
                broken = 0;
            }
            broken += 1;
            if broken > 5 {
                return Err(Error::Unreachable(format!(
                    "the event stream of build {id} broke off five times"
                )));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
