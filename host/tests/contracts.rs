//! The host's two contracts, through fixture plugins built from source with raw
//! `wit-bindgen`: `contract-v0-1` (built against `wit/v0.1.0`, as plugins shipped before 0.2
//! were) keeps loading and working, and is refused `list` and `delete` with nothing sent;
//! `contract-v0-2` exercises what 0.2 added on the host's side — pages streamed out and a
//! listing that survives a session renewal, waits capped per operation, cacheable reads
//! shared by concurrent operations.

mod common;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tenantctl::config::TrustConfig;
use tenantctl::http::HttpClient;
use tenantctl::plugin::bindings::ListedTenant;
use tenantctl::plugin::catalog::Catalog;
use tenantctl::plugin::trust::{ALLOW_UNSIGNED_VAR, Trust};
use tenantctl::plugin::{Compilation, Limits, Runtime};
use tenantctl::{Account, ErrorKind, RunOptions, Status};
use tenantctl_simulator::{AcronisConfig, AcronisSim, Fault, FaultRule};

/// A plugin directory holding both fixtures, built once per test binary.
fn fixture_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("contract-fixtures");
        std::fs::create_dir_all(&dir).unwrap();
        for package in [
            "tenantctl-test-plugin-contract-v0-1",
            "tenantctl-test-plugin-contract-v0-2",
        ] {
            let wasm = build_plugin(package);
            std::fs::copy(&wasm, dir.join(wasm.file_name().unwrap())).unwrap();
        }
        dir
    })
}

/// The catalog with the fixtures, loaded once per test binary.
fn fixtures() -> &'static Catalog {
    static CATALOG: OnceLock<(Runtime, Catalog)> = OnceLock::new();
    &CATALOG
        .get_or_init(|| {
            let runtime =
                Runtime::new(Some(cache_dir()), Limits::default(), Compilation::Optimized).unwrap();
            // The fixtures are unsigned test builds: trusted the way a plugin developer does,
            // with the documented opt-out.
            let trust = Trust::from_config(&TrustConfig::default(), None, |name| {
                (name == ALLOW_UNSIGNED_VAR).then(|| "1".to_string())
            })
            .unwrap();
            let catalog = block_on(Catalog::discover_trusting(
                &runtime,
                Some(fixture_dir()),
                &trust,
            ))
            .unwrap();
            assert!(catalog.rejected().is_empty(), "{:?}", catalog.rejected());
            (runtime, catalog)
        })
        .1
}

/// An account of the 0.2 probe on `sim`, with extra configuration values.
fn probe(sim: &AcronisSim, extra: &[(&str, &str)]) -> Account {
    let plugin = fixtures().get("acronis-probe").unwrap().clone();
    let mut config = vec![
        ("client-id".to_string(), sim.client_id().to_string()),
        ("client-secret".to_string(), sim.client_secret().to_string()),
    ];
    config.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Account::new(
        plugin,
        &sim.url(),
        config,
        HttpClient::new(quick_http()).unwrap(),
    )
    .unwrap()
}

fn classic_env(sim: &AcronisSim) -> Vec<(&'static str, String)> {
    vec![
        (ALLOW_UNSIGNED_VAR, "1".to_string()),
        ("TENANTCTL_ACRONIS_CLASSIC_URL", sim.url()),
        (
            "TENANTCTL_ACRONIS_CLASSIC_CLIENT_ID",
            sim.client_id().to_string(),
        ),
        (
            "TENANTCTL_ACRONIS_CLASSIC_CLIENT_SECRET",
            sim.client_secret().to_string(),
        ),
    ]
}

fn probe_env(sim: &AcronisSim) -> Vec<(&'static str, String)> {
    vec![
        (ALLOW_UNSIGNED_VAR, "1".to_string()),
        ("TENANTCTL_ACRONIS_PROBE_URL", sim.url()),
        (
            "TENANTCTL_ACRONIS_PROBE_CLIENT_ID",
            sim.client_id().to_string(),
        ),
        (
            "TENANTCTL_ACRONIS_PROBE_CLIENT_SECRET",
            sim.client_secret().to_string(),
        ),
    ]
}

/// Lists through `account`, returning every page as it was handed on.
fn list_pages(account: &Account) -> (Result<u64, tenantctl::ResultError>, Vec<Vec<ListedTenant>>) {
    let mut pages = Vec::new();
    let result = block_on(
        account.list(&RunOptions::default(), &mut |page: &[ListedTenant]| {
            pages.push(page.to_vec());
            ControlFlow::Continue(())
        }),
    );
    (result, pages)
}

#[test]
fn a_plugin_built_for_contract_0_1_loads_and_works() {
    let plugin = fixtures().get("acronis-classic").unwrap();
    assert_eq!(plugin.contract(), "0.1.0");
    let sim = AcronisSim::start(AcronisConfig::default());
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = tenantctl(home.path())
            .envs(classic_env(&sim))
            .arg("--plugin-dir")
            .arg(fixture_dir())
            .args(args)
            .args(["--output", "json"])
            .output()
            .unwrap();
        (out.status.code().unwrap(), out.stdout, out.stderr)
    };

    let (code, stdout, _) = run(&["plugins", "inspect", "acronis-classic"]);
    assert_eq!(code, 0);
    let described: Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(described["contract"], "0.1.0", "{described}");

    let id = sim.acme_corp_id().to_string();
    let (code, stdout, stderr) = run(&["status", "--vendor", "acronis-classic", "--tenant", &id]);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&stderr));
    let status = one_result(&stdout);
    assert_eq!(status["tenant_name"], "Acme Corp");
    assert_eq!(status["enabled_after"], true);

    let (code, stdout, stderr) = run(&["disable", "--vendor", "acronis-classic", "--tenant", &id]);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&stderr));
    let disabled = one_result(&stdout);
    assert_eq!(
        (
            disabled["status"].as_str(),
            disabled["enabled_before"].as_bool()
        ),
        (Some("changed"), Some(true))
    );
    assert!(!sim.tenant(&id).unwrap().enabled);
    let journal = std::fs::read_to_string(home.path().join(".local/state/tenantctl/audit.jsonl"))
        .unwrap_or_default();
    assert!(journal.contains("acronis-classic@0.1.0"), "{journal}");

    // A session refused mid-operation is renewed for a 0.1 plugin too.
    sim.expire_tokens();
    let (code, stdout, _) = run(&["enable", "--vendor", "acronis-classic", "--tenant", &id]);
    assert_eq!(
        (code, one_result(&stdout)["status"].clone()),
        (0, "changed".into())
    );
}

#[test]
fn a_contract_0_1_plugin_is_refused_list_and_delete_with_nothing_sent() {
    let sim = AcronisSim::start(AcronisConfig::default());
    let home = tempfile::tempdir().unwrap();
    let id = sim.dormant_id().to_string();
    for args in [
        vec!["list", "--vendor", "acronis-classic"],
        vec!["list", "--vendor", "acronis-classic", "--output", "csv"],
        vec![
            "delete",
            "--vendor",
            "acronis-classic",
            "--tenant",
            &id,
            "--expect-name",
            "Dormant Ltd",
            "--yes",
        ],
        vec![
            "delete",
            "--vendor",
            "acronis-classic",
            "--tenant",
            &id,
            "--expect-name",
            "Dormant Ltd",
            "--dry-run",
        ],
    ] {
        let out = tenantctl(home.path())
            .envs(classic_env(&sim))
            .arg("--plugin-dir")
            .arg(fixture_dir())
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("contract 0.1"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
    }
    assert!(sim.requests().is_empty(), "{:?}", sim.requests());
    assert!(!sim.is_deleted(&id));

    // Through the library, too: `unsupported`, nothing sent.
    let plugin = fixtures().get("acronis-classic").unwrap().clone();
    let config = vec![
        ("client-id".to_string(), sim.client_id().to_string()),
        ("client-secret".to_string(), sim.client_secret().to_string()),
    ];
    let account = Account::new(
        plugin,
        &sim.url(),
        config,
        HttpClient::new(quick_http()).unwrap(),
    )
    .unwrap();
    let (listed, pages) = list_pages(&account);
    assert_eq!(listed.unwrap_err().kind, ErrorKind::Unsupported);
    assert!(pages.is_empty());
    let deleted = block_on(account.run(
        &by_id(tenantctl::Action::Delete, &id),
        &RunOptions {
            expect_name: Some("Dormant Ltd".into()),
            ..RunOptions::default()
        },
    ));
    assert_eq!(deleted.error.unwrap().kind, ErrorKind::Unsupported);
    assert!(sim.requests().is_empty());
}

#[test]
fn a_listing_streams_page_by_page_over_5000_tenants() {
    let sim = AcronisSim::start(AcronisConfig {
        tenants: 5000,
        ..AcronisConfig::default()
    });
    let account = probe(&sim, &[("page-size", "1000")]);
    let (listed, pages) = list_pages(&account);
    let listed = listed.unwrap();
    let below_root = sim.tenant_count() as u64; // the simulator's count of tenants in reach
    let ids: std::collections::BTreeSet<&str> =
        pages.iter().flatten().map(|t| t.id.as_str()).collect();
    assert_eq!(ids.len() as u64, listed, "no tenant twice");
    assert!(
        listed >= 5000 && listed <= below_root,
        "{listed} of {below_root}"
    );
    assert!(ids.contains(sim.acme_corp_id()));
    assert!(!ids.contains(sim.root_tenant_id()));
    // Each page was handed on as it came, none larger than the vendor's page.
    let page_requests = sim.count("GET", "/api/2/tenants?");
    assert_eq!(pages.len(), page_requests);
    assert!(page_requests >= 6, "{page_requests} pages");
    assert!(pages.iter().all(|page| page.len() <= 1000));
}

#[test]
fn a_listing_survives_a_session_renewal_without_repeating_or_dropping_tenants() {
    let sim = AcronisSim::start(AcronisConfig {
        tenants: 300,
        ..AcronisConfig::default()
    });
    let (_, clean) = list_pages(&probe(&sim, &[("page-size", "100")]));
    let expected: Vec<String> = clean.iter().flatten().map(|t| t.id.clone()).collect();

    // The third page finds every token expired: the host logs in again, lists from the
    // start and hands on only what it had not yet.
    sim.inject(FaultRule::new(Fault::ExpireTokens).path("after=").after(1));
    let account = probe(&sim, &[("page-size", "100")]);
    let (listed, pages) = list_pages(&account);
    let got: Vec<String> = pages.iter().flatten().map(|t| t.id.clone()).collect();
    assert_eq!(listed.unwrap(), expected.len() as u64);
    assert_eq!(got, expected);
    assert_eq!(
        account
            .stats()
            .logins
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
}

#[test]
fn a_listing_that_changed_under_a_renewal_fails_instead_of_printing_a_wrong_list() {
    let sim = AcronisSim::start(AcronisConfig {
        tenants: 300,
        ..AcronisConfig::default()
    });
    let account = probe(&sim, &[("page-size", "100")]);
    sim.inject(FaultRule::new(Fault::ExpireTokens).path("after=").after(1));
    let mut pages = 0;
    let mut added = false;
    let result = block_on(
        account.list(&RunOptions::default(), &mut |page: &[ListedTenant]| {
            pages += 1;
            // While the listing runs, a tenant appears in the part already printed (the
            // listing is in id order): the restarted listing no longer lines up.
            let last = &page.last().unwrap().id;
            while !added {
                added = sim.add_tenant("Newcomer", sim.root_tenant_id()) < *last;
            }
            ControlFlow::Continue(())
        }),
    );
    let error = result.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Conflict, "{}", error.message);
    assert!(
        error.message.contains("run list again"),
        "{}",
        error.message
    );
    assert_eq!(pages, 2, "the pages before the renewal stand, nothing more");
}

#[test]
fn waits_are_slept_without_failing_and_capped_per_operation() {
    let sim = AcronisSim::start(AcronisConfig::default());
    let id = sim.acme_corp_id().to_string();
    let status = |account: &Account, deadline: u64| {
        block_on(account.run(
            &by_id(tenantctl::Action::Status, &id),
            &RunOptions {
                deadline: Some(Duration::from_secs(deadline)),
                ..RunOptions::default()
            },
        ))
    };

    // Two reads, each after 300 ms: both waits are slept.
    let started = Instant::now();
    let result = status(&probe(&sim, &[("wait-ms", "300"), ("polls", "2")]), 30);
    assert_eq!(result.status, Status::Unchanged, "{:?}", result.error);
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert_eq!(sim.count("GET", &format!("/tenants/{id}")), 2);

    // A one-second deadline caps the waits: the third would pass it, so the operation fails
    // as `timeout` at once, after two reads, not at its deadline.
    sim.clear_requests();
    let started = Instant::now();
    let result = status(&probe(&sim, &[("wait-ms", "400"), ("polls", "5")]), 1);
    let error = result.error.unwrap();
    assert_eq!(error.kind, ErrorKind::Timeout);
    assert!(error.message.contains("asked to wait"), "{}", error.message);
    assert!(started.elapsed() < Duration::from_millis(1000));
    assert_eq!(sim.count("GET", &format!("/tenants/{id}")), 2);

    // Ten minutes is the cap whatever the deadline: a longer wait fails before anything is
    // sent for it.
    sim.clear_requests();
    let started = Instant::now();
    let result = status(&probe(&sim, &[("wait-ms", "700000")]), 3600);
    let error = result.error.unwrap();
    assert_eq!(error.kind, ErrorKind::Timeout);
    assert!(error.message.contains("10m"), "{}", error.message);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(sim.count("GET", &format!("/tenants/{id}")), 0);
}

#[test]
fn concurrent_operations_asking_the_same_cacheable_read_send_one_request() {
    let sim = AcronisSim::start(AcronisConfig::default());
    let id = sim.acme_corp_id().to_string();
    // The answer comes slowly, so the operations are all waiting for it at once.
    sim.inject(
        FaultRule::new(Fault::delay_ms(300))
            .method("GET")
            .path(format!("/tenants/{id}")),
    );
    let account = Arc::new(probe(&sim, &[("cache-for", "60")]));
    let results = block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let (account, id) = (account.clone(), id.clone());
            tasks.spawn(async move {
                account
                    .run(
                        &by_id(tenantctl::Action::Status, &id),
                        &RunOptions::default(),
                    )
                    .await
            });
        }
        tasks.join_all().await
    });
    assert!(results.iter().all(|r| r.status == Status::Unchanged));
    assert!(
        results
            .iter()
            .all(|r| r.tenant_name.as_deref() == Some("Acme Corp"))
    );
    assert_eq!(sim.count("GET", &format!("/tenants/{id}")), 1);
    let stats = account.stats();
    assert_eq!(
        stats.cache_hits.load(std::sync::atomic::Ordering::Relaxed),
        15
    );

    // Without the hint, every operation reads for itself.
    sim.clear_requests();
    let uncached = probe(&sim, &[]);
    for _ in 0..3 {
        block_on(uncached.run(
            &by_id(tenantctl::Action::Status, &id),
            &RunOptions::default(),
        ));
    }
    assert_eq!(sim.count("GET", &format!("/tenants/{id}")), 3);
}

#[test]
fn list_prints_json_lines_and_csv_that_streams_to_stdout() {
    let sim = AcronisSim::start(AcronisConfig {
        tenants: 120,
        ..AcronisConfig::default()
    });
    let home = tempfile::tempdir().unwrap();
    let list = |output: &str| {
        tenantctl(home.path())
            .envs(probe_env(&sim))
            .env("TENANTCTL_ACRONIS_PROBE_PAGE_SIZE", "50")
            .arg("--plugin-dir")
            .arg(fixture_dir())
            .args(["list", "--vendor", "acronis-probe", "--output", output])
            .output()
            .unwrap()
    };
    let json = list("json");
    assert_eq!(json.status.code(), Some(0));
    let lines = json_lines(&json.stdout);
    assert!(lines.len() >= 120);
    let acme = lines
        .iter()
        .find(|line| line["tenant_name"] == "Acme Corp")
        .unwrap();
    assert_eq!(acme["vendor"], "acronis-probe");
    assert_eq!(acme["tenant_id"], sim.acme_corp_id());
    assert_eq!(acme["enabled"], true);
    let dormant = lines
        .iter()
        .find(|line| line["tenant_id"] == sim.dormant_id())
        .unwrap();
    assert_eq!(dormant["enabled"], false);
    assert!(String::from_utf8_lossy(&json.stderr).contains(&format!("{} tenants", lines.len())));

    let csv = list("csv");
    assert_eq!(csv.status.code(), Some(0));
    let text = String::from_utf8(csv.stdout).unwrap();
    let mut rows = text.lines();
    assert_eq!(rows.next(), Some("vendor,tenant,tenant_name,enabled"));
    assert_eq!(rows.count(), lines.len());
    assert!(text.contains(&format!(
        "acronis-probe,{},Acme Corp,true",
        sim.acme_corp_id()
    )));

    let out = tenantctl(home.path())
        .envs(probe_env(&sim))
        .arg("--plugin-dir")
        .arg(fixture_dir())
        .args([
            "status",
            "--vendor",
            "acronis-probe",
            "--tenant",
            "x",
            "--output",
            "csv",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "csv is for list only");
}
