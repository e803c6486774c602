//! The Veeam Service Provider Console REST API v3 as this plugin speaks it
//! (`docs/vendors.md`, "Veeam Service Provider Console"): URLs, requests, the shapes of its
//! answers and how its errors map onto [`Failure`].
//!
//! Answers are read leniently: a field that is missing or has an unexpected type reads as
//! absent instead of failing the whole answer.

use serde_json::Value;
use tenantctl_plugin_sdk::{
    Effect, ErrorDetail, Failure, HttpRequest, HttpResponse, Method, RateLimit, query_string,
};

/// How many companies a name search asks for (the API's maximum page size).
pub(crate) const LIST_LIMIT: usize = 500;

/// The access token's lifetime when the token answer does not say (the documented default).
pub(crate) const DEFAULT_TOKEN_LIFETIME: u32 = 3600;

/// The longest token lifetime believed, so a nonsense `expires_in` cannot keep a session
/// forever.
const MAX_TOKEN_LIFETIME: u32 = 24 * 3600;

/// Builds the requests for one VSPC server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Api {
    /// `{base}/api/v3`, without a trailing `/`.
    root: String,
}

impl Api {
    /// The API behind `base_url`, which operators give with or without a trailing `/api/v3`
    /// and with or without a trailing `/`.
    pub(crate) fn new(base_url: &str) -> Result<Self, Failure> {
        let trimmed = base_url.trim().trim_end_matches('/');
        let base = match trimmed.len().checked_sub("/api/v3".len()) {
            Some(cut)
                if trimmed.is_char_boundary(cut)
                    && trimmed[cut..].eq_ignore_ascii_case("/api/v3") =>
            {
                &trimmed[..cut]
            }
            _ => trimmed,
        }
        .trim_end_matches('/');
        if base.is_empty() {
            return Err(Failure::InvalidInput(ErrorDetail::new(
                "the Veeam Service Provider Console URL is not set; give it with --url or \
                 TENANTCTL_VSPC_URL, e.g. https://vspc.example.com:1280",
            )));
        }
        Ok(Api {
            root: format!("{base}/api/v3"),
        })
    }

    /// `POST /token` with the password grant; the form body holds the password.
    pub(crate) fn token(&self, username: &str, password: &str) -> HttpRequest {
        HttpRequest::post(format!("{}/token", self.root))
            .header("Accept", "application/json")
            .form(&[
                ("grant_type", "password"),
                ("username", username),
                ("password", password),
            ])
            .secret_body()
            .effect(Effect::Read)
    }

    /// `GET /organizations/companies` filtered on the name, ignoring case.
    pub(crate) fn find(&self, token: &str, name: &str) -> HttpRequest {
        let filter = serde_json::json!([{
            "property": "name",
            "operation": "equals",
            "collation": "ignorecase",
            "value": name,
        }])
        .to_string();
        let limit = LIST_LIMIT.to_string();
        let query = query_string(&[("filter", &filter), ("limit", &limit)]);
        authed(
            HttpRequest::get(format!("{}/organizations/companies?{query}", self.root)),
            token,
        )
    }

    /// `GET /organizations/companies/{uid}`: one company with its `status`.
    pub(crate) fn company(&self, token: &str, uid: &str) -> HttpRequest {
        authed(
            HttpRequest::get(format!("{}/organizations/companies/{uid}", self.root)),
            token,
        )
    }

    /// `PATCH /organizations/companies/{uid}` replacing `status` with `status`. A JSON Patch
    /// `replace` with a fixed value leaves the company the same however often it is sent.
    pub(crate) fn set_status(&self, token: &str, uid: &str, status: &str) -> HttpRequest {
        let body = serde_json::json!([{ "op": "replace", "path": "/status", "value": status }]);
        authed(
            HttpRequest::new(
                Method::Patch,
                format!("{}/organizations/companies/{uid}", self.root),
            ),
            token,
        )
        .json(&body)
        .effect(Effect::IdempotentWrite)
    }
}

/// Adds the bearer token and asks for JSON.
fn authed(request: HttpRequest, token: &str) -> HttpRequest {
    request
        .header("Accept", "application/json")
        .secret_header("Authorization", format!("Bearer {token}"))
}

/// A company uid as given by the operator: a UUID (8-4-4-4-12 hexadecimal digits).
pub(crate) fn parse_uid(raw: &str) -> Result<String, Failure> {
    let uid = raw.trim();
    let well_formed = uid.len() == 36
        && uid.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    if well_formed {
        Ok(uid.to_string())
    } else {
        Err(Failure::InvalidInput(ErrorDetail::new(format!(
            "`{raw}` is not a Veeam Service Provider Console company uid (a UUID such as \
             30780260-6bed-47eb-b1ac-d12de2ce5b9d); use --tenant-name to select a company \
             by name"
        ))))
    }
}

/// A value that is text, or a number written as text (`code`, `retryAfter`).
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_string()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// What the vendor said about a failure, from its error body.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct VendorError {
    /// `errors[0].code` (or the OAuth `error`).
    pub code: Option<String>,
    /// `errors[0].message` with the parameter or property it names, or the OAuth
    /// `error_description`.
    pub message: Option<String>,
    /// `errors[].retryAfter`, in seconds.
    pub retry_after: Option<u32>,
}

impl VendorError {
    /// The error in `body`, if it is one of the vendor's error shapes:
    /// `{"errors": [{"message", "type", "code", "parameterName"|"propertyName", "retryAfter"}]}`
    /// or the OAuth `{"error", "error_description"}`.
    fn parse(body: &Value) -> Option<VendorError> {
        if let Some(first) = body
            .get("errors")
            .and_then(Value::as_array)
            .and_then(|errors| errors.iter().find(|e| e.is_object()))
        {
            let message = first.get("message").and_then(text);
            let about = first
                .get("parameterName")
                .or_else(|| first.get("propertyName"))
                .and_then(text);
            let message = match (message, about) {
                (Some(message), Some(about)) => Some(format!("{message} ({about})")),
                (Some(message), None) => Some(message),
                (None, Some(about)) => Some(format!("invalid {about}")),
                (None, None) => first
                    .get("type")
                    .and_then(text)
                    .map(|t| format!("{t} error")),
            };
            let retry_after = body
                .get("errors")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find_map(|e| e.get("retryAfter").and_then(text))
                .and_then(|t| t.parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| s.ceil().min(f64::from(u32::MAX)) as u32);
            return Some(VendorError {
                code: first.get("code").and_then(text),
                message,
                retry_after,
            });
        }
        let error = body.get("error").and_then(text)?;
        Some(VendorError {
            message: body
                .get("error_description")
                .and_then(text)
                .or_else(|| Some(error.clone())),
            code: Some(error),
            retry_after: None,
        })
    }

    /// The error in a response body, if it is JSON in one of the vendor's shapes.
    pub(crate) fn from_response(response: &HttpResponse) -> Option<VendorError> {
        serde_json::from_slice::<Value>(&response.body)
            .ok()
            .as_ref()
            .and_then(VendorError::parse)
    }

    /// `error 1000: message`, or whichever half is known.
    fn describe(&self) -> Option<String> {
        match (&self.code, &self.message) {
            (Some(code), Some(message)) => Some(format!("error {code}: {message}")),
            (Some(code), None) => Some(format!("error {code}")),
            (None, Some(message)) => Some(message.clone()),
            (None, None) => None,
        }
    }
}

/// An [`ErrorDetail`] for `response` with the vendor's code when it gave one.
fn detail(response: &HttpResponse, vendor: Option<&VendorError>, message: String) -> ErrorDetail {
    let detail = ErrorDetail::new(message).status(response.status);
    match vendor.and_then(|v| v.code.as_ref()) {
        Some(code) => detail.code(code),
        None => detail,
    }
}

/// What the vendor said, or the start of the body when it said nothing readable.
fn said(response: &HttpResponse, vendor: Option<&VendorError>) -> String {
    vendor
        .and_then(VendorError::describe)
        .unwrap_or_else(|| response.body_excerpt())
}

/// A 429: rate-limited, waiting as the `Retry-After` header or `errors[].retryAfter` says.
fn rate_limited(response: &HttpResponse, vendor: Option<&VendorError>, doing: &str) -> Failure {
    let retry_after = response
        .retry_after()
        .or_else(|| vendor.and_then(|v| v.retry_after));
    let wait = match retry_after {
        Some(seconds) => format!("retry after {seconds} s"),
        None => "retry later".to_string(),
    };
    Failure::RateLimited(RateLimit {
        detail: detail(
            response,
            vendor,
            format!(
                "Veeam Service Provider Console throttled the request while {doing} (HTTP 429, \
                 {}); {wait}",
                said(response, vendor)
            ),
        ),
        retry_after,
    })
}

/// What a non-2xx answer to an action's request means, for the step described by `doing`
/// (e.g. `reading company …`).
pub(crate) fn failure(response: &HttpResponse, doing: &str) -> Failure {
    let vendor = VendorError::from_response(response);
    let vendor = vendor.as_ref();
    let status = response.status;
    let said = said(response, vendor);
    match status {
        401 => Failure::SessionExpired(detail(
            response,
            vendor,
            format!(
                "Veeam Service Provider Console refused the access token while {doing} \
                 (HTTP 401, {said}); tenantctl logs in again"
            ),
        )),
        403 => Failure::Auth(detail(
            response,
            vendor,
            format!(
                "Veeam Service Provider Console denied access while {doing} (HTTP 403, {said}); \
                 the user needs the Portal Administrator, Service Provider Global \
                 Administrator or Service Provider Administrator role"
            ),
        )),
        404 => Failure::NotFound(detail(
            response,
            vendor,
            format!(
                "Veeam Service Provider Console found nothing while {doing} (HTTP 404, \
                 {said}); check the company uid"
            ),
        )),
        429 => rate_limited(response, vendor, doing),
        _ => Failure::Vendor(detail(
            response,
            vendor,
            format!("Veeam Service Provider Console answered HTTP {status} while {doing}: {said}"),
        )),
    }
}

/// What a failed login means: bad credentials are `auth`, a 404 hints at the URL.
fn login_failure(response: &HttpResponse, username: &str) -> Failure {
    let vendor = VendorError::from_response(response);
    let vendor = vendor.as_ref();
    let status = response.status;
    let said = said(response, vendor);
    match status {
        400 | 401 | 403 => Failure::Auth(detail(
            response,
            vendor,
            format!(
                "Veeam Service Provider Console refused the login of `{username}` (HTTP \
                 {status}, {said}); check TENANTCTL_VSPC_USERNAME (local users are written \
                 `<machine>\\<user>`) and TENANTCTL_VSPC_PASSWORD"
            ),
        )),
        404 => Failure::Vendor(detail(
            response,
            vendor,
            format!(
                "Veeam Service Provider Console has no token endpoint at this URL (HTTP 404, \
                 {said}); the URL is usually https://<host>:1280"
            ),
        )),
        429 => rate_limited(response, vendor, &format!("logging in as `{username}`")),
        _ => failure(response, &format!("logging in as `{username}`")),
    }
}

/// A 2xx answer whose body is not what was expected, for the step described by `doing`.
fn unreadable(response: &HttpResponse, doing: &str, expected: &str) -> Failure {
    Failure::Vendor(
        ErrorDetail::new(format!(
            "Veeam Service Provider Console answered HTTP {} while {doing} without {expected}: {}",
            response.status,
            response.body_excerpt()
        ))
        .status(response.status),
    )
}

/// A 2xx answer carrying a non-empty `errors` array instead of `data`.
fn reported_failure(response: &HttpResponse, body: &Value, doing: &str) -> Option<Failure> {
    let has_errors = body
        .get("errors")
        .and_then(Value::as_array)
        .is_some_and(|errors| !errors.is_empty());
    if !has_errors {
        return None;
    }
    let vendor = VendorError::parse(body);
    Some(Failure::Vendor(detail(
        response,
        vendor.as_ref(),
        format!(
            "Veeam Service Provider Console reported a failure while {doing} (HTTP {}, {})",
            response.status,
            said(response, vendor.as_ref())
        ),
    )))
}

/// The `data` of a 2xx answer, or the failure the answer reports instead.
fn data(response: &HttpResponse, doing: &str, expected: &str) -> Result<Value, Failure> {
    let body: Value = serde_json::from_slice(&response.body)
        .map_err(|_| unreadable(response, doing, expected))?;
    match body.get("data") {
        Some(data) if !data.is_null() => Ok(data.clone()),
        _ => Err(reported_failure(response, &body, doing)
            .unwrap_or_else(|| unreadable(response, doing, expected))),
    }
}

/// The access token from the answer to [`Api::token`] and when it expires, or why there is
/// none.
pub(crate) fn parse_token(
    response: &HttpResponse,
    username: &str,
    now: u32,
) -> Result<(String, u32), Failure> {
    if !response.is_success() {
        return Err(login_failure(response, username));
    }
    let doing = format!("logging in as `{username}`");
    let body: Value = serde_json::from_slice(&response.body)
        .map_err(|_| unreadable(response, &doing, "a JSON token answer"))?;
    let token = body.get("access_token").and_then(text);
    let Some(token) = token else {
        if body.get("mfa_token").and_then(text).is_some() {
            return Err(Failure::Auth(
                ErrorDetail::new(format!(
                    "Veeam Service Provider Console asks `{username}` for a second factor \
                     (multi-factor authentication); tenantctl cannot answer it: use a service \
                     account without MFA"
                ))
                .status(response.status),
            ));
        }
        return Err(reported_failure(response, &body, &doing)
            .unwrap_or_else(|| unreadable(response, &doing, "an access_token")));
    };
    let lifetime = body
        .get("expires_in")
        .and_then(text)
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 1.0)
        .map_or(DEFAULT_TOKEN_LIFETIME, |s| {
            s.min(f64::from(MAX_TOKEN_LIFETIME)) as u32
        });
    Ok((token, now.saturating_add(lifetime)))
}

/// A company's standing, from its `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    /// `Active`: enabled.
    Active,
    /// `Disabled`.
    Disabled,
    /// Anything else (`Expired`, `Creating`, `Deleting`, `Deleted`, `Unknown`, …).
    Other,
}

/// The standing a `status` value means; the spelling is compared ignoring case.
pub(crate) fn standing(status: &str) -> Standing {
    let status = status.trim();
    if status.eq_ignore_ascii_case("active") {
        Standing::Active
    } else if status.eq_ignore_ascii_case("disabled") {
        Standing::Disabled
    } else {
        Standing::Other
    }
}

/// A company as an answer describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Company {
    /// `instanceUid`, if present.
    pub uid: Option<String>,
    /// `name`, if present.
    pub name: Option<String>,
    /// `status`, if present.
    pub status: Option<String>,
}

impl Company {
    fn from_value(value: &Value) -> Company {
        Company {
            uid: value.get("instanceUid").and_then(text),
            name: value.get("name").and_then(text),
            status: value.get("status").and_then(text),
        }
    }
}

/// The company in a 2xx answer to [`Api::company`] or [`Api::set_status`].
pub(crate) fn parse_company(response: &HttpResponse, doing: &str) -> Result<Company, Failure> {
    let data = data(response, doing, "the company (data) as JSON")?;
    if !data.is_object() {
        return Err(unreadable(response, doing, "a company object in data"));
    }
    let company = Company::from_value(&data);
    if company.status.is_none() {
        return Err(unreadable(response, doing, "the company's status"));
    }
    Ok(company)
}

/// The companies in a 2xx answer to [`Api::find`], and whether the answer may have been cut
/// short (`meta.pagingInfo.total` above the number of items).
pub(crate) fn parse_list(
    response: &HttpResponse,
    doing: &str,
) -> Result<(Vec<Company>, bool), Failure> {
    let body: Value = serde_json::from_slice(&response.body)
        .map_err(|_| unreadable(response, doing, "a JSON list of companies"))?;
    let items = match body.get("data") {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None => {
            if let Some(failure) = reported_failure(response, &body, doing) {
                return Err(failure);
            }
            return Ok((Vec::new(), false));
        }
        Some(_) => return Err(unreadable(response, doing, "a list of companies in data")),
    };
    let companies: Vec<Company> = items
        .iter()
        .filter(|item| item.is_object())
        .map(Company::from_value)
        .collect();
    let total = body
        .pointer("/meta/pagingInfo/total")
        .and_then(text)
        .and_then(|t| t.parse::<u64>().ok());
    // Without a total, a full page may have more behind it.
    let cut_short = match total {
        Some(total) => total > items.len() as u64,
        None => items.len() >= LIST_LIMIT,
    };
    Ok((companies, cut_short))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenantctl_plugin_sdk::testing::{json_response, text_response};

    #[test]
    fn base_url_is_accepted_with_or_without_api_v3_and_slashes() {
        for base in [
            "https://vspc.example.com:1280",
            "https://vspc.example.com:1280/",
            "https://vspc.example.com:1280/api/v3",
            "https://vspc.example.com:1280/api/v3/",
            " https://vspc.example.com:1280/API/V3// ",
        ] {
            assert_eq!(
                Api::new(base).unwrap().root,
                "https://vspc.example.com:1280/api/v3",
                "{base}"
            );
        }
        assert!(matches!(Api::new("  /"), Err(Failure::InvalidInput(_))));
        assert!(matches!(Api::new("/api/v3"), Err(Failure::InvalidInput(_))));
    }

    #[test]
    fn uids_are_uuids() {
        assert_eq!(
            parse_uid(" 30780260-6bed-47eb-B1AC-d12de2ce5b9d ").unwrap(),
            "30780260-6bed-47eb-B1AC-d12de2ce5b9d"
        );
        for bad in [
            "",
            "42",
            "30780260-6bed-47eb-b1ac-d12de2ce5b9",
            "30780260-6bed-47eb-b1ac-d12de2ce5b9dd",
            "30780260x6bed-47eb-b1ac-d12de2ce5b9d",
            "3078026g-6bed-47eb-b1ac-d12de2ce5b9d",
            "../../../etc/passwd-aaaaaaaaaaaaaaaaa",
            "30780260-6bed-47eb-b1ac-d12de2ce5b9\u{e9}",
        ] {
            assert!(
                matches!(parse_uid(bad), Err(Failure::InvalidInput(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn vendor_errors_read_the_documented_body_and_the_oauth_shape() {
        let documented = json_response(
            400,
            serde_json::json!({"errors": [{"message": "Property value must be larger or equal to 0.",
                "type": "logical", "code": 400, "parameterName": "offset"}]}),
        );
        let error = VendorError::from_response(&documented).unwrap();
        assert_eq!(error.code.as_deref(), Some("400"));
        assert_eq!(
            error.message.as_deref(),
            Some("Property value must be larger or equal to 0. (offset)")
        );
        let throttled = json_response(
            429,
            serde_json::json!({"errors": [{"type": "transport", "code": 429, "retryAfter": 25}]}),
        );
        let error = VendorError::from_response(&throttled).unwrap();
        assert_eq!(error.retry_after, Some(25));
        assert_eq!(error.message.as_deref(), Some("transport error"));
        let oauth = json_response(
            400,
            serde_json::json!({"error": "invalid_grant", "error_description": "Bad password"}),
        );
        let error = VendorError::from_response(&oauth).unwrap();
        assert_eq!(error.code.as_deref(), Some("invalid_grant"));
        assert_eq!(error.message.as_deref(), Some("Bad password"));
        for body in ["<html>502</html>", "", "[]", "{\"errors\": \"no\"}"] {
            assert_eq!(
                VendorError::from_response(&text_response(502, "text/html", body)),
                None,
                "{body}"
            );
        }
    }

    #[test]
    fn token_lifetime_defaults_to_an_hour_and_is_capped() {
        let answer = |body: Value| json_response(200, body);
        let at = |body: Value| parse_token(&answer(body), "u", 1000).unwrap().1;
        assert_eq!(
            at(serde_json::json!({"access_token": "t", "expires_in": 60})),
            1060
        );
        assert_eq!(
            at(serde_json::json!({"access_token": "t", "expires_in": "120"})),
            1120
        );
        assert_eq!(at(serde_json::json!({"access_token": "t"})), 4600);
        assert_eq!(
            at(serde_json::json!({"access_token": "t", "expires_in": 0})),
            4600
        );
        assert_eq!(
            at(serde_json::json!({"access_token": "t", "expires_in": 1e12})),
            1000 + MAX_TOKEN_LIFETIME
        );
        assert_eq!(
            parse_token(
                &answer(serde_json::json!({"access_token": "t", "expires_in": 60})),
                "u",
                u32::MAX - 5
            )
            .unwrap()
            .1,
            u32::MAX
        );
    }

    #[test]
    fn standing_ignores_case() {
        assert_eq!(standing("Active"), Standing::Active);
        assert_eq!(standing(" active "), Standing::Active);
        assert_eq!(standing("DISABLED"), Standing::Disabled);
        assert_eq!(standing("Expired"), Standing::Other);
        assert_eq!(standing(""), Standing::Other);
    }

    #[test]
    fn the_name_filter_is_url_encoded_json() {
        let api = Api::new("https://v:1280").unwrap();
        let request = api.find("tok", "Acme & Co");
        let (_, query) = request.url.split_once('?').unwrap();
        let pairs: Vec<(String, String)> = query
            .split('&')
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect();
        assert_eq!(pairs[0].0, "filter");
        assert!(!pairs[0].1.contains('"') && !pairs[0].1.contains('&'));
        assert_eq!(pairs[1], ("limit".to_string(), "500".to_string()));
    }
}
