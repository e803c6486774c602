//! The step loop: calls the plugin, checks each request it asks for, intercepts writes
//! (expected name, dry run, audit), sends, and hands the answer back.

use std::sync::atomic::Ordering;

use url::Url;

use super::policy::{Phase, Policy, refusal};
use super::session::Lease;
use super::{Account, RunOptions};
use crate::http::SendError;
use crate::plugin::PluginError;
use crate::plugin::bindings::{
    ActionRequest, ActionStep, Effect, Failure, HttpResponse, Intent, LoginStep, Outcome, Outgoing,
    Session,
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
}

/// What an operation learned that outlives an attempt: the last write it declared, so a
/// failure still names the tenant and its state.
#[derive(Debug, Default)]
pub struct Progress {
    /// The intent of the last write the plugin asked for.
    pub intent: Option<Intent>,
}

impl Account {
    /// One attempt at `request` with the session in `lease`.
    pub(super) async fn attempt(
        &self,
        lease: &Lease,
        request: &ActionRequest,
        options: &RunOptions,
        progress: &mut Progress,
    ) -> Result<Finished, Stop> {
        let session = &lease.session;
        let ctx = self.context();
        let mut instance = self.plugin.instantiate().await.map_err(plugin_error)?;
        let mut step = instance
            .begin_action(&ctx, session, request)
            .await
            .map_err(plugin_error)?;
        for steps in 1.. {
            let outgoing = match step {
                ActionStep::Done(outcome) => {
                    if matches!(outcome.error, Some(Failure::SessionExpired(_))) {
                        return Err(Stop::SessionRefused);
                    }
                    return Ok(Finished::Outcome(outcome));
                }
                ActionStep::Send(outgoing) => outgoing,
            };
            let url = self.policy().check(&outgoing, Phase::Action, steps)?;
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
            let sent = self.exchange(&url, &outgoing).await;
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
        unreachable!("the step loop only ends by returning")
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
            let response = self
                .exchange(&url, &outgoing)
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

    /// Sends one request and logs it, without secrets.
    async fn exchange(&self, url: &Url, outgoing: &Outgoing) -> Result<HttpResponse, SendError> {
        let request = &outgoing.request;
        for header in request.headers.iter().filter(|h| h.secret) {
            redact::register(&header.value);
        }
        let sent = self.transport.send(url, request).await;
        let method = method_name(request.method);
        let shown = redact::scrub(&request.url);
        match &sent {
            Ok(delivered) => {
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .retries
                    .fetch_add(u64::from(delivered.attempts - 1), Ordering::Relaxed);
                tracing::info!(
                    vendor = self.vendor(),
                    "{method} {shown} -> {} ({} attempt(s))",
                    delivered.response.status,
                    delivered.attempts
                );
            }
            Err(err) => tracing::info!(vendor = self.vendor(), "{method} {shown} failed: {err}"),
        }
        sent.map(|delivered| delivered.response)
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
