//! Releases through the API: the list a page at a time, one release by product and version,
//! and a release manager's decision on a build.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::ApiState;
use super::caller::Caller;
use super::problem::{Problem, ProblemDocument};
use super::routes::{build_id, build_page, json_body, page, product_name, query};
use crate::errors::Error;
use crate::ops::access::authorize;
use crate::ops::releases::{self, ApprovalRequest};
use crate::resources::access::Role;
use crate::resources::release::{ReleaseDocument, ReleaseList, ReleaseState};
use crate::store::{PageStart, ReleaseFilter};

/// The filter and page of a releases list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReleasesQuery {
    /// At most this many (1–500, default 50).
    limit: Option<u32>,
    /// The `metadata.continue` of the page before.
    #[serde(rename = "continue")]
    #[param(rename = "continue")]
    continue_: Option<String>,
    /// Only this product's releases.
    product: Option<String>,
    /// Only releases in this state: `candidate`, `approved`, `rejected`, `expired`,
    /// `published`.
    #[param(value_type = Option<String>)]
    state: Option<ReleaseState>,
}

/// Releases, newest first (by when their build became a candidate), a page at a time.
#[utoipa::path(get, path = "/api/v1/releases", tag = "releases", params(ReleasesQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ReleaseList), (status = 400, body = ProblemDocument),
        (status = 401, body = ProblemDocument), (status = 403, body = ProblemDocument)))]
pub async fn list_releases(
    State(state): State<ApiState>,
    caller: Caller,
    params: Result<Query<ReleasesQuery>, QueryRejection>,
) -> Result<Json<ReleaseList>, Problem> {
    authorize(&caller.identity, Role::Viewer)?;
    let params = query(params)?;
    let (limit, start) = build_page(
        params.limit,
        params.continue_.as_deref(),
        params.product.as_deref(),
    )?;
    let filter = ReleaseFilter {
        product: params.product,
        state: params.state,
    };
    let releases = releases::list_releases(
        &state.context,
        &caller.identity,
        &filter,
        limit + 1,
        start.as_ref(),
    )
    .await?;
    let (releases, next) = page(releases, limit, PageStart::after_release);
    Ok(Json(ReleaseList::new(
        releases.into_iter().map(ReleaseDocument::from).collect(),
        next,
    )))
}

/// Which product's release.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReleaseQuery {
    /// The product (versions are unique per product).
    product: String,
}

/// One release: its version, build, bundle digest, state and every decision.
#[utoipa::path(get, path = "/api/v1/releases/{version}", tag = "releases",
    params(("version" = String, Path, description = "The version, e.g. 1.0.20261204 or 2.1.0-rc.3"), ReleaseQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ReleaseDocument), (status = 400, body = ProblemDocument),
        (status = 401, body = ProblemDocument), (status = 403, body = ProblemDocument),
        (status = 404, body = ProblemDocument)))]
pub async fn get_release(
    State(state): State<ApiState>,
    caller: Caller,
    Path(version): Path<String>,
    params: Result<Query<ReleaseQuery>, QueryRejection>,
) -> Result<Json<ReleaseDocument>, Problem> {
    authorize(&caller.identity, Role::Viewer)?;
    if semver::Version::parse(&version).is_err() {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            format!("`{version}` is not a semantic version; versions look like 1.0.20261204 or 2.1.0-rc.3"),
        )
        .field("version"));
    }
    let product = query(params).map_err(|p| p.field("product"))?.product;
    product_name(&product).map_err(|p| p.field("product"))?;
    let release =
        releases::get_release(&state.context, &caller.identity, &product, &version).await?;
    Ok(Json(ReleaseDocument::from(release)))
}

/// Approve or reject a build as a release (release managers): the build's release candidate
/// gets the decision; as many distinct approvals as `spec.release.approvals` approve it, one
/// rejection rejects it. A build that is not green is approved only with `override: true`.
#[utoipa::path(post, path = "/api/v1/builds/{id}/approval", tag = "releases",
    params(("id" = String, Path, description = "The build id")),
    request_body = ApprovalRequest,
    security(("bearer" = ["release-manager"])),
    responses((status = 200, body = ReleaseDocument), (status = 400, body = ProblemDocument),
        (status = 401, body = ProblemDocument), (status = 403, body = ProblemDocument),
        (status = 404, body = ProblemDocument), (status = 409, body = ProblemDocument)))]
pub async fn decide(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<ReleaseDocument>, Problem> {
    let resource = format!("builds/{id}/approval");
    let request = json_body::<ApprovalRequest>(&body, "a decision");
    let action = request
        .as_ref()
        .map_or("releases.decide", ApprovalRequest::action);
    let result = async {
        authorize(&caller.identity, Role::ReleaseManager)?;
        let request = request?;
        build_id(&id).map_err(|p| Error::InvalidField {
            field: "id".to_owned(),
            message: p.detail.clone(),
        })?;
        let audit = caller.audit(action, resource.clone());
        releases::decide(&state.context, &caller.identity, &id, &request, audit).await
    }
    .await;
    let release = caller.audited(&state, action, resource, result).await?;
    Ok(Json(ReleaseDocument::from(release)))
}
