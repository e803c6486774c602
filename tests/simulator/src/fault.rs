//! Fault injection, shared by both vendors.
//!
//! A [`FaultRule`] says which requests it applies to (method, path substring), how many
//! matching requests to let through first, how often to fire, and which [`Fault`] to apply.
//! Rules are checked in the order they were added; the first one that fires wins.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// One way for the simulated service to misbehave on a request.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Answer with this status instead of serving the request.
    Status {
        /// HTTP status code, e.g. 500, 503 or 429.
        status: u16,
        /// Response body; `None` gives the vendor's usual error body for that status.
        body: Option<String>,
        /// Content type of `body`; `None` means `application/json`.
        content_type: Option<String>,
        /// Extra response headers, e.g. `("Retry-After", "2")`.
        headers: Vec<(String, String)>,
    },
    /// Drop the connection without sending any response (the client sees a reset).
    Reset,
    /// Wait this long, then serve the request normally (to push a client past its timeout).
    Delay(Duration),
    /// Answer with an HTML error page such as a proxy or load balancer would produce.
    NonJson {
        /// HTTP status code of the page, e.g. 502.
        status: u16,
    },
    /// Expire every token right before serving, so the request gets a genuine 401.
    ExpireTokens,
    /// Change the targeted tenant behind the client's back before serving: Acronis bumps the
    /// tenant's `version` (a PUT or DELETE then gets a genuine 409), Commvault flips the
    /// organization between active and deactivated, VSPC flips the company between Active
    /// and Disabled (a DELETE of a Disabled company is then refused).
    ConcurrentChange,
    /// Answer HTTP 200 carrying a failure in the body, in the shape the endpoint uses
    /// (Commvault `errList`, `response.errorCode` or `errorCode`; Acronis an error envelope).
    Http200Error {
        /// The vendor error code (non-zero).
        code: i64,
        /// The vendor error message.
        message: String,
    },
    /// Serve the request normally, but let the asynchronous action it starts end badly: a
    /// VSPC `DELETE` (or async `PATCH`) is accepted with 202 as usual, and its async action
    /// ends `failed` (or `canceled`) instead of `succeed`, leaving the company as it was.
    /// Vendors without asynchronous actions serve the request normally.
    AsyncFailure {
        /// The error message the failed action reports.
        message: String,
        /// End `canceled` instead of `failed`.
        canceled: bool,
    },
}

impl Fault {
    /// `status` with the vendor's usual error body.
    pub fn status(status: u16) -> Self {
        Fault::Status {
            status,
            body: None,
            content_type: None,
            headers: Vec::new(),
        }
    }

    /// 429 with `Retry-After: <seconds>`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Fault::Status {
            status: 429,
            body: None,
            content_type: None,
            headers: vec![("Retry-After".to_string(), retry_after_secs.to_string())],
        }
    }

    /// A [`Fault::Delay`] of `millis` milliseconds.
    pub fn delay_ms(millis: u64) -> Self {
        Fault::Delay(Duration::from_millis(millis))
    }

    /// An [`Fault::Http200Error`].
    pub fn http200_error(code: i64, message: impl Into<String>) -> Self {
        Fault::Http200Error {
            code,
            message: message.into(),
        }
    }

    /// An [`Fault::AsyncFailure`] that ends `failed` with `message`.
    pub fn async_failure(message: impl Into<String>) -> Self {
        Fault::AsyncFailure {
            message: message.into(),
            canceled: false,
        }
    }

    /// An [`Fault::AsyncFailure`] that ends `canceled`.
    pub fn async_canceled() -> Self {
        Fault::AsyncFailure {
            message: "The action was canceled.".to_string(),
            canceled: true,
        }
    }

    /// Adds a response header to a [`Fault::Status`]; other faults are returned unchanged.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        if let Fault::Status { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }

    /// Sets the body of a [`Fault::Status`]; other faults are returned unchanged.
    pub fn with_body(mut self, content_type: impl Into<String>, text: impl Into<String>) -> Self {
        if let Fault::Status {
            body,
            content_type: ct,
            ..
        } = &mut self
        {
            *body = Some(text.into());
            *ct = Some(content_type.into());
        }
        self
    }

    /// A short description, as stored in [`crate::RecordedRequest::fault`].
    pub fn label(&self) -> String {
        match self {
            Fault::Status { status, .. } => format!("status {status}"),
            Fault::Reset => "reset".to_string(),
            Fault::Delay(d) => format!("delay {}ms", d.as_millis()),
            Fault::NonJson { status } => format!("non_json {status}"),
            Fault::ExpireTokens => "expire_tokens".to_string(),
            Fault::ConcurrentChange => "concurrent_change".to_string(),
            Fault::Http200Error { code, .. } => format!("http200_error {code}"),
            Fault::AsyncFailure {
                canceled: false, ..
            } => "async_failure".to_string(),
            Fault::AsyncFailure { canceled: true, .. } => "async_canceled".to_string(),
        }
    }
}

/// When and where a [`Fault`] applies.
///
/// Built with [`FaultRule::new`], which fires **once** on the first matching request; narrow
/// it with [`method`](Self::method) and [`path`](Self::path), and shape it with
/// [`after`](Self::after), [`times`](Self::times), [`always`](Self::always) and
/// [`probability`](Self::probability).
///
/// As JSON (for `POST /_sim/faults`), e.g.
/// `{"method": "PUT", "path": "/tenants/", "after": 0, "times": 2, "fault": {"kind": "status", "status": 503, "headers": {"Retry-After": "1"}}}`;
/// `times` defaults to 1 and `null` means forever. Fault kinds: `status` (`status`, `body`,
/// `content_type`, `headers`), `reset`, `delay` (`ms`), `non_json` (`status`),
/// `expire_tokens`, `concurrent_change`, `http200_error` (`code`, `message`),
/// `async_failure` (`message`, `canceled`, default false).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "wire::Rule", into = "wire::Rule")]
pub struct FaultRule {
    /// Only requests with this method (case-insensitive); `None` matches any.
    pub method: Option<String>,
    /// Only requests whose path and query contain this (case-insensitive); `None` matches any.
    pub path: Option<String>,
    /// Let this many matching requests through before the rule can fire.
    pub after: u32,
    /// Fire at most this many times; `None` fires forever.
    pub times: Option<u32>,
    /// Fire on each eligible request with this probability (0.0–1.0), drawn from the
    /// simulator's seeded RNG; `None` always fires.
    pub probability: Option<f64>,
    /// What to do when the rule fires.
    pub fault: Fault,
}

impl FaultRule {
    /// A rule applying `fault` once, to the first request of any method and path.
    pub fn new(fault: Fault) -> Self {
        FaultRule {
            method: None,
            path: None,
            after: 0,
            times: Some(1),
            probability: None,
            fault,
        }
    }

    /// A rule applying `fault` forever, to each request with probability `rate`.
    pub fn random(rate: f64, fault: Fault) -> Self {
        FaultRule::new(fault).always().probability(rate)
    }

    /// Restricts the rule to one HTTP method.
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    /// Restricts the rule to requests whose path and query contain `fragment`, ignoring case.
    pub fn path(mut self, fragment: impl Into<String>) -> Self {
        self.path = Some(fragment.into());
        self
    }

    /// Lets the first `n` matching requests through untouched.
    pub fn after(mut self, n: u32) -> Self {
        self.after = n;
        self
    }

    /// Fires `n` times, then stops.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    /// Fires on every matching request, forever.
    pub fn always(mut self) -> Self {
        self.times = None;
        self
    }

    /// Fires on each eligible request with probability `p` only.
    pub fn probability(mut self, p: f64) -> Self {
        self.probability = Some(p);
        self
    }

    fn matches(&self, method: &str, target_lower: &str) -> bool {
        if let Some(m) = &self.method
            && !m.eq_ignore_ascii_case(method)
        {
            return false;
        }
        if let Some(p) = &self.path
            && !target_lower.contains(&p.to_ascii_lowercase())
        {
            return false;
        }
        true
    }
}

struct ActiveRule {
    rule: FaultRule,
    seen: u32,
    fired: u32,
}

/// The rules of one simulator and the RNG that drives probabilistic ones.
pub(crate) struct FaultEngine {
    rules: Vec<ActiveRule>,
    rng: StdRng,
}

impl FaultEngine {
    pub(crate) fn new(seed: u64) -> Self {
        FaultEngine {
            rules: Vec::new(),
            rng: StdRng::seed_from_u64(seed ^ 0x5eed_fa17),
        }
    }

    pub(crate) fn add(&mut self, rule: FaultRule) {
        self.rules.push(ActiveRule {
            rule,
            seen: 0,
            fired: 0,
        });
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// The fault to apply to this request, if any rule fires.
    pub(crate) fn pick(&mut self, method: &str, target: &str) -> Option<Fault> {
        if self.rules.is_empty() {
            return None;
        }
        let target_lower = target.to_ascii_lowercase();
        for active in &mut self.rules {
            if !active.rule.matches(method, &target_lower) {
                continue;
            }
            active.seen = active.seen.saturating_add(1);
            if active.seen <= active.rule.after {
                continue;
            }
            if active.rule.times.is_some_and(|t| active.fired >= t) {
                continue;
            }
            if let Some(p) = active.rule.probability
                && !self.rng.random_bool(p.clamp(0.0, 1.0))
            {
                continue;
            }
            active.fired += 1;
            return Some(active.rule.fault.clone());
        }
        None
    }

    /// The rules with how often each matched and fired, for `GET /_sim/faults`.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.rules
                .iter()
                .map(|a| {
                    serde_json::json!({
                        "rule": a.rule,
                        "seen": a.seen,
                        "fired": a.fired,
                    })
                })
                .collect(),
        )
    }
}

/// The JSON form of rules and faults.
mod wire {
    use super::*;

    fn one() -> Option<u32> {
        Some(1)
    }

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Rule {
        #[serde(default)]
        method: Option<String>,
        #[serde(default)]
        path: Option<String>,
        #[serde(default)]
        after: u32,
        #[serde(default = "one")]
        times: Option<u32>,
        #[serde(default)]
        probability: Option<f64>,
        fault: Kind,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
    enum Kind {
        Status {
            status: u16,
            #[serde(default)]
            body: Option<String>,
            #[serde(default)]
            content_type: Option<String>,
            #[serde(default)]
            headers: BTreeMap<String, String>,
        },
        Reset,
        Delay {
            ms: u64,
        },
        NonJson {
            status: u16,
        },
        ExpireTokens,
        ConcurrentChange,
        Http200Error {
            code: i64,
            message: String,
        },
        AsyncFailure {
            #[serde(default = "failed_message")]
            message: String,
            #[serde(default)]
            canceled: bool,
        },
    }

    fn failed_message() -> String {
        "The action failed.".to_string()
    }

    impl TryFrom<Rule> for FaultRule {
        type Error = String;

        fn try_from(r: Rule) -> Result<Self, String> {
            if let Some(p) = r.probability
                && !(0.0..=1.0).contains(&p)
            {
                return Err(format!("probability {p} is not between 0 and 1"));
            }
            let fault = match r.fault {
                Kind::Status {
                    status,
                    body,
                    content_type,
                    headers,
                } => {
                    if !(100..=999).contains(&status) {
                        return Err(format!("status {status} is not an HTTP status"));
                    }
                    Fault::Status {
                        status,
                        body,
                        content_type,
                        headers: headers.into_iter().collect(),
                    }
                }
                Kind::Reset => Fault::Reset,
                Kind::Delay { ms } => Fault::Delay(Duration::from_millis(ms)),
                Kind::NonJson { status } => {
                    if !(100..=999).contains(&status) {
                        return Err(format!("status {status} is not an HTTP status"));
                    }
                    Fault::NonJson { status }
                }
                Kind::ExpireTokens => Fault::ExpireTokens,
                Kind::ConcurrentChange => Fault::ConcurrentChange,
                Kind::Http200Error { code, message } => Fault::Http200Error { code, message },
                Kind::AsyncFailure { message, canceled } => {
                    Fault::AsyncFailure { message, canceled }
                }
            };
            Ok(FaultRule {
                method: r.method,
                path: r.path,
                after: r.after,
                times: r.times,
                probability: r.probability,
                fault,
            })
        }
    }

    impl From<FaultRule> for Rule {
        fn from(r: FaultRule) -> Self {
            let fault = match r.fault {
                Fault::Status {
                    status,
                    body,
                    content_type,
                    headers,
                } => Kind::Status {
                    status,
                    body,
                    content_type,
                    headers: headers.into_iter().collect(),
                },
                Fault::Reset => Kind::Reset,
                Fault::Delay(d) => Kind::Delay {
                    ms: u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
                },
                Fault::NonJson { status } => Kind::NonJson { status },
                Fault::ExpireTokens => Kind::ExpireTokens,
                Fault::ConcurrentChange => Kind::ConcurrentChange,
                Fault::Http200Error { code, message } => Kind::Http200Error { code, message },
                Fault::AsyncFailure { message, canceled } => {
                    Kind::AsyncFailure { message, canceled }
                }
            };
            Rule {
                method: r.method,
                path: r.path,
                after: r.after,
                times: r.times,
                probability: r.probability,
                fault,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_by_default() {
        let mut engine = FaultEngine::new(1);
        engine.add(FaultRule::new(Fault::Reset));
        assert_eq!(engine.pick("GET", "/x"), Some(Fault::Reset));
        assert_eq!(engine.pick("GET", "/x"), None);
    }

    #[test]
    fn method_path_after_times() {
        let mut engine = FaultEngine::new(1);
        engine.add(
            FaultRule::new(Fault::status(503))
                .method("put")
                .path("/TENANTS/")
                .after(1)
                .times(2),
        );
        assert_eq!(engine.pick("GET", "/api/2/tenants/a"), None);
        assert_eq!(engine.pick("PUT", "/api/2/search"), None);
        assert_eq!(
            engine.pick("PUT", "/api/2/tenants/a"),
            None,
            "skipped by after"
        );
        assert!(engine.pick("PUT", "/api/2/tenants/a").is_some());
        assert!(engine.pick("PUT", "/api/2/tenants/b").is_some());
        assert_eq!(
            engine.pick("PUT", "/api/2/tenants/c"),
            None,
            "times used up"
        );
    }

    #[test]
    fn first_firing_rule_wins_and_forever() {
        let mut engine = FaultEngine::new(1);
        engine.add(FaultRule::new(Fault::Reset).path("/login"));
        engine.add(FaultRule::new(Fault::status(500)).always());
        assert_eq!(engine.pick("POST", "/Login"), Some(Fault::Reset));
        for _ in 0..5 {
            assert_eq!(engine.pick("POST", "/Login"), Some(Fault::status(500)));
        }
    }

    #[test]
    fn probability_is_seeded() {
        let run = |seed| {
            let mut engine = FaultEngine::new(seed);
            engine.add(FaultRule::random(0.3, Fault::Reset));
            (0..1000)
                .map(|_| engine.pick("GET", "/").is_some())
                .collect::<Vec<_>>()
        };
        let a = run(42);
        assert_eq!(a, run(42));
        let hits = a.iter().filter(|h| **h).count();
        assert!((200..400).contains(&hits), "{hits} hits at 30%");
    }

    #[test]
    fn json_round_trip() {
        let text = r#"{"method":"PUT","path":"/tenants/","times":null,
            "fault":{"kind":"status","status":429,"headers":{"Retry-After":"2"}}}"#;
        let rule: FaultRule = serde_json::from_str(text).unwrap();
        assert_eq!(
            rule,
            FaultRule::new(Fault::rate_limited(2))
                .method("PUT")
                .path("/tenants/")
                .always()
        );
        let back: FaultRule = serde_json::from_value(serde_json::to_value(&rule).unwrap()).unwrap();
        assert_eq!(back, rule);

        let once: FaultRule =
            serde_json::from_str(r#"{"fault":{"kind":"delay","ms":250}}"#).unwrap();
        assert_eq!(once, FaultRule::new(Fault::delay_ms(250)));
        let failing: FaultRule = serde_json::from_str(
            r#"{"method":"DELETE","fault":{"kind":"async_failure","message":"Agents are busy"}}"#,
        )
        .unwrap();
        assert_eq!(
            failing,
            FaultRule::new(Fault::async_failure("Agents are busy")).method("DELETE")
        );
        let canceled: FaultRule =
            serde_json::from_str(r#"{"fault":{"kind":"async_failure","canceled":true}}"#).unwrap();
        assert!(matches!(
            canceled.fault,
            Fault::AsyncFailure { canceled: true, .. }
        ));
        assert!(serde_json::from_str::<FaultRule>(r#"{"fault":{"kind":"nope"}}"#).is_err());
        assert!(
            serde_json::from_str::<FaultRule>(r#"{"probability":2,"fault":{"kind":"reset"}}"#)
                .is_err()
        );
    }
}
