//! Commvault end to end: the real plugin in the wasmtime host, real HTTP on loopback, the
//! simulator injecting the faults vendor-apis.md lists.

mod common;

use common::*;
use tenantctl::{Action, ErrorKind, RunOptions, Status};
use tenantctl_simulator::{
    CommvaultConfig, CommvaultSim, Fault, FaultRule, LoginFailure, RateLimit,
};

fn sim() -> CommvaultSim {
    CommvaultSim::start(CommvaultConfig::default())
}

fn run(sim: &CommvaultSim, request: tenantctl::ActionRequest) -> tenantctl::TenantResult {
    block_on(commvault_account(sim, quick_http()).run(&request, &RunOptions::default()))
}

#[test]
fn login_sends_the_password_base64_encoded_and_uses_the_token() {
    let sim = sim();
    let result = run(&sim, by_id(Action::Status, sim.acme_corp_id()));
    assert_eq!(result.status, Status::Unchanged, "{result:?}");
    let requests = sim.requests();
    let login = requests
        .iter()
        .find(|r| r.matches("POST", "/login"))
        .unwrap();
    let body = login.body_json().unwrap();
    assert_eq!(body["username"], sim.username());
    assert_eq!(
        body["password"], "ZGVtby1wYXNzd29yZA==",
        "base64 of demo-password"
    );
    let read = requests
        .iter()
        .find(|r| r.matches("GET", "/organization/"))
        .unwrap();
    assert!(
        read.header("Authtoken")
            .is_some_and(|t| t.starts_with("QSDK")),
        "{read:?}"
    );
}

#[test]
fn a_login_refused_with_http_200_or_401_is_an_auth_error() {
    for style in [LoginFailure::Http200, LoginFailure::Http401] {
        let sim = CommvaultSim::start(CommvaultConfig {
            login_failure: style,
            ..CommvaultConfig::default()
        });
        let plugin = catalog().get("commvault").unwrap().clone();
        let config = vec![
            ("username".to_string(), sim.username().to_string()),
            ("password".to_string(), "wrong-password".to_string()),
        ];
        let http = tenantctl::http::HttpClient::new(quick_http()).unwrap();
        let account = tenantctl::Account::new(plugin, &sim.url(), config, http).unwrap();
        let result = block_on(account.run(&by_id(Action::Disable, 1), &RunOptions::default()));
        let error = result.error.expect("fails");
        assert_eq!(error.kind, ErrorKind::Auth, "{style:?}: {error:?}");
        assert!(!error.retryable);
        // A refused login is not retried for the next operation of the same account.
        let again = block_on(account.run(&by_id(Action::Disable, 2), &RunOptions::default()));
        assert_eq!(again.error.unwrap().kind, ErrorKind::Auth);
        assert_eq!(sim.count("POST", "/login"), 1, "{style:?}");
    }
}

#[test]
fn names_match_case_insensitively_and_never_by_prefix() {
    let sim = sim();
    let upper = run(&sim, by_name(Action::Status, "ACME CORP"));
    assert_eq!(
        upper.tenant_id.as_deref(),
        Some(sim.acme_corp_id().to_string().as_str())
    );
    assert_eq!(upper.tenant_name.as_deref(), Some("Acme Corp"));
    assert_eq!(
        run(&sim, by_name(Action::Status, "Acme"))
            .error
            .unwrap()
            .kind,
        ErrorKind::NotFound
    );
    let twins = run(&sim, by_name(Action::Disable, "twin co"))
        .error
        .unwrap();
    assert_eq!(twins.kind, ErrorKind::Ambiguous);
    assert_eq!(sim.count("POST", "/action/"), 0);
}

#[test]
fn status_reports_active_deactivated_and_partly_deactivated_companies() {
    let sim = sim();
    let state = |id: u32| {
        let r = run(&sim, by_id(Action::Status, id));
        (r.status, r.enabled_before, r.enabled_after)
    };
    assert_eq!(
        state(sim.acme_corp_id()),
        (Status::Unchanged, Some(true), Some(true))
    );
    assert_eq!(
        state(sim.dormant_id()),
        (Status::Unchanged, Some(false), Some(false))
    );
    assert_eq!(
        state(sim.halfway_id()),
        (Status::Unchanged, Some(false), Some(false))
    );
}

#[test]
fn disable_deactivates_once_and_completes_a_partial_deactivation() {
    let sim = sim();
    let first = run(&sim, by_id(Action::Disable, sim.acme_corp_id()));
    assert_eq!(
        (first.status, first.enabled_before, first.enabled_after),
        (Status::Changed, Some(true), Some(false))
    );
    assert!(
        sim.organization(sim.acme_corp_id())
            .unwrap()
            .deactivate_options
            .is_deactivated()
    );
    assert_eq!(
        run(&sim, by_id(Action::Disable, sim.acme_corp_id())).status,
        Status::Unchanged
    );
    assert_eq!(sim.count("POST", "/action/deactivate"), 1);

    let partial = run(&sim, by_id(Action::Disable, sim.halfway_id()));
    assert_eq!(partial.status, Status::Changed, "{partial:?}");
    assert!(
        sim.organization(sim.halfway_id())
            .unwrap()
            .deactivate_options
            .is_deactivated()
    );
}

#[test]
fn enable_activates_and_is_idempotent() {
    let sim = sim();
    let result = run(&sim, by_id(Action::Enable, sim.dormant_id()));
    assert_eq!(
        (result.status, result.enabled_after),
        (Status::Changed, Some(true))
    );
    assert!(sim.organization(sim.dormant_id()).unwrap().enabled());
    assert_eq!(
        run(&sim, by_id(Action::Enable, sim.dormant_id())).status,
        Status::Unchanged
    );
    assert_eq!(sim.count("POST", "/action/activate"), 1);
}

#[test]
fn an_http_200_with_a_nonzero_error_code_is_a_vendor_failure_with_its_code() {
    let sim = sim();
    sim.inject(
        FaultRule::new(Fault::http200_error(7, "Company is locked")).path("/action/deactivate"),
    );
    let result = run(&sim, by_id(Action::Disable, sim.acme_corp_id()));
    let error = result.error.expect("fails");
    assert_eq!(error.kind, ErrorKind::Vendor);
    assert_eq!(error.vendor_code.as_deref(), Some("7"));
    assert!(
        error.message.contains("Company is locked"),
        "{}",
        error.message
    );
    assert!(!result.changed);

    sim.inject(
        FaultRule::new(Fault::http200_error(2, "Failed to offboard")).path("/tenant/offboard"),
    );
    let offboard = run(&sim, by_id(Action::Offboard, sim.acme_corp_id()));
    assert_eq!(offboard.error.unwrap().vendor_code.as_deref(), Some("2"));
    assert!(!sim.is_offboarded(sim.acme_corp_id()));
}

#[test]
fn offboard_by_name_changes_and_leaves_the_company_active() {
    let sim = sim();
    let result = run(&sim, by_name(Action::Offboard, "acme corp"));
    assert_eq!(
        (result.status, result.changed),
        (Status::Changed, true),
        "{result:?}"
    );
    assert!(sim.is_offboarded(sim.acme_corp_id()));
    assert!(sim.organization(sim.acme_corp_id()).unwrap().enabled());
    let again = run(&sim, by_name(Action::Offboard, "acme corp"));
    assert_eq!(again.status, Status::Changed, "offboard is never unchanged");
}

#[test]
fn unknown_companies_are_not_found_and_never_offboarded() {
    let sim = sim();
    let result = run(&sim, by_id(Action::Offboard, 999_999));
    let error = result.error.unwrap();
    assert_eq!(
        (error.kind, error.http_status),
        (ErrorKind::NotFound, Some(404))
    );
    assert_eq!(sim.count("POST", "/tenant/offboard"), 0);
    assert_eq!(
        run(&sim, by_id(Action::Status, "12abc"))
            .error
            .unwrap()
            .kind,
        ErrorKind::InvalidInput
    );
}

#[test]
fn an_expired_token_is_renewed_once() {
    let sim = sim();
    let account = commvault_account(&sim, quick_http());
    block_on(async {
        account
            .run(
                &by_id(Action::Status, sim.acme_corp_id()),
                &RunOptions::default(),
            )
            .await;
        sim.expire_tokens();
        let result = account
            .run(
                &by_id(Action::Disable, sim.acme_corp_id()),
                &RunOptions::default(),
            )
            .await;
        assert_eq!(result.status, Status::Changed, "{result:?}");
    });
    assert_eq!(sim.login_count(), 2);
}

#[test]
fn the_legacy_webconsole_url_and_odd_spellings_work() {
    let sim = sim();
    let plugin = catalog().get("commvault").unwrap().clone();
    let config = vec![
        ("username".to_string(), sim.username().to_string()),
        ("password".to_string(), sim.password().to_string()),
    ];
    let http = tenantctl::http::HttpClient::new(quick_http()).unwrap();
    let account =
        tenantctl::Account::new(plugin, &format!("{}/", sim.legacy_url()), config, http).unwrap();
    let result = block_on(account.run(
        &by_name(Action::Disable, "Acme Corp"),
        &RunOptions::default(),
    ));
    assert_eq!(result.status, Status::Changed, "{result:?}");
}

#[test]
fn a_rate_limit_longer_than_the_host_waits_is_reported_as_rate_limited() {
    let sim = CommvaultSim::start(CommvaultConfig {
        rate_limit: Some(RateLimit::per_hour(0, 1000)),
        ..CommvaultConfig::default()
    });
    let result = run(&sim, by_id(Action::Disable, sim.acme_corp_id()));
    let error = result.error.expect("fails");
    assert_eq!(
        (error.kind, error.http_status),
        (ErrorKind::RateLimited, Some(429)),
        "{error:?}"
    );
    assert!(error.retryable);
    assert_eq!(
        sim.count("POST", "/action/deactivate"),
        1,
        "a Retry-After of an hour is not waited out"
    );
}

#[test]
fn transient_failures_on_writes_marked_safe_are_retried() {
    let sim = sim();
    sim.inject(
        FaultRule::new(Fault::status(500))
            .path("/action/deactivate")
            .times(2),
    );
    sim.inject(
        FaultRule::new(Fault::Reset)
            .path("/organization/")
            .method("GET"),
    );
    let result = run(&sim, by_id(Action::Disable, sim.acme_corp_id()));
    assert_eq!(result.status, Status::Changed, "{result:?}");
    assert_eq!(sim.count("POST", "/action/deactivate"), 3);
}
