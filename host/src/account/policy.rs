//! What a plugin's request must satisfy before the host sends it: the limits, the contract
//! (writes declare their intent, actions read only with `GET`), the headers the host owns,
//! and the origin the operator configured.
//!
//! Every refusal is the plugin's fault: the operation fails with kind `plugin`, naming the
//! plugin, its version and the step that asked, and nothing is sent — also in a dry run,
//! because the check comes before the dry run's stop at the first write.

use url::Url;

use crate::http::{self, Origin};
use crate::plugin::bindings::{Effect, Method, Outgoing};
use crate::plugin::{Limits, Plugin};
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

impl Phase {
    /// The plugin function that produced the `steps`-th request of this phase: the first
    /// comes from `begin-*`, every later one from `resume-*`.
    pub fn call(self, steps: usize) -> &'static str {
        match (self, steps) {
            (Phase::Login, 0 | 1) => "begin-login",
            (Phase::Login, _) => "resume-login",
            (Phase::Action, 0 | 1) => "begin-action",
            (Phase::Action, _) => "resume-action",
        }
    }
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
        check_request(self.plugin.limits(), self.origin, outgoing, phase, steps)
            .map_err(|why| refusal(self.plugin, phase, steps, &why))
    }
}

/// The error for a request of `plugin` refused at `steps` of `phase` because of `why`.
pub fn refusal(plugin: &Plugin, phase: Phase, steps: usize, why: &str) -> ResultError {
    ResultError::new(
        ErrorKind::Plugin,
        format!(
            "{plugin} was stopped in {} (step {steps}): it {why}",
            phase.call(steps)
        ),
    )
}

/// The rules themselves, for any plugin: the URL to send the `steps`-th request of `phase`
/// to, or why it is refused (a phrase that follows "it", secrets scrubbed).
pub fn check_request(
    limits: &Limits,
    origin: &Origin,
    outgoing: &Outgoing,
    phase: Phase,
    steps: usize,
) -> Result<Url, String> {
    let request = &outgoing.request;
    let method = method_name(request.method);
    if steps > limits.max_steps {
        return Err(format!(
            "made more than {} requests in one operation; refused",
            limits.max_steps
        ));
    }
    if request.body.len() > limits.max_request_bytes {
        return Err(format!(
            "asked to send a {} byte body, over the {} byte limit; refused",
            request.body.len(),
            limits.max_request_bytes
        ));
    }
    let url = Url::parse(&request.url).map_err(|err| {
        format!(
            "asked for an invalid URL {:?}: {err}; refused",
            redact::scrub(&request.url)
        )
    })?;
    if http::has_userinfo(&url) {
        return Err(
            "asked for a URL with a user name or password in it (user:password@host); \
             credentials travel in headers the plugin marks secret, never in URLs; refused"
                .into(),
        );
    }
    if !origin.allows(&url) {
        return Err(format!(
            "asked to send a request to {}, outside the configured origin {origin}; refused",
            url.origin().ascii_serialization()
        ));
    }
    for header in &request.headers {
        http::check_header(&header.name, &header.value).map_err(|why| format!("{why}; refused"))?;
    }
    if phase == Phase::Login && request.effect != Effect::Read {
        return Err(format!(
            "asked to send a write ({method} {}) while logging in; refused",
            redact::scrub(url.as_str())
        ));
    }
    if phase == Phase::Action && request.effect == Effect::Read && request.method != Method::Get {
        return Err(format!(
            "declared a {method} request ({}) as a read; during an action only GET may be a \
             read (a read is sent in dry runs and retried freely); refused",
            redact::scrub(url.as_str())
        ));
    }
    if request.effect != Effect::Read && outgoing.intent.is_none() {
        return Err(format!(
            "asked to send a write ({method} {}) without declaring its intent; refused",
            redact::scrub(url.as_str())
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::bindings::{Header, HttpRequest, Intent, TenantRef};

    fn origin() -> Origin {
        Origin::of("http://127.0.0.1:8080/api").unwrap()
    }

    fn outgoing(method: Method, url: &str, effect: Effect) -> Outgoing {
        let write = effect != Effect::Read;
        Outgoing {
            request: HttpRequest {
                method,
                url: url.into(),
                headers: vec![],
                body: vec![],
                body_secret: false,
                effect,
                cache_for: None,
            },
            state: vec![],
            wait_ms: None,
            intent: write.then(|| Intent {
                tenant: TenantRef {
                    id: "t".into(),
                    name: "T".into(),
                },
                enabled_before: Some(true),
                enabled_after: Some(false),
            }),
        }
    }

    fn check(outgoing: &Outgoing, phase: Phase) -> Result<Url, String> {
        check_request(&Limits::default(), &origin(), outgoing, phase, 1)
    }

    #[test]
    fn host_owned_headers_are_refused_in_any_case() {
        for name in [
            "Host",
            "host",
            "CONTENT-LENGTH",
            "Transfer-Encoding",
            "connection",
            "Upgrade",
            "TE",
            "Trailer",
            "Keep-Alive",
            "Proxy-Authorization",
            "proxy-connection",
        ] {
            let mut request = outgoing(Method::Get, "http://127.0.0.1:8080/a", Effect::Read);
            request.request.headers.push(Header {
                name: name.into(),
                value: "x".into(),
                secret: false,
            });
            let why = check(&request, Phase::Action).unwrap_err();
            assert!(why.contains("tenantctl sets itself"), "{name}: {why}");
        }
        let mut fine = outgoing(Method::Get, "http://127.0.0.1:8080/a", Effect::Read);
        fine.request.headers.push(Header {
            name: "X-Hostname".into(),
            value: "x".into(),
            secret: false,
        });
        assert!(check(&fine, Phase::Action).is_ok());
    }

    #[test]
    fn userinfo_and_malformed_headers_are_refused() {
        for url in [
            "http://user:pass@127.0.0.1:8080/a",
            "http://user@127.0.0.1:8080/a",
            "http://:pass@127.0.0.1:8080/a",
        ] {
            let why = check(&outgoing(Method::Get, url, Effect::Read), Phase::Action).unwrap_err();
            assert!(why.contains("user name or password"), "{url}: {why}");
            assert!(!why.contains("pass@"), "the URL is not repeated: {why}");
        }
        for (name, value) in [
            ("X-Bad", "line\r\nHost: evil.test"),
            ("X Bad", "x"),
            ("", "x"),
            ("X-Nul", "a\0b"),
        ] {
            let mut request = outgoing(Method::Get, "http://127.0.0.1:8080/a", Effect::Read);
            request.request.headers.push(Header {
                name: name.into(),
                value: value.into(),
                secret: false,
            });
            let why = check(&request, Phase::Action).unwrap_err();
            assert!(why.contains("header"), "{name:?}: {why}");
        }
    }

    #[test]
    fn only_get_reads_during_actions_and_logins_may_post_reads() {
        let url = "http://127.0.0.1:8080/a";
        for method in [Method::Post, Method::Put, Method::Patch, Method::Delete] {
            let why = check(&outgoing(method, url, Effect::Read), Phase::Action).unwrap_err();
            assert!(why.contains("only GET may be a read"), "{why}");
        }
        assert!(check(&outgoing(Method::Get, url, Effect::Read), Phase::Action).is_ok());
        assert!(check(&outgoing(Method::Post, url, Effect::Read), Phase::Login).is_ok());
        assert!(check(&outgoing(Method::Delete, url, Effect::Write), Phase::Action).is_ok());
        let why = check(&outgoing(Method::Put, url, Effect::Write), Phase::Login).unwrap_err();
        assert!(why.contains("while logging in"), "{why}");
    }

    #[test]
    fn the_step_names_the_plugin_function() {
        assert_eq!(Phase::Action.call(1), "begin-action");
        assert_eq!(Phase::Action.call(2), "resume-action");
        assert_eq!(Phase::Login.call(1), "begin-login");
        assert_eq!(Phase::Login.call(7), "resume-login");
    }
}
