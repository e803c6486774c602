//! Runs a plugin natively against scripted responses, for a plugin's unit tests.
//!
//! The driver goes through the same state encoding and replay as the wasm export, so a
//! test sees what the host would see. Responses come from a closure that gets each request
//! in turn ([`script`] answers from a list).

use crate::{
    Action, ActionRequest, ActionStep, ConfigValue, Context, Failure, Header, HttpRequest,
    HttpResponse, Intent, ListedTenant, LoginStep, Outcome, Plugin, Session, TenantSelector, raw,
};

/// Steps an operation may take before the driver gives up: the host's default cap.
pub const MAX_STEPS: usize = 50;

/// Pages a listing may take before the driver gives up (a listing that never ends).
pub const MAX_PAGES: usize = 10_000;

/// One request the plugin asked for, with what came with it.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The request.
    pub request: HttpRequest,
    /// The declared intent (present for writes).
    pub intent: Option<Intent>,
    /// How long the plugin asked the host to wait before sending it.
    pub wait_ms: Option<u32>,
    /// The size of the state blob that came with it, in bytes.
    pub state_len: usize,
}

/// What a listing produced.
#[derive(Debug, Clone, Default)]
pub struct Listed {
    /// Every tenant of every page, in order.
    pub tenants: Vec<ListedTenant>,
    /// How many pages were emitted.
    pub pages: usize,
    /// The failure the listing ended with, if it did not end with its last page.
    pub error: Option<Failure>,
}

/// A context for `base_url` with the given configuration values and time.
pub fn context(base_url: &str, config: &[(&str, &str)], now: u32) -> Context {
    Context {
        base_url: base_url.to_string(),
        config: config
            .iter()
            .map(|(name, value)| ConfigValue {
                name: name.to_string(),
                value: value.to_string(),
            })
            .collect(),
        now,
    }
}

/// An action on the tenant with id `id`.
pub fn by_id(action: Action, id: &str) -> ActionRequest {
    ActionRequest {
        action,
        tenant: Some(TenantSelector::Id(id.to_string())),
    }
}

/// An action on the tenant named `name`.
pub fn by_name(action: Action, name: &str) -> ActionRequest {
    ActionRequest {
        action,
        tenant: Some(TenantSelector::Name(name.to_string())),
    }
}

/// A response with a JSON body.
pub fn json_response(status: u16, body: serde_json::Value) -> HttpResponse {
    text_response(status, "application/json", &body.to_string())
}

/// A response with a plain body of the given content type.
pub fn text_response(status: u16, content_type: &str, body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![Header {
            name: "Content-Type".into(),
            value: content_type.into(),
            secret: false,
        }],
        body: body.as_bytes().to_vec(),
    }
}

/// Adds a header to a response.
pub fn with_header(mut response: HttpResponse, name: &str, value: &str) -> HttpResponse {
    response.headers.push(Header {
        name: name.to_string(),
        value: value.to_string(),
        secret: false,
    });
    response
}

/// Answers each request with the next of `responses`; a request beyond them fails the test.
pub fn script(responses: Vec<HttpResponse>) -> impl FnMut(&HttpRequest) -> HttpResponse {
    let mut responses = responses.into_iter();
    move |request| {
        responses
            .next()
            .unwrap_or_else(|| panic!("unexpected request {:?} {}", request.method, request.url))
    }
}

/// A responder for operations that must send nothing.
pub fn no_requests(request: &HttpRequest) -> HttpResponse {
    panic!(
        "no request expected, got {:?} {}",
        request.method, request.url
    )
}

fn exchange(outgoing: &crate::Outgoing) -> Exchange {
    Exchange {
        request: outgoing.request.clone(),
        intent: outgoing.intent.clone(),
        wait_ms: outgoing.wait_ms,
        state_len: outgoing.state.len(),
    }
}

/// Runs a whole login, answering each request with `respond`.
pub fn run_login<P: Plugin>(
    ctx: &Context,
    mut respond: impl FnMut(&HttpRequest) -> HttpResponse,
) -> (Result<Session, Failure>, Vec<Exchange>) {
    let mut exchanges = Vec::new();
    let mut step = raw::begin_login::<P>(ctx);
    for _ in 0..MAX_STEPS {
        match step {
            LoginStep::Done(session) => return (Ok(session), exchanges),
            LoginStep::Failed(failure) => return (Err(failure), exchanges),
            LoginStep::Send(outgoing) => {
                let response = respond(&outgoing.request);
                exchanges.push(exchange(&outgoing));
                step = raw::resume_login::<P>(ctx, &outgoing.state, response);
            }
        }
    }
    panic!("login did not finish within {MAX_STEPS} steps");
}

/// Runs a whole action (not `list`: see [`run_list`]), answering each request with
/// `respond`.
pub fn run_action<P: Plugin>(
    ctx: &Context,
    session: &Session,
    request: &ActionRequest,
    mut respond: impl FnMut(&HttpRequest) -> HttpResponse,
) -> (Outcome, Vec<Exchange>) {
    let mut exchanges = Vec::new();
    let mut step = raw::begin_action::<P>(ctx, session, request);
    for _ in 0..MAX_STEPS {
        match step {
            ActionStep::Done(outcome) => return (outcome, exchanges),
            ActionStep::Page(_) => panic!("{:?} emitted a listing page", request.action),
            ActionStep::Send(outgoing) => {
                let response = respond(&outgoing.request);
                exchanges.push(exchange(&outgoing));
                step = raw::resume_action::<P>(ctx, session, &outgoing.state, response);
            }
        }
    }
    panic!("action did not finish within {MAX_STEPS} steps");
}

/// Runs a whole listing, answering each request with `respond`, and collects its pages.
pub fn run_list<P: Plugin>(
    ctx: &Context,
    session: &Session,
    mut respond: impl FnMut(&HttpRequest) -> HttpResponse,
) -> (Listed, Vec<Exchange>) {
    let request = ActionRequest {
        action: Action::List,
        tenant: None,
    };
    let mut listed = Listed::default();
    let mut exchanges = Vec::new();
    let mut step = raw::begin_action::<P>(ctx, session, &request);
    for _ in 0..MAX_PAGES + MAX_STEPS {
        let outgoing = match step {
            ActionStep::Done(outcome) => {
                listed.error = outcome.error;
                assert!(
                    listed.error.is_some(),
                    "a listing ends with its last page, or with an error"
                );
                return (listed, exchanges);
            }
            ActionStep::Page(page) => {
                listed.pages += 1;
                listed.tenants.extend(page.tenants);
                match page.next {
                    Some(next) => next,
                    None => return (listed, exchanges),
                }
            }
            ActionStep::Send(outgoing) => outgoing,
        };
        let response = respond(&outgoing.request);
        exchanges.push(exchange(&outgoing));
        step = raw::resume_action::<P>(ctx, session, &outgoing.state, response);
    }
    panic!("the listing did not end within {MAX_PAGES} pages");
}
