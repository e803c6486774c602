use serde_json::{Value, json};
use tenantctl_plugin_sdk::testing::{
    Exchange, by_id, by_name, context, json_response, run_action, run_list, run_login,
    text_response,
};
use tenantctl_plugin_sdk::{
    Action, Context, Effect, Failure, Header, HttpRequest, HttpResponse, Intent, Method, Outcome,
    Plugin, Session, TenantRef,
};

use crate::{Commvault, DELETED_NOTE, GONE_NOTE, NAME_CACHE_SECS, PAGE_LIMIT};

const WS: &str = "https://cv.example.com/commandcenter/api";
const TOKEN: &str = "QSDK 3da0c0ffee";

fn ctx() -> Context {
    context(
        &format!("{WS}/"),
        &[("username", "msp-admin"), ("password", "pässwörd")],
        1_700_000_000,
    )
}

fn session() -> Session {
    Session::new(TOKEN, None, &json!({"username": "msp-admin"}))
}

/// Answers each request from the routes `(method, url, response)`; any other request fails
/// the test, so a test also proves what was *not* sent.
fn server(routes: Vec<(Method, String, HttpResponse)>) -> impl FnMut(&HttpRequest) -> HttpResponse {
    move |request| {
        routes
            .iter()
            .find(|(method, url, _)| *method == request.method && *url == request.url)
            .map(|(_, _, response)| response.clone())
            .unwrap_or_else(|| panic!("unexpected request {:?} {}", request.method, request.url))
    }
}

fn org_url(id: u64) -> String {
    format!("{WS}/Organization/{id}")
}

fn organization(id: u64, name: &str, backup: bool, restore: bool, login: bool) -> HttpResponse {
    json_response(
        200,
        json!({
            "organizationInfo": {
                "organization": {
                    "connectName": name,
                    "description": "",
                    "shortName": {"id": id, "domainName": name.to_lowercase()},
                    "deactivateOptions": {
                        "disableBackup": backup,
                        "disableRestore": restore,
                        "disableLogin": login,
                    }
                },
                "organizationProperties": {}
            }
        }),
    )
}

fn active(id: u64, name: &str) -> HttpResponse {
    organization(id, name, false, false, false)
}

fn deactivated(id: u64, name: &str) -> HttpResponse {
    organization(id, name, true, true, true)
}

fn action_ok() -> HttpResponse {
    json_response(
        200,
        json!({"response": {"errorCode": 0, "entity": {"id": 1}}}),
    )
}

fn read_only(id: u64, response: HttpResponse) -> Vec<(Method, String, HttpResponse)> {
    vec![(Method::Get, org_url(id), response)]
}

fn list(providers: Value) -> HttpResponse {
    json_response(200, json!({ "providers": providers }))
}

fn provider(id: u64, name: &str) -> Value {
    json!({
        "connectName": name,
        "shortName": {"id": id, "domainName": name.to_lowercase()},
        "providerGUID": format!("guid-{id}"),
    })
}

fn tenant(id: &str, name: &str) -> Option<TenantRef> {
    Some(TenantRef::new(id, name))
}

fn body_json(request: &HttpRequest) -> Value {
    serde_json::from_slice(&request.body).expect("request body is JSON")
}

fn header<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a Header> {
    request
        .headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case(name))
}

fn assert_authed(exchange: &Exchange) {
    let auth = header(&exchange.request, "Authtoken").expect("Authtoken header");
    assert_eq!(auth.value, TOKEN);
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

// ---------------------------------------------------------------- describe

#[test]
fn describe_names_the_vendor_actions_and_config() {
    let info = Commvault::describe();
    assert_eq!(info.vendor, "commvault");
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.contract, tenantctl_plugin_sdk::CONTRACT_VERSION);
    assert!(info.url_hint.contains("/commandcenter/api"));
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
            (Action::Offboard, true),
            (Action::Delete, true),
            (Action::List, false),
        ]
    );
    assert!(info.actions.iter().all(|a| !a.description.is_empty()));
    let fields: Vec<(&str, bool, bool)> = info
        .config
        .iter()
        .map(|field| (field.name.as_str(), field.secret, field.required))
        .collect();
    assert_eq!(
        fields,
        vec![("username", false, true), ("password", true, true)]
    );
}

// ---------------------------------------------------------------- login

#[test]
fn login_posts_base64_password_in_a_secret_body_and_keeps_the_token() {
    let (session, exchanges) = run_login::<Commvault>(&ctx(), |_| {
        json_response(
            200,
            json!({"token": TOKEN, "userName": "msp-admin", "errList": []}),
        )
    });
    let session = session.expect("logged in");
    assert_eq!(session.token, TOKEN);
    assert_eq!(session.expires_at, None);

    assert_eq!(exchanges.len(), 1);
    let request = &exchanges[0].request;
    assert_eq!(request.method, Method::Post);
    assert_eq!(request.url, format!("{WS}/Login"));
    assert_eq!(request.effect, Effect::Read);
    assert!(request.body_secret, "the login body holds the password");
    assert_eq!(request.header_value("Accept"), Some("application/json"));
    assert_eq!(
        request.header_value("Content-Type"),
        Some("application/json")
    );
    // base64 of the UTF-8 bytes of "pässwörd"
    assert_eq!(
        body_json(request),
        json!({"username": "msp-admin", "password": "cMOkc3N3w7ZyZA=="})
    );
    assert!(exchanges[0].intent.is_none());
}

#[test]
fn login_keeps_an_older_webconsole_url_as_given() {
    let ctx = context(
        "https://old.example.com/webconsole/api//",
        &[("username", "u"), ("password", "p")],
        0,
    );
    let (_, exchanges) =
        run_login::<Commvault>(&ctx, |_| json_response(200, json!({"token": "t"})));
    assert_eq!(
        exchanges[0].request.url,
        "https://old.example.com/webconsole/api/Login"
    );
}

#[test]
fn login_without_password_fails_before_any_request() {
    let ctx = context(WS, &[("username", "msp-admin")], 0);
    let (result, exchanges) = run_login::<Commvault>(&ctx, |_| panic!("no request may be sent"));
    assert!(exchanges.is_empty());
    match result {
        Err(Failure::InvalidInput(detail)) => assert!(detail.message.contains("password")),
        other => panic!("expected invalid input, got {other:?}"),
    }
}

#[test]
fn login_without_url_fails_before_any_request() {
    let ctx = context(" ", &[("username", "u"), ("password", "p")], 0);
    let (result, exchanges) = run_login::<Commvault>(&ctx, |_| panic!("no request may be sent"));
    assert!(exchanges.is_empty());
    assert!(
        matches!(result, Err(Failure::InvalidInput(_))),
        "{result:?}"
    );
}

#[test]
fn login_refused_as_200_with_err_list_is_auth_with_code_and_message() {
    let (result, _) = run_login::<Commvault>(&ctx(), |_| {
        json_response(
            200,
            json!({"errList": [{"errorCode": 1116, "errLogMessage": "Invalid Username or Password"}]}),
        )
    });
    match result {
        Err(Failure::Auth(detail)) => {
            assert_eq!(detail.vendor_code.as_deref(), Some("1116"));
            assert_eq!(detail.http_status, Some(200));
            assert!(
                detail.message.contains("Invalid Username or Password"),
                "{}",
                detail.message
            );
            assert!(detail.message.contains("msp-admin"));
        }
        other => panic!("expected auth, got {other:?}"),
    }
}

#[test]
fn login_200_without_token_or_errors_is_auth() {
    let (result, _) = run_login::<Commvault>(&ctx(), |_| {
        json_response(200, json!({"token": "", "errList": []}))
    });
    assert!(matches!(result, Err(Failure::Auth(_))), "{result:?}");
}

#[test]
fn login_401_is_auth() {
    let (result, _) = run_login::<Commvault>(&ctx(), |_| {
        json_response(
            401,
            json!({"errorMessage": "Access denied", "errorCode": 5}),
        )
    });
    match result {
        Err(Failure::Auth(detail)) => {
            assert_eq!(detail.http_status, Some(401));
            assert_eq!(detail.vendor_code.as_deref(), Some("5"));
            assert!(detail.message.contains("Access denied"));
        }
        other => panic!("expected auth, got {other:?}"),
    }
}

#[test]
fn login_non_json_answer_is_vendor_with_an_excerpt() {
    let (result, _) = run_login::<Commvault>(&ctx(), |_| {
        text_response(200, "text/html", "<html>Proxy login page</html>")
    });
    match result {
        Err(Failure::Vendor(detail)) => {
            assert_eq!(detail.http_status, Some(200));
            assert!(
                detail.message.contains("Proxy login page"),
                "{}",
                detail.message
            );
        }
        other => panic!("expected vendor, got {other:?}"),
    }
}

#[test]
fn login_server_error_and_rate_limit_are_mapped() {
    let (result, _) = run_login::<Commvault>(&ctx(), |_| {
        text_response(503, "text/plain", "Service Unavailable")
    });
    match result {
        Err(Failure::Vendor(detail)) => {
            assert_eq!(detail.http_status, Some(503));
            assert!(detail.message.contains("Service Unavailable"));
        }
        other => panic!("expected vendor, got {other:?}"),
    }
    let (result, _) = run_login::<Commvault>(&ctx(), |_| {
        with_headers(
            text_response(429, "text/plain", ""),
            &[("Retry-After", "30")],
        )
    });
    match result {
        Err(Failure::RateLimited(limit)) => assert_eq!(limit.retry_after, Some(30)),
        other => panic!("expected rate limited, got {other:?}"),
    }
}

// ---------------------------------------------------------------- input checks

#[test]
fn ids_that_are_not_positive_integers_fail_before_any_request() {
    for id in ["", " ", "abc", "0", "-3", "+5", "4.0", "12a", "1e3"] {
        let (outcome, exchanges) =
            run_action::<Commvault>(&ctx(), &session(), &by_id(Action::Disable, id), |_| {
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
        run_action::<Commvault>(&ctx(), &session(), &by_name(Action::Status, "  "), |_| {
            panic!("no request may be sent")
        });
    assert!(exchanges.is_empty());
    assert!(matches!(error_of(&outcome), Failure::InvalidInput(_)));
}

// ---------------------------------------------------------------- status

#[test]
fn status_of_an_active_company_reads_with_the_token_and_changes_nothing() {
    let (outcome, exchanges) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Status, " 42 "),
        server(read_only(42, active(42, "Acme Corp"))),
    );
    assert_eq!(exchanges.len(), 1);
    assert_authed(&exchanges[0]);
    assert_eq!(exchanges[0].request.method, Method::Get);
    assert_eq!(exchanges[0].request.effect, Effect::Read);
    assert!(exchanges[0].intent.is_none());
    assert_eq!(outcome.tenant, tenant("42", "Acme Corp"));
    assert_eq!(
        (outcome.enabled_before, outcome.enabled_after),
        (Some(true), Some(true))
    );
    assert!(!outcome.changed);
    assert!(outcome.error.is_none());
}

#[test]
fn status_of_a_deactivated_company_is_disabled() {
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Status, "42"),
        server(read_only(42, deactivated(42, "Acme Corp"))),
    );
    assert_eq!(
        (outcome.enabled_before, outcome.enabled_after),
        (Some(false), Some(false))
    );
    assert!(!outcome.changed && outcome.error.is_none());
    assert!(outcome.notes.iter().all(|note| !note.contains("Partly")));
}

#[test]
fn status_of_a_partly_deactivated_company_is_disabled_with_a_note_naming_the_parts() {
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Status, "42"),
        server(read_only(
            42,
            organization(42, "Acme Corp", true, false, true),
        )),
    );
    assert_eq!(
        (outcome.enabled_before, outcome.enabled_after),
        (Some(false), Some(false))
    );
    assert!(!outcome.changed && outcome.error.is_none());
    let notes = outcome.notes.join(" ");
    assert!(
        notes.contains("backup and login are disabled, restore is not"),
        "{notes}"
    );
}

#[test]
fn missing_deactivate_options_read_as_active() {
    let response = json_response(
        200,
        json!({"organizationInfo": {"organization": {
            "connectName": "Acme Corp",
            "shortName": {"id": "42"},
            "deactivateOptions": {"disableLogin": false}
        }}}),
    );
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Status, "42"),
        server(read_only(42, response)),
    );
    assert_eq!(outcome.enabled_before, Some(true));
    assert_eq!(outcome.tenant, tenant("42", "Acme Corp"));
}

#[test]
fn unknown_id_is_not_found() {
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Status, "404"),
        server(read_only(
            404,
            json_response(
                404,
                json!({"errorMessage": "Organization not found", "errorCode": 2}),
            ),
        )),
    );
    match error_of(&outcome) {
        Failure::NotFound(detail) => {
            assert_eq!(detail.http_status, Some(404));
            assert_eq!(detail.vendor_code.as_deref(), Some("2"));
            assert!(detail.message.contains("Organization not found"));
        }
        other => panic!("expected not found, got {other:?}"),
    }
    assert!(outcome.tenant.is_none());
}

#[test]
fn unknown_id_reported_as_200_with_an_error_body_is_not_found() {
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Status, "9"),
        server(read_only(
            9,
            json_response(
                200,
                json!({"errorMessage": "Organization not found", "errorCode": 2}),
            ),
        )),
    );
    assert!(
        matches!(error_of(&outcome), Failure::NotFound(_)),
        "{outcome:?}"
    );
}

#[test]
fn a_read_without_the_organization_is_vendor() {
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Disable, "7"),
        server(read_only(
            7,
            json_response(200, json!({"something": "else"})),
        )),
    );
    match error_of(&outcome) {
        Failure::Vendor(detail) => assert!(detail.message.contains("organizationInfo")),
        other => panic!("expected vendor, got {other:?}"),
    }
}

// ---------------------------------------------------------------- names

#[test]
fn names_match_case_insensitively_and_in_full() {
    let routes = vec![
        (
            Method::Get,
            format!("{WS}/Organization"),
            list(json!([
                provider(5, "ACME Corporation"),
                provider(6, "ACME Corp"),
                provider(6, "acme corp"),
                provider(8, "Acme"),
            ])),
        ),
        (Method::Get, org_url(6), active(6, "ACME Corp")),
    ];
    let (outcome, exchanges) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_name(Action::Status, " acme corp "),
        server(routes),
    );
    assert!(outcome.error.is_none(), "{outcome:?}");
    assert_eq!(outcome.tenant, tenant("6", "ACME Corp"));
    assert_eq!(exchanges.len(), 2);
    exchanges.iter().for_each(assert_authed);
}

#[test]
fn a_prefix_of_a_name_is_not_a_match() {
    let routes = vec![(
        Method::Get,
        format!("{WS}/Organization"),
        list(json!([
            provider(5, "ACME Corporation"),
            provider(8, "Acme")
        ])),
    )];
    let (outcome, exchanges) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_name(Action::Disable, "ACME Corp"),
        server(routes),
    );
    assert_eq!(exchanges.len(), 1);
    assert!(
        matches!(error_of(&outcome), Failure::NotFound(_)),
        "{outcome:?}"
    );
}

#[test]
fn several_matching_names_are_ambiguous_and_list_the_ids() {
    let routes = vec![(
        Method::Get,
        format!("{WS}/Organization"),
        list(json!([
            provider(11, "Acme"),
            provider(12, "ACME"),
            provider(13, "Other")
        ])),
    )];
    let (outcome, exchanges) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_name(Action::Disable, "acme"),
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
                detail.message.contains("11") && detail.message.contains("12"),
                "{}",
                detail.message
            );
            assert!(!detail.message.contains("13"));
        }
        other => panic!("expected ambiguous, got {other:?}"),
    }
}

#[test]
fn an_empty_or_missing_provider_list_is_not_found() {
    for body in [
        json!({}),
        json!({"providers": []}),
        json!({"providers": null}),
    ] {
        let routes = vec![(
            Method::Get,
            format!("{WS}/Organization"),
            json_response(200, body.clone()),
        )];
        let (outcome, _) = run_action::<Commvault>(
            &ctx(),
            &session(),
            &by_name(Action::Status, "Acme"),
            server(routes),
        );
        assert!(
            matches!(error_of(&outcome), Failure::NotFound(_)),
            "{body}: {outcome:?}"
        );
    }
}

#[test]
fn a_company_found_by_name_keeps_its_name_when_the_read_fails() {
    let routes = vec![
        (
            Method::Get,
            format!("{WS}/Organization"),
            list(json!([provider(6, "Acme")])),
        ),
        (
            Method::Get,
            org_url(6),
            text_response(500, "text/plain", "boom"),
        ),
    ];
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_name(Action::Status, "acme"),
        server(routes),
    );
    assert_eq!(outcome.tenant, tenant("6", "Acme"));
    assert!(matches!(error_of(&outcome), Failure::Vendor(_)));
}

// ---------------------------------------------------------------- disable

#[test]
fn disable_deactivates_an_active_company_with_an_intent() {
    let routes = vec![
        (Method::Get, org_url(42), active(42, "Acme Corp")),
        (
            Method::Post,
            format!("{WS}/Organization/42/action/deactivate"),
            action_ok(),
        ),
    ];
    let (outcome, exchanges) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Disable, "42"),
        server(routes),
    );
    assert_eq!(exchanges.len(), 2);
    let write = &exchanges[1];
    assert_authed(write);
    assert_eq!(write.request.effect, Effect::IdempotentWrite);
    assert_eq!(
        write.request.header_value("Content-Type"),
        Some("application/json")
    );
    assert!(!write.request.body_secret);
    assert_eq!(
        body_json(&write.request),
        json!({"deactivateOptions": {"disableBackup": true, "disableRestore": true, "disableLogin": true}})
    );
    assert_eq!(
        write.intent,
        Some(Intent {
            tenant: TenantRef::new("42", "Acme Corp"),
            enabled_before: Some(true),
            enabled_after: Some(false),
        })
    );
    assert!(outcome.changed);
    assert!(outcome.error.is_none());
    assert_eq!(
        (outcome.enabled_before, outcome.enabled_after),
        (Some(true), Some(false))
    );
}

#[test]
fn disable_of_a_deactivated_company_sends_nothing() {
    let (outcome, exchanges) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Disable, "42"),
        server(read_only(42, deactivated(42, "Acme Corp"))),
    );
    assert_eq!(exchanges.len(), 1);
    assert!(!outcome.changed && outcome.error.is_none());
    assert_eq!(
        (outcome.enabled_before, outcome.enabled_after),
        (Some(false), Some(false))
    );
}

#[test]
fn disable_completes_a_partly_deactivated_company() {
    let routes = vec![
        (
            Method::Get,
            org_url(42),
            organization(42, "Acme Corp", false, true, false),
        ),
        (
            Method::Post,
            format!("{WS}/Organization/42/action/deactivate"),
            action_ok(),
        ),
    ];
    let (outcome, exchanges) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Disable, "42"),
        server(routes),
    );
    assert_eq!(exchanges.len(), 2);
    let intent = exchanges[1].intent.clone().expect("intent");
    assert_eq!(
        (intent.enabled_before, intent.enabled_after),
        (Some(false), Some(false))
    );
    assert!(outcome.changed && outcome.error.is_none());
    assert!(
        outcome
            .notes
            .iter()
            .any(|note| note.contains("restore is disabled, backup and login are not")),
        "{:?}",
        outcome.notes
    );
}

#[test]
fn deactivate_answered_200_with_an_error_code_is_vendor() {
    let routes = vec![
        (Method::Get, org_url(42), active(42, "Acme Corp")),
        (
            Method::Post,
            format!("{WS}/Organization/42/action/deactivate"),
            json_response(
                200,
                json!({"response": {"errorCode": 1033}, "error": {"errorMessage": "Company is locked", "errorCode": 1033}}),
            ),
        ),
    ];
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Disable, "42"),
        server(routes),
    );
    assert!(!outcome.changed);
    assert_eq!(outcome.tenant, tenant("42", "Acme Corp"));
    assert_eq!(outcome.enabled_before, Some(true));
    match error_of(&outcome) {
        Failure::Vendor(detail) => {
            assert_eq!(detail.vendor_code.as_deref(), Some("1033"));
            assert_eq!(detail.http_status, Some(200));
            assert!(
                detail.message.contains("Company is locked"),
                "{}",
                detail.message
            );
        }
        other => panic!("expected vendor, got {other:?}"),
    }
}

#[test]
fn the_error_message_may_sit_in_response_error_string_and_the_code_may_be_a_string() {
    let routes = vec![
        (Method::Get, org_url(42), active(42, "Acme Corp")),
        (
            Method::Post,
            format!("{WS}/Organization/42/action/deactivate"),
            json_response(
                200,
                json!({"response": {"errorCode": "7", "errorString": "Operation not permitted"}}),
            ),
        ),
    ];
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Disable, "42"),
        server(routes),
    );
    match error_of(&outcome) {
        Failure::Vendor(detail) => {
            assert_eq!(detail.vendor_code.as_deref(), Some("7"));
            assert!(detail.message.contains("Operation not permitted"));
        }
        other => panic!("expected vendor, got {other:?}"),
    }
}

#[test]
fn a_zero_error_code_as_a_string_is_success() {
    let routes = vec![
        (Method::Get, org_url(42), active(42, "Acme Corp")),
        (
            Method::Post,
            format!("{WS}/Organization/42/action/deactivate"),
            json_response(200, json!({"response": {"errorCode": "0"}})),
        ),
    ];
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Disable, "42"),
        server(routes),
    );
    assert!(outcome.changed && outcome.error.is_none(), "{outcome:?}");
}

#[test]
fn a_non_json_answer_to_a_write_is_vendor_and_not_changed() {
    let routes = vec![
        (Method::Get, org_url(42), active(42, "Acme Corp")),
        (
            Method::Post,
            format!("{WS}/Organization/42/action/deactivate"),
            text_response(200, "text/html", "<html>gateway</html>"),
        ),
    ];
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Disable, "42"),
        server(routes),
    );
    assert!(!outcome.changed);
    match error_of(&outcome) {
        Failure::Vendor(detail) => assert!(detail.message.contains("<html>gateway</html>")),
        other => panic!("expected vendor, got {other:?}"),
    }
}

// ---------------------------------------------------------------- enable

#[test]
fn enable_activates_a_deactivated_company_without_a_body() {
    let routes = vec![
        (Method::Get, org_url(42), deactivated(42, "Acme Corp")),
        (
            Method::Post,
            format!("{WS}/Organization/42/action/activate"),
            action_ok(),
        ),
    ];
    let (outcome, exchanges) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Enable, "42"),
        server(routes),
    );
    assert_eq!(exchanges.len(), 2);
    let write = &exchanges[1];
    assert_authed(write);
    assert!(write.request.body.is_empty());
    assert_eq!(write.request.effect, Effect::IdempotentWrite);
    assert_eq!(
        write.intent,
        Some(Intent {
            tenant: TenantRef::new("42", "Acme Corp"),
            enabled_before: Some(false),
            enabled_after: Some(true),
        })
    );
    assert!(outcome.changed && outcome.error.is_none());
    assert_eq!(
        (outcome.enabled_before, outcome.enabled_after),
        (Some(false), Some(true))
    );
}

#[test]
fn enable_of_an_active_company_sends_nothing() {
    let (outcome, exchanges) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Enable, "42"),
        server(read_only(42, active(42, "Acme Corp"))),
    );
    assert_eq!(exchanges.len(), 1);
    assert!(!outcome.changed && outcome.error.is_none());
    assert_eq!(
        (outcome.enabled_before, outcome.enabled_after),
        (Some(true), Some(true))
    );
}

#[test]
fn enable_activates_a_partly_deactivated_company() {
    let routes = vec![
        (
            Method::Get,
            org_url(42),
            organization(42, "Acme Corp", false, false, true),
        ),
        (
            Method::Post,
            format!("{WS}/Organization/42/action/activate"),
            action_ok(),
        ),
    ];
    let (outcome, exchanges) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Enable, "42"),
        server(routes),
    );
    assert_eq!(exchanges.len(), 2);
    assert!(outcome.changed);
    assert_eq!(outcome.enabled_after, Some(true));
}

#[test]
fn activate_answered_200_with_an_error_code_is_vendor() {
    let routes = vec![
        (Method::Get, org_url(42), deactivated(42, "Acme Corp")),
        (
            Method::Post,
            format!("{WS}/Organization/42/action/activate"),
            json_response(
                200,
                json!({"response": {"errorCode": 2}, "error": {"errorMessage": "Activation failed"}}),
            ),
        ),
    ];
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Enable, "42"),
        server(routes),
    );
    assert!(!outcome.changed);
    match error_of(&outcome) {
        Failure::Vendor(detail) => {
            assert_eq!(detail.vendor_code.as_deref(), Some("2"));
            assert!(detail.message.contains("Activation failed"));
        }
        other => panic!("expected vendor, got {other:?}"),
    }
}

// ---------------------------------------------------------------- offboard

fn offboard_routes(
    company: HttpResponse,
    answer: HttpResponse,
) -> Vec<(Method, String, HttpResponse)> {
    vec![
        (Method::Get, org_url(42), company),
        (Method::Post, format!("{WS}/Tenant/Offboard"), answer),
    ]
}

#[test]
fn offboard_reads_then_posts_the_numeric_id_and_is_always_changed() {
    for (company, enabled) in [
        (active(42, "Acme Corp"), true),
        (deactivated(42, "Acme Corp"), false),
    ] {
        let (outcome, exchanges) = run_action::<Commvault>(
            &ctx(),
            &session(),
            &by_id(Action::Offboard, "42"),
            server(offboard_routes(
                company,
                json_response(
                    200,
                    json!({"errorMessage": "Successfully offboarded tenant 42", "errorCode": 0}),
                ),
            )),
        );
        assert_eq!(exchanges.len(), 2);
        assert_eq!(exchanges[0].request.method, Method::Get);
        let write = &exchanges[1];
        assert_authed(write);
        assert_eq!(write.request.effect, Effect::IdempotentWrite);
        assert_eq!(body_json(&write.request), json!({"tenantId": 42}));
        assert_eq!(
            write.intent,
            Some(Intent {
                tenant: TenantRef::new("42", "Acme Corp"),
                enabled_before: Some(enabled),
                enabled_after: Some(enabled),
            })
        );
        assert!(outcome.changed && outcome.error.is_none(), "{outcome:?}");
        assert_eq!(
            (outcome.enabled_before, outcome.enabled_after),
            (Some(enabled), Some(enabled))
        );
        let notes = outcome.notes.join(" ");
        assert!(notes.contains("owner of their clients"), "{notes}");
        assert!(notes.contains("not deactivated"), "{notes}");
        assert!(notes.contains("cannot undo"), "{notes}");
    }
}

#[test]
fn offboard_answered_200_with_an_error_code_is_vendor() {
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Offboard, "42"),
        server(offboard_routes(
            active(42, "Acme Corp"),
            json_response(
                200,
                json!({"errorMessage": "Failed to offboard tenant", "errorCode": 2}),
            ),
        )),
    );
    assert!(!outcome.changed);
    assert_eq!(outcome.tenant, tenant("42", "Acme Corp"));
    match error_of(&outcome) {
        Failure::Vendor(detail) => {
            assert_eq!(detail.vendor_code.as_deref(), Some("2"));
            assert!(detail.message.contains("Failed to offboard tenant"));
        }
        other => panic!("expected vendor, got {other:?}"),
    }
}

#[test]
fn offboard_of_an_unknown_company_sends_no_write() {
    let (outcome, exchanges) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Offboard, "42"),
        server(read_only(
            42,
            json_response(
                404,
                json!({"errorMessage": "Organization not found", "errorCode": 2}),
            ),
        )),
    );
    assert_eq!(exchanges.len(), 1);
    assert!(matches!(error_of(&outcome), Failure::NotFound(_)));
}

#[test]
fn offboard_by_name_uses_the_listed_id() {
    let routes = vec![
        (
            Method::Get,
            format!("{WS}/Organization"),
            list(json!([provider(42, "Acme Corp")])),
        ),
        (Method::Get, org_url(42), active(42, "Acme Corp")),
        (
            Method::Post,
            format!("{WS}/Tenant/Offboard"),
            json_response(200, json!({"errorCode": 0})),
        ),
    ];
    let (outcome, exchanges) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_name(Action::Offboard, "acme corp"),
        server(routes),
    );
    assert_eq!(exchanges.len(), 3);
    assert_eq!(body_json(&exchanges[2].request), json!({"tenantId": 42}));
    assert!(outcome.changed);
}

// ---------------------------------------------------------------- HTTP errors

#[test]
fn a_401_on_a_read_or_a_write_is_session_expired() {
    let expired = || {
        json_response(
            401,
            json!({"errorMessage": "Access denied", "errorCode": 5}),
        )
    };
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Status, "42"),
        server(read_only(42, expired())),
    );
    match error_of(&outcome) {
        Failure::SessionExpired(detail) => {
            assert_eq!(detail.http_status, Some(401));
            assert_eq!(detail.vendor_code.as_deref(), Some("5"));
        }
        other => panic!("expected session expired, got {other:?}"),
    }

    let routes = vec![
        (Method::Get, org_url(42), active(42, "Acme Corp")),
        (
            Method::Post,
            format!("{WS}/Organization/42/action/deactivate"),
            expired(),
        ),
    ];
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Disable, "42"),
        server(routes),
    );
    assert!(matches!(error_of(&outcome), Failure::SessionExpired(_)));
    assert!(!outcome.changed);

    let routes = vec![(Method::Get, format!("{WS}/Organization"), expired())];
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_name(Action::Status, "acme"),
        server(routes),
    );
    assert!(matches!(error_of(&outcome), Failure::SessionExpired(_)));
}

#[test]
fn a_403_is_auth() {
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Status, "42"),
        server(read_only(
            42,
            json_response(
                403,
                json!({"errorMessage": "No permission", "errorCode": 9}),
            ),
        )),
    );
    match error_of(&outcome) {
        Failure::Auth(detail) => {
            assert_eq!(detail.http_status, Some(403));
            assert!(detail.message.contains("No permission"));
        }
        other => panic!("expected auth, got {other:?}"),
    }
}

#[test]
fn a_404_on_a_write_is_not_found() {
    let routes = vec![
        (Method::Get, org_url(42), active(42, "Acme Corp")),
        (
            Method::Post,
            format!("{WS}/Organization/42/action/deactivate"),
            json_response(
                404,
                json!({"errorMessage": "Organization not found", "errorCode": 2}),
            ),
        ),
    ];
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Disable, "42"),
        server(routes),
    );
    assert!(matches!(error_of(&outcome), Failure::NotFound(_)));
    assert_eq!(outcome.tenant, tenant("42", "Acme Corp"));
}

#[test]
fn a_429_is_rate_limited_with_retry_after_and_the_limit_headers() {
    let limited = with_headers(
        json_response(429, json!({"errorMessage": "Too many requests"})),
        &[
            ("Retry-After", "120"),
            ("X-RateLimit-Limit", "100"),
            ("X-RateLimit-Period", "3600"),
        ],
    );
    let routes = vec![
        (Method::Get, org_url(42), active(42, "Acme Corp")),
        (
            Method::Post,
            format!("{WS}/Organization/42/action/deactivate"),
            limited,
        ),
    ];
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Disable, "42"),
        server(routes),
    );
    assert!(!outcome.changed);
    match error_of(&outcome) {
        Failure::RateLimited(limit) => {
            assert_eq!(limit.retry_after, Some(120));
            assert_eq!(limit.detail.http_status, Some(429));
            let message = &limit.detail.message;
            assert!(message.contains("limit 100"), "{message}");
            assert!(message.contains("period 3600"), "{message}");
        }
        other => panic!("expected rate limited, got {other:?}"),
    }
}

#[test]
fn a_5xx_is_vendor_with_the_code_and_message_when_the_body_has_them() {
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Status, "42"),
        server(read_only(
            42,
            json_response(
                500,
                json!({"errorMessage": "Database unavailable", "errorCode": "17"}),
            ),
        )),
    );
    match error_of(&outcome) {
        Failure::Vendor(detail) => {
            assert_eq!(detail.http_status, Some(500));
            assert_eq!(detail.vendor_code.as_deref(), Some("17"));
            assert!(detail.message.contains("Database unavailable"));
        }
        other => panic!("expected vendor, got {other:?}"),
    }
}

#[test]
fn a_5xx_without_json_is_vendor_with_an_excerpt() {
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Status, "42"),
        server(read_only(
            42,
            text_response(502, "text/html", "<html><h1>502 Bad Gateway</h1></html>"),
        )),
    );
    match error_of(&outcome) {
        Failure::Vendor(detail) => {
            assert_eq!(detail.http_status, Some(502));
            assert_eq!(detail.vendor_code, None);
            assert!(
                detail.message.contains("502 Bad Gateway"),
                "{}",
                detail.message
            );
        }
        other => panic!("expected vendor, got {other:?}"),
    }
}

#[test]
fn a_non_json_read_is_vendor_never_a_panic() {
    for body in ["", "not json", "[1, 2", "\u{0}\u{1}"] {
        let (outcome, _) = run_action::<Commvault>(
            &ctx(),
            &session(),
            &by_id(Action::Status, "42"),
            server(read_only(42, text_response(200, "text/plain", body))),
        );
        assert!(
            matches!(error_of(&outcome), Failure::Vendor(_)),
            "{body:?}: {outcome:?}"
        );
    }
    let routes = vec![(
        Method::Get,
        format!("{WS}/Organization"),
        text_response(200, "text/html", "<html>login</html>"),
    )];
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_name(Action::Status, "acme"),
        server(routes),
    );
    assert!(matches!(error_of(&outcome), Failure::Vendor(_)));
}

// ---------------------------------------------------------------- delete

fn deleted(id: u64) -> HttpResponse {
    json_response(
        200,
        json!({"errorCode": 0, "errorMessage": format!("Successfully deleted company {id}")}),
    )
}

#[test]
fn delete_removes_a_deactivated_company_after_reading_it() {
    let routes = vec![
        (Method::Get, org_url(5), deactivated(5, "Dormant Ltd")),
        (Method::Delete, org_url(5), deleted(5)),
    ];
    let (outcome, exchanges) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Delete, "5"),
        server(routes),
    );
    assert_eq!(exchanges.len(), 2);
    exchanges.iter().for_each(assert_authed);
    let delete = &exchanges[1];
    assert_eq!(delete.request.method, Method::Delete);
    assert_eq!(delete.request.effect, Effect::IdempotentWrite);
    assert_eq!(
        delete.intent,
        Some(Intent {
            tenant: TenantRef::new("5", "Dormant Ltd"),
            enabled_before: Some(false),
            enabled_after: None,
        })
    );
    assert!(outcome.changed && outcome.error.is_none(), "{outcome:?}");
    assert_eq!(outcome.tenant, tenant("5", "Dormant Ltd"));
    assert_eq!(
        outcome.notes,
        [
            DELETED_NOTE.to_string(),
            "Commvault said: Successfully deleted company 5".to_string()
        ]
    );
}

#[test]
fn delete_refuses_an_active_or_partly_deactivated_company_and_sends_nothing() {
    for (answer, words) in [
        (active(7, "Acme Corp"), "enabled"),
        (
            organization(7, "Halfway Inc", false, false, true),
            "login is disabled",
        ),
    ] {
        let (outcome, exchanges) = run_action::<Commvault>(
            &ctx(),
            &session(),
            &by_id(Action::Delete, "7"),
            server(read_only(7, answer)),
        );
        assert_eq!(exchanges.len(), 1, "no DELETE");
        match error_of(&outcome) {
            Failure::InvalidInput(detail) => {
                assert!(detail.message.contains(words), "{}", detail.message);
                assert!(detail.message.contains("disable"), "{}", detail.message);
            }
            other => panic!("expected invalid input, got {other:?}"),
        }
        assert!(!outcome.changed);
    }
}

#[test]
fn a_delete_refused_as_http_200_with_an_error_code_is_vendor() {
    let refusal = json_response(
        200,
        json!({"errorCode": 2, "errorMessage": "The company must be deactivated before it can be deleted"}),
    );
    let routes = vec![
        (Method::Get, org_url(5), deactivated(5, "Dormant Ltd")),
        (Method::Delete, org_url(5), refusal),
    ];
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Delete, "5"),
        server(routes),
    );
    match error_of(&outcome) {
        Failure::Vendor(detail) => {
            assert_eq!(detail.vendor_code.as_deref(), Some("2"));
            assert!(
                detail.message.contains("must be deactivated"),
                "{}",
                detail.message
            );
        }
        other => panic!("expected vendor, got {other:?}"),
    }
    assert!(!outcome.changed);
    assert_eq!(outcome.tenant, tenant("5", "Dormant Ltd"));
}

#[test]
fn a_company_already_gone_when_the_delete_arrives_counts_as_deleted() {
    let gone = json_response(
        404,
        json!({"errorMessage": "Organization not found", "errorCode": 2}),
    );
    let routes = vec![
        (Method::Get, org_url(5), deactivated(5, "Dormant Ltd")),
        (Method::Delete, org_url(5), gone),
    ];
    let (outcome, _) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_id(Action::Delete, "5"),
        server(routes),
    );
    assert!(outcome.changed && outcome.error.is_none(), "{outcome:?}");
    assert!(outcome.notes.contains(&GONE_NOTE.to_string()));
}

#[test]
fn delete_by_name_finds_the_company_in_the_cached_list() {
    let routes = vec![
        (
            Method::Get,
            format!("{WS}/Organization"),
            list(json!([
                provider(5, "Dormant Ltd"),
                provider(6, "Acme Corp")
            ])),
        ),
        (Method::Get, org_url(5), deactivated(5, "Dormant Ltd")),
        (Method::Delete, org_url(5), deleted(5)),
    ];
    let (outcome, exchanges) = run_action::<Commvault>(
        &ctx(),
        &session(),
        &by_name(Action::Delete, "dormant ltd"),
        server(routes),
    );
    assert!(outcome.changed, "{outcome:?}");
    assert_eq!(exchanges[0].request.cache_for, Some(NAME_CACHE_SECS));
    assert!(
        exchanges[1..].iter().all(|e| e.request.cache_for.is_none()),
        "reads before a write are never served from a cache"
    );
}

// ---------------------------------------------------------------- list

fn listed(id: u64, name: &str, status: Option<&str>) -> Value {
    let mut entry = provider(id, name);
    if let Some(status) = status {
        entry["status"] = json!(status);
    }
    entry
}

fn page_url(start: u32) -> String {
    format!("{WS}/Organization?start={start}&limit={PAGE_LIMIT}")
}

#[test]
fn list_pages_with_start_and_limit_until_the_total_is_reached() {
    let total = 2 * PAGE_LIMIT + 3;
    let (listing, exchanges) = run_list::<Commvault>(&ctx(), &session(), |request| {
        let start: u32 = request
            .url
            .split("start=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let providers: Vec<Value> = (start..(start + PAGE_LIMIT).min(total))
            .map(|n| {
                let status = ["ACTIVE", "DEACTIVATED", "SOMETHING"][n as usize % 3];
                listed(u64::from(n) + 1, &format!("Company {n}"), Some(status))
            })
            .collect();
        json_response(
            200,
            json!({"providers": providers, "filterQueryCount": total}),
        )
    });
    let urls: Vec<String> = exchanges.iter().map(|e| e.request.url.clone()).collect();
    assert_eq!(
        urls,
        [page_url(0), page_url(PAGE_LIMIT), page_url(2 * PAGE_LIMIT)]
    );
    exchanges.iter().for_each(assert_authed);
    assert_eq!(listing.error, None);
    assert_eq!(listing.pages, 3);
    assert_eq!(listing.tenants.len(), total as usize);
    let first: Vec<(&str, Option<bool>)> = listing.tenants[..3]
        .iter()
        .map(|t| (t.id.as_str(), t.enabled))
        .collect();
    assert_eq!(first, [("1", Some(true)), ("2", Some(false)), ("3", None)]);
    assert_eq!(listing.tenants[1].name, "Company 1");
}

#[test]
fn list_without_a_total_stops_at_a_short_page_and_skips_entries_without_an_id() {
    let full: Vec<Value> = (1..=u64::from(PAGE_LIMIT))
        .map(|n| listed(n, "C", None))
        .collect();
    let pages = vec![
        json_response(200, json!({ "providers": full })),
        json_response(
            200,
            json!({"providers": [{"connectName": "No id", "shortName": {"id": "x"}}, listed(2001, "Last", Some("ACTIVE"))]}),
        ),
    ];
    let mut pages = pages.into_iter();
    let (listing, exchanges) = run_list::<Commvault>(&ctx(), &session(), |_| pages.next().unwrap());
    assert_eq!(exchanges.len(), 2);
    assert_eq!(listing.tenants.len(), PAGE_LIMIT as usize + 1);
    assert_eq!(listing.tenants.last().unwrap().enabled, Some(true));
    assert!(listing.tenants[..3].iter().all(|t| t.enabled.is_none()));
}

#[test]
fn list_failures_end_the_listing_with_the_error() {
    for (answer, kind) in [
        (
            json_response(
                401,
                json!({"errorMessage": "Access denied", "errorCode": 5}),
            ),
            "auth",
        ),
        (
            json_response(200, json!({"errorCode": 7, "errorMessage": "Denied"})),
            "vendor",
        ),
        (
            text_response(503, "text/html", "<html>down</html>"),
            "vendor",
        ),
    ] {
        let mut answer = Some(answer);
        let (listing, _) = run_list::<Commvault>(&ctx(), &session(), |_| answer.take().unwrap());
        assert_eq!(listing.error.as_ref().map(Failure::kind), Some(kind));
        assert!(listing.tenants.is_empty());
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
            every_operation::<crate::Commvault>(&ctx(), &session(), "42", &responses)?;
        }
    }
}
