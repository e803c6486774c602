//! `GET /metrics`: Prometheus text — requests by route and status, operations by vendor and
//! status, retries by vendor, jobs by status (the queue depth).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use axum::extract::State as Shared;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::State;
use crate::report::{TenantResult, wire_name};

/// The counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    operations: Mutex<BTreeMap<(String, String, String), u64>>,
    retries: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    /// Counts a request.
    pub fn request(&self, method: &str, route: &str, status: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *requests
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
    }

    /// Counts an operation's result.
    pub fn operation(&self, result: &TenantResult) {
        let mut operations = self.operations.lock().unwrap_or_else(|e| e.into_inner());
        *operations
            .entry((
                result.vendor.clone(),
                result.action.clone(),
                wire_name(result.status),
            ))
            .or_default() += 1;
    }

    /// Adds a finished job's retries.
    pub fn retries(&self, vendor: &str, retries: u64) {
        let mut all = self.retries.lock().unwrap_or_else(|e| e.into_inner());
        *all.entry(vendor.to_string()).or_default() += retries;
    }
}

/// A label value, escaped as the text format wants.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The metrics, in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn handler(Shared(state): Shared<Arc<State>>) -> Response {
    let mut text = String::new();
    let metrics = &state.metrics;
    text.push_str(
        "# HELP tenantctl_http_requests_total HTTP requests served, by route and status.\n",
    );
    text.push_str("# TYPE tenantctl_http_requests_total counter\n");
    for ((method, route, status), n) in metrics
        .requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        let _ = writeln!(
            text,
            "tenantctl_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
            label(method),
            label(route)
        );
    }
    text.push_str("# HELP tenantctl_operations_total Tenant operations, by vendor, action and result status.\n");
    text.push_str("# TYPE tenantctl_operations_total counter\n");
    for ((vendor, action, status), n) in metrics
        .operations
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        let _ = writeln!(
            text,
            "tenantctl_operations_total{{vendor=\"{}\",action=\"{}\",status=\"{}\"}} {n}",
            label(vendor),
            label(action),
            label(status)
        );
    }
    // Retries of finished jobs, plus those of the accounts single-tenant requests share.
    let mut retries = metrics
        .retries
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    for (vendor, account) in state.accounts().await {
        *retries.entry(vendor).or_default() += account
            .stats()
            .retries
            .load(std::sync::atomic::Ordering::Relaxed);
    }
    text.push_str("# HELP tenantctl_retries_total HTTP requests to vendors retried, by vendor.\n");
    text.push_str("# TYPE tenantctl_retries_total counter\n");
    for (vendor, n) in &retries {
        let _ = writeln!(
            text,
            "tenantctl_retries_total{{vendor=\"{}\"}} {n}",
            label(vendor)
        );
    }
    text.push_str(
        "# HELP tenantctl_jobs Jobs in the database, by status (queued is the queue depth).\n",
    );
    text.push_str("# TYPE tenantctl_jobs gauge\n");
    let mut jobs: BTreeMap<String, i64> = ["queued", "running", "succeeded", "failed", "cancelled"]
        .into_iter()
        .map(|status| (status.to_string(), 0))
        .collect();
    match state.db.job_counts().await {
        Ok(counts) => {
            for (status, n) in counts {
                if status != "accepting" {
                    jobs.insert(status, n);
                }
            }
        }
        Err(err) => tracing::warn!("counting jobs for /metrics: {err:#}"),
    }
    for (status, n) in &jobs {
        let _ = writeln!(text, "tenantctl_jobs{{status=\"{}\"}} {n}", label(status));
    }
    let queued = jobs.get("queued").copied().unwrap_or(0);
    text.push_str("# HELP tenantctl_job_queue_depth Jobs waiting for a worker.\n");
    text.push_str("# TYPE tenantctl_job_queue_depth gauge\n");
    let _ = writeln!(text, "tenantctl_job_queue_depth {queued}");
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        text,
    )
        .into_response()
}
