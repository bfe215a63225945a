//! The operations of `/api/v1`: each authenticates its caller ([`Caller`]), calls one `ops`
//! function (which checks the role) and answers a document or a problem. The role each needs
//! is stated in its OpenAPI `security` (a role name, as OpenAPI 3.1 allows for bearer schemes);
//! the role-table test holds the two together.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::ApiState;
use super::caller::Caller;
use super::documents::{ProductDocument, ProductList, ScheduleStatus};
use super::problem::{Problem, ProblemDocument};
use crate::errors::Error;
use crate::ops::access::{self, CreateToken, authorize};
use crate::ops::builds::{self, TriggerBuild};
use crate::ops::products;
use crate::resources::access::{AuditEventList, CreatedTokenDocument, Role, TokenList};
use crate::resources::build::{BuildDocument, BuildList, Status};
use crate::resources::{MAX_NAME, is_label};
use crate::store::{BuildFilter, PageStart, Position};

/// The most items a page may ask for.
pub const MAX_LIMIT: u32 = 500;

pub(super) fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, Problem> {
    query
        .map(|Query(value)| value)
        .map_err(|rejection| Problem::new(StatusCode::BAD_REQUEST, rejection.body_text()))
}

pub(super) fn limit(limit: Option<u32>, default: u32) -> Result<u32, Problem> {
    match limit.unwrap_or(default) {
        n @ 1..=MAX_LIMIT => Ok(n),
        n => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            format!("limit {n} is out of range; ask for 1 to {MAX_LIMIT}"),
        )
        .field("limit")),
    }
}

/// A product name: what `metadata.name` allows, checked before it reaches the store.
pub(super) fn product_name(name: &str) -> Result<(), Problem> {
    if is_label(name, MAX_NAME) {
        Ok(())
    } else {
        Err(Problem::new(
            StatusCode::BAD_REQUEST,
            format!(
                "`{name}` is not a product name: 1 to {MAX_NAME} lower-case letters, digits and `-`, not at either end"
            ),
        )
        .field("name"))
    }
}

/// A build id, `YYYYMMDD-HHMMSS-xxxx`, checked before it reaches the store.
pub(super) fn build_id(id: &str) -> Result<(), Problem> {
    let bytes = id.as_bytes();
    let valid = bytes.len() == 20
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 15 => *b == b'-',
            16..=19 => b.is_ascii_hexdigit() && !b.is_ascii_uppercase(),
            _ => b.is_ascii_digit(),
        });
    if valid {
        Ok(())
    } else {
        Err(Problem::new(
            StatusCode::BAD_REQUEST,
            format!("`{id}` is not a build id; ids look like 20261204-023000-ab12"),
        )
        .field("id"))
    }
}

/// The list of registered products.
#[utoipa::path(get, path = "/api/v1/products", tag = "products",
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ProductList), (status = 401, body = ProblemDocument), (status = 403, body = ProblemDocument)))]
pub async fn list_products(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<ProductList>, Problem> {
    let records = products::list_products(&state.context, &caller.identity).await?;
    Ok(Json(ProductList::new(
        records.iter().map(ProductDocument::of).collect(),
        None,
    )))
}

/// One registered product.
#[utoipa::path(get, path = "/api/v1/products/{name}", tag = "products",
    params(("name" = String, Path, description = "The product's name")),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ProductDocument), (status = 401, body = ProblemDocument),
        (status = 403, body = ProblemDocument), (status = 404, body = ProblemDocument)))]
pub async fn get_product(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<ProductDocument>, Problem> {
    product_name(&name)?;
    let record = products::get_product(&state.context, &caller.identity, &name).await?;
    let mut document = ProductDocument::of(&record);
    if let Some((next_fire_times, last_occurrences)) =
        products::schedule_of(&state.context, &record).await?
    {
        document.status.schedule = Some(ScheduleStatus {
            next_fire_times,
            last_occurrences,
        });
    }
    Ok(Json(document))
}

/// Register a product, or change it: the manifest as YAML or JSON (components inline or as
/// further `Component` documents), checked as `chorale validate` checks it. Nothing is stored
/// unless all of it is valid.
#[utoipa::path(put, path = "/api/v1/products/{name}", tag = "products",
    params(("name" = String, Path, description = "The product's name; the manifest's metadata.name")),
    request_body(content = String, content_type = "application/yaml", description = "The product manifest"),
    security(("bearer" = ["admin"])),
    responses((status = 200, body = ProductDocument), (status = 400, body = ProblemDocument),
        (status = 401, body = ProblemDocument), (status = 403, body = ProblemDocument),
        (status = 413, body = ProblemDocument), (status = 422, body = ProblemDocument)))]
pub async fn put_product(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<ProductDocument>, Problem> {
    let resource = format!("products/{name}");
    let result = async {
        authorize(&caller.identity, Role::Admin)?;
        product_name(&name).map_err(|p| Error::InvalidField {
            field: "name".to_owned(),
            message: p.detail.clone(),
        })?;
        let text = std::str::from_utf8(&body).map_err(|_| Error::InvalidField {
            field: "body".to_owned(),
            message: "the manifest is not UTF-8 text".to_owned(),
        })?;
        let audit = caller.audit("products.apply", resource.clone());
        products::apply_product(&state.context, &caller.identity, &name, text, audit).await
    }
    .await;
    let record = caller
        .audited(&state, "products.apply", resource, result)
        .await?;
    Ok(Json(ProductDocument::of(&record)))
}

/// The filter and page of a builds list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BuildsQuery {
    /// At most this many (1–500, default 50).
    limit: Option<u32>,
    /// The `metadata.continue` of the page before.
    #[serde(rename = "continue")]
    #[param(rename = "continue")]
    continue_: Option<String>,
    /// Only this product's builds.
    product: Option<String>,
    /// Only builds with this status.
    #[param(value_type = Option<String>)]
    status: Option<Status>,
}

pub(super) fn encode_start(start: &PageStart) -> String {
    let position = match &start.position {
        Position::Time(time) => time.to_string(),
        Position::Version(key) => format!("v{key}"),
    };
    URL_SAFE_NO_PAD.encode(format!("{position}/{}", start.id))
}

pub(super) fn decode_start(
    text: &str,
    key_is_valid: impl Fn(&str) -> bool,
) -> Result<PageStart, Problem> {
    let bad = || {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "`continue` is not one this server gave; pass a list's metadata.continue unchanged",
        )
        .field("continue")
    };
    let decoded = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (position, id) = decoded.split_once('/').ok_or_else(bad)?;
    if !key_is_valid(id) {
        return Err(bad());
    }
    let position = match position.strip_prefix('v') {
        Some(key)
            if !key.is_empty()
                && key.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'!' | b'-' | b'~')
                }) =>
        {
            Position::Version(key.to_owned())
        }
        Some(_) => return Err(bad()),
        None => Position::Time(position.parse().map_err(|_| bad())?),
    };
    Ok(PageStart {
        position,
        id: id.to_owned(),
    })
}

/// The size and start of a page of a list that builds key (builds, releases), and its product
/// filter: checked before the store sees them.
pub(super) fn build_page(
    asked: Option<u32>,
    continue_: Option<&str>,
    product: Option<&str>,
) -> Result<(u32, Option<PageStart>), Problem> {
    let limit = limit(asked, 50)?;
    if let Some(product) = product {
        product_name(product).map_err(|p| p.field("product"))?;
    }
    let start = continue_
        .map(|text| decode_start(text, |id| build_id(id).is_ok()))
        .transpose()?;
    Ok((limit, start))
}

/// Builds, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/builds", tag = "builds", params(BuildsQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = BuildList), (status = 400, body = ProblemDocument),
        (status = 401, body = ProblemDocument), (status = 403, body = ProblemDocument)))]
pub async fn list_builds(
    State(state): State<ApiState>,
    caller: Caller,
    params: Result<Query<BuildsQuery>, QueryRejection>,
) -> Result<Json<BuildList>, Problem> {
    authorize(&caller.identity, Role::Viewer)?;
    let params = query(params)?;
    let (limit, start) = build_page(
        params.limit,
        params.continue_.as_deref(),
        params.product.as_deref(),
    )?;
    let filter = BuildFilter {
        product: params.product,
        status: params.status,
    };
    // One more than asked tells whether a next page exists.
    let builds = state
        .context
        .store
        .build_page(&filter, limit + 1, start.as_ref())
        .await
        .map_err(Error::from)?;
    let (builds, next) = page(builds, limit, PageStart::after);
    Ok(Json(BuildList::new(
        builds.into_iter().map(BuildDocument::from).collect(),
        next,
    )))
}

/// One build with its stages, components and tests.
#[utoipa::path(get, path = "/api/v1/builds/{id}", tag = "builds",
    params(("id" = String, Path, description = "The build id, e.g. 20261204-023000-ab12")),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = BuildDocument), (status = 400, body = ProblemDocument),
        (status = 401, body = ProblemDocument), (status = 403, body = ProblemDocument), (status = 404, body = ProblemDocument)))]
pub async fn get_build(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<BuildDocument>, Problem> {
    authorize(&caller.identity, Role::Viewer)?;
    build_id(&id)?;
    let build = state
        .context
        .store
        .build(&id)
        .await
        .map_err(Error::from)?
        .filter(|b| b.id == id)
        .ok_or_else(|| Error::NoSuchBuild(id.clone()))?;
    Ok(Json(BuildDocument::from(build)))
}

/// Build a registered product now: the build is queued (`pending`) and a worker of the server
/// runs it; follow it with `GET /api/v1/builds/{id}`.
#[utoipa::path(post, path = "/api/v1/products/{name}/builds", tag = "builds",
    params(("name" = String, Path, description = "The product's name")),
    request_body(content = TriggerBuild, description = "Nothing yet: the server's configuration decides every option; the body may be empty"),
    security(("bearer" = ["developer"])),
    responses((status = 202, body = BuildDocument), (status = 400, body = ProblemDocument),
        (status = 401, body = ProblemDocument), (status = 403, body = ProblemDocument), (status = 404, body = ProblemDocument)))]
pub async fn trigger_build(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let resource = format!("products/{name}/builds");
    let result = async {
        authorize(&caller.identity, Role::Developer)?;
        product_name(&name).map_err(|p| Error::InvalidField {
            field: "name".to_owned(),
            message: p.detail.clone(),
        })?;
        if !body.iter().all(u8::is_ascii_whitespace) {
            json_body::<TriggerBuild>(&body, "a build request")?;
        }
        let audit = caller.audit("builds.create", resource.clone());
        builds::trigger_build(
            &state.context,
            &caller.identity,
            &state.defaults,
            &name,
            audit,
        )
        .await
    }
    .await;
    let build = caller
        .audited(&state, "builds.create", resource, result)
        .await?;
    state.queued.notify_one();
    Ok((StatusCode::ACCEPTED, Json(BuildDocument::from(build))))
}

/// A page of `items` whose `limit + 1`-th tells that there is a next one: the page, and the
/// `continue` of the next.
pub(super) fn page<T>(
    mut items: Vec<T>,
    limit: u32,
    start_after: impl Fn(&T) -> PageStart,
) -> (Vec<T>, Option<String>) {
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|last| encode_start(&start_after(last)))
    } else {
        None
    };
    (items, next)
}

/// Every token, never a secret.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    security(("bearer" = ["admin"])),
    responses((status = 200, body = TokenList), (status = 401, body = ProblemDocument), (status = 403, body = ProblemDocument)))]
pub async fn list_tokens(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<TokenList>, Problem> {
    let tokens = access::list_tokens(&state.context.store, &caller.identity).await?;
    Ok(Json(TokenList::new(tokens, None)))
}

/// Make a token; the answer holds its secret, the only time it is shown.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateToken,
    security(("bearer" = ["admin"])),
    responses((status = 201, body = CreatedTokenDocument), (status = 400, body = ProblemDocument),
        (status = 401, body = ProblemDocument), (status = 403, body = ProblemDocument), (status = 409, body = ProblemDocument)))]
pub async fn create_token(
    State(state): State<ApiState>,
    caller: Caller,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let result = async {
        authorize(&caller.identity, Role::Admin)?;
        let request: CreateToken = json_body(&body, "a token request")?;
        let audit = caller.audit("tokens.create", format!("tokens/{}", request.name));
        access::create_token(&state.context.store, &caller.identity, &request, audit).await
    }
    .await;
    let created = caller
        .audited(&state, "tokens.create", "tokens".to_owned(), result)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedTokenDocument {
            token: created.token,
            secret: created.secret.expose_secret().to_owned(),
        }),
    ))
}

/// `body` as JSON of `T`; an error names the field that is wrong (`.` for the whole body).
pub(super) fn json_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> Result<T, Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let inner = error.inner().to_string();
        let path = error.path().to_string();
        // A missing field is reported at the object that lacks it, with its name in the message.
        let named = inner
            .split('`')
            .nth(1)
            .filter(|_| inner.starts_with("unknown field") || inner.starts_with("missing field"));
        let field = match (path.as_str(), named) {
            ("." | "?", Some(name)) => name.to_owned(),
            ("." | "?", None) => "body".to_owned(),
            (path, _) => path.to_owned(),
        };
        Error::InvalidField {
            field,
            message: format!("the body is not {what}: {inner}"),
        }
    })
}

/// Revoke a token: it stops working at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{name}", tag = "tokens",
    params(("name" = String, Path, description = "The token's name")),
    security(("bearer" = ["admin"])),
    responses((status = 204), (status = 401, body = ProblemDocument), (status = 403, body = ProblemDocument),
        (status = 404, body = ProblemDocument)))]
pub async fn revoke_token(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    let resource = format!("tokens/{name}");
    let audit = caller.audit("tokens.revoke", resource.clone());
    let result = access::revoke_token(&state.context.store, &caller.identity, &name, audit).await;
    caller
        .audited(&state, "tokens.revoke", resource, result)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The page of an audit log list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// At most this many (1–500, default 50).
    limit: Option<u32>,
    /// The `metadata.continue` of the page before.
    #[serde(rename = "continue")]
    #[param(rename = "continue")]
    continue_: Option<String>,
}

/// The audit log, newest first: every change, who made it, and every refused one.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = AuditEventList), (status = 400, body = ProblemDocument),
        (status = 401, body = ProblemDocument), (status = 403, body = ProblemDocument)))]
pub async fn list_audit(
    State(state): State<ApiState>,
    caller: Caller,
    params: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditEventList>, Problem> {
    authorize(&caller.identity, Role::Viewer)?;
    let params = query(params)?;
    let limit = limit(params.limit, 50)?;
    let before = params
        .continue_
        .map(|text| {
            text.parse::<i64>().map_err(|_| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "`continue` is not one this server gave; pass a list's metadata.continue unchanged",
                )
                .field("continue")
            })
        })
        .transpose()?;
    let mut events =
        access::audit_events(&state.context.store, &caller.identity, limit + 1, before).await?;
    let next = if events.len() > limit as usize {
        events.truncate(limit as usize);
        events.last().map(|e| e.id.to_string())
    } else {
        None
    };
    Ok(Json(AuditEventList::new(events, next)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_are_checked_before_the_store_sees_them() {
        assert!(build_id("20261204-023000-ab12").is_ok());
        for bad in [
            "2026",
            "20261204-023000-AB12",
            "20261204_023000-ab12",
            "%",
            "../x",
        ] {
            assert_eq!(
                build_id(bad).unwrap_err().field.as_deref(),
                Some("id"),
                "{bad}"
            );
        }
        assert!(product_name("demo-2").is_ok());
        assert!(product_name("Demo").is_err());
        assert!(product_name(&"a".repeat(54)).is_err());
        assert!(product_name("demo-").is_err());
    }

    #[test]
    fn a_page_start_survives_its_round_trip_and_forgeries_are_refused() {
        let start = PageStart {
            position: Position::Time(1_764_806_400_000),
            id: "20261204-000000-ab12".to_owned(),
        };
        let is_build = |id: &str| build_id(id).is_ok();
        assert_eq!(
            decode_start(&encode_start(&start), is_build).unwrap(),
            start
        );
        let release = PageStart {
            position: Position::Version(crate::versions::precedence_key(
                &semver::Version::parse("2.1.0-rc.10").unwrap(),
            )),
            id: "20261204-000000-ab12".to_owned(),
        };
        assert_eq!(
            decode_start(&encode_start(&release), is_build).unwrap(),
            release
        );
        for forged in [
            "x",
            &URL_SAFE_NO_PAD.encode("1/../../etc"),
            &URL_SAFE_NO_PAD.encode("a/20261204-000000-ab12"),
            &URL_SAFE_NO_PAD.encode("v/20261204-000000-ab12"),
            &URL_SAFE_NO_PAD.encode("v1' OR 1=1/20261204-000000-ab12"),
        ] {
            assert_eq!(
                decode_start(forged, is_build).unwrap_err().field.as_deref(),
                Some("continue")
            );
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        let field = |body: &str| match json_body::<CreateToken>(body.as_bytes(), "a token request")
        {
            Err(Error::InvalidField { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(r#"{"name":"a","role":"viewer","admin":true}"#),
            "admin"
        );
        assert_eq!(field(r#"{"name":"a"}"#), "role");
        assert_eq!(field(r#"{"name":1,"role":"viewer"}"#), "name");
        assert_eq!(field(r#"{"name":"a","role":"root"}"#), "role");
        assert_eq!(field("{"), "body");
    }
}
