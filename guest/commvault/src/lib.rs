//! tenantctl plugin for Commvault (REST API of the Command Center web service).
//!
//! Logs in with a user name and password (`POST Login`), finds a company by id or by
//! case-insensitive name (`GET Organization`, cached for the batch), reads its deactivation
//! state (`GET Organization/{id}`), and deactivates, activates, offboards or deletes it;
//! lists every company (`GET Organization?start=&limit=`). Every write is decided from a
//! fresh read and declared with its intent before it is sent. Commvault reports most
//! failures as HTTP 200 with a non-zero `errorCode`; every answer is read for one.

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tenantctl_plugin_sdk::*;

/// The Commvault plugin.
pub struct Commvault;

/// How long the host may share the company list among name lookups of one account.
pub const NAME_CACHE_SECS: u32 = 60;
/// Companies per listing page.
pub const PAGE_LIMIT: u32 = 1000;

/// What offboarding did, for every successful offboard.
pub const OFFBOARD_NOTE: &str = "Offboarding removed every user of the company as owner of \
    their clients and disabled backup on their subclients and VM clients. The company itself \
    is not deactivated (use `disable` for that), and tenantctl cannot undo the offboarding.";
/// What a delete whose company was already gone reports.
pub const GONE_NOTE: &str = "The company was already gone when the delete arrived (deleted \
    meanwhile, or by a repeat of this request).";
/// What deleting did.
pub const DELETED_NOTE: &str = "The company is deleted; Commvault marks its clients for \
    deletion and cleans up over about a day. tenantctl cannot undo it.";

const CHECK: &str = "check TENANTCTL_COMMVAULT_USERNAME and TENANTCTL_COMMVAULT_PASSWORD";

const VENDOR: Vendor = Vendor {
    name: "Commvault",
    error: reply_error,
    hints: &[
        (
            403,
            "give the configured user a role with rights on the company",
        ),
        (404, "if no id works, check the web service URL"),
    ],
    url_hint: "https://<host>/commandcenter/api (older installs: https://<host>/webconsole/api)",
};

const NAMES: Names = Names::ignoring_case("Commvault company");

/// True for `0`, `"0"` or `0.0`: Commvault's "no error".
fn is_zero(code: &str) -> bool {
    code.parse::<f64>().is_ok_and(|code| code == 0.0)
}

/// The failure an answer reports, wherever Commvault put it: the first non-zero code of
/// `response.errorCode`, `errorCode`, `error.errorCode`, with the first message of
/// `error.errorMessage`, `error.errorString`, `response.errorString`, `response.errorMessage`,
/// `errorMessage`, `errorString`.
fn reply_error(body: &Value) -> Option<VendorError> {
    let responses: Vec<&Value> = match body.get("response") {
        Some(Value::Array(many)) => many.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    };
    let error = body.get("error").filter(|e| e.is_object());
    let code = (responses.iter().filter_map(|r| r.get("errorCode")))
        .chain(body.get("errorCode"))
        .chain(error.and_then(|e| e.get("errorCode")))
        .filter_map(json_text)
        .find(|code| !is_zero(code))?;
    Some(VendorError {
        code: Some(code),
        message: message(body),
        retry_after: None,
    })
}

/// The vendor's message, from wherever it put one.
fn message(body: &Value) -> Option<String> {
    let responses: Vec<&Value> = match body.get("response") {
        Some(Value::Array(many)) => many.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    };
    let error = body.get("error").into_iter();
    let nested = error.flat_map(|e| [e.get("errorMessage"), e.get("errorString")]);
    let replies = responses
        .iter()
        .flat_map(|r| [r.get("errorString"), r.get("errorMessage")]);
    let own = [body.get("errorMessage"), body.get("errorString")];
    nested
        .chain(replies)
        .chain(own)
        .flatten()
        .find_map(json_text)
}

/// An organization id as given by the operator: a positive decimal integer.
pub fn parse_id(raw: &str) -> Result<u64, Failure> {
    let trimmed = raw.trim();
    let id = (!trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()))
        .then(|| trimmed.parse::<u64>().ok())
        .flatten()
        .filter(|id| *id > 0);
    id.ok_or_else(|| {
        Failure::InvalidInput(ErrorDetail::new(format!(
            "`{raw}` is not a Commvault company id: ids are positive whole numbers (the \
             organization's shortName.id); use --tenant-name to select a company by name"
        )))
    })
}

/// The organization id in `shortName.id` (a number or a numeric string), if usable.
fn short_id(entry: &Value) -> Option<u64> {
    let id = entry.pointer("/shortName/id").and_then(json_text)?;
    id.parse::<u64>().ok().filter(|id| *id > 0)
}

/// Which parts of a company are switched off (`deactivateOptions`); a missing flag is off.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DeactivateOptions {
    /// Backups are disabled.
    #[serde(deserialize_with = "lenient::flag")]
    pub disable_backup: bool,
    /// Restores are disabled.
    #[serde(deserialize_with = "lenient::flag")]
    pub disable_restore: bool,
    /// The company's users cannot log in.
    #[serde(deserialize_with = "lenient::flag")]
    pub disable_login: bool,
}

impl DeactivateOptions {
    /// Active when nothing is disabled, deactivated when all is, partly otherwise.
    pub fn standing(&self) -> Standing {
        let parts = [
            ("backup", self.disable_backup),
            ("restore", self.disable_restore),
            ("login", self.disable_login),
        ];
        let named = |disabled: bool| {
            let names: Vec<&str> = (parts.iter().filter(|(_, off)| *off == disabled))
                .map(|(name, _)| *name)
                .collect();
            let verb = if names.len() > 1 { "are" } else { "is" };
            (names.join(" and "), verb)
        };
        match parts.iter().filter(|(_, off)| *off).count() {
            0 => Standing::Enabled,
            3 => Standing::Disabled,
            _ => {
                let ((off, are), (on, is)) = (named(true), named(false));
                Standing::Partly(format!("{off} {are} disabled, {on} {is} not"))
            }
        }
    }
}

/// A company as `GET Organization/{id}` describes it.
#[derive(Debug, Serialize, Deserialize)]
struct Company {
    name: Option<String>,
    options: DeactivateOptions,
}

/// Requests to the web service with the session's token.
struct Api {
    webservice: String,
    token: String,
}

impl Api {
    fn new(ctx: &Context, token: &str) -> Result<Self, Failure> {
        let webservice = ctx.base("", "https://<host>/commandcenter/api")?;
        let token = token.to_string();
        Ok(Api { webservice, token })
    }

    fn request(&self, request: HttpRequest) -> HttpRequest {
        request
            .header("Accept", "application/json")
            .secret_header("Authtoken", &self.token)
    }

    fn get(&self, path: &str) -> HttpRequest {
        self.request(HttpRequest::get(format!("{}/{path}", self.webservice)))
    }

    /// A write: sending it twice leaves the company as sending it once does (deactivate
    /// and activate set a state, offboarding re-applies the same changes, a second delete
    /// finds the company gone).
    fn write(&self, request: HttpRequest) -> HttpRequest {
        self.request(request).effect(Effect::IdempotentWrite)
    }

    fn action(&self, id: &str, action: Action) -> HttpRequest {
        let (ws, org) = (&self.webservice, format!("Organization/{id}"));
        let deactivate = json!({"deactivateOptions":
            {"disableBackup": true, "disableRestore": true, "disableLogin": true}});
        self.write(match action {
            Action::Disable => {
                HttpRequest::post(format!("{ws}/{org}/action/deactivate")).json(&deactivate)
            }
            Action::Enable => HttpRequest::post(format!("{ws}/{org}/action/activate")),
            Action::Offboard => HttpRequest::post(format!("{ws}/Tenant/Offboard"))
                .json(&json!({ "tenantId": id.parse::<u64>().unwrap_or_default() })),
            _ => HttpRequest::delete(format!("{ws}/{org}")),
        })
    }
}

impl Plugin for Commvault {
    fn describe() -> PluginInfo {
        PluginInfo {
            vendor: "commvault".to_string(),
            display_name: "Commvault".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            contract: CONTRACT_VERSION.to_string(),
            url_hint: VENDOR.url_hint.to_string(),
            actions: vec![
                ActionInfo::new(
                    Action::Status,
                    "Shows whether the company is active, deactivated or partly deactivated \
                     (backup, restore and login each on or off); changes nothing.",
                    false,
                ),
                ActionInfo::new(
                    Action::Disable,
                    "Deactivates the company: disables backup, restore and login for it. \
                     Reversible with `enable`.",
                    false,
                ),
                ActionInfo::new(
                    Action::Enable,
                    "Activates a deactivated or partly deactivated company: backup, restore \
                     and login work again.",
                    false,
                ),
                ActionInfo::new(
                    Action::Offboard,
                    "Offboards the company (Tenant/Offboard): removes every user of the \
                     company as owner of their clients and disables backup on their \
                     subclients and VM clients. Does not deactivate the company. tenantctl \
                     cannot undo it.",
                    true,
                ),
                ActionInfo::new(
                    Action::Delete,
                    "Deletes a fully deactivated company; its clients are marked for deletion. \
                     tenantctl cannot undo it.",
                    true,
                ),
                ActionInfo::new(Action::List, "Lists every company the user can see.", false),
            ],
            config: vec![
                ConfigField::required(
                    "username",
                    "The Commvault user that logs in to the web service, e.g. an MSP \
                     administrator with rights on the companies to manage.",
                    false,
                ),
                ConfigField::required("password", "That user's password.", true),
            ],
        }
    }

    fn login(io: &mut Io, ctx: &Context) -> Flow<Session> {
        let webservice = ctx.base("", "https://<host>/commandcenter/api")?;
        let (username, password) = (ctx.require("username")?, ctx.require("password")?);
        let request = HttpRequest::post(format!("{webservice}/Login"))
            .header("Accept", "application/json")
            .json(&json!({"username": username, "password": base64_encode(password)}))
            .secret_body();
        let token = io.read(request, |r| login_token(r, username))?;
        // Tokens expire after 30 minutes of inactivity, not at a fixed time; the host
        // renews the session when a request answers 401.
        Ok(Session::new(token, None, &()))
    }

    fn act(
        io: &mut Io,
        ctx: &Context,
        session: &Session,
        action: Action,
        tenant: &TenantSelector,
    ) -> Flow<Outcome> {
        let api = Api::new(ctx, &session.token)?;
        let found = match tenant {
            TenantSelector::Id(raw) => Found::id(parse_id(raw)?.to_string()),
            TenantSelector::Name(name) => {
                let companies = api.get("Organization").cache_for(NAME_CACHE_SECS);
                io.find(&NAMES, name.trim(), companies, candidates)?
            }
        };
        let id = &found.id;
        let doing = format!("reading company {id}");
        let company = io.read(api.get(&format!("Organization/{id}")), |r| {
            company(r, &doing)
        })?;
        let tenant = found.tenant(company.name.as_deref());
        let standing = company.options.standing();
        let partly = match &standing {
            Standing::Partly(parts) => Some(format!("Partly deactivated when read: {parts}.")),
            _ => None,
        };
        let (outcome, said) = match io.decide(action, &tenant, standing) {
            Decision::Done(outcome) => (outcome, None),
            Decision::Write(change) => {
                let verb = match action {
                    Action::Disable => "deactivating",
                    Action::Enable => "activating",
                    Action::Offboard => "offboarding",
                    _ => "deleting",
                };
                let doing = format!("{verb} company `{}` ({id})", tenant.name);
                let said = io.write(api.action(id, action), change.intent(), |r| {
                    if action == Action::Delete && r.status == 404 {
                        return Ok(Some(GONE_NOTE.to_string()));
                    }
                    if !r.is_success() {
                        return Err(VENDOR.failure(r, &doing));
                    }
                    let body: Value = match r.is_empty() {
                        true => Value::Null,
                        false => VENDOR.json(r, &doing)?,
                    };
                    let worth_saying = matches!(action, Action::Offboard | Action::Delete);
                    let said = message(&body).filter(|_| worth_saying);
                    Ok(said.map(|said| format!("Commvault said: {said}")))
                })?;
                (change.done(), said)
            }
        };
        let note = match (action, outcome.changed, outcome.error.is_some()) {
            (_, _, true) => None,
            (Action::Status, ..) => partly
                .is_some()
                .then_some("`disable` completes the deactivation; `enable` activates the company."),
            (Action::Disable, false, _) => {
                Some("The company is already deactivated: backup, restore and login are disabled.")
            }
            (Action::Enable, false, _) => Some("The company is already active."),
            (Action::Disable, ..) => {
                Some("The company is deactivated: backup, restore and login are disabled.")
            }
            (Action::Enable, ..) => {
                Some("The company is active: backup, restore and login are enabled.")
            }
            (Action::Offboard, ..) => Some(OFFBOARD_NOTE),
            _ => Some(DELETED_NOTE),
        };
        let notes = partly
            .into_iter()
            .chain(note.map(str::to_string))
            .chain(said);
        Ok(notes.fold(outcome, Outcome::note))
    }

    fn list(io: &mut Io, ctx: &Context, session: &Session) -> Flow<Listing> {
        let api = Api::new(ctx, &session.token)?;
        let page = |start: &u32| api.get(&format!("Organization?start={start}&limit={PAGE_LIMIT}"));
        io.pages(0u32, page, |start, r| {
            let body: Value = VENDOR.json(r, "listing companies")?;
            let providers = match body.get("providers") {
                Some(Value::Array(providers)) => providers.as_slice(),
                _ => &[],
            };
            let tenants = (providers.iter())
                .filter_map(|p| {
                    let name = p.get("connectName").and_then(json_text).unwrap_or_default();
                    let enabled = match p.get("status").and_then(json_text).as_deref() {
                        Some(s) if s.eq_ignore_ascii_case("ACTIVE") => Some(true),
                        Some(s) if s.eq_ignore_ascii_case("DEACTIVATED") => Some(false),
                        _ => None,
                    };
                    Some(ListedTenant::new(short_id(p)?.to_string(), name, enabled))
                })
                .collect();
            let seen = u64::from(*start) + providers.len() as u64;
            let more = match body.get("filterQueryCount").and_then(json_text) {
                Some(total) => total.parse::<u64>().is_ok_and(|total| seen < total),
                // Without a total, only a page exactly as long as asked may have more.
                None => providers.len() == PAGE_LIMIT as usize,
            };
            let next = u32::try_from(seen)
                .ok()
                .filter(|_| more && !providers.is_empty());
            Ok((tenants, next))
        })
    }
}

/// The token from the answer to `POST Login`, or why there is none: a refusal comes as 401
/// or as HTTP 200 with `errList`.
fn login_token(response: &HttpResponse, username: &str) -> Result<String, Failure> {
    let doing = format!("logging in as `{username}`");
    if !response.is_success() {
        return Err(VENDOR.login_failure(response, &doing, CHECK));
    }
    let body: Value = serde_json::from_slice(&response.body)
        .map_err(|_| VENDOR.unreadable(response, &doing, "a JSON login answer"))?;
    if let Some(token) = body.get("token").and_then(json_text) {
        return Ok(token);
    }
    let first = body.pointer("/errList/0");
    let code = first.and_then(|e| e.get("errorCode")).and_then(json_text);
    let said = (first.and_then(|e| e.get("errLogMessage").or(e.get("errorMessage"))))
        .and_then(json_text)
        .or_else(|| message(&body));
    let said = VendorError {
        code: code.clone(),
        message: said,
        retry_after: None,
    }
    .describe()
    .unwrap_or_else(|| "no token in the answer".to_string());
    let detail = ErrorDetail::new(format!(
        "Commvault refused the login of user `{username}` (HTTP {}, {said}); {CHECK}",
        response.status
    ))
    .status(response.status);
    Err(Failure::Auth(match code {
        Some(code) => detail.code(code),
        None => detail,
    }))
}

/// The companies in the answer to `GET Organization`; an empty body or list is none.
fn candidates(response: &HttpResponse) -> Result<Candidates, Failure> {
    let body: Value = match response.is_success() && response.is_empty() {
        true => Value::Null,
        false => VENDOR.json(response, "listing companies to find the company")?,
    };
    let providers = match body.get("providers") {
        Some(Value::Array(providers)) => providers.as_slice(),
        _ => &[],
    };
    let items = (providers.iter())
        .map(|p| Candidate {
            id: short_id(p).map(|id| id.to_string()),
            name: p.get("connectName").and_then(json_text).unwrap_or_default(),
        })
        .collect();
    Ok(Candidates {
        items,
        complete: true,
    })
}

/// The company in the answer to `GET Organization/{id}`. Some versions report an unknown
/// id as HTTP 200 with a "not found" error body: that is `not-found`.
fn company(response: &HttpResponse, doing: &str) -> Result<Company, Failure> {
    let body: Value = VENDOR
        .json(response, doing)
        .map_err(|failure| match failure {
            Failure::Vendor(detail) if detail.message.to_lowercase().contains("not found") => {
                Failure::NotFound(detail)
            }
            other => other,
        })?;
    let Some(organization) = body.pointer("/organizationInfo/organization") else {
        return Err(VENDOR.unreadable(response, doing, "organizationInfo.organization"));
    };
    let options = organization
        .get("deactivateOptions")
        .cloned()
        .unwrap_or_default();
    Ok(Company {
        name: organization.get("connectName").and_then(json_text),
        options: serde_json::from_value(options).unwrap_or_default(),
    })
}

register_plugin!(Commvault);
