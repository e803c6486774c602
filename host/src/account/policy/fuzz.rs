//! Property tests over the host's handling of plugin output: whatever request a plugin asks
//! for (any method, URL, header, effect, intent, phase and step count), the policy never
//! panics, and what it lets through obeys every rule; a request that obeys them all is let
//! through. The dry-run plan of any request hides what the plugin marked secret.
//! `PROPTEST_CASES` sets the number of cases (64 by default).

use proptest::prelude::*;

use super::*;
use crate::plugin::bindings::{Header, HttpRequest, Intent, TenantRef};

const BASE: &str = "http://127.0.0.1:8080/api";

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(64),
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::SourceParallel("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    }
}

fn method() -> impl Strategy<Value = Method> {
    prop::sample::select(vec![
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
    ])
}

fn effect() -> impl Strategy<Value = Effect> {
    prop::sample::select(vec![Effect::Read, Effect::IdempotentWrite, Effect::Write])
}

/// URLs near the configured origin (the ones that test the rules) and arbitrary text.
fn url() -> impl Strategy<Value = String> {
    let scheme = prop::sample::select(vec!["http", "https", "HTTP", "ftp", "file", ""]);
    let userinfo = prop::sample::select(vec!["", "user@", "user:pass@", ":pass@", "@", "%40@"]);
    let host = prop::sample::select(vec![
        "127.0.0.1",
        "localhost",
        "127.0.0.2",
        "[::1]",
        "127.0.0.1.evil.test",
        "0x7f.1",
        "2130706433",
        "",
    ]);
    let port = prop::sample::select(vec!["", ":8080", ":80", ":08080", ":65536", ":"]);
    let structured = (scheme, userinfo, host, port, "[/?#a-z0-9%@:.\\\\]{0,20}").prop_map(
        |(scheme, userinfo, host, port, path)| format!("{scheme}://{userinfo}{host}{port}/{path}"),
    );
    prop_oneof![4 => structured, 1 => ".{0,60}"]
}

fn header() -> impl Strategy<Value = Header> {
    let owned = prop::sample::select(vec![
        "Host",
        "content-length",
        "TRANSFER-ENCODING",
        "Connection",
        "upgrade",
        "te",
        "Trailer",
        "keep-alive",
        "Proxy-Authorization",
        "proxy-anything",
    ]);
    let name = prop_oneof![
        2 => prop::sample::select(vec!["Authorization", "Accept", "Content-Type", "X-Api-Key"])
            .prop_map(str::to_string),
        2 => owned.prop_map(str::to_string),
        1 => ".{0,16}",
    ];
    let value = prop_oneof![3 => "[ -~]{0,30}", 1 => ".{0,30}"];
    (name, value, any::<bool>()).prop_map(|(name, value, secret)| Header {
        name,
        value,
        secret,
    })
}

prop_compose! {
    fn outgoing()(
        method in method(),
        url in url(),
        headers in prop::collection::vec(header(), 0..4),
        body_len in prop_oneof![5 => 0usize..64, 1 => (1usize << 20)..(1usize << 20) + 2],
        body_secret in any::<bool>(),
        effect in effect(),
        intent in any::<bool>(),
    ) -> Outgoing {
        Outgoing {
            request: HttpRequest {
                method,
                url,
                headers,
                body: vec![b'x'; body_len],
                body_secret,
                effect,
                cache_for: None,
            },
            state: vec![],
            wait_ms: None,
            intent: intent.then(|| Intent {
                tenant: TenantRef { id: "t".into(), name: "T".into() },
                enabled_before: None,
                enabled_after: None,
            }),
        }
    }
}

fn phase() -> impl Strategy<Value = Phase> {
    prop::sample::select(vec![Phase::Login, Phase::Action])
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn what_the_policy_lets_through_obeys_every_rule(
        outgoing in outgoing(),
        phase in phase(),
        steps in 1usize..60,
    ) {
        let limits = Limits::default();
        let origin = Origin::of(BASE).unwrap();
        let request = &outgoing.request;
        match check_request(&limits, &origin, &outgoing, phase, steps) {
            Ok(url) => {
                prop_assert!(origin.allows(&url), "{url}");
                prop_assert!(!http::has_userinfo(&url), "{url}");
                prop_assert!(steps <= limits.max_steps);
                prop_assert!(request.body.len() <= limits.max_request_bytes);
                for header in &request.headers {
                    prop_assert!(!http::is_host_owned(&header.name), "{}", header.name);
                    prop_assert!(
                        reqwest::header::HeaderName::from_bytes(header.name.as_bytes()).is_ok()
                    );
                    prop_assert!(
                        reqwest::header::HeaderValue::from_bytes(header.value.as_bytes()).is_ok()
                    );
                }
                if phase == Phase::Login {
                    prop_assert_eq!(request.effect, Effect::Read);
                }
                if phase == Phase::Action && request.effect == Effect::Read {
                    prop_assert_eq!(request.method, Method::Get);
                }
                if request.effect != Effect::Read {
                    prop_assert!(outgoing.intent.is_some());
                }
            }
            Err(why) => {
                prop_assert!(why.ends_with("refused"), "{why}");
                for header in request.headers.iter().filter(|h| h.secret) {
                    let elsewhere = request.url.contains(&header.value)
                        || request.headers.iter().any(|h| h.name.contains(&header.value));
                    if header.value.len() >= 8 && !elsewhere {
                        // A header's value (maybe a credential) is never repeated.
                        prop_assert!(!why.contains(&header.value), "{why}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_request_that_obeys_every_rule_is_let_through(
        path in "[a-z0-9/]{0,20}",
        query in prop::option::of("[a-z0-9=&]{0,20}"),
        method in method(),
        write in any::<bool>(),
        phase in phase(),
        names in prop::collection::vec("X-[A-Za-z0-9-]{1,12}", 0..4),
        value in "[ -~]{0,30}",
        steps in 1usize..=50,
    ) {
        let limits = Limits::default();
        let origin = Origin::of(BASE).unwrap();
        let (method, effect) = match (phase, write) {
            (Phase::Login, _) => (method, Effect::Read),
            (Phase::Action, false) => (Method::Get, Effect::Read),
            (Phase::Action, true) => (method, Effect::IdempotentWrite),
        };
        let mut url = format!("http://127.0.0.1:8080/{path}");
        if let Some(query) = query {
            url.push('?');
            url.push_str(&query);
        }
        let outgoing = Outgoing {
            request: HttpRequest {
                method,
                url,
                headers: names
                    .into_iter()
                    .filter(|name| !http::is_host_owned(name))
                    .map(|name| Header { name, value: value.clone(), secret: false })
                    .collect(),
                body: vec![],
                body_secret: false,
                effect,
                cache_for: None,
            },
            state: vec![],
            wait_ms: None,
            intent: (effect != Effect::Read).then(|| Intent {
                tenant: TenantRef { id: "t".into(), name: "T".into() },
                enabled_before: None,
                enabled_after: None,
            }),
        };
        let checked = check_request(&limits, &origin, &outgoing, phase, steps);
        prop_assert!(checked.is_ok(), "{:?}", checked);
    }

    #[test]
    fn a_dry_run_plan_hides_every_secret_header(outgoing in outgoing()) {
        let plan = crate::redact::plan(&outgoing.request);
        for header in outgoing.request.headers.iter().filter(|h| h.secret) {
            // The last header of a name wins in the plan; a secret one is always hidden.
            let last = outgoing.request.headers.iter().rfind(|h| h.name == header.name);
            if last.is_some_and(|h| h.secret) {
                prop_assert_eq!(&plan.headers[&header.name], crate::redact::REDACTED);
            }
        }
        if outgoing.request.body_secret && !outgoing.request.body.is_empty() {
            prop_assert_eq!(plan.body.as_deref(), Some(crate::redact::REDACTED));
        }
    }
}
