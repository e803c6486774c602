//! Whole logins and actions against scripted Acronis answers.

use serde_json::{Value, json};
use tenantctl_plugin_sdk::testing::{
    Exchange, by_id, by_name, context, json_response, no_requests, run_action, run_list, run_login,
    script, text_response, with_header,
};
use tenantctl_plugin_sdk::{
    Action, ActionRequest, Context, Effect, Failure, HttpRequest, HttpResponse, Method, Outcome,
    Plugin, Session, TenantRef,
};

use crate::{
    Acronis, DELETED_NOTE, DISABLED_NOTE, ENABLED_NOTE, GONE_NOTE, MAX_CONFLICTS, PAGE_LIMIT,
    SessionData,
};

const BASE: &str = "https://eu2-cloud.acronis.com";
const API: &str = "https://eu2-cloud.acronis.com/api/2";
const CLIENT_ID: &str = "c1d2e3f4-0000-4000-8000-00000000c11e";
const SECRET: &str = "s3cr3t";
const ROOT: &str = "ede9f834-70b3-476c-83d9-736f9f8c7dae";
const ID: &str = "0fcd4a69-8a40-4de8-b711-d9c83dc000f7";
const TOKEN: &str = "eyJ0eXAi.token";
const NOW: u32 = 1_700_000_000;

fn ctx_at(base: &str) -> Context {
    context(
        base,
        &[("client-id", CLIENT_ID), ("client-secret", SECRET)],
        NOW,
    )
}

fn ctx() -> Context {
    ctx_at(BASE)
}

fn session() -> Session {
    Session::new(
        TOKEN,
        Some(NOW + 7200),
        &SessionData {
            root_tenant_id: ROOT.into(),
        },
    )
}

fn tenant(id: &str, name: &str, enabled: bool, version: u64) -> HttpResponse {
    json_response(
        200,
        json!({"id": id, "name": name, "kind": "customer", "parent_id": ROOT,
               "enabled": enabled, "version": version}),
    )
}

fn envelope(status: u16, code: Value, message: &str) -> HttpResponse {
    json_response(
        status,
        json!({"error": {"code": code, "message": message, "details": {}, "context": {},
                         "domain": "PlatformAccountServer"}}),
    )
}

fn run(request: &ActionRequest, responses: Vec<HttpResponse>) -> (Outcome, Vec<Exchange>) {
    let (outcome, exchanges) =
        run_action::<Acronis>(&ctx(), &session(), request, script(responses));
    check_requests(&exchanges);
    (outcome, exchanges)
}

/// `METHOD url` of every request, in order.
fn calls(exchanges: &[Exchange]) -> Vec<String> {
    exchanges
        .iter()
        .map(|e| {
            let method = match e.request.method {
                Method::Get => "Get",
                Method::Post => "Post",
                Method::Put => "Put",
                Method::Patch => "Patch",
                Method::Delete => "Delete",
            };
            format!("{method} {}", e.request.url)
        })
        .collect()
}

/// What holds for every action request: the bearer token only in a secret header, reads
/// declared as reads without intent, writes as idempotent with an intent.
fn check_requests(exchanges: &[Exchange]) {
    for exchange in exchanges {
        let request = &exchange.request;
        let auth: Vec<_> = request
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("authorization"))
            .collect();
        assert_eq!(auth.len(), 1, "{}", request.url);
        assert_eq!(auth[0].value, format!("Bearer {TOKEN}"));
        assert!(auth[0].secret, "the bearer token must be a secret header");
        for header in request.headers.iter().filter(|h| !h.secret) {
            assert!(!header.value.contains(TOKEN), "token leaked in {header:?}");
        }
        match request.method {
            Method::Get => {
                assert_eq!(request.effect, Effect::Read);
                assert!(exchange.intent.is_none());
            }
            Method::Put | Method::Delete => {
                assert_eq!(request.effect, Effect::IdempotentWrite);
                assert!(exchange.intent.is_some(), "a write needs an intent");
            }
            ref other => panic!("unexpected method {other:?}"),
        }
    }
}

fn body(request: &HttpRequest) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

fn error(outcome: &Outcome) -> &Failure {
    outcome
        .error
        .as_ref()
        .expect("the outcome should carry an error")
}

fn ok_token() -> HttpResponse {
    json_response(
        200,
        json!({"access_token": TOKEN, "token_type": "bearer", "expires_on": NOW + 7200,
               "id_token": "idt"}),
    )
}

fn ok_client() -> HttpResponse {
    json_response(
        200,
        json!({"client_id": CLIENT_ID, "tenant_id": ROOT, "type": "api_client"}),
    )
}

// ---- describe ----

#[test]
fn describe_names_the_vendor_its_actions_and_fields() {
    let info = Acronis::describe();
    assert_eq!(info.vendor, "acronis");
    assert_eq!(info.display_name, "Acronis Cyber Protect Cloud");
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.contract, tenantctl_plugin_sdk::CONTRACT_VERSION);
    let actions: Vec<_> = info
        .actions
        .iter()
        .map(|a| (a.action, a.destructive))
        .collect();
    assert_eq!(
        actions,
        [
            (Action::Status, false),
            (Action::Disable, false),
            (Action::Enable, false),
            (Action::Delete, true),
            (Action::List, false)
        ]
    );
    assert!(info.actions[1].description.contains("billing continues"));
    let fields: Vec<_> = info
        .config
        .iter()
        .map(|f| (f.name.as_str(), f.secret, f.required))
        .collect();
    assert_eq!(
        fields,
        [("client-id", false, true), ("client-secret", true, true)]
    );
}

// ---- login ----

#[test]
fn login_gets_a_token_then_the_clients_own_tenant() {
    let (session, exchanges) = run_login::<Acronis>(&ctx(), script(vec![ok_token(), ok_client()]));
    let session = session.unwrap();
    assert_eq!(session.token, TOKEN);
    assert_eq!(session.expires_at, Some(NOW + 7200));
    assert_eq!(session.data::<SessionData>().unwrap().root_tenant_id, ROOT);

    assert_eq!(
        calls(&exchanges),
        [
            format!("Post {API}/idp/token"),
            format!("Get {API}/clients/{CLIENT_ID}")
        ]
    );
    let token = &exchanges[0].request;
    assert_eq!(
        token.header_value("Authorization"),
        Some(tenantctl_plugin_sdk::basic_auth(CLIENT_ID, SECRET).as_str())
    );
    assert!(
        token
            .headers
            .iter()
            .any(|h| h.name == "Authorization" && h.secret)
    );
    assert_eq!(
        token.header_value("Content-Type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(token.body, b"grant_type=client_credentials");
    assert_eq!(token.effect, Effect::Read);
    // Neither the secret nor its base64 appears anywhere but the secret header.
    for header in token.headers.iter().filter(|h| !h.secret) {
        assert!(!header.value.contains("Basic"), "{header:?}");
    }

    let client = &exchanges[1].request;
    assert_eq!(
        client.header_value("Authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert!(
        client
            .headers
            .iter()
            .all(|h| h.secret || !h.value.contains(TOKEN))
    );
    assert_eq!(client.effect, Effect::Read);
    assert!(exchanges.iter().all(|e| e.intent.is_none()));
}

#[test]
fn login_normalizes_every_form_of_the_base_url() {
    for base in [
        "https://eu2-cloud.acronis.com",
        "https://eu2-cloud.acronis.com/",
        "https://eu2-cloud.acronis.com/api/2",
        "https://eu2-cloud.acronis.com/api/2/",
    ] {
        let (session, exchanges) =
            run_login::<Acronis>(&ctx_at(base), script(vec![ok_token(), ok_client()]));
        assert!(session.is_ok(), "{base}");
        assert_eq!(
            exchanges[0].request.url,
            format!("{API}/idp/token"),
            "{base}"
        );
        assert_eq!(
            exchanges[1].request.url,
            format!("{API}/clients/{CLIENT_ID}"),
            "{base}"
        );
    }
}

#[test]
fn login_clamps_a_far_expiry_and_tolerates_none() {
    let far = json_response(
        200,
        json!({"access_token": TOKEN, "expires_on": 1u64 << 40}),
    );
    let (session, _) = run_login::<Acronis>(&ctx(), script(vec![far, ok_client()]));
    assert_eq!(session.unwrap().expires_at, Some(u32::MAX));

    let none = json_response(200, json!({"access_token": TOKEN}));
    let (session, _) = run_login::<Acronis>(&ctx(), script(vec![none, ok_client()]));
    assert_eq!(session.unwrap().expires_at, None);
}

#[test]
fn login_refused_credentials_are_auth_with_the_oauth_error() {
    let refused = json_response(
        401,
        json!({"error": "invalid_client", "error_description": "Client authentication failed"}),
    );
    let (session, exchanges) = run_login::<Acronis>(&ctx(), script(vec![refused]));
    let Err(Failure::Auth(detail)) = session else {
        panic!("expected auth, got {session:?}")
    };
    assert_eq!(exchanges.len(), 1, "no clients call after a refused login");
    assert_eq!(detail.http_status, Some(401));
    assert_eq!(detail.vendor_code.as_deref(), Some("invalid_client"));
    assert!(
        detail.message.contains("Client authentication failed")
            && detail.message.contains("client-secret"),
        "{}",
        detail.message
    );
}

#[test]
fn login_400_invalid_client_is_auth_too() {
    let refused = json_response(400, json!({"error": "invalid_client"}));
    let (session, _) = run_login::<Acronis>(&ctx(), script(vec![refused]));
    assert!(matches!(session, Err(Failure::Auth(_))), "{session:?}");

    let other = json_response(400, json!({"error": "unsupported_grant_type"}));
    let (session, _) = run_login::<Acronis>(&ctx(), script(vec![other]));
    assert!(matches!(session, Err(Failure::Vendor(_))), "{session:?}");
}

#[test]
fn login_non_json_answers_are_vendor_errors_with_an_excerpt() {
    let html = text_response(502, "text/html", "<html><body>Bad Gateway</body></html>");
    let (session, _) = run_login::<Acronis>(&ctx(), script(vec![html]));
    let Err(Failure::Vendor(detail)) = session else {
        panic!("expected vendor, got {session:?}")
    };
    assert_eq!(detail.http_status, Some(502));
    assert!(detail.message.contains("Bad Gateway"), "{}", detail.message);

    let html_200 = text_response(200, "text/html", "<html>Sign in</html>");
    let (session, _) = run_login::<Acronis>(&ctx(), script(vec![html_200]));
    let Err(Failure::Vendor(detail)) = session else {
        panic!("expected vendor, got {session:?}")
    };
    assert!(detail.message.contains("Sign in"), "{}", detail.message);
}

#[test]
fn login_without_access_token_is_a_vendor_error() {
    let empty = json_response(200, json!({"token_type": "bearer"}));
    let (session, exchanges) = run_login::<Acronis>(&ctx(), script(vec![empty]));
    assert!(matches!(session, Err(Failure::Vendor(_))), "{session:?}");
    assert_eq!(exchanges.len(), 1);
}

#[test]
fn login_rate_limit_carries_retry_after() {
    let limited = with_header(json_response(429, json!({})), "Retry-After", "30");
    let (session, _) = run_login::<Acronis>(&ctx(), script(vec![limited]));
    let Err(Failure::RateLimited(limit)) = session else {
        panic!("expected rate limit, got {session:?}")
    };
    assert_eq!(limit.retry_after, Some(30));
}

#[test]
fn login_without_credentials_sends_nothing() {
    for config in [
        vec![("client-secret", SECRET)],
        vec![("client-id", CLIENT_ID)],
        vec![("client-id", ""), ("client-secret", SECRET)],
    ] {
        let ctx = context(BASE, &config, NOW);
        let (session, _) = run_login::<Acronis>(&ctx, no_requests);
        assert!(
            matches!(session, Err(Failure::InvalidInput(_))),
            "{config:?}"
        );
    }
    let (session, _) = run_login::<Acronis>(&ctx_at(""), no_requests);
    assert!(
        matches!(session, Err(Failure::InvalidInput(_))),
        "{session:?}"
    );
}

#[test]
fn login_clients_call_failures() {
    let cases = [
        (envelope(403, json!(403), "Forbidden"), "auth"),
        (envelope(401, json!(401), "Unauthorized"), "auth"),
        (envelope(404, json!(404), "No such client"), "vendor"),
        (
            json_response(200, json!({"client_id": CLIENT_ID})),
            "vendor",
        ),
        (text_response(200, "text/html", "<html/>"), "vendor"),
    ];
    for (answer, kind) in cases {
        let (session, exchanges) = run_login::<Acronis>(&ctx(), script(vec![ok_token(), answer]));
        let failure = session.unwrap_err();
        assert_eq!(failure.kind(), kind, "{failure}");
        assert_eq!(exchanges.len(), 2);
    }
}

// ---- input checks ----

#[test]
fn offboard_is_not_offered_and_sends_nothing() {
    for request in [
        by_id(Action::Offboard, ID),
        by_name(Action::Offboard, "Acme"),
    ] {
        let (outcome, _) = run_action::<Acronis>(&ctx(), &session(), &request, no_requests);
        assert!(matches!(error(&outcome), Failure::Unsupported(_)));
    }
}

#[test]
fn bad_ids_and_empty_names_are_invalid_input_and_send_nothing() {
    for id in ["", "a/b", "../tenants", "x?y=1", "a b", "ü", "a#b"] {
        for action in [Action::Status, Action::Disable, Action::Enable] {
            let (outcome, _) =
                run_action::<Acronis>(&ctx(), &session(), &by_id(action, id), no_requests);
            assert!(
                matches!(error(&outcome), Failure::InvalidInput(_)),
                "{id:?}: {outcome:?}"
            );
        }
    }
    for name in ["", "   "] {
        let (outcome, _) = run_action::<Acronis>(
            &ctx(),
            &session(),
            &by_name(Action::Disable, name),
            no_requests,
        );
        assert!(matches!(error(&outcome), Failure::InvalidInput(_)));
    }
}

#[test]
fn a_session_without_root_tenant_asks_for_a_new_login() {
    let stale = Session {
        token: TOKEN.into(),
        expires_at: None,
        data: b"not ours".to_vec(),
    };
    let (outcome, _) =
        run_action::<Acronis>(&ctx(), &stale, &by_id(Action::Status, ID), no_requests);
    assert!(matches!(error(&outcome), Failure::SessionExpired(_)));
}

// ---- status ----

#[test]
fn status_by_id_reads_the_tenant_and_changes_nothing() {
    let (outcome, exchanges) = run(
        &by_id(Action::Status, ID),
        vec![tenant(ID, "Acme", false, 3)],
    );
    assert_eq!(calls(&exchanges), [format!("Get {API}/tenants/{ID}")]);
    assert_eq!(outcome.tenant, Some(TenantRef::new(ID, "Acme")));
    assert_eq!(
        (outcome.enabled_before, outcome.enabled_after),
        (Some(false), Some(false))
    );
    assert!(!outcome.changed);
    assert!(outcome.error.is_none());
}

#[test]
fn status_of_a_tenant_without_enabled_is_a_vendor_error() {
    let odd = json_response(200, json!({"id": ID, "name": "Acme", "version": 3}));
    let (outcome, _) = run(&by_id(Action::Status, ID), vec![odd]);
    assert!(matches!(error(&outcome), Failure::Vendor(_)));

    let html = text_response(200, "text/html", "<html>login</html>");
    let (outcome, _) = run(&by_id(Action::Status, ID), vec![html]);
    let Failure::Vendor(detail) = error(&outcome) else {
        panic!("{outcome:?}")
    };
    assert!(detail.message.contains("login"), "{}", detail.message);
}

// ---- by name ----

#[test]
fn search_asks_under_the_root_tenant_with_the_limit_and_encodes_the_name() {
    let answer = json_response(
        200,
        json!({"items": [{"obj_type": "tenant", "id": ID, "name": "Acme & Co", "kind": "customer"}]}),
    );
    let (outcome, exchanges) = run(
        &by_name(Action::Status, "Acme & Co"),
        vec![answer, tenant(ID, "Acme & Co", true, 1)],
    );
    assert_eq!(
        calls(&exchanges),
        [
            format!("Get {API}/search?tenant={ROOT}&text=Acme+%26+Co&limit=1000"),
            format!("Get {API}/tenants/{ID}"),
        ]
    );
    assert_eq!(outcome.tenant, Some(TenantRef::new(ID, "Acme & Co")));
    assert_eq!(outcome.enabled_after, Some(true));
}

#[test]
fn search_keeps_only_tenants_named_exactly_so() {
    let answer = json_response(
        200,
        json!({"items": [
            {"obj_type": "tenant", "id": "aaaa-1", "name": "Acme Corp", "kind": "customer"},
            {"obj_type": "user", "id": "bbbb-2", "name": "Acme"},
            {"obj_type": "tenant", "id": "cccc-3", "name": "ACME", "kind": "customer"},
            {"obj_type": "tenant", "id": "dddd-4", "name": "acme", "kind": "customer"},
            {"obj_type": "tenant", "id": ID, "name": "Acme", "kind": "customer"},
            {"obj_type": "tenant", "id": "eeee-5", "name": "Acme ", "kind": "customer"},
        ]}),
    );
    let (outcome, exchanges) = run(
        &by_name(Action::Status, "Acme"),
        vec![answer, tenant(ID, "Acme", true, 1)],
    );
    assert_eq!(exchanges[1].request.url, format!("{API}/tenants/{ID}"));
    assert_eq!(outcome.tenant, Some(TenantRef::new(ID, "Acme")));
}

#[test]
fn search_with_only_near_matches_is_not_found() {
    let answer = json_response(
        200,
        json!({"items": [
            {"obj_type": "tenant", "id": "aaaa-1", "name": "Acme Corp"},
            {"obj_type": "user", "id": "bbbb-2", "name": "Acme"},
            {"obj_type": "tenant", "id": "cccc-3", "name": "ACME"},
        ]}),
    );
    let (outcome, exchanges) = run(&by_name(Action::Disable, "Acme"), vec![answer]);
    assert_eq!(exchanges.len(), 1);
    assert!(outcome.tenant.is_none());
    assert!(
        matches!(error(&outcome), Failure::NotFound(_)),
        "{outcome:?}"
    );

    let (outcome, _) = run(
        &by_name(Action::Disable, "Acme"),
        vec![json_response(200, json!({"items": []}))],
    );
    assert!(matches!(error(&outcome), Failure::NotFound(_)));
}

#[test]
fn two_tenants_with_the_name_are_ambiguous_and_listed() {
    let answer = json_response(
        200,
        json!({"items": [
            {"obj_type": "tenant", "id": "aaaa-1", "name": "Acme", "kind": "customer"},
            {"obj_type": "tenant", "id": "bbbb-2", "name": "Acme", "kind": "folder"},
        ]}),
    );
    let (outcome, exchanges) = run(&by_name(Action::Disable, "Acme"), vec![answer]);
    assert_eq!(exchanges.len(), 1, "never picks one");
    let Failure::Ambiguous(detail) = error(&outcome) else {
        panic!("{outcome:?}")
    };
    assert!(
        detail.message.contains("aaaa-1") && detail.message.contains("bbbb-2"),
        "{}",
        detail.message
    );
    assert!(detail.message.contains("--tenant"), "{}", detail.message);
}

#[test]
fn a_full_page_of_results_is_ambiguous_even_with_one_exact_match() {
    let mut items: Vec<Value> = (0..999)
        .map(|i| json!({"obj_type": "user", "id": format!("u-{i}"), "name": format!("Acme {i}")}))
        .collect();
    items.push(json!({"obj_type": "tenant", "id": ID, "name": "Acme"}));
    let answer = json_response(200, json!({ "items": items }));
    let (outcome, exchanges) = run(&by_name(Action::Disable, "Acme"), vec![answer]);
    assert_eq!(exchanges.len(), 1);
    let Failure::Ambiguous(detail) = error(&outcome) else {
        panic!("{outcome:?}")
    };
    assert!(detail.message.contains("cut short"), "{}", detail.message);

    // One item fewer is a complete answer.
    let mut items: Vec<Value> = (0..998)
        .map(|i| json!({"obj_type": "user", "id": format!("u-{i}"), "name": format!("Acme {i}")}))
        .collect();
    items.push(json!({"obj_type": "tenant", "id": ID, "name": "Acme"}));
    let answer = json_response(200, json!({ "items": items }));
    let (outcome, _) = run(
        &by_name(Action::Status, "Acme"),
        vec![answer, tenant(ID, "Acme", true, 1)],
    );
    assert!(outcome.error.is_none(), "{outcome:?}");
}

#[test]
fn search_failures_are_mapped() {
    let (outcome, _) = run(
        &by_name(Action::Status, "Acme"),
        vec![envelope(401, json!(401), "expired")],
    );
    assert!(matches!(error(&outcome), Failure::SessionExpired(_)));

    let (outcome, _) = run(
        &by_name(Action::Status, "Acme"),
        vec![text_response(200, "text/html", "<html/>")],
    );
    assert!(matches!(error(&outcome), Failure::Vendor(_)));

    let bad_id = json_response(
        200,
        json!({"items": [{"obj_type": "tenant", "id": "../x", "name": "Acme"}]}),
    );
    let (outcome, exchanges) = run(&by_name(Action::Status, "Acme"), vec![bad_id]);
    assert!(matches!(error(&outcome), Failure::Vendor(_)));
    assert_eq!(exchanges.len(), 1);
}

#[test]
fn a_tenant_found_by_name_is_named_in_a_failed_read() {
    let answer = json_response(
        200,
        json!({"items": [{"obj_type": "tenant", "id": ID, "name": "Acme"}]}),
    );
    let (outcome, _) = run(
        &by_name(Action::Disable, "Acme"),
        vec![answer, envelope(404, json!(404), "Tenant not found")],
    );
    assert_eq!(outcome.tenant, Some(TenantRef::new(ID, "Acme")));
    assert!(matches!(error(&outcome), Failure::NotFound(_)));
}

// ---- disable / enable ----

#[test]
fn disable_puts_enabled_false_with_the_current_version() {
    let (outcome, exchanges) = run(
        &by_id(Action::Disable, ID),
        vec![tenant(ID, "Acme", true, 7), tenant(ID, "Acme", false, 8)],
    );
    assert_eq!(
        calls(&exchanges),
        [
            format!("Get {API}/tenants/{ID}"),
            format!("Put {API}/tenants/{ID}")
        ]
    );
    let put = &exchanges[1];
    assert_eq!(body(&put.request), json!({"enabled": false, "version": 7}));
    assert_eq!(
        put.request.header_value("Content-Type"),
        Some("application/json")
    );
    let intent = put.intent.as_ref().unwrap();
    assert_eq!(intent.tenant, TenantRef::new(ID, "Acme"));
    assert_eq!(
        (intent.enabled_before, intent.enabled_after),
        (Some(true), Some(false))
    );

    assert!(outcome.changed);
    assert!(outcome.error.is_none());
    assert_eq!(outcome.tenant, Some(TenantRef::new(ID, "Acme")));
    assert_eq!(
        (outcome.enabled_before, outcome.enabled_after),
        (Some(true), Some(false))
    );
    assert_eq!(outcome.notes, [DISABLED_NOTE]);
    assert!(DISABLED_NOTE.contains("billing continues") && DISABLED_NOTE.contains("sub-tenants"));
}

#[test]
fn enable_puts_enabled_true() {
    let (outcome, exchanges) = run(
        &by_id(Action::Enable, ID),
        vec![tenant(ID, "Acme", false, 4), tenant(ID, "Acme", true, 5)],
    );
    assert_eq!(
        body(&exchanges[1].request),
        json!({"enabled": true, "version": 4})
    );
    let intent = exchanges[1].intent.as_ref().unwrap();
    assert_eq!(
        (intent.enabled_before, intent.enabled_after),
        (Some(false), Some(true))
    );
    assert!(outcome.changed);
    assert_eq!(
        (outcome.enabled_before, outcome.enabled_after),
        (Some(false), Some(true))
    );
    assert_eq!(outcome.notes, [ENABLED_NOTE]);
}

#[test]
fn disable_by_name_searches_reads_then_puts() {
    let answer = json_response(
        200,
        json!({"items": [{"obj_type": "tenant", "id": ID, "name": "Acme"}]}),
    );
    let (outcome, exchanges) = run(
        &by_name(Action::Disable, "Acme"),
        vec![
            answer,
            tenant(ID, "Acme", true, 2),
            tenant(ID, "Acme", false, 3),
        ],
    );
    assert_eq!(exchanges.len(), 3);
    assert_eq!(exchanges[2].request.method, Method::Put);
    assert!(outcome.changed);
}

#[test]
fn already_in_the_wanted_state_sends_no_put() {
    for (action, enabled, note) in [
        (Action::Disable, false, DISABLED_NOTE),
        (Action::Enable, true, ENABLED_NOTE),
    ] {
        let (outcome, exchanges) = run(&by_id(action, ID), vec![tenant(ID, "Acme", enabled, 3)]);
        assert_eq!(exchanges.len(), 1, "{action:?}: no PUT");
        assert!(!outcome.changed);
        assert!(outcome.error.is_none());
        assert_eq!(
            (outcome.enabled_before, outcome.enabled_after),
            (Some(enabled), Some(enabled))
        );
        assert_eq!(outcome.notes, [note]);
    }
}

#[test]
fn disabling_the_api_clients_own_tenant_is_refused_before_any_write() {
    for id in [ROOT.to_string(), ROOT.to_uppercase()] {
        let (outcome, exchanges) = run(
            &by_id(Action::Disable, &id),
            vec![tenant(ROOT, "My Partner", true, 9)],
        );
        assert_eq!(exchanges.len(), 1, "no PUT");
        let Failure::InvalidInput(detail) = error(&outcome) else {
            panic!("{outcome:?}")
        };
        assert!(detail.message.contains("lock"), "{}", detail.message);
        assert!(!outcome.changed);
        assert_eq!(outcome.tenant.as_ref().unwrap().name, "My Partner");
    }
    // Enabling it is harmless.
    let (outcome, _) = run(
        &by_id(Action::Enable, ROOT),
        vec![tenant(ROOT, "My Partner", true, 9)],
    );
    assert!(outcome.error.is_none(), "{outcome:?}");
}

#[test]
fn the_own_tenant_found_by_name_is_refused_too() {
    let answer = json_response(
        200,
        json!({"items": [{"obj_type": "tenant", "id": ROOT, "name": "My Partner"}]}),
    );
    let (outcome, exchanges) = run(
        &by_name(Action::Disable, "My Partner"),
        vec![answer, tenant(ROOT, "My Partner", true, 9)],
    );
    assert_eq!(exchanges.len(), 2);
    assert!(matches!(error(&outcome), Failure::InvalidInput(_)));
}

#[test]
fn a_tenant_without_version_is_not_updated() {
    let odd = json_response(200, json!({"id": ID, "name": "Acme", "enabled": true}));
    let (outcome, exchanges) = run(&by_id(Action::Disable, ID), vec![odd]);
    assert_eq!(exchanges.len(), 1);
    assert!(matches!(error(&outcome), Failure::Vendor(_)));
    assert_eq!(outcome.tenant, Some(TenantRef::new(ID, "Acme")));
}

// ---- version conflicts ----

#[test]
fn a_conflict_rereads_and_retries_with_the_fresh_version() {
    let (outcome, exchanges) = run(
        &by_id(Action::Disable, ID),
        vec![
            tenant(ID, "Acme", true, 7),
            envelope(409, json!(1001), "Version mismatch"),
            tenant(ID, "Acme", true, 8),
            tenant(ID, "Acme", false, 9),
        ],
    );
    assert_eq!(
        calls(&exchanges),
        [
            format!("Get {API}/tenants/{ID}"),
            format!("Put {API}/tenants/{ID}"),
            format!("Get {API}/tenants/{ID}"),
            format!("Put {API}/tenants/{ID}"),
        ]
    );
    assert_eq!(body(&exchanges[1].request)["version"], 7);
    assert_eq!(body(&exchanges[3].request)["version"], 8);
    assert!(outcome.changed);
    assert!(outcome.error.is_none());
}

#[test]
fn a_conflict_after_which_the_tenant_is_already_as_wanted_is_unchanged() {
    let (outcome, exchanges) = run(
        &by_id(Action::Disable, ID),
        vec![
            tenant(ID, "Acme", true, 7),
            envelope(409, json!(1001), "Version mismatch"),
            tenant(ID, "Acme", false, 8),
        ],
    );
    assert_eq!(exchanges.len(), 3);
    assert!(!outcome.changed);
    assert!(outcome.error.is_none());
    assert_eq!(
        (outcome.enabled_before, outcome.enabled_after),
        (Some(false), Some(false))
    );
}

#[test]
fn a_400_with_code_1001_is_a_conflict_too() {
    for code in [json!(1001), json!("1001")] {
        let (outcome, exchanges) = run(
            &by_id(Action::Enable, ID),
            vec![
                tenant(ID, "Acme", false, 1),
                envelope(400, code.clone(), "Version mismatch"),
                tenant(ID, "Acme", false, 2),
                tenant(ID, "Acme", true, 3),
            ],
        );
        assert_eq!(exchanges.len(), 4, "{code}");
        assert_eq!(body(&exchanges[3].request)["version"], 2);
        assert!(outcome.changed);
    }
}

#[test]
fn another_400_is_a_vendor_error_and_not_retried() {
    let (outcome, exchanges) = run(
        &by_id(Action::Disable, ID),
        vec![
            tenant(ID, "Acme", true, 1),
            envelope(400, json!(1002), "Bad field"),
        ],
    );
    assert_eq!(exchanges.len(), 2);
    let Failure::Vendor(detail) = error(&outcome) else {
        panic!("{outcome:?}")
    };
    assert_eq!(detail.vendor_code.as_deref(), Some("1002"));
    assert!(!outcome.changed);
}

#[test]
fn conflicts_are_bounded() {
    let mut version = 0;
    let (outcome, exchanges) =
        run_action::<Acronis>(&ctx(), &session(), &by_id(Action::Disable, ID), |request| {
            match request.method {
                Method::Get => {
                    version += 1;
                    tenant(ID, "Acme", true, version)
                }
                _ => envelope(409, json!(1001), "Version mismatch"),
            }
        });
    check_requests(&exchanges);
    let puts = exchanges
        .iter()
        .filter(|e| e.request.method == Method::Put)
        .count();
    assert_eq!(puts, MAX_CONFLICTS as usize);
    assert_eq!(MAX_CONFLICTS, 5);
    assert!(
        matches!(error(&outcome), Failure::Conflict(_)),
        "{outcome:?}"
    );
    assert!(!outcome.changed);
    assert_eq!(outcome.tenant, Some(TenantRef::new(ID, "Acme")));
}

// ---- answers to the update ----

#[test]
fn an_empty_200_to_the_update_still_counts_as_changed() {
    let (outcome, _) = run(
        &by_id(Action::Disable, ID),
        vec![
            tenant(ID, "Acme", true, 1),
            text_response(200, "text/plain", ""),
        ],
    );
    assert!(outcome.changed);
    assert_eq!(outcome.enabled_after, Some(false));
    assert!(outcome.error.is_none());
}

#[test]
fn an_error_envelope_with_http_200_is_a_vendor_error_not_a_change() {
    let mut refused = envelope(400, json!(1234), "Quota exceeded");
    refused.status = 200;
    let (outcome, _) = run(
        &by_id(Action::Disable, ID),
        vec![tenant(ID, "Acme", true, 1), refused.clone()],
    );
    assert!(!outcome.changed, "{outcome:?}");
    let Failure::Vendor(detail) = error(&outcome) else {
        panic!("{outcome:?}")
    };
    assert_eq!(detail.vendor_code.as_deref(), Some("1234"));
    assert!(
        detail.message.contains("Quota exceeded"),
        "{}",
        detail.message
    );

    let (outcome, _) = run(&by_id(Action::Status, ID), vec![refused]);
    let Failure::Vendor(detail) = error(&outcome) else {
        panic!("{outcome:?}")
    };
    assert_eq!(detail.vendor_code.as_deref(), Some("1234"));
}

#[test]
fn an_update_answered_with_the_old_state_is_reported() {
    let (outcome, _) = run(
        &by_id(Action::Disable, ID),
        vec![tenant(ID, "Acme", true, 1), tenant(ID, "Acme", true, 2)],
    );
    assert!(!outcome.changed);
    let Failure::Vendor(detail) = error(&outcome) else {
        panic!("{outcome:?}")
    };
    assert!(
        detail.message.contains("enabled=true"),
        "{}",
        detail.message
    );
}

#[test]
fn update_failures_are_mapped_and_name_the_tenant() {
    let cases = [
        (envelope(401, json!(401), "Unauthorized"), "auth"),
        (envelope(403, json!(403), "Forbidden"), "auth"),
        (envelope(404, json!(404), "Not found"), "not_found"),
        (
            envelope(415, json!(415), "Unsupported Media Type"),
            "vendor",
        ),
        (envelope(503, json!(503), "Unavailable"), "vendor"),
    ];
    for (answer, kind) in cases {
        let status = answer.status;
        let (outcome, exchanges) = run(
            &by_id(Action::Disable, ID),
            vec![tenant(ID, "Acme", true, 1), answer],
        );
        assert_eq!(exchanges.len(), 2);
        let failure = error(&outcome);
        assert_eq!(failure.kind(), kind, "{status}: {failure}");
        assert_eq!(failure.detail().http_status, Some(status));
        assert!(!outcome.changed);
        assert_eq!(outcome.tenant, Some(TenantRef::new(ID, "Acme")));
        assert_eq!(outcome.enabled_before, Some(true));
    }
    let (outcome, _) = run(
        &by_id(Action::Disable, ID),
        vec![
            tenant(ID, "Acme", true, 1),
            envelope(401, json!(401), "Unauthorized"),
        ],
    );
    assert!(matches!(error(&outcome), Failure::SessionExpired(_)));
}

// ---- error mapping on reads ----

#[test]
fn read_failures_map_to_typed_errors() {
    let (outcome, _) = run(
        &by_id(Action::Status, ID),
        vec![envelope(401, json!(401), "Token expired")],
    );
    assert!(matches!(error(&outcome), Failure::SessionExpired(_)));
    assert!(outcome.tenant.is_none());

    let (outcome, _) = run(
        &by_id(Action::Status, ID),
        vec![envelope(403, json!(403), "Access denied")],
    );
    let Failure::Auth(detail) = error(&outcome) else {
        panic!("{outcome:?}")
    };
    assert!(detail.message.contains("own tenant"), "{}", detail.message);

    let (outcome, _) = run(
        &by_id(Action::Disable, ID),
        vec![envelope(404, json!(404), "Tenant not found")],
    );
    let Failure::NotFound(detail) = error(&outcome) else {
        panic!("{outcome:?}")
    };
    assert_eq!(detail.http_status, Some(404));
    assert!(detail.message.contains("Tenant not found"));
}

#[test]
fn a_5xx_envelope_gives_the_vendor_code_and_message() {
    let (outcome, _) = run(
        &by_id(Action::Status, ID),
        vec![envelope(500, json!("InternalError"), "Database is down")],
    );
    let Failure::Vendor(detail) = error(&outcome) else {
        panic!("{outcome:?}")
    };
    assert_eq!(detail.http_status, Some(500));
    assert_eq!(detail.vendor_code.as_deref(), Some("InternalError"));
    assert!(
        detail.message.contains("Database is down"),
        "{}",
        detail.message
    );
}

#[test]
fn a_non_json_error_gives_status_and_excerpt() {
    let html = text_response(
        502,
        "text/html",
        "<html><head><title>502 Bad Gateway</title></head></html>",
    );
    let (outcome, _) = run(&by_id(Action::Status, ID), vec![html]);
    let Failure::Vendor(detail) = error(&outcome) else {
        panic!("{outcome:?}")
    };
    assert_eq!(detail.http_status, Some(502));
    assert_eq!(detail.vendor_code, None);
    assert!(
        detail.message.contains("502 Bad Gateway") && detail.message.contains("HTTP 502"),
        "{}",
        detail.message
    );
}

#[test]
fn a_429_is_rate_limited_with_retry_after() {
    let limited = with_header(
        text_response(429, "text/plain", "slow down"),
        "retry-after",
        "12",
    );
    let (outcome, _) = run(&by_id(Action::Status, ID), vec![limited]);
    let Failure::RateLimited(limit) = error(&outcome) else {
        panic!("{outcome:?}")
    };
    assert_eq!(limit.retry_after, Some(12));
    assert_eq!(limit.detail.http_status, Some(429));
}

// ---- delete ----

fn deleted() -> HttpResponse {
    text_response(204, "text/plain", "")
}

#[test]
fn delete_sends_the_version_of_a_disabled_tenant() {
    let (outcome, exchanges) = run(
        &by_id(Action::Delete, ID),
        vec![tenant(ID, "Acme", false, 12), deleted()],
    );
    assert_eq!(
        calls(&exchanges),
        [
            format!("Get {API}/tenants/{ID}"),
            format!("Delete {API}/tenants/{ID}?version=12")
        ]
    );
    let intent = exchanges[1].intent.as_ref().unwrap();
    assert_eq!(intent.tenant, TenantRef::new(ID, "Acme"));
    assert_eq!(
        (intent.enabled_before, intent.enabled_after),
        (Some(false), None)
    );
    assert!(outcome.changed && outcome.error.is_none(), "{outcome:?}");
    assert_eq!(
        (outcome.enabled_before, outcome.enabled_after),
        (Some(false), None)
    );
    assert_eq!(outcome.notes, [DELETED_NOTE]);
}

#[test]
fn delete_by_name_searches_reads_then_deletes() {
    let answer = json_response(
        200,
        json!({"items": [{"obj_type": "tenant", "id": ID, "name": "Acme"}]}),
    );
    let (outcome, exchanges) = run(
        &by_name(Action::Delete, "Acme"),
        vec![answer, tenant(ID, "Acme", false, 3), deleted()],
    );
    assert_eq!(exchanges[2].request.method, Method::Delete);
    assert!(outcome.changed);
}

#[test]
fn an_enabled_tenant_is_refused_and_nothing_is_deleted() {
    let (outcome, exchanges) = run(
        &by_id(Action::Delete, ID),
        vec![tenant(ID, "Acme", true, 3)],
    );
    assert_eq!(exchanges.len(), 1, "no DELETE");
    let Failure::InvalidInput(detail) = error(&outcome) else {
        panic!("{outcome:?}")
    };
    assert!(detail.message.contains("disable"), "{}", detail.message);
    assert!(!outcome.changed);
    assert_eq!(outcome.tenant, Some(TenantRef::new(ID, "Acme")));
    assert_eq!(outcome.enabled_before, Some(true));
}

#[test]
fn deleting_the_api_clients_own_tenant_is_refused() {
    let (outcome, exchanges) = run(
        &by_id(Action::Delete, ROOT),
        vec![tenant(ROOT, "My Partner", false, 9)],
    );
    assert_eq!(exchanges.len(), 1);
    assert!(matches!(error(&outcome), Failure::InvalidInput(_)));
}

#[test]
fn a_delete_conflict_rereads_and_retries_with_the_fresh_version() {
    let (outcome, exchanges) = run(
        &by_id(Action::Delete, ID),
        vec![
            tenant(ID, "Acme", false, 7),
            envelope(409, json!(1001), "Version mismatch"),
            tenant(ID, "Acme", false, 8),
            deleted(),
        ],
    );
    assert_eq!(
        calls(&exchanges)[1..],
        [
            format!("Delete {API}/tenants/{ID}?version=7"),
            format!("Get {API}/tenants/{ID}"),
            format!("Delete {API}/tenants/{ID}?version=8"),
        ]
    );
    assert!(outcome.changed && outcome.error.is_none(), "{outcome:?}");
}

#[test]
fn a_tenant_enabled_while_being_deleted_is_read_again_and_refused() {
    let (outcome, exchanges) = run(
        &by_id(Action::Delete, ID),
        vec![
            tenant(ID, "Acme", false, 7),
            envelope(400, json!(1023), "Tenant must be disabled before deletion"),
            tenant(ID, "Acme", true, 8),
        ],
    );
    assert_eq!(
        exchanges.len(),
        3,
        "read, delete, read again; no second delete"
    );
    assert!(matches!(error(&outcome), Failure::InvalidInput(_)));
    assert!(!outcome.changed);
}

#[test]
fn delete_conflicts_are_bounded_and_other_refusals_are_mapped() {
    let (outcome, exchanges) =
        run_action::<Acronis>(&ctx(), &session(), &by_id(Action::Delete, ID), |request| {
            match request.method {
                Method::Get => tenant(ID, "Acme", false, 1),
                _ => envelope(409, json!(1001), "Version mismatch"),
            }
        });
    check_requests(&exchanges);
    assert_eq!(exchanges.len(), 2 * MAX_CONFLICTS as usize);
    assert!(matches!(error(&outcome), Failure::Conflict(_)));

    let (outcome, _) = run(
        &by_id(Action::Delete, ID),
        vec![
            tenant(ID, "Acme", false, 1),
            envelope(404, json!(404), "Not found"),
        ],
    );
    assert!(outcome.changed && outcome.error.is_none(), "{outcome:?}");
    assert_eq!(outcome.notes, [GONE_NOTE]);
    for (answer, kind) in [
        (envelope(403, json!(403), "Forbidden"), "auth"),
        (
            text_response(502, "text/html", "<html>proxy</html>"),
            "vendor",
        ),
    ] {
        let (outcome, _) = run(
            &by_id(Action::Delete, ID),
            vec![tenant(ID, "Acme", false, 1), answer],
        );
        assert_eq!(error(&outcome).kind(), kind);
        assert!(!outcome.changed);
        assert_eq!(outcome.tenant, Some(TenantRef::new(ID, "Acme")));
    }
}

// ---- list ----

fn listed(items: Value, after: Option<&str>) -> HttpResponse {
    let cursors = match after {
        Some(after) => json!({ "after": after }),
        None => json!({}),
    };
    json_response(
        200,
        json!({"paging": {"cursors": cursors}, "timestamp": "2024-01-01T00:00:00Z", "items": items}),
    )
}

fn basic(id: &str, name: &str, enabled: bool) -> Value {
    json!({"id": id, "version": 1, "parent_id": ROOT, "name": name, "kind": "customer", "enabled": enabled})
}

fn list_url(after: Option<&str>) -> String {
    let mut url = format!("{API}/tenants?subtree_root_id={ROOT}&lod=basic&limit={PAGE_LIMIT}");
    if let Some(after) = after {
        url.push_str(&format!("&after={after}"));
    }
    url
}

#[test]
fn list_pages_through_every_tenant_below_the_root_by_cursor() {
    let pages = vec![
        listed(
            json!([basic(ROOT, "My Partner", true), basic("t-1", "Acme", true)]),
            Some("c1"),
        ),
        listed(json!([basic("t-2", "Dormant", false)]), Some("c2")),
        listed(json!([{"id": "t-3", "name": "Odd"}]), None),
    ];
    let (list, exchanges) = run_list::<Acronis>(&ctx(), &session(), script(pages));
    check_requests(&exchanges);
    let urls: Vec<String> = exchanges.iter().map(|e| e.request.url.clone()).collect();
    assert_eq!(
        urls,
        [list_url(None), list_url(Some("c1")), list_url(Some("c2"))]
    );
    assert_eq!(list.error, None);
    assert_eq!(list.pages, 3);
    let tenants: Vec<(&str, &str, Option<bool>)> = list
        .tenants
        .iter()
        .map(|t| (t.id.as_str(), t.name.as_str(), t.enabled))
        .collect();
    assert_eq!(
        tenants,
        [
            ("t-1", "Acme", Some(true)),
            ("t-2", "Dormant", Some(false)),
            ("t-3", "Odd", None)
        ],
        "the API client's own tenant is not listed"
    );
}

#[test]
fn a_listing_state_stays_small_however_many_pages() {
    let mut page = 0;
    let (list, exchanges) = run_list::<Acronis>(&ctx(), &session(), |_| {
        page += 1;
        let items: Vec<Value> = (0..PAGE_LIMIT)
            .map(|n| basic(&format!("p{page}-{n}"), &format!("Tenant {page}/{n}"), true))
            .collect();
        let cursor = format!("cursor-{page:04}");
        listed(json!(items), (page < 6).then_some(cursor.as_str()))
    });
    assert_eq!(list.pages, 6);
    assert_eq!(list.tenants.len(), 6 * PAGE_LIMIT as usize);
    let largest = exchanges.iter().map(|e| e.state_len).max().unwrap();
    assert!(largest < 512, "state grew to {largest} bytes");
}

#[test]
fn a_cursor_that_does_not_move_ends_the_listing_with_an_error() {
    let pages = vec![
        listed(json!([basic("t-1", "Acme", true)]), Some("same")),
        listed(json!([basic("t-2", "Beta", true)]), Some("same")),
    ];
    let (list, _) = run_list::<Acronis>(&ctx(), &session(), script(pages));
    assert_eq!(list.tenants.len(), 1, "the pages before stand");
    assert!(matches!(list.error, Some(Failure::Vendor(_))));
}

#[test]
fn listing_failures_are_mapped() {
    let (list, _) = run_list::<Acronis>(
        &ctx(),
        &session(),
        script(vec![envelope(401, json!(401), "expired")]),
    );
    assert!(matches!(list.error, Some(Failure::SessionExpired(_))));
    let pages = vec![
        listed(json!([basic("t-1", "Acme", true)]), Some("c1")),
        text_response(502, "text/html", "<html>Bad Gateway</html>"),
    ];
    let (list, _) = run_list::<Acronis>(&ctx(), &session(), script(pages));
    assert_eq!(list.pages, 1);
    let Some(Failure::Vendor(detail)) = list.error else {
        panic!("{list:?}")
    };
    assert!(detail.message.contains("Bad Gateway"), "{}", detail.message);
    let stale = Session::new(TOKEN, None, &());
    let (list, exchanges) = run_list::<Acronis>(&ctx(), &stale, no_requests);
    assert!(matches!(list.error, Some(Failure::SessionExpired(_))));
    assert!(exchanges.is_empty());
}

#[test]
fn a_name_lookup_records_only_the_match() {
    let mut items: Vec<Value> = (0..900)
        .map(|i| json!({"obj_type": "tenant", "id": format!("x-{i}"), "name": format!("Acme {i}")}))
        .collect();
    items.push(json!({"obj_type": "tenant", "id": ID, "name": "Acme"}));
    let (outcome, exchanges) = run(
        &by_name(Action::Disable, "Acme"),
        vec![
            json_response(200, json!({ "items": items })),
            tenant(ID, "Acme", true, 1),
            tenant(ID, "Acme", false, 2),
        ],
    );
    assert!(outcome.changed);
    assert!(exchanges[2].state_len < 512, "{}", exchanges[2].state_len);
}

#[test]
fn the_client_id_is_percent_encoded_in_the_path() {
    let ctx = context(
        BASE,
        &[("client-id", "a b/c?d"), ("client-secret", SECRET)],
        NOW,
    );
    let (_, exchanges) = run_login::<Acronis>(&ctx, script(vec![ok_token(), ok_client()]));
    assert_eq!(
        exchanges[1].request.url,
        format!("{API}/clients/a%20b%2Fc%3Fd")
    );
}

/// Property tests: whatever the vendor (or something pretending to be it) answers — mutated
/// transcript and seed bodies, arbitrary JSON, arbitrary bytes, any status — every operation
/// ends with an outcome or a typed failure with a message, never a panic or a loop.
/// `PROPTEST_CASES` sets the number of cases (64 by default).
mod fuzz {
    use std::path::Path;

    use proptest::prelude::*;
    use tenantctl_plugin_sdk::fuzz::{config, corpus, every_operation, response};

    use super::*;

    fn seeds() -> Vec<Vec<u8>> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        corpus(&root.join("transcripts"), &root.join("fuzz-seeds"))
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn every_answer_ends_in_an_outcome_or_a_typed_failure(
            responses in prop::collection::vec(response(seeds()), 1..8)
        ) {
            every_operation::<crate::Acronis>(&ctx(), &session(), ID, &responses)?;
        }
    }
}
