//! Runs a plugin natively against scripted responses, for a plugin's unit tests.
//!
//! The driver goes through the same state encoding as the wasm export, so a test sees what
//! the host would see. Responses come from a closure that gets each request in turn.

use crate::{
    ActionRequest, ActionStep, ConfigValue, Context, Failure, Header, HttpRequest, HttpResponse,
    Intent, LoginStep, Outcome, Plugin, Session, raw,
};

/// Steps a single operation may take before the driver gives up (a looping plugin).
pub const MAX_STEPS: usize = 64;

/// One request the plugin asked for, with the intent it declared.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The request.
    pub request: HttpRequest,
    /// The declared intent (present for writes).
    pub intent: Option<Intent>,
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

/// A response with a JSON body.
pub fn json_response(status: u16, body: serde_json::Value) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![Header {
            name: "Content-Type".into(),
            value: "application/json".into(),
            secret: false,
        }],
        body: body.to_string().into_bytes(),
    }
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
                exchanges.push(Exchange {
                    request: outgoing.request,
                    intent: outgoing.intent,
                });
                step = raw::resume_login::<P>(ctx, &outgoing.state, &response);
            }
        }
    }
    panic!("login did not finish within {MAX_STEPS} steps");
}

/// Runs a whole action, answering each request with `respond`.
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
            ActionStep::Send(outgoing) => {
                let response = respond(&outgoing.request);
                exchanges.push(Exchange {
                    request: outgoing.request,
                    intent: outgoing.intent,
                });
                step = raw::resume_action::<P>(ctx, session, &outgoing.state, &response);
            }
        }
    }
    panic!("action did not finish within {MAX_STEPS} steps");
}
