//! One vendor account: its plugin, URL, credentials and session, and how an operation runs.
//!
//! The rules split the way this module does:
//! - [`session`]: one login for everyone, renewal before expiry and on refusal, and the rule
//!   that tells an expired session from credentials that stopped working;
//! - [`policy`]: what a request must satisfy before it is sent (limits, intents, origin);
//! - [`driver`]: the step loop (expected name, dry run and audit at each write, waits the
//!   plugin asks for, pages of a listing);
//! - [`cache`]: reads a plugin marked cacheable, shared by the account's operations;
//! - here: the operation as a whole — attempts, restarts, deadline, abort — ending in one
//!   [`TenantResult`].

pub mod cache;
mod driver;
pub mod policy;
pub mod session;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cache::ReadCache;
use driver::{Finished, Progress, Stop, name_mismatch};
pub use driver::{MAX_TOTAL_WAIT, PageSink};
use session::{Renewals, SessionCache};

use crate::http::{Origin, Transport};
use crate::plugin::Plugin;
use crate::plugin::bindings::{Action, ActionRequest, ConfigValue, Context, Intent, Outcome};
use crate::redact;
use crate::report::{ErrorKind, ResultError, Status, TenantResult};

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
    /// The longest the whole operation may take, retries, waits and restarts included;
    /// past it the operation fails as `timeout`.
    pub deadline: Option<Duration>,
    /// When this fires, the operation stops where it is and fails as `interrupted`.
    pub abort: Option<Abort>,
}

/// A signal that aborts operations under way (the second Ctrl-C of a batch).
#[derive(Debug, Clone)]
pub struct Abort(tokio::sync::watch::Receiver<bool>);

/// The sending side of an [`Abort`].
#[derive(Debug)]
pub struct AbortHandle(tokio::sync::watch::Sender<bool>);

impl Abort {
    /// A signal and the handle that fires it.
    pub fn pair() -> (AbortHandle, Abort) {
        let (sender, receiver) = tokio::sync::watch::channel(false);
        (AbortHandle(sender), Abort(receiver))
    }

    /// Resolves once the signal fires.
    async fn fired(&self) {
        let mut receiver = self.0.clone();
        // An error means the handle is gone without firing: never resolve.
        if receiver.wait_for(|fired| *fired).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl AbortHandle {
    /// Aborts every operation holding the signal.
    pub fn fire(&self) {
        self.0.send_replace(true);
    }
}

/// Sees every request that changes a tenant: just before it is sent, and its answer.
pub trait WriteObserver: Send + Sync + std::fmt::Debug {
    /// Before the write is sent; resolves once the write is recorded. An error fails the
    /// operation and nothing is sent.
    fn before_write<'a>(
        &'a self,
        intent: &'a Intent,
        method: &'a str,
        url: &'a str,
    ) -> crate::http::BoxFuture<'a, Result<(), String>>;
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
    /// Reads answered by the read cache (or shared with another operation in flight)
    /// instead of the vendor.
    pub cache_hits: AtomicU64,
}

/// A vendor account: everything needed to act on its tenants.
pub struct Account {
    plugin: Arc<Plugin>,
    base_url: String,
    origin: Origin,
    config: Vec<ConfigValue>,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Fn() -> u32 + Send + Sync>,
    sessions: SessionCache,
    cache: ReadCache,
    stats: Stats,
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
            sessions: SessionCache::default(),
            cache: ReadCache::default(),
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
    /// the result, whose every text has passed [`redact::scrub_result`]. A listing is
    /// [`Account::list`].
    pub async fn run(&self, request: &ActionRequest, options: &RunOptions) -> TenantResult {
        let blank = TenantResult::new(
            self.vendor(),
            request.action.name(),
            request.tenant.as_ref(),
            options.dry_run,
        );
        let mut progress = Progress::default();
        let end = match (request.action, &request.tenant) {
            (Action::List, _) => End::Failed(ResultError::new(
                ErrorKind::InvalidInput,
                "list is not an action on one tenant; use Account::list",
            )),
            (_, None) => End::Failed(ResultError::new(
                ErrorKind::InvalidInput,
                format!("{} needs a tenant (an id or a name)", request.action.name()),
            )),
            _ => bounded(options, self.operate(request, options, &mut progress, None)).await,
        };
        let mut result = finish(blank, &progress, end, options);
        redact::scrub_result(&mut result);
        result
    }

    /// Lists every tenant the account can act on, handing each page to `on_page` as it
    /// arrives and keeping none, so memory does not grow with the number of tenants.
    /// Returns how many tenants were listed, or why the listing stopped (scrubbed of
    /// secrets); the pages handed on before a failure stand. `options.deadline` and
    /// `options.abort` bound the whole listing; the other options do not apply.
    pub async fn list(
        &self,
        options: &RunOptions,
        on_page: &mut PageSink<'_>,
    ) -> Result<u64, ResultError> {
        let request = ActionRequest {
            action: Action::List,
            tenant: None,
        };
        let mut progress = Progress::default();
        let end = bounded(
            options,
            self.operate(&request, options, &mut progress, Some(on_page)),
        )
        .await;
        let mut error = match end {
            End::Listed => return Ok(progress.listed),
            End::Outcome(outcome) => match &outcome.error {
                None => return Ok(progress.listed),
                Some(failure) => ResultError::from(failure),
            },
            End::Planned(_) => ResultError::new(
                ErrorKind::Plugin,
                format!("{} asked to write while listing", self.plugin),
            ),
            End::Failed(error) => error,
        };
        error.message = redact::scrub(&error.message).into_owned();
        Err(error)
    }

    /// The operation: attempts until one finishes, renewing refused sessions and starting
    /// over after writes of unknown fate.
    async fn operate(
        &self,
        request: &ActionRequest,
        options: &RunOptions,
        progress: &mut Progress,
        mut sink: Option<&mut PageSink<'_>>,
    ) -> End {
        if !self.plugin.supports(request.action) {
            return End::Failed(ResultError::new(
                ErrorKind::Unsupported,
                format!(
                    "{} does not support {} (it speaks contract {})",
                    self.plugin,
                    request.action.name(),
                    self.plugin.contract()
                ),
            ));
        }
        let mut renewals = Renewals::new();
        let mut refused = None;
        let mut restarts = 0;
        loop {
            let lease = match self
                .sessions
                .lease(refused.as_ref(), (self.clock)(), || self.login())
                .await
            {
                Ok(lease) => lease,
                Err(error) => return End::Failed(error),
            };
            let attempt = self
                .attempt(&lease, request, options, progress, sink.as_deref_mut())
                .await;
            match attempt {
                Ok(Finished::Outcome(outcome)) => return End::Outcome(outcome),
                Ok(Finished::Planned(plan)) => return End::Planned(plan),
                Ok(Finished::Listed) => return End::Listed,
                Err(Stop::Fail(error)) => return End::Failed(error),
                Err(Stop::SessionRefused) => {
                    if let Err(error) = renewals.after_refusal(&lease, self.vendor()) {
                        return End::Failed(error);
                    }
                    tracing::info!(vendor = self.vendor(), "session refused; renewing it");
                    refused = Some(lease);
                }
                Err(Stop::UncertainWrite(message)) if restarts < MAX_RESTARTS => {
                    restarts += 1;
                    tracing::warn!(
                        vendor = self.vendor(),
                        "{message}; starting the operation again from its first read"
                    );
                }
                Err(Stop::UncertainWrite(message)) => {
                    return End::Failed(ResultError::new(ErrorKind::Transport, message));
                }
            }
        }
    }
}

/// Runs `work` within the options' deadline, and until their abort signal fires.
async fn bounded(options: &RunOptions, work: impl Future<Output = End>) -> End {
    let bounded = async {
        match options.deadline {
            Some(deadline) => tokio::time::timeout(deadline, work)
                .await
                .unwrap_or_else(|_| End::Failed(deadline_passed(deadline))),
            None => work.await,
        }
    };
    match &options.abort {
        Some(abort) => tokio::select! {
            end = bounded => end,
            () = abort.fired() => End::Failed(ResultError::new(
                ErrorKind::Interrupted,
                "interrupted before the operation finished; run the batch again with \
                 --resume to finish it",
            )),
        },
        None => bounded.await,
    }
}

/// How an operation ended.
enum End {
    Outcome(Outcome),
    Planned(crate::report::PlannedRequest),
    Listed,
    Failed(ResultError),
}

/// The result of an operation: what it asked for, what the last declared write said about
/// the tenant, and how it ended.
fn finish(
    blank: TenantResult,
    progress: &Progress,
    end: End,
    options: &RunOptions,
) -> TenantResult {
    let mut result = blank;
    if let Some(intent) = &progress.intent {
        result.tenant_id = Some(intent.tenant.id.clone());
        result.tenant_name = Some(intent.tenant.name.clone());
        result.enabled_before = intent.enabled_before;
        result.enabled_after = intent.enabled_after;
    }
    match end {
        End::Failed(error) => result.failed(error),
        End::Listed => result.failed(ResultError::new(
            ErrorKind::Plugin,
            "the plugin answered with a listing",
        )),
        End::Planned(plan) => {
            result.status = Status::Planned;
            result.planned_request = Some(plan);
            result
        }
        End::Outcome(outcome) => {
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
                return result.failed(ResultError::from(failure));
            }
            let name = result.tenant_name.clone().unwrap_or_default();
            match options.expect_name.as_deref().filter(|e| *e != name) {
                Some(expected) => result.failed(name_mismatch(&name, expected)),
                None => result,
            }
        }
    }
}

fn deadline_passed(deadline: Duration) -> ResultError {
    ResultError::new(
        ErrorKind::Timeout,
        format!(
            "the operation did not finish within its deadline of {} (retries, waits and \
             restarts included); raise --deadline or try again later",
            humantime::format_duration(deadline)
        ),
    )
}

/// Seconds since the Unix epoch, as the contract passes time (a `u32`, good until 2106).
pub fn unix_now() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}
