//! What a plugin's request must satisfy before the host sends it: the limits, the contract
//! (writes declare their intent), and the origin the operator configured.

use url::Url;

use crate::http::Origin;
use crate::plugin::Plugin;
use crate::plugin::bindings::{Effect, Outgoing};
use crate::redact::{self, method_name};
use crate::report::{ErrorKind, ResultError};

/// Which part of an operation a request belongs to: logins may only read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Logging in.
    Login,
    /// Acting on a tenant, or listing tenants.
    Action,
}

/// The rules for one account's requests.
pub struct Policy<'a> {
    /// The plugin asking.
    pub plugin: &'a Plugin,
    /// The origin every request must go to.
    pub origin: &'a Origin,
}

impl Policy<'_> {
    /// Checks the `steps`-th request of an operation; the URL to send it to, or why it is
    /// refused (kind `plugin`: a plugin that breaks the rules is at fault, nothing is sent).
    pub fn check(
        &self,
        outgoing: &Outgoing,
        phase: Phase,
        steps: usize,
    ) -> Result<Url, ResultError> {
        let limits = self.plugin.limits();
        let request = &outgoing.request;
        if steps > limits.max_steps {
            return self.refuse(format!(
                "made more than {} requests in one operation and was stopped",
                limits.max_steps
            ));
        }
        if request.body.len() > limits.max_request_bytes {
            return self.refuse(format!(
                "asked to send a {} byte body, over the {} byte limit",
                request.body.len(),
                limits.max_request_bytes
            ));
        }
        if phase == Phase::Login && request.effect != Effect::Read {
            return self.refuse("asked to send a write while logging in; refused".into());
        }
        if request.effect != Effect::Read && outgoing.intent.is_none() {
            return self.refuse(format!(
                "asked to send a write ({} {}) without declaring its intent",
                method_name(request.method),
                redact::scrub(&request.url)
            ));
        }
        let url = Url::parse(&request.url).or_else(|err| {
            self.refuse(format!(
                "asked for an invalid URL {:?}: {err}",
                redact::scrub(&request.url)
            ))
        })?;
        if !self.origin.allows(&url) {
            return self.refuse(format!(
                "asked to send a request to {}, outside the configured origin {}; refused",
                url.origin().ascii_serialization(),
                self.origin
            ));
        }
        Ok(url)
    }

    fn refuse<T>(&self, why: String) -> Result<T, ResultError> {
        Err(ResultError::new(
            ErrorKind::Plugin,
            format!("{} {why}", self.plugin),
        ))
    }
}
