//! The HTTP API, `/api/v1`: every resource Chorale keeps, behind bearer tokens with roles.
//! The CLI and (later) the dashboard are its clients; its OpenAPI 3.1 document is generated
//! from these handlers ([`document`]) and committed at `docs/openapi.json`.
//!
//! - [`caller`]: who calls (401 without a valid token), request id and client for the audit;
//! - [`oidc`]: OIDC bearer tokens (JWTs of a configured issuer), when the server accepts them;
//! - [`routes`]: one handler per operation, each calling one `ops` function;
//! - [`records`]: what builds left (reports, files, deliveries), locks and diffs, clusters;
//! - [`releases`]: releases, and release managers' decisions on builds;
//! - [`documents`]: the resources in the house style (`apiVersion`, `kind`, `metadata`, …);
//! - [`problem`]: every error as `application/problem+json`.

pub mod caller;
pub mod documents;
pub mod events;
pub mod metrics;
pub mod oidc;
pub mod problem;
pub mod records;
pub mod releases;
pub mod routes;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use tokio::sync::Notify;

use crate::context::Context;
use crate::engine::RunRequest;
use problem::Problem;

/// The largest request body accepted (a product manifest with its components is far smaller).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// What every handler works with.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The state folder, the store and the runners.
    pub context: Context,
    /// Everything of a build the server decides (cluster, registry, timeouts): the request a
    /// trigger completes with the product's manifest.
    pub defaults: RunRequest,
    /// Woken when a build is queued, so that an idle worker claims it at once.
    pub queued: Arc<Notify>,
    /// The counters `/metrics` reports.
    pub metrics: Arc<metrics::Metrics>,
    /// Checks OIDC bearer tokens, when the server accepts them (`--oidc-issuer`).
    pub oidc: Option<Arc<oidc::OidcVerifier>>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Chorale",
        description = "Daily builds of products assembled from Helm-chart components. Every operation needs a bearer token (a Chorale token, `chorale_…`, or, when the server accepts them, an OIDC token of its issuer) whose role is at least the one its `security` names (viewer < developer < release-manager < admin); errors are application/problem+json (RFC 9457)."
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "products", description = "Registered product manifests"),
        (name = "builds", description = "Builds: their stages, components and tests, reports, files and notifications"),
        (name = "locks", description = "Locks and what changed between two"),
        (name = "clusters", description = "Test clusters"),
        (name = "releases", description = "Releases: green builds as versions, and the decisions on them"),
        (name = "tokens", description = "API tokens (admin)"),
        (name = "audit", description = "The audit log")
    )
)]
struct ApiDoc;

/// Declares the `bearer` scheme the operations' `security` names.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
    }
}

fn api() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(routes::list_products))
        .routes(routes!(routes::get_product, routes::put_product))
        .routes(routes!(routes::list_builds))
        .routes(routes!(routes::get_build))
        .routes(routes!(routes::trigger_build))
        .routes(routes!(routes::list_tokens, routes::create_token))
        .routes(routes!(routes::revoke_token))
        .routes(routes!(routes::list_audit))
        .routes(routes!(events::build_events))
        .routes(routes!(records::get_report))
        .routes(routes!(records::get_file))
        .routes(routes!(records::get_bundle))
        .routes(routes!(records::list_deliveries))
        .routes(routes!(records::get_lock))
        .routes(routes!(records::get_diff))
        .routes(routes!(records::list_clusters))
        .routes(routes!(releases::list_releases))
        .routes(routes!(releases::get_release))
        .routes(routes!(releases::decide))
        .routes(routes!(releases::release_notes))
        .routes(routes!(releases::publish_release))
        .routes(routes!(releases::promote_release))
}

/// The OpenAPI document of the API.
pub fn document() -> utoipa::openapi::OpenApi {
    api().into_openapi()
}

/// The whole service's routes: the API, its document, health, readiness and metrics.
pub fn router(state: ApiState) -> Router {
    let (router, openapi) = api().split_for_parts();
    router
        .route(
            "/api/v1/openapi.json",
            get(move || std::future::ready(Json(openapi.clone()))),
        )
        .route("/healthz", get(|| std::future::ready("ok")))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics::metrics))
        .fallback(|| {
            std::future::ready(Problem::new(
                StatusCode::NOT_FOUND,
                "no such route; GET /api/v1/openapi.json lists every operation",
            ))
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(refuse_large_bodies))
        .layer(axum::middleware::map_response(problem_for_plain_errors))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.metrics),
            metrics::count_requests,
        ))
        .with_state(state)
}

/// Ready when the database answers with its migrations applied.
async fn ready(State(state): State<ApiState>) -> Result<&'static str, Problem> {
    state.context.store.ping().await.map_err(|error| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the state database is not ready: {error}"),
        )
    })?;
    Ok("ok")
}

/// axum's own refusals (a body over the limit, a wrong method, …) are plain text: they become
/// problems too, so that every error a client sees has one shape.
async fn problem_for_plain_errors(response: axum::response::Response) -> axum::response::Response {
    let status = response.status();
    let plain = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_none_or(|value| value.as_bytes().starts_with(b"text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return response;
    }
    let detail = match status {
        StatusCode::PAYLOAD_TOO_LARGE => return too_large().into_response(),
        StatusCode::METHOD_NOT_ALLOWED => {
            "this route does not take that method; GET /api/v1/openapi.json lists every operation"
                .to_owned()
        }
        _ => {
            let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
                .await
                .unwrap_or_default();
            String::from_utf8_lossy(&bytes).into_owned()
        }
    };
    Problem::new(status, detail).into_response()
}

/// The answer to a body over [`MAX_BODY`].
fn too_large() -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the body is larger than {} MiB; a product manifest is far smaller",
            MAX_BODY / 1024 / 1024
        ),
    )
}

/// A body announced larger than [`MAX_BODY`] is refused before a byte of it is read (a body
/// without a length is cut off at the limit as it is read).
async fn refuse_large_bodies(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY as u64) {
        return too_large().into_response();
    }
    next.run(request).await
}
