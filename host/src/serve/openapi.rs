//! The API's description: OpenAPI 3.1 generated from the handlers (utoipa) at
//! `/openapi.json`, and a Swagger 2.0 copy at `/swagger.json` for platforms that take only
//! 2.0 (Power Automate custom connectors). Both are committed under `docs/`.

use std::collections::BTreeMap;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::db::JobRow;
use super::jobs::JobRequest;

/// `{"error": {"kind", "message"}}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `unauthorized`, `forbidden`, `not_found`, `invalid_input`, `unsupported`, `conflict`,
    /// `too_large`, `unavailable`, `internal`, or a result's error kind.
    pub kind: String,
    /// What happened and what to do.
    pub message: String,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// `sqlite` or `postgres`.
    pub database: String,
}

/// A vendor the service can act on.
#[derive(Debug, Serialize, ToSchema)]
pub struct VendorInfo {
    /// The vendor id, used in paths and job rows.
    pub vendor: String,
    /// The vendor's name for people.
    pub display_name: String,
    /// The plugin's version.
    pub version: String,
    /// The actions the plugin offers.
    pub actions: Vec<String>,
}

/// `GET /v1/vendors`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VendorList {
    /// The vendors.
    pub items: Vec<VendorInfo>,
}

/// A tenant of a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListedTenant {
    /// The tenant's id.
    pub tenant_id: String,
    /// The tenant's name.
    pub tenant_name: String,
    /// Whether it is enabled; null when the listing does not say.
    pub enabled: Option<bool>,
}

/// One page of tenants.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantPage {
    /// The tenants.
    pub items: Vec<ListedTenant>,
    /// The `after` of the next page, or null after the last.
    pub next: Option<String>,
}

/// The body of `POST /v1/vendors/{vendor}/tenants/{id}/{action}`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActBody {
    /// Read, but send nothing that changes the tenant; the result shows the request that
    /// would be sent.
    #[serde(default)]
    pub dry_run: bool,
    /// Fail, before changing anything, unless the tenant's name is exactly this (required
    /// for delete).
    #[serde(default)]
    pub expect_name: Option<String>,
    /// Why; recorded in the audit journal.
    #[serde(default)]
    pub reason: Option<String>,
    /// Confirms offboard and delete, which cannot be undone.
    #[serde(default)]
    pub confirm: bool,
}

/// How an operation ended.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResultStatus {
    /// A request that changed the tenant succeeded.
    Changed,
    /// Already as asked (and every `status`).
    Unchanged,
    /// Dry run: would change.
    Planned,
    /// Failed; see `error`.
    Failed,
    /// A resumed job had already done this row.
    Skipped,
}

/// Why a tenant failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultError {
    /// `auth`, `not_found`, `ambiguous`, `conflict`, `rate_limited`, `vendor`, `transport`,
    /// `timeout`, `plugin`, `invalid_input`, `unsupported`, `interrupted`.
    pub kind: String,
    /// What happened and what to do.
    pub message: String,
    /// The HTTP status the vendor answered, if any.
    pub http_status: Option<u16>,
    /// The vendor's error code, if any.
    pub vendor_code: Option<String>,
    /// True when trying again later may succeed.
    pub retryable: bool,
}

/// The request a dry run would have sent, secrets redacted.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlannedRequest {
    /// The method.
    pub method: String,
    /// The URL.
    pub url: String,
    /// The headers.
    pub headers: BTreeMap<String, String>,
    /// The body, or null.
    pub body: Option<String>,
}

/// The result for one tenant: the object `tenantctl --output json` prints.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultObject {
    /// The vendor id.
    pub vendor: String,
    /// The action.
    pub action: String,
    /// The tenant's id, when known.
    pub tenant_id: Option<String>,
    /// The tenant's name, when known.
    pub tenant_name: Option<String>,
    /// How it ended.
    pub status: ResultStatus,
    /// True when a request that changed the tenant succeeded.
    pub changed: bool,
    /// True for a dry run.
    pub dry_run: bool,
    /// Enabled before, if known.
    pub enabled_before: Option<bool>,
    /// Enabled after (in a dry run: would be), if known.
    pub enabled_after: Option<bool>,
    /// Why it failed, or null.
    pub error: Option<ResultError>,
    /// In a dry run that would change the tenant, the request that would do it.
    pub planned_request: Option<PlannedRequest>,
    /// Facts worth knowing about the action's effect.
    pub notes: Vec<String>,
}

/// `202` of `POST /v1/jobs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobAccepted {
    /// The job's id.
    pub id: String,
    /// Its status now.
    pub status: String,
}

/// A job's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    /// The job's id.
    pub id: String,
    /// `queued`, `running`, `succeeded` (no row failed), `failed` (some row failed, or the
    /// job could not start: see `error`) or `cancelled`.
    pub status: String,
    /// How many rows it has.
    pub rows: i64,
    /// How many rows have a result.
    pub done: i64,
    /// Results by status (`changed`, `unchanged`, `planned`, `failed`, `skipped`).
    pub counts: BTreeMap<String, i64>,
    /// A dry run.
    pub dry_run: bool,
    /// The job's reason.
    pub reason: Option<String>,
    /// Why the job as a whole failed, if it did before its rows ran.
    pub error: Option<String>,
    /// A cancel was asked for while it ran.
    pub cancel_requested: bool,
    /// The token that created it.
    pub created_by: String,
    /// When it was accepted (RFC 3339).
    pub created_at: String,
    /// When it started running.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
}

/// One row's result.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobResult {
    /// The row's number in `rows`, from 1.
    pub row: i64,
    /// The row as submitted.
    pub request: JobRow,
    /// The result.
    #[serde(flatten)]
    pub result: ResultObject,
}

/// A page of a job's results.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobResultPage {
    /// The results, in row order.
    pub items: Vec<JobResult>,
    /// The `after` of the next page; null once the job has ended and this is the last page.
    pub next: Option<String>,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The API, as utoipa collects it from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "tenantctl",
        description = "Disable, re-enable, offboard and delete customer tenants on backup \
            platforms, one at a time or as jobs. Every /v1/ request needs `Authorization: \
            Bearer TOKEN` (`tenantctl tokens create NAME --role read|operate|admin`).",
        license(name = "Apache-2.0")
    ),
    paths(
        super::api::healthz,
        super::metrics::handler,
        super::api::vendors,
        super::api::tenants,
        super::api::tenant_status,
        super::api::act,
        super::jobs::create,
        super::jobs::show,
        super::jobs::results,
        super::jobs::cancel,
    ),
    components(schemas(
        ErrorBody, ErrorDetail, Health, VendorInfo, VendorList, ListedTenant, TenantPage,
        ActBody, ResultStatus, ResultError, PlannedRequest, ResultObject, JobRequest, JobRow,
        JobAccepted, JobView, JobResult, JobResultPage
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "service", description = "Health and metrics; no token needed"),
        (name = "vendors", description = "The vendors the service can act on"),
        (name = "tenants", description = "One tenant at a time, synchronously"),
        (name = "jobs", description = "Many tenants as a job that survives restarts"),
    )
)]
pub struct ApiDoc;

/// The OpenAPI 3.1 document.
pub fn openapi() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the API description serializes");
    doc["info"]["version"] = Value::String(env!("CARGO_PKG_VERSION").to_string());
    doc
}

/// The same API as Swagger 2.0.
pub fn swagger() -> Value {
    to_swagger(&openapi())
}

fn document(value: &Value) -> Response {
    let text = serde_json::to_string_pretty(value).expect("a JSON value serializes") + "\n";
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        text,
    )
        .into_response()
}

/// `GET /openapi.json`.
pub async fn openapi_json() -> Response {
    document(&openapi())
}

/// `GET /swagger.json`.
pub async fn swagger_json() -> Response {
    document(&swagger())
}

/// Converts an OpenAPI 3.1 document (as utoipa writes it) to Swagger 2.0: schemas become
/// `definitions`, request bodies `in: body` parameters, `type: [T, "null"]` and
/// `oneOf: [T, null]` become `T` with `x-nullable`, the bearer scheme an `Authorization`
/// API key header.
pub fn to_swagger(doc: &Value) -> Value {
    let mut paths = Map::new();
    if let Some(source) = doc["paths"].as_object() {
        for (path, item) in source {
            let mut methods = Map::new();
            for (method, operation) in item.as_object().into_iter().flatten() {
                methods.insert(method.clone(), operation_v2(operation));
            }
            paths.insert(path.clone(), Value::Object(methods));
        }
    }
    let mut definitions = Map::new();
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            definitions.insert(name.clone(), schema_v2(schema));
        }
    }
    let mut info = doc["info"].clone();
    if let Some(info) = info.as_object_mut() {
        info.remove("license");
        info.insert("license".into(), json!({"name": "Apache-2.0"}));
    }
    json!({
        "swagger": "2.0",
        "info": info,
        "basePath": "/",
        "schemes": ["http", "https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "securityDefinitions": {
            "bearer": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`Bearer TOKEN`, a token from `tenantctl tokens create`"
            }
        },
        "tags": doc["tags"].clone(),
        "paths": paths,
        "definitions": definitions,
    })
}

fn operation_v2(operation: &Value) -> Value {
    let mut out = Map::new();
    for key in ["tags", "summary", "description", "operationId", "security"] {
        if let Some(value) = operation.get(key) {
            out.insert(key.into(), value.clone());
        }
    }
    let mut parameters = Vec::new();
    for parameter in operation["parameters"].as_array().into_iter().flatten() {
        let mut p = Map::new();
        for key in ["name", "in", "description", "required"] {
            if let Some(value) = parameter.get(key) {
                p.insert(key.into(), value.clone());
            }
        }
        // Non-body parameters carry their type themselves, and only simple types.
        let schema = schema_v2(&parameter["schema"]);
        for key in ["type", "format", "enum", "minimum", "maximum", "default"] {
            if let Some(value) = schema.get(key) {
                p.insert(key.into(), value.clone());
            }
        }
        p.entry("type").or_insert_with(|| json!("string"));
        parameters.push(Value::Object(p));
    }
    if let Some(body) = operation.get("requestBody") {
        let schema = body["content"]["application/json"]["schema"].clone();
        parameters.push(json!({
            "name": "body",
            "in": "body",
            "description": body.get("description").cloned().unwrap_or(json!("The request")),
            "required": body.get("required").cloned().unwrap_or(json!(false)),
            "schema": schema_v2(&schema),
        }));
    }
    if !parameters.is_empty() {
        out.insert("parameters".into(), Value::Array(parameters));
    }
    let mut responses = Map::new();
    for (code, response) in operation["responses"].as_object().into_iter().flatten() {
        let mut r = Map::new();
        r.insert(
            "description".into(),
            response.get("description").cloned().unwrap_or(json!("")),
        );
        if let Some(content) = response["content"].as_object()
            && let Some((media, body)) = content.iter().next()
        {
            if media == "application/json" {
                r.insert("schema".into(), schema_v2(&body["schema"]));
            } else {
                out.insert("produces".into(), json!([media]));
                r.insert("schema".into(), json!({"type": "string"}));
            }
        }
        if let Some(headers) = response["headers"].as_object() {
            let mut h = Map::new();
            for (name, header) in headers {
                let schema = schema_v2(&header["schema"]);
                let mut entry = Map::new();
                entry.insert(
                    "type".into(),
                    schema.get("type").cloned().unwrap_or(json!("string")),
                );
                if let Some(description) = header.get("description") {
                    entry.insert("description".into(), description.clone());
                }
                h.insert(name.clone(), Value::Object(entry));
            }
            r.insert("headers".into(), Value::Object(h));
        }
        responses.insert(code.clone(), Value::Object(r));
    }
    out.insert("responses".into(), Value::Object(responses));
    Value::Object(out)
}

/// A JSON Schema of OpenAPI 3.1 as a Swagger 2.0 schema object.
fn schema_v2(schema: &Value) -> Value {
    let Some(object) = schema.as_object() else {
        return schema.clone();
    };
    let mut out = Map::new();
    let mut nullable = false;
    for (key, value) in object {
        match key.as_str() {
            "$ref" => {
                let target = value
                    .as_str()
                    .unwrap_or_default()
                    .replace("#/components/schemas/", "#/definitions/");
                out.insert(key.clone(), Value::String(target));
            }
            "type" => match value {
                Value::Array(types) => {
                    let real: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
                    nullable |= real.len() < types.len();
                    if let Some(first) = real.first() {
                        out.insert("type".into(), (*first).clone());
                    }
                }
                other => {
                    if other != "null" {
                        out.insert("type".into(), other.clone());
                    }
                }
            },
            "oneOf" | "anyOf" => {
                let options: Vec<&Value> = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|option| option.get("type") != Some(&json!("null")))
                    .collect();
                nullable |= options.len() < value.as_array().map_or(0, Vec::len);
                // 2.0 has no alternatives: one is kept; several become "any object".
                if let [only] = options.as_slice() {
                    let converted = schema_v2(only);
                    if converted.get("$ref").is_some() {
                        // A $ref may have no siblings: wrap it.
                        out.insert("allOf".into(), json!([converted]));
                    } else if let Some(converted) = converted.as_object() {
                        for (k, v) in converted {
                            out.insert(k.clone(), v.clone());
                        }
                    }
                } else {
                    out.insert("type".into(), json!("object"));
                }
            }
            "allOf" => {
                let parts: Vec<Value> = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(schema_v2)
                    .collect();
                out.insert(key.clone(), Value::Array(parts));
            }
            "properties" => {
                let mut properties = Map::new();
                for (name, property) in value.as_object().into_iter().flatten() {
                    properties.insert(name.clone(), schema_v2(property));
                }
                out.insert(key.clone(), Value::Object(properties));
            }
            "items" | "additionalProperties" => {
                out.insert(key.clone(), schema_v2(value));
            }
            "const" => {
                out.insert("enum".into(), json!([value]));
            }
            "enum" => {
                let values: Vec<Value> = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|v| !v.is_null())
                    .cloned()
                    .collect();
                out.insert(key.clone(), Value::Array(values));
            }
            "description" | "format" | "required" | "minimum" | "maximum" | "default" | "title"
            | "minItems" | "maxItems" | "pattern" | "minLength" | "maxLength" => {
                out.insert(key.clone(), value.clone());
            }
            // Not in 2.0 (examples, contentMediaType, propertyNames, …): dropped.
            _ => {}
        }
    }
    if let Some(required) = out.get("required")
        && required.as_array().is_some_and(Vec::is_empty)
    {
        out.remove("required");
    }
    if nullable {
        out.insert("x-nullable".into(), Value::Bool(true));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_described_with_its_security() {
        let doc = openapi();
        assert_eq!(doc["openapi"], "3.1.0");
        for path in [
            "/healthz",
            "/metrics",
            "/v1/vendors",
            "/v1/vendors/{vendor}/tenants",
            "/v1/vendors/{vendor}/tenants/{id}",
            "/v1/vendors/{vendor}/tenants/{id}/{action}",
            "/v1/jobs",
            "/v1/jobs/{id}",
            "/v1/jobs/{id}/results",
            "/v1/jobs/{id}/cancel",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} is missing");
        }
        assert!(doc["paths"]["/healthz"]["get"].get("security").is_none());
        assert_eq!(
            doc["paths"]["/v1/jobs"]["post"]["security"],
            json!([{"bearer": []}])
        );
    }

    #[test]
    fn swagger_has_no_openapi_3_constructs() {
        let text = swagger().to_string();
        assert!(!text.contains("#/components/"), "a 3.x reference is left");
        assert!(!text.contains("\"oneOf\""));
        assert!(!text.contains("\"requestBody\""));
        assert!(!text.contains("\"null\""), "a null type is left");
        let doc = swagger();
        let body = &doc["paths"]["/v1/jobs"]["post"]["parameters"];
        assert!(
            body.as_array()
                .unwrap()
                .iter()
                .any(|p| p["in"] == "body" && p["schema"]["$ref"] == "#/definitions/JobRequest"),
            "{body}"
        );
        assert_eq!(
            doc["definitions"]["ListedTenant"]["properties"]["enabled"]["x-nullable"],
            true
        );
    }
}
