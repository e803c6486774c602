//! The audit journal: append-only JSON Lines, every record on disk before the step it
//! records goes on.
//!
//! An `intent` record is written before every request that changes a tenant, and one
//! `result` record per operation when it ends — from a single command or a batch row. One
//! writer thread commits records in groups: everyone waiting when it starts writing is
//! written and made durable by the same `fsync`, so concurrent operations share the cost;
//! while operations run side by side, it holds a group open for a few milliseconds so
//! that more of them do (see `write_groups`).
//!
//! Beside the journal, `JOURNAL.index` lists each batch run (its input and the byte offset
//! where its records start, then where they end), so `--resume` reads only the stretches of
//! the journal written by runs of the same input instead of its whole history.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result, anyhow};
use serde::{Deserialize, Serialize};

use crate::plugin::Plugin;
use crate::report::TenantResult;

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// `intent` or `result`.
    pub record: String,
    /// The run that wrote it.
    pub run_id: String,
    /// When, in UTC (RFC 3339).
    pub time: String,
    /// Who ran tenantctl: user@host, or the service token's name.
    pub operator: String,
    /// Why, as the operator said (`--reason`, the batch column `reason`).
    #[serde(default)]
    pub reason: Option<String>,
    /// The input file (absolute path) or `-` for standard input; absent for a single
    /// command.
    #[serde(default)]
    pub input: Option<String>,
    /// The row's line number in the input; absent for a single command.
    #[serde(default)]
    pub row: Option<u64>,
    /// Which occurrence of the same vendor, action and target in the input this row is
    /// (1 for the first); how resume recognises a row whatever its line number.
    #[serde(default)]
    pub occurrence: Option<u64>,
    /// The vendor id.
    pub vendor: String,
    /// The action.
    pub action: String,
    /// The tenant as asked for: `id:…` or `name:…`.
    pub target: String,
    /// The plugin that acted: `vendor@version`.
    #[serde(default)]
    pub plugin: String,
    /// The SHA-256 of the plugin's file.
    #[serde(default)]
    pub plugin_sha256: String,
    /// True for a dry run's result (dry runs write no intents).
    #[serde(default)]
    pub dry_run: bool,
    /// The tenant's id, when known.
    pub tenant_id: Option<String>,
    /// The tenant's name, when known.
    pub tenant_name: Option<String>,
    /// Enabled before, when known.
    pub enabled_before: Option<bool>,
    /// Enabled after (for an intent: as intended), when known.
    pub enabled_after: Option<bool>,
    /// The method of the (last) write, if any.
    pub method: Option<String>,
    /// Its URL, with secrets redacted.
    pub url: Option<String>,
    /// The HTTP status that answered it, if an answer came.
    pub http_status: Option<u16>,
    /// The vendor's error code, if any.
    pub vendor_code: Option<String>,
    /// For results: `changed`, `unchanged`, `planned`, `failed`.
    pub outcome: Option<String>,
    /// For failed results: the error kind and message.
    pub error: Option<String>,
}

/// What a row is, for resume: a hash of its vendor, action, target and occurrence (a hash
/// keeps resume's memory small however long the input).
pub type RowKey = u64;

/// The [`RowKey`] of a row.
pub fn row_key(vendor: &str, action: &str, target: &str, occurrence: u64) -> RowKey {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    (vendor, action, target, occurrence).hash(&mut hasher);
    hasher.finish()
}

/// What the journal says about one row of an input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowHistory {
    /// The outcome of the last result recorded (`changed`, `failed: kind: …`, …), if any.
    pub last_result: Option<String>,
    /// The last result was a dry run's.
    pub last_dry_run: bool,
    /// An intent was recorded for the row: a write was (about to be) sent.
    pub intent: bool,
}

impl RowHistory {
    /// True when `--resume` skips the row: it ended as asked (`changed`, `unchanged`; for a
    /// dry run also `planned`).
    pub fn done(&self, dry_run: bool) -> bool {
        match self.last_result.as_deref() {
            Some("changed" | "unchanged") => !self.last_dry_run || dry_run,
            Some("planned") => dry_run && self.last_dry_run,
            _ => false,
        }
    }
}

/// Who and which plugin a record is about, filled in by [`Journal::record`].
#[derive(Debug, Clone)]
pub struct Stamp {
    /// The operator.
    pub operator: String,
    /// The reason given, if any.
    pub reason: Option<String>,
    /// `vendor@version`.
    pub plugin: String,
    /// The plugin file's SHA-256.
    pub plugin_sha256: String,
}

impl Stamp {
    /// A stamp for `plugin`, by `operator`, for `reason`.
    pub fn new(plugin: &Plugin, operator: &str, reason: Option<&str>) -> Self {
        Stamp {
            operator: operator.to_string(),
            reason: reason.map(str::to_string),
            plugin: format!("{}@{}", plugin.info().vendor, plugin.info().version),
            plugin_sha256: plugin.sha256().to_string(),
        }
    }
}

/// A record on its way to disk, with who to tell once it is there.
struct Pending {
    line: Vec<u8>,
    /// When it was handed to the writer.
    queued: Instant,
    done: tokio::sync::oneshot::Sender<std::result::Result<(), String>>,
}

/// An open journal.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    writer: mpsc::Sender<Pending>,
    /// This run's id.
    pub run_id: String,
    /// user@host of whoever runs tenantctl.
    pub operator: String,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending")
    }
}

impl Journal {
    /// Opens (creating if needed) the journal at `path` for appending, and starts its
    /// writer thread.
    pub fn open(path: &Path) -> Result<Journal> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening the audit log {}", path.display()))?;
        // A run that died while writing a record leaves the last line cut short: start on a
        // line of our own, or this run's first record would be glued to it and lost.
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len > 0 {
            let mut last = [0u8];
            file.seek(SeekFrom::Start(len - 1))
                .and_then(|_| file.read_exact(&mut last))
                .and_then(|()| match last[0] {
                    b'\n' => Ok(()),
                    _ => file.write_all(b"\n").and_then(|()| file.sync_data()),
                })
                .with_context(|| {
                    format!("repairing the end of the audit log {}", path.display())
                })?;
        }
        let started = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let (writer, queue) = mpsc::channel();
        let shown = path.display().to_string();
        std::thread::Builder::new()
            .name("tenantctl-journal".into())
            .spawn(move || write_groups(file, &shown, queue))
            .context("starting the audit log writer")?;
        Ok(Journal {
            path: path.to_path_buf(),
            writer,
            run_id: format!("{:x}-{:x}", started.as_secs(), std::process::id()),
            operator: operator(),
        })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record`, scrubbed of secrets; resolves once it is on disk (fsynced).
    pub async fn append(&self, record: &Record) -> Result<()> {
        let line = serde_json::to_string(record).expect("a record serializes");
        let mut line = crate::redact::scrub(&line).into_owned().into_bytes();
        line.push(b'\n');
        let (done, written) = tokio::sync::oneshot::channel();
        self.writer
            .send(Pending {
                line,
                queued: Instant::now(),
                done,
            })
            .map_err(|_| anyhow!("the audit log writer has stopped"))?;
        written
            .await
            .map_err(|_| anyhow!("the audit log writer has stopped"))?
            .map_err(|err| anyhow!("writing the audit log {}: {err}", self.path.display()))
    }

    /// A record of this run, stamped now, about `result`.
    pub fn record(&self, kind: &str, stamp: &Stamp, target: &str, result: &TenantResult) -> Record {
        Record {
            record: kind.to_string(),
            run_id: self.run_id.clone(),
            time: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            operator: stamp.operator.clone(),
            reason: stamp.reason.clone(),
            input: None,
            row: None,
            occurrence: None,
            vendor: result.vendor.clone(),
            action: result.action.clone(),
            target: target.to_string(),
            plugin: stamp.plugin.clone(),
            plugin_sha256: stamp.plugin_sha256.clone(),
            dry_run: result.dry_run,
            tenant_id: result.tenant_id.clone(),
            tenant_name: result.tenant_name.clone(),
            enabled_before: result.enabled_before,
            enabled_after: result.enabled_after,
            method: None,
            url: None,
            http_status: None,
            vendor_code: result.error.as_ref().and_then(|e| e.vendor_code.clone()),
            outcome: None,
            error: None,
        }
    }

    /// Notes in the index that this run's records for `input` start here; call before the
    /// run writes its first record.
    pub fn begin_run(&self, input: &str) -> Result<()> {
        let start = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        self.index_line(&IndexLine {
            run_id: self.run_id.clone(),
            input: Some(input.to_string()),
            start: Some(start),
            end: None,
        })
    }

    /// Notes in the index that this run wrote its last record.
    pub fn end_run(&self) -> Result<()> {
        let end = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        self.index_line(&IndexLine {
            run_id: self.run_id.clone(),
            input: None,
            start: None,
            end: Some(end),
        })
    }

    fn index_line(&self, line: &IndexLine) -> Result<()> {
        let path = index_path(&self.path);
        let mut text = serde_json::to_string(line).expect("an index line serializes");
        text.push('\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_data())
            .with_context(|| format!("writing {}", path.display()))
    }

    /// What the journal at `path` says about each row of `input`. Reads only the stretches
    /// the index names for runs of `input` (the whole journal when there is no index).
    pub fn history(path: &Path, input: &str) -> Result<HashMap<RowKey, RowHistory>> {
        let file = File::open(path)
            .with_context(|| format!("reading the audit log {}", path.display()))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let stretches = match runs_of(path, input, len)? {
            Some(index) => {
                // Records from before the index existed, then this input's runs.
                let mut stretches = vec![(None, 0, index.first_start)];
                stretches.extend(
                    index
                        .runs
                        .into_iter()
                        .map(|(run_id, start, end)| (Some(run_id), start, end.unwrap_or(len))),
                );
                stretches
            }
            None => vec![(None, 0, len)],
        };
        let mut history: HashMap<RowKey, RowHistory> = HashMap::new();
        let mut reader = BufReader::new(file);
        for (run_id, start, end) in stretches {
            if start >= end {
                continue;
            }
            reader.seek(SeekFrom::Start(start))?;
            let mut at = start;
            let mut line = String::new();
            while at < end {
                line.clear();
                let read = reader
                    .read_line(&mut line)
                    .with_context(|| format!("reading the audit log {}", path.display()))?;
                if read == 0 {
                    break;
                }
                at += read as u64;
                let record = match serde_json::from_str::<Record>(&line) {
                    Ok(record) => record,
                    // The last line of a run killed mid-write may be cut short.
                    Err(err) => {
                        tracing::warn!("{}: skipping an unreadable record: {err}", path.display());
                        continue;
                    }
                };
                let ours = record.input.as_deref() == Some(input)
                    && run_id.as_ref().is_none_or(|id| *id == record.run_id);
                let Some(occurrence) = record.occurrence.filter(|_| ours) else {
                    continue;
                };
                let key = row_key(&record.vendor, &record.action, &record.target, occurrence);
                let entry = history.entry(key).or_default();
                match record.record.as_str() {
                    "intent" => entry.intent = true,
                    "result" => {
                        entry.last_result = Some(match &record.error {
                            Some(error) => format!("failed: {error}"),
                            None => record.outcome.unwrap_or_default(),
                        });
                        entry.last_dry_run = record.dry_run;
                    }
                    _ => {}
                }
            }
        }
        Ok(history)
    }
}

/// One line of the index beside a journal.
#[derive(Debug, Serialize, Deserialize)]
struct IndexLine {
    run_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    input: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end: Option<u64>,
}

fn index_path(journal: &Path) -> PathBuf {
    let mut name = journal.as_os_str().to_owned();
    name.push(".index");
    PathBuf::from(name)
}

/// What the index says about a journal: where indexed history starts, and the runs of one
/// input as `(run id, start, end if it finished)`.
struct Indexed {
    first_start: u64,
    runs: Vec<(String, u64, Option<u64>)>,
}

/// The runs of `input` the index knows, or `None` when there is no index to go by — none
/// at all, or one that does not fit the journal (an offset past its end: the journal was
/// replaced or cut), in which case the whole journal is read.
fn runs_of(journal: &Path, input: &str, len: u64) -> Result<Option<Indexed>> {
    let path = index_path(journal);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    let mut first_start = None;
    let mut runs: Vec<(String, u64, Option<u64>)> = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        let Ok(entry) = serde_json::from_str::<IndexLine>(&line) else {
            continue;
        };
        if entry
            .start
            .into_iter()
            .chain(entry.end)
            .any(|offset| offset > len)
        {
            tracing::warn!(
                "{} does not match the audit log (was it replaced?); reading the whole log",
                path.display()
            );
            return Ok(None);
        }
        if let Some(start) = entry.start {
            first_start = Some(first_start.map_or(start, |first: u64| first.min(start)));
        }
        match (entry.input, entry.start, entry.end) {
            (Some(of), Some(start), _) if of == input => runs.push((entry.run_id, start, None)),
            (_, _, Some(end)) => {
                if let Some(run) = runs.iter_mut().find(|run| run.0 == entry.run_id) {
                    run.2 = Some(end);
                }
            }
            _ => {}
        }
    }
    Ok(first_start.map(|first_start| Indexed { first_start, runs }))
}

/// How long a record may wait for others to share its fsync, while operations run side by
/// side; see [`write_groups`].
const GROUP_WINDOW: Duration = Duration::from_millis(3);

/// The writer thread: takes every record waiting, writes them in one go, fsyncs once and
/// tells each waiter. Ends when the journal is dropped.
///
/// When the last group held more than one record, operations are running side by side, and
/// a group is written only once its first record has waited [`GROUP_WINDOW`], so that the
/// records arriving meanwhile share its fsync (PostgreSQL's `commit_delay`, with the last
/// group standing in for `commit_siblings`). A record waits at most that long, plus the
/// write under way, before its own write starts. At concurrency 64 this takes a group from
/// about 2 records to about 10, and a batch row's CPU down by about 40% (BENCHMARKS.md).
/// A lone writer (one operation at a time, a single command) never waits.
fn write_groups(mut file: File, shown: &str, queue: mpsc::Receiver<Pending>) {
    let mut side_by_side = false;
    while let Ok(first) = queue.recv() {
        if side_by_side {
            std::thread::sleep(GROUP_WINDOW.saturating_sub(first.queued.elapsed()));
        }
        let mut group = vec![first];
        group.extend(queue.try_iter());
        side_by_side = group.len() > 1;
        let mut buffer = Vec::with_capacity(group.iter().map(|p| p.line.len()).sum());
        for pending in &group {
            buffer.extend_from_slice(&pending.line);
        }
        let written = file
            .write_all(&buffer)
            .and_then(|()| file.sync_data())
            .map_err(|err| err.to_string());
        if let Err(err) = &written {
            tracing::error!("writing the audit log {shown}: {err}");
        }
        for pending in group {
            let _ = pending.done.send(written.clone());
        }
    }
}

/// `user@host` of whoever runs tenantctl (`USER`, else `id -un`, as containers often
/// leave `USER` unset).
pub fn operator() -> String {
    let from_id = || {
        std::process::Command::new("id")
            .arg("-un")
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .filter(|name| !name.is_empty())
    };
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(from_id)
        .unwrap_or_else(|| "unknown".into());
    format!("{user}@{}", gethostname::gethostname().to_string_lossy())
}

/// The default journal: `$TENANTCTL_AUDIT_LOG`, else `$XDG_STATE_HOME/tenantctl/audit.jsonl`,
/// else `~/.local/state/tenantctl/audit.jsonl`.
pub fn default_path() -> Option<PathBuf> {
    crate::dirs::state_dir().map(|dir| dir.join("audit.jsonl"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        kind: &str,
        run: &str,
        input: &str,
        occurrence: u64,
        outcome: Option<&str>,
    ) -> Record {
        Record {
            record: kind.into(),
            run_id: run.into(),
            time: "2026-12-01T00:00:00Z".into(),
            operator: "me@here".into(),
            reason: None,
            input: Some(input.into()),
            row: Some(2),
            occurrence: Some(occurrence),
            vendor: "acronis".into(),
            action: "disable".into(),
            target: "id:x".into(),
            plugin: "acronis@0.1.0".into(),
            plugin_sha256: "00".into(),
            dry_run: false,
            tenant_id: None,
            tenant_name: None,
            enabled_before: None,
            enabled_after: None,
            method: None,
            url: None,
            http_status: None,
            vendor_code: None,
            outcome: outcome.map(str::to_string),
            error: None,
        }
    }

    #[tokio::test]
    async fn concurrent_appends_all_land_and_history_follows_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let journal = std::sync::Arc::new(Journal::open(&path).unwrap());
        journal.begin_run("/in.csv").unwrap();
        let mut tasks = Vec::new();
        for n in 1..=50u64 {
            let journal = journal.clone();
            tasks.push(tokio::spawn(async move {
                let run = journal.run_id.clone();
                journal
                    .append(&record("intent", &run, "/in.csv", n, None))
                    .await
                    .unwrap();
                journal
                    .append(&record("result", &run, "/in.csv", n, Some("changed")))
                    .await
                    .unwrap();
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        journal.end_run().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 100);

        let history = Journal::history(&path, "/in.csv").unwrap();
        assert_eq!(history.len(), 50);
        assert!(history.values().all(|h| h.intent && h.done(false)));
        assert!(Journal::history(&path, "/other.csv").unwrap().is_empty());
    }

    #[tokio::test]
    async fn resume_reads_only_the_runs_of_its_input() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        {
            let journal = Journal::open(&path).unwrap();
            journal.begin_run("/other.csv").unwrap();
            let run = journal.run_id.clone();
            journal
                .append(&record("result", &run, "/other.csv", 1, Some("changed")))
                .await
                .unwrap();
            journal.end_run().unwrap();
        }
        // A record of the input outside any run of it (as if written by another run that the
        // index does not attribute to it) is not read: only the indexed stretches are.
        let stray =
            serde_json::to_string(&record("result", "stray", "/in.csv", 1, Some("changed")))
                .unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(format!("{stray}\n").as_bytes())
            .unwrap();
        let journal = Journal::open(&path).unwrap();
        journal.begin_run("/in.csv").unwrap();
        let run = journal.run_id.clone();
        journal
            .append(&record("result", &run, "/in.csv", 2, Some("failed")))
            .await
            .unwrap();
        let history = Journal::history(&path, "/in.csv").unwrap();
        assert_eq!(history.len(), 1, "{history:?}");
        let (_, row) = history.iter().next().unwrap();
        assert!(!row.done(false));
    }

    #[test]
    fn what_resume_skips() {
        let done = |outcome: &str, dry| RowHistory {
            last_result: Some(outcome.into()),
            last_dry_run: dry,
            intent: false,
        };
        assert!(done("changed", false).done(false));
        assert!(done("unchanged", false).done(true));
        assert!(!done("failed: auth: x", false).done(false));
        assert!(!done("planned", true).done(false));
        assert!(done("planned", true).done(true));
        assert!(
            !done("unchanged", true).done(false),
            "a dry run's read proves nothing"
        );
        assert!(!RowHistory::default().done(false));
    }
}
