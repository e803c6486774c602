//! One vendor account: its plugin, URL, credentials and session, and the loop that runs an
//! operation step by step.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::http::{Origin, SendError, Transport};
use crate::plugin::bindings::{
    ActionRequest, ActionStep, ConfigValue, Context, Effect, Failure, HttpResponse, Intent,
    LoginStep, Outcome, Outgoing, Session, TenantSelector,
};
use crate::plugin::{Plugin, PluginError};
use crate::redact::{self, method_name};
use crate::report::{ErrorKind, ResultError, Status, TenantResult};

/// Renew a session this many seconds before the vendor says it expires.
const RENEW_MARGIN_SECS: u32 = 60;

/// Times an operation starts over after a write whose fate is unknown.
const MAX_RESTARTS: u32 = 2;

/// How to run an operation.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Send no request that changes anything; report what would be sent.
    pub dry_run: bool,
    /// Fail, before any write, unless the tenant's name is exactly this.
    pub expect_name: Option<String>,
    /// Told about every write before it is sent and after it is answered (the audit log).
    pub observer: Option<Arc<dyn WriteObserver>>,
}

/// Sees every request that changes a tenant: just before it is sent, and its answer.
pub trait WriteObserver: Send + Sync + std::fmt::Debug {
    /// Before the write is sent; an error fails the operation and nothing is sent.
    fn before_write(&self, intent: &Intent, method: &str, url: &str) -> Result<(), String>;
    /// After it: the HTTP status, or `None` when no answer came.
    fn after_write(&self, status: Option<u16>);
}

/// Counters for one account, for summaries and tests.
#[derive(Debug, Default)]
pub struct Stats {
    /// Logins performed.
    pub logins: AtomicU64,
    /// Requests answered by the vendor (each counts once, however many attempts it took).
    pub requests: AtomicU64,
    /// Extra attempts made by retries.
    pub retries: AtomicU64,
}

#[derive(Default)]
struct SessionSlot {
    current: Option<(Session, u64)>,
    generation: u64,
    /// A login refused for its credentials stays refused: retrying would only hammer the
    /// vendor's login endpoint.
    refused: Option<ResultError>,
}

/// A vendor account: everything needed to act on its tenants.
pub struct Account {
    plugin: Arc<Plugin>,
    base_url: String,
    origin: Origin,
    config: Vec<ConfigValue>,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Fn() -> u32 + Send + Sync>,
    session: tokio::sync::Mutex<SessionSlot>,
    stats: Stats,
}

enum Attempt {
    Finished,
    SessionRefused(u64),
    UncertainWrite(String),
}

impl Account {
    /// An account at `base_url` with configuration values `(field, value)` for `plugin`.
    /// Fails when the URL is not an http(s) URL.
    pub fn new(
        plugin: Arc<Plugin>,
        base_url: &str,
        config: Vec<(String, String)>,
        transport: impl Transport + 'static,
    ) -> Result<Self, String> {
        let origin = Origin::of(base_url)?;
        for (name, value) in &config {
            let secret = plugin
                .info()
                .config
                .iter()
                .any(|f| &f.name == name && f.secret);
            if secret {
                redact::register(value);
            }
        }
        Ok(Account {
            plugin,
            base_url: base_url.to_string(),
            origin,
            config: config
                .into_iter()
                .map(|(name, value)| ConfigValue { name, value })
                .collect(),
            transport: Arc::new(transport),
            clock: Arc::new(unix_now),
            session: Default::default(),
            stats: Stats::default(),
        })
    }

    /// Uses `clock` instead of the system clock for the time passed to the plugin and for
    /// session expiry (replays run at the recorded time).
    pub fn with_clock(mut self, clock: impl Fn() -> u32 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The base URL, as configured.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The configuration values, by field name.
    pub fn config(&self) -> impl Iterator<Item = (&str, &str)> {
        self.config
            .iter()
            .map(|c| (c.name.as_str(), c.value.as_str()))
    }

    /// The plugin serving this account.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// The account's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    fn vendor(&self) -> &str {
        &self.plugin.info().vendor
    }

    fn context(&self) -> Context {
        Context {
            base_url: self.base_url.clone(),
            config: self.config.clone(),
            now: (self.clock)(),
        }
    }

    /// Runs one action on one tenant. Never fails as a whole: every failure is reported in
    /// the result, whose every text has passed [`redact::scrub_result`].
    pub async fn run(&self, request: &ActionRequest, options: &RunOptions) -> TenantResult {
        let mut result = self.run_unscrubbed(request, options).await;
        redact::scrub_result(&mut result);
        result
    }

    async fn run_unscrubbed(&self, request: &ActionRequest, options: &RunOptions) -> TenantResult {
        let mut result = self.blank_result(request, options);
        if !self.plugin.supports(request.action) {
            let error = ResultError::new(
                ErrorKind::Unsupported,
                format!("{} does not support {}", self.plugin, request.action.name()),
            );
            return fail(result, error);
        }
        let mut renewed_after = None;
        let mut restarts = 0;
        loop {
            match self
                .attempt(request, options, renewed_after, &mut result)
                .await
            {
                Attempt::Finished => return result,
                Attempt::SessionRefused(generation) if renewed_after.is_none() => {
                    tracing::info!(vendor = self.vendor(), "session refused; renewing it once");
                    renewed_after = Some(generation);
                }
                Attempt::SessionRefused(_) => {
                    let error = ResultError::new(
                        ErrorKind::Auth,
                        format!(
                            "{} refused a freshly renewed session; check that the credentials still have access",
                            self.vendor()
                        ),
                    );
                    return fail(result, error);
                }
                Attempt::UncertainWrite(message) if restarts < MAX_RESTARTS => {
                    restarts += 1;
                    tracing::warn!(
                        vendor = self.vendor(),
                        "{message}; starting the operation again from its first read"
                    );
                }
                Attempt::UncertainWrite(message) => {
                    return fail(result, ResultError::new(ErrorKind::Transport, message));
                }
            }
        }
    }

    async fn attempt(
        &self,
        request: &ActionRequest,
        options: &RunOptions,
        renew_after: Option<u64>,
        result: &mut TenantResult,
    ) -> Attempt {
        let (session, generation) = match self.session(renew_after).await {
            Ok(held) => held,
            Err(error) => {
                *result = fail(result.clone(), error);
                return Attempt::Finished;
            }
        };
        let ctx = self.context();
        let mut instance = match self.plugin.instantiate().await {
            Ok(instance) => instance,
            Err(err) => {
                *result = fail(result.clone(), plugin_error(&err));
                return Attempt::Finished;
            }
        };
        let mut step = instance.begin_action(&ctx, &session, request).await;
        let mut steps = 0;
        loop {
            let outgoing = match step {
                Err(err) => {
                    *result = fail(result.clone(), plugin_error(&err));
                    return Attempt::Finished;
                }
                Ok(ActionStep::Done(outcome)) => {
                    if matches!(outcome.error, Some(Failure::SessionExpired(_))) {
                        return Attempt::SessionRefused(generation);
                    }
                    self.apply_outcome(result, outcome, options);
                    return Attempt::Finished;
                }
                Ok(ActionStep::Send(outgoing)) => outgoing,
            };
            steps += 1;
            if let Err(error) = self.check_step(&outgoing, steps) {
                *result = fail(result.clone(), error);
                return Attempt::Finished;
            }
            if let Some(intent) = &outgoing.intent {
                record_intent(result, intent);
                if let Some(expected) = options
                    .expect_name
                    .as_deref()
                    .filter(|e| *e != intent.tenant.name)
                {
                    *result = fail(result.clone(), name_mismatch(&intent.tenant.name, expected));
                    return Attempt::Finished;
                }
                if options.dry_run {
                    result.status = Status::Planned;
                    result.planned_request = Some(redact::plan(&outgoing.request));
                    return Attempt::Finished;
                }
            }
            let observer = options
                .observer
                .as_ref()
                .filter(|_| outgoing.intent.is_some());
            if let (Some(observer), Some(intent)) = (observer, &outgoing.intent) {
                let method = method_name(outgoing.request.method);
                let url = redact::scrub(&outgoing.request.url);
                if let Err(message) = observer.before_write(intent, method, &url) {
                    let error = ResultError::new(
                        ErrorKind::Transport,
                        format!(
                            "the audit log could not be written, so nothing was sent: {message}"
                        ),
                    );
                    *result = fail(result.clone(), error);
                    return Attempt::Finished;
                }
            }
            let sent = self.exchange(&outgoing).await;
            if let Some(observer) = observer {
                observer.after_write(sent.as_ref().ok().map(|response| response.status));
            }
            let response = match sent {
                Ok(response) => response,
                Err(SendError::Transport {
                    message,
                    may_have_arrived: true,
                }) if outgoing.request.effect == Effect::Write => {
                    return Attempt::UncertainWrite(message);
                }
                Err(err) => {
                    *result = fail(result.clone(), self.send_error(err));
                    return Attempt::Finished;
                }
            };
            step = instance
                .resume_action(&ctx, &session, &outgoing.state, &response)
                .await;
        }
    }

    /// Rejects steps that break the contract or the limits before anything is sent.
    fn check_step(&self, outgoing: &Outgoing, steps: usize) -> Result<(), ResultError> {
        let limits = self.plugin.limits();
        let plugin = &self.plugin;
        let broken = |why: String| {
            Err(ResultError::new(
                ErrorKind::Plugin,
                format!("{plugin} {why}"),
            ))
        };
        if steps > limits.max_steps {
            return broken(format!(
                "made more than {} requests in one operation and was stopped",
                limits.max_steps
            ));
        }
        if outgoing.request.body.len() > limits.max_request_bytes {
            return broken(format!(
                "asked to send a {} byte body, over the {} byte limit",
                outgoing.request.body.len(),
                limits.max_request_bytes
            ));
        }
        if outgoing.request.effect != Effect::Read && outgoing.intent.is_none() {
            return broken(format!(
                "asked to send a write ({} {}) without declaring its intent",
                method_name(outgoing.request.method),
                redact::scrub(&outgoing.request.url)
            ));
        }
        Ok(())
    }

    /// The request's URL, if it is in the configured origin.
    fn checked_url(
        &self,
        request: &crate::plugin::bindings::HttpRequest,
    ) -> Result<url::Url, SendError> {
        let url = url::Url::parse(&request.url).map_err(|err| {
            SendError::Refused(format!(
                "asked for an invalid URL {:?}: {err}",
                redact::scrub(&request.url)
            ))
        })?;
        if !self.origin.allows(&url) {
            return Err(SendError::Refused(format!(
                "asked to send a request to {}, outside the configured origin {}; refused",
                url.origin().ascii_serialization(),
                self.origin
            )));
        }
        Ok(url)
    }

    fn send_error(&self, err: SendError) -> ResultError {
        match err {
            SendError::Timeout(message) => ResultError::new(ErrorKind::Timeout, message),
            SendError::Transport { message, .. } => ResultError::new(ErrorKind::Transport, message),
            SendError::Refused(message) => {
                ResultError::new(ErrorKind::Plugin, format!("{} {message}", self.plugin))
            }
        }
    }

    /// Sends one request and logs it, without secrets.
    async fn exchange(&self, outgoing: &Outgoing) -> Result<HttpResponse, SendError> {
        let request = &outgoing.request;
        for header in request.headers.iter().filter(|h| h.secret) {
            redact::register(&header.value);
        }
        let method = method_name(request.method);
        let url = redact::scrub(&request.url);
        let sent = match self.checked_url(request) {
            Ok(checked) => self.transport.send(&checked, request).await,
            Err(refused) => Err(refused),
        };
        match &sent {
            Ok(delivered) => {
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .retries
                    .fetch_add(u64::from(delivered.attempts - 1), Ordering::Relaxed);
                tracing::info!(
                    vendor = self.vendor(),
                    "{method} {url} -> {} ({} attempt(s))",
                    delivered.response.status,
                    delivered.attempts
                );
            }
            Err(err) => tracing::info!(vendor = self.vendor(), "{method} {url} failed: {err}"),
        }
        sent.map(|delivered| delivered.response)
    }

    /// The current session, logging in when there is none, when it is about to expire, or
    /// when the session of generation `renew_after` was refused and nobody renewed it yet.
    /// One login serves every operation waiting for it.
    async fn session(&self, renew_after: Option<u64>) -> Result<(Session, u64), ResultError> {
        let mut slot = self.session.lock().await;
        if let Some(refused) = &slot.refused {
            return Err(refused.clone());
        }
        if let Some((session, generation)) = &slot.current {
            let refused = renew_after == Some(*generation);
            let expiring = session
                .expires_at
                .is_some_and(|at| at <= (self.clock)().saturating_add(RENEW_MARGIN_SECS));
            if !refused && !expiring {
                return Ok((session.clone(), *generation));
            }
        }
        match self.login().await {
            Ok(session) => {
                slot.generation += 1;
                slot.current = Some((session.clone(), slot.generation));
                Ok((session, slot.generation))
            }
            Err(error) => {
                if error.kind == ErrorKind::Auth {
                    slot.refused = Some(error.clone());
                }
                Err(error)
            }
        }
    }

    async fn login(&self) -> Result<Session, ResultError> {
        self.stats.logins.fetch_add(1, Ordering::Relaxed);
        tracing::info!(vendor = self.vendor(), url = %self.base_url, "logging in");
        let ctx = self.context();
        let mut instance = self
            .plugin
            .instantiate()
            .await
            .map_err(|err| plugin_error(&err))?;
        let mut step = instance.begin_login(&ctx).await;
        for steps in 1.. {
            let outgoing = match step.map_err(|err| plugin_error(&err))? {
                LoginStep::Done(session) => {
                    redact::register(&session.token);
                    return Ok(session);
                }
                LoginStep::Failed(failure) => {
                    let mut error = ResultError::from(&failure);
                    error.message = format!(
                        "logging in to {} at {}: {}",
                        self.vendor(),
                        self.base_url,
                        error.message
                    );
                    return Err(error);
                }
                LoginStep::Send(outgoing) => outgoing,
            };
            self.check_step(&outgoing, steps)?;
            if outgoing.request.effect != Effect::Read {
                return Err(ResultError::new(
                    ErrorKind::Plugin,
                    format!(
                        "{} asked to send a write while logging in; refused",
                        self.plugin
                    ),
                ));
            }
            let response = self
                .exchange(&outgoing)
                .await
                .map_err(|err| self.send_error(err))?;
            step = instance
                .resume_login(&ctx, &outgoing.state, &response)
                .await;
        }
        unreachable!("the step loop only ends by returning")
    }

    fn blank_result(&self, request: &ActionRequest, options: &RunOptions) -> TenantResult {
        let (tenant_id, tenant_name) = match &request.tenant {
            TenantSelector::Id(id) => (Some(id.clone()), None),
            TenantSelector::Name(name) => (None, Some(name.clone())),
        };
        TenantResult {
            vendor: self.vendor().to_string(),
            action: request.action.name().to_string(),
            tenant_id,
            tenant_name,
            status: Status::Unchanged,
            changed: false,
            dry_run: options.dry_run,
            enabled_before: None,
            enabled_after: None,
            error: None,
            row: None,
            planned_request: None,
            notes: Vec::new(),
        }
    }

    fn apply_outcome(&self, result: &mut TenantResult, outcome: Outcome, options: &RunOptions) {
        if let Some(tenant) = outcome.tenant {
            result.tenant_id = Some(tenant.id);
            result.tenant_name = Some(tenant.name);
        }
        result.enabled_before = outcome.enabled_before.or(result.enabled_before);
        result.enabled_after = outcome.enabled_after;
        result.changed = outcome.changed;
        result.notes = outcome.notes;
        result.status = if outcome.changed {
            Status::Changed
        } else {
            Status::Unchanged
        };
        if let Some(failure) = &outcome.error {
            *result = fail(result.clone(), ResultError::from(failure));
            return;
        }
        let name = result.tenant_name.as_deref().unwrap_or_default();
        if let Some(expected) = options.expect_name.as_deref().filter(|e| *e != name) {
            *result = fail(result.clone(), name_mismatch(name, expected));
        }
    }
}

fn record_intent(result: &mut TenantResult, intent: &Intent) {
    result.tenant_id = Some(intent.tenant.id.clone());
    result.tenant_name = Some(intent.tenant.name.clone());
    result.enabled_before = intent.enabled_before;
    result.enabled_after = intent.enabled_after;
}

fn fail(mut result: TenantResult, error: ResultError) -> TenantResult {
    result.status = Status::Failed;
    result.planned_request = None;
    result.error = Some(error);
    result
}

fn name_mismatch(actual: &str, expected: &str) -> ResultError {
    ResultError::new(
        ErrorKind::InvalidInput,
        format!(
            "the tenant is named {actual:?}, not the expected {expected:?}; nothing was changed"
        ),
    )
}

fn plugin_error(err: &PluginError) -> ResultError {
    ResultError::new(ErrorKind::Plugin, err.to_string())
}

/// Seconds since the Unix epoch, as the contract passes time (a `u32`, good until 2106).
pub fn unix_now() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}
