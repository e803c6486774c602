//! The result of one operation on one tenant, as printed on stdout.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::plugin::bindings::{Failure, RateLimit, TenantSelector};

/// How an operation on a tenant ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A request that changed the tenant succeeded.
    Changed,
    /// The tenant was already as asked (and the result of every `status`).
    Unchanged,
    /// Dry run: the tenant would have been changed.
    Planned,
    /// The operation failed; see `error`.
    Failed,
    /// A resumed batch had already done this row.
    Skipped,
}

impl Status {
    /// True when the tenant ended as asked.
    pub fn is_success(self) -> bool {
        self != Status::Failed
    }
}

/// What kind of failure, for automation to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Credentials refused, session refused twice, or no right to the tenant.
    Auth,
    /// No tenant matches.
    NotFound,
    /// Several tenants match, or the answer may have been cut short.
    Ambiguous,
    /// The tenant kept changing under the operation.
    Conflict,
    /// The vendor asked to slow down and the retries ran out.
    RateLimited,
    /// The vendor reported a failure.
    Vendor,
    /// The connection failed.
    Transport,
    /// A request timed out.
    Timeout,
    /// The plugin trapped, overran a limit, or broke the contract.
    Plugin,
    /// The request cannot be carried out as asked.
    InvalidInput,
    /// The vendor's plugin does not offer this.
    Unsupported,
    /// The operation was aborted by a second interrupt (Ctrl-C); `--resume` runs it again.
    Interrupted,
}

/// Why a tenant failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultError {
    /// The kind of failure.
    pub kind: ErrorKind,
    /// What happened and what to do.
    pub message: String,
    /// The HTTP status involved, if any.
    pub http_status: Option<u16>,
    /// The vendor's error code, if any.
    pub vendor_code: Option<String>,
    /// True when running the same command again later may succeed.
    pub retryable: bool,
}

impl ResultError {
    /// An error of `kind` with only a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let retryable = matches!(
            kind,
            ErrorKind::Conflict
                | ErrorKind::RateLimited
                | ErrorKind::Transport
                | ErrorKind::Timeout
        );
        ResultError {
            kind,
            message: message.into(),
            http_status: None,
            vendor_code: None,
            retryable,
        }
    }
}

impl From<&Failure> for ResultError {
    fn from(failure: &Failure) -> Self {
        let (kind, detail) = match failure {
            Failure::Auth(d) | Failure::SessionExpired(d) => (ErrorKind::Auth, d),
            Failure::NotFound(d) => (ErrorKind::NotFound, d),
            Failure::Ambiguous(d) => (ErrorKind::Ambiguous, d),
            Failure::Conflict(d) => (ErrorKind::Conflict, d),
            Failure::RateLimited(RateLimit { detail, .. }) => (ErrorKind::RateLimited, detail),
            Failure::Vendor(d) => (ErrorKind::Vendor, d),
            Failure::InvalidInput(d) => (ErrorKind::InvalidInput, d),
            Failure::Unsupported(d) => (ErrorKind::Unsupported, d),
        };
        let mut message = detail.message.clone();
        if let Failure::RateLimited(RateLimit {
            retry_after: Some(secs),
            ..
        }) = failure
        {
            message.push_str(&format!(" (the vendor asks to wait {secs} s)"));
        }
        let mut error = ResultError::new(kind, message);
        error.http_status = detail.http_status;
        error.vendor_code = detail.vendor_code.clone();
        error.retryable |=
            kind == ErrorKind::Vendor && detail.http_status.is_some_and(|s| s >= 500);
        error
    }
}

/// A request a dry run would have sent, with secrets redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedRequest {
    /// `GET`, `POST`, `PUT`, ...
    pub method: String,
    /// The URL.
    pub url: String,
    /// The headers, by name; secret values replaced by `<redacted>`.
    pub headers: BTreeMap<String, String>,
    /// The body as text (`<redacted>` when it holds a credential), or `null` for none.
    pub body: Option<String>,
}

/// The result for one tenant: one JSON line with `--output json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantResult {
    /// The vendor id, e.g. `acronis`.
    pub vendor: String,
    /// `status`, `disable`, `enable` or `offboard`.
    pub action: String,
    /// The tenant's id, when known (or as asked).
    pub tenant_id: Option<String>,
    /// The tenant's name, when known (or as asked).
    pub tenant_name: Option<String>,
    /// How it ended.
    pub status: Status,
    /// True when a request that changed the tenant succeeded.
    pub changed: bool,
    /// True for a dry run.
    pub dry_run: bool,
    /// Whether the tenant was enabled before, if known.
    pub enabled_before: Option<bool>,
    /// Whether the tenant is enabled after (in a dry run: would be), if known.
    pub enabled_after: Option<bool>,
    /// Why it failed, or `null`.
    pub error: Option<ResultError>,
    /// The row's line number in a batch input file (the CSV header is line 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
    /// In a dry run that would change the tenant, the request that would have done it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_request: Option<PlannedRequest>,
    /// Facts the operator should know about the action's effect.
    pub notes: Vec<String>,
}

impl TenantResult {
    /// The result of `action` on the tenant `selector` names, before anything is known: no
    /// tenant state, no error, status `unchanged`. Every result starts here.
    pub fn new(
        vendor: &str,
        action: &str,
        selector: Option<&TenantSelector>,
        dry_run: bool,
    ) -> Self {
        let (tenant_id, tenant_name) = match selector {
            Some(TenantSelector::Id(id)) => (Some(id.clone()), None),
            Some(TenantSelector::Name(name)) => (None, Some(name.clone())),
            None => (None, None),
        };
        TenantResult {
            vendor: vendor.to_string(),
            action: action.to_string(),
            tenant_id,
            tenant_name,
            status: Status::Unchanged,
            changed: false,
            dry_run,
            enabled_before: None,
            enabled_after: None,
            error: None,
            row: None,
            planned_request: None,
            notes: Vec::new(),
        }
    }

    /// This result, failed with `error` (a planned request is dropped: nothing will be sent).
    pub fn failed(mut self, error: ResultError) -> Self {
        self.status = Status::Failed;
        self.planned_request = None;
        self.error = Some(error);
        self
    }

    /// One JSON line.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("a result serializes")
    }

    /// One line for people.
    pub fn to_text_line(&self) -> String {
        let who = match (&self.tenant_name, &self.tenant_id) {
            (Some(name), Some(id)) => format!("{name:?} ({id})"),
            (Some(name), None) => format!("{name:?}"),
            (None, Some(id)) => id.clone(),
            (None, None) => "?".into(),
        };
        let deleting = self.action == "delete";
        let state = |enabled: Option<bool>| match enabled {
            Some(true) => "enabled",
            Some(false) => "disabled",
            None if deleting => "deleted",
            None => "unknown",
        };
        let detail = match (&self.error, self.status) {
            (Some(error), _) => format!(
                "{}: {}{}",
                wire_name(error.kind),
                error.message,
                error
                    .http_status
                    .map(|s| format!(" [HTTP {s}]"))
                    .unwrap_or_default()
            ),
            (None, Status::Planned) => match &self.planned_request {
                Some(req) => format!(
                    "would send {} {} ({} -> {})",
                    req.method,
                    req.url,
                    state(self.enabled_before),
                    state(self.enabled_after)
                ),
                None => "would change".into(),
            },
            (None, Status::Skipped) => "done in an earlier run (see the audit log)".to_string(),
            (None, _) if self.action == "status" => state(self.enabled_after).to_string(),
            (None, _) => format!(
                "{} -> {}",
                state(self.enabled_before),
                state(self.enabled_after)
            ),
        };
        let dry = if self.dry_run { " (dry run)" } else { "" };
        format!(
            "{} {} {who}: {}{dry}: {detail}",
            self.vendor,
            self.action,
            wire_name(self.status)
        )
    }
}

/// How a status or error kind is spelled in the JSON output, e.g. `not_found`.
pub fn wire_name(value: impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => "?".to_string(),
    }
}
