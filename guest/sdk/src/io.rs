//! Straight-line operations made sans-IO by deterministic replay.
//!
//! The host calls the plugin once per step. Each call re-runs the operation from its first
//! line with an [`Io`] that holds the results of the requests answered so far (decoded from
//! the state blob): [`Io::read`] and [`Io::write`] hand those back in order without running
//! their parse closures again. The first request without a recorded result is either the
//! one whose response this call brought — its parse closure runs now and the result is
//! recorded — or a new one, and the operation stops there: the SDK emits the request with
//! the updated record as the state. What is recorded is what the parse closure returned
//! (small typed values such as "tenant 42, enabled, version 7"), never a response body.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{
    Action, ActionRequest, ActionStep, Change, Decision, ErrorDetail, Failure, HttpRequest,
    HttpResponse, Intent, ListedTenant, LoginStep, Method, Outcome, Outgoing, Page, Plugin,
    Session, Standing, TenantRef, TenantSelector,
};

/// What an operation step returns: the value, or a [`Stop`] that ends this call (a request
/// to send, a page of a listing, or a failure). Use `?` on it, and on any
/// `Result<_, Failure>`.
pub type Flow<T> = Result<T, Stop>;

/// Why an operation stops in this call: it needs a response it does not have yet, emitted
/// a page, or failed. Plugins create one only from a [`Failure`] (`?` or `.into()`); the
/// SDK turns it into the step the host gets.
#[derive(Debug)]
pub struct Stop(Box<Halt>);

#[derive(Debug)]
enum Halt {
    Failed(Failure),
    Send {
        request: HttpRequest,
        intent: Option<Intent>,
        wait_ms: Option<u32>,
    },
    Page {
        tenants: Vec<ListedTenant>,
        next: Option<HttpRequest>,
    },
}

impl From<Failure> for Stop {
    fn from(failure: Failure) -> Self {
        Stop(Box::new(Halt::Failed(failure)))
    }
}

impl Stop {
    /// The failure this stop carries, if it is one.
    pub fn failure(&self) -> Option<&Failure> {
        match &*self.0 {
            Halt::Failed(failure) => Some(failure),
            _ => None,
        }
    }
}

/// A finished listing. It has no value: a listing ends with its last page, which only
/// [`Io::pages`] emits, so a [`Plugin::list`] can only end there or with a failure.
#[derive(Debug)]
pub enum Listing {}

/// What one poll of an asynchronous vendor operation found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Poll<T> {
    /// Finished, with this result.
    Done(T),
    /// Still running: poll again after a wait.
    Pending,
}

/// Polls an asynchronous operation may take before it counts as stuck.
pub const MAX_POLLS: u32 = 30;

/// The wait before poll `n` (from 0): 250 ms, doubling, at most 5 s, so 30 polls wait
/// about two minutes in all.
pub fn poll_wait_ms(n: u32) -> u32 {
    250u32.saturating_mul(1 << n.min(5)).min(5_000)
}

/// The operation's access to the vendor, replaying recorded results.
#[derive(Debug)]
pub struct Io {
    /// Results of the requests answered so far, in the order the operation asked.
    log: Vec<Value>,
    /// The next entry of `log` to hand back.
    next: usize,
    /// The answer to the request the previous step emitted, until a call consumes it.
    response: Option<HttpResponse>,
    /// The fingerprint of that request, to check that replay reaches the same one.
    expected: u32,
    /// The tenant the operation is about, once known, and whether it was enabled.
    about: Option<(TenantRef, Option<bool>)>,
}

impl Io {
    fn new(log: Vec<Value>, response: Option<HttpResponse>, expected: u32) -> Self {
        Io {
            log,
            next: 0,
            response,
            expected,
            about: None,
        }
    }

    /// Sends a request that changes nothing and returns what `parse` made of its
    /// response. A failure `parse` returns ends the operation through `?`; to branch on it,
    /// make `parse` return `Ok` of your own type instead (or use [`Io::attempt`]).
    pub fn read<T: Serialize + DeserializeOwned>(
        &mut self,
        request: HttpRequest,
        parse: impl FnOnce(&HttpResponse) -> Result<T, Failure>,
    ) -> Flow<T> {
        Ok(self.exchange(request, None, None, parse)??)
    }

    /// Like [`Io::read`], but hands a failure of `parse` back instead of stopping.
    pub fn attempt<T: Serialize + DeserializeOwned>(
        &mut self,
        request: HttpRequest,
        parse: impl FnOnce(&HttpResponse) -> Result<T, Failure>,
    ) -> Flow<Result<T, Failure>> {
        self.exchange(request, None, None, parse)
    }

    /// Sends a request that changes a tenant as `intent` declares (see [`Change::intent`]);
    /// the host checks, records and dry-runs it by the intent.
    pub fn write<T: Serialize + DeserializeOwned>(
        &mut self,
        request: HttpRequest,
        intent: Intent,
        parse: impl FnOnce(&HttpResponse) -> Result<T, Failure>,
    ) -> Flow<T> {
        Ok(self.exchange(request, Some(intent), None, parse)??)
    }

    /// Polls an asynchronous vendor operation with `request` until `parse` says it is
    /// done, asking the host to wait ([`poll_wait_ms`]) before each poll; after
    /// [`MAX_POLLS`] polls it fails as `vendor` naming `what`.
    pub fn poll<T: Serialize + DeserializeOwned>(
        &mut self,
        what: &str,
        request: HttpRequest,
        parse: impl Fn(&HttpResponse) -> Result<Poll<T>, Failure>,
    ) -> Flow<T> {
        let mut waited: u64 = 0;
        for n in 0..MAX_POLLS {
            let wait = poll_wait_ms(n);
            waited += u64::from(wait);
            if let Poll::Done(value) =
                self.exchange(request.clone(), None, Some(wait), &parse)??
            {
                return Ok(value);
            }
        }
        Err(Failure::Vendor(ErrorDetail::new(format!(
            "{what} was still running after {MAX_POLLS} polls over {} s; check it with the \
             vendor's console, then run the action again",
            waited / 1000
        )))
        .into())
    }

    /// Lists tenants page by page: sends `request(&first)`, hands each answer to `parse`,
    /// which returns the page's tenants and the cursor of the next page (none on the last),
    /// and emits each page to the host as it comes. Only the current cursor is kept in the
    /// state, so a listing's state does not grow with its length. A cursor equal to the
    /// one just used fails as `vendor` instead of looping.
    pub fn pages<C: Serialize + DeserializeOwned>(
        &mut self,
        first: C,
        request: impl Fn(&C) -> HttpRequest,
        parse: impl FnOnce(&C, &HttpResponse) -> Result<(Vec<ListedTenant>, Option<C>), Failure>,
    ) -> Flow<Listing> {
        if self.next == self.log.len() {
            assert!(
                self.response.is_none(),
                "plugin bug: the operation reached a listing without replaying the request \
                 whose answer arrived (operations must be deterministic)"
            );
            let request = request(&first);
            self.log.push(to_value(&first));
            return Err(Stop(Box::new(Halt::Send {
                request,
                intent: None,
                wait_ms: None,
            })));
        }
        assert!(
            self.next + 1 == self.log.len(),
            "plugin bug: the operation went on after a listing"
        );
        let cursor: C = from_value(&self.log[self.next]);
        let response = self
            .response
            .take()
            .expect("plugin bug: a listing page resumed without an answer");
        self.check(&request(&cursor));
        let (tenants, next) = parse(&cursor, &response)?;
        let next = match next {
            None => None,
            Some(next) => {
                let value = to_value(&next);
                if value == self.log[self.next] {
                    return Err(Failure::Vendor(
                        ErrorDetail::new(
                            "the vendor answered a page of the listing with the cursor it was \
                             asked for, so the listing would never end; the pages so far stand",
                        )
                        .status(response.status),
                    )
                    .into());
                }
                self.log[self.next] = value;
                Some(request(&next))
            }
        };
        Err(Stop(Box::new(Halt::Page { tenants, next })))
    }

    /// Records that the operation is about `tenant` (enabled as `enabled`, if known): a
    /// failure that ends the operation from here on reports it. [`Io::find`] and
    /// [`Io::decide`] call it.
    pub fn about(&mut self, tenant: &TenantRef, enabled: Option<bool>) {
        self.about = Some((tenant.clone(), enabled));
    }

    /// [`decide`](crate::decide) for `tenant`, remembering it for failure outcomes.
    pub fn decide(&mut self, action: Action, tenant: &TenantRef, standing: Standing) -> Decision {
        self.about(tenant, Some(standing.enabled()));
        crate::decide(action, tenant, standing)
    }

    /// Writes `change` with `request` and reports it done when `parse` accepts the answer:
    /// the common tail of enable, disable and delete.
    pub fn apply<T: Serialize + DeserializeOwned>(
        &mut self,
        change: &Change,
        request: HttpRequest,
        parse: impl FnOnce(&HttpResponse) -> Result<T, Failure>,
    ) -> Flow<Outcome> {
        self.write(request, change.intent(), parse)?;
        Ok(change.done())
    }

    /// The outcome of an operation that failed with `failure`, naming the tenant when known.
    fn failed(&self, failure: Failure) -> Outcome {
        match &self.about {
            Some((tenant, enabled)) => Outcome::for_tenant(tenant.clone())
                .enabled(*enabled, None)
                .error(failure),
            None => Outcome::failed(failure),
        }
    }

    /// One request: the recorded result, the result of parsing the answer that arrived,
    /// or a stop asking for the request.
    fn exchange<T: Serialize + DeserializeOwned>(
        &mut self,
        request: HttpRequest,
        intent: Option<Intent>,
        wait_ms: Option<u32>,
        parse: impl FnOnce(&HttpResponse) -> Result<T, Failure>,
    ) -> Flow<Result<T, Failure>> {
        if let Some(recorded) = self.log.get(self.next) {
            self.next += 1;
            return Ok(from_value(recorded));
        }
        match self.response.take() {
            None => Err(Stop(Box::new(Halt::Send {
                request,
                intent,
                wait_ms,
            }))),
            Some(response) => {
                self.check(&request);
                let result = parse(&response);
                self.log.push(to_value(&result));
                self.next += 1;
                Ok(result)
            }
        }
    }

    /// Panics when replay reached another request than the one whose answer arrived: the
    /// operation is not deterministic, a bug in the plugin (the host reports the trap).
    fn check(&self, request: &HttpRequest) {
        assert!(
            fingerprint(request) == self.expected,
            "plugin bug: on replay the operation asked for {:?} {} where it had asked for \
             another request; operations must be deterministic (read ctx.now only inside \
             parse closures)",
            request.method,
            request.url
        );
    }
}

fn to_value(value: &impl Serialize) -> Value {
    serde_json::to_value(value).expect("recorded results must serialize to JSON")
}

fn from_value<T: DeserializeOwned>(value: &Value) -> T {
    serde_json::from_value(value.clone()).unwrap_or_else(|err| {
        panic!(
            "plugin bug: a recorded result does not fit the type the operation now expects \
             ({err}); operations must be deterministic"
        )
    })
}

/// FNV-1a over method, URL and body: enough to tell one request from another on replay.
fn fingerprint(request: &HttpRequest) -> u32 {
    let method: &[u8] = match request.method {
        Method::Get => b"GET",
        Method::Post => b"POST",
        Method::Put => b"PUT",
        Method::Patch => b"PATCH",
        Method::Delete => b"DELETE",
    };
    let mut hash: u32 = 0x811c_9dc5;
    for part in [method, request.url.as_bytes(), &request.body] {
        for byte in part.iter().chain([&0xff]) {
            hash ^= u32::from(*byte);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    }
    hash
}

/// The state blob: the operation's input, the recorded results, and the fingerprint of
/// the request whose answer the host brings next.
#[derive(Serialize, serde::Deserialize)]
struct Tape<Q> {
    #[serde(rename = "q")]
    input: Q,
    #[serde(rename = "l")]
    log: Vec<Value>,
    #[serde(rename = "p")]
    pending: u32,
}

/// Restores the tape from a resume call's state, or starts one for a begin call.
fn load<Q: DeserializeOwned>(
    begin: Option<Q>,
    resume: Option<(&[u8], HttpResponse)>,
) -> Result<(Q, Io), Failure> {
    match (begin, resume) {
        (Some(input), _) => Ok((input, Io::new(Vec::new(), None, 0))),
        (None, Some((state, response))) => {
            let tape: Tape<Q> = crate::decode(state)?;
            Ok((tape.input, Io::new(tape.log, Some(response), tape.pending)))
        }
        (None, None) => unreachable!("a step either begins or resumes"),
    }
}

/// The `outgoing` for `request` with the tape as it stands.
fn outgoing<Q: Serialize>(
    input: &Q,
    io: &Io,
    request: HttpRequest,
    intent: Option<Intent>,
    wait_ms: Option<u32>,
) -> Outgoing {
    let tape = Tape {
        input,
        log: io.log.clone(),
        pending: fingerprint(&request),
    };
    Outgoing {
        request,
        state: crate::encode(&tape),
        intent,
        wait_ms,
    }
}

/// Asserts that the operation consumed the answer the host brought.
fn finished(io: &Io) {
    assert!(
        io.response.is_none(),
        "plugin bug: the operation ended on replay before it reached the request whose \
         answer arrived (operations must be deterministic)"
    );
}

/// `begin-login` (`resume` is `None`) and `resume-login`.
pub(crate) fn login<P: Plugin>(
    ctx: &crate::Context,
    resume: Option<(&[u8], HttpResponse)>,
) -> LoginStep {
    let begin = resume.is_none().then_some(());
    let ((), mut io) = match load::<()>(begin, resume) {
        Ok(loaded) => loaded,
        Err(failure) => return LoginStep::Failed(failure),
    };
    match P::login(&mut io, ctx) {
        Ok(session) => {
            finished(&io);
            LoginStep::Done(session)
        }
        Err(Stop(halt)) => match *halt {
            Halt::Failed(failure) => LoginStep::Failed(failure),
            Halt::Send {
                request,
                intent,
                wait_ms,
            } => LoginStep::Send(outgoing(&(), &io, request, intent, wait_ms)),
            Halt::Page { .. } => panic!("plugin bug: a login cannot emit listing pages"),
        },
    }
}

/// `begin-action` (`begin` holds the request) and `resume-action`.
pub(crate) fn action<P: Plugin>(
    ctx: &crate::Context,
    session: &Session,
    begin: Option<&ActionRequest>,
    resume: Option<(&[u8], HttpResponse)>,
) -> ActionStep {
    let (request, mut io) = match load::<ActionRequest>(begin.cloned(), resume) {
        Ok(loaded) => loaded,
        Err(failure) => return ActionStep::Done(Outcome::failed(failure)),
    };
    let result = run::<P>(&mut io, ctx, session, &request);
    match result {
        Ok(outcome) => {
            finished(&io);
            ActionStep::Done(outcome)
        }
        Err(Stop(halt)) => match *halt {
            Halt::Failed(failure) => ActionStep::Done(io.failed(failure)),
            Halt::Send {
                request: send,
                intent,
                wait_ms,
            } => ActionStep::Send(outgoing(&request, &io, send, intent, wait_ms)),
            Halt::Page { tenants, next } => ActionStep::Page(Page {
                tenants,
                next: next.map(|next| outgoing(&request, &io, next, None, None)),
            }),
        },
    }
}

/// Checks the request against `describe()` and runs the plugin's function for it.
fn run<P: Plugin>(
    io: &mut Io,
    ctx: &crate::Context,
    session: &Session,
    request: &ActionRequest,
) -> Flow<Outcome> {
    let info = P::describe();
    if !info.actions.iter().any(|a| a.action == request.action) {
        let offered: Vec<&str> = info.actions.iter().map(|a| a.action.name()).collect();
        return Err(Failure::Unsupported(ErrorDetail::new(format!(
            "the {} plugin does not offer `{}`; it offers {}",
            info.display_name,
            request.action.name(),
            offered.join(", ")
        )))
        .into());
    }
    match (request.action, &request.tenant) {
        (Action::List, _) => match P::list(io, ctx, session)? {},
        (action, Some(tenant)) => {
            if let TenantSelector::Name(name) = tenant
                && name.trim().is_empty()
            {
                return Err(Failure::InvalidInput(ErrorDetail::new(
                    "the tenant name is empty: give the tenant's name or its id",
                ))
                .into());
            }
            P::act(io, ctx, session, action, tenant)
        }
        (action, None) => Err(Failure::InvalidInput(ErrorDetail::new(format!(
            "`{}` needs a tenant: give its id (--tenant) or its name (--tenant-name)",
            action.name()
        )))
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{by_id, by_name, context, json_response, run_action, run_list, script};
    use crate::{ActionInfo, Candidate, Candidates, Context, Found, Names, PluginInfo, Vendor};
    use serde_json::json;

    const TOY: Vendor = Vendor {
        name: "Toy",
        error: |body| {
            Some(crate::VendorError {
                message: body.get("error").and_then(crate::json_text),
                ..Default::default()
            })
            .filter(|e| e.message.is_some())
        },
        hints: &[],
        url_hint: "http://toy",
    };

    /// A small vendor: `GET /tenants?name=`, `GET /tenants/{id}`, `PUT /tenants/{id}`,
    /// `DELETE /tenants/{id}` answering a job polled at `GET /jobs/{id}`, and `GET
    /// /tenants?offset=` pages of two.
    struct Toy;

    #[derive(Serialize, serde::Deserialize)]
    struct Tenant {
        id: String,
        name: String,
        enabled: bool,
    }

    impl Plugin for Toy {
        fn describe() -> PluginInfo {
            let actions = [
                Action::Status,
                Action::Disable,
                Action::Delete,
                Action::List,
            ];
            PluginInfo {
                vendor: "toy".into(),
                display_name: "Toy".into(),
                version: "1.0.0".into(),
                contract: crate::CONTRACT_VERSION.into(),
                url_hint: "http://toy".into(),
                actions: actions.map(|a| ActionInfo::new(a, "", false)).to_vec(),
                config: vec![],
            }
        }

        fn login(_io: &mut Io, _ctx: &Context) -> Flow<Session> {
            Ok(Session::new("t", None, &()))
        }

        fn act(
            io: &mut Io,
            ctx: &Context,
            _session: &Session,
            action: Action,
            tenant: &TenantSelector,
        ) -> Flow<Outcome> {
            let base = &ctx.base_url;
            let found = match tenant {
                TenantSelector::Id(id) => Found::id(id),
                TenantSelector::Name(name) => io.find(
                    &Names::exact("toy tenant"),
                    name,
                    HttpRequest::get(format!("{base}/tenants?name={name}")),
                    |r| {
                        let items: Vec<Tenant> = TOY.json(r, "searching")?;
                        Ok(Candidates {
                            items: items
                                .into_iter()
                                .map(|t| Candidate {
                                    id: Some(t.id),
                                    name: t.name,
                                })
                                .collect(),
                            complete: true,
                        })
                    },
                )?,
            };
            if ctx.config("nondeterministic").is_some() {
                // Wrong on purpose: the request depends on the time of the call.
                io.read(HttpRequest::get(format!("{base}/time/{}", ctx.now)), |_| {
                    Ok(())
                })?;
            }
            let url = format!("{base}/tenants/{}", found.id);
            let tenant: Tenant = io.read(HttpRequest::get(&url), |r| TOY.json(r, "reading"))?;
            let standing = if tenant.enabled {
                Standing::Enabled
            } else {
                Standing::Disabled
            };
            let change = match io.decide(action, &found.tenant(Some(&tenant.name)), standing) {
                Decision::Done(outcome) => return Ok(outcome),
                Decision::Write(change) => change,
            };
            if action == Action::Delete {
                let job: String = io.write(HttpRequest::delete(&url), change.intent(), |r| {
                    TOY.json::<serde_json::Value>(r, "deleting")
                        .map(|v| v["job"].as_str().unwrap_or_default().to_string())
                })?;
                let job_url = format!("{base}/jobs/{job}");
                io.poll("the delete", HttpRequest::get(job_url), |r| {
                    let job: serde_json::Value = TOY.json(r, "polling")?;
                    Ok(match job["done"].as_bool() {
                        Some(true) => Poll::Done(()),
                        _ => Poll::Pending,
                    })
                })?;
                return Ok(change.done());
            }
            let put = HttpRequest::put(&url).effect(crate::Effect::IdempotentWrite);
            io.apply(&change, put, |r| TOY.check(r, "writing"))
        }

        fn list(io: &mut Io, ctx: &Context, _session: &Session) -> Flow<Listing> {
            let base = ctx.base_url.clone();
            io.pages(
                0u32,
                |offset| HttpRequest::get(format!("{base}/tenants?offset={offset}")),
                |offset, r| {
                    let page: Vec<Tenant> = TOY.json(r, "listing")?;
                    let next = (page.len() == 2).then_some(offset + 2);
                    let tenants = page
                        .into_iter()
                        .map(|t| ListedTenant::new(t.id, t.name, Some(t.enabled)))
                        .collect();
                    Ok((tenants, next))
                },
            )
        }
    }

    fn ctx() -> Context {
        context("http://toy", &[], 1000)
    }

    fn session() -> Session {
        Session::new("t", None, &())
    }

    fn tenant(id: &str, name: &str, enabled: bool) -> serde_json::Value {
        json!({"id": id, "name": name, "enabled": enabled})
    }

    #[test]
    fn a_straight_line_action_replays_to_each_next_request_and_records_only_results() {
        // A long search answer: only the match goes into the state.
        let mut found: Vec<serde_json::Value> = (0..500)
            .map(|n| tenant(&format!("x{n}"), &format!("Other {n}"), true))
            .collect();
        found.push(tenant("t1", "Acme", true));
        let responses = vec![
            json_response(200, json!(found)),
            json_response(200, tenant("t1", "Acme", true)),
            json_response(200, json!({})),
        ];
        let (outcome, exchanges) = run_action::<Toy>(
            &ctx(),
            &session(),
            &by_name(Action::Disable, "Acme"),
            script(responses),
        );
        assert!(outcome.changed && outcome.error.is_none(), "{outcome:?}");
        assert_eq!(outcome.tenant, Some(TenantRef::new("t1", "Acme")));
        let urls: Vec<&str> = exchanges.iter().map(|e| e.request.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "http://toy/tenants?name=Acme",
                "http://toy/tenants/t1",
                "http://toy/tenants/t1"
            ]
        );
        let intent = exchanges[2].intent.as_ref().unwrap();
        assert_eq!(
            (intent.enabled_before, intent.enabled_after),
            (Some(true), Some(false))
        );
        assert!(
            exchanges[2].state_len < 400,
            "state {} bytes",
            exchanges[2].state_len
        );
    }

    #[test]
    fn a_failure_after_the_tenant_is_known_names_it() {
        let responses = vec![
            json_response(200, json!([tenant("t1", "Acme", true)])),
            json_response(200, tenant("t1", "Acme", true)),
            json_response(200, json!({"error": "locked"})),
        ];
        let (outcome, _) = run_action::<Toy>(
            &ctx(),
            &session(),
            &by_name(Action::Disable, "Acme"),
            script(responses),
        );
        assert_eq!(outcome.tenant, Some(TenantRef::new("t1", "Acme")));
        assert_eq!(
            (outcome.enabled_before, outcome.enabled_after),
            (Some(true), None)
        );
        assert!(matches!(outcome.error, Some(Failure::Vendor(_))));
        assert!(!outcome.changed);
    }

    #[test]
    fn polls_ask_the_host_to_wait_and_end_when_done() {
        let responses = vec![
            json_response(200, tenant("t1", "Acme", false)),
            json_response(202, json!({"job": "j1"})),
            json_response(200, json!({"done": false})),
            json_response(200, json!({"done": false})),
            json_response(200, json!({"done": true})),
        ];
        let (outcome, exchanges) = run_action::<Toy>(
            &ctx(),
            &session(),
            &by_id(Action::Delete, "t1"),
            script(responses),
        );
        assert!(outcome.changed && outcome.error.is_none(), "{outcome:?}");
        assert_eq!(outcome.enabled_after, None);
        let waits: Vec<Option<u32>> = exchanges.iter().map(|e| e.wait_ms).collect();
        assert_eq!(waits, [None, None, Some(250), Some(500), Some(1000)]);
        assert_eq!(exchanges[2].request.url, "http://toy/jobs/j1");
    }

    #[test]
    fn a_poll_that_never_ends_gives_up() {
        let mut calls = 0;
        let (outcome, exchanges) =
            run_action::<Toy>(&ctx(), &session(), &by_id(Action::Delete, "t1"), |r| {
                calls += 1;
                match calls {
                    1 => json_response(200, tenant("t1", "Acme", false)),
                    2 => json_response(202, json!({"job": "j1"})),
                    _ => {
                        assert!(r.url.ends_with("/jobs/j1"));
                        json_response(200, json!({"done": false}))
                    }
                }
            });
        assert_eq!(exchanges.len(), 2 + MAX_POLLS as usize);
        let Some(Failure::Vendor(detail)) = outcome.error else {
            panic!("{outcome:?}")
        };
        assert!(
            detail.message.contains("still running"),
            "{}",
            detail.message
        );
    }

    #[test]
    fn a_listing_emits_pages_with_a_state_that_does_not_grow() {
        let (listed, exchanges) = run_list::<Toy>(&ctx(), &session(), |r| {
            let offset: usize = r.url.rsplit('=').next().unwrap().parse().unwrap();
            let page: Vec<_> = (offset..(offset + 2).min(5))
                .map(|n| tenant(&format!("t{n}"), &format!("Tenant {n}"), n % 2 == 0))
                .collect();
            json_response(200, json!(page))
        });
        assert_eq!(listed.error, None);
        assert_eq!(listed.pages, 3);
        let ids: Vec<&str> = listed.tenants.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["t0", "t1", "t2", "t3", "t4"]);
        assert_eq!(listed.tenants[1].enabled, Some(false));
        let sizes: Vec<usize> = exchanges.iter().map(|e| e.state_len).collect();
        assert!(sizes.iter().all(|s| s.abs_diff(sizes[0]) <= 2), "{sizes:?}");
    }

    #[test]
    fn a_listing_that_fails_part_way_ends_with_the_error() {
        let mut calls = 0;
        let (listed, _) = run_list::<Toy>(&ctx(), &session(), |_| {
            calls += 1;
            match calls {
                1 => json_response(200, json!([tenant("a", "A", true), tenant("b", "B", true)])),
                _ => json_response(503, json!({"error": "busy"})),
            }
        });
        assert_eq!((listed.pages, listed.tenants.len()), (1, 2));
        assert!(matches!(listed.error, Some(Failure::Vendor(_))));
    }

    #[test]
    fn actions_the_plugin_does_not_offer_and_missing_tenants_send_nothing() {
        let no = crate::testing::no_requests;
        let (outcome, _) = run_action::<Toy>(&ctx(), &session(), &by_id(Action::Enable, "t1"), no);
        let Some(Failure::Unsupported(detail)) = outcome.error else {
            panic!()
        };
        assert!(
            detail.message.contains("status, disable, delete, list"),
            "{}",
            detail.message
        );
        let request = ActionRequest {
            action: Action::Disable,
            tenant: None,
        };
        let (outcome, _) = run_action::<Toy>(&ctx(), &session(), &request, no);
        assert!(matches!(outcome.error, Some(Failure::InvalidInput(_))));
        let (outcome, _) = run_action::<Toy>(&ctx(), &session(), &by_name(Action::Status, " "), no);
        assert!(matches!(outcome.error, Some(Failure::InvalidInput(_))));
    }

    #[test]
    fn state_that_is_not_ours_fails_the_operation() {
        let step = crate::raw::resume_action::<Toy>(
            &ctx(),
            &session(),
            b"{nope",
            json_response(200, json!({})),
        );
        let ActionStep::Done(outcome) = step else {
            panic!()
        };
        assert!(matches!(outcome.error, Some(Failure::InvalidInput(_))));
    }

    #[test]
    #[should_panic(expected = "operations must be deterministic")]
    fn an_operation_that_is_not_deterministic_is_caught_on_replay() {
        let mut now = 1000;
        let ctx = context("http://toy", &[("nondeterministic", "1")], now);
        let ActionStep::Send(first) =
            crate::raw::begin_action::<Toy>(&ctx, &session(), &by_id(Action::Status, "t1"))
        else {
            panic!()
        };
        assert_eq!(first.request.url, "http://toy/time/1000");
        now += 1;
        let later = context("http://toy", &[("nondeterministic", "1")], now);
        crate::raw::resume_action::<Toy>(
            &later,
            &session(),
            &first.state,
            json_response(200, json!({})),
        );
    }

    #[test]
    fn poll_waits_grow_to_five_seconds() {
        let waits: Vec<u32> = (0..8).map(poll_wait_ms).collect();
        assert_eq!(waits, [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
        assert_eq!(poll_wait_ms(u32::MAX), 5000);
    }

    #[test]
    fn fingerprints_tell_method_url_and_body_apart() {
        let a = HttpRequest::get("https://h/a");
        assert_eq!(
            fingerprint(&a),
            fingerprint(&HttpRequest::get("https://h/a"))
        );
        assert_ne!(
            fingerprint(&a),
            fingerprint(&HttpRequest::get("https://h/b"))
        );
        assert_ne!(
            fingerprint(&a),
            fingerprint(&HttpRequest::post("https://h/a"))
        );
        let with_body = HttpRequest::get("https://h/a").body(b"x".to_vec(), "text/plain");
        assert_ne!(fingerprint(&a), fingerprint(&with_body));
        // The boundary between URL and body counts.
        let moved = HttpRequest::get("https://h/").body(b"ax".to_vec(), "text/plain");
        let kept = HttpRequest::get("https://h/a").body(b"x".to_vec(), "text/plain");
        assert_ne!(fingerprint(&moved), fingerprint(&kept));
    }
}
