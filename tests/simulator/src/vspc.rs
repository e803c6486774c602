//! The Veeam Service Provider Console REST API v3 simulator.
//!
//! Serves `POST /api/v3/token`, `GET /api/v3/organizations/companies` (with the documented
//! `filter`, `limit` and `offset`), `GET|PATCH|DELETE /api/v3/organizations/companies/{uid}`
//! and `GET /api/v3/asyncActions/{id}` (the asynchronous delete is polled there), as
//! `docs/vendors.md` ("Veeam Service Provider Console") describes them. Paths compare
//! ignoring case, as the vendor's ASP.NET server does.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::Method;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use crate::record::lock;
use crate::server::{Server, SimRequest, SimResponse, Vendor, common_methods};
use crate::util::{normalize_path, parse_form, percent_decode, random_hex, uuid};

/// The largest page the company list serves (`limit` 1–500).
const MAX_LIMIT: usize = 500;
/// The page size when `limit` is not given.
const DEFAULT_LIMIT: usize = 100;

/// A company's `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VspcStatus {
    /// `Unknown`.
    Unknown,
    /// `Active`: enabled.
    Active,
    /// `Disabled`.
    Disabled,
    /// `Expired`.
    Expired,
    /// `Creating`.
    Creating,
    /// `Deleting`.
    Deleting,
    /// `Deleted`.
    Deleted,
}

impl VspcStatus {
    /// The API spelling: `Active`, `Disabled`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            VspcStatus::Unknown => "Unknown",
            VspcStatus::Active => "Active",
            VspcStatus::Disabled => "Disabled",
            VspcStatus::Expired => "Expired",
            VspcStatus::Creating => "Creating",
            VspcStatus::Deleting => "Deleting",
            VspcStatus::Deleted => "Deleted",
        }
    }

    /// The status named `text`, ignoring case.
    pub fn parse(text: &str) -> Option<VspcStatus> {
        [
            VspcStatus::Unknown,
            VspcStatus::Active,
            VspcStatus::Disabled,
            VspcStatus::Expired,
            VspcStatus::Creating,
            VspcStatus::Deleting,
            VspcStatus::Deleted,
        ]
        .into_iter()
        .find(|status| status.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

/// The `status` of an async action (`GET /api/v3/asyncActions/{id}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VspcActionStatus {
    /// `running`: still in progress; poll again.
    Running,
    /// `succeed`: done.
    Succeed,
    /// `failed`: the action did not complete; the error is in the answer's `errors`.
    Failed,
    /// `canceled`: the action was canceled.
    Canceled,
}

impl VspcActionStatus {
    /// The API spelling: `running`, `succeed`, `failed` or `canceled`.
    pub fn as_str(self) -> &'static str {
        match self {
            VspcActionStatus::Running => "running",
            VspcActionStatus::Succeed => "succeed",
            VspcActionStatus::Failed => "failed",
            VspcActionStatus::Canceled => "canceled",
        }
    }
}

/// One company `DELETE` the simulator accepted (202), with the parameters it was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VspcDeletion {
    /// The company's `instanceUid`.
    pub company_uid: String,
    /// The async action tracking it (the last segment of the `Location` header).
    pub action_id: String,
    /// The `removeAllAgents` query parameter.
    pub remove_all_agents: bool,
    /// The `removeBackups` query parameter.
    pub remove_backups: bool,
    /// Where the async action stands.
    pub status: VspcActionStatus,
}

/// A throttling policy: at most `requests` API requests per `period`, then 429.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VspcRateLimit {
    /// Requests allowed per period (token requests included; the control API is not).
    pub requests: u32,
    /// The window length; counts start over when it has passed.
    pub period: Duration,
}

/// How to seed and run a [`VspcSim`].
#[derive(Clone, Debug)]
pub struct VspcConfig {
    /// How many generated companies (`Company 00001`, …) to create besides the fixtures.
    pub tenants: usize,
    /// The user name `POST /token` accepts (compared ignoring case, like Windows accounts).
    pub username: String,
    /// The password `POST /token` accepts.
    pub password: String,
    /// How long an access token lives, in seconds (the real service: 1 hour).
    pub token_lifetime_secs: u64,
    /// Answer a company `PATCH` with 202 and a `Location` header naming a pollable async
    /// action instead of 200 and the company (the change is still applied at once).
    pub async_patches: bool,
    /// How many polls of an async action answer `running` before it finishes (the next poll
    /// answers `succeed`, `failed` or `canceled`). A company being deleted is `Deleting`
    /// until then.
    pub async_polls: u32,
    /// How long a finished async action stays readable after it succeeded, in seconds (the
    /// real service: 5 minutes); then its URL answers 404.
    pub async_success_ttl_secs: u64,
    /// How long a finished async action stays readable after it failed or was canceled, in
    /// seconds (the real service: 1 hour).
    pub async_failure_ttl_secs: u64,
    /// Optional throttling; `None` (the default) never answers 429.
    pub rate_limit: Option<VspcRateLimit>,
    /// Seed for uids, tokens and probabilistic faults.
    pub seed: u64,
}

impl Default for VspcConfig {
    fn default() -> Self {
        VspcConfig {
            tenants: 25,
            username: "vspc\\administrator".to_string(),
            password: "demo-password".to_string(),
            token_lifetime_secs: 3600,
            async_patches: false,
            async_polls: 2,
            async_success_ttl_secs: 5 * 60,
            async_failure_ttl_secs: 60 * 60,
            rate_limit: None,
            seed: 1,
        }
    }
}

/// A snapshot of one simulated company.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VspcCompany {
    /// `instanceUid` (lower-case UUID).
    pub uid: String,
    /// `name`.
    pub name: String,
    /// `status`.
    pub status: VspcStatus,
}

impl VspcCompany {
    /// Whether the company is enabled (`Active`).
    pub fn enabled(&self) -> bool {
        self.status == VspcStatus::Active
    }
}

/// The uids of the fixed companies every [`VspcSim`] is seeded with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VspcFixtures {
    /// `Acme Corp`, Active.
    pub acme_corp_uid: String,
    /// `Acme Corporation`, Active (a `contains` search for "Acme Corp" finds it too).
    pub acme_corporation_uid: String,
    /// `Twin Co` and `TWIN CO` (the same name ignoring case), both Active.
    pub twin_co_uids: [String; 2],
    /// `Dormant Ltd`, Disabled.
    pub dormant_uid: String,
    /// `Lapsed LLC`, Expired.
    pub lapsed_uid: String,
}

struct Company {
    uid: String,
    name: String,
    status: VspcStatus,
    reseller_uid: Option<String>,
    subscription_plan_uid: Option<String>,
}

impl Company {
    fn snapshot(&self) -> VspcCompany {
        VspcCompany {
            uid: self.uid.clone(),
            name: self.name.clone(),
            status: self.status,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "instanceUid": self.uid,
            "name": self.name,
            "status": self.status.as_str(),
            "resellerUid": self.reseller_uid,
            "subscriptionPlanUid": self.subscription_plan_uid,
            "permissions": ["REST"],
            "isAlarmDetectEnabled": false,
            "companyServices": {"isBackupResourcesEnabled": true, "isVb365ResourcesEnabled": false},
            "loginUrl": null,
        })
    }
}

struct Window {
    start: Instant,
    used: u32,
}

/// What finishing an async action does.
enum Work {
    /// Remove the company (on success) or put its status back (on failure).
    Delete { uid: String, previous: VspcStatus },
    /// Nothing: the change was applied when the action started.
    Applied,
}

struct AsyncAction {
    id: String,
    name: &'static str,
    start_time: String,
    status: VspcActionStatus,
    /// Polls still to answer `running`.
    polls_left: u32,
    work: Work,
    /// Set by [`crate::Fault::AsyncFailure`]: the action ends `failed` (or `canceled`).
    failure: Option<(String, bool)>,
    error: Option<String>,
    finished_at: Option<Instant>,
}

impl AsyncAction {
    fn to_json(&self) -> Value {
        let errors = self
            .error
            .as_ref()
            .map(|message| json!([{"message": message, "type": "logical", "code": 1000}]));
        json!({
            "data": {
                "id": self.id,
                "actionName": self.name,
                "startTime": self.start_time,
                "status": self.status.as_str(),
            },
            "meta": null,
            "errors": errors,
        })
    }
}

struct State {
    companies: HashMap<String, Company>,
    /// Creation order, so that lists are deterministic.
    order: Vec<String>,
    generated: Vec<String>,
    /// Access token -> expiry.
    tokens: HashMap<String, Instant>,
    /// Refresh tokens still usable.
    refresh_tokens: Vec<String>,
    rng: StdRng,
    tokens_issued: u64,
    failed_logins: u64,
    window: Option<Window>,
    actions: HashMap<String, AsyncAction>,
    deletions: Vec<VspcDeletion>,
    /// Uids of deleted companies, in the order their deletions finished.
    deleted: Vec<String>,
}

impl State {
    fn insert(&mut self, name: &str, status: VspcStatus) -> String {
        let uid = uuid(&mut self.rng);
        self.companies.insert(
            uid.clone(),
            Company {
                uid: uid.clone(),
                name: name.to_string(),
                status,
                reseller_uid: None,
                subscription_plan_uid: None,
            },
        );
        self.order.push(uid.clone());
        uid
    }

    /// Forgets finished actions whose results are past their retention time.
    fn expire_actions(&mut self, success_ttl: Duration, failure_ttl: Duration) {
        let now = Instant::now();
        self.actions.retain(|_, action| {
            let ttl = match action.status {
                VspcActionStatus::Succeed => success_ttl,
                _ => failure_ttl,
            };
            action
                .finished_at
                .is_none_or(|at| now.duration_since(at) < ttl)
        });
    }

    /// Finishes action `id`: applies its work, or undoes it when a failure was injected.
    fn finish(&mut self, id: &str) {
        let Some(action) = self.actions.get_mut(id) else {
            return;
        };
        let (status, error) = match &action.failure {
            Some((message, true)) => (VspcActionStatus::Canceled, message.clone()),
            Some((message, false)) => (VspcActionStatus::Failed, message.clone()),
            None => (VspcActionStatus::Succeed, String::new()),
        };
        action.status = status;
        action.error = (status != VspcActionStatus::Succeed).then_some(error);
        action.finished_at = Some(Instant::now());
        if let Work::Delete { uid, previous } = &action.work {
            let (uid, previous) = (uid.clone(), *previous);
            if status == VspcActionStatus::Succeed {
                self.companies.remove(&uid);
                self.order.retain(|u| *u != uid);
                self.deleted.push(uid);
            } else if let Some(company) = self.companies.get_mut(&uid) {
                company.status = previous;
            }
        }
        if let Some(deletion) = self.deletions.iter_mut().find(|d| d.action_id == id) {
            deletion.status = status;
        }
    }
}

/// The VSPC vendor state behind the HTTP server.
pub(crate) struct Vspc {
    state: Mutex<State>,
    fixtures: VspcFixtures,
    username: String,
    password: String,
    token_lifetime: Duration,
    async_patches: bool,
    async_polls: u32,
    async_success_ttl: Duration,
    async_failure_ttl: Duration,
    rate_limit: Option<VspcRateLimit>,
    /// `http://addr`, for `Location` headers; set once the server is bound.
    origin: Mutex<String>,
}

impl Vspc {
    fn new(config: &VspcConfig) -> Self {
        let mut st = State {
            companies: HashMap::with_capacity(config.tenants + 8),
            order: Vec::with_capacity(config.tenants + 8),
            generated: Vec::with_capacity(config.tenants),
            tokens: HashMap::new(),
            refresh_tokens: Vec::new(),
            // Salted so that simulators started with the same seed do not share ids.
            rng: StdRng::seed_from_u64(config.seed ^ 0x7590_c0de),
            tokens_issued: 0,
            failed_logins: 0,
            window: None,
            actions: HashMap::new(),
            deletions: Vec::new(),
            deleted: Vec::new(),
        };
        let acme_corp_uid = st.insert("Acme Corp", VspcStatus::Active);
        let acme_corporation_uid = st.insert("Acme Corporation", VspcStatus::Active);
        let twin_a = st.insert("Twin Co", VspcStatus::Active);
        let twin_b = st.insert("TWIN CO", VspcStatus::Active);
        let dormant_uid = st.insert("Dormant Ltd", VspcStatus::Disabled);
        let lapsed_uid = st.insert("Lapsed LLC", VspcStatus::Expired);
        for n in 1..=config.tenants {
            let uid = st.insert(&format!("Company {n:05}"), VspcStatus::Active);
            st.generated.push(uid);
        }
        Vspc {
            state: Mutex::new(st),
            fixtures: VspcFixtures {
                acme_corp_uid,
                acme_corporation_uid,
                twin_co_uids: [twin_a, twin_b],
                dormant_uid,
                lapsed_uid,
            },
            username: config.username.clone(),
            password: config.password.clone(),
            token_lifetime: Duration::from_secs(config.token_lifetime_secs),
            async_patches: config.async_patches,
            async_polls: config.async_polls,
            async_success_ttl: Duration::from_secs(config.async_success_ttl_secs),
            async_failure_ttl: Duration::from_secs(config.async_failure_ttl_secs),
            rate_limit: config.rate_limit,
            origin: Mutex::new(String::new()),
        }
    }

    /// `POST /token`: the password grant (and the refresh-token grant).
    fn token(&self, st: &mut State, req: &SimRequest) -> SimResponse {
        if !req.content_type_is("application/x-www-form-urlencoded") {
            return unsupported_media_type();
        }
        let form = parse_form(&String::from_utf8_lossy(&req.body));
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        match field("grant_type") {
            Some("password") => {
                let ok = field("username").is_some_and(|u| u.eq_ignore_ascii_case(&self.username))
                    && field("password") == Some(self.password.as_str());
                if !ok {
                    st.failed_logins += 1;
                    return errors(401, "security", 401, "Invalid username or password.", None);
                }
            }
            Some("refresh_token") => {
                let given = field("refresh_token").unwrap_or_default();
                let Some(at) = st.refresh_tokens.iter().position(|t| t == given) else {
                    st.failed_logins += 1;
                    return errors(401, "security", 401, "Invalid refresh token.", None);
                };
                st.refresh_tokens.remove(at);
            }
            Some(_) | None => {
                return errors(
                    400,
                    "logical",
                    400,
                    "Unsupported grant type.",
                    Some(("parameterName", "grant_type")),
                );
            }
        }
        let access_token = random_hex(&mut st.rng, 64);
        let refresh_token = random_hex(&mut st.rng, 64);
        st.tokens
            .insert(access_token.clone(), Instant::now() + self.token_lifetime);
        st.refresh_tokens.push(refresh_token.clone());
        st.tokens_issued += 1;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        SimResponse::json(
            200,
            &json!({
                "access_token": access_token,
                "token_type": "bearer",
                "refresh_token": refresh_token,
                "mfa_token": null,
                "encrypted_code": null,
                "expires_in": self.token_lifetime.as_secs(),
                ".issued": now,
                ".expires": now + self.token_lifetime.as_secs(),
            }),
        )
    }

    /// Checks the bearer token (the scheme compares ignoring case).
    fn authenticate(st: &mut State, req: &SimRequest) -> Result<(), SimResponse> {
        let token = req.header("authorization").and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_string())
        });
        let denied = || {
            errors(
                401,
                "security",
                401,
                "Authorization has been denied for this request.",
                None,
            )
        };
        let Some(token) = token else {
            return Err(denied());
        };
        match st.tokens.get(&token) {
            Some(expiry) if Instant::now() < *expiry => Ok(()),
            Some(_) => {
                st.tokens.remove(&token);
                Err(denied())
            }
            None => Err(denied()),
        }
    }

    /// Counts the request against the throttling policy, or answers 429 with `retryAfter`.
    fn throttle(&self, st: &mut State) -> Result<(), SimResponse> {
        let Some(limit) = self.rate_limit else {
            return Ok(());
        };
        let now = Instant::now();
        let window = st.window.get_or_insert(Window {
            start: now,
            used: 0,
        });
        if now.duration_since(window.start) >= limit.period {
            *window = Window {
                start: now,
                used: 0,
            };
        }
        if window.used < limit.requests {
            window.used += 1;
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
            &json!({"errors": [{"type": "transport", "code": 429, "retryAfter": remaining as u64}]}),
        ))
    }

    /// `GET /organizations/companies` with `filter`, `limit` and `offset`.
    fn list(st: &State, req: &SimRequest) -> SimResponse {
        let bad = |name: &str, message: &str| {
            errors(400, "logical", 400, message, Some(("parameterName", name)))
        };
        let limit = match req.query("limit") {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => return bad("limit", "Property value must be between 1 and 500."),
            },
        };
        let offset = match req.query("offset") {
            None => 0,
            Some(raw) => match raw.trim().parse::<usize>() {
                Ok(n) => n,
                Err(_) => return bad("offset", "Property value must be larger or equal to 0."),
            },
        };
        let filters = match req.query("filter") {
            None => Vec::new(),
            Some(raw) => match Filter::parse_all(raw) {
                Ok(filters) => filters,
                Err(message) => return bad("filter", &message),
            },
        };
        let matching: Vec<&Company> = st
            .order
            .iter()
            .filter_map(|uid| st.companies.get(uid))
            .filter(|company| filters.iter().all(|f| f.matches(company)))
            .collect();
        let page: Vec<Value> = matching
            .iter()
            .skip(offset)
            .take(limit)
            .map(|company| company.to_json())
            .collect();
        SimResponse::json(
            200,
            &json!({
                "data": page,
                "meta": {"pagingInfo": {"total": matching.len(), "count": page.len(), "offset": offset}},
            }),
        )
    }

    /// `GET /organizations/companies/{uid}`.
    fn detail(st: &State, uid: &str) -> SimResponse {
        match st.companies.get(uid) {
            Some(company) => SimResponse::json(200, &json!({"data": company.to_json()})),
            None => company_not_found(uid),
        }
    }

    /// `PATCH /organizations/companies/{uid}` with a JSON Patch of `/status`.
    fn patch(
        &self,
        st: &mut State,
        req: &SimRequest,
        uid: &str,
        failure: Option<(String, bool)>,
    ) -> SimResponse {
        if !req.content_type_is("application/json") {
            return unsupported_media_type();
        }
        let Some(company) = st.companies.get(uid) else {
            return company_not_found(uid);
        };
        let ops = match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Array(ops)) if !ops.is_empty() => ops,
            _ => {
                return errors(
                    400,
                    "logical",
                    400,
                    "The request body must be a non-empty array of JSON Patch operations.",
                    None,
                );
            }
        };
        let mut status = company.status;
        for op in &ops {
            let kind = op.get("op").and_then(Value::as_str).unwrap_or_default();
            let path = op.get("path").and_then(Value::as_str).unwrap_or_default();
            if !path.eq_ignore_ascii_case("/status") {
                return errors(
                    400,
                    "logical",
                    400,
                    &format!("Property {path:?} cannot be modified."),
                    Some(("propertyName", path.trim_start_matches('/'))),
                );
            }
            if !(kind.eq_ignore_ascii_case("replace") || kind.eq_ignore_ascii_case("add")) {
                return errors(
                    400,
                    "logical",
                    400,
                    &format!("Operation {kind:?} is not supported for status."),
                    Some(("propertyName", "status")),
                );
            }
            let wanted = op
                .get("value")
                .and_then(Value::as_str)
                .and_then(VspcStatus::parse)
                .filter(|s| matches!(s, VspcStatus::Active | VspcStatus::Disabled));
            let Some(wanted) = wanted else {
                return errors(
                    400,
                    "logical",
                    400,
                    "Company status can be changed to Active or Disabled only.",
                    Some(("propertyName", "status")),
                );
            };
            if !matches!(company.status, VspcStatus::Active | VspcStatus::Disabled) {
                return errors(
                    400,
                    "logical",
                    400,
                    &format!(
                        "Company in the {} state cannot be enabled or disabled.",
                        company.status.as_str()
                    ),
                    Some(("propertyName", "status")),
                );
            }
            status = wanted;
        }
        if self.async_patches {
            // An injected failure leaves the company as it was; otherwise the change is
            // visible at once, before the action reports it done.
            if failure.is_none()
                && let Some(company) = st.companies.get_mut(uid)
            {
                company.status = status;
            }
            let action = self.start_action(st, "PatchCompany", Work::Applied, failure);
            return SimResponse::text(202, "application/json; charset=utf-8", "")
                .with_header("Location", self.action_url(&action));
        }
        let Some(company) = st.companies.get_mut(uid) else {
            return company_not_found(uid);
        };
        company.status = status;
        SimResponse::json(200, &json!({"data": company.to_json()}))
    }

    /// `DELETE /organizations/companies/{uid}?removeAllAgents=&removeBackups=`: 202 and an
    /// async action; the company is `Deleting` until the action finishes.
    fn delete(
        &self,
        st: &mut State,
        req: &SimRequest,
        uid: &str,
        failure: Option<(String, bool)>,
    ) -> SimResponse {
        let flag = |name: &str| match req.query(name).map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(_) => Err(errors(
                400,
                "logical",
                400,
                &format!("The {name} parameter must be true or false."),
                Some(("parameterName", name)),
            )),
            None => Err(errors(
                400,
                "logical",
                400,
                &format!("The {name} parameter is required."),
                Some(("parameterName", name)),
            )),
        };
        let (remove_all_agents, remove_backups) =
            match (flag("removeAllAgents"), flag("removeBackups")) {
                (Ok(agents), Ok(backups)) => (agents, backups),
                (Err(resp), _) | (_, Err(resp)) => return resp,
            };
        let Some(company) = st.companies.get_mut(uid) else {
            return company_not_found(uid);
        };
        if company.status != VspcStatus::Disabled {
            return errors(
                400,
                "logical",
                400,
                &format!(
                    "Company in the {} state cannot be deleted; disable it first.",
                    company.status.as_str()
                ),
                None,
            );
        }
        company.status = VspcStatus::Deleting;
        let work = Work::Delete {
            uid: uid.to_string(),
            previous: VspcStatus::Disabled,
        };
        let action = self.start_action(st, "DeleteCompany", work, failure);
        st.deletions.push(VspcDeletion {
            company_uid: uid.to_string(),
            action_id: action.clone(),
            remove_all_agents,
            remove_backups,
            status: VspcActionStatus::Running,
        });
        let body = st
            .actions
            .get(&action)
            .map_or(Value::Null, AsyncAction::to_json);
        SimResponse::json(202, &body).with_header("Location", self.action_url(&action))
    }

    /// Registers a running async action; returns its id.
    fn start_action(
        &self,
        st: &mut State,
        name: &'static str,
        work: Work,
        failure: Option<(String, bool)>,
    ) -> String {
        st.expire_actions(self.async_success_ttl, self.async_failure_ttl);
        let id = uuid(&mut st.rng);
        st.actions.insert(
            id.clone(),
            AsyncAction {
                id: id.clone(),
                name,
                start_time: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
                status: VspcActionStatus::Running,
                polls_left: self.async_polls,
                work,
                failure,
                error: None,
                finished_at: None,
            },
        );
        id
    }

    /// `GET /asyncActions/{id}`: `running` for the configured number of polls, then the
    /// outcome, readable until its retention time has passed.
    fn poll_action(&self, st: &mut State, id: &str) -> SimResponse {
        st.expire_actions(self.async_success_ttl, self.async_failure_ttl);
        let finishes = match st.actions.get_mut(id) {
            None => {
                return errors(
                    404,
                    "logical",
                    404,
                    &format!("Async action with UID {id} does not exist."),
                    None,
                );
            }
            Some(action) if action.status != VspcActionStatus::Running => false,
            Some(action) if action.polls_left == 0 => true,
            Some(action) => {
                action.polls_left -= 1;
                false
            }
        };
        if finishes {
            st.finish(id);
        }
        let body = st.actions.get(id).map_or(Value::Null, AsyncAction::to_json);
        SimResponse::json(200, &body)
    }

    /// `http://addr/api/v3/asyncActions/{id}`, for `Location` headers.
    fn action_url(&self, id: &str) -> String {
        format!("{}/api/v3/asyncActions/{id}", lock(&self.origin))
    }

    /// The async action id a path targets, lower-cased, if it is an async action path.
    fn action_id(path: &str) -> Option<String> {
        let normalized = normalize_path(path, true);
        normalized
            .strip_prefix("/api/v3/asyncactions/")
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .map(|id| percent_decode(id, false))
    }

    /// The company uid a path targets, lower-cased, if it is a company path.
    fn company_uid(path: &str) -> Option<String> {
        let normalized = normalize_path(path, true);
        normalized
            .strip_prefix("/api/v3/organizations/companies/")
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .map(|uid| percent_decode(uid, false))
    }
}

/// One clause of the documented `filter` query parameter.
struct Filter {
    property: String,
    operation: String,
    ignore_case: bool,
    value: Value,
}

impl Filter {
    /// Parses `[{"property", "operation", "collation", "value"}, …]`.
    fn parse_all(raw: &str) -> Result<Vec<Filter>, String> {
        let clauses: Vec<Value> =
            serde_json::from_str(raw).map_err(|err| format!("Filter is not valid JSON: {err}."))?;
        clauses
            .iter()
            .map(|clause| {
                let text = |name: &str| clause.get(name).and_then(Value::as_str);
                let property = text("property")
                    .ok_or("Filter property is required.")?
                    .to_ascii_lowercase();
                if !matches!(property.as_str(), "name" | "status" | "instanceuid") {
                    return Err(format!("Filtering by {property:?} is not supported."));
                }
                let operation = text("operation").unwrap_or("equals").to_ascii_lowercase();
                if !matches!(
                    operation.as_str(),
                    "equals" | "notequals" | "contains" | "in"
                ) {
                    return Err(format!("Operation {operation:?} is not supported."));
                }
                let ignore_case = match text("collation").map(str::to_ascii_lowercase) {
                    None => false,
                    Some(c) if c == "ordinal" || c == "lexicographic" => false,
                    Some(c) if c == "ignorecase" => true,
                    Some(c) => return Err(format!("Collation {c:?} is not supported.")),
                };
                Ok(Filter {
                    property,
                    operation,
                    ignore_case,
                    value: clause.get("value").cloned().unwrap_or(Value::Null),
                })
            })
            .collect()
    }

    fn matches(&self, company: &Company) -> bool {
        let field = match self.property.as_str() {
            "name" => company.name.as_str(),
            "status" => company.status.as_str(),
            _ => company.uid.as_str(),
        };
        let fold = |s: &str| {
            if self.ignore_case {
                s.to_lowercase()
            } else {
                s.to_string()
            }
        };
        let field = fold(field);
        let values: Vec<String> = match &self.value {
            Value::Array(items) => items.iter().filter_map(Value::as_str).map(fold).collect(),
            Value::String(s) => vec![fold(s)],
            _ => Vec::new(),
        };
        match self.operation.as_str() {
            "equals" => values.first().is_some_and(|v| *v == field),
            "notequals" => values.first().is_none_or(|v| *v != field),
            "contains" => values.first().is_some_and(|v| field.contains(v.as_str())),
            _ => values.contains(&field),
        }
    }
}

impl Vspc {
    /// Serves one request; `failure` (from [`crate::Fault::AsyncFailure`]) makes the async
    /// action it starts end badly.
    fn serve(&self, req: &SimRequest, failure: Option<(String, bool)>) -> SimResponse {
        let path = normalize_path(&req.path, true);
        let mut st = lock(&self.state);
        let st = &mut *st;
        if let Err(resp) = self.throttle(st) {
            return resp;
        }
        if path == "/api/v3/token" {
            return if req.method == Method::POST {
                self.token(st, req)
            } else {
                method_not_allowed()
            };
        }
        if path == "/api/v3/organizations/companies" {
            if req.method != Method::GET {
                return method_not_allowed();
            }
            if let Err(resp) = Self::authenticate(st, req) {
                return resp;
            }
            return Self::list(st, req);
        }
        if let Some(uid) = Self::company_uid(&req.path) {
            if let Err(resp) = Self::authenticate(st, req) {
                return resp;
            }
            return match req.method {
                Method::GET => Self::detail(st, &uid),
                Method::PATCH => self.patch(st, req, &uid, failure),
                Method::DELETE => self.delete(st, req, &uid, failure),
                _ => method_not_allowed(),
            };
        }
        if let Some(id) = Self::action_id(&req.path) {
            if let Err(resp) = Self::authenticate(st, req) {
                return resp;
            }
            return if req.method == Method::GET {
                self.poll_action(st, &id)
            } else {
                method_not_allowed()
            };
        }
        errors(
            404,
            "logical",
            404,
            &format!("Resource {} does not exist.", req.path),
            None,
        )
    }
}

impl Vendor for Vspc {
    fn handle(&self, req: &SimRequest) -> SimResponse {
        self.serve(req, None)
    }

    fn handle_async_failure(&self, req: &SimRequest, message: &str, canceled: bool) -> SimResponse {
        self.serve(req, Some((message.to_string(), canceled)))
    }

    fn expire_tokens(&self) {
        lock(&self.state).tokens.clear();
    }

    fn concurrent_change(&self, req: &SimRequest) {
        let Some(uid) = Self::company_uid(&req.path) else {
            return;
        };
        if let Some(company) = lock(&self.state).companies.get_mut(&uid) {
            company.status = match company.status {
                VspcStatus::Active => VspcStatus::Disabled,
                VspcStatus::Disabled => VspcStatus::Active,
                other => other,
            };
        }
    }

    fn http200_error(&self, _req: &SimRequest, code: i64, message: &str) -> SimResponse {
        SimResponse::json(
            200,
            &json!({"data": null, "errors": [{"message": message, "type": "logical", "code": code}]}),
        )
    }

    fn error_response(&self, status: u16) -> SimResponse {
        let (kind, message) = match status {
            400 => ("logical", "Invalid data input."),
            401 => (
                "security",
                "Authorization has been denied for this request.",
            ),
            403 => ("security", "Access to the requested resource is forbidden."),
            404 => ("logical", "Requested resource does not exist."),
            409 => ("logical", "The resource conflicts with an existing one."),
            429 => ("transport", "Too many requests."),
            _ => ("transport", "Internal server error."),
        };
        errors(status, kind, i64::from(status), message, None)
    }

    fn state_json(&self) -> Value {
        let st = lock(&self.state);
        let now = Instant::now();
        json!({
            "companies": st.order.iter().filter_map(|uid| st.companies.get(uid)).map(|c| json!({
                "instanceUid": c.uid,
                "name": c.name,
                "status": c.status.as_str(),
                "enabled": c.status == VspcStatus::Active,
            })).collect::<Vec<_>>(),
            "deleted": st.deleted,
            "deletions": st.deletions.iter().map(|d| json!({
                "instanceUid": d.company_uid,
                "actionId": d.action_id,
                "removeAllAgents": d.remove_all_agents,
                "removeBackups": d.remove_backups,
                "status": d.status.as_str(),
            })).collect::<Vec<_>>(),
            "tokens_issued": st.tokens_issued,
            "failed_logins": st.failed_logins,
            "live_tokens": st.tokens.values().filter(|expiry| now < **expiry).count(),
        })
    }

    fn fixtures_json(&self) -> Value {
        let f = &self.fixtures;
        json!({
            "username": self.username,
            "password": self.password,
            "acme_corp_uid": f.acme_corp_uid,
            "acme_corporation_uid": f.acme_corporation_uid,
            "twin_co_uids": f.twin_co_uids,
            "dormant_uid": f.dormant_uid,
            "lapsed_uid": f.lapsed_uid,
        })
    }
}

/// The documented error body: `{"errors": [{"message", "type", "code", …}]}`.
fn errors(
    status: u16,
    kind: &str,
    code: i64,
    message: &str,
    about: Option<(&str, &str)>,
) -> SimResponse {
    let mut error = json!({"message": message, "type": kind, "code": code});
    if let (Some((key, value)), Some(map)) = (about, error.as_object_mut()) {
        map.insert(key.to_string(), json!(value));
    }
    SimResponse::json(status, &json!({"errors": [error]}))
}

fn company_not_found(uid: &str) -> SimResponse {
    errors(
        404,
        "logical",
        404,
        &format!("Company with UID {uid} does not exist."),
        None,
    )
}

fn unsupported_media_type() -> SimResponse {
    errors(
        415,
        "logical",
        415,
        "To perform the requested operation, a different content type is required.",
        None,
    )
}

fn method_not_allowed() -> SimResponse {
    errors(405, "logical", 405, "Method not allowed.", None)
}

/// A running Veeam Service Provider Console simulator. Dropping it stops the server.
///
/// ```no_run
/// use tenantctl_simulator::{VspcConfig, VspcSim};
/// let sim = VspcSim::start(VspcConfig::default());
/// let url = sim.url(); // http://127.0.0.1:PORT (the API is under /api/v3)
/// assert!(sim.company(sim.acme_corp_uid()).unwrap().enabled());
/// ```
pub struct VspcSim {
    server: Server<Vspc>,
}

impl VspcSim {
    /// Starts a simulator on `127.0.0.1` with a free port.
    ///
    /// # Panics
    /// If no loopback port can be bound or the server thread cannot start.
    pub fn start(config: VspcConfig) -> Self {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config)
            .expect("starting the VSPC simulator on 127.0.0.1")
    }

    /// Starts a simulator on `addr` (port 0 picks a free one).
    pub fn start_on(addr: SocketAddr, config: VspcConfig) -> io::Result<Self> {
        let vendor = Vspc::new(&config);
        let server = Server::start(addr, vendor, config.seed, "vspc")?;
        *lock(&server.vendor().origin) = format!("http://{}", server.addr());
        Ok(VspcSim { server })
    }

    /// `http://127.0.0.1:PORT`: the base URL to configure (the API is under `/api/v3`, the
    /// control API under `/_sim/`).
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// `http://127.0.0.1:PORT/api/v3`.
    pub fn api_url(&self) -> String {
        format!("{}/api/v3", self.url())
    }

    /// The user name `POST /token` accepts.
    pub fn username(&self) -> &str {
        &self.server.vendor().username
    }

    /// The password `POST /token` accepts.
    pub fn password(&self) -> &str {
        &self.server.vendor().password
    }

    /// All fixture uids.
    pub fn fixtures(&self) -> &VspcFixtures {
        &self.server.vendor().fixtures
    }

    /// `Acme Corp`, Active.
    pub fn acme_corp_uid(&self) -> &str {
        &self.fixtures().acme_corp_uid
    }

    /// `Acme Corporation`, Active.
    pub fn acme_corporation_uid(&self) -> &str {
        &self.fixtures().acme_corporation_uid
    }

    /// `Twin Co` and `TWIN CO`.
    pub fn twin_co_uids(&self) -> [&str; 2] {
        let [a, b] = &self.fixtures().twin_co_uids;
        [a.as_str(), b.as_str()]
    }

    /// `Dormant Ltd`, Disabled.
    pub fn dormant_uid(&self) -> &str {
        &self.fixtures().dormant_uid
    }

    /// `Lapsed LLC`, Expired.
    pub fn lapsed_uid(&self) -> &str {
        &self.fixtures().lapsed_uid
    }

    /// The uid of generated company `Company {n:05}` (`n` from 1 to `tenants`).
    pub fn company_uid(&self, n: usize) -> Option<String> {
        let st = lock(&self.server.vendor().state);
        n.checked_sub(1).and_then(|i| st.generated.get(i).cloned())
    }

    /// A snapshot of company `uid` (compared ignoring case); `None` once it is deleted.
    pub fn company(&self, uid: &str) -> Option<VspcCompany> {
        lock(&self.server.vendor().state)
            .companies
            .get(&uid.to_ascii_lowercase())
            .map(Company::snapshot)
    }

    /// Every company whose name equals `name` ignoring case, in creation order.
    pub fn companies_named(&self, name: &str) -> Vec<VspcCompany> {
        let wanted = name.to_lowercase();
        let st = lock(&self.server.vendor().state);
        st.order
            .iter()
            .filter_map(|uid| st.companies.get(uid))
            .filter(|c| c.name.to_lowercase() == wanted)
            .map(Company::snapshot)
            .collect()
    }

    /// How many companies exist, fixtures included.
    pub fn company_count(&self) -> usize {
        lock(&self.server.vendor().state).companies.len()
    }

    /// Sets company `uid`'s status directly.
    ///
    /// # Panics
    /// If the company does not exist.
    pub fn set_status(&self, uid: &str, status: VspcStatus) {
        let mut st = lock(&self.server.vendor().state);
        let company = st
            .companies
            .get_mut(&uid.to_ascii_lowercase())
            .unwrap_or_else(|| panic!("no VSPC company {uid}"));
        company.status = status;
    }

    /// Adds an Active company named `name`; returns its uid.
    pub fn add_company(&self, name: &str) -> String {
        lock(&self.server.vendor().state).insert(name, VspcStatus::Active)
    }

    /// Whether company `uid` (compared ignoring case) was deleted: its delete action
    /// succeeded.
    pub fn is_deleted(&self, uid: &str) -> bool {
        let uid = uid.to_ascii_lowercase();
        lock(&self.server.vendor().state).deleted.contains(&uid)
    }

    /// Uids of every deleted company, in the order their deletions finished.
    pub fn deleted(&self) -> Vec<String> {
        lock(&self.server.vendor().state).deleted.clone()
    }

    /// Every company `DELETE` accepted so far (202), in the order received, with its
    /// `removeAllAgents` / `removeBackups` parameters and its async action's status.
    pub fn deletions(&self) -> Vec<VspcDeletion> {
        lock(&self.server.vendor().state).deletions.clone()
    }

    /// How many access tokens were issued.
    pub fn tokens_issued(&self) -> u64 {
        lock(&self.server.vendor().state).tokens_issued
    }

    /// How many token requests were refused.
    pub fn failed_login_count(&self) -> u64 {
        lock(&self.server.vendor().state).failed_logins
    }

    common_methods!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn company(name: &str, status: VspcStatus) -> Company {
        Company {
            uid: "u".into(),
            name: name.into(),
            status,
            reseller_uid: None,
            subscription_plan_uid: None,
        }
    }

    #[test]
    fn filters_follow_the_documented_syntax() {
        let f = Filter::parse_all(
            r#"[{"property":"name","operation":"equals","collation":"ignorecase","value":"acme corp"}]"#,
        )
        .unwrap();
        assert!(f[0].matches(&company("Acme Corp", VspcStatus::Active)));
        assert!(!f[0].matches(&company("Acme Corporation", VspcStatus::Active)));
        let ordinal =
            Filter::parse_all(r#"[{"property":"name","operation":"equals","value":"acme corp"}]"#)
                .unwrap();
        assert!(!ordinal[0].matches(&company("Acme Corp", VspcStatus::Active)));
        let contains = Filter::parse_all(
            r#"[{"property":"Name","operation":"contains","collation":"ignorecase","value":"acme corp"}]"#,
        )
        .unwrap();
        assert!(contains[0].matches(&company("Acme Corporation", VspcStatus::Active)));
        let by_status = Filter::parse_all(
            r#"[{"property":"status","operation":"in","value":["Disabled","Expired"]}]"#,
        )
        .unwrap();
        assert!(by_status[0].matches(&company("x", VspcStatus::Expired)));
        assert!(!by_status[0].matches(&company("x", VspcStatus::Active)));
        for bad in [
            "nope",
            r#"[{"operation":"equals","value":"x"}]"#,
            r#"[{"property":"taxId","value":"x"}]"#,
            r#"[{"property":"name","operation":"like","value":"x"}]"#,
            r#"[{"property":"name","collation":"weird","value":"x"}]"#,
        ] {
            assert!(Filter::parse_all(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn statuses_parse_ignoring_case() {
        assert_eq!(VspcStatus::parse("disabled"), Some(VspcStatus::Disabled));
        assert_eq!(VspcStatus::parse(" ACTIVE "), Some(VspcStatus::Active));
        assert_eq!(VspcStatus::parse("paused"), None);
    }

    #[test]
    fn company_paths_are_recognised_ignoring_case() {
        assert_eq!(
            Vspc::company_uid("/API/v3/Organizations/Companies/ABC-1"),
            Some("abc-1".to_string())
        );
        assert_eq!(Vspc::company_uid("/api/v3/organizations/companies"), None);
        assert_eq!(
            Vspc::company_uid("/api/v3/organizations/companies/x/sites"),
            None
        );
    }
}
