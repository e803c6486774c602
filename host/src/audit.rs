//! Journaling one operation: an `intent` record before each write it sends, and its
//! `result` record when it ends — the same for a single command, a batch row and a service
//! job.

use std::sync::{Arc, Mutex};

use crate::account::WriteObserver;
use crate::http::BoxFuture;
use crate::journal::{Journal, Stamp};
use crate::plugin::bindings::{Intent, TenantSelector};
use crate::report::{ErrorKind, ResultError, Status, TenantResult, wire_name};

/// Where a batch row came from, for its records.
#[derive(Debug, Clone)]
pub struct Place {
    /// The input (absolute path, or `-`).
    pub input: String,
    /// The row's line number.
    pub row: u64,
    /// Which occurrence of the same vendor, action and target this row is.
    pub occurrence: u64,
}

/// The journal of one operation.
#[derive(Debug)]
pub struct OperationAudit {
    journal: Arc<Journal>,
    stamp: Stamp,
    place: Option<Place>,
    target: String,
    vendor: String,
    action: String,
    /// The last write: method, URL and the status that answered it.
    last_write: Mutex<Option<(String, String, Option<u16>)>>,
}

/// `id:…` or `name:…`: the tenant as asked for.
pub fn target(selector: &TenantSelector) -> String {
    match selector {
        TenantSelector::Id(id) => format!("id:{id}"),
        TenantSelector::Name(name) => format!("name:{name}"),
    }
}

impl OperationAudit {
    /// Journals `action` of `vendor` on `target` in `journal`, stamped with `stamp`.
    pub fn new(
        journal: Arc<Journal>,
        stamp: Stamp,
        place: Option<Place>,
        vendor: &str,
        action: &str,
        target: String,
    ) -> Self {
        OperationAudit {
            journal,
            stamp,
            place,
            target,
            vendor: vendor.to_string(),
            action: action.to_string(),
            last_write: Mutex::new(None),
        }
    }

    fn record(&self, kind: &str, result: &TenantResult) -> crate::journal::Record {
        let mut record = self.journal.record(kind, &self.stamp, &self.target, result);
        if let Some(place) = &self.place {
            record.input = Some(place.input.clone());
            record.row = Some(place.row);
            record.occurrence = Some(place.occurrence);
        }
        record
    }

    /// Writes the operation's result record. If the journal cannot be written, the result
    /// becomes a failure saying so: a row does not count as done unless the journal knows.
    pub async fn finish(&self, result: &mut TenantResult) {
        let mut record = self.record("result", result);
        if let Some((method, url, status)) = self
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
        if let Err(err) = self.journal.append(&record).await {
            let message =
                format!("{err:#}; the operation ran but its result is not in the audit log");
            tracing::error!("{message}");
            result.status = Status::Failed;
            result.error = Some(ResultError::new(ErrorKind::Transport, message));
        }
    }
}

impl WriteObserver for OperationAudit {
    fn before_write<'a>(
        &'a self,
        intent: &'a Intent,
        method: &'a str,
        url: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let mut shown = TenantResult::new(&self.vendor, &self.action, None, false);
            shown.tenant_id = Some(intent.tenant.id.clone());
            shown.tenant_name = Some(intent.tenant.name.clone());
            shown.enabled_before = intent.enabled_before;
            shown.enabled_after = intent.enabled_after;
            let mut record = self.record("intent", &shown);
            record.method = Some(method.to_string());
            record.url = Some(url.to_string());
            *self.last_write.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((method.to_string(), url.to_string(), None));
            self.journal
                .append(&record)
                .await
                .map_err(|err| format!("{err:#}"))
        })
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
