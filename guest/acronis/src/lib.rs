//! The tenantctl plugin for Acronis Cyber Protect Cloud (Account Management API v2).
//!
//! Logs in with an API client's id and secret (`POST /api/2/idp/token`), learns the API
//! client's own tenant (`GET /api/2/clients/{id}`), finds tenants by id or exact name
//! (`GET /api/2/search`), reads, disables, enables and deletes them (`GET`, `PUT`,
//! `DELETE /api/2/tenants/{id}`, each write carrying the version just read) and lists every
//! tenant below the API client's own (`GET /api/2/tenants?subtree_root_id=…`, cursor
//! paging). The API is described in `docs/vendors.md`, "Acronis".

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tenantctl_plugin_sdk::login::{self, bearer};
use tenantctl_plugin_sdk::*;

/// The Acronis plugin.
pub struct Acronis;

/// Version conflicts a write may meet before the action gives up.
pub const MAX_CONFLICTS: u32 = 5;
/// How many results a name search asks for; an answer this long may have been cut short.
pub const SEARCH_LIMIT: usize = 1000;
/// Tenants per listing page (the API allows up to 5000).
pub const PAGE_LIMIT: u32 = 1000;

/// What every disable outcome tells the operator.
pub const DISABLED_NOTE: &str = "While the tenant is disabled, every user of it and of its \
     sub-tenants is blocked; its data is kept and billing continues.";
/// What every enable outcome tells the operator.
pub const ENABLED_NOTE: &str =
    "The tenant is enabled: access is restored for the users of it and of its sub-tenants.";
/// What a delete tells the operator.
pub const DELETED_NOTE: &str = "The tenant is deleted and no longer readable; Acronis \
     removes its users, sub-tenants and backups afterwards.";

/// What a delete whose tenant was already gone reports.
pub const GONE_NOTE: &str = "The tenant was already gone when the delete arrived (deleted \
     meanwhile, or by a repeat of this request).";

const CHECK: &str = "check the client-id and client-secret settings \
     (TENANTCTL_ACRONIS_CLIENT_ID, TENANTCTL_ACRONIS_CLIENT_SECRET) and that the API client \
     is still active";

const VENDOR: Vendor = Vendor {
    name: "Acronis",
    error: envelope,
    hints: &[
        (403, "the tenant must lie under the API client's own tenant"),
        (415, "this is a plugin bug, please report it"),
    ],
    url_hint: "https://eu2-cloud.acronis.com",
};

const NAMES: Names = Names::exact("Acronis tenant");

/// What a session keeps for later actions.
#[derive(Debug, Serialize, Deserialize)]
pub struct SessionData {
    /// The API client's own tenant: the root of searches and listings, never to be
    /// disabled or deleted.
    pub root_tenant_id: String,
}

/// A tenant as reads, updates and listings return it.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Tenant {
    #[serde(deserialize_with = "lenient::string")]
    id: String,
    #[serde(deserialize_with = "lenient::string")]
    name: String,
    #[serde(deserialize_with = "lenient::option")]
    enabled: Option<bool>,
    #[serde(deserialize_with = "lenient::option")]
    version: Option<u64>,
}

/// How a write was answered.
#[derive(Serialize, Deserialize)]
enum Written {
    Done,
    /// The tenant changed since it was read: read it again.
    Stale,
    /// A delete found the tenant gone already.
    Gone,
}

/// The error envelope `{"error": {"code", "message", ...}}`, or the token endpoint's
/// OAuth shape `{"error": "...", "error_description": "..."}`.
fn envelope(body: &Value) -> Option<VendorError> {
    let (code, message) = match body.get("error")? {
        Value::Object(error) => (error.get("code"), error.get("message")),
        code @ Value::String(_) => (Some(code), body.get("error_description")),
        _ => return None,
    };
    Some(VendorError {
        code: code.and_then(json_text),
        message: message.and_then(json_text),
        retry_after: None,
    })
}

/// Requests to one data center's API, with the session's token.
struct Api {
    /// `{base}/api/2`.
    root: String,
    token: String,
}

impl Api {
    fn new(ctx: &Context, token: &str) -> Result<Self, Failure> {
        let base = ctx.base("/api/2", "https://eu2-cloud.acronis.com")?;
        Ok(Api {
            root: format!("{base}/api/2"),
            token: token.to_string(),
        })
    }

    fn get(&self, path: &str) -> HttpRequest {
        HttpRequest::get(format!("{}/{path}", self.root))
            .secret_header("Authorization", bearer(&self.token))
    }

    fn tenant(&self, id: &str) -> HttpRequest {
        self.get(&format!("tenants/{id}"))
    }

    /// `PUT` carrying the version, so a repeat is refused as stale instead of applied twice.
    fn update(&self, id: &str, enabled: bool, version: u64) -> HttpRequest {
        HttpRequest::put(format!("{}/tenants/{id}", self.root))
            .secret_header("Authorization", bearer(&self.token))
            .json(&serde_json::json!({ "enabled": enabled, "version": version }))
            .effect(Effect::IdempotentWrite)
    }

    /// `DELETE` carrying the version; a repeat finds the tenant gone (404).
    fn delete(&self, id: &str, version: u64) -> HttpRequest {
        HttpRequest::delete(format!("{}/tenants/{id}?version={version}", self.root))
            .secret_header("Authorization", bearer(&self.token))
            .effect(Effect::IdempotentWrite)
    }
}

/// Refuses a tenant id that cannot be an Acronis id (they are UUIDs): empty, or holding
/// anything but ASCII letters, digits and `-`.
pub fn check_tenant_id(id: &str) -> Result<&str, Failure> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Ok(id);
    }
    Err(Failure::InvalidInput(ErrorDetail::new(format!(
        "{id:?} is not an Acronis tenant id (a UUID such as \
         0fcd4a69-8a40-4de8-b711-d9c83dc000f7); to name the tenant use --tenant-name"
    ))))
}

/// True when a write was refused because the tenant changed since it was read (409, or
/// 400 with code 1001), or was enabled meanwhile (a delete answered 400 with code 1023).
fn is_stale(response: &HttpResponse) -> bool {
    let code = || VENDOR.error_in(response).and_then(|e| e.code);
    response.status == 409
        || (response.status == 400 && matches!(code().as_deref(), Some("1001" | "1023")))
}

/// The session's API and the API client's own tenant.
fn account(ctx: &Context, session: &Session) -> Result<(Api, String), Failure> {
    let data: SessionData = session.data()?;
    if data.root_tenant_id.is_empty() {
        return Err(Failure::SessionExpired(ErrorDetail::new(
            "the session does not name the API client's own tenant; log in again",
        )));
    }
    Ok((Api::new(ctx, &session.token)?, data.root_tenant_id))
}

impl Plugin for Acronis {
    fn describe() -> PluginInfo {
        PluginInfo {
            vendor: "acronis".into(),
            display_name: "Acronis Cyber Protect Cloud".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract: CONTRACT_VERSION.into(),
            url_hint: "https://eu2-cloud.acronis.com".into(),
            actions: vec![
                ActionInfo::new(
                    Action::Status,
                    "Show whether the tenant is enabled; changes nothing.",
                    false,
                ),
                ActionInfo::new(
                    Action::Disable,
                    "Disable the tenant: every user of it and of its sub-tenants is blocked; \
                     data is kept and billing continues. Undo with enable.",
                    false,
                ),
                ActionInfo::new(
                    Action::Enable,
                    "Enable the tenant again, restoring access for its users and sub-tenants.",
                    false,
                ),
                ActionInfo::new(
                    Action::Delete,
                    "Delete a disabled tenant with its users, sub-tenants and backups. \
                     Cannot be undone by tenantctl.",
                    true,
                ),
                ActionInfo::new(
                    Action::List,
                    "List every tenant below the API client's own tenant.",
                    false,
                ),
            ],
            config: vec![
                ConfigField::required(
                    "client-id",
                    "The API client's id (created under Settings > API clients in the \
                     management portal).",
                    false,
                ),
                ConfigField::required(
                    "client-secret",
                    "The API client's secret, shown once when the client was created.",
                    true,
                ),
            ],
        }
    }

    fn login(io: &mut Io, ctx: &Context) -> Flow<Session> {
        let api = Api::new(ctx, "")?;
        let (client_id, secret) = (ctx.require("client-id")?, ctx.require("client-secret")?);
        let request =
            login::client_credentials(format!("{}/idp/token", api.root), client_id, secret);
        let doing = format!("requesting an access token for API client {client_id}");
        let token = io.read(request, |r| {
            login::oauth_token(&VENDOR, r, ctx.now, &doing, CHECK)
        })?;
        let api = Api::new(ctx, &token.access_token)?;
        let doing = format!("reading the registration of API client {client_id}");
        let client = api.get(&format!("clients/{}", path_segment(client_id)));
        let root_tenant_id = io.read(client, |r| {
            if !r.is_success() {
                return Err(VENDOR.login_failure(r, &doing, CHECK));
            }
            let client: Value = VENDOR.json(r, &doing)?;
            (client.get("tenant_id").and_then(json_text))
                .ok_or_else(|| VENDOR.unreadable(r, &doing, "a tenant_id"))
        })?;
        let data = SessionData { root_tenant_id };
        Ok(Session::new(token.access_token, token.expires_at, &data))
    }

    fn act(
        io: &mut Io,
        ctx: &Context,
        session: &Session,
        action: Action,
        tenant: &TenantSelector,
    ) -> Flow<Outcome> {
        let (api, root) = account(ctx, session)?;
        let found = match tenant {
            TenantSelector::Id(id) => Found::id(check_tenant_id(id)?),
            TenantSelector::Name(name) => {
                let limit = SEARCH_LIMIT.to_string();
                let query = query_string(&[("tenant", &root), ("text", name), ("limit", &limit)]);
                io.find(
                    &NAMES,
                    name,
                    api.get(&format!("search?{query}")),
                    candidates,
                )?
            }
        };
        let id = &found.id;
        for _ in 0..MAX_CONFLICTS {
            let doing = format!("reading tenant {id}");
            let read: Tenant = io.read(api.tenant(id), |r| {
                let tenant: Tenant = VENDOR.json(r, &doing)?;
                match tenant.enabled {
                    Some(_) => Ok(tenant),
                    None => Err(VENDOR.unreadable(r, &doing, "`enabled`")),
                }
            })?;
            let enabled = read.enabled == Some(true);
            let tenant = found.tenant(Some(&read.name));
            io.about(&tenant, Some(enabled));
            let is_root = [id, &read.id]
                .iter()
                .any(|id| id.eq_ignore_ascii_case(&root));
            if is_root && matches!(action, Action::Disable | Action::Delete) {
                return Err(Failure::InvalidInput(ErrorDetail::new(format!(
                    "tenant {id} is the API client's own tenant: to {} it would lock tenantctl \
                     and every user of the account out; act on the tenants under it instead",
                    action.name()
                )))
                .into());
            }
            let standing = if enabled {
                Standing::Enabled
            } else {
                Standing::Disabled
            };
            let change = match io.decide(action, &tenant, standing) {
                Decision::Done(outcome) => return Ok(noted(action, outcome)),
                Decision::Write(change) => change,
            };
            let Some(version) = read.version else {
                return Err(Failure::Vendor(ErrorDetail::new(format!(
                    "tenant {id} came without `version`, which a write must carry"
                )))
                .into());
            };
            let (request, doing) = match change.after {
                None => (api.delete(id, version), format!("deleting tenant {id}")),
                Some(on) => (api.update(id, on, version), format!("updating tenant {id}")),
            };
            let written = io.write(request, change.intent(), |r| {
                if is_stale(r) {
                    return Ok(Written::Stale);
                }
                if change.after.is_none() && r.status == 404 {
                    return Ok(Written::Gone);
                }
                VENDOR.check(r, &doing)?;
                // An empty or odd 2xx body to a PUT still means it took effect.
                let after = serde_json::from_slice::<Tenant>(&r.body)
                    .ok()
                    .and_then(|t| t.enabled);
                match (change.after, after) {
                    (Some(wanted), Some(after)) if after != wanted => Err(Failure::Vendor(
                        ErrorDetail::new(format!(
                            "Acronis accepted the update of tenant {id} but reports \
                             enabled={after}"
                        ))
                        .status(r.status),
                    )),
                    _ => Ok(Written::Done),
                }
            })?;
            match written {
                Written::Done => return Ok(noted(action, change.done())),
                Written::Gone => return Ok(change.done().note(GONE_NOTE)),
                Written::Stale => {}
            }
            // Someone else changed the tenant: read it again and decide afresh.
        }
        Err(Failure::Conflict(ErrorDetail::new(format!(
            "tenant {id} kept changing while tenantctl wrote it ({MAX_CONFLICTS} version \
             conflicts in a row); try again later"
        )))
        .into())
    }

    fn list(io: &mut Io, ctx: &Context, session: &Session) -> Flow<Listing> {
        let (api, root) = account(ctx, session)?;
        let page = |after: &Option<String>| {
            let limit = PAGE_LIMIT.to_string();
            let mut query = vec![
                ("subtree_root_id", root.as_str()),
                ("lod", "basic"),
                ("limit", &limit),
            ];
            query.extend(after.as_deref().map(|after| ("after", after)));
            api.get(&format!("tenants?{}", query_string(&query)))
        };
        io.pages(None, page, |_, r| {
            #[derive(Deserialize)]
            struct Answer {
                #[serde(default)]
                items: Vec<Tenant>,
                #[serde(default)]
                paging: Option<Value>,
            }
            let answer: Answer = VENDOR.json(r, "listing tenants")?;
            let after = answer
                .paging
                .as_ref()
                .and_then(|paging| paging.pointer("/cursors/after"))
                .and_then(json_text);
            // The subtree includes the API client's own tenant, which tenantctl never acts on.
            let tenants = answer
                .items
                .into_iter()
                .filter(|t| !t.id.is_empty() && !t.id.eq_ignore_ascii_case(&root))
                .map(|t| ListedTenant::new(t.id, t.name, t.enabled))
                .collect();
            Ok((tenants, after.map(Some)))
        })
    }
}

/// The tenants in a search answer (users left out), ids checked.
fn candidates(response: &HttpResponse) -> Result<Candidates, Failure> {
    #[derive(Deserialize)]
    struct Item {
        #[serde(default, deserialize_with = "lenient::string")]
        obj_type: String,
        #[serde(default, deserialize_with = "lenient::string")]
        id: String,
        #[serde(default, deserialize_with = "lenient::string")]
        name: String,
    }
    #[derive(Deserialize)]
    struct Answer {
        #[serde(default)]
        items: Vec<Item>,
    }
    let answer: Answer = VENDOR.json(response, "searching for the tenant")?;
    Ok(Candidates {
        complete: answer.items.len() < SEARCH_LIMIT,
        items: (answer.items.into_iter())
            .filter(|item| item.obj_type == "tenant")
            .map(|item| Candidate {
                id: check_tenant_id(&item.id).ok().map(str::to_string),
                name: item.name,
            })
            .collect(),
    })
}

/// `outcome` with what the action means for the tenant's users.
fn noted(action: Action, outcome: Outcome) -> Outcome {
    match (action, &outcome.error) {
        (_, Some(_)) | (Action::Status, _) => outcome,
        (Action::Enable, _) => outcome.note(ENABLED_NOTE),
        (Action::Delete, _) => outcome.note(DELETED_NOTE),
        _ => outcome.note(DISABLED_NOTE),
    }
}

#[cfg(feature = "export")]
tenantctl_plugin_sdk::register_plugin!(Acronis);
