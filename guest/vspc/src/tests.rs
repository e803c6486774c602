use serde_json::{Value, json};
use tenantctl_plugin_sdk::testing::{
    Exchange, by_id, by_name, context, json_response, run_action, run_list, run_login,
    text_response,
};
use tenantctl_plugin_sdk::{
    Action, Context, Effect, Failure, Header, HttpRequest, HttpResponse, Intent, Method, Outcome,
    Plugin, Session, TenantRef,
};

use crate::{DELETED_NOTE, DISABLED_NOTE, ENABLED_NOTE, GONE_NOTE, PAGE_LIMIT, Vspc};

const BASE: &str = "https://vspc.example.com:1280";
const API: &str = "https://vspc.example.com:1280/api/v3";
const TOKEN: &str = "eyJhbGciOi.access.token";
const NOW: u32 = 1_700_000_000;
const ACME: &str = "30780260-6bed-47eb-b1ac-d12de2ce5b9d";
const OTHER: &str = "ada1a61e-caaf-4352-85ef-fae903037163";

fn ctx() -> Context {
    context(
        &format!("{BASE}/"),
        &[
            ("username", "vspc\\administrator"),
            ("password", "pässwörd&="),
        ],
        NOW,
    )
}

fn session() -> Session {
    Session::new(
        TOKEN,
        Some(NOW + 3600),
        &json!({"username": "vspc\\administrator"}),
    )
}

/// Answers each request from the routes `(method, url prefix, response)`; any other request
/// fails the test, so a test also proves what was *not* sent. Routes are matched on the URL
/// without its query, and a route is used once unless it is the last for its URL.
fn server(routes: Vec<(Method, String, HttpResponse)>) -> impl FnMut(&HttpRequest) -> HttpResponse {
    let mut routes = routes;
    move |request| {
        let path = request.url.split('?').next().unwrap_or_default();
        let hits: Vec<usize> = routes
            .iter()
            .enumerate()
            .filter(|(_, (method, url, _))| *method == request.method && url == path)
            .map(|(i, _)| i)
            .collect();
        match hits.as_slice() {
            [] => panic!("unexpected request {:?} {}", request.method, request.url),
            [only] => routes[*only].2.clone(),
            [first, ..] => routes.remove(*first).2,
        }
    }
}

fn company_url(uid: &str) -> String {
    format!("{API}/organizations/companies/{uid}")
}

fn list_url() -> String {
    format!("{API}/organizations/companies")
}

fn company_json(uid: &str, name: &str, status: &str) -> Value {
    json!({
        "instanceUid": uid,
        "name": name,
        "status": status,
        "resellerUid": null,
        "subscriptionPlanUid": null,
        "permissions": ["REST"],
        "isAlarmDetectEnabled": false,
    })
}

fn company(uid: &str, name: &str, status: &str) -> HttpResponse {
    json_response(
        200,
        json!({"data": company_json(uid, name, status), "meta": null, "errors": null}),
    )
}

fn list(items: Vec<Value>) -> HttpResponse {
    let count = items.len();
    json_response(
        200,
        json!({"data": items, "meta": {"pagingInfo": {"total": count, "count": count, "offset": 0}}}),
    )
}

fn errors(status: u16, code: Value, message: &str) -> HttpResponse {
    json_response(
        status,
        json!({"errors": [{"message": message, "type": "logical", "code": code}]}),
    )
}

fn read_only(uid: &str, response: HttpResponse) -> Vec<(Method, String, HttpResponse)> {
    vec![(Method::Get, company_url(uid), response)]
}

fn with_headers(mut response: HttpResponse, headers: &[(&str, &str)]) -> HttpResponse {
    response
        .headers
        .extend(headers.iter().map(|(name, value)| Header {
            name: name.to_string(),
            value: value.to_string(),
            secret: false,
        }));
    response
}

fn header<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a Header> {
    request
        .headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case(name))
}

fn assert_authed(exchange: &Exchange) {
    let auth = header(&exchange.request, "Authorization").expect("Authorization header");
    assert_eq!(auth.value, format!("Bearer {TOKEN}"));
    assert!(auth.secret, "the token must be a secret header");
    assert_eq!(
        exchange.request.header_value("Accept"),
        Some("application/json")
    );
}

fn error_of(outcome: &Outcome) -> &Failure {
    outcome
        .error
        .as_ref()
        .expect("the outcome carries an error")
}

fn tenant(uid: &str, name: &str) -> Option<TenantRef> {
    Some(TenantRef::new(uid, name))
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8(body.to_vec()).unwrap();
    text.split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            (decode(k), decode(v))
        })
        .collect()
}

/// Decodes `%XX` and `+` as a form or query decoder does.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn query(url: &str) -> Vec<(String, String)> {
    let (_, query) = url.split_once('?').expect("a query string");
    form(query.as_bytes())
}

// ---------------------------------------------------------------- describe

#[test]
fn describe_names_the_vendor_its_actions_and_config() {
    let info = Vspc::describe();
    assert_eq!(info.vendor, "vspc");
    assert_eq!(info.display_name, "Veeam Service Provider Console");
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.contract, tenantctl_plugin_sdk::CONTRACT_VERSION);
    assert!(info.url_hint.contains(":1280"));
    let actions: Vec<(Action, bool)> = info
        .actions
        .iter()
        .map(|action| (action.action, action.destructive))
        .collect();
    assert_eq!(
        actions,
        vec![
            (Action::Status, false),
            (Action::Disable, false),
            (Action::Enable, false),
            (Action::Delete, true),
            (Action::List, false),
        ],
        "no offboarding is offered"
    );
    assert!(info.actions.iter().all(|a| !a.description.is_empty()));
    let fields: Vec<(&str, bool, bool)> = info
        .config
        .iter()
        .map(|field| (field.name.as_str(), field.secret, field.required))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("username", false, true),
            ("password", true, true),
            ("remove-backups", false, false),
            ("remove-agents", false, false)
        ]
    );
}

// ---------------------------------------------------------------- login

#[test]
fn login_posts_a_password_grant_in_a_secret_form_and_keeps_the_token_and_expiry() {
    let (session, exchanges) = run_login::<Vspc>(&ctx(), |_| {
        json_response(
            200,
            json!({"access_token": TOKEN, "token_type": "bearer", "refresh_token": "r",
                   "expires_in": 1800}),
        )
    });
    let session = session.expect("logged in");
    assert_eq!(session.token, TOKEN);
    assert_eq!(session.expires_at, Some(NOW + 1800));
    assert_eq!(exchanges.len(), 1);
    let request = &exchanges[0].request;
    assert_eq!(request.method, Method::Post);
    assert_eq!(request.url, format!("{API}/token"));
    assert_eq!(request.effect, Effect::Read);
    assert!(request.body_secret, "the form holds the password");
    assert!(exchanges[0].intent.is_none());
    assert_eq!(
        request.header_value("Content-Type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        form(&request.body),
        vec![
            ("grant_type".to_string(), "password".to_string()),
            ("username".to_string(), "vspc\\administrator".to_string()),
            ("password".to_string(), "pässwörd&=".to_string()),
        ]
    );
    // The password travels only in the body, never in a header or the URL.
    assert!(!request.url.contains("p%C3%A4ss"));
    assert!(
        request
            .headers
            .iter()
            .all(|h| !h.value.contains("pässwörd"))
    );
}

#[test]
fn login_without_expires_in_assumes_the_documented_hour() {
    let (session, _) =
        run_login::<Vspc>(&ctx(), |_| json_response(200, json!({"access_token": "t"})));
    assert_eq!(session.unwrap().expires_at, Some(NOW + 3600));
}

#[test]
fn login_accepts_the_url_with_api_v3() {
    let ctx = context(
        "https://h:1280/api/v3/",
        &[("username", "u"), ("password", "p")],
        0,
    );
    let (_, exchanges) =
        run_login::<Vspc>(&ctx, |_| json_response(200, json!({"access_token": "t"})));
    assert_eq!(exchanges[0].request.url, "https://h:1280/api/v3/token");
}

#[test]
fn login_without_credentials_or_url_fails_before_any_request() {
    for (base, config) in [
        (BASE, vec![("username", "u")]),
        (BASE, vec![("password", "p")]),
        (BASE, vec![("username", ""), ("password", "p")]),
        (" ", vec![("username", "u"), ("password", "p")]),
    ] {
        let ctx = context(base, &config, 0);
        let (result, exchanges) = run_login::<Vspc>(&ctx, |_| panic!("no request may be sent"));
        assert!(exchanges.is_empty());
        assert!(
            matches!(result, Err(Failure::InvalidInput(_))),
            "{config:?}: {result:?}"
        );
    }
    let (result, _) = run_login::<Vspc>(&context(BASE, &[("username", "u")], 0), |_| {
        panic!("no request")
    });
    match result {
        Err(Failure::InvalidInput(detail)) => assert!(detail.message.contains("password")),
        other => panic!("expected invalid input, got {other:?}"),
    }
}

#[test]
fn refused_logins_are_auth_with_the_vendor_code_and_message() {
    for (response, code, message) in [
        (
            errors(401, json!(401), "Invalid username or password."),
            "401",
            "Invalid username or password.",
        ),
        (
            json_response(
                400,
                json!({"error": "invalid_grant", "error_description": "The user name or password is incorrect."}),
            ),
            "invalid_grant",
            "The user name or password is incorrect.",
        ),
        (
            errors(403, json!(403), "Access denied."),
            "403",
            "Access denied.",
        ),
    ] {
        let status = response.status;
        let (result, _) = run_login::<Vspc>(&ctx(), |_| response.clone());
        match result {
            Err(Failure::Auth(detail)) => {
                assert_eq!(detail.http_status, Some(status));
                assert_eq!(detail.vendor_code.as_deref(), Some(code));
                assert!(detail.message.contains(message), "{}", detail.message);
                assert!(detail.message.contains("vspc\\administrator"));
                assert!(
                    !detail.message.contains("pässwörd"),
                    "no password in messages"
                );
            }
            other => panic!("expected auth for {status}, got {other:?}"),
        }
    }
}

#[test]
fn login_404_is_vendor_pointing_at_the_url() {
    let (result, _) = run_login::<Vspc>(&ctx(), |_| {
        text_response(404, "text/html", "<h1>Not Found</h1>")
    });
    match result {
        Err(Failure::Vendor(detail)) => {
            assert_eq!(detail.http_status, Some(404));
            assert!(detail.message.contains(":1280"), "{}", detail.message);
        }
        other => panic!("expected vendor, got {other:?}"),
    }
}

#[test]
fn login_asking_for_a_second_factor_is_auth() {
    let (result, _) = run_login::<Vspc>(&ctx(), |_| {
        json_response(
            200,
            json!({"access_token": null, "mfa_token": "m", "token_type": "bearer"}),
        )
    });
    match result {
        Err(Failure::Auth(detail)) => assert!(detail.message.contains("multi-factor")),
        other => panic!("expected auth, got {other:?}"),
    }
}

#[test]
fn login_answers_without_a_token_are_vendor_never_a_panic() {
    let (result, _) = run_login::<Vspc>(&ctx(), |_| {
        json_response(
            200,
            json!({"data": null, "errors": [{"message": "License expired", "code": 1300}]}),
        )
    });
    match result {
        Err(Failure::Vendor(detail)) => {
            assert_eq!(detail.vendor_code.as_deref(), Some("1300"));
            assert!(detail.message.contains("License expired"));
        }
        other => panic!("expected vendor, got {other:?}"),
    }
    for body in [
        "",
        "<html>login</html>",
        "{}",
        "[1,2]",
        "{\"access_token\": \" \"}",
    ] {
        let (result, _) = run_login::<Vspc>(&ctx(), |_| text_response(200, "text/html", body));
        match result {
            Err(Failure::Vendor(detail)) => assert_eq!(detail.http_status, Some(200)),
            other => panic!("expected vendor for {body:?}, got {other:?}"),
        }
    }
}

#[test]
fn login_rate_limit_and_server_errors_are_mapped() {
    let (result, _) = run_login::<Vspc>(&ctx(), |_| {
        json_response(
            429,
            json!({"errors": [{"type": "transport", "code": 429, "retryAfter": 25}]}),
        )
    });
    match result {
        Err(Failure::RateLimited(limit)) => assert_eq!(limit.retry_after, Some(25)),
        other => panic!("expected rate limited, got {other:?}"),
    }
    let (result, _) =
        run_login::<Vspc>(&ctx(), |_| errors(520, json!(500), "Internal server error"));
    match result {
        Err(Failure::Vendor(detail)) => {
            assert_eq!(detail.http_status, Some(520));
            assert_eq!(detail.vendor_code.as_deref(), Some("500"));
        }
        other => panic!("expected vendor, got {other:?}"),
    }
}

// ---------------------------------------------------------------- input checks

#[test]
fn uids_that_are_not_uuids_fail_before_any_request() {
    for id in [
        "",
        " ",
        "42",
        "acme",
        "30780260-6bed-47eb-b1ac",
        "30780260-6bed-47eb-b1ac-d12de2ce5b9d/../x",
        "30780260_6bed_47eb_b1ac_d12de2ce5b9d",
    ] {
        let (outcome, exchanges) =
            run_action::<Vspc>(&ctx(), &session(), &by_id(Action::Disable, id), |_| {
                panic!("no request may be sent for id {id:?}")
            });
        assert!(exchanges.is_empty());
        assert!(
            matches!(error_of(&outcome), Failure::InvalidInput(_)),
            "id {id:?}: {outcome:?}"
        );
        assert!(outcome.tenant.is_none());
    }
}

#[test]
fn an_empty_name_fails_before_any_request() {
    let (outcome, exchanges) =
        run_action::<Vspc>(&ctx(), &session(), &by_name(Action::Status, " \t"), |_| {
            panic!("no request may be sent")
        });
    assert!(exchanges.is_empty());
    assert!(matches!(error_of(&outcome), Failure::InvalidInput(_)));
}

#[test]
fn offboard_is_unsupported_and_sends_nothing() {
    let (outcome, exchanges) =
        run_action::<Vspc>(&ctx(), &session(), &by_id(Action::Offboard, ACME), |_| {
            panic!("no request may be sent")
        });
    assert!(exchanges.is_empty());
    assert!(matches!(error_of(&outcome), Failure::Unsupported(_)));
}

// ---------------------------------------------------------------- status

#[test]
fn status_reads_the_company_with_the_token_and_changes_nothing() {
    let (outcome, exchanges) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_id(Action::Status, &format!(" {ACME} ")),
        server(read_only(ACME, company(ACME, "Acme Corp", "Active"))),
    );
    assert_eq!(exchanges.len(), 1);
    assert_authed(&exchanges[0]);
    assert_eq!(exchanges[0].request.method, Method::Get);
    assert_eq!(exchanges[0].request.url, company_url(ACME));
    assert_eq!(exchanges[0].request.effect, Effect::Read);
    assert!(exchanges[0].intent.is_none());
    assert_eq!(outcome.tenant, tenant(ACME, "Acme Corp"));
    assert_eq!(
        (outcome.enabled_before, outcome.enabled_after),
        (Some(true), Some(true))
    );
    assert!(!outcome.changed && outcome.error.is_none());
}

#[test]
fn status_of_a_disabled_company_in_any_case_is_disabled() {
    for status in ["Disabled", "disabled", "DISABLED"] {
        let (outcome, _) = run_action::<Vspc>(
            &ctx(),
            &session(),
            &by_id(Action::Status, ACME),
            server(read_only(ACME, company(ACME, "Acme Corp", status))),
        );
        assert_eq!(
            (outcome.enabled_before, outcome.enabled_after),
            (Some(false), Some(false)),
            "{status}"
        );
        assert!(outcome.error.is_none());
    }
}

#[test]
fn status_of_an_expired_company_is_disabled_with_a_note() {
    let (outcome, _) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_id(Action::Status, ACME),
        server(read_only(ACME, company(ACME, "Lapsed LLC", "Expired"))),
    );
    assert_eq!(outcome.enabled_before, Some(false));
    assert!(outcome.error.is_none());
    assert!(outcome.notes.join(" ").contains("Expired"), "{outcome:?}");
}

#[test]
fn an_unknown_uid_is_not_found_with_the_vendor_message() {
    let (outcome, _) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_id(Action::Status, ACME),
        server(read_only(
            ACME,
            errors(404, json!(404), &format!("Company {ACME} does not exist.")),
        )),
    );
    match error_of(&outcome) {
        Failure::NotFound(detail) => {
            assert_eq!(detail.http_status, Some(404));
            assert_eq!(detail.vendor_code.as_deref(), Some("404"));
            assert!(detail.message.contains("does not exist"));
        }
        other => panic!("expected not found, got {other:?}"),
    }
    assert!(outcome.tenant.is_none());
}

#[test]
fn a_read_without_data_or_status_is_vendor() {
    for body in [
        json!({"data": null}),
        json!({"data": {"instanceUid": ACME, "name": "Acme Corp"}}),
        json!({"data": [company_json(ACME, "Acme Corp", "Active")]}),
        json!({"something": "else"}),
    ] {
        let (outcome, exchanges) = run_action::<Vspc>(
            &ctx(),
            &session(),
            &by_id(Action::Disable, ACME),
            server(read_only(ACME, json_response(200, body.clone()))),
        );
        assert_eq!(exchanges.len(), 1, "no write after an unreadable company");
        assert!(
            matches!(error_of(&outcome), Failure::Vendor(_)),
            "{body}: {outcome:?}"
        );
    }
}

#[test]
fn a_2xx_carrying_errors_is_a_vendor_failure_with_its_code() {
    let (outcome, _) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_id(Action::Status, ACME),
        server(read_only(
            ACME,
            json_response(
                200,
                json!({"data": null, "errors": [{"message": "Database is busy", "type": "logical", "code": 1051}]}),
            ),
        )),
    );
    match error_of(&outcome) {
        Failure::Vendor(detail) => {
            assert_eq!(detail.http_status, Some(200));
            assert_eq!(detail.vendor_code.as_deref(), Some("1051"));
            assert!(detail.message.contains("Database is busy"));
        }
        other => panic!("expected vendor, got {other:?}"),
    }
}

// ---------------------------------------------------------------- names

#[test]
fn a_name_is_looked_up_with_an_ignorecase_filter_and_matched_in_full() {
    let routes = vec![
        (
            Method::Get,
            list_url(),
            list(vec![
                company_json(OTHER, "ACME Corporation", "Active"),
                company_json(ACME, "ACME CORP", "Active"),
            ]),
        ),
        (
            Method::Get,
            company_url(ACME),
            company(ACME, "ACME CORP", "Active"),
        ),
    ];
    let (outcome, exchanges) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_name(Action::Status, "  acme corp "),
        server(routes),
    );
    assert!(outcome.error.is_none(), "{outcome:?}");
    assert_eq!(outcome.tenant, tenant(ACME, "ACME CORP"));
    assert_eq!(exchanges.len(), 2);
    exchanges.iter().for_each(assert_authed);
    assert!(exchanges.iter().all(|e| e.request.effect == Effect::Read));
    let params = query(&exchanges[0].request.url);
    assert_eq!(params[1], ("limit".to_string(), "500".to_string()));
    assert_eq!(params[0].0, "filter");
    let filter: Value = serde_json::from_str(&params[0].1).unwrap();
    assert_eq!(
        filter,
        json!([{"property": "name", "operation": "equals", "collation": "ignorecase", "value": "acme corp"}])
    );
}

#[test]
fn a_prefix_or_a_longer_name_is_not_a_match() {
    let routes = vec![(
        Method::Get,
        list_url(),
        list(vec![
            company_json(OTHER, "Acme Corporation", "Active"),
            company_json(ACME, "Acme", "Active"),
        ]),
    )];
    let (outcome, exchanges) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_name(Action::Disable, "Acme Corp"),
        server(routes),
    );
    assert_eq!(exchanges.len(), 1);
    match error_of(&outcome) {
        Failure::NotFound(detail) => assert!(detail.message.contains("Acme Corp")),
        other => panic!("expected not found, got {other:?}"),
    }
}

#[test]
fn several_companies_with_the_name_are_ambiguous_and_list_the_uids() {
    let routes = vec![(
        Method::Get,
        list_url(),
        list(vec![
            company_json(ACME, "Twin Co", "Active"),
            company_json(OTHER, "TWIN CO", "Disabled"),
        ]),
    )];
    let (outcome, exchanges) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_name(Action::Disable, "twin co"),
        server(routes),
    );
    assert_eq!(
        exchanges.len(),
        1,
        "no read or write after an ambiguous name"
    );
    match error_of(&outcome) {
        Failure::Ambiguous(detail) => {
            assert!(
                detail.message.contains(ACME) && detail.message.contains(OTHER),
                "{}",
                detail.message
            );
        }
        other => panic!("expected ambiguous, got {other:?}"),
    }
}

#[test]
fn the_same_company_listed_twice_is_one_match() {
    let routes = vec![
        (
            Method::Get,
            list_url(),
            list(vec![
                company_json(ACME, "Acme Corp", "Active"),
                company_json(ACME, "Acme Corp", "Active"),
            ]),
        ),
        (
            Method::Get,
            company_url(ACME),
            company(ACME, "Acme Corp", "Active"),
        ),
    ];
    let (outcome, _) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_name(Action::Status, "Acme Corp"),
        server(routes),
    );
    assert!(outcome.error.is_none(), "{outcome:?}");
}

#[test]
fn an_empty_list_is_not_found() {
    for body in [
        json!({"data": [], "meta": {"pagingInfo": {"total": 0, "count": 0, "offset": 0}}}),
        json!({"data": null}),
        json!({}),
    ] {
        let routes = vec![(Method::Get, list_url(), json_response(200, body.clone()))];
        let (outcome, _) = run_action::<Vspc>(
            &ctx(),
            &session(),
            &by_name(Action::Status, "Acme Corp"),
            server(routes),
        );
        assert!(
            matches!(error_of(&outcome), Failure::NotFound(_)),
            "{body}: {outcome:?}"
        );
    }
}

#[test]
fn a_list_that_may_be_cut_short_is_ambiguous() {
    let routes = vec![(
        Method::Get,
        list_url(),
        json_response(
            200,
            json!({"data": [company_json(ACME, "Acme Corp", "Active")],
                   "meta": {"pagingInfo": {"total": 2, "count": 1, "offset": 0}}}),
        ),
    )];
    let (outcome, exchanges) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_name(Action::Disable, "Acme Corp"),
        server(routes),
    );
    assert_eq!(exchanges.len(), 1);
    assert!(
        matches!(error_of(&outcome), Failure::Ambiguous(_)),
        "{outcome:?}"
    );
}

#[test]
fn a_listed_company_without_a_usable_uid_is_vendor() {
    for uid in [json!(null), json!("not-a-uid")] {
        let routes = vec![(
            Method::Get,
            list_url(),
            list(vec![
                json!({"instanceUid": uid, "name": "Acme Corp", "status": "Active"}),
            ]),
        )];
        let (outcome, exchanges) = run_action::<Vspc>(
            &ctx(),
            &session(),
            &by_name(Action::Disable, "Acme Corp"),
            server(routes),
        );
        assert_eq!(exchanges.len(), 1);
        assert!(matches!(error_of(&outcome), Failure::Vendor(_)), "{uid}");
    }
}

#[test]
fn failed_lookups_are_mapped_never_a_panic() {
    type Check = fn(&Failure) -> bool;
    let cases: Vec<(HttpResponse, Check)> = vec![
        (errors(401, json!(401), "Unauthorized"), |f| {
            matches!(f, Failure::SessionExpired(_))
        }),
        (
            text_response(200, "text/html", "<html>portal</html>"),
            |f| matches!(f, Failure::Vendor(_)),
        ),
        (json_response(200, json!({"data": {"name": "x"}})), |f| {
            matches!(f, Failure::Vendor(_))
        }),
        (
            json_response(
                200,
                json!({"data": null, "errors": [{"message": "Invalid filter", "code": 400}]}),
            ),
            |f| matches!(f, Failure::Vendor(d) if d.vendor_code.as_deref() == Some("400")),
        ),
    ];
    for (response, expected) in cases {
        let routes = vec![(Method::Get, list_url(), response.clone())];
        let (outcome, _) = run_action::<Vspc>(
            &ctx(),
            &session(),
            &by_name(Action::Status, "Acme Corp"),
            server(routes),
        );
        assert!(
            expected(error_of(&outcome)),
            "{}: {outcome:?}",
            response.body_excerpt()
        );
    }
}

#[test]
fn a_company_found_by_name_keeps_its_name_when_the_read_fails() {
    let routes = vec![
        (
            Method::Get,
            list_url(),
            list(vec![company_json(ACME, "Acme Corp", "Active")]),
        ),
        (
            Method::Get,
            company_url(ACME),
            text_response(520, "text/plain", "boom"),
        ),
    ];
    let (outcome, _) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_name(Action::Disable, "acme corp"),
        server(routes),
    );
    assert_eq!(outcome.tenant, tenant(ACME, "Acme Corp"));
    assert!(matches!(error_of(&outcome), Failure::Vendor(_)));
}

// ---------------------------------------------------------------- disable

fn patch_routes(before: HttpResponse, answer: HttpResponse) -> Vec<(Method, String, HttpResponse)> {
    vec![
        (Method::Get, company_url(ACME), before),
        (Method::Patch, company_url(ACME), answer),
    ]
}

#[test]
fn disable_patches_the_status_of_an_active_company_with_its_intent() {
    let (outcome, exchanges) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_id(Action::Disable, ACME),
        server(patch_routes(
            company(ACME, "Acme Corp", "Active"),
            company(ACME, "Acme Corp", "Disabled"),
        )),
    );
    assert_eq!(exchanges.len(), 2);
    assert_eq!(exchanges[0].request.method, Method::Get);
    let write = &exchanges[1];
    assert_authed(write);
    assert_eq!(write.request.method, Method::Patch);
    assert_eq!(write.request.url, company_url(ACME));
    assert_eq!(write.request.effect, Effect::IdempotentWrite);
    assert!(!write.request.body_secret);
    assert_eq!(
        write.request.header_value("Content-Type"),
        Some("application/json")
    );
    let body: Value = serde_json::from_slice(&write.request.body).unwrap();
    assert_eq!(
        body,
        json!([{"op": "replace", "path": "/status", "value": "Disabled"}])
    );
    assert_eq!(
        write.intent,
        Some(Intent {
            tenant: TenantRef::new(ACME, "Acme Corp"),
            enabled_before: Some(true),
            enabled_after: Some(false),
        })
    );
    assert!(outcome.changed && outcome.error.is_none(), "{outcome:?}");
    assert_eq!(outcome.tenant, tenant(ACME, "Acme Corp"));
    assert_eq!(
        (outcome.enabled_before, outcome.enabled_after),
        (Some(true), Some(false))
    );
    assert!(outcome.notes.iter().any(|n| n == DISABLED_NOTE));
}

#[test]
fn disable_of_a_disabled_company_sends_no_write() {
    let (outcome, exchanges) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_id(Action::Disable, ACME),
        server(read_only(ACME, company(ACME, "Dormant Ltd", "Disabled"))),
    );
    assert_eq!(exchanges.len(), 1);
    assert!(!outcome.changed && outcome.error.is_none());
    assert_eq!(
        (outcome.enabled_before, outcome.enabled_after),
        (Some(false), Some(false))
    );
    assert!(outcome.notes.join(" ").contains("already disabled"));
}

#[test]
fn companies_in_other_states_are_neither_disabled_nor_enabled() {
    for (action, status) in [
        (Action::Disable, "Expired"),
        (Action::Enable, "Expired"),
        (Action::Disable, "Deleting"),
        (Action::Enable, "Creating"),
        (Action::Disable, "Unknown"),
    ] {
        let (outcome, exchanges) = run_action::<Vspc>(
            &ctx(),
            &session(),
            &by_id(action, ACME),
            server(read_only(ACME, company(ACME, "Lapsed LLC", status))),
        );
        assert_eq!(exchanges.len(), 1, "no write for {status}");
        assert!(!outcome.changed);
        assert_eq!(outcome.tenant, tenant(ACME, "Lapsed LLC"));
        match error_of(&outcome) {
            Failure::InvalidInput(detail) => {
                assert!(detail.message.contains(status), "{}", detail.message)
            }
            other => panic!("expected invalid input for {status}, got {other:?}"),
        }
    }
}

#[test]
fn a_patch_answer_still_showing_the_old_status_is_vendor_and_not_changed() {
    let (outcome, _) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_id(Action::Disable, ACME),
        server(patch_routes(
            company(ACME, "Acme Corp", "Active"),
            company(ACME, "Acme Corp", "Active"),
        )),
    );
    assert!(!outcome.changed);
    assert_eq!(outcome.enabled_after, Some(true));
    match error_of(&outcome) {
        Failure::Vendor(detail) => assert!(detail.message.contains("Active")),
        other => panic!("expected vendor, got {other:?}"),
    }
}

const ACTION: &str = "97431954-0dd7-472a-8cb7-d0cb0fbccaf7";

fn action_url(id: &str) -> String {
    format!("{API}/asyncActions/{id}")
}

fn queued(name: &str) -> HttpResponse {
    let body = json!({"data": {"id": ACTION, "actionName": name, "startTime": "2024-01-01T00:00:00Z",
        "status": "running"}, "meta": null, "errors": null});
    with_headers(
        json_response(202, body),
        &[("Location", &action_url(ACTION))],
    )
}

fn async_action(status: &str) -> HttpResponse {
    let errors = match status {
        "failed" | "canceled" => {
            json!([{"message": "Agents could not be removed", "type": "logical", "code": 1000}])
        }
        _ => Value::Null,
    };
    json_response(
        200,
        json!({"data": {"id": ACTION, "actionName": "DeleteCompany", "startTime": "2024-01-01T00:00:00Z",
            "status": status}, "meta": null, "errors": errors}),
    )
}

#[test]
fn a_queued_patch_is_awaited_and_confirmed_by_reading_the_company_again() {
    let empty_202 = with_headers(
        text_response(202, "application/json", ""),
        &[("Location", &action_url(ACTION))],
    );
    let routes = |answer: HttpResponse, back: HttpResponse| {
        vec![
            (
                Method::Get,
                company_url(ACME),
                company(ACME, "Acme Corp", "Active"),
            ),
            (Method::Patch, company_url(ACME), answer),
            (Method::Get, action_url(ACTION), async_action("running")),
            (Method::Get, action_url(ACTION), async_action("succeed")),
            (Method::Get, company_url(ACME), back),
        ]
    };
    for answer in [empty_202.clone(), queued("PatchCompany")] {
        let (outcome, exchanges) = run_action::<Vspc>(
            &ctx(),
            &session(),
            &by_id(Action::Disable, ACME),
            server(routes(answer, company(ACME, "Acme Corp", "Disabled"))),
        );
        assert_eq!(exchanges.len(), 5);
        let polls: Vec<Option<u32>> = exchanges[2..4].iter().map(|e| e.wait_ms).collect();
        assert_eq!(polls, [Some(250), Some(500)]);
        for read in &exchanges[2..] {
            assert_eq!(read.request.method, Method::Get);
            assert_eq!(read.request.effect, Effect::Read);
            assert!(read.intent.is_none());
            assert_authed(read);
        }
        assert!(outcome.changed && outcome.error.is_none(), "{outcome:?}");
        let notes = outcome.notes.join(" ");
        assert!(notes.contains("asynchronously"), "{notes}");
        assert!(notes.contains(ACTION), "{notes}");
    }

    // Still not applied when read back: not reported as changed.
    let (outcome, _) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_id(Action::Disable, ACME),
        server(routes(
            empty_202.clone(),
            company(ACME, "Acme Corp", "Active"),
        )),
    );
    assert!(!outcome.changed);
    match error_of(&outcome) {
        Failure::Vendor(detail) => assert!(detail.message.contains("queued")),
        other => panic!("expected vendor, got {other:?}"),
    }

    // The read-back fails: its failure, nothing claimed.
    let (outcome, _) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_id(Action::Disable, ACME),
        server(routes(
            empty_202.clone(),
            errors(401, json!(401), "expired"),
        )),
    );
    assert!(!outcome.changed);
    assert_eq!(outcome.enabled_after, None);
    assert!(matches!(error_of(&outcome), Failure::SessionExpired(_)));

    // A 202 naming no action is read back at once.
    let routes = vec![
        (
            Method::Get,
            company_url(ACME),
            company(ACME, "Acme Corp", "Active"),
        ),
        (
            Method::Patch,
            company_url(ACME),
            text_response(202, "application/json", ""),
        ),
        (
            Method::Get,
            company_url(ACME),
            company(ACME, "Acme Corp", "Disabled"),
        ),
    ];
    let (outcome, exchanges) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_id(Action::Disable, ACME),
        server(routes),
    );
    assert_eq!(exchanges.len(), 3);
    assert!(outcome.changed, "{outcome:?}");
}

#[test]
fn an_empty_2xx_answer_to_the_patch_is_confirmed_by_reading_back() {
    let routes = vec![
        (
            Method::Get,
            company_url(ACME),
            company(ACME, "Acme Corp", "Disabled"),
        ),
        (
            Method::Patch,
            company_url(ACME),
            text_response(200, "application/json", " "),
        ),
        (
            Method::Get,
            company_url(ACME),
            company(ACME, "Acme Corp", "Active"),
        ),
    ];
    let (outcome, exchanges) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_id(Action::Enable, ACME),
        server(routes),
    );
    assert_eq!(exchanges.len(), 3);
    assert!(outcome.changed && outcome.error.is_none(), "{outcome:?}");
}

#[test]
fn unreadable_or_failing_patch_answers_are_vendor_and_not_changed() {
    for answer in [
        text_response(200, "text/html", "<html>gateway</html>"),
        json_response(
            200,
            json!({"data": null, "errors": [{"message": "Operation failed", "code": 1200}]}),
        ),
        json_response(200, json!({"data": {"name": "Acme Corp"}})),
    ] {
        let (outcome, _) = run_action::<Vspc>(
            &ctx(),
            &session(),
            &by_id(Action::Disable, ACME),
            server(patch_routes(
                company(ACME, "Acme Corp", "Active"),
                answer.clone(),
            )),
        );
        assert!(!outcome.changed);
        assert_eq!(outcome.enabled_after, None);
        assert_eq!(outcome.tenant, tenant(ACME, "Acme Corp"));
        assert!(
            matches!(error_of(&outcome), Failure::Vendor(_)),
            "{}: {outcome:?}",
            answer.body_excerpt()
        );
    }
}

// ---------------------------------------------------------------- enable

#[test]
fn enable_patches_a_disabled_company_to_active() {
    let (outcome, exchanges) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_id(Action::Enable, ACME),
        server(patch_routes(
            company(ACME, "Dormant Ltd", "Disabled"),
            company(ACME, "Dormant Ltd", "Active"),
        )),
    );
    assert_eq!(exchanges.len(), 2);
    let body: Value = serde_json::from_slice(&exchanges[1].request.body).unwrap();
    assert_eq!(
        body,
        json!([{"op": "replace", "path": "/status", "value": "Active"}])
    );
    assert_eq!(exchanges[1].request.effect, Effect::IdempotentWrite);
    assert_eq!(
        exchanges[1].intent,
        Some(Intent {
            tenant: TenantRef::new(ACME, "Dormant Ltd"),
            enabled_before: Some(false),
            enabled_after: Some(true),
        })
    );
    assert!(outcome.changed && outcome.error.is_none());
    assert_eq!(
        (outcome.enabled_before, outcome.enabled_after),
        (Some(false), Some(true))
    );
    assert!(outcome.notes.iter().any(|n| n == ENABLED_NOTE));
}

#[test]
fn enable_of_an_active_company_sends_no_write() {
    let (outcome, exchanges) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_id(Action::Enable, ACME),
        server(read_only(ACME, company(ACME, "Acme Corp", "Active"))),
    );
    assert_eq!(exchanges.len(), 1);
    assert!(!outcome.changed && outcome.error.is_none());
    assert_eq!(
        (outcome.enabled_before, outcome.enabled_after),
        (Some(true), Some(true))
    );
}

#[test]
fn enable_by_name_uses_the_listed_uid() {
    let routes = vec![
        (
            Method::Get,
            list_url(),
            list(vec![company_json(ACME, "Dormant Ltd", "Disabled")]),
        ),
        (
            Method::Get,
            company_url(ACME),
            company(ACME, "Dormant Ltd", "Disabled"),
        ),
        (
            Method::Patch,
            company_url(ACME),
            company(ACME, "Dormant Ltd", "Active"),
        ),
    ];
    let (outcome, exchanges) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_name(Action::Enable, "dormant ltd"),
        server(routes),
    );
    assert_eq!(exchanges.len(), 3);
    assert!(outcome.changed, "{outcome:?}");
}

// ---------------------------------------------------------------- HTTP errors

#[test]
fn a_401_on_a_read_or_a_write_is_session_expired() {
    let expired = || {
        errors(
            401,
            json!(401),
            "Authorization has been denied for this request.",
        )
    };
    let (outcome, _) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_id(Action::Status, ACME),
        server(read_only(ACME, expired())),
    );
    match error_of(&outcome) {
        Failure::SessionExpired(detail) => {
            assert_eq!(detail.http_status, Some(401));
            assert_eq!(detail.vendor_code.as_deref(), Some("401"));
        }
        other => panic!("expected session expired, got {other:?}"),
    }
    let (outcome, _) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_id(Action::Disable, ACME),
        server(patch_routes(
            company(ACME, "Acme Corp", "Active"),
            expired(),
        )),
    );
    assert!(matches!(error_of(&outcome), Failure::SessionExpired(_)));
    assert!(!outcome.changed);
}

#[test]
fn a_403_is_auth_naming_the_roles() {
    let (outcome, _) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_id(Action::Disable, ACME),
        server(patch_routes(
            company(ACME, "Acme Corp", "Active"),
            errors(403, json!(403), "Access denied"),
        )),
    );
    match error_of(&outcome) {
        Failure::Auth(detail) => {
            assert_eq!(detail.http_status, Some(403));
            assert!(detail.message.contains("Access denied"));
            assert!(detail.message.contains("Portal Administrator"));
        }
        other => panic!("expected auth, got {other:?}"),
    }
}

#[test]
fn a_404_on_the_write_is_not_found_and_keeps_the_tenant() {
    let (outcome, _) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_id(Action::Disable, ACME),
        server(patch_routes(
            company(ACME, "Acme Corp", "Active"),
            errors(404, json!(404), "Company does not exist."),
        )),
    );
    assert!(matches!(error_of(&outcome), Failure::NotFound(_)));
    assert_eq!(outcome.tenant, tenant(ACME, "Acme Corp"));
    assert_eq!(outcome.enabled_before, Some(true));
    assert_eq!(outcome.enabled_after, None);
}

#[test]
fn a_429_is_rate_limited_with_the_header_or_the_body_wait() {
    let header_wait = with_headers(
        json_response(
            429,
            json!({"errors": [{"type": "transport", "code": 429, "retryAfter": 25}]}),
        ),
        &[("Retry-After", "7")],
    );
    let body_wait = json_response(
        429,
        json!({"errors": [{"type": "transport", "code": 429, "retryAfter": 25}]}),
    );
    for (answer, wait) in [
        (header_wait, Some(7)),
        (body_wait, Some(25)),
        (text_response(429, "text/plain", "slow down"), None),
    ] {
        let (outcome, _) = run_action::<Vspc>(
            &ctx(),
            &session(),
            &by_id(Action::Disable, ACME),
            server(patch_routes(company(ACME, "Acme Corp", "Active"), answer)),
        );
        assert!(!outcome.changed);
        match error_of(&outcome) {
            Failure::RateLimited(limit) => {
                assert_eq!(limit.retry_after, wait);
                assert_eq!(limit.detail.http_status, Some(429));
            }
            other => panic!("expected rate limited, got {other:?}"),
        }
    }
}

#[test]
fn other_errors_are_vendor_with_status_code_and_message() {
    for (answer, status, code, text) in [
        (
            errors(520, json!(500), "Unexpected server error"),
            520,
            Some("500"),
            "Unexpected server error",
        ),
        (
            errors(409, json!(409), "Company is being modified"),
            409,
            Some("409"),
            "Company is being modified",
        ),
        (
            text_response(502, "text/html", "<html><h1>502 Bad Gateway</h1></html>"),
            502,
            None,
            "502 Bad Gateway",
        ),
    ] {
        let (outcome, _) = run_action::<Vspc>(
            &ctx(),
            &session(),
            &by_id(Action::Disable, ACME),
            server(patch_routes(company(ACME, "Acme Corp", "Active"), answer)),
        );
        assert!(!outcome.changed);
        match error_of(&outcome) {
            Failure::Vendor(detail) => {
                assert_eq!(detail.http_status, Some(status));
                assert_eq!(detail.vendor_code.as_deref(), code);
                assert!(detail.message.contains(text), "{}", detail.message);
            }
            other => panic!("expected vendor for {status}, got {other:?}"),
        }
    }
}

#[test]
fn non_json_reads_are_vendor_never_a_panic() {
    for body in [
        "",
        "not json",
        "[1, 2",
        "\u{0}\u{1}",
        "null",
        "{\"data\": 5}",
    ] {
        let (outcome, _) = run_action::<Vspc>(
            &ctx(),
            &session(),
            &by_id(Action::Status, ACME),
            server(read_only(ACME, text_response(200, "text/plain", body))),
        );
        assert!(
            matches!(error_of(&outcome), Failure::Vendor(_)),
            "{body:?}: {outcome:?}"
        );
    }
}

// ---------------------------------------------------------------- delete

fn delete_url(uid: &str) -> String {
    company_url(uid)
}

#[test]
fn delete_removes_a_disabled_company_and_waits_for_the_async_action() {
    let routes = vec![
        (
            Method::Get,
            company_url(ACME),
            company(ACME, "Acme Corp", "Disabled"),
        ),
        (Method::Delete, delete_url(ACME), queued("DeleteCompany")),
        (Method::Get, action_url(ACTION), async_action("running")),
        (Method::Get, action_url(ACTION), async_action("running")),
        (Method::Get, action_url(ACTION), async_action("succeed")),
    ];
    let (outcome, exchanges) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_id(Action::Delete, ACME),
        server(routes),
    );
    assert_eq!(exchanges.len(), 5);
    exchanges.iter().for_each(assert_authed);
    let delete = &exchanges[1];
    assert_eq!(delete.request.method, Method::Delete);
    assert_eq!(
        query(&delete.request.url),
        [
            ("removeAllAgents".to_string(), "true".to_string()),
            ("removeBackups".to_string(), "false".to_string())
        ]
    );
    assert_eq!(
        delete.request.effect,
        Effect::Write,
        "a repeat is refused while it runs"
    );
    assert_eq!(
        delete.intent,
        Some(Intent {
            tenant: TenantRef::new(ACME, "Acme Corp"),
            enabled_before: Some(false),
            enabled_after: None,
        })
    );
    let waits: Vec<Option<u32>> = exchanges.iter().map(|e| e.wait_ms).collect();
    assert_eq!(waits, [None, None, Some(250), Some(500), Some(1000)]);
    assert!(outcome.changed && outcome.error.is_none(), "{outcome:?}");
    assert_eq!(
        (outcome.enabled_before, outcome.enabled_after),
        (Some(false), None)
    );
    assert_eq!(outcome.notes, [DELETED_NOTE]);
}

#[test]
fn delete_flags_follow_the_configuration() {
    let ctx = context(
        BASE,
        &[
            ("username", "u"),
            ("password", "p"),
            ("remove-backups", "true"),
            ("remove-agents", "FALSE"),
        ],
        NOW,
    );
    let routes = vec![
        (
            Method::Get,
            company_url(ACME),
            company(ACME, "Acme Corp", "Disabled"),
        ),
        (
            Method::Delete,
            delete_url(ACME),
            text_response(200, "application/json", ""),
        ),
    ];
    let (outcome, exchanges) = run_action::<Vspc>(
        &ctx,
        &session(),
        &by_id(Action::Delete, ACME),
        server(routes),
    );
    assert!(
        exchanges[1]
            .request
            .url
            .ends_with("?removeAllAgents=false&removeBackups=true")
    );
    assert!(
        outcome.changed,
        "a 200 without an async action is done: {outcome:?}"
    );
}

#[test]
fn delete_refuses_an_active_or_otherwise_busy_company_and_sends_nothing() {
    for (status, words) in [
        ("Active", "enabled"),
        ("Expired", "Expired"),
        ("Deleting", "Deleting"),
    ] {
        let (outcome, exchanges) = run_action::<Vspc>(
            &ctx(),
            &session(),
            &by_id(Action::Delete, ACME),
            server(read_only(ACME, company(ACME, "Acme Corp", status))),
        );
        assert_eq!(exchanges.len(), 1, "{status}: no DELETE");
        match error_of(&outcome) {
            Failure::InvalidInput(detail) => {
                assert!(detail.message.contains(words), "{}", detail.message)
            }
            other => panic!("{status}: expected invalid input, got {other:?}"),
        }
        assert!(!outcome.changed);
    }
}

#[test]
fn a_failed_or_canceled_deletion_is_vendor_and_not_changed() {
    for end in ["failed", "canceled"] {
        let routes = vec![
            (
                Method::Get,
                company_url(ACME),
                company(ACME, "Acme Corp", "Disabled"),
            ),
            (Method::Delete, delete_url(ACME), queued("DeleteCompany")),
            (Method::Get, action_url(ACTION), async_action(end)),
        ];
        let (outcome, _) = run_action::<Vspc>(
            &ctx(),
            &session(),
            &by_id(Action::Delete, ACME),
            server(routes),
        );
        assert!(!outcome.changed);
        assert_eq!(outcome.tenant, tenant(ACME, "Acme Corp"));
        match error_of(&outcome) {
            Failure::Vendor(detail) => {
                assert!(detail.message.contains(end), "{}", detail.message);
                assert!(
                    detail.message.contains("Agents could not be removed"),
                    "{}",
                    detail.message
                );
            }
            other => panic!("expected vendor, got {other:?}"),
        }
    }
}

#[test]
fn an_async_action_that_vanished_or_never_ends_is_reported() {
    let routes = vec![
        (
            Method::Get,
            company_url(ACME),
            company(ACME, "Acme Corp", "Disabled"),
        ),
        (Method::Delete, delete_url(ACME), queued("DeleteCompany")),
        (
            Method::Get,
            action_url(ACTION),
            errors(404, json!(404), "Async action does not exist."),
        ),
    ];
    let (outcome, _) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_id(Action::Delete, ACME),
        server(routes),
    );
    assert!(
        matches!(error_of(&outcome), Failure::Vendor(d) if d.message.contains("no longer knows"))
    );

    let routes = vec![
        (
            Method::Get,
            company_url(ACME),
            company(ACME, "Acme Corp", "Disabled"),
        ),
        (Method::Delete, delete_url(ACME), queued("DeleteCompany")),
        (Method::Get, action_url(ACTION), async_action("running")),
    ];
    let (outcome, exchanges) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_id(Action::Delete, ACME),
        server(routes),
    );
    assert_eq!(
        exchanges.len(),
        2 + tenantctl_plugin_sdk::MAX_POLLS as usize
    );
    assert!(
        matches!(error_of(&outcome), Failure::Vendor(d) if d.message.contains("still running"))
    );
    assert!(!outcome.changed);
}

#[test]
fn a_company_already_gone_or_a_refused_delete() {
    let routes = vec![
        (
            Method::Get,
            company_url(ACME),
            company(ACME, "Acme Corp", "Disabled"),
        ),
        (
            Method::Delete,
            delete_url(ACME),
            errors(404, json!(404), "Company does not exist."),
        ),
    ];
    let (outcome, _) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_id(Action::Delete, ACME),
        server(routes),
    );
    assert!(outcome.changed && outcome.error.is_none(), "{outcome:?}");
    assert_eq!(outcome.notes, [GONE_NOTE]);

    let refusal = json_response(
        400,
        json!({"errors": [{"message": "The removeBackups parameter is required.", "type": "logical",
            "code": 400, "parameterName": "removeBackups"}]}),
    );
    let routes = vec![
        (
            Method::Get,
            company_url(ACME),
            company(ACME, "Acme Corp", "Disabled"),
        ),
        (Method::Delete, delete_url(ACME), refusal),
    ];
    let (outcome, _) = run_action::<Vspc>(
        &ctx(),
        &session(),
        &by_id(Action::Delete, ACME),
        server(routes),
    );
    match error_of(&outcome) {
        Failure::Vendor(detail) => assert!(
            detail.message.contains("(removeBackups)"),
            "{}",
            detail.message
        ),
        other => panic!("expected vendor, got {other:?}"),
    }
}

// ---------------------------------------------------------------- list

#[test]
fn list_pages_by_offset_until_the_total() {
    let total = 2 * PAGE_LIMIT + 3;
    let statuses = ["Active", "Disabled", "Expired"];
    let (listing, exchanges) = run_list::<Vspc>(&ctx(), &session(), |request| {
        let pairs = query(&request.url);
        assert_eq!(pairs[0], ("limit".to_string(), PAGE_LIMIT.to_string()));
        let offset: u32 = pairs[1].1.parse().unwrap();
        let items: Vec<Value> = (offset..(offset + PAGE_LIMIT).min(total))
            .map(|n| {
                let uid = format!("00000000-0000-4000-8000-{n:012}");
                company_json(&uid, &format!("Company {n}"), statuses[n as usize % 3])
            })
            .collect();
        let count = items.len();
        json_response(
            200,
            json!({"data": items, "meta": {"pagingInfo": {"total": total, "count": count, "offset": offset}}}),
        )
    });
    let offsets: Vec<String> = exchanges
        .iter()
        .map(|e| query(&e.request.url)[1].1.clone())
        .collect();
    assert_eq!(offsets, ["0", "500", "1000"]);
    exchanges.iter().for_each(assert_authed);
    assert_eq!(listing.error, None);
    assert_eq!(listing.tenants.len(), total as usize);
    let first: Vec<Option<bool>> = listing.tenants[..3].iter().map(|t| t.enabled).collect();
    assert_eq!(first, [Some(true), Some(false), Some(false)]);
    assert_eq!(listing.tenants[2].name, "Company 2");
}

#[test]
fn list_skips_entries_without_a_uid_and_ends_on_errors() {
    let page = json_response(
        200,
        json!({"data": [company_json("nope", "Bad", "Active"), {"instanceUid": ACME, "name": "Acme Corp"}],
            "meta": {"pagingInfo": {"total": 2, "count": 2, "offset": 0}}}),
    );
    let mut answers = vec![page].into_iter();
    let (listing, _) = run_list::<Vspc>(&ctx(), &session(), |_| answers.next().unwrap());
    assert_eq!(listing.tenants.len(), 1);
    assert_eq!(listing.tenants[0].enabled, None, "no status: unknown");
    for (answer, kind) in [
        (errors(401, json!(401), "expired"), "auth"),
        (
            text_response(502, "text/html", "<html>proxy</html>"),
            "vendor",
        ),
        (
            json_response(200, json!({"data": {"not": "a list"}})),
            "vendor",
        ),
    ] {
        let mut answer = Some(answer);
        let (listing, _) = run_list::<Vspc>(&ctx(), &session(), |_| answer.take().unwrap());
        assert_eq!(listing.error.as_ref().map(Failure::kind), Some(kind));
    }
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
            every_operation::<crate::Vspc>(&ctx(), &session(), ACME, &responses)?;
        }
    }
}
