//! The Commvault Command Center REST API simulator.
//!
//! Serves `POST /Login`, `GET /Organization` (paged with `start` and `limit`),
//! `GET|DELETE /Organization/{id}`, `POST /Organization/{id}/action/deactivate|activate` and
//! `POST /Tenant/Offboard` under
//! both `/commandcenter/api` and `/webconsole/api`, case-insensitively and tolerating doubled
//! slashes, as `shared/vendor-apis.md` describes them.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use hyper::Method;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use crate::record::lock;
use crate::server::{Server, SimRequest, SimResponse, Vendor, common_methods};
use crate::util::{normalize_path, random_hex, uuid};

/// The web-service prefixes the simulator answers under (current and legacy installs).
const PREFIXES: [&str; 2] = ["/commandcenter/api", "/webconsole/api"];
/// The content type of every JSON answer.
const JSON: &str = "application/json; charset=utf-8";

/// How a failed login is answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LoginFailure {
    /// HTTP 200 with no token and an `errList` (what the vendor's SDK expects).
    #[default]
    Http200,
    /// HTTP 401 with the same `errList` body.
    Http401,
}

/// A Commvault Cloud style rate limit: at most `writes` POSTs and `reads` GETs per `period`
/// (login and the `GET <webservice>/` probe are not counted), then 429.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Write requests allowed per period.
    pub writes: u32,
    /// Read requests allowed per period.
    pub reads: u32,
    /// The window length; counts start over when it has passed.
    pub period: Duration,
}

impl RateLimit {
    /// `writes` and `reads` per hour.
    pub fn per_hour(writes: u32, reads: u32) -> Self {
        RateLimit {
            writes,
            reads,
            period: Duration::from_secs(3600),
        }
    }

    /// Commvault Cloud's published limit: 100 writes and 1,000 reads per hour.
    pub fn saas() -> Self {
        Self::per_hour(100, 1000)
    }
}

/// How to seed and run a [`CommvaultSim`].
#[derive(Clone, Debug)]
pub struct CommvaultConfig {
    /// How many generated companies (`Company 00001`, ...) to create besides the fixtures.
    pub tenants: usize,
    /// The user name `Login` accepts (compared ignoring case).
    pub username: String,
    /// The password `Login` accepts (sent base64-encoded by clients).
    pub password: String,
    /// Seconds of inactivity after which a token expires (the real service: 30 minutes).
    pub token_idle_timeout_secs: u64,
    /// How a failed login is answered.
    pub login_failure: LoginFailure,
    /// Optional rate limit; `None` (the default, like on-premises servers) never answers 429.
    pub rate_limit: Option<RateLimit>,
    /// Seed for GUIDs, tokens and probabilistic faults.
    pub seed: u64,
}

impl Default for CommvaultConfig {
    fn default() -> Self {
        CommvaultConfig {
            tenants: 25,
            username: "admin".to_string(),
            password: "demo-password".to_string(),
            token_idle_timeout_secs: 30 * 60,
            login_failure: LoginFailure::Http200,
            rate_limit: None,
            seed: 1,
        }
    }
}

/// A company's `deactivateOptions`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeactivateOptions {
    /// Backups are disabled.
    pub disable_backup: bool,
    /// Restores are disabled.
    pub disable_restore: bool,
    /// Logins are disabled.
    pub disable_login: bool,
}

impl DeactivateOptions {
    /// All three set: the company is deactivated.
    pub const DEACTIVATED: DeactivateOptions = DeactivateOptions {
        disable_backup: true,
        disable_restore: true,
        disable_login: true,
    };

    /// None set: the company is active (`enabled: true`).
    pub fn is_active(&self) -> bool {
        !self.disable_backup && !self.disable_restore && !self.disable_login
    }

    /// All set: the company is fully deactivated.
    pub fn is_deactivated(&self) -> bool {
        self.disable_backup && self.disable_restore && self.disable_login
    }

    /// The `status` the company list reports: `ACTIVE` when no option is set, `DEACTIVATED`
    /// otherwise (partly deactivated included).
    pub fn status(&self) -> &'static str {
        if self.is_active() {
            "ACTIVE"
        } else {
            "DEACTIVATED"
        }
    }

    fn to_json(self) -> Value {
        json!({
            "disableBackup": self.disable_backup,
            "disableRestore": self.disable_restore,
            "disableLogin": self.disable_login,
        })
    }
}

/// A snapshot of one simulated Commvault company (organization).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommvaultOrganization {
    /// `shortName.id`.
    pub id: u32,
    /// `connectName`, the company name.
    pub name: String,
    /// `shortName.domainName`, the alias.
    pub domain_name: String,
    /// `providerGUID`.
    pub provider_guid: String,
    /// `description`.
    pub description: String,
    /// `deactivateOptions`.
    pub deactivate_options: DeactivateOptions,
}

impl CommvaultOrganization {
    /// Whether the company is active (all deactivate options false).
    pub fn enabled(&self) -> bool {
        self.deactivate_options.is_active()
    }
}

/// The ids of the fixed companies every [`CommvaultSim`] is seeded with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommvaultFixtures {
    /// `Acme Corp`, active.
    pub acme_corp_id: u32,
    /// `Twin Co` and `TWIN CO` (the same name ignoring case).
    pub twin_co_ids: [u32; 2],
    /// `Dormant Ltd`, fully deactivated.
    pub dormant_id: u32,
    /// `Halfway Inc`, partly deactivated (only `disableLogin`).
    pub halfway_id: u32,
}

struct Org {
    id: u32,
    name: String,
    name_lower: String,
    domain: String,
    guid: String,
    description: String,
    opts: DeactivateOptions,
}

impl Org {
    fn snapshot(&self) -> CommvaultOrganization {
        CommvaultOrganization {
            id: self.id,
            name: self.name.clone(),
            domain_name: self.domain.clone(),
            provider_guid: self.guid.clone(),
            description: self.description.clone(),
            deactivate_options: self.opts,
        }
    }

    fn short_name(&self) -> Value {
        json!({"id": self.id, "domainName": self.domain})
    }
}

struct RateWindow {
    start: Instant,
    reads: u32,
    writes: u32,
}

struct State {
    orgs: HashMap<u32, Org>,
    order: Vec<u32>,
    next_id: u32,
    generated: Vec<u32>,
    /// Token -> last use.
    tokens: HashMap<String, Instant>,
    offboarded: BTreeSet<u32>,
    /// Deleted companies; they are gone from `orgs`.
    deleted: BTreeSet<u32>,
    rng: StdRng,
    logins: u64,
    failed_logins: u64,
    window: Option<RateWindow>,
    /// The serialized `GET /Organization` answer (the whole list): soak tests list 10,000
    /// companies often. Cleared whenever a company is added, deleted or changes status.
    list_cache: Option<Bytes>,
}

impl State {
    fn insert(&mut self, name: &str, description: &str, opts: DeactivateOptions) -> u32 {
        self.list_cache = None;
        let id = self.next_id;
        self.next_id += 1;
        let mut domain: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if self.orgs.values().any(|o| o.domain == domain) {
            domain = format!("{domain}{id}");
        }
        let guid = uuid(&mut self.rng).to_ascii_uppercase();
        self.orgs.insert(
            id,
            Org {
                id,
                name: name.to_string(),
                name_lower: name.to_lowercase(),
                domain,
                guid,
                description: description.to_string(),
                opts,
            },
        );
        self.order.push(id);
        id
    }
}

/// The Commvault vendor state behind the HTTP server.
pub(crate) struct Commvault {
    state: Mutex<State>,
    fixtures: CommvaultFixtures,
    username: String,
    password: String,
    idle_timeout: Duration,
    login_failure: LoginFailure,
    rate_limit: Option<RateLimit>,
}

impl Commvault {
    fn new(config: &CommvaultConfig) -> Self {
        let mut st = State {
            orgs: HashMap::with_capacity(config.tenants + 8),
            order: Vec::with_capacity(config.tenants + 8),
            next_id: 2,
            generated: Vec::with_capacity(config.tenants),
            tokens: HashMap::new(),
            offboarded: BTreeSet::new(),
            deleted: BTreeSet::new(),
            // Salted so that both vendors started with the same seed do not share ids.
            rng: StdRng::seed_from_u64(config.seed ^ 0xc0a1_7ea5),
            logins: 0,
            failed_logins: 0,
            window: None,
            list_cache: None,
        };
        let active = DeactivateOptions::default();
        let acme_corp_id = st.insert("Acme Corp", "Fixture: active company", active);
        let twin_a = st.insert("Twin Co", "Fixture: same name as TWIN CO", active);
        let twin_b = st.insert("TWIN CO", "Fixture: same name as Twin Co", active);
        let dormant_id = st.insert(
            "Dormant Ltd",
            "Fixture: deactivated company",
            DeactivateOptions::DEACTIVATED,
        );
        let halfway_id = st.insert(
            "Halfway Inc",
            "Fixture: partly deactivated company",
            DeactivateOptions {
                disable_login: true,
                ..DeactivateOptions::default()
            },
        );
        for n in 1..=config.tenants {
            // Domains of generated companies are unique by construction; skip the scan.
            let id = st.next_id;
            st.next_id += 1;
            let name = format!("Company {n:05}");
            let guid = uuid(&mut st.rng).to_ascii_uppercase();
            st.orgs.insert(
                id,
                Org {
                    id,
                    name_lower: name.to_lowercase(),
                    domain: format!("company{n:05}"),
                    name,
                    guid,
                    description: "Generated company".to_string(),
                    opts: active,
                },
            );
            st.order.push(id);
            st.generated.push(id);
        }
        Commvault {
            state: Mutex::new(st),
            fixtures: CommvaultFixtures {
                acme_corp_id,
                twin_co_ids: [twin_a, twin_b],
                dormant_id,
                halfway_id,
            },
            username: config.username.clone(),
            password: config.password.clone(),
            idle_timeout: Duration::from_secs(config.token_idle_timeout_secs),
            login_failure: config.login_failure,
            rate_limit: config.rate_limit,
        }
    }

    fn login(&self, st: &mut State, req: &SimRequest) -> SimResponse {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let username = body.get("username").and_then(Value::as_str);
        let password = body
            .get("password")
            .and_then(Value::as_str)
            .and_then(|p| STANDARD.decode(p.trim()).ok())
            .and_then(|p| String::from_utf8(p).ok());
        let ok = username.is_some_and(|u| u.eq_ignore_ascii_case(&self.username))
            && password.as_deref() == Some(self.password.as_str());
        if !ok {
            st.failed_logins += 1;
            let status = match self.login_failure {
                LoginFailure::Http200 => 200,
                LoginFailure::Http401 => 401,
            };
            return SimResponse::json(
                status,
                &json!({"errList": [{"errorCode": 5, "errLogMessage": "Invalid Username or Password"}]}),
            );
        }
        st.logins += 1;
        let token = format!("QSDK {}", random_hex(&mut st.rng, 96));
        st.tokens.insert(token.clone(), Instant::now());
        SimResponse::json(
            200,
            &json!({
                "aliasName": "1",
                "userGUID": uuid(&mut st.rng).to_ascii_uppercase(),
                "loginAttempts": 0,
                "remainingLockTime": 0,
                "smtpAddress": format!("{}@example.com", self.username),
                "userName": self.username,
                "providerType": 1,
                "ccn": 0,
                "token": token,
                "forcePasswordChange": false,
                "isAccountLocked": false,
                "errList": [],
            }),
        )
    }

    /// Checks the `Authtoken` header and refreshes the token's inactivity timer.
    fn authenticate(&self, st: &mut State, req: &SimRequest) -> Result<(), SimResponse> {
        let token = req.header("authtoken").map(str::trim).unwrap_or_default();
        let now = Instant::now();
        match st.tokens.get_mut(token) {
            Some(last) if now.duration_since(*last) < self.idle_timeout => {
                *last = now;
                Ok(())
            }
            Some(_) => {
                st.tokens.remove(token);
                Err(access_denied())
            }
            None => Err(access_denied()),
        }
    }

    /// Counts the request against the rate limit, or answers 429.
    fn rate_limit(&self, st: &mut State, write: bool) -> Result<(), SimResponse> {
        let Some(limit) = self.rate_limit else {
            return Ok(());
        };
        let now = Instant::now();
        let window = st.window.get_or_insert(RateWindow {
            start: now,
            reads: 0,
            writes: 0,
        });
        if now.duration_since(window.start) >= limit.period {
            *window = RateWindow {
                start: now,
                reads: 0,
                writes: 0,
            };
        }
        let (used, max) = if write {
            (&mut window.writes, limit.writes)
        } else {
            (&mut window.reads, limit.reads)
        };
        if *used < max {
            *used += 1;
            return Ok(());
        }
        let remaining = limit
            .period
            .saturating_sub(now.duration_since(window.start))
            .as_secs_f64()
            .ceil()
            .max(1.0);
        Err(SimResponse::json(
            429,
            &json!({"errorMessage": "API rate limit exceeded", "errorCode": 429}),
        )
        .with_header("X-RateLimit-Limit", max.to_string())
        .with_header("X-RateLimit-Period", limit.period.as_secs().to_string())
        .with_header("Retry-After", format!("{remaining:.0}")))
    }

    /// `GET Organization`, the whole list or, with `start` and `limit`, one page of it.
    fn list(st: &mut State, req: &SimRequest) -> SimResponse {
        let number = |name: &str, min: usize| match req.query(name) {
            None => Ok(None),
            Some(raw) => match raw.trim().parse::<usize>() {
                Ok(n) if n >= min => Ok(Some(n)),
                _ => Err(SimResponse::json(
                    400,
                    &json!({
                        "errorMessage": format!("Invalid value for {name}: {raw}"),
                        "errorCode": 3,
                    }),
                )),
            },
        };
        let (start, limit) = match (number("start", 0), number("limit", 1)) {
            (Ok(start), Ok(limit)) => (start, limit),
            (Err(resp), _) | (_, Err(resp)) => return resp,
        };
        let paged = start.is_some() || limit.is_some();
        if !paged && let Some(body) = &st.list_cache {
            return SimResponse::text(200, JSON, body.clone());
        }
        let providers: Vec<Value> = st
            .order
            .iter()
            .skip(start.unwrap_or(0))
            .take(limit.unwrap_or(usize::MAX))
            .filter_map(|id| st.orgs.get(id))
            .map(|o| {
                json!({
                    "connectName": o.name,
                    "shortName": o.short_name(),
                    "providerGUID": o.guid,
                    "status": o.opts.status(),
                })
            })
            .collect();
        let body = Bytes::from(
            json!({"providers": providers, "filterQueryCount": st.order.len()}).to_string(),
        );
        if !paged {
            st.list_cache = Some(body.clone());
        }
        SimResponse::text(200, JSON, body)
    }

    /// `DELETE Organization/{id}`: deletes a deactivated company; refusals are HTTP 200 with
    /// a non-zero `errorCode`.
    fn delete(st: &mut State, id: Option<u32>) -> SimResponse {
        let Some((id, opts)) = id.and_then(|id| st.orgs.get(&id)).map(|o| (o.id, o.opts)) else {
            return not_found();
        };
        if !opts.is_deactivated() {
            return SimResponse::json(
                200,
                &json!({
                    "errorCode": 2,
                    "errorMessage": "The company must be deactivated before it can be deleted",
                }),
            );
        }
        st.orgs.remove(&id);
        st.order.retain(|o| *o != id);
        st.deleted.insert(id);
        st.list_cache = None;
        SimResponse::json(
            200,
            &json!({"errorCode": 0, "errorMessage": format!("Successfully deleted company {id}")}),
        )
    }

    fn detail(st: &State, id: Option<u32>) -> SimResponse {
        let Some(org) = id.and_then(|id| st.orgs.get(&id)) else {
            return not_found();
        };
        SimResponse::json(
            200,
            &json!({"organizationInfo": {
                "organization": {
                    "connectName": org.name,
                    "shortName": org.short_name(),
                    "description": org.description,
                    "providerGUID": org.guid,
                    "deactivateOptions": org.opts.to_json(),
                },
                "organizationProperties": {
                    "primaryDomain": org.domain,
                    "enableAutoDiscovery": false,
                    "primaryContacts": [{"user": {"userName": format!("{}\\admin", org.domain)}}],
                },
            }}),
        )
    }

    fn set_state(st: &mut State, req: &SimRequest, id: Option<u32>, activate: bool) -> SimResponse {
        let Some(org) = id.and_then(|id| st.orgs.get_mut(&id)) else {
            return not_found();
        };
        st.list_cache = None;
        if activate {
            org.opts = DeactivateOptions::default();
        } else {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let Some(opts) = body.get("deactivateOptions").filter(|o| o.is_object()) else {
                return action_failure(3, "Invalid input: deactivateOptions is required");
            };
            let flag = |name| opts.get(name).and_then(Value::as_bool).unwrap_or(false);
            org.opts = DeactivateOptions {
                disable_backup: flag("disableBackup"),
                disable_restore: flag("disableRestore"),
                disable_login: flag("disableLogin"),
            };
        }
        SimResponse::json(
            200,
            &json!({"response": {
                "errorCode": 0,
                "entity": {"providerId": org.id, "providerDomainName": org.domain},
            }}),
        )
    }

    fn offboard(st: &mut State, req: &SimRequest) -> SimResponse {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let failure =
            |code: i64, message: String| json!({"errorMessage": message, "errorCode": code});
        let target = if let Some(raw) = body.get("tenantId").filter(|v| !v.is_null()) {
            match json_u32(raw) {
                Some(id) if st.orgs.contains_key(&id) => Ok(id),
                _ => Err(failure(2, format!("Tenant {raw} not found"))),
            }
        } else if let Some(name) = body.get("tenantHostName").and_then(Value::as_str) {
            let wanted = name.to_lowercase();
            let matches: Vec<u32> = st
                .order
                .iter()
                .filter(|id| st.orgs.get(id).is_some_and(|o| o.name_lower == wanted))
                .copied()
                .collect();
            match matches.as_slice() {
                [id] => Ok(*id),
                [] => Err(failure(2, format!("Tenant {name} not found"))),
                _ => Err(failure(
                    2,
                    format!("More than one tenant is named {name}; use tenantId"),
                )),
            }
        } else {
            Err(failure(
                3,
                "Invalid input: tenantId or tenantHostName is required".to_string(),
            ))
        };
        match target {
            Ok(id) => {
                st.offboarded.insert(id);
                SimResponse::json(
                    200,
                    &json!({"errorMessage": format!("Successfully offboarded tenant {id}"), "errorCode": 0}),
                )
            }
            Err(body) => SimResponse::json(200, &body),
        }
    }

    /// The part of a normalized path after the web-service prefix, if it has one.
    fn endpoint(path: &str) -> Option<&str> {
        PREFIXES.iter().find_map(|prefix| {
            let rest = path.strip_prefix(prefix)?;
            (rest.is_empty() || rest.starts_with('/')).then_some(rest)
        })
    }
}

impl Vendor for Commvault {
    fn handle(&self, req: &SimRequest) -> SimResponse {
        let path = normalize_path(&req.path, true);
        let Some(rest) = Self::endpoint(&path) else {
            return no_such_endpoint(&req.path);
        };
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let mut st = lock(&self.state);
        let st = &mut *st;
        let (expected, kind) = match segments.as_slice() {
            [] => {
                return if req.method == Method::GET {
                    SimResponse::text(200, "text/plain; charset=utf-8", "OK")
                } else {
                    method_not_allowed()
                };
            }
            ["login"] => {
                return if req.method == Method::POST {
                    self.login(st, req)
                } else {
                    method_not_allowed()
                };
            }
            ["organization"] => (Method::GET, Endpoint::List),
            ["organization", id] if req.method == Method::DELETE => {
                (Method::DELETE, Endpoint::Delete(id.parse().ok()))
            }
            ["organization", id] => (Method::GET, Endpoint::Detail(id.parse().ok())),
            ["organization", id, "action", "deactivate"] => {
                (Method::POST, Endpoint::SetState(id.parse().ok(), false))
            }
            ["organization", id, "action", "activate"] => {
                (Method::POST, Endpoint::SetState(id.parse().ok(), true))
            }
            ["tenant", "offboard"] => (Method::POST, Endpoint::Offboard),
            _ => return no_such_endpoint(&req.path),
        };
        if req.method != expected {
            return method_not_allowed();
        }
        if let Err(resp) = self.authenticate(st, req) {
            return resp;
        }
        if let Err(resp) = self.rate_limit(st, expected != Method::GET) {
            return resp;
        }
        match kind {
            Endpoint::List => Self::list(st, req),
            Endpoint::Detail(id) => Self::detail(st, id),
            Endpoint::SetState(id, activate) => Self::set_state(st, req, id, activate),
            Endpoint::Offboard => Self::offboard(st, req),
            Endpoint::Delete(id) => Self::delete(st, id),
        }
    }

    fn expire_tokens(&self) {
        lock(&self.state).tokens.clear();
    }

    fn concurrent_change(&self, req: &SimRequest) {
        let path = normalize_path(&req.path, true);
        let Some(rest) = Self::endpoint(&path) else {
            return;
        };
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let id = match segments.as_slice() {
            ["organization", id, ..] => id.parse().ok(),
            ["tenant", "offboard"] => serde_json::from_slice::<Value>(&req.body)
                .ok()
                .and_then(|b| b.get("tenantId").and_then(json_u32)),
            _ => None,
        };
        let mut st = lock(&self.state);
        st.list_cache = None;
        if let Some(org) = id.and_then(|id| st.orgs.get_mut(&id)) {
            org.opts = if org.opts.is_active() {
                DeactivateOptions::DEACTIVATED
            } else {
                DeactivateOptions::default()
            };
        }
    }

    fn http200_error(&self, req: &SimRequest, code: i64, message: &str) -> SimResponse {
        let path = normalize_path(&req.path, true);
        let rest = Self::endpoint(&path).unwrap_or("");
        let body = if rest == "/login" {
            json!({"errList": [{"errorCode": code, "errLogMessage": message}]})
        } else if rest.contains("/action/") {
            json!({
                "response": {"errorCode": code},
                "error": {"errorMessage": message, "errorCode": code},
            })
        } else {
            json!({"errorMessage": message, "errorCode": code})
        };
        SimResponse::json(200, &body)
    }

    fn error_response(&self, status: u16) -> SimResponse {
        let (message, code) = match status {
            401 => ("Access denied", 5),
            404 => ("Not found", 2),
            429 => ("API rate limit exceeded", 429),
            500 => ("Internal server error", 500),
            502 => ("Bad gateway", 502),
            503 => ("Service unavailable", 503),
            _ => ("Request failed", i64::from(status)),
        };
        SimResponse::json(status, &json!({"errorMessage": message, "errorCode": code}))
    }

    fn state_json(&self) -> Value {
        let st = lock(&self.state);
        let now = Instant::now();
        json!({
            "organizations": st.order.iter().filter_map(|id| st.orgs.get(id)).map(|o| json!({
                "id": o.id,
                "connectName": o.name,
                "domainName": o.domain,
                "providerGUID": o.guid,
                "description": o.description,
                "deactivateOptions": o.opts.to_json(),
                "enabled": o.opts.is_active(),
                "status": o.opts.status(),
                "offboarded": st.offboarded.contains(&o.id),
            })).collect::<Vec<_>>(),
            "deleted": st.deleted,
            "logins": st.logins,
            "failed_logins": st.failed_logins,
            "live_tokens": st.tokens.values().filter(|t| now.duration_since(**t) < self.idle_timeout).count(),
        })
    }

    fn fixtures_json(&self) -> Value {
        let f = &self.fixtures;
        json!({
            "username": self.username,
            "password": self.password,
            "acme_corp_id": f.acme_corp_id,
            "twin_co_ids": f.twin_co_ids,
            "dormant_id": f.dormant_id,
            "halfway_id": f.halfway_id,
        })
    }
}

enum Endpoint {
    List,
    Detail(Option<u32>),
    SetState(Option<u32>, bool),
    Offboard,
    Delete(Option<u32>),
}

/// A JSON number or numeric string as an id.
fn json_u32(value: &Value) -> Option<u32> {
    match value {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn access_denied() -> SimResponse {
    SimResponse::json(
        401,
        &json!({"errorMessage": "Access denied", "errorCode": 5}),
    )
}

fn not_found() -> SimResponse {
    SimResponse::json(
        404,
        &json!({"errorMessage": "Organization not found", "errorCode": 2}),
    )
}

fn action_failure(code: i64, message: &str) -> SimResponse {
    SimResponse::json(
        200,
        &json!({
            "response": {"errorCode": code},
            "error": {"errorMessage": message, "errorCode": code},
        }),
    )
}

fn no_such_endpoint(path: &str) -> SimResponse {
    SimResponse::json(
        404,
        &json!({"errorMessage": format!("No such resource: {path}"), "errorCode": 404}),
    )
}

fn method_not_allowed() -> SimResponse {
    SimResponse::json(
        405,
        &json!({"errorMessage": "Method not allowed", "errorCode": 405}),
    )
}

/// A running Commvault simulator. Dropping it stops the server.
///
/// ```no_run
/// use tenantctl_simulator::{CommvaultConfig, CommvaultSim};
/// let sim = CommvaultSim::start(CommvaultConfig::default());
/// let url = sim.url(); // http://127.0.0.1:PORT/commandcenter/api
/// assert!(sim.organization(sim.acme_corp_id()).unwrap().enabled());
/// ```
pub struct CommvaultSim {
    server: Server<Commvault>,
}

impl CommvaultSim {
    /// Starts a simulator on `127.0.0.1` with a free port.
    ///
    /// # Panics
    /// If no loopback port can be bound or the server thread cannot start.
    pub fn start(config: CommvaultConfig) -> Self {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config)
            .expect("starting the Commvault simulator on 127.0.0.1")
    }

    /// Starts a simulator on `addr` (port 0 picks a free one).
    pub fn start_on(addr: SocketAddr, config: CommvaultConfig) -> io::Result<Self> {
        let vendor = Commvault::new(&config);
        Ok(CommvaultSim {
            server: Server::start(addr, vendor, config.seed, "commvault")?,
        })
    }

    /// The web-service URL, `http://127.0.0.1:PORT/commandcenter/api`.
    pub fn url(&self) -> String {
        format!("{}/commandcenter/api", self.base_url())
    }

    /// The legacy web-service URL, `http://127.0.0.1:PORT/webconsole/api`.
    pub fn legacy_url(&self) -> String {
        format!("{}/webconsole/api", self.base_url())
    }

    /// `http://127.0.0.1:PORT`, where the `/_sim/` control API lives.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The user name `Login` accepts.
    pub fn username(&self) -> &str {
        &self.server.vendor().username
    }

    /// The (plain) password `Login` accepts.
    pub fn password(&self) -> &str {
        &self.server.vendor().password
    }

    /// All fixture ids.
    pub fn fixtures(&self) -> &CommvaultFixtures {
        &self.server.vendor().fixtures
    }

    /// `Acme Corp`.
    pub fn acme_corp_id(&self) -> u32 {
        self.fixtures().acme_corp_id
    }

    /// `Twin Co` and `TWIN CO`.
    pub fn twin_co_ids(&self) -> [u32; 2] {
        self.fixtures().twin_co_ids
    }

    /// `Dormant Ltd`, deactivated.
    pub fn dormant_id(&self) -> u32 {
        self.fixtures().dormant_id
    }

    /// `Halfway Inc`, partly deactivated.
    pub fn halfway_id(&self) -> u32 {
        self.fixtures().halfway_id
    }

    /// The id of generated company `Company {n:05}` (`n` from 1 to `tenants`).
    pub fn company_id(&self, n: usize) -> Option<u32> {
        let st = lock(&self.server.vendor().state);
        n.checked_sub(1).and_then(|i| st.generated.get(i).copied())
    }

    /// A snapshot of organization `id`; `None` once it is deleted.
    pub fn organization(&self, id: u32) -> Option<CommvaultOrganization> {
        lock(&self.server.vendor().state)
            .orgs
            .get(&id)
            .map(Org::snapshot)
    }

    /// Every organization whose name equals `name` ignoring case, in creation order.
    pub fn organizations_named(&self, name: &str) -> Vec<CommvaultOrganization> {
        let wanted = name.to_lowercase();
        let st = lock(&self.server.vendor().state);
        st.order
            .iter()
            .filter_map(|id| st.orgs.get(id))
            .filter(|o| o.name_lower == wanted)
            .map(Org::snapshot)
            .collect()
    }

    /// How many organizations exist, fixtures included.
    pub fn organization_count(&self) -> usize {
        lock(&self.server.vendor().state).orgs.len()
    }

    /// Sets organization `id`'s deactivate options directly.
    ///
    /// # Panics
    /// If the organization does not exist.
    pub fn set_deactivate_options(&self, id: u32, backup: bool, restore: bool, login: bool) {
        let mut st = lock(&self.server.vendor().state);
        let org = st
            .orgs
            .get_mut(&id)
            .unwrap_or_else(|| panic!("no Commvault organization {id}"));
        org.opts = DeactivateOptions {
            disable_backup: backup,
            disable_restore: restore,
            disable_login: login,
        };
        st.list_cache = None;
    }

    /// Ids of every organization offboarded so far, ascending.
    pub fn offboarded(&self) -> Vec<u32> {
        lock(&self.server.vendor().state)
            .offboarded
            .iter()
            .copied()
            .collect()
    }

    /// Whether organization `id` has been offboarded.
    pub fn is_offboarded(&self, id: u32) -> bool {
        lock(&self.server.vendor().state).offboarded.contains(&id)
    }

    /// Whether organization `id` was deleted.
    pub fn is_deleted(&self, id: u32) -> bool {
        lock(&self.server.vendor().state).deleted.contains(&id)
    }

    /// Ids of every organization deleted so far, ascending.
    pub fn deleted(&self) -> Vec<u32> {
        lock(&self.server.vendor().state)
            .deleted
            .iter()
            .copied()
            .collect()
    }

    /// Adds an active organization named `name`; returns its id.
    pub fn add_organization(&self, name: &str) -> u32 {
        lock(&self.server.vendor().state).insert(
            name,
            "Added by a test",
            DeactivateOptions::default(),
        )
    }

    /// How many logins succeeded.
    pub fn login_count(&self) -> u64 {
        lock(&self.server.vendor().state).logins
    }

    /// How many logins failed.
    pub fn failed_login_count(&self) -> u64 {
        lock(&self.server.vendor().state).failed_logins
    }

    common_methods!();
}
