//! The log of every request a simulator served.

use std::borrow::Cow;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

/// One request as the simulator received it, with what it answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method, upper case as sent (`GET`, `PUT`, ...).
    pub method: String,
    /// Path and query exactly as sent, e.g. `/api/2/search?tenant=...&text=Acme`.
    pub path: String,
    /// Request headers in arrival order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: Vec<u8>,
    /// The status answered; `None` when no response was sent (a reset, or the client gave
    /// up before a delayed answer).
    pub status: Option<u16>,
    /// The injected fault that fired on this request ([`crate::Fault::label`]), if any.
    pub fault: Option<String>,
    /// When the request arrived, measured from the simulator's start.
    pub at: Duration,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn body_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Whether an injected fault fired on this request.
    pub fn faulted(&self) -> bool {
        self.fault.is_some()
    }

    /// The path without its query string.
    pub fn path_only(&self) -> &str {
        self.path.split_once('?').map_or(&self.path, |(p, _)| p)
    }

    /// Whether the method equals `method` and the path and query contain `fragment`, both
    /// ignoring case.
    pub fn matches(&self, method: &str, fragment: &str) -> bool {
        self.method.eq_ignore_ascii_case(method)
            && self
                .path
                .to_ascii_lowercase()
                .contains(&fragment.to_ascii_lowercase())
    }

    /// The JSON form served by `GET /_sim/requests`.
    pub fn to_json(&self) -> Value {
        json!({
            "method": self.method,
            "path": self.path,
            "headers": self.headers.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>(),
            "body": self.body_text(),
            "body_base64": base64::engine::general_purpose::STANDARD.encode(&self.body),
            "status": self.status,
            "fault": self.fault,
            "at_ms": u64::try_from(self.at.as_millis()).unwrap_or(u64::MAX),
        })
    }
}

/// Append-only request log.
#[derive(Default)]
pub(crate) struct RequestLog {
    entries: Mutex<Vec<RecordedRequest>>,
}

impl RequestLog {
    pub(crate) fn push(&self, entry: RecordedRequest) {
        lock(&self.entries).push(entry);
    }

    pub(crate) fn snapshot(&self) -> Vec<RecordedRequest> {
        lock(&self.entries).clone()
    }

    pub(crate) fn clear(&self) {
        lock(&self.entries).clear();
    }

    pub(crate) fn count(&self, method: &str, fragment: &str) -> usize {
        lock(&self.entries)
            .iter()
            .filter(|r| r.matches(method, fragment))
            .count()
    }

    pub(crate) fn to_json(&self) -> Value {
        Value::Array(lock(&self.entries).iter().map(|r| r.to_json()).collect())
    }
}

/// Locks a mutex, ignoring poisoning: a panicking test thread must not take the simulator
/// down for the other tests sharing it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
