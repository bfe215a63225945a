//! Releases through the API: the list a page at a time, one release by product and version,
//! its notes, a release manager's decision on a build, publishing by hand and promotion.
//! An approval that approves a release starts publishing it in the background (the
//! housekeeping of every replica resumes it if this one dies); publishing and promotion by hand
//! answer once publishing ended, and go on when the caller goes away.

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
use crate::engine::events::Ignore;
use crate::errors::Error;
use crate::ops::access::authorize;
use crate::ops::publish::{self, PublishOptions};
use crate::ops::releases::{self, ApprovalRequest};
use crate::resources::access::Role;
use crate::resources::release::{ReleaseDocument, ReleaseList, ReleaseState};
use crate::store::{PageStart, ReleaseFilter, ReleaseKey};

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
    /// `publishing`, `publish-failed`, `published`.
    #[param(value_type = Option<String>)]
    state: Option<ReleaseState>,
}

/// Releases, highest version first (semver precedence: `2.1.0` before `2.1.0-rc.10` before
/// `2.1.0-rc.9`), a page at a time.
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
    let product = release_product(&version, params)?;
    let release =
        releases::get_release(&state.context, &caller.identity, &product, &version).await?;
    Ok(Json(ReleaseDocument::from(release)))
}

/// The product of a request about release `version`, both checked.
fn release_product(
    version: &str,
    params: Result<Query<ReleaseQuery>, QueryRejection>,
) -> Result<String, Problem> {
    if semver::Version::parse(version).is_err() {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            format!("`{version}` is not a semantic version; versions look like 1.0.20261204 or 2.1.0-rc.3"),
        )
        .field("version"));
    }
    let product = query(params).map_err(|p| p.field("product"))?.product;
    product_name(&product).map_err(|p| p.field("product"))?;
    Ok(product)
}

/// A release's notes (Markdown): its version, bundle by digest, approvals, tests and what
/// changed since the product's previous release.
#[utoipa::path(get, path = "/api/v1/releases/{version}/notes", tag = "releases",
    params(("version" = String, Path, description = "The version"), ReleaseQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = String, content_type = "text/markdown"),
        (status = 400, body = ProblemDocument), (status = 401, body = ProblemDocument),
        (status = 403, body = ProblemDocument), (status = 404, body = ProblemDocument)))]
pub async fn release_notes(
    State(state): State<ApiState>,
    caller: Caller,
    Path(version): Path<String>,
    params: Result<Query<ReleaseQuery>, QueryRejection>,
) -> Result<([(axum::http::HeaderName, &'static str); 1], String), Problem> {
    authorize(&caller.identity, Role::Viewer)?;
    let product = release_product(&version, params)?;
    let context = &state.context;
    let release = releases::get_release(context, &caller.identity, &product, &version).await?;
    let build = (context
        .store
        .build(&release.build_id)
        .await
        .map_err(Error::from)?)
    .ok_or_else(|| Error::NoSuchBuild(release.build_id.clone()))?;
    let product = crate::ops::builds::product_of_build(context, &build.id).await?;
    let notes = publish::release_notes(context, &product, &release, &build).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/markdown; charset=utf-8",
        )],
        notes,
    ))
}

/// What publishing by hand asks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// Continue a `publish-failed` release from the step that failed.
    #[serde(default)]
    pub resume: bool,
}

/// Publish an approved release (release managers): registry tags, git tag, GitHub release,
/// the `released` notification, each step once; with `resume`, continue a `publish-failed`
/// one from the step that failed. Answers when publishing ended.
#[utoipa::path(post, path = "/api/v1/releases/{version}/publication", tag = "releases",
    params(("version" = String, Path, description = "The version"), ReleaseQuery),
    request_body = PublishRequest,
    security(("bearer" = ["release-manager"])),
    responses((status = 200, body = ReleaseDocument), (status = 400, body = ProblemDocument),
        (status = 401, body = ProblemDocument), (status = 403, body = ProblemDocument),
        (status = 404, body = ProblemDocument), (status = 409, body = ProblemDocument),
        (status = 502, body = ProblemDocument)))]
pub async fn publish_release(
    State(state): State<ApiState>,
    caller: Caller,
    Path(version): Path<String>,
    params: Result<Query<ReleaseQuery>, QueryRejection>,
    body: Bytes,
) -> Result<Json<ReleaseDocument>, Problem> {
    let resource = format!("releases/{version}");
    allowed(&state, &caller, "releases.publish", &resource).await?;
    let product = release_product(&version, params)?;
    let request = if body.is_empty() {
        PublishRequest::default()
    } else {
        json_body::<PublishRequest>(&body, "a publish request")?
    };
    let audit = caller.audit("releases.publish", format!("{resource}?product={product}"));
    let options = PublishOptions {
        resume_failed: request.resume,
        ..PublishOptions::default()
    };
    let (context, identity) = (state.context.clone(), caller.identity.clone());
    let release = detached(async move {
        publish::publish_version(
            &context, &identity, &product, &version, options, &Ignore, &audit,
        )
        .await
    })
    .await?;
    Ok(Json(ReleaseDocument::from(release)))
}

/// Publish the final version of a published release candidate (`2.1.0-rc.3` → `2.1.0`) on
/// the same bundle digest (release managers). Answers when publishing ended.
#[utoipa::path(post, path = "/api/v1/releases/{version}/promotion", tag = "releases",
    params(("version" = String, Path, description = "The release candidate, e.g. 2.1.0-rc.3"), ReleaseQuery),
    security(("bearer" = ["release-manager"])),
    responses((status = 200, body = ReleaseDocument), (status = 400, body = ProblemDocument),
        (status = 401, body = ProblemDocument), (status = 403, body = ProblemDocument),
        (status = 404, body = ProblemDocument), (status = 409, body = ProblemDocument),
        (status = 502, body = ProblemDocument)))]
pub async fn promote_release(
    State(state): State<ApiState>,
    caller: Caller,
    Path(version): Path<String>,
    params: Result<Query<ReleaseQuery>, QueryRejection>,
) -> Result<Json<ReleaseDocument>, Problem> {
    let resource = format!("releases/{version}");
    allowed(&state, &caller, "releases.promote", &resource).await?;
    let product = release_product(&version, params)?;
    let audit = caller.audit("releases.promote", format!("{resource}?product={product}"));
    let (context, identity) = (state.context.clone(), caller.identity.clone());
    let release = detached(async move {
        publish::promote(
            &context,
            &identity,
            &product,
            &version,
            PublishOptions::default(),
            &Ignore,
            &audit,
        )
        .await
    })
    .await?;
    Ok(Json(ReleaseDocument::from(release)))
}

/// Whether the caller may `action` (release managers and above); a refusal is audited as
/// denied.
async fn allowed(
    state: &ApiState,
    caller: &Caller,
    action: &str,
    resource: &str,
) -> Result<(), Problem> {
    let allowed = authorize(&caller.identity, Role::ReleaseManager);
    caller
        .audited(state, action, resource.to_owned(), allowed)
        .await
}

/// Run `work` as a task of its own, so that it goes on when the caller goes away, and wait for
/// it.
async fn detached<T: Send + 'static>(
    work: impl Future<Output = Result<T, Error>> + Send + 'static,
) -> Result<T, Error> {
    tokio::spawn(work)
        .await
        .map_err(|e| Error::Invalid(format!("publishing stopped: {e}")))?
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
    if release.state == ReleaseState::Approved {
        let context = state.context.clone();
        let key = ReleaseKey {
            build_id: release.build_id.clone(),
            version: release.version.clone(),
        };
        tokio::spawn(async move {
            if let Err(error) =
                publish::publish(&context, &key, PublishOptions::default(), &Ignore).await
            {
                tracing::warn!(%error, version = %key.version, "publishing the approved release failed");
            }
        });
    }
    Ok(Json(ReleaseDocument::from(release)))
}
