//! `tenantctl apply`: one action per input row, many at once, with an audit journal and
//! resume after a crash.
//!
//! Rows stream through: a file is read once to validate and count (so `--yes` and
//! `--max-targets` are decided before anything is sent) and once to run; standard input is
//! checked row by row as it arrives. One [`Account`] per vendor serves every row of that
//! vendor, so a batch logs in once per vendor.

pub mod config;
pub mod input;
pub mod journal;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::account::{Account, RunOptions, WriteObserver};
use crate::credentials;
use crate::http::{HttpClient, HttpSettings};
use crate::plugin::bindings::{Action, ActionRequest, Intent, TenantSelector};
use crate::plugin::catalog::Catalog;
use crate::report::{ErrorKind, ResultError, Status, TenantResult, wire_name};
use config::{BatchConfig, Rate};
use input::{InputRow, Rows};
use journal::{Journal, RowKey};

/// Where the rows come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A file, read twice (validate, then run).
    File(PathBuf),
    /// Standard input, read once.
    Stdin,
}

/// How to run a batch.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// The input.
    pub source: Source,
    /// Operations at once, across vendors.
    pub concurrency: usize,
    /// Send nothing that changes a tenant.
    pub dry_run: bool,
    /// Confirms destructive actions (offboard).
    pub yes: bool,
    /// Refuse inputs with more rows than this.
    pub max_targets: Option<u64>,
    /// Stop starting rows after the first failure.
    pub fail_fast: bool,
    /// The audit journal.
    pub audit_log: PathBuf,
    /// Skip rows the journal shows done; run the others again.
    pub resume: bool,
    /// Per-vendor settings.
    pub config: BatchConfig,
    /// HTTP timeouts and retries.
    pub http: HttpSettings,
}

/// A batch refused before anything was sent (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// What a batch did, for the summary on stderr.
#[derive(Debug, Default)]
pub struct Summary {
    /// Rows by vendor and status.
    pub counts: BTreeMap<(String, String), u64>,
    /// `row N: vendor tenant: kind: message` for the first [`FAILURES_KEPT`] failed rows
    /// (every row's result is on stdout; keeping them all would grow with the input).
    pub failures: Vec<String>,
    /// Rows that failed, all of them.
    pub failed: u64,
    /// Rows not started because `--fail-fast` stopped the batch.
    pub not_started: u64,
    /// Requests, retries and logins per vendor.
    pub traffic: BTreeMap<String, (u64, u64, u64)>,
    /// Dry runs: how long a real run would take under each configured rate limit.
    pub estimates: Vec<String>,
    /// How long the batch took.
    pub elapsed: Duration,
}

impl Summary {
    /// True when no row failed.
    pub fn all_ok(&self) -> bool {
        self.failed == 0
    }
}

/// Failure messages a [`Summary`] keeps.
pub const FAILURES_KEPT: usize = 50;

/// One vendor's account and limits, shared by all its rows.
struct Lane {
    account: Account,
    slots: Arc<Semaphore>,
    rate: Option<Rate>,
}

/// A row ready to run.
struct Job {
    row: u64,
    target: String,
    lane: Arc<Lane>,
    request: ActionRequest,
    expect_name: Option<String>,
}

/// Runs a batch, printing each row's result through `emit` as it completes.
pub struct Batch<'a> {
    catalog: &'a Catalog,
    options: BatchOptions,
    input_id: String,
    lanes: HashMap<String, Result<Arc<Lane>, String>>,
    env: Env,
}

/// Where URLs and credentials are looked up (the process environment, in the CLI).
type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

impl<'a> Batch<'a> {
    /// A batch over `catalog`'s plugins; credentials and URLs come from `env`.
    pub fn new(
        catalog: &'a Catalog,
        options: BatchOptions,
        env: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Result<Self, Refused> {
        let input_id = match &options.source {
            Source::Stdin => "-".to_string(),
            Source::File(path) => std::fs::canonicalize(path)
                .map_err(|err| Refused(format!("cannot read the input {}: {err}", path.display())))?
                .display()
                .to_string(),
        };
        Ok(Batch {
            catalog,
            options,
            input_id,
            lanes: HashMap::new(),
            env: Arc::new(env),
        })
    }

    fn open_source(&self) -> Result<Box<dyn Read + Send>, Refused> {
        match &self.options.source {
            Source::Stdin => Ok(Box::new(std::io::stdin())),
            Source::File(path) => std::fs::File::open(path)
                .map(|file| Box::new(file) as Box<dyn Read + Send>)
                .map_err(|err| Refused(format!("cannot read the input {}: {err}", path.display()))),
        }
    }

    /// Reads a file input once: refuses it when it offboards without `--yes` or has more
    /// rows than `--max-targets`. Returns the number of rows.
    fn preflight(&self) -> Result<Option<u64>, Refused> {
        if matches!(self.options.source, Source::Stdin) {
            return Ok(None);
        }
        let rows = Rows::new(self.open_source()?)
            .map_err(|err| Refused(format!("reading the input: {err}")))?;
        let (mut count, mut offboard_line) = (0u64, None);
        for input in rows {
            count += 1;
            let offboards = input
                .row
                .as_ref()
                .ok()
                .and_then(|r| r.action.as_deref())
                .is_some_and(|a| a.trim().eq_ignore_ascii_case("offboard"));
            if offboards && offboard_line.is_none() {
                offboard_line = Some(input.line);
            }
        }
        if let (Some(line), false, false) = (offboard_line, self.options.yes, self.options.dry_run)
        {
            return Err(Refused(format!(
                "the input offboards tenants (first at line {line}), which is destructive and cannot be undone by tenantctl; add --yes to confirm, or --dry-run to preview"
            )));
        }
        if let Some(max) = self.options.max_targets.filter(|max| count > *max) {
            return Err(Refused(format!(
                "the input has {count} rows, more than --max-targets {max}; nothing was sent"
            )));
        }
        Ok(Some(count))
    }

    /// Runs the batch. `emit` gets each row's result as soon as it is known; `total` is
    /// called once with the number of rows when it is known in advance.
    pub async fn run(
        mut self,
        emit: Arc<dyn Fn(&TenantResult) + Send + Sync>,
        total: impl FnOnce(Option<u64>),
    ) -> Result<Summary, Refused> {
        let started = Instant::now();
        let journal_path = self.options.audit_log.clone();
        let done: HashMap<RowKey, String> = if self.options.resume {
            if !journal_path.is_file() {
                return Err(Refused(format!(
                    "--resume needs the audit log of the earlier run, and {} does not exist (pass the same --audit-log)",
                    journal_path.display()
                )));
            }
            Journal::completed(&journal_path, &self.input_id)
                .map_err(|err| Refused(format!("{err:#}")))?
        } else {
            HashMap::new()
        };
        total(self.preflight()?);
        let journal = if self.options.dry_run {
            None
        } else {
            Some(Arc::new(
                Journal::open(&journal_path).map_err(|err| Refused(format!("{err:#}")))?,
            ))
        };

        let rows = Rows::new(self.open_source()?)
            .map_err(|err| Refused(format!("reading the input: {err}")))?;
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<InputRow>(256);
        // Reading is blocking I/O: a thread of its own feeds the rows in, a few at a time.
        std::thread::spawn(move || {
            for row in rows {
                if sender.blocking_send(row).is_err() {
                    break;
                }
            }
        });

        let summary = Arc::new(Mutex::new(Summary::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let finish: Arc<dyn Fn(&TenantResult) + Send + Sync> = {
            let (summary, stop, emit) = (summary.clone(), stop.clone(), emit.clone());
            let fail_fast = self.options.fail_fast;
            Arc::new(move |result: &TenantResult| {
                emit(result);
                let mut summary = summary.lock().unwrap_or_else(|e| e.into_inner());
                let status = wire_name(result.status);
                *summary
                    .counts
                    .entry((result.vendor.clone(), status))
                    .or_default() += 1;
                if let Some(error) = &result.error {
                    summary.failed += 1;
                    if fail_fast {
                        stop.store(true, Ordering::SeqCst);
                    }
                    if summary.failures.len() >= FAILURES_KEPT {
                        return;
                    }
                    let who = result
                        .tenant_name
                        .as_deref()
                        .or(result.tenant_id.as_deref())
                        .unwrap_or("?");
                    summary.failures.push(format!(
                        "row {}: {} {who}: {}: {}",
                        result.row.unwrap_or_default(),
                        result.vendor,
                        wire_name(error.kind),
                        error.message
                    ));
                }
            })
        };

        let slots = Arc::new(Semaphore::new(self.options.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        let mut seen = 0u64;
        while let Some(input) = receiver.recv().await {
            if stop.load(Ordering::SeqCst) {
                summary
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .not_started += 1;
                continue;
            }
            seen += 1;
            let job = match self.prepare(input, seen, &done) {
                Ok(job) => job,
                Err(result) => {
                    finish(&result);
                    continue;
                }
            };
            let permit = slots
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let (journal, finish, dry_run, input_id) = (
                journal.clone(),
                finish.clone(),
                self.options.dry_run,
                self.input_id.clone(),
            );
            tasks.spawn(async move {
                let result = run_job(job, journal, dry_run, &input_id).await;
                finish(&result);
                drop(permit);
            });
            while tasks.try_join_next().is_some() {}
        }
        while tasks.join_next().await.is_some() {}

        let mut summary = std::mem::take(&mut *summary.lock().unwrap_or_else(|e| e.into_inner()));
        for (vendor, lane) in &self.lanes {
            let Ok(lane) = lane else { continue };
            let stats = lane.account.stats();
            let requests = stats.requests.load(Ordering::Relaxed);
            summary.traffic.insert(
                vendor.clone(),
                (
                    requests,
                    stats.retries.load(Ordering::Relaxed),
                    stats.logins.load(Ordering::Relaxed),
                ),
            );
            if let (true, Some(rate)) = (self.options.dry_run, lane.rate) {
                let planned = summary
                    .counts
                    .get(&(vendor.clone(), "planned".to_string()))
                    .copied()
                    .unwrap_or(0);
                let needed = requests + planned;
                summary.estimates.push(format!(
                    "{vendor}: a real run sends about {needed} requests; at {} per {} that takes about {}",
                    rate.requests,
                    humantime::format_duration(rate.period),
                    humantime::format_duration(Duration::from_secs(rate.time_for(needed).as_secs()))
                ));
            }
        }
        summary.elapsed = started.elapsed();
        Ok(summary)
    }

    /// Checks a row and finds its vendor's account; a row that cannot run becomes its
    /// (failed or skipped) result.
    // The error is the row's own result, built once per row that cannot run.
    #[allow(clippy::result_large_err)]
    fn prepare(
        &mut self,
        input: InputRow,
        seen: u64,
        done: &HashMap<RowKey, String>,
    ) -> Result<Job, TenantResult> {
        let line = input.line;
        let row = match input.row {
            Ok(row) => row,
            Err(reason) => return Err(unreadable_row(line, reason, self.options.dry_run)),
        };
        let clean = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let (vendor, action_name, tenant, tenant_name) = (
            clean(&row.vendor),
            clean(&row.action),
            clean(&row.tenant),
            clean(&row.tenant_name),
        );
        let mut result = TenantResult {
            vendor: vendor.clone().unwrap_or_default(),
            action: action_name.clone().unwrap_or_default(),
            tenant_id: tenant.clone(),
            tenant_name: tenant_name.clone(),
            status: Status::Failed,
            changed: false,
            dry_run: self.options.dry_run,
            enabled_before: None,
            enabled_after: None,
            error: None,
            row: Some(line),
            planned_request: None,
            notes: Vec::new(),
        };
        let bad = |mut result: TenantResult, kind: ErrorKind, message: String| {
            result.error = Some(ResultError::new(kind, format!("line {line}: {message}")));
            result
        };
        let Some(vendor) = vendor else {
            return Err(bad(
                result,
                ErrorKind::InvalidInput,
                "the vendor is missing".into(),
            ));
        };
        let Some(action) = action_name.as_deref().and_then(parse_action) else {
            let message = match action_name {
                Some(name) => {
                    format!("unknown action {name:?}; use status, disable, enable or offboard")
                }
                None => "the action is missing".into(),
            };
            return Err(bad(result, ErrorKind::InvalidInput, message));
        };
        let selector = match (&tenant, &tenant_name) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    result,
                    ErrorKind::InvalidInput,
                    "give tenant or tenant_name, not both".into(),
                ));
            }
            (None, None) => {
                return Err(bad(
                    result,
                    ErrorKind::InvalidInput,
                    "the tenant is missing: give tenant (an id) or tenant_name".into(),
                ));
            }
            (Some(id), None) if id.contains(['*', '?', '%']) => {
                return Err(bad(
                    result,
                    ErrorKind::InvalidInput,
                    format!("tenant {id:?} looks like a wildcard; give exact ids"),
                ));
            }
            (Some(id), None) => TenantSelector::Id(id.clone()),
            (None, Some(name)) => TenantSelector::Name(name.clone()),
        };
        let target = match &selector {
            TenantSelector::Id(id) => format!("id:{id}"),
            TenantSelector::Name(name) => format!("name:{name}"),
        };
        let key = journal::key(&self.input_id, line, &vendor, action.name(), &target);
        if let Some(earlier) = done.get(&key) {
            result.status = Status::Skipped;
            result.notes.push(format!(
                "recorded in the audit log as {earlier}; not run again"
            ));
            return Err(result);
        }
        if matches!(self.options.source, Source::Stdin) {
            if action == Action::Offboard && !self.options.yes && !self.options.dry_run {
                return Err(bad(
                    result,
                    ErrorKind::InvalidInput,
                    "offboard is destructive and needs --yes".into(),
                ));
            }
            if let Some(max) = self.options.max_targets.filter(|max| seen > *max) {
                return Err(bad(
                    result,
                    ErrorKind::InvalidInput,
                    format!("beyond --max-targets {max}; not run"),
                ));
            }
        }
        let lane = match self.lane(&vendor) {
            Ok(lane) => lane,
            Err(message) => return Err(bad(result, ErrorKind::InvalidInput, message)),
        };
        if !lane.account.plugin().supports(action) {
            return Err(bad(
                result,
                ErrorKind::Unsupported,
                format!(
                    "{} does not support {}",
                    lane.account.plugin(),
                    action.name()
                ),
            ));
        }
        Ok(Job {
            row: line,
            target,
            lane,
            request: ActionRequest {
                action,
                tenant: selector,
            },
            expect_name: clean(&row.expect_name),
        })
    }

    /// The vendor's lane, set up on its first row; the reason it cannot run otherwise.
    fn lane(&mut self, vendor: &str) -> Result<Arc<Lane>, String> {
        if let Some(lane) = self.lanes.get(vendor) {
            return lane.clone();
        }
        let lane = self.new_lane(vendor);
        self.lanes.insert(vendor.to_string(), lane.clone());
        lane
    }

    fn new_lane(&self, vendor: &str) -> Result<Arc<Lane>, String> {
        let plugin = self.catalog.get(vendor).ok_or_else(|| {
            format!(
                "unknown vendor {vendor:?}; the plugins found serve: {}",
                self.catalog.vendors().join(", ")
            )
        })?;
        let settings = self.options.config.vendor(vendor);
        let env = self.env.clone();
        let url = credentials::base_url(plugin.info(), settings.url.as_deref(), |name| env(name))
            .map_err(|err| format!("{err}, or [vendors.{vendor}] url in --config"))?;
        let config = credentials::config_values(
            plugin.info(),
            |name| env(name),
            |path: &str| std::fs::read_to_string(path),
        )?;
        let rate = settings
            .rate_limit
            .as_deref()
            .map(Rate::parse)
            .transpose()
            .map_err(|err| format!("{err:#}"))?;
        let mut http =
            HttpClient::new(self.options.http.clone()).map_err(|err| format!("{err:#}"))?;
        if let Some(rate) = rate {
            http = http.with_rate_limit(rate.requests, rate.period);
        }
        let account = Account::new(plugin.clone(), &url, config, http)?;
        let slots = settings
            .concurrency
            .map(|c| c.get() as usize)
            .unwrap_or(self.options.concurrency)
            .max(1);
        Ok(Arc::new(Lane {
            account,
            slots: Arc::new(Semaphore::new(slots)),
            rate,
        }))
    }
}

/// The result for a line that is not a row at all (bad CSV, bad JSON).
fn unreadable_row(line: u64, reason: String, dry_run: bool) -> TenantResult {
    TenantResult {
        vendor: String::new(),
        action: String::new(),
        tenant_id: None,
        tenant_name: None,
        status: Status::Failed,
        changed: false,
        dry_run,
        enabled_before: None,
        enabled_after: None,
        error: Some(ResultError::new(
            ErrorKind::InvalidInput,
            format!("line {line}: {reason}"),
        )),
        row: Some(line),
        planned_request: None,
        notes: Vec::new(),
    }
}

fn parse_action(name: &str) -> Option<Action> {
    [
        Action::Status,
        Action::Disable,
        Action::Enable,
        Action::Offboard,
    ]
    .into_iter()
    .find(|action| action.name().eq_ignore_ascii_case(name))
}

/// Runs one row and records its result in the journal.
async fn run_job(
    job: Job,
    journal: Option<Arc<Journal>>,
    dry_run: bool,
    input_id: &str,
) -> TenantResult {
    let _slot = job
        .lane
        .slots
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    let audit = journal.clone().map(|journal| {
        Arc::new(RowAudit {
            journal,
            input: input_id.to_string(),
            row: job.row,
            target: job.target.clone(),
            vendor: job.lane.account.plugin().info().vendor.clone(),
            action: job.request.action.name().to_string(),
            last_write: Mutex::new(None),
        })
    });
    let options = RunOptions {
        dry_run,
        expect_name: job.expect_name.clone(),
        observer: audit.clone().map(|audit| audit as Arc<dyn WriteObserver>),
    };
    let mut result = job.lane.account.run(&job.request, &options).await;
    result.row = Some(job.row);
    if let (Some(journal), Some(audit)) = (journal, audit) {
        let mut record = journal.record("result", input_id, job.row, &job.target, &result);
        if let Some((method, url, status)) = audit
            .last_write
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            record.method = Some(method);
            record.url = Some(url);
            record.http_status = status;
        }
        record.http_status = record
            .http_status
            .or(result.error.as_ref().and_then(|e| e.http_status));
        record.outcome = Some(wire_name(result.status));
        record.error = result
            .error
            .as_ref()
            .map(|e| format!("{}: {}", wire_name(e.kind), e.message));
        if let Err(err) = journal.append(&record) {
            let message =
                format!("{err:#}; the operation ran but its result is not in the audit log");
            tracing::error!("row {}: {message}", job.row);
            result.status = Status::Failed;
            result.error = Some(ResultError::new(ErrorKind::Transport, message));
        }
    }
    result
}

/// Writes a row's intents to the journal and remembers its last write.
#[derive(Debug)]
struct RowAudit {
    journal: Arc<Journal>,
    input: String,
    row: u64,
    target: String,
    vendor: String,
    action: String,
    last_write: Mutex<Option<(String, String, Option<u16>)>>,
}

impl WriteObserver for RowAudit {
    fn before_write(&self, intent: &Intent, method: &str, url: &str) -> Result<(), String> {
        let shown = TenantResult {
            vendor: self.vendor.clone(),
            action: self.action.clone(),
            tenant_id: Some(intent.tenant.id.clone()),
            tenant_name: Some(intent.tenant.name.clone()),
            status: Status::Planned,
            changed: false,
            dry_run: false,
            enabled_before: intent.enabled_before,
            enabled_after: intent.enabled_after,
            error: None,
            row: Some(self.row),
            planned_request: None,
            notes: Vec::new(),
        };
        let mut record = self
            .journal
            .record("intent", &self.input, self.row, &self.target, &shown);
        record.method = Some(method.to_string());
        record.url = Some(url.to_string());
        *self.last_write.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((method.to_string(), url.to_string(), None));
        self.journal
            .append(&record)
            .map_err(|err| format!("{err:#}"))
    }

    fn after_write(&self, status: Option<u16>) {
        if let Some(last) = self
            .last_write
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            last.2 = status;
        }
    }
}
