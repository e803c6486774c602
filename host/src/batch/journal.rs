//! The audit journal: append-only JSON Lines, flushed to disk record by record.
//!
//! An `intent` record is written before every request that changes a tenant, and one
//! `result` record per row when its operation ends. A run that dies halfway leaves intents
//! without results; `--resume` skips rows that have a result and runs the others again,
//! which re-reads each tenant before deciding anything.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

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
    /// Who ran tenantctl: user@host.
    pub operator: String,
    /// The input file (absolute path) or `-` for standard input.
    pub input: String,
    /// The row's line number in the input.
    pub row: u64,
    /// The vendor id.
    pub vendor: String,
    /// The action.
    pub action: String,
    /// The tenant as asked for: `id:…` or `name:…` (how resume recognises the row).
    pub target: String,
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
    /// For results: `changed`, `unchanged`, `failed`.
    pub outcome: Option<String>,
    /// For failed results: the error kind and message.
    pub error: Option<String>,
}

/// The key by which resume recognises a row done earlier.
pub type RowKey = (String, u64, String, String, String);

/// An open journal.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    /// This run's id.
    pub run_id: String,
    /// user@host.
    pub operator: String,
}

impl Journal {
    /// Opens (creating if needed) the journal at `path` for appending.
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
        Ok(Journal {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            run_id: format!("{:x}-{:x}", started.as_secs(), std::process::id()),
            operator: operator(),
        })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record`, scrubbed of secrets, and flushes it to disk before returning.
    pub fn append(&self, record: &Record) -> Result<()> {
        let line = serde_json::to_string(record).expect("a record serializes");
        let mut line = crate::redact::scrub(&line).into_owned();
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .with_context(|| format!("writing the audit log {}", self.path.display()))
    }

    /// A record of this run, stamped now.
    pub fn record(
        &self,
        kind: &str,
        input: &str,
        row: u64,
        target: &str,
        result: &TenantResult,
    ) -> Record {
        Record {
            record: kind.to_string(),
            run_id: self.run_id.clone(),
            time: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            operator: self.operator.clone(),
            input: input.to_string(),
            row,
            vendor: result.vendor.clone(),
            action: result.action.clone(),
            target: target.to_string(),
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

    /// The rows of `input` that have a result in the journal at `path`, with the outcome
    /// recorded last for each.
    pub fn completed(path: &Path, input: &str) -> Result<HashMap<RowKey, String>> {
        let file = File::open(path)
            .with_context(|| format!("reading the audit log {}", path.display()))?;
        let mut done = HashMap::new();
        for (number, line) in BufReader::new(file).lines().enumerate() {
            let line = line.with_context(|| format!("reading the audit log {}", path.display()))?;
            match serde_json::from_str::<Record>(&line) {
                Ok(record) if record.record == "result" && record.input == input => {
                    let outcome = match &record.error {
                        Some(error) => format!("failed: {error}"),
                        None => record.outcome.clone().unwrap_or_default(),
                    };
                    let row = key(
                        &record.input,
                        record.row,
                        &record.vendor,
                        &record.action,
                        &record.target,
                    );
                    done.insert(row, outcome);
                }
                Ok(_) => {}
                // The last line of a run killed mid-write may be cut short.
                Err(err) => tracing::warn!(
                    "{}:{}: skipping an unreadable record: {err}",
                    path.display(),
                    number + 1
                ),
            }
        }
        Ok(done)
    }
}

/// The key of a row.
pub fn key(input: &str, row: u64, vendor: &str, action: &str, target: &str) -> RowKey {
    (
        input.to_string(),
        row,
        vendor.to_string(),
        action.to_string(),
        target.to_string(),
    )
}

/// `user@host` of whoever runs tenantctl (`USER`, else `id -un`, as containers often
/// leave `USER` unset).
fn operator() -> String {
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

/// The default journal: `$XDG_STATE_HOME/tenantctl/audit.jsonl`, else
/// `~/.local/state/tenantctl/audit.jsonl`.
pub fn default_path() -> Option<PathBuf> {
    crate::dirs::state_dir().map(|dir| dir.join("audit.jsonl"))
}
