//! Jobs: a batch of rows accepted once per `Idempotency-Key`, kept in the database, and run
//! by the batch engine of `tenantctl apply` (sessions, rate limits, retries, the journal with
//! the token's name as operator, resume).
//!
//! A replica claims a job under a lease it renews while the job runs. Each row's result is
//! stored as it completes; a job whose replica died (its lease expired) is claimed again —
//! by the next start or another replica — and only its rows without a result run again. The
//! plugins read before they write, so a row that was under way when its replica died finds
//! its tenant already as asked and writes nothing: no tenant is written twice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State as Shared};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::State;
use super::api::{ApiError, json, needed_role, page_limit, read_body};
use super::auth::{Caller, Role};
use super::db::{Accepted, Job, JobRow};
use super::openapi::{ErrorBody, JobAccepted, JobResultPage, JobView};
use crate::batch::{Batch, BatchOptions, Source};
use crate::plugin::bindings::Action;
use crate::report::{TenantResult, wire_name};

/// `POST /v1/jobs`: the rows and how to run them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// One action on one tenant per row.
    pub rows: Vec<JobRow>,
    /// Send nothing that changes a tenant.
    #[serde(default)]
    pub dry_run: bool,
    /// Why, recorded in the journal of rows that give no reason of their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Confirms destructive rows (offboard, delete), which also need an admin token.
    #[serde(default)]
    pub confirm: bool,
}

/// The longest `Idempotency-Key` accepted.
const MAX_KEY_LEN: usize = 255;

/// Accepts a job.
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs",
    params(("Idempotency-Key" = String, Header, description = "Any unique string; the same key with the same body returns the same job")),
    request_body = JobRequest,
    responses(
        (status = 202, description = "Accepted (or accepted earlier with this key and body)", body = JobAccepted,
            headers(("Location" = String, description = "/v1/jobs/{id}"))),
        (status = 400, description = "No Idempotency-Key, or a body that cannot be read", body = ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The token's role is too low (operate; admin for offboard and delete rows)", body = ErrorBody),
        (status = 409, description = "The first request with this key is still being accepted", body = ErrorBody),
        (status = 413, description = "The body is larger than the service accepts", body = ErrorBody),
        (status = 422, description = "A row that cannot run, or this key was used with another body", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    Shared(state): Shared<Arc<State>>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    caller.require(Role::Operate, "running a job")?;
    let key = headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "a job needs an Idempotency-Key header (any unique string, e.g. a UUID), so a \
                 retried request cannot start it twice",
            )
        })?
        .to_string();
    if key.len() > MAX_KEY_LEN {
        return Err(ApiError::bad_request(format!(
            "the Idempotency-Key is longer than {MAX_KEY_LEN} bytes"
        )));
    }
    let request: JobRequest = read_body(body)?;
    check(&state, &caller, &request)?;
    let canonical = serde_json::to_string(&request).expect("a job request serializes");
    let body_sha256 = hex::encode(Sha256::digest(canonical.as_bytes()));
    let id = hex::encode(rand::random::<[u8; 16]>());
    let accepted = state
        .db
        .accept_job(
            &id,
            &caller.name,
            &key,
            &body_sha256,
            request.dry_run,
            request.confirm,
            request.reason.as_deref(),
            &request.rows,
        )
        .await
        .map_err(ApiError::internal)?;
    let id = match accepted {
        Accepted::New(id) => {
            state.wake.notify_waiters();
            id
        }
        Accepted::Existing(id) => id,
        Accepted::OtherBody(id) => {
            return Err(ApiError::unprocessable(
                "invalid_input",
                format!(
                    "this Idempotency-Key was used for job {id} with another body; use a new key \
                     for a new job"
                ),
            ));
        }
        Accepted::InProgress => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "the first request with this Idempotency-Key is still being accepted; retry in a \
                 moment",
            ));
        }
    };
    let job = state
        .db
        .job(&id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("job {id} vanished")))?;
    let mut response = json(
        StatusCode::ACCEPTED,
        &serde_json::json!({"id": job.id, "status": job.status}),
    );
    if let Ok(location) = format!("/v1/jobs/{}", job.id).parse() {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Refuses a job that cannot run as a whole, before it is stored: no rows or too many, a
/// row with an unknown vendor or action, no tenant, a delete without `expect_name`,
/// destructive rows without `confirm` or from a token below `admin`.
fn check(state: &State, caller: &Caller, request: &JobRequest) -> Result<(), ApiError> {
    if request.rows.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_input",
            "the job has no rows",
        ));
    }
    if request.rows.len() > state.max_job_rows {
        return Err(ApiError::unprocessable(
            "invalid_input",
            format!(
                "the job has {} rows, more than this service accepts ({}); split it",
                request.rows.len(),
                state.max_job_rows
            ),
        ));
    }
    let mut most = Role::Operate;
    for (n, row) in request.rows.iter().enumerate() {
        let bad =
            |why: String| ApiError::unprocessable("invalid_input", format!("row {}: {why}", n + 1));
        let plugin = state
            .catalog
            .get(row.vendor.trim())
            .ok_or_else(|| bad(state.catalog.missing_vendor(row.vendor.trim())))?;
        let action = match crate::batch::rows::parse_action(row.action.trim()) {
            Some(Action::List) | None => {
                return Err(bad(format!(
                    "unknown action {:?}: use status, disable, enable, offboard or delete",
                    row.action
                )));
            }
            Some(action) => action,
        };
        crate::operation::selector(row.tenant.as_deref(), row.tenant_name.as_deref())
            .map_err(bad)?;
        if !plugin.supports(action) {
            return Err(ApiError::unprocessable(
                "unsupported",
                format!("row {}: {plugin} does not support {}", n + 1, action.name()),
            ));
        }
        if action == Action::Delete && row.expect_name.is_none() {
            return Err(bad(
                "a delete cannot be undone, so the row needs expect_name (the tenant's exact name)"
                    .into(),
            ));
        }
        if plugin.is_destructive(action) {
            most = most.max(needed_role(action));
            if !request.confirm && !request.dry_run {
                return Err(bad(format!(
                    "{} cannot be undone by tenantctl; send \"confirm\": true, or \"dry_run\": \
                     true to preview",
                    action.name()
                )));
            }
        }
    }
    caller.require(most, "a job with offboard or delete rows")
}

/// A job's state.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn show(
    Shared(state): Shared<Arc<State>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Read, "reading a job")?;
    let job = find(&state, &id).await?;
    Ok(json(StatusCode::OK, &view(&state, &job).await?))
}

async fn find(state: &State, id: &str) -> Result<Job, ApiError> {
    state
        .db
        .job(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no job {id:?}")))
}

fn time(ms: Option<i64>) -> Option<String> {
    ms.map(|ms| {
        humantime::format_rfc3339_millis(
            std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64),
        )
        .to_string()
    })
}

async fn view(state: &State, job: &Job) -> Result<serde_json::Value, ApiError> {
    let counts: BTreeMap<String, i64> =
        state.db.counts(&job.id).await.map_err(ApiError::internal)?;
    let done: i64 = counts.values().sum();
    Ok(serde_json::json!({
        "id": job.id,
        "status": job.status,
        "rows": job.row_count,
        "done": done,
        "counts": counts,
        "dry_run": job.dry_run,
        "reason": job.reason,
        "error": job.error,
        "cancel_requested": job.cancel_requested,
        "created_by": job.created_by,
        "created_at": time(Some(job.created_at)),
        "started_at": time(job.started_at),
        "finished_at": time(job.finished_at),
    }))
}

/// `?after=&limit=` of a job's results.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultsQuery {
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// Results per page (1 to 1000; default 100).
    pub limit: Option<String>,
}

/// A job's results so far, by row.
#[utoipa::path(get, path = "/v1/jobs/{id}/results", tag = "jobs",
    params(("id" = String, Path, description = "The job's id"), ResultsQuery),
    responses(
        (status = 200, description = "Results in row order; `next` is null once the job has ended and this is the last page", body = JobResultPage),
        (status = 400, description = "A bad limit or cursor", body = ErrorBody),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn results(
    Shared(state): Shared<Arc<State>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<ResultsQuery>,
) -> Result<Response, ApiError> {
    caller.require(Role::Read, "reading a job")?;
    let limit = page_limit(page.limit.as_deref())?;
    let after = match page.after.as_deref() {
        None => 0,
        Some(text) => text.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!(
                "after must be the `next` of the previous page (got {text:?})"
            ))
        })?,
    };
    let job = find(&state, &id).await?;
    let rows = state
        .db
        .results(&id, after, limit as i64)
        .await
        .map_err(ApiError::internal)?;
    let last = rows.last().map(|(row, _, _)| *row).unwrap_or(after);
    let ended = matches!(job.status.as_str(), "succeeded" | "failed" | "cancelled");
    let items: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|(row, request, result)| {
            let mut value: serde_json::Value =
                serde_json::from_str(&result).unwrap_or(serde_json::Value::Null);
            if let Some(object) = value.as_object_mut() {
                object.insert("row".into(), row.into());
                object.insert(
                    "request".into(),
                    serde_json::to_value(&request).unwrap_or_default(),
                );
            }
            value
        })
        .collect();
    // A full page may have more after it; a running job will have more.
    let next = (items.len() == limit || !ended).then(|| last.to_string());
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({"items": items, "next": next}),
    ))
}

/// Cancels a job: a queued one at once; a running one starts no more rows (rows under way
/// finish) and ends `cancelled`.
#[utoipa::path(post, path = "/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job after the cancel", body = JobView),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The token's role is too low (operate)", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn cancel(
    Shared(state): Shared<Arc<State>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Operate, "cancelling a job")?;
    find(&state, &id).await?;
    state.db.cancel(&id).await.map_err(ApiError::internal)?;
    let job = find(&state, &id).await?;
    Ok(json(StatusCode::OK, &view(&state, &job).await?))
}

/// This process's job workers.
pub struct Workers(JoinSet<()>);

/// Starts `count` workers, each claiming and running one job at a time until shutdown.
pub fn start_workers(state: Arc<State>, count: usize) -> Workers {
    let mut set = JoinSet::new();
    for _ in 0..count.max(1) {
        set.spawn(worker(state.clone()));
    }
    Workers(set)
}

impl Workers {
    /// Waits for the workers to stop (after shutdown: their rows under way finished).
    pub async fn finish(mut self) {
        while let Some(joined) = self.0.join_next().await {
            if let Err(err) = joined {
                tracing::error!("a job worker failed: {err}");
            }
        }
    }
}

/// How often an idle worker looks for jobs of other replicas and expired leases.
const POLL: Duration = Duration::from_millis(500);

async fn worker(state: Arc<State>) {
    let mut stopping = state.shutdown.subscribe();
    loop {
        if *stopping.borrow() {
            return;
        }
        let lease_ms = state.lease.as_millis() as i64;
        match state.db.claim(&state.owner, lease_ms).await {
            Ok(Some(id)) => {
                if let Err(err) = run_job(&state, &id).await {
                    tracing::error!("job {id}: {err:#}");
                    crate::cli::eprint_line(&format!(
                        "tenantctl serve: job {id} stopped: {err:#}; it is taken up again once \
                         its lease expires"
                    ));
                }
                continue;
            }
            Ok(None) => {}
            Err(err) => {
                crate::cli::eprint_line(&format!(
                    "tenantctl serve: looking for jobs failed: {err:#}"
                ));
            }
        }
        tokio::select! {
            () = state.wake.notified() => {}
            () = tokio::time::sleep(POLL) => {}
            _ = stopping.wait_for(|stop| *stop) => return,
        }
    }
}

/// How a job's run ended, as its heartbeat saw it.
#[derive(Debug, Default, Clone, Copy)]
struct Ending {
    cancelled: bool,
    lost: bool,
    shutdown: bool,
}

/// Runs the rows of job `id` that have no result yet, storing each result as it comes.
async fn run_job(state: &Arc<State>, id: &str) -> anyhow::Result<()> {
    let Some(job) = state.db.job(id).await? else {
        return Ok(());
    };
    if job.cancel_requested {
        state.db.finish(id, &state.owner, "cancelled", None).await?;
        return Ok(());
    }
    let pending = state.db.pending_rows(id).await?;
    crate::cli::eprint_line(&format!(
        "tenantctl serve: running job {id}: {} of {} rows to do",
        pending.len(),
        job.row_count
    ));
    let mut ending = Ending::default();
    if !pending.is_empty() {
        let outcome = run_rows(state, &job, pending, &mut ending).await?;
        if let Err(why) = outcome {
            state
                .db
                .finish(id, &state.owner, "failed", Some(&why))
                .await?;
            return Ok(());
        }
    }
    if ending.lost {
        crate::cli::eprint_line(&format!(
            "tenantctl serve: job {id} was taken over by another replica"
        ));
        return Ok(());
    }
    if ending.cancelled {
        state.db.finish(id, &state.owner, "cancelled", None).await?;
    } else if ending.shutdown {
        state.db.release(id, &state.owner).await?;
    } else {
        let failed = state.db.failed_count(id).await?;
        let status = if failed > 0 { "failed" } else { "succeeded" };
        state.db.finish(id, &state.owner, status, None).await?;
    }
    Ok(())
}

/// Runs `pending` (row number, row) through the batch engine; `Ok(Err(why))` when the batch
/// refused to start (e.g. a vendor the service cannot reach).
async fn run_rows(
    state: &Arc<State>,
    job: &Job,
    pending: Vec<(i64, JobRow)>,
    ending: &mut Ending,
) -> anyhow::Result<Result<(), String>> {
    // The batch reads JSON Lines: line n is pending[n - 1].
    let mut bytes = Vec::new();
    let mut numbers = Vec::with_capacity(pending.len());
    for (number, row) in &pending {
        serde_json::to_writer(&mut bytes, row)?;
        bytes.push(b'\n');
        numbers.push(*number);
    }
    let options = BatchOptions {
        source: Source::Memory {
            id: format!("job:{}", job.id),
            bytes: bytes.into(),
        },
        action: None,
        concurrency: state.concurrency,
        dry_run: job.dry_run,
        yes: job.confirm,
        max_targets: None,
        fail_fast: false,
        audit_log: state.journal_path.clone(),
        resume: state.journal_path.is_file(),
        reason: job.reason.clone().or_else(|| state.reason.clone()),
        deadline: Some(state.deadline),
        config: state.config.clone(),
        http: state.http.clone(),
    };
    let batch = match Batch::new(&state.catalog, options, |name| std::env::var(name).ok()) {
        Ok(batch) => batch.with_operator(job.created_by.clone()),
        Err(refused) => return Ok(Err(refused.0)),
    };
    let interrupts = batch.interrupts();

    // Results go to the database in groups, in the order they complete.
    let (sender, mut receiver) = mpsc::unbounded_channel::<(i64, String, String)>();
    let writer_state = state.clone();
    let job_id = job.id.clone();
    let writer = tokio::spawn(async move {
        let mut failures = 0u32;
        while let Some(first) = receiver.recv().await {
            let mut group = vec![first];
            while group.len() < 500 {
                match receiver.try_recv() {
                    Ok(next) => group.push(next),
                    Err(_) => break,
                }
            }
            while let Err(err) = writer_state.db.record_results(&job_id, &group).await {
                failures += 1;
                crate::cli::eprint_line(&format!(
                    "tenantctl serve: storing results of job {job_id} failed ({err:#}); retrying"
                ));
                tokio::time::sleep(Duration::from_millis(200 * u64::from(failures.min(25)))).await;
            }
        }
    });
    let metrics = state.clone();
    let emit: crate::batch::Emit = Arc::new(move |result: &TenantResult| {
        let line = result.row.unwrap_or_default() as usize;
        let Some(&number) = line.checked_sub(1).and_then(|i| numbers.get(i)) else {
            return;
        };
        metrics.metrics.operation(result);
        let mut result = result.clone();
        result.row = Some(number as u64);
        let text = crate::redact::scrub(&result.to_json_line()).into_owned();
        let _ = sender.send((number, wire_name(result.status), text));
    });

    // The heartbeat keeps the lease and watches for a cancel, a takeover and shutdown.
    let (done, mut finished) = tokio::sync::watch::channel(false);
    let beat_state = state.clone();
    let beat_id = job.id.clone();
    let heartbeat = tokio::spawn(async move {
        let mut ending = Ending::default();
        let mut stopping = beat_state.shutdown.subscribe();
        let every = beat_state.lease / 3;
        loop {
            tokio::select! {
                _ = finished.wait_for(|done| *done) => return ending,
                _ = stopping.wait_for(|stop| *stop), if !ending.shutdown => {
                    ending.shutdown = true;
                    interrupts.stop();
                    continue;
                }
                () = tokio::time::sleep(every) => {}
            }
            let lease_ms = beat_state.lease.as_millis() as i64;
            match beat_state
                .db
                .heartbeat(&beat_id, &beat_state.owner, lease_ms)
                .await
            {
                Ok(Some(true)) if !ending.cancelled => {
                    ending.cancelled = true;
                    interrupts.stop();
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    ending.lost = true;
                    interrupts.stop();
                }
                Err(err) => crate::cli::eprint_line(&format!(
                    "tenantctl serve: renewing the lease of job {beat_id} failed: {err:#}"
                )),
            }
        }
    });

    let summary = batch.run(emit, |_| {}).await;
    let _ = done.send(true);
    *ending = heartbeat.await.unwrap_or_default();
    writer.await?;
    let summary = match summary {
        Ok(summary) => summary,
        Err(refused) => return Ok(Err(refused.0)),
    };
    for (vendor, (_, retries, _)) in &summary.traffic {
        state.metrics.retries(vendor, *retries);
    }
    Ok(Ok(()))
}
