//! `tenantctl apply`: one action per input row, many at once, with an audit journal,
//! `--resume`, and interrupts that let rows under way finish.
//!
//! A file is read once to validate and count — so `--yes`, `--max-targets`, delete rows
//! without `expect_name` and vendors without URL or credentials are refused before anything
//! is sent — and then once per vendor to run: each vendor has a reader of its own, so a
//! vendor that is slow, rate-limited or held to one slot never holds up another's rows, and
//! memory stays flat however long the file. Standard input is read once, rows checked as
//! they arrive. A row takes its vendor's slot, then a global one (`--concurrency`), which it
//! gives back while it only waits (see [`crate::slots`]).

pub mod input;
mod lanes;
pub mod rows;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::account::{Abort, AbortHandle, RunOptions, WriteObserver};
use crate::audit::{OperationAudit, Place};
use crate::config::Config;
use crate::http::{HttpSettings, Transport};
use crate::journal::{Journal, RowHistory, RowKey, Stamp};
use crate::plugin::bindings::Action;
use crate::plugin::catalog::Catalog;
use crate::report::{ErrorKind, ResultError, Status, TenantResult, wire_name};
use input::Rows;
use lanes::{Env, Lane, LaneSettings, TransportFor};
use rows::{Occurrences, Task};

/// Where the rows come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A file, read to validate, then once per vendor to run.
    File(PathBuf),
    /// Standard input, read once.
    Stdin,
    /// Rows held in memory (JSON Lines or CSV), read like a file; `id` names them in the
    /// journal, as a file's path does (a service job: `job:ID`).
    Memory {
        /// What the journal calls this input; resume matches rows by it.
        id: String,
        /// The rows.
        bytes: Arc<[u8]>,
    },
}

/// How to run a batch.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// The input.
    pub source: Source,
    /// The action of rows that name none (`--action`).
    pub action: Option<Action>,
    /// Operations at once, across vendors.
    pub concurrency: usize,
    /// Send nothing that changes a tenant.
    pub dry_run: bool,
    /// Confirms destructive actions.
    pub yes: bool,
    /// Refuse inputs with more rows than this.
    pub max_targets: Option<u64>,
    /// Stop starting rows after the first failure.
    pub fail_fast: bool,
    /// The audit journal.
    pub audit_log: PathBuf,
    /// Skip rows the journal shows done; run the others again.
    pub resume: bool,
    /// Recorded in every journal record of rows that give no reason of their own.
    pub reason: Option<String>,
    /// The longest one row's operation may take, retries, waits and restarts included.
    pub deadline: Option<Duration>,
    /// Per-vendor settings.
    pub config: Config,
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
    /// `row N: vendor tenant: kind: message` for the [`FAILURES_KEPT`] failed rows that come
    /// first in the input, by row number, whatever order they finished in (every row's
    /// result is on stdout; keeping them all would grow with the input).
    pub failures: BTreeMap<u64, String>,
    /// Rows that failed, all of them.
    pub failed: u64,
    /// Rows not started because the batch was stopped (`--fail-fast`, an interrupt).
    pub not_started: u64,
    /// True when an interrupt stopped the batch.
    pub interrupted: bool,
    /// Requests, retries and logins per vendor.
    pub traffic: BTreeMap<String, (u64, u64, u64)>,
    /// Dry runs: how long a real run would take under each configured rate limit.
    pub estimates: Vec<String>,
    /// How long the batch took.
    pub elapsed: Duration,
}

impl Summary {
    /// True when no row failed and every row ran.
    pub fn all_ok(&self) -> bool {
        self.failed == 0 && self.not_started == 0
    }
}

/// Failure messages a [`Summary`] keeps.
pub const FAILURES_KEPT: usize = 50;

/// Stops a batch from outside (the CLI's signal handler): first no new rows, then abort
/// the rows under way.
#[derive(Debug, Clone)]
pub struct Interrupts {
    stop: Arc<StopFlag>,
    abort: Arc<AbortHandle>,
}

impl Interrupts {
    /// No row starts from now on; rows under way finish.
    pub fn stop(&self) {
        self.stop.interrupted.store(true, Ordering::SeqCst);
        self.stop.raise();
    }

    /// Rows under way stop where they are and fail as `interrupted`.
    pub fn abort(&self) {
        self.stop();
        self.abort.fire();
    }
}

#[derive(Debug)]
struct StopFlag {
    stopped: tokio::sync::watch::Sender<bool>,
    interrupted: AtomicBool,
}

impl Default for StopFlag {
    fn default() -> Self {
        StopFlag {
            stopped: tokio::sync::watch::Sender::new(false),
            interrupted: AtomicBool::new(false),
        }
    }
}

impl StopFlag {
    fn raise(&self) {
        self.stopped.send_replace(true);
    }

    fn is_raised(&self) -> bool {
        *self.stopped.borrow()
    }

    /// Resolves once the flag is raised.
    async fn raised(&self) {
        let _ = self.stopped.subscribe().wait_for(|stopped| *stopped).await;
    }
}

/// Runs a batch, printing each row's result through `emit` as it completes.
pub struct Batch<'a> {
    catalog: &'a Catalog,
    options: BatchOptions,
    input_id: String,
    env: Env,
    transport: Option<Box<TransportFor>>,
    stop: Arc<StopFlag>,
    abort: (Arc<AbortHandle>, Abort),
    operator: Option<String>,
}

/// Where each row's result goes as it completes.
pub type Emit = Arc<dyn Fn(&TenantResult) + Send + Sync>;

/// What every row of a running batch shares.
struct Run {
    options: BatchOptions,
    input_id: String,
    journal: Arc<Journal>,
    history: HashMap<RowKey, RowHistory>,
    global: Arc<Semaphore>,
    stop: Arc<StopFlag>,
    abort: Abort,
    summary: Mutex<Summary>,
    not_started: AtomicU64,
    emit: Emit,
}

impl<'a> Batch<'a> {
    /// A batch over `catalog`'s plugins; credentials and URLs come from `env`.
    pub fn new(
        catalog: &'a Catalog,
        options: BatchOptions,
        env: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Result<Self, Refused> {
        let input_id = match &options.source {
            Source::Stdin => "-".to_string(),
            Source::Memory { id, .. } => id.clone(),
            Source::File(path) => std::fs::canonicalize(path)
                .map_err(|err| Refused(format!("cannot read the input {}: {err}", path.display())))?
                .display()
                .to_string(),
        };
        let (handle, abort) = Abort::pair();
        Ok(Batch {
            catalog,
            options,
            input_id,
            env: Arc::new(env),
            transport: None,
            stop: Arc::default(),
            abort: (Arc::new(handle), abort),
            operator: None,
        })
    }

    /// Journals this batch's records as done by `operator` (a service token's name) instead
    /// of the user running tenantctl.
    pub fn with_operator(mut self, operator: impl Into<String>) -> Self {
        self.operator = Some(operator.into());
        self
    }

    /// Sends the requests of the vendors `transport` answers for through the transport it
    /// returns instead of HTTP.
    pub fn with_transport(
        mut self,
        transport: impl Fn(&str) -> Option<Arc<dyn Transport>> + Send + Sync + 'static,
    ) -> Self {
        self.transport = Some(Box::new(transport));
        self
    }

    /// The handle that stops or aborts this batch.
    pub fn interrupts(&self) -> Interrupts {
        Interrupts {
            stop: self.stop.clone(),
            abort: self.abort.0.clone(),
        }
    }

    fn lanes(&self) -> LaneSettings<'_> {
        LaneSettings {
            catalog: self.catalog,
            config: &self.options.config,
            http: &self.options.http,
            concurrency: self.options.concurrency,
            env: self.env.clone(),
            transport: self.transport.as_deref(),
        }
    }

    fn open_source(&self) -> Result<Box<dyn Read + Send>, Refused> {
        match &self.options.source {
            Source::Stdin => Ok(Box::new(std::io::stdin())),
            Source::Memory { bytes, .. } => Ok(Box::new(std::io::Cursor::new(bytes.clone()))),
            Source::File(path) => std::fs::File::open(path)
                .map(|file| Box::new(file) as Box<dyn Read + Send>)
                .map_err(|err| Refused(format!("cannot read the input {}: {err}", path.display()))),
        }
    }

    fn rows(&self) -> Result<Rows, Refused> {
        Rows::new(self.open_source()?).map_err(|err| Refused(format!("reading the input: {err}")))
    }

    /// Reads a file input once and refuses it when it cannot run as a whole: destructive
    /// rows without `--yes`, delete rows without `expect_name`, more rows than
    /// `--max-targets`, a vendor without URL or credentials. Opens a lane per vendor named.
    fn preflight(&self) -> Result<(u64, BTreeMap<String, Arc<Lane>>), Refused> {
        let mut count = 0u64;
        let mut destructive: Option<(u64, &'static str)> = None;
        let mut unnamed_delete = None;
        let mut vendors = BTreeMap::new();
        for row in self.rows()? {
            count += 1;
            let Ok(task) = rows::check(row, count, self.options.action, self.options.dry_run)
            else {
                continue;
            };
            let action = task.request.action;
            match self.catalog.get(&task.vendor) {
                Some(plugin) if plugin.is_destructive(action) && destructive.is_none() => {
                    destructive = Some((task.line, action.name()));
                }
                Some(_) => {}
                // A vendor whose plugin file was refused refuses the file below; an unknown
                // vendor fails its own rows.
                None if self.catalog.refused_for(&task.vendor) => {}
                None => continue,
            }
            if action == Action::Delete && task.expect_name.is_none() && unnamed_delete.is_none() {
                unnamed_delete = Some(task.line);
            }
            vendors.entry(task.vendor).or_insert(task.line);
        }
        if let Some(line) = unnamed_delete {
            return Err(Refused(format!(
                "line {line} deletes a tenant without expect_name; a delete cannot be undone, so \
                 every delete row must name the tenant it expects in the expect_name column"
            )));
        }
        if let (Some((line, action)), false, false) =
            (destructive, self.options.yes, self.options.dry_run)
        {
            return Err(Refused(format!(
                "the input has destructive rows ({action} at line {line}), which tenantctl cannot \
                 undo; add --yes to confirm, or --dry-run to preview"
            )));
        }
        if let Some(max) = self.options.max_targets.filter(|max| count > *max) {
            return Err(Refused(format!(
                "the input has {count} rows, more than --max-targets {max}; nothing was sent"
            )));
        }
        let settings = self.lanes();
        let mut lanes = BTreeMap::new();
        let mut problems = Vec::new();
        for (vendor, line) in vendors {
            match settings.open(&vendor) {
                Ok(lane) => {
                    lanes.insert(vendor, Arc::new(lane));
                }
                Err(why) => problems.push(format!("{vendor} (first at line {line}): {why}")),
            }
        }
        if !problems.is_empty() {
            return Err(Refused(format!(
                "the input needs vendors that cannot run, so nothing was sent:\n  {}",
                problems.join("\n  ")
            )));
        }
        Ok((count, lanes))
    }

    /// Runs the batch. `emit` gets each row's result as soon as it is known (and after it is
    /// in the journal); `total` is called once with the number of rows when it is known in
    /// advance.
    pub async fn run(
        self,
        emit: Emit,
        total: impl FnOnce(Option<u64>),
    ) -> Result<Summary, Refused> {
        let started = Instant::now();
        let journal_path = self.options.audit_log.clone();
        let history = if self.options.resume {
            if !journal_path.is_file() {
                return Err(Refused(format!(
                    "--resume needs the audit log of the earlier run, and {} does not exist (pass the same --audit-log)",
                    journal_path.display()
                )));
            }
            Journal::history(&journal_path, &self.input_id)
                .map_err(|err| Refused(format!("{err:#}")))?
        } else {
            HashMap::new()
        };
        let lanes = match &self.options.source {
            Source::File(_) | Source::Memory { .. } => {
                let (count, lanes) = self.preflight()?;
                total(Some(count));
                lanes
            }
            Source::Stdin => {
                total(None);
                BTreeMap::new()
            }
        };
        let mut journal =
            Journal::open(&journal_path).map_err(|err| Refused(format!("{err:#}")))?;
        if let Some(operator) = &self.operator {
            journal.operator = operator.clone();
        }
        journal
            .begin_run(&self.input_id)
            .map_err(|err| Refused(format!("{err:#}")))?;
        let run = Arc::new(Run {
            options: self.options.clone(),
            input_id: self.input_id.clone(),
            journal: Arc::new(journal),
            history,
            global: Arc::new(Semaphore::new(self.options.concurrency.max(1))),
            stop: self.stop.clone(),
            abort: self.abort.1.clone(),
            summary: Mutex::default(),
            not_started: AtomicU64::new(0),
            emit,
        });

        let lanes = match &self.options.source {
            Source::File(_) | Source::Memory { .. } => self.run_file(&run, lanes).await?,
            Source::Stdin => self.run_stdin(&run).await?,
        };

        if let Err(err) = run.journal.end_run() {
            tracing::warn!("{err:#}");
        }
        let mut summary =
            std::mem::take(&mut *run.summary.lock().unwrap_or_else(|e| e.into_inner()));
        summary.not_started = run.not_started.load(Ordering::SeqCst);
        summary.interrupted = self.stop.interrupted.load(Ordering::SeqCst);
        for (vendor, lane) in &lanes {
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

    /// A file: one reader and one dispatcher per vendor, and one for rows that cannot run.
    async fn run_file(
        &self,
        run: &Arc<Run>,
        lanes: BTreeMap<String, Arc<Lane>>,
    ) -> Result<BTreeMap<String, Arc<Lane>>, Refused> {
        let mut dispatchers = JoinSet::new();
        let known: Arc<Vec<String>> = Arc::new(lanes.keys().cloned().collect());
        let mut feeds: Vec<(Option<Arc<Lane>>, Option<String>)> = lanes
            .iter()
            .map(|(vendor, lane)| (Some(lane.clone()), Some(vendor.clone())))
            .collect();
        feeds.push((None, None));
        for (lane, vendor) in feeds {
            let (sender, receiver) = mpsc::channel::<Result<Task, Box<TenantResult>>>(64);
            let rows = self.rows()?;
            let known = known.clone();
            let (action, dry_run) = (self.options.action, self.options.dry_run);
            std::thread::spawn(move || {
                let mut occurrences = Occurrences::default();
                for (n, row) in rows.enumerate() {
                    let mut checked = rows::check(row, n as u64 + 1, action, dry_run);
                    let mine = match (&mut checked, &vendor) {
                        (Ok(task), Some(vendor)) => {
                            occurrences.number(task);
                            task.vendor == *vendor
                        }
                        (Ok(task), None) => {
                            occurrences.number(task);
                            !known.contains(&task.vendor)
                        }
                        (Err(_), lane) => lane.is_none(),
                    };
                    // Rows after a stop still flow: the dispatcher counts them as not started.
                    if mine && sender.blocking_send(checked).is_err() {
                        break;
                    }
                }
            });
            dispatchers.spawn(dispatch(
                lane,
                receiver,
                run.clone(),
                self.catalog_vendors(),
            ));
        }
        while dispatchers.join_next().await.is_some() {}
        Ok(lanes)
    }

    /// Standard input: one reader; lanes open as their vendors first appear (a vendor that
    /// cannot run fails its rows one by one), each with its own queue and dispatcher.
    async fn run_stdin(&self, run: &Arc<Run>) -> Result<BTreeMap<String, Arc<Lane>>, Refused> {
        let (sender, mut receiver) = mpsc::channel(256);
        let rows = self.rows()?;
        let (action, dry_run) = (self.options.action, self.options.dry_run);
        std::thread::spawn(move || {
            let mut occurrences = Occurrences::default();
            for (n, row) in rows.enumerate() {
                let mut checked = rows::check(row, n as u64 + 1, action, dry_run);
                if let Ok(task) = &mut checked {
                    occurrences.number(task);
                }
                if sender.blocking_send(checked).is_err() {
                    break;
                }
            }
        });
        let settings = self.lanes();
        let mut lanes: BTreeMap<String, Arc<Lane>> = BTreeMap::new();
        let mut unusable: HashMap<String, String> = HashMap::new();
        let mut queues = HashMap::new();
        let mut dispatchers = JoinSet::new();
        let (stray_queue, stray_rows) = mpsc::channel(1 << 20);
        dispatchers.spawn(dispatch(
            None,
            stray_rows,
            run.clone(),
            self.catalog_vendors(),
        ));
        loop {
            // Standard input may never end: a stop ends the reading.
            let checked = tokio::select! {
                checked = receiver.recv() => checked,
                () = run.stop.raised() => None,
            };
            let Some(checked) = checked else { break };
            let task = match checked {
                Ok(task) => task,
                Err(bad) => {
                    let _ = stray_queue.send(Err(bad)).await;
                    continue;
                }
            };
            if !lanes.contains_key(&task.vendor) && !unusable.contains_key(&task.vendor) {
                match settings.open(&task.vendor) {
                    Ok(lane) => {
                        let lane = Arc::new(lane);
                        // Unbounded in effect: a slow vendor must not hold up the reader.
                        let (queue, rows) = mpsc::channel(1 << 30);
                        dispatchers.spawn(dispatch(
                            Some(lane.clone()),
                            rows,
                            run.clone(),
                            self.catalog_vendors(),
                        ));
                        queues.insert(task.vendor.clone(), queue);
                        lanes.insert(task.vendor.clone(), lane);
                    }
                    Err(why) => {
                        unusable.insert(task.vendor.clone(), why);
                    }
                }
            }
            match queues.get(&task.vendor) {
                Some(queue) => {
                    let _ = queue.send(Ok(task)).await;
                }
                None => {
                    let why = unusable.get(&task.vendor).cloned().unwrap_or_default();
                    let result = task.result(self.options.dry_run).failed(ResultError::new(
                        ErrorKind::InvalidInput,
                        format!("line {}: {why}", task.line),
                    ));
                    let _ = stray_queue.send(Err(Box::new(result))).await;
                }
            }
        }
        drop((queues, stray_queue));
        while dispatchers.join_next().await.is_some() {}
        Ok(lanes)
    }

    fn catalog_vendors(&self) -> Arc<String> {
        Arc::new(self.catalog.vendors().join(", "))
    }
}

/// Takes one queue's rows and runs them: the lane's slot first, then (inside the row) a
/// global one. Rows that cannot run become their results here.
async fn dispatch(
    lane: Option<Arc<Lane>>,
    mut queue: mpsc::Receiver<Result<Task, Box<TenantResult>>>,
    run: Arc<Run>,
    vendors: Arc<String>,
) {
    let mut jobs = JoinSet::new();
    let mut under_way: HashMap<tokio::task::Id, Task> = HashMap::new();
    while let Some(checked) = queue.recv().await {
        reap(&mut jobs, &mut under_way, &lane, &run).await;
        if run.stop.is_raised() {
            run.not_started.fetch_add(1, Ordering::SeqCst);
            continue;
        }
        let task = match checked {
            Ok(task) => task,
            Err(bad) => {
                run.report(&bad);
                continue;
            }
        };
        let Some(lane) = &lane else {
            let result = task.result(run.options.dry_run).failed(ResultError::new(
                ErrorKind::InvalidInput,
                format!(
                    "line {}: unknown vendor {:?}; the plugins found serve: {vendors}",
                    task.line, task.vendor
                ),
            ));
            run.report(&result);
            continue;
        };
        if let Err(result) = run.admit(lane, &task) {
            run.report(&result);
            continue;
        }
        let permit = lane
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the slots are never closed");
        if run.stop.is_raised() {
            run.not_started.fetch_add(1, Ordering::SeqCst);
            continue;
        }
        let (job_lane, job_run, job_task) = (lane.clone(), run.clone(), task.clone());
        let handle = jobs.spawn(async move {
            let result = run_task(&job_lane, &job_task, &job_run).await;
            drop(permit);
            result
        });
        under_way.insert(handle.id(), task);
    }
    while !jobs.is_empty() {
        reap_one(&mut jobs, &mut under_way, &lane, &run).await;
    }
}

/// Reports the rows that have finished, without waiting.
async fn reap(
    jobs: &mut JoinSet<TenantResult>,
    under_way: &mut HashMap<tokio::task::Id, Task>,
    lane: &Option<Arc<Lane>>,
    run: &Arc<Run>,
) {
    while let Some(joined) = jobs.try_join_next_with_id() {
        settle(joined, under_way, lane, run).await;
    }
}

async fn reap_one(
    jobs: &mut JoinSet<TenantResult>,
    under_way: &mut HashMap<tokio::task::Id, Task>,
    lane: &Option<Arc<Lane>>,
    run: &Arc<Run>,
) {
    if let Some(joined) = jobs.join_next_with_id().await {
        settle(joined, under_way, lane, run).await;
    }
}

/// A finished row: its result, or — if the task panicked — a failed result saying so,
/// journaled like any other, so no row vanishes.
async fn settle(
    joined: Result<(tokio::task::Id, TenantResult), tokio::task::JoinError>,
    under_way: &mut HashMap<tokio::task::Id, Task>,
    lane: &Option<Arc<Lane>>,
    run: &Arc<Run>,
) {
    match joined {
        Ok((id, result)) => {
            under_way.remove(&id);
            run.report(&result);
        }
        Err(err) => {
            let Some(task) = under_way.remove(&err.id()) else {
                return;
            };
            let why = match err.try_into_panic() {
                Ok(panic) => panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into()),
                Err(err) => err.to_string(),
            };
            let mut result = task.result(run.options.dry_run).failed(ResultError::new(
                ErrorKind::Plugin,
                format!(
                    "tenantctl itself failed while running this row ({why}); this is a bug, please \
                     report it. Whether a write was sent is unknown: --resume reads the tenant \
                     again before doing anything"
                ),
            ));
            if let Some(lane) = lane {
                run.audit(lane, &task).finish(&mut result).await;
            }
            run.report(&result);
        }
    }
}

/// Runs one row and journals its result.
async fn run_task(lane: &Arc<Lane>, task: &Task, run: &Arc<Run>) -> TenantResult {
    let audit = Arc::new(run.audit(lane, task));
    let options = RunOptions {
        dry_run: run.options.dry_run,
        expect_name: task.expect_name.clone(),
        observer: (!run.options.dry_run).then(|| audit.clone() as Arc<dyn WriteObserver>),
        deadline: run.options.deadline,
        abort: Some(run.abort.clone()),
    };
    let mut result = crate::slots::holding(
        run.global.clone(),
        lane.account.run(&task.request, &options),
    )
    .await;
    result.row = Some(task.line);
    if let Some(history) = run.history.get(&task.key()) {
        already_deleted(&mut result, history);
    }
    audit.finish(&mut result).await;
    result
}

/// A resumed delete whose tenant is gone, when the journal holds its intent: the earlier
/// run's delete landed.
fn already_deleted(result: &mut TenantResult, history: &RowHistory) {
    let gone = result
        .error
        .as_ref()
        .is_some_and(|e| e.kind == ErrorKind::NotFound);
    if result.action == "delete" && gone && history.intent {
        result.status = Status::Changed;
        result.changed = true;
        result.error = None;
        result.enabled_after = None;
        result.notes.push(
            "deleted by an earlier run: the audit log holds its intent and the tenant is gone"
                .into(),
        );
    }
}

impl Run {
    /// The journal of one row's operation.
    fn audit(&self, lane: &Lane, task: &Task) -> OperationAudit {
        let reason = task.reason.as_deref().or(self.options.reason.as_deref());
        OperationAudit::new(
            self.journal.clone(),
            Stamp::new(lane.account.plugin(), &self.journal.operator, reason),
            Some(Place {
                input: self.input_id.clone(),
                row: task.line,
                occurrence: task.occurrence,
            }),
            &task.vendor,
            task.request.action.name(),
            task.target.clone(),
        )
    }

    /// Checks what the row's vendor decides: whether the action exists there, and (for
    /// standard input, where nothing was checked up front) confirmation and limits. A row
    /// the journal shows done is skipped.
    // The error is the row's own result, built once per row that does not run.
    #[allow(clippy::result_large_err)]
    fn admit(&self, lane: &Lane, task: &Task) -> Result<(), TenantResult> {
        let options = &self.options;
        let fail = |kind, message: String| {
            task.result(options.dry_run).failed(ResultError::new(
                kind,
                format!("line {}: {message}", task.line),
            ))
        };
        if let Some(history) = self
            .history
            .get(&task.key())
            .filter(|h| h.done(options.dry_run))
        {
            let mut result = task.result(options.dry_run);
            result.status = Status::Skipped;
            result.notes.push(format!(
                "recorded in the audit log as {}; not run again",
                history.last_result.as_deref().unwrap_or_default()
            ));
            return Err(result);
        }
        let plugin = lane.account.plugin();
        let action = task.request.action;
        if !plugin.supports(action) {
            return Err(fail(
                ErrorKind::Unsupported,
                format!("{plugin} does not support {}", action.name()),
            ));
        }
        if matches!(options.source, Source::Stdin) {
            if plugin.is_destructive(action) && !options.yes && !options.dry_run {
                return Err(fail(
                    ErrorKind::InvalidInput,
                    format!("{} is destructive and needs --yes", action.name()),
                ));
            }
            if action == Action::Delete && task.expect_name.is_none() {
                return Err(fail(
                    ErrorKind::InvalidInput,
                    "a delete needs expect_name: the tenant's exact name".into(),
                ));
            }
            if let Some(max) = options.max_targets.filter(|max| task.ordinal > *max) {
                return Err(fail(
                    ErrorKind::InvalidInput,
                    format!("beyond --max-targets {max}; not run"),
                ));
            }
        }
        Ok(())
    }

    /// Reports a row's result and counts it.
    fn report(&self, result: &TenantResult) {
        (self.emit)(result);
        let mut summary = self.summary.lock().unwrap_or_else(|e| e.into_inner());
        *summary
            .counts
            .entry((result.vendor.clone(), wire_name(result.status)))
            .or_default() += 1;
        let Some(error) = &result.error else {
            return;
        };
        summary.failed += 1;
        if self.options.fail_fast {
            self.stop.raise();
        }
        let row = result.row.unwrap_or_default();
        if summary.failures.len() >= FAILURES_KEPT
            && summary
                .failures
                .last_key_value()
                .is_some_and(|(last, _)| *last < row)
        {
            return;
        }
        let who = result
            .tenant_name
            .as_deref()
            .or(result.tenant_id.as_deref())
            .unwrap_or("?");
        let line = format!(
            "row {row}: {} {who}: {}: {}",
            result.vendor,
            wire_name(error.kind),
            error.message
        );
        summary.failures.insert(row, line);
        if summary.failures.len() > FAILURES_KEPT {
            summary.failures.pop_last();
        }
    }
}
