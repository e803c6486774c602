//! The Acronis Cyber Protect Cloud Account Management API v2 simulator.
//!
//! Serves `POST /api/2/idp/token`, `GET /api/2/clients/{id}`, `GET /api/2/tenants` (the
//! paged listing), `GET|PUT|DELETE /api/2/tenants/{id}`, `GET /api/2/tenants/{id}/children`
//! and `GET /api/2/search`, as `docs/vendors.md` describes them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::net::SocketAddr;
use std::ops::Bound;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hyper::Method;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::record::lock;
use crate::server::{Server, SimRequest, SimResponse, Vendor, common_methods};
use crate::util::{normalize_path, parse_form, random_hex, search_words, uuid, words_match};

/// The parent id given to the top of the tenant tree.
const NIL_UUID: &str = "00000000-0000-0000-0000-000000000000";
/// `limit` of a search that does not give one.
const DEFAULT_SEARCH_LIMIT: usize = 100;
/// The largest page of `GET /api/2/tenants`, and its size when no `limit` is given.
const MAX_LIST_LIMIT: usize = 5000;
/// The most ids one `GET /api/2/tenants?uuids=` may ask for.
const MAX_LIST_UUIDS: usize = 100;
/// The error code of a delete refused because the tenant is still enabled.
const CODE_ENABLED: i64 = 1023;
/// The prefix of a listing cursor before base64url, so that a made-up cursor is refused.
const CURSOR_PREFIX: &str = "after:";

/// How to seed and run an [`AcronisSim`].
#[derive(Clone, Debug)]
pub struct AcronisConfig {
    /// How many generated customer tenants (`Customer 00001`, ...) to create besides the
    /// fixed fixtures.
    pub tenants: usize,
    /// The API client's id (HTTP Basic user name at the token endpoint).
    pub client_id: String,
    /// The API client's secret.
    pub client_secret: String,
    /// How long an access token lives, in seconds (the real service: 2 hours).
    pub token_lifetime_secs: u64,
    /// Seed for ids, versions, tokens and probabilistic faults.
    pub seed: u64,
}

impl Default for AcronisConfig {
    fn default() -> Self {
        AcronisConfig {
            tenants: 25,
            client_id: "tenantctl-demo".to_string(),
            client_secret: "demo-secret".to_string(),
            token_lifetime_secs: 2 * 60 * 60,
            seed: 1,
        }
    }
}

/// The `kind` of an Acronis tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TenantKind {
    /// A partner (service provider or reseller); may hold other tenants.
    Partner,
    /// A folder grouping tenants.
    Folder,
    /// A customer.
    Customer,
    /// A unit inside a customer.
    Unit,
}

impl TenantKind {
    /// The API spelling: `partner`, `folder`, `customer` or `unit`.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantKind::Partner => "partner",
            TenantKind::Folder => "folder",
            TenantKind::Customer => "customer",
            TenantKind::Unit => "unit",
        }
    }
}

/// A snapshot of one simulated Acronis tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcronisTenant {
    /// Tenant UUID.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Tenant kind.
    pub kind: TenantKind,
    /// The parent tenant's UUID (the nil UUID for the top of the tree).
    pub parent_id: String,
    /// Whether the tenant is enabled.
    pub enabled: bool,
    /// Optimistic-locking version; every update increases it.
    pub version: u64,
    /// Whether the tenant was deleted (soft delete: it is gone from every read, search and
    /// listing, but its last state stays here).
    pub deleted: bool,
}

/// The ids of the fixed tenants every [`AcronisSim`] is seeded with.
///
/// Tree: `Cloud Provider` (top, outside the client's reach) holds `Demo Partner` (the API
/// client's own tenant, the root of every search) and `Other Partner`, which holds
/// `Foreign Tenant`. `Demo Partner` holds `Acme Corp`, `Acme`, `Twin Co`, the partner
/// `Reseller North` (holding a second `Twin Co` and the disabled `Dormant Ltd`) and the
/// generated `Customer NNNNN` tenants. Users: `Acme Admin` (in `Acme Corp`) and a user
/// named exactly `Twin Co` (in `Reseller North`), so searches return users too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcronisFixtures {
    /// `Cloud Provider`, the top of the tree; outside the client's subtree (403).
    pub top_id: String,
    /// `Demo Partner`, the API client's own tenant.
    pub root_id: String,
    /// `Acme Corp`.
    pub acme_corp_id: String,
    /// `Acme`.
    pub acme_id: String,
    /// The user `Acme Admin` in `Acme Corp`.
    pub acme_admin_user_id: String,
    /// The two tenants named exactly `Twin Co`.
    pub twin_co_ids: [String; 2],
    /// The user named exactly `Twin Co`.
    pub twin_co_user_id: String,
    /// `Reseller North`, a partner under the root.
    pub reseller_id: String,
    /// `Dormant Ltd`, disabled.
    pub dormant_id: String,
    /// `Other Partner`, outside the client's subtree.
    pub other_partner_id: String,
    /// `Foreign Tenant`, outside the client's subtree (403).
    pub foreign_id: String,
}

struct Tenant {
    id: String,
    name: String,
    kind: TenantKind,
    parent_id: String,
    enabled: bool,
    version: u64,
    children: u32,
    words: Vec<String>,
    deleted: bool,
}

impl Tenant {
    fn snapshot(&self) -> AcronisTenant {
        AcronisTenant {
            id: self.id.clone(),
            name: self.name.clone(),
            kind: self.kind,
            parent_id: self.parent_id.clone(),
            enabled: self.enabled,
            version: self.version,
            deleted: self.deleted,
        }
    }

    /// The fields `lod=basic` gives.
    fn to_basic_json(&self) -> Value {
        json!({
            "id": self.id,
            "version": self.version,
            "parent_id": self.parent_id,
            "name": self.name,
            "kind": self.kind.as_str(),
            "enabled": self.enabled,
        })
    }

    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "kind": self.kind.as_str(),
            "parent_id": self.parent_id,
            "enabled": self.enabled,
            "version": self.version,
            "customer_type": if self.kind == TenantKind::Customer { "default" } else { "" },
            "language": "en",
            "has_children": self.children > 0,
            "ancestral_access": true,
            "brand_id": 1,
            "customer_id": null,
            "internal_tag": null,
        })
    }
}

struct User {
    id: String,
    login: String,
    name: String,
    tenant_id: String,
    words: Vec<String>,
}

struct ApiClient {
    secret: String,
    tenant_id: String,
}

struct Token {
    client_id: String,
    expires_at: Instant,
}

struct State {
    /// Ordered by id: listings page in id order, which stays stable while tenants are added
    /// and deleted between pages.
    tenants: BTreeMap<String, Tenant>,
    /// Creation order, so that searches are deterministic.
    order: Vec<String>,
    /// Deleted tenants, in the order they were deleted.
    deleted: Vec<String>,
    users: Vec<User>,
    clients: HashMap<String, ApiClient>,
    tokens: HashMap<String, Token>,
    generated: Vec<String>,
    rng: StdRng,
    token_lifetime: Duration,
    tokens_issued: u64,
}

impl State {
    fn insert(&mut self, name: &str, kind: TenantKind, parent_id: &str, enabled: bool) -> String {
        let id = uuid(&mut self.rng);
        let version = self.rng.random_range(1..=5);
        if let Some(parent) = self.tenants.get_mut(parent_id) {
            parent.children += 1;
        }
        self.tenants.insert(
            id.clone(),
            Tenant {
                id: id.clone(),
                name: name.to_string(),
                kind,
                parent_id: parent_id.to_string(),
                enabled,
                version,
                children: 0,
                words: search_words(name),
                deleted: false,
            },
        );
        self.order.push(id.clone());
        id
    }

    fn add_user(&mut self, login: &str, name: &str, tenant_id: &str) -> String {
        let id = uuid(&mut self.rng);
        self.users.push(User {
            id: id.clone(),
            login: login.to_string(),
            name: name.to_string(),
            tenant_id: tenant_id.to_string(),
            words: search_words(name),
        });
        id
    }

    /// Whether `id` is `root` or below it.
    fn in_subtree(&self, id: &str, root: &str) -> bool {
        let mut current = id;
        // Bounded so that a cycle made by a test helper cannot hang the server.
        for _ in 0..64 {
            if current == root {
                return true;
            }
            match self.tenants.get(current) {
                Some(t) => current = &t.parent_id,
                None => return false,
            }
        }
        false
    }

    /// Names from `root` down to `id`, joined by `/`.
    fn path(&self, id: &str, root: &str) -> String {
        let mut names = Vec::new();
        let mut current = id;
        for _ in 0..64 {
            let Some(t) = self.tenants.get(current) else {
                break;
            };
            names.push(t.name.as_str());
            if current == root {
                break;
            }
            current = &t.parent_id;
        }
        names.reverse();
        names.join("/")
    }
}

/// The Acronis vendor state behind the HTTP server.
pub(crate) struct Acronis {
    state: Mutex<State>,
    fixtures: AcronisFixtures,
    client_id: String,
    client_secret: String,
}

impl Acronis {
    fn new(config: &AcronisConfig) -> Self {
        let mut st = State {
            tenants: BTreeMap::new(),
            order: Vec::with_capacity(config.tenants + 16),
            deleted: Vec::new(),
            users: Vec::new(),
            clients: HashMap::new(),
            tokens: HashMap::new(),
            generated: Vec::with_capacity(config.tenants),
            rng: StdRng::seed_from_u64(config.seed),
            token_lifetime: Duration::from_secs(config.token_lifetime_secs),
            tokens_issued: 0,
        };
        use TenantKind::*;
        let top_id = st.insert("Cloud Provider", Partner, NIL_UUID, true);
        let root_id = st.insert("Demo Partner", Partner, &top_id, true);
        let other_partner_id = st.insert("Other Partner", Partner, &top_id, true);
        let foreign_id = st.insert("Foreign Tenant", Customer, &other_partner_id, true);
        let acme_corp_id = st.insert("Acme Corp", Customer, &root_id, true);
        let acme_id = st.insert("Acme", Customer, &root_id, true);
        let twin_a = st.insert("Twin Co", Customer, &root_id, true);
        let reseller_id = st.insert("Reseller North", Partner, &root_id, true);
        let twin_b = st.insert("Twin Co", Customer, &reseller_id, true);
        let dormant_id = st.insert("Dormant Ltd", Customer, &reseller_id, false);
        let acme_admin_user_id = st.add_user("acme.admin", "Acme Admin", &acme_corp_id);
        let twin_co_user_id = st.add_user("twinco.helpdesk", "Twin Co", &reseller_id);
        for n in 1..=config.tenants {
            let id = st.insert(&format!("Customer {n:05}"), Customer, &root_id, true);
            st.generated.push(id);
        }
        st.clients.insert(
            config.client_id.clone(),
            ApiClient {
                secret: config.client_secret.clone(),
                tenant_id: root_id.clone(),
            },
        );
        Acronis {
            state: Mutex::new(st),
            fixtures: AcronisFixtures {
                top_id,
                root_id,
                acme_corp_id,
                acme_id,
                acme_admin_user_id,
                twin_co_ids: [twin_a, twin_b],
                twin_co_user_id,
                reseller_id,
                dormant_id,
                other_partner_id,
                foreign_id,
            },
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
        }
    }

    /// Checks the bearer token; on success, the root tenant of the token's API client.
    fn authenticate(st: &mut State, req: &SimRequest) -> Result<String, SimResponse> {
        let token = req.header("authorization").and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_string())
        });
        let Some(token) = token else {
            return Err(envelope(
                401,
                json!("unauthorized"),
                "Authorization header with a bearer token is required",
            ));
        };
        let client_id = match st.tokens.get(&token) {
            Some(t) if Instant::now() < t.expires_at => t.client_id.clone(),
            Some(_) => {
                st.tokens.remove(&token);
                return Err(envelope(401, json!("unauthorized"), "Access token expired"));
            }
            None => {
                return Err(envelope(
                    401,
                    json!("unauthorized"),
                    "Access token is invalid",
                ));
            }
        };
        match st.clients.get(&client_id) {
            Some(client) => Ok(client.tenant_id.clone()),
            None => Err(envelope(
                401,
                json!("unauthorized"),
                "API client no longer exists",
            )),
        }
    }

    fn token(&self, st: &mut State, req: &SimRequest) -> SimResponse {
        let credentials = req.header("authorization").and_then(|value| {
            let (scheme, encoded) = value.trim().split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("basic") {
                return None;
            }
            let decoded = STANDARD.decode(encoded.trim()).ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (id, secret) = text.split_once(':')?;
            Some((id.to_string(), secret.to_string()))
        });
        let Some((client_id, secret)) = credentials else {
            return oauth_error(401, "invalid_client", "Client authentication failed");
        };
        let valid = st
            .clients
            .get(&client_id)
            .is_some_and(|c| c.secret == secret);
        if !valid {
            return oauth_error(401, "invalid_client", "Client authentication failed");
        }
        if !req.content_type_is("application/x-www-form-urlencoded") {
            return oauth_error(
                400,
                "invalid_request",
                "Content-Type must be application/x-www-form-urlencoded",
            );
        }
        let form = parse_form(&String::from_utf8_lossy(&req.body));
        match form.iter().find(|(k, _)| k == "grant_type") {
            Some((_, grant)) if grant == "client_credentials" => {}
            Some((_, grant)) => {
                return oauth_error(
                    400,
                    "unsupported_grant_type",
                    &format!("Grant type '{grant}' is not supported"),
                );
            }
            None => return oauth_error(400, "invalid_request", "grant_type is required"),
        }
        let now_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let expires_on = now_unix + st.token_lifetime.as_secs();
        let access_token = jwt_like(
            &mut st.rng,
            &json!({"sub": client_id, "exp": expires_on, "iat": now_unix}),
        );
        let id_token = jwt_like(
            &mut st.rng,
            &json!({"sub": client_id, "exp": expires_on, "aud": client_id}),
        );
        st.tokens.insert(
            access_token.clone(),
            Token {
                client_id: client_id.clone(),
                expires_at: Instant::now() + st.token_lifetime,
            },
        );
        st.tokens_issued += 1;
        SimResponse::json(
            200,
            &json!({
                "access_token": access_token,
                "token_type": "bearer",
                "expires_on": expires_on,
                "id_token": id_token,
            }),
        )
    }

    fn client(st: &State, client_id: &str) -> SimResponse {
        match st.clients.get(client_id) {
            Some(client) => SimResponse::json(
                200,
                &json!({
                    "client_id": client_id,
                    "tenant_id": client.tenant_id,
                    "type": "api_client",
                    "status": "enabled",
                    "token_endpoint_auth_method": "client_secret_basic",
                    "data": {"client_name": "tenantctl"},
                }),
            ),
            None => envelope(
                404,
                json!("not_found"),
                &format!("Client {client_id} not found"),
            ),
        }
    }

    /// The tenant `id` if the caller (rooted at `root`) may see it.
    fn visible_tenant<'s>(st: &'s State, id: &str, root: &str) -> Result<&'s Tenant, SimResponse> {
        let Some(tenant) = st.tenants.get(id).filter(|t| !t.deleted) else {
            return Err(envelope(
                404,
                json!("not_found"),
                &format!("Tenant {id} not found"),
            ));
        };
        if !st.in_subtree(id, root) {
            return Err(envelope(
                403,
                json!("forbidden"),
                &format!("Access to tenant {id} is denied"),
            ));
        }
        Ok(tenant)
    }

    fn update_tenant(st: &mut State, req: &SimRequest, id: &str, root: &str) -> SimResponse {
        if !req.content_type_is("application/json") {
            return envelope(
                415,
                json!("unsupported_media_type"),
                "Content-Type must be application/json",
            );
        }
        let current_version = match Self::visible_tenant(st, id, root) {
            Ok(t) => t.version,
            Err(resp) => return resp,
        };
        let body: Value = match serde_json::from_slice(&req.body) {
            Ok(Value::Object(map)) => Value::Object(map),
            Ok(_) | Err(_) => {
                return envelope(400, json!("bad_request"), "Body must be a JSON object");
            }
        };
        let Some(version) = body.get("version").and_then(Value::as_u64) else {
            return envelope(
                400,
                json!("bad_request"),
                "Field 'version' is required and must be an integer",
            );
        };
        let enabled = match body.get("enabled") {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                return envelope(
                    400,
                    json!("bad_request"),
                    "Field 'enabled' must be a boolean",
                );
            }
        };
        let name = match body.get("name") {
            None => None,
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(_) => {
                return envelope(
                    400,
                    json!("bad_request"),
                    "Field 'name' must be a non-empty string",
                );
            }
        };
        if version != current_version {
            return version_mismatch(id, current_version, version);
        }
        let Some(tenant) = st.tenants.get_mut(id) else {
            return envelope(404, json!("not_found"), &format!("Tenant {id} not found"));
        };
        if let Some(enabled) = enabled {
            tenant.enabled = enabled;
        }
        if let Some(name) = name {
            tenant.words = search_words(&name);
            tenant.name = name;
        }
        tenant.version += 1;
        SimResponse::json(200, &tenant.to_json())
    }

    fn search(st: &State, req: &SimRequest, root: &str) -> SimResponse {
        let Some(scope) = req.query("tenant").filter(|t| !t.is_empty()) else {
            return envelope(
                400,
                json!("bad_request"),
                "Query parameter 'tenant' is required",
            );
        };
        if let Err(resp) = Self::visible_tenant(st, scope, root) {
            return resp;
        }
        let Some(text) = req.query("text").filter(|t| !t.trim().is_empty()) else {
            return envelope(
                400,
                json!("bad_request"),
                "Query parameter 'text' is required",
            );
        };
        let limit = match req.query("limit") {
            None => DEFAULT_SEARCH_LIMIT,
            Some(l) => match l.parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return envelope(
                        400,
                        json!("bad_request"),
                        "Query parameter 'limit' must be a positive integer",
                    );
                }
            },
        };
        let query = search_words(text);
        let mut items = Vec::new();
        for id in &st.order {
            if items.len() >= limit {
                break;
            }
            let Some(t) = st.tenants.get(id).filter(|t| !t.deleted) else {
                continue;
            };
            if words_match(&query, &t.words) && st.in_subtree(id, scope) {
                items.push(json!({
                    "obj_type": "tenant",
                    "id": t.id,
                    "name": t.name,
                    "kind": t.kind.as_str(),
                    "parent_id": t.parent_id,
                    "path": st.path(id, scope),
                    "enabled": t.enabled,
                }));
            }
        }
        for user in &st.users {
            if items.len() >= limit {
                break;
            }
            let live = st.tenants.get(&user.tenant_id).is_some_and(|t| !t.deleted);
            if live && words_match(&query, &user.words) && st.in_subtree(&user.tenant_id, scope) {
                items.push(json!({
                    "obj_type": "user",
                    "id": user.id,
                    "name": user.name,
                    "login": user.login,
                    "parent_id": user.tenant_id,
                    "tenant_id": user.tenant_id,
                    "path": format!("{}/{}", st.path(&user.tenant_id, scope), user.login),
                }));
            }
        }
        SimResponse::json(200, &json!({"items": items}))
    }

    /// `GET /api/2/tenants?subtree_root_id=|parent_id=|uuids=` with `lod`, `limit` and `after`:
    /// one page of tenants in id order, with the cursor of the next page if there is one.
    fn list_tenants(st: &State, req: &SimRequest, root: &str) -> SimResponse {
        let bad = |message: &str| envelope(400, json!("bad_request"), message);
        let basic = match req.query("lod") {
            None | Some("full") => false,
            Some("basic") => true,
            Some(other) => return bad(&format!("Unknown level of detail '{other}'")),
        };
        let limit = match req.query("limit") {
            None => MAX_LIST_LIMIT,
            Some(raw) => match raw.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_LIST_LIMIT).contains(&n) => n,
                _ => {
                    return bad(&format!(
                        "Query parameter 'limit' must be an integer from 1 to {MAX_LIST_LIMIT}"
                    ));
                }
            },
        };
        let after = match req.query("after") {
            None => None,
            Some(raw) => match decode_cursor(raw) {
                Some(id) => Some(id),
                None => return bad("Query parameter 'after' is not a valid cursor"),
            },
        };
        let given = |name: &str| req.query(name).filter(|v| !v.trim().is_empty());
        let selection = if let Some(scope) = given("subtree_root_id") {
            if let Err(resp) = Self::visible_tenant(st, scope, root) {
                return resp;
            }
            Selection::Subtree(scope)
        } else if let Some(parent) = given("parent_id") {
            if let Err(resp) = Self::visible_tenant(st, parent, root) {
                return resp;
            }
            Selection::Children(parent)
        } else if let Some(list) = given("uuids") {
            let ids: BTreeSet<&str> = list
                .split(',')
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .collect();
            if ids.len() > MAX_LIST_UUIDS {
                return bad(&format!(
                    "Query parameter 'uuids' takes at most {MAX_LIST_UUIDS} ids"
                ));
            }
            // Unknown ids are left out of the answer; ids the client may not see are refused.
            if let Some(foreign) = ids.iter().find(|id| {
                st.tenants.get(**id).is_some_and(|t| !t.deleted) && !st.in_subtree(id, root)
            }) {
                return envelope(
                    403,
                    json!("forbidden"),
                    &format!("Access to tenant {foreign} is denied"),
                );
            }
            Selection::Ids(ids)
        } else {
            return bad(
                "One of the query parameters 'subtree_root_id', 'parent_id' or 'uuids' is required",
            );
        };
        let from = after.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let candidates: Box<dyn Iterator<Item = &Tenant>> = match &selection {
            Selection::Ids(ids) => Box::new(
                ids.range::<str, _>((from, Bound::Unbounded))
                    .filter_map(|id| st.tenants.get(*id)),
            ),
            _ => Box::new(
                st.tenants
                    .range::<str, _>((from, Bound::Unbounded))
                    .map(|(_, t)| t),
            ),
        };
        let mut page: Vec<&Tenant> = candidates
            .filter(|t| !t.deleted)
            .filter(|t| match &selection {
                Selection::Subtree(scope) => st.in_subtree(&t.id, scope),
                Selection::Children(parent) => t.parent_id == *parent,
                Selection::Ids(_) => true,
            })
            .take(limit + 1)
            .collect();
        let more = page.len() > limit;
        page.truncate(limit);
        let cursors = match page.last() {
            Some(last) if more => json!({"after": encode_cursor(&last.id)}),
            _ => json!({}),
        };
        let items: Vec<Value> = page
            .iter()
            .map(|t| {
                if basic {
                    t.to_basic_json()
                } else {
                    t.to_json()
                }
            })
            .collect();
        SimResponse::json(
            200,
            &json!({
                "paging": {"cursors": cursors},
                "timestamp": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
                "items": items,
            }),
        )
    }

    /// `GET /api/2/tenants/{id}/children`: the ids of the direct children, in id order.
    fn children(st: &State, id: &str, root: &str) -> SimResponse {
        if let Err(resp) = Self::visible_tenant(st, id, root) {
            return resp;
        }
        let items: Vec<&str> = st
            .tenants
            .values()
            .filter(|t| !t.deleted && t.parent_id == id)
            .map(|t| t.id.as_str())
            .collect();
        SimResponse::json(200, &json!({"items": items}))
    }

    /// `DELETE /api/2/tenants/{id}?version=N`: soft-deletes a disabled tenant and everything
    /// below it.
    fn delete_tenant(st: &mut State, req: &SimRequest, id: &str, root: &str) -> SimResponse {
        let (current_version, enabled) = match Self::visible_tenant(st, id, root) {
            Ok(t) => (t.version, t.enabled),
            Err(resp) => return resp,
        };
        if id == root {
            return envelope(
                403,
                json!("forbidden"),
                "An API client cannot delete its own tenant",
            );
        }
        let Some(raw) = req.query("version") else {
            return envelope(
                400,
                json!("bad_request"),
                "Query parameter 'version' is required",
            );
        };
        let Ok(version) = raw.trim().parse::<u64>() else {
            return envelope(
                400,
                json!("bad_request"),
                "Query parameter 'version' must be an integer",
            );
        };
        if version != current_version {
            return version_mismatch(id, current_version, version);
        }
        if enabled {
            return SimResponse::json(
                400,
                &json!({"error": {
                    "code": CODE_ENABLED,
                    "message": "Tenant must be disabled before deletion",
                    "details": {},
                    "context": {"tenant_id": id},
                    "domain": "PlatformAccountServer",
                }}),
            );
        }
        // The vendor removes sub-tenants afterwards; to a client they are gone at once.
        let mut gone = vec![id.to_string()];
        gone.extend(
            st.tenants
                .values()
                .filter(|t| !t.deleted && t.id != id && st.in_subtree(&t.id, id))
                .map(|t| t.id.clone()),
        );
        for gone_id in &gone {
            if let Some(t) = st.tenants.get_mut(gone_id) {
                t.deleted = true;
            }
        }
        let parent_id = st.tenants.get(id).map(|t| t.parent_id.clone());
        if let Some(parent) = parent_id.and_then(|p| st.tenants.get_mut(&p)) {
            parent.children = parent.children.saturating_sub(1);
        }
        st.deleted.extend(gone);
        SimResponse::empty(204)
    }
}

/// Which tenants a listing covers.
enum Selection<'q> {
    /// The tenant and everything below it.
    Subtree(&'q str),
    /// The tenant's direct children.
    Children(&'q str),
    /// These ids.
    Ids(BTreeSet<&'q str>),
}

/// The opaque `paging.cursors.after` value for a page ending at tenant `id`.
fn encode_cursor(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{id}"))
}

/// The tenant id a cursor made by [`encode_cursor`] names.
fn decode_cursor(cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(CURSOR_PREFIX).map(str::to_string)
}

impl Vendor for Acronis {
    fn handle(&self, req: &SimRequest) -> SimResponse {
        let path = normalize_path(&req.path, false);
        let segments: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| crate::util::percent_decode(s, false))
            .collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let mut st = lock(&self.state);
        let st = &mut *st;
        match segments.as_slice() {
            ["api", "2", "idp", "token"] => {
                if req.method != Method::POST {
                    return method_not_allowed(&req.method);
                }
                self.token(st, req)
            }
            ["api", "2", "clients", client_id] => {
                if req.method != Method::GET {
                    return method_not_allowed(&req.method);
                }
                if let Err(resp) = Self::authenticate(st, req) {
                    return resp;
                }
                Self::client(st, client_id)
            }
            ["api", "2", "tenants"] => {
                if req.method != Method::GET {
                    return method_not_allowed(&req.method);
                }
                match Self::authenticate(st, req) {
                    Ok(root) => Self::list_tenants(st, req, &root),
                    Err(resp) => resp,
                }
            }
            ["api", "2", "tenants", id] => {
                let root = match Self::authenticate(st, req) {
                    Ok(root) => root,
                    Err(resp) => return resp,
                };
                match req.method {
                    Method::GET => match Self::visible_tenant(st, id, &root) {
                        Ok(t) => SimResponse::json(200, &t.to_json()),
                        Err(resp) => resp,
                    },
                    Method::PUT => Self::update_tenant(st, req, id, &root),
                    Method::DELETE => Self::delete_tenant(st, req, id, &root),
                    _ => method_not_allowed(&req.method),
                }
            }
            ["api", "2", "tenants", id, "children"] => {
                if req.method != Method::GET {
                    return method_not_allowed(&req.method);
                }
                match Self::authenticate(st, req) {
                    Ok(root) => Self::children(st, id, &root),
                    Err(resp) => resp,
                }
            }
            ["api", "2", "search"] => {
                if req.method != Method::GET {
                    return method_not_allowed(&req.method);
                }
                match Self::authenticate(st, req) {
                    Ok(root) => Self::search(st, req, &root),
                    Err(resp) => resp,
                }
            }
            _ => envelope(
                404,
                json!("not_found"),
                &format!("No such endpoint: {}", req.path),
            ),
        }
    }

    fn expire_tokens(&self) {
        lock(&self.state).tokens.clear();
    }

    fn concurrent_change(&self, req: &SimRequest) {
        let path = normalize_path(&req.path, false);
        if let Some(id) = path.strip_prefix("/api/2/tenants/")
            && let Some(tenant) = lock(&self.state).tenants.get_mut(id)
        {
            tenant.version += 1;
        }
    }

    fn http200_error(&self, _req: &SimRequest, code: i64, message: &str) -> SimResponse {
        let mut resp = envelope(400, json!(code), message);
        resp.status = 200;
        resp
    }

    fn error_response(&self, status: u16) -> SimResponse {
        let (code, message) = match status {
            400 => ("bad_request", "Bad request"),
            401 => ("unauthorized", "Unauthorized"),
            403 => ("forbidden", "Forbidden"),
            404 => ("not_found", "Not found"),
            409 => ("conflict", "Conflict"),
            429 => ("too_many_requests", "Too many requests"),
            500 => ("internal_error", "Internal server error"),
            502 => ("bad_gateway", "Bad gateway"),
            503 => ("service_unavailable", "Service temporarily unavailable"),
            504 => ("gateway_timeout", "Gateway timeout"),
            _ => ("error", "Request failed"),
        };
        envelope(status, json!(code), message)
    }

    fn state_json(&self) -> Value {
        let st = lock(&self.state);
        json!({
            "tenants": st.order.iter().filter_map(|id| st.tenants.get(id)).map(|t| {
                let mut value = t.to_json();
                value["deleted"] = json!(t.deleted);
                value
            }).collect::<Vec<_>>(),
            "deleted": st.deleted,
            "users": st.users.iter().map(|u| json!({
                "id": u.id, "login": u.login, "name": u.name, "tenant_id": u.tenant_id,
            })).collect::<Vec<_>>(),
            "clients": st.clients.iter().map(|(id, c)| json!({"client_id": id, "tenant_id": c.tenant_id})).collect::<Vec<_>>(),
            "tokens_issued": st.tokens_issued,
            "live_tokens": st.tokens.values().filter(|t| Instant::now() < t.expires_at).count(),
        })
    }

    fn fixtures_json(&self) -> Value {
        let f = &self.fixtures;
        json!({
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "top_id": f.top_id,
            "root_id": f.root_id,
            "acme_corp_id": f.acme_corp_id,
            "acme_id": f.acme_id,
            "acme_admin_user_id": f.acme_admin_user_id,
            "twin_co_ids": f.twin_co_ids,
            "twin_co_user_id": f.twin_co_user_id,
            "reseller_id": f.reseller_id,
            "dormant_id": f.dormant_id,
            "other_partner_id": f.other_partner_id,
            "foreign_id": f.foreign_id,
        })
    }
}

/// An Acronis error envelope.
fn envelope(status: u16, code: Value, message: &str) -> SimResponse {
    SimResponse::json(
        status,
        &json!({"error": {
            "code": code,
            "message": message,
            "details": {},
            "context": {},
            "domain": "PlatformAccountServer",
        }}),
    )
}

/// 409 with code 1001, as a stale `version` gets.
fn version_mismatch(id: &str, current_version: u64, requested_version: u64) -> SimResponse {
    SimResponse::json(
        409,
        &json!({"error": {
            "code": 1001,
            "message": "Version mismatch",
            "details": {"current_version": current_version, "requested_version": requested_version},
            "context": {"tenant_id": id},
            "domain": "PlatformAccountServer",
        }}),
    )
}

fn method_not_allowed(method: &Method) -> SimResponse {
    envelope(
        405,
        json!("method_not_allowed"),
        &format!("Method {method} is not allowed here"),
    )
}

/// An OAuth 2 error, as the token endpoint answers.
fn oauth_error(status: u16, error: &str, description: &str) -> SimResponse {
    SimResponse::json(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

/// A token shaped like a JWT (three base64url parts); only the simulator reads it.
fn jwt_like(rng: &mut StdRng, claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signature = URL_SAFE_NO_PAD.encode(random_hex(rng, 64));
    format!("{header}.{payload}.{signature}")
}

/// A running Acronis simulator. Dropping it stops the server.
///
/// ```no_run
/// use tenantctl_simulator::{AcronisConfig, AcronisSim};
/// let sim = AcronisSim::start(AcronisConfig::default());
/// let url = sim.url(); // http://127.0.0.1:PORT, no /api/2
/// let acme = sim.acme_corp_id().to_string();
/// assert!(sim.tenant(&acme).unwrap().enabled);
/// ```
pub struct AcronisSim {
    server: Server<Acronis>,
}

impl AcronisSim {
    /// Starts a simulator on `127.0.0.1` with a free port.
    ///
    /// # Panics
    /// If no loopback port can be bound or the server thread cannot start.
    pub fn start(config: AcronisConfig) -> Self {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config)
            .expect("starting the Acronis simulator on 127.0.0.1")
    }

    /// Starts a simulator on `addr` (port 0 picks a free one).
    pub fn start_on(addr: SocketAddr, config: AcronisConfig) -> io::Result<Self> {
        let vendor = Acronis::new(&config);
        Ok(AcronisSim {
            server: Server::start(addr, vendor, config.seed, "acronis")?,
        })
    }

    /// The data-center URL, `http://127.0.0.1:PORT` (without `/api/2`).
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The API base, `http://127.0.0.1:PORT/api/2`.
    pub fn api_url(&self) -> String {
        format!("{}/api/2", self.url())
    }

    /// The API client id the simulator accepts.
    pub fn client_id(&self) -> &str {
        &self.server.vendor().client_id
    }

    /// The API client secret the simulator accepts.
    pub fn client_secret(&self) -> &str {
        &self.server.vendor().client_secret
    }

    /// All fixture ids.
    pub fn fixtures(&self) -> &AcronisFixtures {
        &self.server.vendor().fixtures
    }

    /// The API client's own tenant (`Demo Partner`), as `GET /api/2/clients/{id}` reports it.
    pub fn root_tenant_id(&self) -> &str {
        &self.fixtures().root_id
    }

    /// The tenant `Acme Corp`.
    pub fn acme_corp_id(&self) -> &str {
        &self.fixtures().acme_corp_id
    }

    /// The tenant `Acme`.
    pub fn acme_id(&self) -> &str {
        &self.fixtures().acme_id
    }

    /// The two tenants named `Twin Co`.
    pub fn twin_co_ids(&self) -> [&str; 2] {
        let [a, b] = &self.fixtures().twin_co_ids;
        [a, b]
    }

    /// The disabled tenant `Dormant Ltd`.
    pub fn dormant_id(&self) -> &str {
        &self.fixtures().dormant_id
    }

    /// `Foreign Tenant`, outside the API client's subtree (403).
    pub fn foreign_tenant_id(&self) -> &str {
        &self.fixtures().foreign_id
    }

    /// The id of generated tenant `Customer {n:05}` (`n` from 1 to `tenants`).
    pub fn customer_id(&self, n: usize) -> Option<String> {
        let st = lock(&self.server.vendor().state);
        n.checked_sub(1).and_then(|i| st.generated.get(i).cloned())
    }

    /// A snapshot of tenant `id`; a deleted tenant keeps its last state, with `deleted` set.
    pub fn tenant(&self, id: &str) -> Option<AcronisTenant> {
        lock(&self.server.vendor().state)
            .tenants
            .get(id)
            .map(Tenant::snapshot)
    }

    /// Every tenant named exactly `name` and not deleted, in creation order.
    pub fn tenants_named(&self, name: &str) -> Vec<AcronisTenant> {
        let st = lock(&self.server.vendor().state);
        st.order
            .iter()
            .filter_map(|id| st.tenants.get(id))
            .filter(|t| t.name == name && !t.deleted)
            .map(Tenant::snapshot)
            .collect()
    }

    /// How many tenants exist (not deleted), fixtures included.
    pub fn tenant_count(&self) -> usize {
        lock(&self.server.vendor().state)
            .tenants
            .values()
            .filter(|t| !t.deleted)
            .count()
    }

    /// Whether tenant `id` was deleted (by a `DELETE` of it or of a tenant above it).
    pub fn is_deleted(&self, id: &str) -> bool {
        lock(&self.server.vendor().state)
            .tenants
            .get(id)
            .is_some_and(|t| t.deleted)
    }

    /// Every deleted tenant, in the order they were deleted (a tenant before the sub-tenants
    /// deleted with it).
    pub fn deleted(&self) -> Vec<String> {
        lock(&self.server.vendor().state).deleted.clone()
    }

    /// Enables or disables tenant `id` as another administrator would: its version
    /// increases if the state changes.
    ///
    /// # Panics
    /// If the tenant does not exist.
    pub fn set_enabled(&self, id: &str, enabled: bool) {
        let mut st = lock(&self.server.vendor().state);
        let tenant = st
            .tenants
            .get_mut(id)
            .unwrap_or_else(|| panic!("no Acronis tenant {id}"));
        if tenant.enabled != enabled {
            tenant.enabled = enabled;
            tenant.version += 1;
        }
    }

    /// Adds an enabled customer tenant named `name` under `parent_id`; returns its id.
    ///
    /// # Panics
    /// If the parent does not exist.
    pub fn add_tenant(&self, name: &str, parent_id: &str) -> String {
        self.add_tenant_of_kind(name, parent_id, TenantKind::Customer)
    }

    /// Adds an enabled tenant of `kind` named `name` under `parent_id`; returns its id.
    ///
    /// # Panics
    /// If the parent does not exist.
    pub fn add_tenant_of_kind(&self, name: &str, parent_id: &str, kind: TenantKind) -> String {
        let mut st = lock(&self.server.vendor().state);
        assert!(
            st.tenants.contains_key(parent_id),
            "no Acronis parent tenant {parent_id}"
        );
        st.insert(name, kind, parent_id, true)
    }

    /// Increases tenant `id`'s version as a concurrent update would; returns the new version.
    ///
    /// # Panics
    /// If the tenant does not exist.
    pub fn bump_version(&self, id: &str) -> u64 {
        let mut st = lock(&self.server.vendor().state);
        let tenant = st
            .tenants
            .get_mut(id)
            .unwrap_or_else(|| panic!("no Acronis tenant {id}"));
        tenant.version += 1;
        tenant.version
    }

    /// How many access tokens the token endpoint has issued.
    pub fn tokens_issued(&self) -> u64 {
        lock(&self.server.vendor().state).tokens_issued
    }

    common_methods!();
}
