//! tenantctl plugin for Veeam Service Provider Console (REST API v3).
//!
//! Logs in with a user name and password (`POST /api/v3/token`, password grant), finds a
//! company by uid or by case-insensitive name (`GET /api/v3/organizations/companies` with a
//! name filter), reads its `status` (`GET …/companies/{uid}`), disables or enables it with
//! a JSON Patch of `/status` (`PATCH …/companies/{uid}`), deletes a disabled one
//! (`DELETE …/companies/{uid}`), and lists every company (`limit`/`offset` paging).
//! Operations the console queues (202 with `Location: …/asyncActions/{id}`) are polled
//! until they end. Every write is decided from a fresh read and declared with its intent.
//!
//! Built against the plugin SDK alone and shipped as a drop-in `.wasm` file: the tenantctl
//! binary does not embed it.

#[cfg(test)]
mod tests;

use serde_json::{Value, json};
use tenantctl_plugin_sdk::login::{self, bearer};
use tenantctl_plugin_sdk::*;

/// The Veeam Service Provider Console plugin.
pub struct Vspc;

/// How many companies a name lookup or a listing page asks for (the API's maximum).
pub const PAGE_LIMIT: u32 = 500;
/// The access token's lifetime when the token answer does not say (the documented default).
pub const DEFAULT_TOKEN_LIFETIME: u32 = 3600;
/// The longest token lifetime believed, so a nonsense `expires_in` cannot keep a session
/// forever.
pub const MAX_TOKEN_LIFETIME: u32 = 24 * 3600;

/// What disabling does, for every company disabled.
pub const DISABLED_NOTE: &str = "The company is disabled: its users cannot log in to \
    Veeam Service Provider Console, provider administrators cannot run management tasks for \
    it (discovery, jobs, invoices), and its active alarms are resolved. `enable` reverses it.";
/// What enabling does, for every company enabled.
pub const ENABLED_NOTE: &str =
    "The company is active: its users can log in and it can be managed again.";
/// What deleting does.
pub const DELETED_NOTE: &str = "The company is deleted with its configuration; tenantctl \
    cannot undo it.";
/// What a delete whose company was already gone reports.
pub const GONE_NOTE: &str = "The company was already gone when the delete arrived (deleted \
    meanwhile, or by a repeat of this request).";

const NAME: &str = "Veeam Service Provider Console";
const CHECK: &str = "check TENANTCTL_VSPC_USERNAME (local users are written \
    `<machine>\\<user>`) and TENANTCTL_VSPC_PASSWORD";

const VENDOR: Vendor = Vendor {
    name: NAME,
    error: errors,
    hints: &[(
        403,
        "the user needs the Portal Administrator, Service Provider Global Administrator or \
         Service Provider Administrator role",
    )],
    url_hint: "https://<host>:1280",
};

const NAMES: Names = Names::ignoring_case("Veeam Service Provider Console company");

/// The error body `{"errors": [{"message", "type", "code", "parameterName"|"propertyName",
/// "retryAfter"}]}`, or the OAuth `{"error", "error_description"}`.
fn errors(body: &Value) -> Option<VendorError> {
    let all = body.get("errors").and_then(Value::as_array);
    let Some(first) = all.and_then(|errors| errors.iter().find(|e| e.is_object())) else {
        let error = body.get("error").and_then(json_text)?;
        let message = body.get("error_description").and_then(json_text);
        return Some(VendorError {
            message: message.or_else(|| Some(error.clone())),
            code: Some(error),
            retry_after: None,
        });
    };
    let field = |name: &str| first.get(name).and_then(json_text);
    let about = field("parameterName").or_else(|| field("propertyName"));
    let message = match (field("message"), about) {
        (Some(message), Some(about)) => Some(format!("{message} ({about})")),
        (Some(message), None) => Some(message),
        (None, Some(about)) => Some(format!("invalid {about}")),
        (None, None) => field("type").map(|kind| format!("{kind} error")),
    };
    let retry_after = (all.into_iter().flatten())
        .find_map(|e| e.get("retryAfter").and_then(json_text))
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| s.ceil().min(f64::from(u32::MAX)) as u32);
    Some(VendorError {
        code: field("code"),
        message,
        retry_after,
    })
}

/// A company uid as given by the operator: a UUID (8-4-4-4-12 hexadecimal digits).
pub fn parse_uid(raw: &str) -> Result<String, Failure> {
    let uid = raw.trim();
    let well_formed = uid.len() == 36
        && uid.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    if well_formed {
        return Ok(uid.to_string());
    }
    Err(Failure::InvalidInput(ErrorDetail::new(format!(
        "`{raw}` is not a Veeam Service Provider Console company uid (a UUID such as \
         30780260-6bed-47eb-b1ac-d12de2ce5b9d); use --tenant-name to select a company by name"
    ))))
}

/// Where a company stands, from its `status` (compared ignoring case).
fn standing(status: &str) -> Standing {
    match status.trim().to_ascii_lowercase().as_str() {
        "active" => Standing::Enabled,
        "disabled" => Standing::Disabled,
        _ => Standing::Locked(status.to_string()),
    }
}

/// The `data` of a 2xx answer, which must be of the shape `expected` names.
fn data(response: &HttpResponse, doing: &str, expected: &str) -> Result<Value, Failure> {
    let mut body: Value = VENDOR.json(response, doing)?;
    match body.get_mut("data").map(Value::take) {
        Some(data) if !data.is_null() => Ok(data),
        _ => Err(VENDOR.unreadable(response, doing, expected)),
    }
}

/// The company's name and status in an answer carrying it.
fn company(response: &HttpResponse, doing: &str) -> Result<(Option<String>, String), Failure> {
    let company = data(response, doing, "the company (data)")?;
    match company.get("status").and_then(json_text) {
        Some(status) => Ok((company.get("name").and_then(json_text), status)),
        None => Err(VENDOR.unreadable(response, doing, "the company's status")),
    }
}

/// Requests to one server's API, with the session's token.
struct Api {
    /// `{base}/api/v3`.
    root: String,
    token: String,
}

impl Api {
    fn new(ctx: &Context, token: &str) -> Result<Self, Failure> {
        let base = ctx.base("/api/v3", "https://vspc.example.com:1280")?;
        let (root, token) = (format!("{base}/api/v3"), token.to_string());
        Ok(Api { root, token })
    }

    fn authed(&self, request: HttpRequest) -> HttpRequest {
        request
            .header("Accept", "application/json")
            .secret_header("Authorization", bearer(&self.token))
    }

    fn get(&self, path: &str) -> HttpRequest {
        self.authed(HttpRequest::get(format!("{}/{path}", self.root)))
    }

    fn company(&self, uid: &str) -> HttpRequest {
        self.get(&format!("organizations/companies/{uid}"))
    }

    /// `GET /organizations/companies` with `query` (`filter`, `limit`, `offset`).
    fn companies(&self, query: &[(&str, &str)]) -> HttpRequest {
        self.get(&format!("organizations/companies?{}", query_string(query)))
    }

    /// Waits for the asynchronous action a 202 answer named (the last segment of its
    /// `Location`, else the `data.id` of its body) to end; `Ok(None)` when it named none.
    fn settle(&self, io: &mut Io, queued: Option<String>, what: &str) -> Flow<Option<String>> {
        let Some(id) = queued else { return Ok(None) };
        let doing = format!("waiting for {what} (async action {id})");
        io.poll(
            &doing,
            self.get(&format!("asyncActions/{}", path_segment(&id))),
            |r| {
                if r.status == 404 {
                    return Err(Failure::Vendor(ErrorDetail::new(format!(
                    "{NAME} no longer knows async action {id} of {what} (it keeps results 5 \
                     minutes after success, 1 hour after failure); check the company with \
                     `status`"
                )).status(404)));
                }
                if !r.is_success() {
                    return Err(VENDOR.failure(r, &doing));
                }
                // A failed action carries `errors` beside its `data`: read the status first.
                let body: Value = serde_json::from_slice(&r.body).unwrap_or_default();
                let Some(status) = body.pointer("/data/status").and_then(json_text) else {
                    VENDOR.check(r, &doing)?;
                    return Err(VENDOR.unreadable(r, &doing, "the async action's status"));
                };
                match status.to_ascii_lowercase().as_str() {
                    "succeed" | "succeeded" => Ok(Poll::Done(())),
                    "failed" | "canceled" | "cancelled" => {
                        let said = errors(&body).and_then(|e| e.describe());
                        let said = said.unwrap_or_else(|| "no reason given".to_string());
                        Err(Failure::Vendor(ErrorDetail::new(format!(
                            "{NAME} reports {what} {status} (async action {id}): {said}"
                        ))))
                    }
                    _ => Ok(Poll::Pending),
                }
            },
        )?;
        Ok(Some(id))
    }
}

/// The async action a 2xx answer queued, if it queued one.
fn queued(response: &HttpResponse) -> Option<String> {
    let from_location = response
        .header("Location")
        .and_then(|location| location.trim().trim_end_matches('/').rsplit('/').next())
        .filter(|id| !id.is_empty())
        .map(str::to_string);
    let from_body = || {
        let body: Value = serde_json::from_slice(&response.body).ok()?;
        body.pointer("/data/id").and_then(json_text)
    };
    from_location.or_else(from_body)
}

impl Plugin for Vspc {
    fn describe() -> PluginInfo {
        PluginInfo {
            vendor: "vspc".to_string(),
            display_name: NAME.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            contract: CONTRACT_VERSION.to_string(),
            url_hint: "https://<host>:1280 (the REST API v3 lives under /api/v3)".to_string(),
            actions: vec![
                ActionInfo::new(
                    Action::Status,
                    "Shows whether the company is Active or Disabled (or in another state \
                     such as Expired); changes nothing.",
                    false,
                ),
                ActionInfo::new(
                    Action::Disable,
                    "Disables the company (status Disabled): its users cannot log in to the \
                     console, it cannot be managed, its active alarms are resolved. \
                     Reversible with `enable`.",
                    false,
                ),
                ActionInfo::new(
                    Action::Enable,
                    "Enables a disabled company again (status Active).",
                    false,
                ),
                ActionInfo::new(
                    Action::Delete,
                    "Deletes a disabled company with its configuration, removing its agents \
                     (keeping its backups unless remove-backups is set). tenantctl cannot \
                     undo it.",
                    true,
                ),
                ActionInfo::new(Action::List, "Lists every company.", false),
            ],
            config: vec![
                ConfigField::required(
                    "username",
                    "A Veeam Service Provider Console user with the Portal Administrator, \
                     Service Provider Global Administrator or Service Provider Administrator \
                     role, without multi-factor authentication; local users are written \
                     <machine>\\<user>.",
                    false,
                ),
                ConfigField::required("password", "That user's password.", true),
                ConfigField {
                    required: false,
                    ..ConfigField::required(
                        "remove-backups",
                        "`true` to delete a company's backups with it (default: kept).",
                        false,
                    )
                },
                ConfigField {
                    required: false,
                    ..ConfigField::required(
                        "remove-agents",
                        "`false` to keep a deleted company's agents installed (default: \
                         removed).",
                        false,
                    )
                },
            ],
        }
    }

    fn login(io: &mut Io, ctx: &Context) -> Flow<Session> {
        let api = Api::new(ctx, "")?;
        let (username, password) = (ctx.require("username")?, ctx.require("password")?);
        let request = login::password_grant(format!("{}/token", api.root), username, password);
        let doing = format!("logging in as `{username}`");
        let token = io.read(request, |r| {
            login::oauth_token(&VENDOR, r, ctx.now, &doing, CHECK)
        })?;
        let longest = ctx.now.saturating_add(MAX_TOKEN_LIFETIME);
        let expires_at = (token.expires_at.map(|at| at.min(longest)))
            .unwrap_or_else(|| ctx.now.saturating_add(DEFAULT_TOKEN_LIFETIME));
        Ok(Session::new(token.access_token, Some(expires_at), &()))
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
            TenantSelector::Id(raw) => Found::id(parse_uid(raw)?),
            TenantSelector::Name(name) => {
                let name = name.trim();
                let filter = json!([{"property": "name", "operation": "equals",
                    "collation": "ignorecase", "value": name}]);
                let (filter, limit) = (filter.to_string(), PAGE_LIMIT.to_string());
                let lookup = api.companies(&[("filter", &filter), ("limit", &limit)]);
                io.find(&NAMES, name, lookup, candidates)?
            }
        };
        let uid = &found.id;
        let doing = format!("reading company {uid}");
        let (name, status) = io.read(api.company(uid), |r| company(r, &doing))?;
        let tenant = found.tenant(name.as_deref());
        let odd = matches!(standing(&status), Standing::Locked(_))
            .then(|| format!("The company's status is {status}."));
        let change = match io.decide(action, &tenant, standing(&status)) {
            Decision::Write(change) => change,
            Decision::Done(outcome) => {
                let already = match (action, &outcome.error) {
                    (Action::Disable, None) => Some("The company is already disabled."),
                    (Action::Enable, None) => Some("The company is already active."),
                    _ => None,
                };
                let notes = odd.into_iter().chain(already.map(str::to_string));
                return Ok(notes.fold(outcome, Outcome::note));
            }
        };
        let who = format!("company `{}` ({uid})", tenant.name);
        match change.after {
            None => {
                let flag = |name: &str, default: bool| {
                    ctx.config(name)
                        .map_or(default, |v| v.trim().eq_ignore_ascii_case("true"))
                };
                let (agents, backups) =
                    (flag("remove-agents", true), flag("remove-backups", false));
                let query = format!("removeAllAgents={agents}&removeBackups={backups}");
                let request = api.authed(HttpRequest::delete(format!(
                    "{}/organizations/companies/{uid}?{query}",
                    api.root
                )));
                let doing = format!("deleting {who}");
                let answer = io.write(request.effect(Effect::Write), change.intent(), |r| {
                    if r.status == 404 {
                        return Ok(None);
                    }
                    VENDOR.check(r, &doing)?;
                    Ok(Some(queued(r)))
                })?;
                let Some(queued) = answer else {
                    return Ok(change.done().note(GONE_NOTE));
                };
                api.settle(io, queued, &format!("the deletion of {who}"))?;
                Ok(change.done().note(DELETED_NOTE))
            }
            Some(enable) => {
                let value = if enable { "Active" } else { "Disabled" };
                let patch = json!([{ "op": "replace", "path": "/status", "value": value }]);
                let request = api.authed(HttpRequest::patch(api.company(uid).url).json(&patch));
                let doing = format!("setting the status of {who} to {value}");
                // The changed company, or `None` when the change was queued (202) or the
                // answer carried no company: then it is read back.
                let answer = io.write(
                    request.effect(Effect::IdempotentWrite),
                    change.intent(),
                    |r| {
                        VENDOR.check(r, &doing)?;
                        if r.status == 202 || r.is_empty() {
                            return Ok(Err(queued(r)));
                        }
                        Ok(Ok(company(r, &doing)?.1))
                    },
                )?;
                let (now, queued) = match answer {
                    Ok(now) => (now, None),
                    Err(queued) => {
                        let queued = api.settle(io, queued, &format!("the change of {who}"))?;
                        let doing =
                            format!("reading {who} back after setting its status to {value}");
                        (
                            io.read(api.company(uid), |r| company(r, &doing))?.1,
                            Some(queued),
                        )
                    }
                };
                if standing(&now) != standing(value) {
                    let queued = match &queued {
                        Some(_) => " (the change was queued)",
                        None => "",
                    };
                    let failure = Failure::Vendor(ErrorDetail::new(format!(
                        "{NAME} accepted setting the status of {who} to {value}{queued}, but \
                         the company is still {now}; check again later with `status`"
                    )));
                    let seen = Some(standing(&now).enabled());
                    return Ok(Outcome::for_tenant(tenant)
                        .enabled(Some(change.before), seen)
                        .error(failure));
                }
                let outcome = change
                    .done()
                    .note(if enable { ENABLED_NOTE } else { DISABLED_NOTE });
                Ok(match queued {
                    Some(action) => outcome.note(format!(
                        "{NAME} applied the change asynchronously (async action {}).",
                        action.unwrap_or_else(|| "not named".to_string())
                    )),
                    None => outcome,
                })
            }
        }
    }

    fn list(io: &mut Io, ctx: &Context, session: &Session) -> Flow<Listing> {
        let api = Api::new(ctx, &session.token)?;
        let limit = PAGE_LIMIT.to_string();
        let page =
            |offset: &u32| api.companies(&[("limit", &limit), ("offset", &offset.to_string())]);
        io.pages(0u32, page, |offset, r| {
            let items = data(r, "listing companies", "a list of companies (data)")?;
            let Value::Array(items) = items else {
                return Err(VENDOR.unreadable(r, "listing companies", "a list of companies"));
            };
            let tenants = (items.iter())
                .filter_map(|c| {
                    let uid = parse_uid(&c.get("instanceUid").and_then(json_text)?).ok()?;
                    let name = c.get("name").and_then(json_text).unwrap_or_default();
                    let status = c.get("status").and_then(json_text);
                    Some(ListedTenant::new(
                        uid,
                        name,
                        status.map(|s| standing(&s).enabled()),
                    ))
                })
                .collect();
            let body: Value = serde_json::from_slice(&r.body).unwrap_or_default();
            let total = body
                .pointer("/meta/pagingInfo/total")
                .and_then(Value::as_u64);
            let seen = u64::from(*offset) + items.len() as u64;
            let more = match total {
                Some(total) => seen < total,
                None => items.len() == PAGE_LIMIT as usize,
            };
            let next = u32::try_from(seen)
                .ok()
                .filter(|_| more && !items.is_empty());
            Ok((tenants, next))
        })
    }
}

/// The companies a filtered lookup returned; an answer whose total exceeds its items may
/// have been cut short.
fn candidates(response: &HttpResponse) -> Result<Candidates, Failure> {
    let doing = "looking for the company";
    let body: Value = VENDOR.json(response, doing)?;
    let items = match body.get("data") {
        Some(Value::Array(items)) => items.as_slice(),
        Some(Value::Null) | None => &[],
        Some(_) => return Err(VENDOR.unreadable(response, doing, "a list of companies in data")),
    };
    let total = body.pointer("/meta/pagingInfo/total").and_then(json_text);
    let complete = match total.and_then(|t| t.parse::<u64>().ok()) {
        Some(total) => total <= items.len() as u64,
        None => items.len() < PAGE_LIMIT as usize,
    };
    let items = (items.iter().filter(|item| item.is_object()))
        .map(|item| Candidate {
            id: item
                .get("instanceUid")
                .and_then(json_text)
                .and_then(|uid| parse_uid(&uid).ok()),
            name: item.get("name").and_then(json_text).unwrap_or_default(),
        })
        .collect();
    Ok(Candidates { items, complete })
}

register_plugin!(Vspc);
