//! Transcripts: a recorded operation (every request a plugin made, the answer it got, and
//! the result), for testing plugins without a network.
//!
//! `tenantctl ACTION ... --record FILE` writes one from a real run, secrets redacted;
//! `tenantctl plugins test PLUGIN --transcripts DIR` replays each file against a plugin:
//! the plugin must ask for the same requests and produce the same result.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::account::{Account, RunOptions};
use crate::http::{BoxFuture, Delivered, SendError, Transport};
use crate::plugin::Plugin;
use crate::plugin::bindings::{
    Action, ActionRequest, Effect, Header, HttpRequest, HttpResponse, TenantSelector,
};
use crate::redact::{self, REDACTED, method_name};
use crate::report::TenantResult;

/// The format marker every transcript file carries.
pub const FORMAT: &str = "tenantctl-transcript/1";

/// One recorded operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// Always [`FORMAT`].
    pub format: String,
    /// What the transcript shows, for people.
    #[serde(default)]
    pub description: String,
    /// The vendor id of the plugin that made it.
    pub vendor: String,
    /// That plugin's version (informational; any version may replay it).
    pub plugin_version: String,
    /// The base URL the operation ran against.
    pub base_url: String,
    /// The configuration values; secret ones are `<redacted>`.
    pub config: BTreeMap<String, String>,
    /// The time the operation ran, in Unix seconds; replays run at this time.
    pub now: u32,
    /// `status`, `disable`, `enable`, `offboard` or `delete`.
    pub action: String,
    /// The tenant as asked for: `{"id": "..."}` or `{"name": "..."}`; absent for a request
    /// that names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantSpec>,
    /// Whether it was a dry run.
    #[serde(default)]
    pub dry_run: bool,
    /// The `--expect-name`, if one was given.
    #[serde(default)]
    pub expect_name: Option<String>,
    /// Every request in order, with its answer.
    pub exchanges: Vec<Exchange>,
    /// The result tenantctl reported.
    pub result: TenantResult,
}

/// The tenant as asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantSpec {
    /// By the vendor's id.
    Id(String),
    /// By name.
    Name(String),
}

/// One request and what came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    /// The request the plugin asked for.
    pub request: RecordedRequest,
    /// The answer, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<RecordedResponse>,
    /// The failure, when there was no answer (a timeout, a reset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<SendError>,
}

/// A request as recorded. Secret header values and secret bodies read `<redacted>`; on
/// replay they are checked for presence only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// Header names (lower case) and values.
    pub headers: BTreeMap<String, String>,
    /// The body as text; empty for none.
    #[serde(default)]
    pub body: String,
    /// `read`, `idempotent-write` or `write`.
    pub effect: String,
}

/// A response as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedResponse {
    /// The HTTP status.
    pub status: u16,
    /// Header names (lower case) and values.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body as text.
    #[serde(default)]
    pub body: String,
}

fn effect_name(effect: Effect) -> &'static str {
    match effect {
        Effect::Read => "read",
        Effect::IdempotentWrite => "idempotent-write",
        Effect::Write => "write",
    }
}

fn record_request(request: &HttpRequest) -> RecordedRequest {
    RecordedRequest {
        method: method_name(request.method).to_string(),
        url: request.url.clone(),
        headers: request
            .headers
            .iter()
            .map(|h| {
                let value = if h.secret {
                    REDACTED.to_string()
                } else {
                    h.value.clone()
                };
                (h.name.to_ascii_lowercase(), value)
            })
            .collect(),
        body: if request.body_secret && !request.body.is_empty() {
            REDACTED.to_string()
        } else {
            String::from_utf8_lossy(&request.body).into_owned()
        },
        effect: effect_name(request.effect).to_string(),
    }
}

/// Names of JSON fields whose values are credentials wherever they appear.
fn is_credential_field(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "token",
        "secret",
        "password",
        "authorization",
        "apikey",
        "api_key",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// `text` with the string values of credential-named JSON fields blanked; text that is
/// not JSON is returned as it is.
fn blank_credential_fields(text: &str) -> String {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    if is_credential_field(key) && value.is_string() {
                        *value = REDACTED.into();
                    } else {
                        walk(value);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(mut value) if value.is_object() || value.is_array() => {
            walk(&mut value);
            value.to_string()
        }
        _ => text.to_string(),
    }
}

/// A transport that passes requests on to another and keeps what went by.
pub struct Recorder<T> {
    inner: T,
    exchanges: Mutex<Vec<Exchange>>,
}

impl<T: Transport> Recorder<T> {
    /// Records what goes through `inner`.
    pub fn new(inner: T) -> Self {
        Recorder {
            inner,
            exchanges: Mutex::new(Vec::new()),
        }
    }

    /// The transcript of what went by during `account`'s run of `request`, with every
    /// secret redacted.
    pub fn transcript(
        &self,
        account: &Account,
        request: &ActionRequest,
        options: &RunOptions,
        now: u32,
        result: &TenantResult,
    ) -> Transcript {
        let plugin = account.plugin();
        let secret_fields: Vec<&str> = plugin
            .info()
            .config
            .iter()
            .filter(|f| f.secret)
            .map(|f| f.name.as_str())
            .collect();
        let config = account
            .config()
            .map(|(name, value)| {
                let value = if secret_fields.contains(&name) {
                    REDACTED
                } else {
                    value
                };
                (name.to_string(), value.to_string())
            })
            .collect();
        // Secret header values and session tokens are registered by the account as they go
        // by (a token also comes back in the login response body).
        let scrub = |text: &str| redact::scrub(&blank_credential_fields(text)).into_owned();
        let exchanges = self
            .exchanges
            .lock()
            .expect("recorder lock")
            .iter()
            .map(|e| Exchange {
                request: RecordedRequest {
                    url: scrub(&e.request.url),
                    headers: e
                        .request
                        .headers
                        .iter()
                        .map(|(k, v)| (k.clone(), scrub(v)))
                        .collect(),
                    body: scrub(&e.request.body),
                    ..e.request.clone()
                },
                response: e.response.as_ref().map(|r| RecordedResponse {
                    status: r.status,
                    headers: r
                        .headers
                        .iter()
                        .map(|(k, v)| (k.clone(), scrub(v)))
                        .collect(),
                    body: scrub(&r.body),
                }),
                error: e.error.clone(),
            })
            .collect();
        let mut result = result.clone();
        if let Some(error) = &mut result.error {
            error.message = scrub(&error.message);
        }
        Transcript {
            format: FORMAT.to_string(),
            description: String::new(),
            vendor: plugin.info().vendor.clone(),
            plugin_version: plugin.info().version.clone(),
            base_url: account.base_url().to_string(),
            config,
            now,
            action: request.action.name().to_string(),
            tenant: request.tenant.as_ref().map(|tenant| match tenant {
                TenantSelector::Id(id) => TenantSpec::Id(id.clone()),
                TenantSelector::Name(name) => TenantSpec::Name(name.clone()),
            }),
            dry_run: options.dry_run,
            expect_name: options.expect_name.clone(),
            exchanges,
            result,
        }
    }
}

impl<T: Transport> Transport for Recorder<T> {
    fn send<'a>(
        &'a self,
        url: &'a Url,
        request: &'a HttpRequest,
    ) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            let outcome = self.inner.send(url, request).await;
            let (response, error) = match &outcome {
                Ok(delivered) => (
                    Some(RecordedResponse {
                        status: delivered.response.status,
                        headers: delivered
                            .response
                            .headers
                            .iter()
                            .map(|h| (h.name.to_ascii_lowercase(), h.value.clone()))
                            .collect(),
                        body: String::from_utf8_lossy(&delivered.response.body).into_owned(),
                    }),
                    None,
                ),
                Err(err) => (None, Some(err.clone())),
            };
            self.exchanges
                .lock()
                .expect("recorder lock")
                .push(Exchange {
                    request: record_request(request),
                    response,
                    error,
                });
            outcome
        })
    }
}

/// A transport that answers from a transcript and notes every difference from it.
struct Replayer {
    exchanges: Vec<Exchange>,
    next: Mutex<usize>,
    mismatches: Mutex<Vec<String>>,
}

impl Transport for Replayer {
    fn send<'a>(
        &'a self,
        _url: &'a Url,
        request: &'a HttpRequest,
    ) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            let index = {
                let mut next = self.next.lock().expect("replayer lock");
                *next += 1;
                *next - 1
            };
            let asked = record_request(request);
            let Some(recorded) = self.exchanges.get(index) else {
                self.mismatch(format!(
                    "request {} ({} {}) was not in the transcript, which has {}",
                    index + 1,
                    asked.method,
                    asked.url,
                    self.exchanges.len()
                ));
                return Err(SendError::Refused(
                    "asked for a request that is not in the transcript".into(),
                ));
            };
            for difference in differences(&recorded.request, &asked) {
                self.mismatch(format!("request {}: {difference}", index + 1));
            }
            match (&recorded.response, &recorded.error) {
                (Some(response), _) => Ok(Delivered {
                    response: HttpResponse {
                        status: response.status,
                        headers: response
                            .headers
                            .iter()
                            .map(|(name, value)| Header {
                                name: name.clone(),
                                value: value.clone(),
                                secret: false,
                            })
                            .collect(),
                        body: response.body.clone().into_bytes(),
                    },
                    attempts: 1,
                }),
                (None, Some(error)) => Err(error.clone()),
                (None, None) => Err(SendError::Refused(format!(
                    "reached exchange {} of the transcript, which has neither a response nor \
                     an error",
                    index + 1
                ))),
            }
        })
    }
}

impl Replayer {
    fn mismatch(&self, message: String) {
        self.mismatches.lock().expect("replayer lock").push(message);
    }
}

/// How the request the plugin made differs from the recorded one. Secret values are
/// compared for presence only; JSON bodies are compared as JSON.
fn differences(recorded: &RecordedRequest, asked: &RecordedRequest) -> Vec<String> {
    let mut found = Vec::new();
    if (&recorded.method, &recorded.url) != (&asked.method, &asked.url) {
        found.push(format!(
            "expected {} {}, the plugin asked for {} {}",
            recorded.method, recorded.url, asked.method, asked.url
        ));
    }
    if recorded.effect != asked.effect {
        found.push(format!(
            "expected effect {}, the plugin declared {}",
            recorded.effect, asked.effect
        ));
    }
    if recorded.headers != asked.headers {
        found.push(format!(
            "expected headers {:?}, the plugin sent {:?}",
            recorded.headers, asked.headers
        ));
    }
    let same_body = match (
        serde_json::from_str::<serde_json::Value>(&recorded.body),
        serde_json::from_str::<serde_json::Value>(&asked.body),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => recorded.body == asked.body,
    };
    if !same_body {
        found.push(format!(
            "expected body {:?}, the plugin sent {:?}",
            recorded.body, asked.body
        ));
    }
    found
}

/// Replays `transcript` against `plugin`. Returns the differences found: requests that
/// differ, requests missing or left over, and a result that differs. Empty means it passed.
pub async fn replay(plugin: Arc<Plugin>, transcript: &Transcript) -> Vec<String> {
    let mut problems = Vec::new();
    if transcript.format != FORMAT {
        return vec![format!(
            "format is {:?}, expected {FORMAT:?}",
            transcript.format
        )];
    }
    if transcript.vendor != plugin.info().vendor {
        return vec![format!(
            "recorded for vendor {:?}, replayed against {:?}",
            transcript.vendor,
            plugin.info().vendor
        )];
    }
    let Some(action) = [
        Action::Status,
        Action::Disable,
        Action::Enable,
        Action::Offboard,
        Action::Delete,
    ]
    .into_iter()
    .find(|a| a.name() == transcript.action) else {
        return vec![format!("unknown action {:?}", transcript.action)];
    };
    let replayer = Arc::new(Replayer {
        exchanges: transcript.exchanges.clone(),
        next: Mutex::new(0),
        mismatches: Mutex::new(Vec::new()),
    });
    let config = transcript
        .config
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let now = transcript.now;
    let account = match Account::new(plugin, &transcript.base_url, config, replayer.clone()) {
        Ok(account) => account.with_clock(move || now),
        Err(err) => return vec![format!("base URL: {err}")],
    };
    let request = ActionRequest {
        action,
        tenant: transcript.tenant.as_ref().map(|tenant| match tenant {
            TenantSpec::Id(id) => TenantSelector::Id(id.clone()),
            TenantSpec::Name(name) => TenantSelector::Name(name.clone()),
        }),
    };
    let options = RunOptions {
        dry_run: transcript.dry_run,
        expect_name: transcript.expect_name.clone(),
        ..RunOptions::default()
    };
    let result = account.run(&request, &options).await;
    problems.extend(replayer.mismatches.lock().expect("replayer lock").drain(..));
    let used = *replayer.next.lock().expect("replayer lock");
    if used < transcript.exchanges.len() {
        problems.push(format!(
            "the plugin stopped after {used} of the transcript's {} requests",
            transcript.exchanges.len()
        ));
    }
    if result != transcript.result {
        problems.push(format!(
            "expected result {}, got {}",
            transcript.result.to_json_line(),
            result.to_json_line()
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_fields_are_blanked_in_json_only() {
        let body = r#"{"access_token":"abc","expires_on":5,"nested":[{"id_token":"x.y.z","name":"Acme"}]}"#;
        let blanked: serde_json::Value =
            serde_json::from_str(&blank_credential_fields(body)).unwrap();
        assert_eq!(blanked["access_token"], REDACTED);
        assert_eq!(blanked["expires_on"], 5);
        assert_eq!(blanked["nested"][0]["id_token"], REDACTED);
        assert_eq!(blanked["nested"][0]["name"], "Acme");
        assert_eq!(
            blank_credential_fields("<html>token=abc</html>"),
            "<html>token=abc</html>"
        );
    }
}
