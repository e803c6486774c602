//! Acronis end to end: the real plugin in the wasmtime host, real HTTP on loopback, the
//! simulator injecting the faults vendor-apis.md lists.

mod common;

use std::time::Duration;

use common::*;
use tenantctl::{Action, ErrorKind, RunOptions, Status};
use tenantctl_simulator::{AcronisConfig, AcronisSim, Fault, FaultRule};

fn sim() -> AcronisSim {
    AcronisSim::start(AcronisConfig::default())
}

fn run(sim: &AcronisSim, request: tenantctl::ActionRequest) -> tenantctl::TenantResult {
    block_on(acronis_account(sim, quick_http()).run(&request, &RunOptions::default()))
}

#[test]
fn base_url_is_accepted_with_or_without_api_2_and_slash() {
    let sim = sim();
    for suffix in ["", "/", "/api/2", "/api/2/"] {
        let plugin = catalog().get("acronis").unwrap().clone();
        let config = vec![
            ("client-id".to_string(), sim.client_id().to_string()),
            ("client-secret".to_string(), sim.client_secret().to_string()),
        ];
        let http = tenantctl::http::HttpClient::new(quick_http()).unwrap();
        let account =
            tenantctl::Account::new(plugin, &format!("{}{suffix}", sim.url()), config, http)
                .unwrap();
        let result = block_on(account.run(
            &by_name(Action::Status, "Acme Corp"),
            &RunOptions::default(),
        ));
        assert_eq!(
            result.status,
            Status::Unchanged,
            "suffix {suffix:?}: {result:?}"
        );
    }
}

#[test]
fn one_login_serves_many_operations() {
    let sim = sim();
    let account = acronis_account(&sim, quick_http());
    block_on(async {
        for n in 1..=5 {
            let id = sim.customer_id(n).unwrap();
            let result = account
                .run(&by_id(Action::Disable, &id), &RunOptions::default())
                .await;
            assert_eq!(result.status, Status::Changed);
        }
    });
    assert_eq!(sim.count("POST", "/idp/token"), 1);
    assert_eq!(
        account
            .stats()
            .logins
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[test]
fn a_token_expiring_mid_run_is_renewed_once_and_the_operation_restarted() {
    let sim = sim();
    let account = acronis_account(&sim, quick_http());
    let id = sim.acme_corp_id().to_string();
    block_on(async {
        assert_eq!(
            account
                .run(&by_id(Action::Status, &id), &RunOptions::default())
                .await
                .status,
            Status::Unchanged
        );
        sim.inject(
            FaultRule::new(Fault::ExpireTokens)
                .method("GET")
                .path("/api/2/tenants/"),
        );
        let result = account
            .run(&by_id(Action::Disable, &id), &RunOptions::default())
            .await;
        assert_eq!(result.status, Status::Changed, "{result:?}");
    });
    assert_eq!(sim.count("POST", "/idp/token"), 2, "exactly one renewal");
    assert!(!sim.tenant(&id).unwrap().enabled);
}

#[test]
fn a_session_refused_again_after_renewal_fails_as_auth() {
    let sim = sim();
    sim.inject(
        FaultRule::new(Fault::status(401))
            .method("GET")
            .path("/api/2/tenants/")
            .times(2),
    );
    let result = run(&sim, by_id(Action::Disable, sim.acme_corp_id()));
    assert_eq!(result.status, Status::Failed);
    assert_eq!(result.error.unwrap().kind, ErrorKind::Auth);
    assert_eq!(sim.count("POST", "/idp/token"), 2);
    assert_eq!(sim.count("PUT", ""), 0);
}

#[test]
fn a_concurrent_change_409_is_reread_and_retried_with_the_fresh_version() {
    let sim = sim();
    let id = sim.acme_corp_id().to_string();
    let version_before = sim.tenant(&id).unwrap().version;
    sim.inject(FaultRule::new(Fault::ConcurrentChange).method("PUT"));
    let result = run(&sim, by_id(Action::Disable, &id));
    assert_eq!(result.status, Status::Changed, "{result:?}");
    let puts: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .collect();
    assert_eq!(puts.len(), 2);
    assert_eq!(puts[0].status, Some(409));
    let second: serde_json::Value = puts[1].body_json().unwrap();
    assert_eq!(
        second["version"],
        version_before + 1,
        "the retry carries the version read again"
    );
    assert_eq!(sim.count("GET", &format!("/api/2/tenants/{id}")), 2);
}

#[test]
fn a_400_with_code_1001_is_a_conflict_too() {
    let sim = sim();
    let envelope =
        r#"{"error":{"code":1001,"message":"Version mismatch","domain":"PlatformAccountServer"}}"#;
    sim.inject(
        FaultRule::new(Fault::status(400).with_body("application/json", envelope)).method("PUT"),
    );
    let result = run(&sim, by_id(Action::Disable, sim.acme_corp_id()));
    assert_eq!(result.status, Status::Changed, "{result:?}");
    assert_eq!(sim.count("PUT", ""), 2);
}

#[test]
fn conflicts_that_never_end_fail_as_conflict_after_a_bounded_number_of_tries() {
    let sim = sim();
    sim.inject(
        FaultRule::new(Fault::ConcurrentChange)
            .method("PUT")
            .always(),
    );
    let result = run(&sim, by_id(Action::Disable, sim.acme_corp_id()));
    let error = result.error.expect("fails");
    assert_eq!(error.kind, ErrorKind::Conflict);
    assert!(error.retryable);
    assert_eq!(sim.count("PUT", ""), 5);
    assert!(sim.tenant(sim.acme_corp_id()).unwrap().enabled);
}

#[test]
fn transient_5xx_resets_and_429_are_retried_for_reads() {
    let sim = sim();
    sim.inject(
        FaultRule::new(Fault::status(503))
            .method("GET")
            .path("/api/2/tenants/")
            .times(2),
    );
    sim.inject(
        FaultRule::new(Fault::Reset)
            .method("GET")
            .path("/api/2/search"),
    );
    sim.inject(FaultRule::new(Fault::rate_limited(1)).method("PUT"));
    let account = acronis_account(&sim, quick_http());
    let result = block_on(account.run(
        &by_name(Action::Disable, "Acme Corp"),
        &RunOptions::default(),
    ));
    assert_eq!(result.status, Status::Changed, "{result:?}");
    assert!(
        account
            .stats()
            .retries
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 4
    );
    let puts: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .collect();
    assert_eq!(puts.len(), 2, "the idempotent PUT is retried after its 429");
}

#[test]
fn a_persistent_5xx_ends_as_a_retryable_vendor_error_after_the_retries() {
    let sim = sim();
    sim.inject(
        FaultRule::new(Fault::NonJson { status: 502 })
            .method("GET")
            .path("/api/2/tenants/")
            .always(),
    );
    let result = run(&sim, by_id(Action::Disable, sim.acme_corp_id()));
    let error = result.error.expect("fails");
    assert_eq!(error.kind, ErrorKind::Vendor);
    assert_eq!(error.http_status, Some(502));
    assert!(error.retryable);
    assert!(
        error.message.contains("<html") || error.message.to_lowercase().contains("html"),
        "{}",
        error.message
    );
    assert_eq!(
        sim.count("GET", "/api/2/tenants/"),
        5,
        "1 attempt + 4 retries"
    );
}

#[test]
fn an_answer_slower_than_the_timeout_fails_as_timeout() {
    let sim = sim();
    sim.inject(
        FaultRule::new(Fault::delay_ms(1500))
            .method("GET")
            .path("/api/2/tenants/")
            .always(),
    );
    let http = tenantctl::http::HttpSettings {
        timeout: Duration::from_millis(300),
        retries: 1,
        ..quick_http()
    };
    let result = block_on(acronis_account(&sim, http).run(
        &by_id(Action::Status, sim.acme_corp_id()),
        &RunOptions::default(),
    ));
    let error = result.error.expect("fails");
    assert_eq!(error.kind, ErrorKind::Timeout, "{error:?}");
    assert!(error.retryable);
}

#[test]
fn forbidden_tenants_and_unknown_ids_map_to_auth_and_not_found() {
    let sim = sim();
    let forbidden = run(&sim, by_id(Action::Disable, sim.foreign_tenant_id()));
    assert_eq!(forbidden.error.unwrap().kind, ErrorKind::Auth);
    let unknown = run(
        &sim,
        by_id(Action::Disable, "3f1c2d9e-0000-4000-8000-000000000000"),
    );
    let error = unknown.error.unwrap();
    assert_eq!(
        (error.kind, error.http_status),
        (ErrorKind::NotFound, Some(404))
    );
    let bad = run(&sim, by_id(Action::Disable, "../../etc"));
    assert_eq!(bad.error.unwrap().kind, ErrorKind::InvalidInput);
    assert_eq!(sim.count("PUT", ""), 0);
}

#[test]
fn name_search_keeps_exact_tenant_matches_only() {
    let sim = sim();
    let acme = run(&sim, by_name(Action::Status, "Acme"));
    assert_eq!(
        acme.tenant_id.as_deref(),
        Some(sim.acme_id()),
        "prefix matches and users are ignored"
    );
    let lower = run(&sim, by_name(Action::Status, "acme corp"));
    assert_eq!(
        lower.error.unwrap().kind,
        ErrorKind::NotFound,
        "Acronis names are case-sensitive"
    );
    let twins = run(&sim, by_name(Action::Status, "Twin Co"));
    let error = twins.error.unwrap();
    assert_eq!(error.kind, ErrorKind::Ambiguous);
    for id in sim.twin_co_ids() {
        assert!(
            error.message.contains(id),
            "the message lists {id}: {}",
            error.message
        );
    }
}

#[test]
fn a_possibly_truncated_search_is_ambiguous() {
    let sim = AcronisSim::start(AcronisConfig {
        tenants: 1000,
        ..AcronisConfig::default()
    });
    let result = run(&sim, by_name(Action::Status, "Customer"));
    assert_eq!(result.error.unwrap().kind, ErrorKind::Ambiguous);
}

#[test]
fn the_dry_run_reads_but_never_writes() {
    let sim = sim();
    let account = acronis_account(&sim, quick_http());
    let options = RunOptions {
        dry_run: true,
        ..RunOptions::default()
    };
    let planned = block_on(account.run(&by_id(Action::Disable, sim.acme_corp_id()), &options));
    assert_eq!(planned.status, Status::Planned);
    let already = block_on(account.run(&by_id(Action::Enable, sim.acme_corp_id()), &options));
    assert_eq!(
        already.status,
        Status::Unchanged,
        "nothing to plan for a tenant already enabled"
    );
    assert!(sim.requests().iter().all(|r| r.method != "PUT"));
}
