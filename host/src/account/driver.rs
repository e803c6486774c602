//! The step loop: calls the plugin, checks each request it asks for, intercepts writes
//! (expected name, dry run, audit), sends, and hands the answer back.

use std::ops::ControlFlow;
use std::sync::atomic::Ordering;
use std::time::Duration;

use url::Url;

use super::cache::{ReadCache, Source};
use super::policy::{Phase, Policy, refusal};
use super::session::Lease;
use super::{Account, RunOptions};
use crate::http::SendError;
use crate::plugin::PluginError;
use crate::plugin::bindings::{
    ActionRequest, ActionStep, Effect, Failure, HttpResponse, Intent, ListedTenant, LoginStep,
    Outcome, Outgoing, Session,
};
use crate::redact::{self, method_name};
use crate::report::{ErrorKind, PlannedRequest, ResultError};

/// How an attempt ended when it did not finish the operation.
pub enum Stop {
    /// The operation failed.
    Fail(ResultError),
    /// The vendor refused the session; renew it and start again.
    SessionRefused,
    /// A write that is not safe to repeat may or may not have arrived; start again from the
    /// first read, which shows whether it did.
    UncertainWrite(String),
}

impl From<ResultError> for Stop {
    fn from(error: ResultError) -> Self {
        Stop::Fail(error)
    }
}

/// How an attempt finished the operation.
pub enum Finished {
    /// The plugin's outcome.
    Outcome(Outcome),
    /// A dry run stopped before the first write, which would have been this.
    Planned(PlannedRequest),
    /// A listing's last page was passed on.
    Listed,
}

/// Where a listing's tenants go, page by page, as they arrive. `Break` ends the listing
/// there: the vendor's later pages are not read (a caller that wanted one page of its own
/// has it).
pub type PageSink<'a> = dyn FnMut(&[ListedTenant]) -> ControlFlow<()> + Send + 'a;

/// The longest an operation may spend waiting because its plugin asked to (`wait-ms`),
/// however long its deadline; the operation's own deadline caps it further.
pub const MAX_TOTAL_WAIT: Duration = Duration::from_secs(600);

/// What an operation learned that outlives an attempt: the last write it declared, so a
/// failure still names the tenant and its state; how long it waited; and, for a listing,
/// how far it got.
#[derive(Debug, Default)]
pub struct Progress {
    /// The intent of the last write the plugin asked for.
    pub intent: Option<Intent>,
    /// The time spent in waits the plugin asked for.
    pub waited: Duration,
    /// Tenants a listing has passed on.
    pub listed: u64,
    /// The id of the last tenant a listing passed on: an attempt that starts the listing
    /// over (after a session renewal) skips what was passed on and checks it lands here.
    pub last_listed: Option<String>,
}

impl Account {
    /// One attempt at `request` with the session in `lease`. A listing passes its pages to
    /// `sink` (and must have one); anything else must not send pages.
    pub(super) async fn attempt(
        &self,
        lease: &Lease,
        request: &ActionRequest,
        options: &RunOptions,
        progress: &mut Progress,
        mut sink: Option<&mut PageSink<'_>>,
    ) -> Result<Finished, Stop> {
        let session = &lease.session;
        let ctx = self.context();
        let mut instance = self.plugin.instantiate().await.map_err(plugin_error)?;
        let mut step = instance
            .begin_action(&ctx, session, request)
            .await
            .map_err(plugin_error)?;
        // A listing restarted after a renewal passes on again only what is new.
        let mut skip = progress.listed;
        // Requests since the last page that carried tenants (for anything else: since the
        // start), capped at `max_steps`: a listing may take many pages, a runaway may not.
        let mut steps = 0;
        loop {
            let outgoing = match step {
                ActionStep::Done(outcome) => {
                    if matches!(outcome.error, Some(Failure::SessionExpired(_))) {
                        return Err(Stop::SessionRefused);
                    }
                    return Ok(Finished::Outcome(outcome));
                }
                ActionStep::Send(outgoing) => outgoing,
                ActionStep::Page(page) => {
                    let Some(sink) = sink.as_deref_mut() else {
                        return Err(self
                            .contract_broken(format!(
                                "answered {} with a page of tenants; only list may",
                                request.action.name()
                            ))
                            .into());
                    };
                    if !page.tenants.is_empty() {
                        steps = 0;
                    }
                    let fresh = unseen(&page.tenants, &mut skip, progress)?;
                    if let Some(last) = fresh.last() {
                        progress.listed += fresh.len() as u64;
                        progress.last_listed = Some(last.id.clone());
                        if sink(fresh).is_break() {
                            return Ok(Finished::Listed);
                        }
                    }
                    match page.next {
                        Some(next) => next,
                        None => return Ok(Finished::Listed),
                    }
                }
            };
            steps += 1;
            let url = self.policy().check(&outgoing, Phase::Action, steps)?;
            if sink.is_some() && outgoing.request.effect != Effect::Read {
                return Err(self
                    .contract_broken(format!(
                        "asked to send a write ({} {}) while listing; refused",
                        method_name(outgoing.request.method),
                        redact::scrub(&outgoing.request.url)
                    ))
                    .into());
            }
            if let Some(intent) = &outgoing.intent {
                progress.intent = Some(intent.clone());
                if let Some(expected) = options
                    .expect_name
                    .as_deref()
                    .filter(|expected| *expected != intent.tenant.name)
                {
                    return Err(name_mismatch(&intent.tenant.name, expected).into());
                }
                if options.dry_run {
                    return Ok(Finished::Planned(redact::plan(&outgoing.request)));
                }
            }
            self.wait(outgoing.wait_ms, &mut progress.waited, options.deadline)
                .await?;
            let observer = options.observer.as_ref().zip(outgoing.intent.as_ref());
            if let Some((observer, intent)) = observer {
                let method = method_name(outgoing.request.method);
                let shown = redact::scrub(&outgoing.request.url);
                observer
                    .before_write(intent, method, &shown)
                    .await
                    .map_err(|message| {
                        ResultError::new(
                            ErrorKind::Transport,
                            format!(
                                "the audit log could not be written, so nothing was sent: {message}"
                            ),
                        )
                    })?;
            }
            let sent = self.exchange(&url, &outgoing, Some(lease)).await;
            if let Some((observer, _)) = observer {
                observer.after_write(sent.as_ref().ok().map(|response| response.status));
            }
            let response = match sent {
                Ok(response) => response,
                Err(SendError::Transport {
                    message,
                    may_have_arrived: true,
                }) if outgoing.request.effect == Effect::Write => {
                    return Err(Stop::UncertainWrite(message));
                }
                Err(err) => return Err(self.send_error(err, Phase::Action, steps).into()),
            };
            step = instance
                .resume_action(&ctx, session, &outgoing.state, &response)
                .await
                .map_err(plugin_error)?;
            if !matches!(&step, ActionStep::Done(outcome) if matches!(outcome.error, Some(Failure::SessionExpired(_))))
            {
                lease.mark_served();
            }
        }
    }

    /// Waits as long as the plugin asked before its next request, without holding a batch
    /// slot; fails as `timeout` instead when the operation's waits would pass
    /// [`MAX_TOTAL_WAIT`] or its deadline.
    async fn wait(
        &self,
        wait_ms: Option<u32>,
        waited: &mut Duration,
        deadline: Option<Duration>,
    ) -> Result<(), ResultError> {
        let wait = Duration::from_millis(u64::from(wait_ms.unwrap_or(0)));
        if wait.is_zero() {
            return Ok(());
        }
        let cap = deadline.map_or(MAX_TOTAL_WAIT, |d| d.min(MAX_TOTAL_WAIT));
        if *waited + wait > cap {
            return Err(ResultError::new(
                ErrorKind::Timeout,
                format!(
                    "{} asked to wait {} more, after waiting {} already; one operation waits at \
                     most {} (the smaller of 10 minutes and its deadline), so it was stopped. \
                     The vendor may still finish the work: check with status, or raise \
                     --deadline",
                    self.plugin,
                    humantime::format_duration(wait),
                    humantime::format_duration(*waited),
                    humantime::format_duration(cap)
                ),
            ));
        }
        *waited += wait;
        tracing::debug!(vendor = self.vendor(), ?wait, "waiting as the plugin asked");
        crate::slots::idle(tokio::time::sleep(wait)).await;
        Ok(())
    }

    fn contract_broken(&self, why: String) -> ResultError {
        ResultError::new(ErrorKind::Plugin, format!("{} {why}", self.plugin))
    }

    /// Logs in: runs the plugin's login steps, which may only read.
    pub(super) async fn login(&self) -> Result<Session, ResultError> {
        self.stats.logins.fetch_add(1, Ordering::Relaxed);
        tracing::info!(vendor = self.vendor(), url = %self.base_url, "logging in");
        let ctx = self.context();
        let failed = |error: ResultError| ResultError {
            message: format!(
                "logging in to {} at {}: {}",
                self.vendor(),
                self.base_url,
                error.message
            ),
            ..error
        };
        let mut instance = self.plugin.instantiate().await.map_err(plugin_error)?;
        let mut step = instance.begin_login(&ctx).await.map_err(plugin_error)?;
        let mut waited = Duration::ZERO;
        for steps in 1.. {
            let outgoing = match step {
                LoginStep::Done(session) => {
                    redact::register(&session.token);
                    return Ok(session);
                }
                LoginStep::Failed(failure) => return Err(failed(ResultError::from(&failure))),
                LoginStep::Send(outgoing) => outgoing,
            };
            let url = self.policy().check(&outgoing, Phase::Login, steps)?;
            self.wait(outgoing.wait_ms, &mut waited, None)
                .await
                .map_err(failed)?;
            let response = self
                .exchange(&url, &outgoing, None)
                .await
                .map_err(|err| failed(self.send_error(err, Phase::Login, steps)))?;
            step = instance
                .resume_login(&ctx, &outgoing.state, &response)
                .await
                .map_err(plugin_error)?;
        }
        unreachable!("the step loop only ends by returning")
    }

    fn policy(&self) -> Policy<'_> {
        Policy {
            plugin: &self.plugin,
            origin: &self.origin,
        }
    }

    /// Sends one request and logs it, without secrets. During an action (`lease` given), a
    /// read the plugin marked cacheable may be answered by the account's read cache, and a
    /// successful write invalidates what it made stale.
    async fn exchange(
        &self,
        url: &Url,
        outgoing: &Outgoing,
        lease: Option<&Lease>,
    ) -> Result<HttpResponse, SendError> {
        let request = &outgoing.request;
        for header in request.headers.iter().filter(|h| h.secret) {
            redact::register(&header.value);
        }
        if let (Some(lease), Some(ttl)) = (lease, ReadCache::ttl(request)) {
            let fetch = async {
                self.send_logged(url, request)
                    .await
                    .map(|delivered| delivered.response)
            };
            let (answer, source) = self
                .cache
                .get(lease.generation(), request, ttl, fetch)
                .await;
            if source == Source::Shared {
                self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                // The arguments are evaluated only when the line is logged.
                tracing::info!(
                    vendor = self.vendor(),
                    "{} {} -> answered from the read cache",
                    method_name(request.method),
                    redact::scrub(&request.url)
                );
            }
            return answer;
        }
        let sent = self.send_logged(url, request).await;
        if let Ok(delivered) = &sent {
            let success = (200..300).contains(&delivered.response.status);
            if request.effect != Effect::Read && success {
                self.cache.written(request.method, url);
            }
        }
        sent.map(|delivered| delivered.response)
    }

    /// Sends one request through the transport, counts and logs it.
    async fn send_logged(
        &self,
        url: &Url,
        request: &crate::plugin::bindings::HttpRequest,
    ) -> Result<crate::http::Delivered, SendError> {
        let sent = self.transport.send(url, request).await;
        // Only evaluated when the line is logged (tracing checks the level first).
        let method = || method_name(request.method);
        let shown = || redact::scrub(&request.url);
        match &sent {
            Ok(delivered) => {
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .retries
                    .fetch_add(u64::from(delivered.attempts - 1), Ordering::Relaxed);
                tracing::info!(
                    vendor = self.vendor(),
                    "{} {} -> {} ({} attempt(s))",
                    method(),
                    shown(),
                    delivered.response.status,
                    delivered.attempts
                );
            }
            Err(err) => tracing::info!(
                vendor = self.vendor(),
                "{} {} failed: {err}",
                method(),
                shown()
            ),
        }
        sent
    }

    /// The failure of the `steps`-th request of `phase`.
    fn send_error(&self, err: SendError, phase: Phase, steps: usize) -> ResultError {
        match err {
            SendError::Timeout(message) => ResultError::new(ErrorKind::Timeout, message),
            SendError::Transport { message, .. } => ResultError::new(ErrorKind::Transport, message),
            SendError::Refused(message) => refusal(&self.plugin, phase, steps, &message),
            // The vendor's answer, not the plugin's doing; repeating the request would
            // only fetch it again.
            SendError::TooLarge(message) => ResultError::new(ErrorKind::Vendor, message),
        }
    }
}

/// The part of `page` an attempt has not passed on yet: it skips the first `skip` tenants
/// (passed on by an earlier attempt), checking that the last one skipped is the last one
/// passed on, so a listing that changed under a restart fails instead of repeating or
/// dropping tenants.
fn unseen<'a>(
    page: &'a [ListedTenant],
    skip: &mut u64,
    progress: &Progress,
) -> Result<&'a [ListedTenant], ResultError> {
    let skipped = usize::try_from(*skip).unwrap_or(usize::MAX).min(page.len());
    *skip -= skipped as u64;
    if skipped > 0 && *skip == 0 && progress.last_listed.as_deref() != Some(&page[skipped - 1].id) {
        return Err(ResultError::new(
            ErrorKind::Conflict,
            format!(
                "the listing changed while it was started over after a session renewal: the \
                 {} tenants printed so far no longer line up with the rest; run list again",
                progress.listed
            ),
        ));
    }
    Ok(&page[skipped..])
}

fn plugin_error(err: PluginError) -> ResultError {
    ResultError::new(ErrorKind::Plugin, err.to_string())
}

/// The failure when the tenant reached is not named as the operator expected.
pub(super) fn name_mismatch(actual: &str, expected: &str) -> ResultError {
    ResultError::new(
        ErrorKind::InvalidInput,
        format!(
            "the tenant is named {actual:?}, not the expected {expected:?}; nothing was changed"
        ),
    )
}
