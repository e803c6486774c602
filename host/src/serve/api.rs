//! The routes: health, metrics, the API descriptions, vendors and single tenants
//! (synchronously), and jobs (see [`super::jobs`]). Every error is
//! `{"error": {"kind", "message"}}`; every request is logged on stderr as one JSON line.

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{MatchedPath, Path, Query, Request, State as Shared};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::State;
use super::auth::{Caller, Role};
use super::openapi::{ActBody, ErrorBody, Health, TenantPage, VendorList};
use crate::account::RunOptions;
use crate::operation::{self, Journaling, Refusal};
use crate::plugin::bindings::{Action, ActionRequest};
use crate::report::{ErrorKind, ResultError, Status, TenantResult, wire_name};

/// An error answer: its status, kind and message.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What kind of error (`unauthorized`, `forbidden`, `not_found`, `invalid_input`, …).
    pub kind: &'static str,
    /// What happened and what to do.
    pub message: String,
}

impl ApiError {
    /// An error of `kind` answered with `status`.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            message: message.into(),
        }
    }

    /// 401: no token, or an unknown or revoked one.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: the token's role is too low.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404: no such vendor, job or route.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 400: the request cannot be read (bad JSON, a missing header).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_input", message)
    }

    /// 422: the request is well-formed but cannot be carried out as asked.
    pub fn unprocessable(kind: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, kind, message)
    }

    /// 503: the service lacks the settings to reach a vendor.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 500: the service itself failed (its database, most likely); logged.
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        let err = err.into();
        tracing::error!("{err:#}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the service failed: {err:#}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"kind": self.kind, "message": self.message}});
        let message = crate::redact::scrub(&body.to_string()).into_owned();
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            message,
        )
            .into_response()
    }
}

/// A JSON answer, scrubbed of secrets.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    let text = crate::redact::scrub(&value.to_string()).into_owned();
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// Reads a JSON body (an empty body is `T::default()`); 413 past the body cap, 400 for
/// bad JSON or unknown fields.
pub fn read_body<T: serde::de::DeserializeOwned + Default>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "too_large",
                "the request body is larger than the service accepts (--max-body-bytes); split \
                 the job",
            )
        } else {
            ApiError::new(status, "invalid_input", rejection.body_text())
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|err| ApiError::bad_request(format!("the request body is not valid: {err}")))
}

/// The whole service: routes, body cap, access log and metrics.
pub fn router(state: Arc<State>, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(super::metrics::handler))
        .route("/openapi.json", get(super::openapi::openapi_json))
        .route("/swagger.json", get(super::openapi::swagger_json))
        .route("/v1/vendors", get(vendors))
        .route("/v1/vendors/{vendor}/tenants", get(tenants))
        .route("/v1/vendors/{vendor}/tenants/{id}", get(tenant_status))
        .route("/v1/vendors/{vendor}/tenants/{id}/{action}", post(act))
        .route("/v1/jobs", post(super::jobs::create))
        .route("/v1/jobs/{id}", get(super::jobs::show))
        .route("/v1/jobs/{id}/results", get(super::jobs::results))
        .route("/v1/jobs/{id}/cancel", post(super::jobs::cancel))
        .fallback(|| async {
            ApiError::not_found("no such endpoint; /openapi.json describes the API")
        })
        .layer(middleware::from_fn_with_state(state.clone(), access_log))
        .layer(axum::extract::DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

/// Where the caller's token name is left for the access log.
#[derive(Debug, Clone, Default)]
pub struct CallerSlot(pub Arc<Mutex<Option<String>>>);

/// Logs each request on stderr as one JSON line (method, route, path, status, time, the
/// token's name; never a header or a body) and counts it.
async fn access_log(
    Shared(state): Shared<Arc<State>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let slot = CallerSlot::default();
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    state.metrics.request(&method, &route, status);
    let token = slot.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let line = serde_json::json!({
        "time": humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        "log": "access",
        "method": method,
        "route": route,
        "path": path,
        "status": status,
        "ms": started.elapsed().as_secs_f64() * 1000.0,
        "token": token,
    });
    crate::cli::eprint_line(&line.to_string());
    response
}

/// Liveness and the database's.
#[utoipa::path(get, path = "/healthz", tag = "service",
    responses(
        (status = 200, description = "The service and its database answer", body = Health),
        (status = 503, description = "The database does not answer", body = ErrorBody),
    ))]
pub async fn healthz(Shared(state): Shared<Arc<State>>) -> Response {
    match state.db.ping().await {
        Ok(()) => json(
            StatusCode::OK,
            &serde_json::json!({"status": "ok", "database": state.db.kind()}),
        ),
        Err(err) => {
            ApiError::unavailable(format!("the database does not answer: {err:#}")).into_response()
        }
    }
}

/// The vendors this service can act on, from the plugins it loaded.
#[utoipa::path(get, path = "/v1/vendors", tag = "vendors",
    responses(
        (status = 200, description = "Every vendor with a trusted plugin", body = VendorList),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn vendors(Shared(state): Shared<Arc<State>>, caller: Caller) -> Response {
    if let Err(err) = caller.require(Role::Read, "listing vendors") {
        return err.into_response();
    }
    let items: Vec<serde_json::Value> = state
        .catalog
        .vendors()
        .into_iter()
        .filter_map(|vendor| state.catalog.get(vendor))
        .map(|plugin| {
            let info = plugin.info();
            serde_json::json!({
                "vendor": info.vendor,
                "display_name": info.display_name,
                "version": info.version,
                "actions": operation::offered_actions(plugin),
            })
        })
        .collect();
    json(StatusCode::OK, &serde_json::json!({ "items": items }))
}

/// `?limit=&after=` of a tenant listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Tenants per page (1 to 1000; default 100).
    pub limit: Option<String>,
    /// The `next` of the previous page.
    pub after: Option<String>,
}

/// The largest page.
const MAX_PAGE: usize = 1000;

/// Parses `limit` (default 100, at most 1000).
pub fn page_limit(limit: Option<&str>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(100),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "limit must be a whole number from 1 to {MAX_PAGE} (got {text:?})"
            ))),
        },
    }
}

/// Every tenant the account can act on, a page at a time. Each page reads the vendor's
/// listing, streamed, up to the first tenant past the page and no further, so memory does not
/// grow with the number of tenants and the first pages cost the least.
#[utoipa::path(get, path = "/v1/vendors/{vendor}/tenants", tag = "tenants",
    params(("vendor" = String, Path, description = "The vendor id, as /v1/vendors lists it"), PageQuery),
    responses(
        (status = 200, description = "One page of tenants", body = TenantPage),
        (status = 400, description = "A bad limit or cursor", body = ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 404, description = "No such vendor", body = ErrorBody),
        (status = 422, description = "The vendor's plugin cannot list", body = ErrorBody),
        (status = 502, description = "The vendor failed", body = ErrorBody),
        (status = 503, description = "The service is not set up for this vendor", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn tenants(
    Shared(state): Shared<Arc<State>>,
    caller: Caller,
    Path(vendor): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Response, ApiError> {
    caller.require(Role::Read, "listing tenants")?;
    let limit = page_limit(page.limit.as_deref())?;
    let skip = match page.after.as_deref() {
        None => 0,
        Some(text) => text.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!(
                "after must be the `next` of the previous page (got {text:?})"
            ))
        })?,
    };
    let account = state.account(&vendor).await?;
    if !account.plugin().supports(Action::List) {
        return Err(ApiError::unprocessable(
            "unsupported",
            format!(
                "{} does not support list (listing arrived in contract 0.2); install a newer \
                 plugin",
                account.plugin()
            ),
        ));
    }
    let options = RunOptions {
        deadline: Some(state.deadline),
        ..RunOptions::default()
    };
    let mut seen = 0usize;
    let mut items = Vec::new();
    let mut more = false;
    // The listing stops at the first tenant past this page: later pages of the vendor's
    // listing are not read for it.
    let mut on_page = |tenants: &[crate::plugin::bindings::ListedTenant]| {
        for tenant in tenants {
            if items.len() >= limit {
                more = true;
                return ControlFlow::Break(());
            }
            if seen >= skip {
                items.push(serde_json::json!({
                    "tenant_id": tenant.id,
                    "tenant_name": tenant.name,
                    "enabled": tenant.enabled,
                }));
            }
            seen += 1;
        }
        ControlFlow::Continue(())
    };
    match account.list(&options, &mut on_page).await {
        Ok(_) => {
            let next = more.then(|| (skip + limit).to_string());
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({"items": items, "next": next}),
            ))
        }
        Err(error) => {
            let (status, _) = failure_status(&error);
            Err(ApiError::new(
                status,
                error_kind(error.kind),
                format!("the listing of {vendor} failed: {}", error.message),
            ))
        }
    }
}

/// A tenant's state: the `status` action's result object.
#[utoipa::path(get, path = "/v1/vendors/{vendor}/tenants/{id}", tag = "tenants",
    params(
        ("vendor" = String, Path, description = "The vendor id"),
        ("id" = String, Path, description = "The tenant's id at the vendor"),
    ),
    responses(
        (status = 200, description = "The status result", body = super::openapi::ResultObject),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 404, description = "No such vendor (error) or tenant (result)", body = super::openapi::ResultObject),
        (status = 502, description = "The vendor failed (result)", body = super::openapi::ResultObject),
        (status = 503, description = "The service is not set up for this vendor", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn tenant_status(
    Shared(state): Shared<Arc<State>>,
    caller: Caller,
    Path((vendor, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(Role::Read, "reading a tenant")?;
    perform(
        &state,
        &caller,
        &vendor,
        &id,
        Action::Status,
        ActBody::default(),
    )
    .await
}

/// Carries out an action on one tenant and answers its result object.
#[utoipa::path(post, path = "/v1/vendors/{vendor}/tenants/{id}/{action}", tag = "tenants",
    params(
        ("vendor" = String, Path, description = "The vendor id"),
        ("id" = String, Path, description = "The tenant's id at the vendor"),
        ("action" = String, Path, description = "status, disable, enable, offboard or delete"),
    ),
    request_body(content = ActBody, description = "Options; an empty body means none"),
    responses(
        (status = 200, description = "changed, unchanged or planned", body = super::openapi::ResultObject),
        (status = 400, description = "The body cannot be read", body = ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The token's role is too low (offboard and delete need admin)", body = ErrorBody),
        (status = 404, description = "No such vendor or action (error), or tenant (result)", body = super::openapi::ResultObject),
        (status = 409, description = "Ambiguous name or conflicting change (result)", body = super::openapi::ResultObject),
        (status = 422, description = "Not confirmed, no expect_name for a delete, unsupported, or invalid input", body = super::openapi::ResultObject),
        (status = 429, description = "The vendor's rate limit (result); see Retry-After", body = super::openapi::ResultObject,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
        (status = 502, description = "The vendor failed (result)", body = super::openapi::ResultObject),
        (status = 503, description = "The service is not set up for this vendor", body = ErrorBody),
        (status = 504, description = "The vendor timed out (result)", body = super::openapi::ResultObject),
    ),
    security(("bearer" = [])))]
pub async fn act(
    Shared(state): Shared<Arc<State>>,
    caller: Caller,
    Path((vendor, id, action)): Path<(String, String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: ActBody = read_body(body)?;
    let action = match crate::batch::rows::parse_action(&action) {
        Some(Action::List) | None => {
            return Err(ApiError::not_found(format!(
                "no action {action:?}: use status, disable, enable, offboard or delete"
            )));
        }
        Some(action) => action,
    };
    caller.require(
        needed_role(action),
        &format!("{} of a tenant", action.name()),
    )?;
    perform(&state, &caller, &vendor, &id, action, body).await
}

/// The role an action needs: `read` for status, `admin` for offboard and delete.
pub fn needed_role(action: Action) -> Role {
    match action {
        Action::Status | Action::List => Role::Read,
        Action::Disable | Action::Enable => Role::Operate,
        Action::Offboard | Action::Delete => Role::Admin,
    }
}

/// Runs `action` on tenant `id` of `vendor` for `caller`, journaled, and answers the result
/// object with the status its outcome maps to.
async fn perform(
    state: &State,
    caller: &Caller,
    vendor: &str,
    id: &str,
    action: Action,
    body: ActBody,
) -> Result<Response, ApiError> {
    let selector = operation::selector(Some(id), None)
        .map_err(|why| ApiError::unprocessable("invalid_input", why))?;
    let account = state.account(vendor).await?;
    let plugin = account.plugin();
    match operation::refusal(
        plugin,
        action,
        body.expect_name.as_deref(),
        body.confirm,
        body.dry_run,
    ) {
        None => {}
        Some(Refusal::Unsupported) => {
            return Err(ApiError::unprocessable(
                "unsupported",
                format!(
                    "{plugin} does not support {}; it offers: {}; nothing was sent",
                    action.name(),
                    operation::offered_actions(plugin).join(", ")
                ),
            ));
        }
        Some(Refusal::NeedsExpectName) => {
            return Err(ApiError::unprocessable(
                "invalid_input",
                "a delete cannot be undone, so it needs \"expect_name\" (the tenant's exact name) \
                 and \"confirm\": true; nothing was sent",
            ));
        }
        Some(Refusal::NeedsConfirmation) => {
            return Err(ApiError::unprocessable(
                "invalid_input",
                format!(
                    "{} cannot be undone by tenantctl; send \"confirm\": true, or \"dry_run\": \
                     true to see what would be sent; nothing was sent",
                    action.name()
                ),
            ));
        }
    }
    let request = ActionRequest {
        action,
        tenant: Some(selector),
    };
    let journaling = Journaling {
        journal: state.journal.clone(),
        operator: caller.name.clone(),
        reason: body.reason.clone().or_else(|| state.reason.clone()),
    };
    let options = RunOptions {
        dry_run: body.dry_run,
        expect_name: body.expect_name.clone(),
        deadline: Some(state.deadline),
        ..RunOptions::default()
    };
    let result = operation::run(&account, vendor, &request, options, Some(&journaling)).await;
    state.metrics.operation(&result);
    Ok(result_response(&result))
}

/// The result object with the HTTP status its outcome maps to (and `Retry-After` for a
/// rate limit).
pub fn result_response(result: &TenantResult) -> Response {
    let (status, retry_after) = match (&result.error, result.status) {
        (Some(error), _) => failure_status(error),
        (None, Status::Failed) => (StatusCode::BAD_GATEWAY, None),
        (None, _) => (StatusCode::OK, None),
    };
    let value = serde_json::to_value(result).expect("a result serializes");
    let mut response = json(status, &value);
    if let Some(secs) = retry_after
        && let Ok(value) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// What `Retry-After` says when the vendor named no wait.
const DEFAULT_RETRY_AFTER_SECS: u64 = 60;

/// The HTTP status of a failure: 404 not_found, 409 ambiguous/conflict, 422
/// invalid_input/unsupported, 429 rate_limited (with the seconds to wait), 504 timeout,
/// 502 the rest.
pub fn failure_status(error: &ResultError) -> (StatusCode, Option<u64>) {
    match error.kind {
        ErrorKind::NotFound => (StatusCode::NOT_FOUND, None),
        ErrorKind::Ambiguous | ErrorKind::Conflict => (StatusCode::CONFLICT, None),
        ErrorKind::InvalidInput | ErrorKind::Unsupported => {
            (StatusCode::UNPROCESSABLE_ENTITY, None)
        }
        ErrorKind::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            Some(retry_after(&error.message).unwrap_or(DEFAULT_RETRY_AFTER_SECS)),
        ),
        ErrorKind::Timeout => (StatusCode::GATEWAY_TIMEOUT, None),
        _ => (StatusCode::BAD_GATEWAY, None),
    }
}

/// The wait a rate-limited result's message carries ("… (the vendor asks to wait N s)").
fn retry_after(message: &str) -> Option<u64> {
    let (_, rest) = message.rsplit_once("asks to wait ")?;
    rest.split(' ').next()?.parse().ok()
}

/// The wire name of an error kind, as a static string for [`ApiError`].
fn error_kind(kind: ErrorKind) -> &'static str {
    match wire_name(kind).as_str() {
        "auth" => "auth",
        "not_found" => "not_found",
        "ambiguous" => "ambiguous",
        "conflict" => "conflict",
        "rate_limited" => "rate_limited",
        "transport" => "transport",
        "timeout" => "timeout",
        "plugin" => "plugin",
        "invalid_input" => "invalid_input",
        "unsupported" => "unsupported",
        "interrupted" => "interrupted",
        _ => "vendor",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_to_the_statuses_the_api_promises() {
        let status = |kind| failure_status(&ResultError::new(kind, "x")).0.as_u16();
        assert_eq!(status(ErrorKind::NotFound), 404);
        assert_eq!(status(ErrorKind::Ambiguous), 409);
        assert_eq!(status(ErrorKind::Conflict), 409);
        assert_eq!(status(ErrorKind::InvalidInput), 422);
        assert_eq!(status(ErrorKind::Unsupported), 422);
        assert_eq!(status(ErrorKind::RateLimited), 429);
        assert_eq!(status(ErrorKind::Timeout), 504);
        for kind in [
            ErrorKind::Auth,
            ErrorKind::Vendor,
            ErrorKind::Transport,
            ErrorKind::Plugin,
            ErrorKind::Interrupted,
        ] {
            assert_eq!(status(kind), 502, "{kind:?}");
        }
    }

    #[test]
    fn retry_after_comes_from_the_vendor_when_it_said() {
        let limited =
            |message: &str| failure_status(&ResultError::new(ErrorKind::RateLimited, message)).1;
        assert_eq!(
            limited("too many requests (the vendor asks to wait 17 s)"),
            Some(17)
        );
        assert_eq!(limited("too many requests"), Some(DEFAULT_RETRY_AFTER_SECS));
    }

    #[test]
    fn roles_follow_the_actions_danger() {
        assert_eq!(needed_role(Action::Status), Role::Read);
        assert_eq!(needed_role(Action::Disable), Role::Operate);
        assert_eq!(needed_role(Action::Enable), Role::Operate);
        assert_eq!(needed_role(Action::Offboard), Role::Admin);
        assert_eq!(needed_role(Action::Delete), Role::Admin);
    }
}
