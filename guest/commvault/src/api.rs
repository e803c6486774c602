//! The Commvault web service as this plugin speaks it: URLs, requests, the JSON shapes of
//! its answers and how its errors map onto [`Failure`].
//!
//! Every shape is read leniently: a field that is missing or has an unexpected type reads
//! as absent instead of failing the whole answer, because Commvault versions differ.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use tenantctl_plugin_sdk::{
    Context, Effect, ErrorDetail, Failure, HttpRequest, HttpResponse, RateLimit, base64_encode,
};

/// The web service root (`https://host/commandcenter/api`) from the configured base URL,
/// without trailing slashes.
pub(crate) fn webservice(ctx: &Context) -> Result<String, Failure> {
    let base = ctx.base_url.trim().trim_end_matches('/');
    if base.is_empty() {
        return Err(Failure::InvalidInput(ErrorDetail::new(
            "the Commvault web service URL is not set; give it with --url or \
             TENANTCTL_COMMVAULT_URL, e.g. https://<host>/commandcenter/api",
        )));
    }
    Ok(base.to_string())
}

/// `POST <webservice>/Login` with the user name and the base64 of the UTF-8 password.
pub(crate) fn login_request(webservice: &str, username: &str, password: &str) -> HttpRequest {
    #[derive(Serialize)]
    struct Login<'a> {
        username: &'a str,
        password: String,
    }
    HttpRequest::post(format!("{webservice}/Login"))
        .header("Accept", "application/json")
        .json(&Login {
            username,
            password: base64_encode(password.as_bytes()),
        })
        .secret_body()
        .effect(Effect::Read)
}

/// A request to `<webservice>/<path>` carrying the session's token.
fn authed(request: HttpRequest, token: &str) -> HttpRequest {
    request
        .header("Accept", "application/json")
        .secret_header("Authtoken", token)
}

/// `GET <webservice>/Organization`: every company the user can see.
pub(crate) fn list_request(webservice: &str, token: &str) -> HttpRequest {
    authed(
        HttpRequest::get(format!("{webservice}/Organization")),
        token,
    )
}

/// `GET <webservice>/Organization/{id}`: one company with its deactivation state.
pub(crate) fn read_request(webservice: &str, token: &str, id: u64) -> HttpRequest {
    authed(
        HttpRequest::get(format!("{webservice}/Organization/{id}")),
        token,
    )
}

/// `POST <webservice>/Organization/{id}/action/deactivate`, disabling backup, restore and
/// login. Sending it twice leaves the company as sending it once does.
pub(crate) fn deactivate_request(webservice: &str, token: &str, id: u64) -> HttpRequest {
    let body = serde_json::json!({
        "deactivateOptions": {
            "disableBackup": true,
            "disableRestore": true,
            "disableLogin": true,
        }
    });
    authed(
        HttpRequest::post(format!("{webservice}/Organization/{id}/action/deactivate")),
        token,
    )
    .json(&body)
    .effect(Effect::IdempotentWrite)
}

/// `POST <webservice>/Organization/{id}/action/activate` (no body).
pub(crate) fn activate_request(webservice: &str, token: &str, id: u64) -> HttpRequest {
    authed(
        HttpRequest::post(format!("{webservice}/Organization/{id}/action/activate")),
        token,
    )
    .effect(Effect::IdempotentWrite)
}

/// `POST <webservice>/Tenant/Offboard` for the company `id`. Repeating it re-applies the
/// same changes, so it is an idempotent write.
pub(crate) fn offboard_request(webservice: &str, token: &str, id: u64) -> HttpRequest {
    authed(
        HttpRequest::post(format!("{webservice}/Tenant/Offboard")),
        token,
    )
    .json(&serde_json::json!({ "tenantId": id }))
    .effect(Effect::IdempotentWrite)
}

/// An organization id as given by the operator: a positive decimal integer.
pub(crate) fn parse_id(raw: &str) -> Result<u64, Failure> {
    let trimmed = raw.trim();
    let id = if trimmed.bytes().all(|b| b.is_ascii_digit()) {
        trimmed.parse::<u64>().ok().filter(|id| *id > 0)
    } else {
        None
    };
    id.ok_or_else(|| {
        Failure::InvalidInput(ErrorDetail::new(format!(
            "`{raw}` is not a Commvault company id: ids are positive whole numbers (the \
             organization's shortName.id); use --tenant-name to select a company by name"
        )))
    })
}

/// Deserializes a field as `Some` when it has the expected type and `None` otherwise,
/// instead of rejecting the whole answer.
fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

/// A number Commvault sends either as a JSON number or as a string (`errorCode`, ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Code(String);

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::Number(number) => Ok(Code(number.to_string())),
            serde_json::Value::String(text) if !text.trim().is_empty() => {
                Ok(Code(text.trim().to_string()))
            }
            _ => Err(serde::de::Error::custom("not a number or a numeric string")),
        }
    }
}

impl Code {
    /// True for `0`, Commvault's "no error".
    fn is_zero(&self) -> bool {
        self.0.parse::<f64>().is_ok_and(|code| code == 0.0)
    }

    /// The value as an organization id, when it is a positive integer.
    fn as_id(&self) -> Option<u64> {
        self.0.parse::<u64>().ok().filter(|id| *id > 0)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `response` is an object on the organization actions and a list on some other calls.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(Box<T>),
    Many(Vec<T>),
}

/// The error fields Commvault puts in its answers, in the places it puts them:
/// `{"errorCode", "errorMessage"}` at the top, `{"response": {"errorCode", "errorString"}}`
/// and `{"error": {"errorMessage"}}` on the organization actions.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Reply {
    #[serde(deserialize_with = "lenient")]
    error_code: Option<Code>,
    #[serde(deserialize_with = "lenient")]
    error_message: Option<String>,
    #[serde(deserialize_with = "lenient")]
    error_string: Option<String>,
    #[serde(deserialize_with = "lenient")]
    response: Option<OneOrMany<Reply>>,
    #[serde(deserialize_with = "lenient")]
    error: Option<Box<Reply>>,
}

impl Reply {
    fn parse(response: &HttpResponse) -> Option<Reply> {
        serde_json::from_slice(&response.body).ok()
    }

    fn responses(&self) -> &[Reply] {
        match &self.response {
            Some(OneOrMany::One(one)) => std::slice::from_ref(one.as_ref()),
            Some(OneOrMany::Many(many)) => many,
            None => &[],
        }
    }

    /// Every error code in the answer, the most specific first.
    fn codes(&self) -> impl Iterator<Item = &Code> {
        self.responses()
            .iter()
            .filter_map(|reply| reply.error_code.as_ref())
            .chain(self.error_code.as_ref())
            .chain(
                self.error
                    .iter()
                    .filter_map(|error| error.error_code.as_ref()),
            )
    }

    /// The first non-zero error code, if any.
    fn failed_code(&self) -> Option<&Code> {
        self.codes().find(|code| !code.is_zero())
    }

    /// The vendor's message, from wherever it put one.
    fn message(&self) -> Option<&str> {
        let own = [&self.error_message, &self.error_string];
        let nested = self
            .error
            .iter()
            .flat_map(|error| [&error.error_message, &error.error_string]);
        let responses = self
            .responses()
            .iter()
            .flat_map(|reply| [&reply.error_string, &reply.error_message]);
        nested
            .chain(responses)
            .chain(own)
            .filter_map(|message| message.as_deref())
            .map(str::trim)
            .find(|message| !message.is_empty())
    }

    /// `error 2: Organization not found`, or whichever half is known.
    fn describe(&self, code: Option<&Code>) -> Option<String> {
        match (code, self.message()) {
            (Some(code), Some(message)) => Some(format!("error {code}: {message}")),
            (Some(code), None) => Some(format!("error {code}")),
            (None, Some(message)) => Some(message.to_string()),
            (None, None) => None,
        }
    }
}

/// What a non-2xx answer to an action's request means, for the step described by `doing`
/// (e.g. `reading company 42`).
pub(crate) fn failure(response: &HttpResponse, doing: &str) -> Failure {
    let status = response.status;
    let reply = Reply::parse(response).unwrap_or_default();
    let code = reply.codes().next().cloned();
    let said = reply
        .describe(code.as_ref())
        .unwrap_or_else(|| response.body_excerpt());
    let detail = |message: String| {
        let detail = ErrorDetail::new(message).status(status);
        match &code {
            Some(code) => detail.code(code),
            None => detail,
        }
    };
    match status {
        401 => Failure::SessionExpired(detail(format!(
            "Commvault refused the session token while {doing} (HTTP 401, {said}); \
             tenantctl logs in again"
        ))),
        403 => Failure::Auth(detail(format!(
            "Commvault denied access while {doing} (HTTP 403, {said}); give the configured \
             user a role with rights on the company"
        ))),
        404 => Failure::NotFound(detail(format!(
            "Commvault found nothing while {doing} (HTTP 404, {said}); check the company id \
             and the web service URL"
        ))),
        429 => {
            let limits = [
                ("X-RateLimit-Limit", "limit"),
                ("X-RateLimit-Period", "period"),
            ]
            .iter()
            .filter_map(|(header, label)| {
                response
                    .header(header)
                    .map(|value| format!("{label} {}", value.trim()))
            })
            .collect::<Vec<_>>();
            let limits = if limits.is_empty() {
                String::new()
            } else {
                format!("; rate limit: {}", limits.join(", "))
            };
            let retry_after = response.retry_after();
            let wait = match retry_after {
                Some(seconds) => format!("retry after {seconds} s"),
                None => "retry later".to_string(),
            };
            Failure::RateLimited(RateLimit {
                detail: detail(format!(
                    "Commvault rate-limited the request while {doing} (HTTP 429, \
                     {said}{limits}); {wait}"
                )),
                retry_after,
            })
        }
        _ => Failure::Vendor(detail(format!(
            "Commvault answered HTTP {status} while {doing}: {said}"
        ))),
    }
}

/// A 2xx answer whose body cannot be read, for the step described by `doing`.
fn unreadable(response: &HttpResponse, doing: &str, expected: &str) -> Failure {
    Failure::Vendor(
        ErrorDetail::new(format!(
            "Commvault answered HTTP {} while {doing} without {expected}: {}",
            response.status,
            response.body_excerpt()
        ))
        .status(response.status),
    )
}

/// A 2xx answer that carries a non-zero `errorCode`, if it does: a vendor failure.
fn reported_failure(response: &HttpResponse, reply: &Reply, doing: &str) -> Option<Failure> {
    let code = reply.failed_code()?;
    let said = reply.describe(Some(code)).unwrap_or_default();
    Some(Failure::Vendor(
        ErrorDetail::new(format!(
            "Commvault reported a failure while {doing} (HTTP {}, {said})",
            response.status
        ))
        .status(response.status)
        .code(code),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct LoginReply {
    #[serde(deserialize_with = "lenient")]
    token: Option<String>,
    #[serde(deserialize_with = "lenient")]
    err_list: Option<Vec<LoginError>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct LoginError {
    #[serde(deserialize_with = "lenient")]
    error_code: Option<Code>,
    #[serde(deserialize_with = "lenient")]
    err_log_message: Option<String>,
    #[serde(deserialize_with = "lenient")]
    error_message: Option<String>,
}

/// The token from the answer to [`login_request`], or why there is none.
pub(crate) fn parse_login(response: &HttpResponse, username: &str) -> Result<String, Failure> {
    let status = response.status;
    let check = "check TENANTCTL_COMMVAULT_USERNAME and TENANTCTL_COMMVAULT_PASSWORD";
    if !response.is_success() {
        let reply = Reply::parse(response).unwrap_or_default();
        let code = reply.codes().next().cloned();
        let said = reply
            .describe(code.as_ref())
            .unwrap_or_else(|| response.body_excerpt());
        let detail = |message: String| {
            let detail = ErrorDetail::new(message).status(status);
            match &code {
                Some(code) => detail.code(code),
                None => detail,
            }
        };
        return Err(match status {
            401 | 403 => Failure::Auth(detail(format!(
                "Commvault refused the login of user `{username}` (HTTP {status}, {said}); \
                 {check}"
            ))),
            // The login needs no tenant, so 404 means the URL does not lead to the web service.
            404 => Failure::Vendor(detail(format!(
                "Commvault has no login at this URL (HTTP 404, {said}); the web service URL \
                 usually ends in /commandcenter/api or /webconsole/api"
            ))),
            _ => failure(response, &format!("logging in as `{username}`")),
        });
    }
    let reply: LoginReply = serde_json::from_slice(&response.body)
        .map_err(|_| unreadable(response, "logging in", "a JSON login answer"))?;
    if let Some(token) = reply.token.filter(|token| !token.trim().is_empty()) {
        return Ok(token);
    }
    let first = reply.err_list.unwrap_or_default().into_iter().next();
    let code = first.as_ref().and_then(|error| error.error_code.clone());
    let message = first
        .and_then(|error| error.err_log_message.or(error.error_message))
        .filter(|message| !message.trim().is_empty())
        .or_else(|| Reply::parse(response).and_then(|reply| reply.message().map(str::to_string)));
    let said = match (&code, &message) {
        (Some(code), Some(message)) => format!("error {code}: {message}"),
        (Some(code), None) => format!("error {code}"),
        (None, Some(message)) => message.clone(),
        (None, None) => "no token in the answer".to_string(),
    };
    let detail = ErrorDetail::new(format!(
        "Commvault refused the login of user `{username}` (HTTP {status}, {said}); {check}"
    ))
    .status(status);
    Err(Failure::Auth(match code {
        Some(code) => detail.code(code),
        None => detail,
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct OrganizationList {
    #[serde(deserialize_with = "lenient")]
    providers: Option<Vec<Provider>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Provider {
    #[serde(deserialize_with = "lenient")]
    connect_name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    short_name: Option<ShortName>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ShortName {
    #[serde(deserialize_with = "lenient")]
    id: Option<Code>,
}

/// A company in the list `GET Organization` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    /// Its organization id, if the entry had a usable one.
    pub id: Option<u64>,
    /// Its name (`connectName`).
    pub name: String,
}

/// The companies in a 2xx answer to [`list_request`]. A missing or empty `providers` is
/// an empty list.
pub(crate) fn parse_list(response: &HttpResponse) -> Result<Vec<Listed>, Failure> {
    let doing = "listing companies";
    // An account with no companies may answer with an empty body or `null`.
    let reply: serde_json::Value = if response.body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&response.body)
            .map_err(|_| unreadable(response, doing, "a JSON list of companies"))?
    };
    let providers = match reply {
        serde_json::Value::Null => Vec::new(),
        serde_json::Value::Object(_) => {
            let parsed = Reply::deserialize(&reply).unwrap_or_default();
            if let Some(failure) = reported_failure(response, &parsed, doing) {
                return Err(failure);
            }
            OrganizationList::deserialize(&reply)
                .unwrap_or_default()
                .providers
                .unwrap_or_default()
        }
        _ => return Err(unreadable(response, doing, "a JSON object of companies")),
    };
    Ok(providers
        .into_iter()
        .map(|provider| Listed {
            id: provider
                .short_name
                .and_then(|short| short.id)
                .and_then(|id| id.as_id()),
            name: provider.connect_name.unwrap_or_default(),
        })
        .collect())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct OrganizationDetails {
    #[serde(deserialize_with = "lenient")]
    organization_info: Option<OrganizationInfo>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct OrganizationInfo {
    #[serde(deserialize_with = "lenient")]
    organization: Option<Organization>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Organization {
    #[serde(deserialize_with = "lenient")]
    connect_name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    short_name: Option<ShortName>,
    #[serde(deserialize_with = "lenient")]
    deactivate_options: Option<DeactivateOptions>,
}

/// Which parts of a company are switched off (`deactivateOptions`); a missing flag is off.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DeactivateOptions {
    /// Backups are disabled.
    #[serde(deserialize_with = "lenient_flag")]
    pub disable_backup: bool,
    /// Restores are disabled.
    #[serde(deserialize_with = "lenient_flag")]
    pub disable_restore: bool,
    /// The company's users cannot log in.
    #[serde(deserialize_with = "lenient_flag")]
    pub disable_login: bool,
}

/// A flag that is true only when it says so: `true` or `"true"`; anything else is false.
fn lenient_flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Bool(flag) => flag,
        serde_json::Value::String(text) => text.trim().eq_ignore_ascii_case("true"),
        serde_json::Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0),
        _ => false,
    })
}

/// Where a company stands, from its [`DeactivateOptions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    /// Nothing is disabled.
    Active,
    /// Backup, restore and login are all disabled.
    Deactivated,
    /// Some but not all are disabled.
    Partly,
}

impl DeactivateOptions {
    /// The company's standing.
    pub(crate) fn standing(&self) -> Standing {
        match (
            self.disable_backup,
            self.disable_restore,
            self.disable_login,
        ) {
            (false, false, false) => Standing::Active,
            (true, true, true) => Standing::Deactivated,
            _ => Standing::Partly,
        }
    }

    /// True only for an active company; a partly deactivated one counts as disabled.
    pub(crate) fn enabled(&self) -> bool {
        self.standing() == Standing::Active
    }

    /// `backup and login are disabled, restore is not`, for a partly deactivated company.
    pub(crate) fn describe_parts(&self) -> String {
        let parts = [
            ("backup", self.disable_backup),
            ("restore", self.disable_restore),
            ("login", self.disable_login),
        ];
        let list = |disabled: bool| {
            let names: Vec<&str> = parts
                .iter()
                .filter(|(_, flag)| *flag == disabled)
                .map(|(name, _)| *name)
                .collect();
            (names.join(" and "), names.len())
        };
        let (off, off_count) = list(true);
        let (on, on_count) = list(false);
        let (are, is) = (
            if off_count > 1 { "are" } else { "is" },
            if on_count > 1 { "are" } else { "is" },
        );
        format!("{off} {are} disabled, {on} {is} not")
    }
}

/// A company read with [`read_request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Company {
    /// The organization id, when the answer carried one.
    pub id: Option<u64>,
    /// The company name (`connectName`), when the answer carried one.
    pub name: Option<String>,
    /// What is switched off.
    pub options: DeactivateOptions,
}

/// The company in a 2xx answer to [`read_request`].
pub(crate) fn parse_company(response: &HttpResponse, id: u64) -> Result<Company, Failure> {
    let doing = format!("reading company {id}");
    let reply: serde_json::Value = serde_json::from_slice(&response.body)
        .map_err(|_| unreadable(response, &doing, "the company as JSON"))?;
    let organization = OrganizationDetails::deserialize(&reply)
        .ok()
        .and_then(|details| details.organization_info)
        .and_then(|info| info.organization);
    let Some(organization) = organization else {
        let parsed = Reply::deserialize(&reply).unwrap_or_default();
        return Err(match reported_failure(response, &parsed, &doing) {
            // Some versions report an unknown id as HTTP 200 with an error body.
            Some(Failure::Vendor(detail))
                if parsed
                    .message()
                    .is_some_and(|message| message.to_lowercase().contains("not found")) =>
            {
                Failure::NotFound(detail)
            }
            Some(failure) => failure,
            None => unreadable(response, &doing, "organizationInfo.organization"),
        });
    };
    Ok(Company {
        id: organization
            .short_name
            .and_then(|short| short.id)
            .and_then(|id| id.as_id()),
        name: organization
            .connect_name
            .filter(|name| !name.trim().is_empty()),
        options: organization.deactivate_options.unwrap_or_default(),
    })
}

/// Reads a 2xx answer to an organization action or to offboarding: `Ok` with the vendor's
/// message (if any) when it reports success, the vendor's failure when its `errorCode` is
/// not 0. An empty body reports no error, so it counts as success.
pub(crate) fn parse_write(response: &HttpResponse, doing: &str) -> Result<Option<String>, Failure> {
    if response.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let reply: Reply = serde_json::from_slice(&response.body).map_err(|_| {
        unreadable(
            response,
            doing,
            "a JSON answer saying whether it succeeded; check the company in the Command \
             Center",
        )
    })?;
    if let Some(failure) = reported_failure(response, &reply, doing) {
        return Err(failure);
    }
    Ok(reply.message().map(str::to_string))
}
