//! What a build left, through the API: its report in every format and the files its record
//! names (helm output, JUnit documents, pod logs); locks and what changed between two; test
//! clusters; notification deliveries. All read-only, for viewers.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chorale_reports::Format;
use serde::Deserialize;

use super::ApiState;
use super::caller::Caller;
use super::problem::{Problem, ProblemDocument};
use super::routes::{MAX_LIMIT, build_id, decode_start, limit, page, query};
use crate::clusters::build_dir;
use crate::diff::{LockDiff, diff_with_commits, find_stored_lock};
use crate::errors::Error;
use crate::ops::access::authorize;
use crate::resources::access::Role;
use crate::resources::build::Build;
use crate::resources::bundle::BundleDocument;
use crate::resources::cluster::{ClusterDocument, ClusterList, ClusterRecord, ClusterState};
use crate::resources::delivery::{DeliveryDocument, DeliveryList};
use crate::resources::is_label;
use crate::resources::lock::{Lock, LockDocument};
use crate::store::{PageStart, Position};

/// The build `id` (a whole id, checked before the store sees it).
pub(super) async fn build_of(state: &ApiState, id: &str) -> Result<Build, Problem> {
    build_id(id)?;
    Ok(state
        .context
        .store
        .build(id)
        .await
        .map_err(Error::from)?
        .filter(|b| b.id == id)
        .ok_or_else(|| Error::NoSuchBuild(id.to_owned()))?)
}

/// The format of a report.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `md` (default), `html`, `junit` or `json`.
    #[param(value_type = Option<String>)]
    format: Option<Format>,
}

/// A build's report: the file kept when it ended, or rendered now from its record.
#[utoipa::path(get, path = "/api/v1/builds/{id}/report", tag = "builds", params(
        ("id" = String, Path, description = "The build id"), ReportQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, content_type = "text/markdown", body = String, description = "The report; text/html, application/xml (JUnit) or application/json for the other formats"),
        (status = 400, body = ProblemDocument), (status = 401, body = ProblemDocument),
        (status = 403, body = ProblemDocument), (status = 404, body = ProblemDocument)))]
pub async fn get_report(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    params: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    authorize(&caller.identity, Role::Viewer)?;
    let format = query(params)
        .map_err(|p| p.field("format"))?
        .format
        .unwrap_or(Format::Markdown);
    let build = build_of(&state, &id).await?;
    let text = crate::report::show_report(&state.context, &build.id, format).await?;
    let media_type = match format {
        Format::Markdown => "text/markdown; charset=utf-8",
        Format::Html => "text/html; charset=utf-8",
        Format::Junit => "application/xml",
        Format::Json => "application/json",
    };
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(media_type))],
        text,
    )
        .into_response())
}

/// Which file of a build.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FileQuery {
    /// The file as the build's record names it: a component's `log`, a test's `junit` or
    /// `logs` entry (e.g. `tests/smoke/attempt-1/pod.log`).
    path: String,
}

/// A file a build left: only those its record names (helm output, JUnit documents, pod logs).
#[utoipa::path(get, path = "/api/v1/builds/{id}/files", tag = "builds", params(
        ("id" = String, Path, description = "The build id"), FileQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, content_type = "text/plain", body = String),
        (status = 400, body = ProblemDocument), (status = 401, body = ProblemDocument),
        (status = 403, body = ProblemDocument), (status = 404, body = ProblemDocument)))]
pub async fn get_file(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    params: Result<Query<FileQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    authorize(&caller.identity, Role::Viewer)?;
    let wanted = query(params).map_err(|p| p.field("path"))?.path;
    let build = build_of(&state, &id).await?;
    // Only a path the record names is served: a request cannot name any other file.
    let named =
        build
            .components
            .iter()
            .filter_map(|c| c.log.as_deref())
            .chain(build.tests.iter().flat_map(|t| {
                (t.artefacts.junit.iter().chain(&t.artefacts.logs)).map(String::as_str)
            }))
            .any(|path| path == wanted);
    let not_named = || {
        Problem::new(
            StatusCode::NOT_FOUND,
            format!(
                "build {id} names no file `{wanted}`; GET /api/v1/builds/{id} lists its logs and JUnit files"
            ),
        )
        .field("path")
    };
    let relative = std::path::Path::new(&wanted);
    if !named
        || !relative
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
    {
        return Err(not_named());
    }
    let path = build_dir(&state.context, &build.id).join(relative);
    let bytes = match tokio::fs::read(&path).await {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(not_named()),
        Err(source) => return Err(Error::Io { path, source }.into()),
    };
    let media_type = if relative
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xml"))
    {
        "application/xml"
    } else {
        "text/plain; charset=utf-8"
    };
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(media_type))],
        bytes,
    )
        .into_response())
}

/// The bundle a build pushed: its digest, repository, tags, lock and charts.
#[utoipa::path(get, path = "/api/v1/builds/{id}/bundle", tag = "builds",
    params(("id" = String, Path, description = "The build id")),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = BundleDocument), (status = 400, body = ProblemDocument),
        (status = 401, body = ProblemDocument), (status = 403, body = ProblemDocument),
        (status = 404, body = ProblemDocument)))]
pub async fn get_bundle(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<BundleDocument>, Problem> {
    authorize(&caller.identity, Role::Viewer)?;
    let build = build_of(&state, &id).await?;
    let no_bundle = || Error::NoSuch {
        kind: "bundle of build",
        name: id.clone(),
        hint: "a build has one once its bundle stage succeeded",
    };
    let pushed = build.bundle.ok_or_else(no_bundle)?;
    let bundle = (state.context.store)
        .bundle(&pushed.repository, &pushed.digest)
        .await
        .map_err(Error::from)?
        .ok_or_else(no_bundle)?;
    Ok(Json(BundleDocument::from(bundle)))
}

/// A lock id as the API takes it: `sha256:` and 64 lower-case hex digits.
fn lock_id(id: &str, field: &str) -> Result<(), Problem> {
    let hex = id.strip_prefix("sha256:").unwrap_or_default();
    if hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(Problem::new(
            StatusCode::BAD_REQUEST,
            format!("`{id}` is not a lock id; lock ids are sha256: and 64 hex digits"),
        )
        .field(field))
    }
}

/// A lock: every component's commit, chart digest and image digests.
#[utoipa::path(get, path = "/api/v1/locks/{id}", tag = "locks",
    params(("id" = String, Path, description = "The lock id, sha256:…")),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = LockDocument), (status = 400, body = ProblemDocument),
        (status = 401, body = ProblemDocument), (status = 403, body = ProblemDocument),
        (status = 404, body = ProblemDocument)))]
pub async fn get_lock(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Lock>, Problem> {
    authorize(&caller.identity, Role::Viewer)?;
    lock_id(&id, "id")?;
    let lock = (state.context.store.lock(&id).await.map_err(Error::from)?)
        .ok_or_else(|| Error::NotFound(id.clone()))?;
    Ok(Json(lock))
}

/// The two sides of a diff.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    /// The old side: a build id (its lock) or a lock id.
    from: String,
    /// The new side: a build id (its lock) or a lock id.
    to: String,
}

/// What changed between two locks, component by component: commits, chart versions and
/// digests, image digests, and the commits in between that touch each chart's folder.
#[utoipa::path(get, path = "/api/v1/diff", tag = "locks", params(DiffQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = LockDiff), (status = 400, body = ProblemDocument),
        (status = 401, body = ProblemDocument), (status = 403, body = ProblemDocument),
        (status = 404, body = ProblemDocument)))]
pub async fn get_diff(
    State(state): State<ApiState>,
    caller: Caller,
    params: Result<Query<DiffQuery>, QueryRejection>,
) -> Result<Json<LockDiff>, Problem> {
    authorize(&caller.identity, Role::Viewer)?;
    let params = query(params)?;
    let mut sides = Vec::new();
    for (field, side) in [("from", &params.from), ("to", &params.to)] {
        if build_id(side).is_err() {
            lock_id(side, field)?;
        }
        sides.push(find_stored_lock(&state.context, side).await?);
    }
    Ok(Json(
        diff_with_commits(&state.context, &sides[0], &sides[1]).await,
    ))
}

/// The filter and page of a clusters list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ClustersQuery {
    /// At most this many (1–500, default 50).
    limit: Option<u32>,
    /// The `metadata.continue` of the page before.
    #[serde(rename = "continue")]
    #[param(rename = "continue")]
    continue_: Option<String>,
    /// Only clusters in this state: `active`, `torn-down`, `teardown-failed`.
    #[param(value_type = Option<String>)]
    state: Option<ClusterState>,
}

/// Test clusters, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/clusters", tag = "clusters", params(ClustersQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ClusterList), (status = 400, body = ProblemDocument),
        (status = 401, body = ProblemDocument), (status = 403, body = ProblemDocument)))]
pub async fn list_clusters(
    State(state): State<ApiState>,
    caller: Caller,
    params: Result<Query<ClustersQuery>, QueryRejection>,
) -> Result<Json<ClusterList>, Problem> {
    authorize(&caller.identity, Role::Viewer)?;
    let params = query(params)?;
    let limit = limit(params.limit, 50)?;
    let start = (params.continue_.as_deref())
        .map(|text| decode_start(text, |name| is_label(name, 63)))
        .transpose()?;
    let records = (state.context.store)
        .cluster_page(params.state, limit + 1, start.as_ref())
        .await
        .map_err(Error::from)?;
    let (records, next) = page(records, limit, |record: &ClusterRecord| PageStart {
        position: Position::Time(record.cluster.created_at.as_millisecond()),
        id: record.cluster.name.clone(),
    });
    Ok(Json(ClusterList::new(
        records.into_iter().map(ClusterDocument::from).collect(),
        next,
    )))
}

/// The notifications of one build: to which notifier, about what, how far each got.
#[utoipa::path(get, path = "/api/v1/builds/{id}/deliveries", tag = "builds",
    params(("id" = String, Path, description = "The build id")),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = DeliveryList), (status = 400, body = ProblemDocument),
        (status = 401, body = ProblemDocument), (status = 403, body = ProblemDocument),
        (status = 404, body = ProblemDocument)))]
pub async fn list_deliveries(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DeliveryList>, Problem> {
    authorize(&caller.identity, Role::Viewer)?;
    let build = build_of(&state, &id).await?;
    // A build has a delivery per notifier and event: few, one page.
    let deliveries = (state.context.store)
        .deliveries(Some(&build.id), MAX_LIMIT)
        .await
        .map_err(Error::from)?;
    Ok(Json(DeliveryList::new(
        deliveries.into_iter().map(DeliveryDocument::from).collect(),
        None,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_ids_are_whole_and_lower_case() {
        let id = format!("sha256:{}", "a1".repeat(32));
        assert!(lock_id(&id, "id").is_ok());
        for bad in [
            "sha256:abc".to_owned(),
            id.to_uppercase(),
            format!("sha512:{}", "a".repeat(64)),
            format!("sha256:{}", "g".repeat(64)),
            "../x".to_owned(),
        ] {
            assert_eq!(
                lock_id(&bad, "from").unwrap_err().field.as_deref(),
                Some("from"),
                "{bad}"
            );
        }
    }
}
