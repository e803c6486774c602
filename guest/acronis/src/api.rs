//! The Acronis Account Management API v2 as this plugin speaks it (`docs/vendors.md`,
//! "Acronis"): URLs, requests, the shapes of its answers and how its errors map to failures.

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use tenantctl_plugin_sdk::{
    Effect, ErrorDetail, Failure, HttpRequest, HttpResponse, RateLimit, basic_auth, query_string,
};

/// How many results a name search asks for; an answer this long may have been cut short.
pub const SEARCH_LIMIT: usize = 1000;

/// The vendor's error code for a stale tenant `version` ("Version mismatch").
const VERSION_MISMATCH: &str = "1001";

/// Builds the requests for one data center's API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    /// `{base}/api/2`, without a trailing `/`.
    root: String,
}

impl Api {
    /// The API behind `base_url`, which operators give with or without a trailing `/api/2`
    /// and with or without a trailing `/`.
    pub fn new(base_url: &str) -> Result<Self, Failure> {
        let trimmed = base_url.trim().trim_end_matches('/');
        let base = trimmed
            .strip_suffix("/api/2")
            .unwrap_or(trimmed)
            .trim_end_matches('/');
        if base.is_empty() {
            return Err(invalid_input(
                "the Acronis base URL is empty: give the data-center URL, \
                 e.g. https://eu2-cloud.acronis.com",
            ));
        }
        Ok(Api {
            root: format!("{base}/api/2"),
        })
    }

    /// `POST /idp/token`: trades the API client's id and secret for an access token.
    pub fn token(&self, client_id: &str, client_secret: &str) -> HttpRequest {
        HttpRequest::post(format!("{}/idp/token", self.root))
            .secret_header("Authorization", basic_auth(client_id, client_secret))
            .form(&[("grant_type", "client_credentials")])
            .effect(Effect::Read)
    }

    /// `GET /clients/{client_id}`: the API client's registration, naming its own tenant.
    pub fn client(&self, token: &str, client_id: &str) -> HttpRequest {
        self.get(token, &format!("clients/{}", path_segment(client_id)))
    }

    /// `GET /search`: tenants and users under `root_tenant` whose words start with `name`.
    pub fn search(&self, token: &str, root_tenant: &str, name: &str) -> HttpRequest {
        let limit = SEARCH_LIMIT.to_string();
        let query = query_string(&[("tenant", root_tenant), ("text", name), ("limit", &limit)]);
        self.get(token, &format!("search?{query}"))
    }

    /// `GET /tenants/{id}`: one tenant with its `enabled` flag and `version`.
    pub fn tenant(&self, token: &str, id: &str) -> HttpRequest {
        self.get(token, &format!("tenants/{}", path_segment(id)))
    }

    /// `PUT /tenants/{id}` setting `enabled`; the `version` makes a repeat harmless (a
    /// second send is refused as stale instead of applied twice).
    pub fn update(&self, token: &str, id: &str, enabled: bool, version: u64) -> HttpRequest {
        HttpRequest::put(format!("{}/tenants/{}", self.root, path_segment(id)))
            .secret_header("Authorization", bearer(token))
            .json(&serde_json::json!({ "enabled": enabled, "version": version }))
            .effect(Effect::IdempotentWrite)
    }

    fn get(&self, token: &str, path: &str) -> HttpRequest {
        HttpRequest::get(format!("{}/{path}", self.root))
            .secret_header("Authorization", bearer(token))
            .effect(Effect::Read)
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Percent-encodes everything but RFC 3986 unreserved characters. Tenant ids are checked
/// before use, so this only matters for a client id from the configuration.
fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Refuses a tenant id that cannot be an Acronis id (they are UUIDs): empty, or holding
/// anything but ASCII letters, digits and `-`.
pub fn check_tenant_id(id: &str) -> Result<(), Failure> {
    if id.is_empty() {
        return Err(invalid_input(
            "the tenant id is empty: give the tenant's UUID, or its name with --tenant-name",
        ));
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(invalid_input(format!(
            "{id:?} is not an Acronis tenant id (a UUID such as \
             0fcd4a69-8a40-4de8-b711-d9c83dc000f7); to name the tenant use --tenant-name"
        )));
    }
    Ok(())
}

fn invalid_input(message: impl Into<String>) -> Failure {
    Failure::InvalidInput(ErrorDetail::new(message))
}

/// The token endpoint's answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Token {
    /// The bearer token.
    #[serde(deserialize_with = "text")]
    pub access_token: String,
    /// When it expires, in Unix seconds.
    expires_on: Option<Value>,
    /// Its lifetime in seconds: the usual OAuth field, should `expires_on` be missing.
    expires_in: Option<Value>,
}

impl Token {
    /// When the token stops working, in Unix seconds clamped to `u32`, if the answer says.
    pub fn expires_at(&self, now: u32) -> Option<u32> {
        let at = match self.expires_on.as_ref().and_then(seconds) {
            Some(at) => at,
            None => u64::from(now).saturating_add(self.expires_in.as_ref().and_then(seconds)?),
        };
        Some(u32::try_from(at).unwrap_or(u32::MAX))
    }
}

/// A non-negative number of seconds, as a JSON number or a numeric string.
fn seconds(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number.as_u64().or_else(|| {
            // Truncating a fractional or huge float is what we want; `as` saturates.
            number.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)
        }),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// The API client's registration.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Client {
    /// The tenant the API client belongs to: the root of everything it may see.
    #[serde(deserialize_with = "text")]
    pub tenant_id: String,
}

/// The answer to a search.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchAnswer {
    /// What matched, tenants and users alike.
    pub items: Vec<SearchItem>,
}

/// One search result.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchItem {
    /// `tenant` or `user`.
    #[serde(deserialize_with = "text")]
    pub obj_type: String,
    /// Its id.
    #[serde(deserialize_with = "text")]
    pub id: String,
    /// Its name.
    #[serde(deserialize_with = "text")]
    pub name: String,
    /// For tenants: `partner`, `folder`, `customer` or `unit`.
    #[serde(deserialize_with = "text")]
    pub kind: String,
}

/// A tenant as `GET /tenants/{id}` and `PUT /tenants/{id}` return it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Tenant {
    /// Its id.
    #[serde(deserialize_with = "text")]
    pub id: String,
    /// Its name.
    #[serde(deserialize_with = "text")]
    pub name: String,
    /// Whether its users may sign in.
    pub enabled: Option<bool>,
    /// Its revision; every update must carry the current one.
    pub version: Option<u64>,
}

/// A string field that tolerates other JSON (a number becomes its digits, anything else
/// empty), so one odd search result cannot make the whole answer unreadable.
fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) => text,
        Value::Number(number) => number.to_string(),
        _ => String::new(),
    })
}

/// The vendor's code and message from an error body.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct VendorError {
    /// The code, numbers as decimal strings.
    pub code: Option<String>,
    /// The message.
    pub message: Option<String>,
}

impl VendorError {
    /// Reads the API's envelope `{"error": {"code", "message", ...}}` or the token
    /// endpoint's OAuth shape `{"error": "...", "error_description": "..."}`; `None` for
    /// anything else (an HTML page from a proxy, an empty body).
    pub fn parse(response: &HttpResponse) -> Option<Self> {
        let body: Value = serde_json::from_slice(&response.body).ok()?;
        let message = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
        match body.get("error")? {
            Value::Object(error) => Some(VendorError {
                code: error.get("code").and_then(code_text),
                message: message(error.get("message")),
            }),
            Value::String(code) => Some(VendorError {
                code: Some(code.clone()),
                message: message(body.get("error_description")),
            }),
            _ => None,
        }
    }
}

fn code_text(code: &Value) -> Option<String> {
    match code {
        Value::Number(number) => Some(number.to_string()),
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        _ => None,
    }
}

/// True when an update was refused because the tenant changed since it was read: 409, or
/// 400 with code 1001.
pub fn is_version_conflict(response: &HttpResponse) -> bool {
    response.status == 409
        || (response.status == 400
            && VendorError::parse(response).and_then(|e| e.code).as_deref()
                == Some(VERSION_MISMATCH))
}

/// Where a failed request was sent from: a login and an action read 401 differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Logging in: a 401 or 403 means the API client's credentials are no good.
    Login,
    /// Acting on a tenant: a 401 means the session ran out.
    Action,
}

/// The failure a non-2xx answer to the request `doing` (e.g. "reading tenant X") means.
pub fn failure(response: &HttpResponse, doing: &str, phase: Phase) -> Failure {
    let vendor = VendorError::parse(response);
    let credentials_refused = match (response.status, &vendor) {
        (401 | 403, _) => true,
        // OAuth allows 400 for bad client credentials.
        (400, Some(error)) => error.code.as_deref() == Some("invalid_client"),
        _ => false,
    };
    let detail = |summary: String| detail(response, vendor.as_ref(), &summary);
    match (response.status, phase) {
        (_, Phase::Login) if credentials_refused => Failure::Auth(detail(format!(
            "Acronis refused the API client while {doing}: check the client-id and \
             client-secret settings (TENANTCTL_ACRONIS_CLIENT_ID, TENANTCTL_ACRONIS_CLIENT_SECRET) \
             and that the API client is still active"
        ))),
        (401, Phase::Action) => Failure::SessionExpired(detail(format!(
            "Acronis refused the session while {doing}; log in again"
        ))),
        (403, Phase::Action) => Failure::Auth(detail(format!(
            "the API client has no right to this tenant ({doing} was refused): the tenant \
             must lie under the API client's own tenant"
        ))),
        (404, Phase::Action) => Failure::NotFound(detail(format!(
            "not found while {doing}: no such tenant under the API client's tenant; check the id"
        ))),
        (429, _) => Failure::RateLimited(RateLimit {
            detail: detail(format!(
                "Acronis asked to slow down while {doing}; wait and try again"
            )),
            retry_after: response.retry_after(),
        }),
        (415, _) => Failure::Vendor(detail(format!(
            "Acronis refused the content type while {doing}; this is a plugin bug, please report it"
        ))),
        (500.., _) => Failure::Vendor(detail(format!(
            "Acronis had a service problem while {doing}; try again later"
        ))),
        _ => Failure::Vendor(detail(format!("Acronis refused {doing}"))),
    }
}

/// `summary`, then what Acronis answered: its code and message, or an excerpt of a body
/// that is not its error envelope.
fn detail(response: &HttpResponse, vendor: Option<&VendorError>, summary: &str) -> ErrorDetail {
    let status = response.status;
    let mut detail = match vendor {
        Some(VendorError { code, message }) => {
            let code_part = code
                .as_ref()
                .map(|c| format!(", code {c}"))
                .unwrap_or_default();
            let said = message.as_deref().unwrap_or("no message");
            ErrorDetail::new(format!(
                "{summary} (Acronis answered HTTP {status}{code_part}: {said})"
            ))
        }
        None => ErrorDetail::new(format!(
            "{summary} (Acronis answered HTTP {status}: {})",
            response.body_excerpt()
        )),
    }
    .status(status);
    if let Some(code) = vendor.and_then(|v| v.code.clone()) {
        detail = detail.code(code);
    }
    detail
}

/// The vendor failure a 2xx answer reports in the error envelope (some gateways answer
/// 200 with an error body), if it does.
pub fn error_despite_success(response: &HttpResponse, doing: &str) -> Option<Failure> {
    let vendor = VendorError::parse(response)?;
    let summary = format!("Acronis reported an error while {doing}");
    Some(Failure::Vendor(detail(response, Some(&vendor), &summary)))
}

/// Parses a 2xx body as `T`; an error envelope or a body that is not the expected JSON is a
/// vendor failure.
pub fn parse<T: serde::de::DeserializeOwned>(
    response: &HttpResponse,
    doing: &str,
) -> Result<T, Failure> {
    if let Some(failure) = error_despite_success(response, doing) {
        return Err(failure);
    }
    response.json().map_err(|err| {
        Failure::Vendor(ErrorDetail::new(format!("{doing}: {err}")).status(response.status))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenantctl_plugin_sdk::testing::{json_response, text_response};

    fn root(base: &str) -> String {
        Api::new(base).unwrap().root
    }

    #[test]
    fn base_url_is_accepted_with_or_without_api_2_and_trailing_slash() {
        for base in [
            "https://eu2-cloud.acronis.com",
            "https://eu2-cloud.acronis.com/",
            "https://eu2-cloud.acronis.com/api/2",
            "https://eu2-cloud.acronis.com/api/2/",
            "  https://eu2-cloud.acronis.com//api/2// ",
        ] {
            assert_eq!(root(base), "https://eu2-cloud.acronis.com/api/2", "{base}");
        }
        assert_eq!(
            root("http://127.0.0.1:8080/proxy/api/2"),
            "http://127.0.0.1:8080/proxy/api/2"
        );
        // Only a whole trailing `/api/2` is the API root.
        assert_eq!(root("https://h/api/20"), "https://h/api/20/api/2");
    }

    #[test]
    fn empty_base_url_is_invalid_input() {
        for base in ["", " ", "/", "/api/2/"] {
            assert!(
                matches!(Api::new(base), Err(Failure::InvalidInput(_))),
                "{base:?}"
            );
        }
    }

    #[test]
    fn tenant_ids_are_letters_digits_and_dashes() {
        assert!(check_tenant_id("0fcd4a69-8a40-4de8-b711-d9c83dc000f7").is_ok());
        assert!(check_tenant_id("ABC123").is_ok());
        for bad in ["", "a/b", "../x", "a b", "a?b=c", "a%2F", "é", "a_b", "a.b"] {
            assert!(
                matches!(check_tenant_id(bad), Err(Failure::InvalidInput(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn client_id_is_percent_encoded_in_the_path() {
        let request = Api::new("https://h").unwrap().client("t", "a b/c?d");
        assert_eq!(request.url, "https://h/api/2/clients/a%20b%2Fc%3Fd");
    }

    #[test]
    fn vendor_error_reads_the_envelope_with_int_or_string_code() {
        let int = json_response(
            409,
            serde_json::json!({"error": {"code": 1001, "message": "Version mismatch",
                "details": {}, "context": {}, "domain": "PlatformAccountServer"}}),
        );
        assert_eq!(
            VendorError::parse(&int),
            Some(VendorError {
                code: Some("1001".into()),
                message: Some("Version mismatch".into())
            })
        );
        let string = json_response(400, serde_json::json!({"error": {"code": "1001"}}));
        assert_eq!(
            VendorError::parse(&string).unwrap().code.as_deref(),
            Some("1001")
        );
    }

    #[test]
    fn vendor_error_reads_the_oauth_shape() {
        let response = json_response(
            401,
            serde_json::json!({"error": "invalid_client", "error_description": "bad secret"}),
        );
        assert_eq!(
            VendorError::parse(&response),
            Some(VendorError {
                code: Some("invalid_client".into()),
                message: Some("bad secret".into())
            })
        );
    }

    #[test]
    fn vendor_error_is_none_for_other_bodies() {
        assert_eq!(
            VendorError::parse(&text_response(502, "text/html", "<html>Bad gateway</html>")),
            None
        );
        assert_eq!(
            VendorError::parse(&json_response(500, serde_json::json!({"oops": 1}))),
            None
        );
    }

    #[test]
    fn version_conflict_is_409_or_400_with_code_1001() {
        assert!(is_version_conflict(&json_response(
            409,
            serde_json::json!({})
        )));
        assert!(is_version_conflict(&json_response(
            400,
            serde_json::json!({"error": {"code": 1001}})
        )));
        assert!(is_version_conflict(&json_response(
            400,
            serde_json::json!({"error": {"code": "1001"}})
        )));
        assert!(!is_version_conflict(&json_response(
            400,
            serde_json::json!({"error": {"code": 1002}})
        )));
        assert!(!is_version_conflict(&text_response(
            400,
            "text/plain",
            "1001"
        )));
    }

    #[test]
    fn token_expiry_is_clamped_and_falls_back_to_expires_in() {
        let token = |body: Value| serde_json::from_value::<Token>(body).unwrap();
        assert_eq!(
            token(serde_json::json!({"expires_on": 1_700_000_000})).expires_at(5),
            Some(1_700_000_000)
        );
        assert_eq!(
            token(serde_json::json!({"expires_on": 99_999_999_999u64})).expires_at(5),
            Some(u32::MAX)
        );
        assert_eq!(
            token(serde_json::json!({"expires_on": "1700000000"})).expires_at(5),
            Some(1_700_000_000)
        );
        assert_eq!(
            token(serde_json::json!({"expires_on": 1.7e9})).expires_at(5),
            Some(1_700_000_000)
        );
        assert_eq!(
            token(serde_json::json!({"expires_in": 7200})).expires_at(100),
            Some(7300)
        );
        assert_eq!(
            token(serde_json::json!({"expires_on": -5})).expires_at(100),
            None
        );
        assert_eq!(token(serde_json::json!({})).expires_at(100), None);
    }

    #[test]
    fn search_items_tolerate_odd_fields() {
        let answer: SearchAnswer = serde_json::from_value(serde_json::json!({"items": [
            {"obj_type": "user", "id": 42, "name": null, "path": ["a", "b"]},
            {"obj_type": "tenant", "id": "t1", "name": "Acme", "kind": "customer"},
        ]}))
        .unwrap();
        assert_eq!(answer.items[0].id, "42");
        assert_eq!(answer.items[0].name, "");
        assert_eq!(answer.items[1].kind, "customer");
    }
}
