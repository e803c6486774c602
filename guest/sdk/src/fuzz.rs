//! Property-test strategies for a plugin's response parsing (feature `fuzz`, for tests).
//!
//! A plugin's parsing functions take whatever the vendor — or something pretending to be
//! it — sends. [`response`] generates answers from a seed corpus (the response bodies of the
//! plugin's recorded transcripts, plus any files in a seed directory), mutated byte by byte
//! and value by value, along with arbitrary bytes and arbitrary JSON, under statuses that
//! include every class. A parsing function must never panic on any of them: every answer is
//! either understood or a typed [`crate::Failure`].
//!
//! [`config`] keeps the default pass short (64 cases) and honours `PROPTEST_CASES` for a long
//! run, e.g. `PROPTEST_CASES=20000 cargo test --release -p tenantctl-plugin-acronis fuzz`.

use std::path::Path;

use proptest::prelude::*;
use serde_json::Value;

use crate::testing::{by_id, by_name, run_action, run_list, run_login};
use crate::{Action, Context, Failure, Header, HttpRequest, HttpResponse, Plugin, Session};

/// Cases per property when `PROPTEST_CASES` is not set.
pub const DEFAULT_CASES: u32 = 64;

/// The configuration for a plugin's fuzz properties: [`DEFAULT_CASES`] unless
/// `PROPTEST_CASES` says otherwise; failures persisted beside the sources
/// (`proptest-regressions/`), to be committed so they are replayed first.
pub fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::SourceParallel("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    }
}

/// The seed corpus: every response body in the transcripts (`*.json` written by
/// `tenantctl --record`) in `transcripts`, and every file in `seeds` (when it exists).
pub fn corpus(transcripts: &Path, seeds: &Path) -> Vec<Vec<u8>> {
    let mut bodies = Vec::new();
    let files = |dir: &Path| -> Vec<std::path::PathBuf> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map(|listing| listing.filter_map(|e| Some(e.ok()?.path())).collect())
            .unwrap_or_default();
        files.sort();
        files
    };
    for path in files(transcripts) {
        let Ok(text) = std::fs::read(&path) else {
            continue;
        };
        let Ok(transcript) = serde_json::from_slice::<Value>(&text) else {
            continue;
        };
        for exchange in transcript["exchanges"].as_array().into_iter().flatten() {
            if let Some(body) = exchange["response"]["body"].as_str() {
                bodies.push(body.as_bytes().to_vec());
            }
        }
    }
    for path in files(seeds) {
        if let Ok(bytes) = std::fs::read(&path) {
            bodies.push(bytes);
        }
    }
    bodies.sort();
    bodies.dedup();
    assert!(
        !bodies.is_empty(),
        "no seed corpus in {} or {}",
        transcripts.display(),
        seeds.display()
    );
    bodies
}

/// Any JSON value, nested a few levels, with the numbers and strings parsers trip on.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        Just(Value::from(-1)),
        Just(Value::from(0)),
        Just(Value::from(u64::MAX)),
        ".{0,40}".prop_map(Value::String),
        Just(Value::String(String::new())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..8)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Object keys: the ones vendors use more often than chance would.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "id",
            "name",
            "enabled",
            "version",
            "items",
            "data",
            "error",
            "errorCode",
            "errorMessage",
            "errList",
            "code",
            "message",
            "status",
            "token",
            "access_token",
            "expires_on",
            "expires_in",
            "tenant_id",
            "kind",
            "parent_id",
            "meta",
            "pagingInfo",
            "total",
            "response",
            "organizations",
            "providers",
            "shortName",
            "domainName",
            "organizationInfo",
            "organization",
            "deactivateOptions",
            "token",
            "userGUID",
            "instanceUid",
            "errors",
            "detail",
            "type",
            "title",
        ])
        .prop_map(str::to_string),
        "[a-zA-Z_]{1,12}",
    ]
}

/// A seed mutated: bytes flipped, cut short, bytes inserted, or one JSON value (anywhere in
/// the document) replaced by an arbitrary one.
fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let seed = prop::sample::select(seeds);
    prop_oneof![
        // Flip some bytes.
        (
            seed.clone(),
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
        )
            .prop_map(|(mut body, flips)| {
                if !body.is_empty() {
                    for (at, byte) in flips {
                        let at = at.index(body.len());
                        body[at] ^= byte | 1;
                    }
                }
                body
            }),
        // Cut it short.
        (seed.clone(), any::<prop::sample::Index>()).prop_map(|(mut body, at)| {
            let len = body.len();
            body.truncate(at.index(len + 1));
            body
        }),
        // Insert bytes.
        (
            seed.clone(),
            any::<prop::sample::Index>(),
            prop::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(mut body, at, bytes)| {
                let at = at.index(body.len() + 1);
                body.splice(at..at, bytes);
                body
            }),
        // Replace one value of the JSON document.
        (seed, any::<prop::sample::Index>(), json_value()).prop_map(|(body, at, value)| {
            match serde_json::from_slice::<Value>(&body) {
                Ok(mut document) => {
                    let count = count_nodes(&document);
                    replace_node(&mut document, at.index(count), value);
                    serde_json::to_vec(&document).expect("a JSON value serializes")
                }
                Err(_) => body,
            }
        }),
    ]
}

fn count_nodes(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count_nodes).sum(),
        Value::Object(map) => map.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// Replaces the `n`-th node in pre-order; returns how many nodes were passed.
fn replace_node(value: &mut Value, n: usize, with: Value) -> usize {
    if n == 0 {
        *value = with;
        return usize::MAX;
    }
    let mut seen = 1;
    let children: Vec<&mut Value> = match value {
        Value::Array(items) => items.iter_mut().collect(),
        Value::Object(map) => map.values_mut().collect(),
        _ => return seen,
    };
    for child in children {
        let passed = replace_node(child, n - seen, with.clone());
        if passed == usize::MAX {
            return usize::MAX;
        }
        seen += passed;
    }
    seen
}

/// A body: a mutated seed most of the time, else arbitrary JSON or arbitrary bytes.
pub fn body(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => mutated(seeds.clone()),
        1 => prop::sample::select(seeds),
        2 => json_value().prop_map(|v| serde_json::to_vec(&v).expect("serializes")),
        1 => prop::collection::vec(any::<u8>(), 0..256),
    ]
}

/// A status: the ones vendors send, and anything else a u16 can be.
pub fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        4 => prop::sample::select(vec![
            200, 201, 202, 204, 301, 400, 401, 403, 404, 409, 412, 422, 429, 500, 502, 503, 504,
        ]),
        1 => any::<u16>(),
    ]
}

/// A response: a [`status`], a [`body`] from `seeds`, and headers that parsers read
/// (`Content-Type`, `Retry-After`) with arbitrary values.
pub fn response(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = HttpResponse> {
    let header = (
        prop::sample::select(vec!["Content-Type", "Retry-After", "Location", "X-Other"]),
        ".{0,30}",
    )
        .prop_map(|(name, value)| Header {
            name: name.to_string(),
            value,
            secret: false,
        });
    (status(), prop::collection::vec(header, 0..3), body(seeds)).prop_map(
        |(status, headers, body)| HttpResponse {
            status,
            headers,
            body,
        },
    )
}

/// Runs every operation of plugin `P` — login, each action it describes by `tenant_id` and by
/// name,
/// and its listing — answering its requests with `responses` in turn and then with a 503.
/// Each must end with a session, an outcome or a typed failure whose message says what went
/// wrong; a panic, a loop past the step limits of [`crate::testing`], or a failure without a
/// message fails the property.
pub fn every_operation<P: Plugin>(
    ctx: &Context,
    session: &Session,
    tenant_id: &str,
    responses: &[HttpResponse],
) -> Result<(), TestCaseError> {
    let answers = || {
        let mut next = responses.iter().cloned();
        move |_: &HttpRequest| {
            next.next().unwrap_or_else(|| HttpResponse {
                status: 503,
                headers: Vec::new(),
                body: b"unavailable".to_vec(),
            })
        }
    };
    let described = |failure: &Failure| -> Result<(), TestCaseError> {
        prop_assert!(
            !failure.detail().message.trim().is_empty(),
            "a failure without a message: {failure:?}"
        );
        Ok(())
    };
    if let (Err(failure), _) = run_login::<P>(ctx, answers()) {
        described(&failure)?;
    }
    for info in P::describe().actions {
        if info.action == Action::List {
            let (listed, _) = run_list::<P>(ctx, session, answers());
            if let Some(failure) = &listed.error {
                described(failure)?;
            }
            continue;
        }
        for request in [
            by_id(info.action, tenant_id),
            by_name(info.action, "Acme Ltd"),
        ] {
            let (outcome, _) = run_action::<P>(ctx, session, &request, answers());
            match &outcome.error {
                Some(failure) => described(failure)?,
                None => prop_assert!(
                    outcome.tenant.is_some(),
                    "{:?} succeeded without naming its tenant: {outcome:?}",
                    info.action
                ),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_node_reaches_every_node() {
        let document: Value = serde_json::json!({"a": [1, {"b": 2}], "c": 3});
        let count = count_nodes(&document);
        assert_eq!(count, 6);
        for n in 0..count {
            let mut copy = document.clone();
            replace_node(&mut copy, n, Value::String("X".into()));
            assert!(copy.to_string().contains("\"X\""), "node {n}: {copy}");
        }
    }
}
