//! The HTTPS API server: TLS, HTTP/1.1 and HTTP/2, bearer-token authentication, and routing
//! to discovery, resources, watches and logs.

mod discovery;
mod logs;
mod media;
mod resources;
mod route;
mod table;
mod watch;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

pub use logs::{LogOptions, LogStream, PodLogs};
use media::{Body, Format};
use route::Route;

use crate::errors::ApiError;
use crate::storage::Storage;
use crate::version::KubernetesVersion;

/// What every request handler needs.
#[derive(Debug)]
pub struct Shared {
    /// The storage semantics.
    pub storage: Arc<Storage>,
    /// The bearer token clients must present.
    pub token: SecretString,
    /// `host:port` the server is reached at.
    pub address: SocketAddr,
    /// Where pod logs come from.
    pub logs: Arc<dyn PodLogs>,
    /// The Kubernetes version the cluster answers as.
    pub version: KubernetesVersion,
}

/// Accepts connections until `stop` is cancelled.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(connection) => connection,
            Err(error) => {
                tracing::warn!(%error, "accepting a connection failed");
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(stream).await {
                Ok(tls) => tls,
                Err(error) => {
                    tracing::debug!(%error, %peer, "TLS handshake failed");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(&shared, request).await) }
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection(TokioIo::new(tls), service);
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%error, %peer, "connection ended with an error");
                    }
                }
                () = stop.cancelled() => {}
            }
        });
    }
}

fn authorized(shared: &Shared, request: &Request<Incoming>) -> bool {
    let Some(value) = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(token) = value.strip_prefix("Bearer ") else {
        return false;
    };
    let expected = shared.token.expose_secret().as_bytes();
    let given = token.trim().as_bytes();
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0_u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn handle(shared: &Shared, request: Request<Incoming>) -> Response<Body> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let result = if authorized(shared, &request) {
        route(shared, request).await
    } else {
        Err(ApiError::unauthorized())
    };
    match result {
        Ok(response) => {
            tracing::debug!(%method, %path, status = response.status().as_u16(), "request");
            response
        }
        Err(error) => {
            tracing::debug!(%method, %path, status = error.code, message = %error.message, "request failed");
            media::error(&error)
        }
    }
}

async fn route(shared: &Shared, request: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let path = request.uri().path().to_owned();
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let route = route::parse(&path).ok_or_else(|| ApiError::no_route(&path))?;
    let catalog = &shared.storage.catalog;
    if let Route::Resource(resource) = route {
        let (parts, body) = request.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| ApiError::bad_request(format!("could not read the request body: {e}")))?
            .to_bytes();
        let request = resources::ResourceRequest {
            path: resource,
            method: parts.method,
            headers: &parts.headers,
            query,
            body,
        };
        return resources::handle(shared, &request);
    }
    if request.method() != Method::GET {
        return Err(ApiError::method_not_allowed(format!(
            "{path} only supports GET"
        )));
    }
    let format = media::negotiate(request.headers(), shared.version.aggregated_discovery());
    let not_found = || ApiError::no_route(&path);
    match route {
        Route::Version => Ok(media::json(200, &discovery::version(shared.version))),
        Route::CoreVersions | Route::Groups => {
            let core = route == Route::CoreVersions;
            if let Ok(Format::AggregatedDiscovery(version)) = format {
                let document = discovery::aggregated(catalog, core, version);
                let bytes = serde_json::to_vec(&document).unwrap_or_default();
                return Ok(media::json_bytes(
                    200,
                    bytes,
                    &discovery::aggregated_content_type(version),
                ));
            }
            if core {
                Ok(media::json(
                    200,
                    &discovery::core_versions(&shared.address.to_string()),
                ))
            } else {
                Ok(media::json(200, &discovery::group_list(catalog)))
            }
        }
        Route::Group(group) => discovery::group(catalog, &group)
            .map(|d| media::json(200, &d))
            .ok_or_else(not_found),
        Route::Resources { group, version } => discovery::resource_list(catalog, &group, &version)
            .map(|d| media::json(200, &d))
            .ok_or_else(not_found),
        Route::OpenApiV2 => {
            let accept = request
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if accept.contains("protobuf") && !accept.contains("json") {
                // An empty protobuf `openapi_v2.Document`: no schemas, so clients skip
                // client-side validation.
                return Ok(media::json_bytes(
                    200,
                    Vec::new(),
                    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                ));
            }
            Ok(media::json(200, &discovery::openapi_v2(shared.version)))
        }
        Route::OpenApiV3(rest) if rest.is_empty() => Ok(media::json(200, &json!({"paths": {}}))),
        Route::Health => Ok(media::json_bytes(200, b"ok".to_vec(), "text/plain")),
        Route::OpenApiV3(_) | Route::Resource(_) => Err(not_found()),
    }
}
