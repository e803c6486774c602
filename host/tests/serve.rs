//! `tenantctl serve` over real HTTP: the real binary, the real plugins, the simulators on
//! loopback, a SQLite database in a temporary directory.

mod common;
#[path = "serve/server.rs"]
mod server;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use server::{Client, Home, Server};
use tenantctl_simulator::{AcronisConfig, AcronisSim, Fault, FaultRule};

fn acronis(tenants: usize) -> AcronisSim {
    AcronisSim::start(AcronisConfig {
        tenants,
        ..AcronisConfig::default()
    })
}

fn env(sim: &AcronisSim) -> Vec<(&'static str, String)> {
    common::acronis_env(sim)
}

/// Writes that reached the tenant: answered PUTs naming it (a request abandoned while the
/// simulator delayed it was never served).
fn writes(sim: &AcronisSim, tenant: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains(tenant) && r.status.is_some())
        .count()
}

/// Where the committed API descriptions live.
fn docs(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs")
        .join(name)
}

#[test]
fn health_and_api_descriptions_need_no_token_and_match_docs() {
    let (home, sim) = (Home::new(), acronis(5));
    let server = home.serve(&env(&sim), &[]);
    let client = Client::new();

    let health = client.get(&server.url("/healthz"), None);
    assert_eq!(health.status, 200, "{}", health.text);
    assert_eq!(health.json, json!({"status": "ok", "database": "sqlite"}));

    for (path, version_field, version) in [
        ("/openapi.json", "openapi", "3.1.0"),
        ("/swagger.json", "swagger", "2.0"),
    ] {
        let doc = client.get(&server.url(path), None);
        assert_eq!(doc.status, 200, "{path}");
        assert_eq!(doc.json[version_field], version, "{path}");
        let committed = docs(&path[1..]);
        if std::env::var_os("TENANTCTL_UPDATE_DOCS").is_some() {
            std::fs::write(&committed, &doc.text).unwrap();
        }
        let on_disk = std::fs::read_to_string(&committed).unwrap_or_default();
        assert!(
            on_disk == doc.text,
            "{} is not what the server serves; regenerate it with TENANTCTL_UPDATE_DOCS=1 \
             cargo test --release -p tenantctl --test serve health",
            committed.display()
        );
    }

    client
        .get(&server.url("/v1/vendors"), None)
        .assert_error(401, "unauthorized");
    client
        .get(&server.url("/v1/vendors"), Some("tctl_not-a-real-token"))
        .assert_error(401, "unauthorized");
    client
        .get(&server.url("/v1/no-such-thing"), None)
        .assert_error(404, "not_found");
}

#[test]
fn roles_decide_what_a_token_may_do_and_revocation_holds_at_once() {
    let (home, sim) = (Home::new(), acronis(5));
    let server = home.serve(&env(&sim), &[]);
    let (read, operate, admin) = (
        home.token("dashboard", "read"),
        home.token("rewst", "operate"),
        home.token("lead", "admin"),
    );
    let client = Client::new();
    let id = sim.customer_id(1).unwrap();
    let tenant = |action: &str| server.url(&format!("/v1/vendors/acronis/tenants/{id}/{action}"));

    assert_eq!(
        client.get(&server.url("/v1/vendors"), Some(&read)).status,
        200
    );
    assert_eq!(
        client
            .get(
                &server.url(&format!("/v1/vendors/acronis/tenants/{id}")),
                Some(&read)
            )
            .status,
        200
    );
    client
        .post(&tenant("disable"), Some(&read), json!({}))
        .assert_error(403, "forbidden");
    assert_eq!(sim.count("PUT", &id), 0, "a refused request sends nothing");

    let disabled = client.post(
        &tenant("disable"),
        Some(&operate),
        json!({"reason": "unpaid"}),
    );
    assert_eq!(disabled.status, 200, "{}", disabled.text);
    assert_eq!(disabled.json["status"], "changed");

    client
        .post(
            &tenant("offboard"),
            Some(&operate),
            json!({"confirm": true}),
        )
        .assert_error(403, "forbidden");
    client
        .post(&tenant("offboard"), Some(&admin), json!({"confirm": true}))
        .assert_error(422, "unsupported");
    client
        .post(
            &tenant("delete"),
            Some(&operate),
            json!({"confirm": true, "expect_name": "x"}),
        )
        .assert_error(403, "forbidden");
    client
        .post(
            &tenant("delete"),
            Some(&admin),
            json!({"expect_name": "Customer 00001"}),
        )
        .assert_error(422, "invalid_input");
    client
        .post(&tenant("delete"), Some(&admin), json!({"confirm": true}))
        .assert_error(422, "invalid_input");
    assert_eq!(
        sim.count("DELETE", &id),
        0,
        "nothing sent for a refused delete"
    );

    // The database keeps hashes only.
    let db = std::fs::read(home.path().join("tenantctl.db")).unwrap();
    let wal = std::fs::read(home.path().join("tenantctl.db-wal")).unwrap_or_default();
    for token in [&read, &operate, &admin] {
        let secret = token.as_bytes();
        for bytes in [&db, &wal] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "a token is in the database in clear"
            );
        }
    }

    let listed = home
        .command()
        .args(["tokens", "list", "--output", "json"])
        .output()
        .unwrap();
    assert!(listed.status.success());
    let listed = String::from_utf8(listed.stdout).unwrap();
    let names: Vec<Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{listed}");
    assert!(
        names
            .iter()
            .any(|t| t["name"] == "rewst" && t["role"] == "operate")
    );
    assert!(!listed.contains(&operate), "tokens list shows no token");

    let revoked = home
        .command()
        .args(["tokens", "revoke", "rewst"])
        .status()
        .unwrap();
    assert!(revoked.success());
    client
        .post(&tenant("enable"), Some(&operate), json!({}))
        .assert_error(401, "unauthorized");
    let again = home
        .command()
        .args(["tokens", "revoke", "rewst"])
        .status()
        .unwrap();
    assert_eq!(
        again.code(),
        Some(1),
        "revoking twice says there is no such token"
    );

    // The journal names the token as the operator of the write.
    let journal = std::fs::read_to_string(home.audit_log()).unwrap();
    let records: Vec<Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        records.iter().any(|r| r["record"] == "result"
            && r["operator"] == "rewst"
            && r["reason"] == "unpaid"),
        "{journal}"
    );
    assert!(!journal.contains(sim.client_secret()));
}

/// A page of the service's listing reads the vendor's listing only as far as the page needs
/// (the Acronis plugin reads 1,000 tenants per vendor page): the first page of 2,500 tenants
/// takes one vendor page, not all three, and a page that starts at 1,500 takes two.
#[test]
fn a_listing_page_reads_the_vendor_only_as_far_as_it_needs() {
    let (home, sim) = (Home::new(), acronis(2_500));
    let server = home.serve(&env(&sim), &[]);
    let reader = home.token("dashboard", "read");
    let client = Client::new();
    let page = |query: &str| {
        let url = server.url(&format!("/v1/vendors/acronis/tenants?{query}"));
        let answer = client.get(&url, Some(&reader));
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json
    };
    let items = |page: &Value| page["items"].as_array().unwrap().len();
    let vendor_pages = || sim.count("GET", "subtree_root_id=");

    let first = page("limit=10");
    assert_eq!(items(&first), 10);
    assert_eq!(first["next"], "10");
    assert_eq!(vendor_pages(), 1, "the first page read one vendor page");

    let later = page("limit=10&after=1500");
    assert_eq!(items(&later), 10);
    assert_eq!(
        vendor_pages(),
        1 + 2,
        "a page from 1,500 read two vendor pages"
    );

    // The last page: nothing past it, so `next` is null (the listing was read to its end).
    let last = page("limit=1000&after=2400");
    assert!(items(&last) >= 100, "{last}");
    assert!(last["next"].is_null(), "{last}");
    assert_eq!(vendor_pages(), 1 + 2 + 3);
}

#[test]
fn single_tenant_endpoints_answer_the_cli_result_object_with_mapped_statuses() {
    let (home, sim) = (Home::new(), acronis(30));
    let server = home.serve(&env(&sim), &[]);
    let admin = home.token("lead", "admin");
    let client = Client::new();

    let vendors = client.get(&server.url("/v1/vendors"), Some(&admin));
    let acronis = vendors.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["vendor"] == "acronis")
        .cloned()
        .unwrap_or_else(|| panic!("{}", vendors.text));
    assert!(acronis["display_name"].as_str().is_some());
    assert!(acronis["version"].as_str().is_some());
    assert!(
        acronis["actions"]
            .as_array()
            .unwrap()
            .contains(&json!("disable"))
    );

    // Paged listing: every tenant once, `next` null at the end.
    let mut seen = Vec::new();
    let mut url = server.url("/v1/vendors/acronis/tenants?limit=7");
    loop {
        let page = client.get(&url, Some(&admin));
        assert_eq!(page.status, 200, "{}", page.text);
        let items = page.json["items"].as_array().unwrap();
        assert!(items.len() <= 7);
        for item in items {
            assert!(item["enabled"].is_boolean() || item["enabled"].is_null());
            seen.push(item["tenant_id"].as_str().unwrap().to_string());
        }
        match page.json["next"].as_str() {
            Some(next) => {
                url = server.url(&format!("/v1/vendors/acronis/tenants?limit=7&after={next}"))
            }
            None => break,
        }
    }
    let unique: std::collections::BTreeSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a tenant listed twice");
    assert!(seen.len() >= 30, "{} tenants listed", seen.len());
    assert!(seen.contains(&sim.acme_corp_id().to_string()));
    client
        .get(
            &server.url("/v1/vendors/acronis/tenants?limit=0"),
            Some(&admin),
        )
        .assert_error(400, "invalid_input");

    let id = sim.acme_corp_id().to_string();
    let at = |path: &str| server.url(&format!("/v1/vendors/acronis/tenants/{path}"));
    let status = client.get(&at(&id), Some(&admin));
    assert_eq!(status.status, 200);
    for field in [
        "vendor",
        "action",
        "tenant_id",
        "tenant_name",
        "status",
        "changed",
        "dry_run",
        "enabled_before",
        "enabled_after",
        "error",
    ] {
        assert!(
            status.json.get(field).is_some(),
            "missing {field}: {}",
            status.text
        );
    }
    assert_eq!(status.json["tenant_name"], "Acme Corp");
    assert_eq!(status.json["status"], "unchanged");

    let missing = client.get(&at("00000000-0000-0000-0000-000000000000"), Some(&admin));
    assert_eq!(missing.status, 404, "{}", missing.text);
    assert_eq!(missing.json["status"], "failed");
    assert_eq!(missing.json["error"]["kind"], "not_found");

    let planned = client.post(
        &at(&format!("{id}/disable")),
        Some(&admin),
        json!({"dry_run": true}),
    );
    assert_eq!(planned.status, 200);
    assert_eq!(planned.json["status"], "planned");
    assert!(planned.json["planned_request"]["method"].is_string());
    assert_eq!(sim.count("PUT", &id), 0, "a dry run writes nothing");

    let changed = client.post(&at(&format!("{id}/disable")), Some(&admin), json!({}));
    assert_eq!(
        (changed.status, changed.json["status"].clone()),
        (200, json!("changed"))
    );
    let unchanged = client.post(&at(&format!("{id}/disable")), Some(&admin), json!({}));
    assert_eq!(
        (unchanged.status, unchanged.json["status"].clone()),
        (200, json!("unchanged"))
    );

    let wrong_name = client.post(
        &at(&format!("{id}/enable")),
        Some(&admin),
        json!({"expect_name": "Someone Else"}),
    );
    assert_eq!(wrong_name.status, 422, "{}", wrong_name.text);
    assert_eq!(wrong_name.json["error"]["kind"], "invalid_input");

    client
        .post(&at(&format!("{id}/frobnicate")), Some(&admin), json!({}))
        .assert_error(404, "not_found");
    client
        .post(
            &server.url(&format!("/v1/vendors/nope/tenants/{id}/disable")),
            Some(&admin),
            json!({}),
        )
        .assert_error(404, "not_found");
    client
        .post(
            &at(&format!("{id}/disable")),
            Some(&admin),
            json!({"dry_run": true, "bogus": 1}),
        )
        .assert_error(400, "invalid_input");
}

#[test]
fn a_vendor_rate_limit_answers_429_with_retry_after() {
    let (home, sim) = (Home::new(), acronis(3));
    let id = sim.customer_id(1).unwrap();
    sim.inject(
        FaultRule::new(Fault::Status {
            status: 429,
            body: None,
            content_type: None,
            headers: vec![("Retry-After".into(), "1".into())],
        })
        .method("GET")
        .path(format!("/api/2/tenants/{id}"))
        .always(),
    );
    let server = home.serve(&env(&sim), &["--timeout", "5"]);
    let token = home.token("reader", "read");
    let answer = Client::new().get(
        &server.url(&format!("/v1/vendors/acronis/tenants/{id}")),
        Some(&token),
    );
    assert_eq!(answer.status, 429, "{}", answer.text);
    assert_eq!(answer.json["error"]["kind"], "rate_limited");
    let wait: u64 = answer.header("retry-after").unwrap().parse().unwrap();
    assert!(wait >= 1, "Retry-After {wait}");
}

fn disable_rows(sim: &AcronisSim, n: usize) -> Vec<Value> {
    (1..=n)
        .map(|i| json!({"vendor": "acronis", "action": "disable", "tenant": sim.customer_id(i).unwrap()}))
        .collect()
}

#[test]
fn jobs_are_idempotent_by_key_and_report_every_row() {
    let (home, sim) = (Home::new(), acronis(20));
    let server = home.serve(&env(&sim), &[]);
    let (read, operate) = (
        home.token("dashboard", "read"),
        home.token("rewst", "operate"),
    );
    let client = Client::new();
    let mut rows = disable_rows(&sim, 20);
    rows.push(json!({"vendor": "acronis", "action": "status", "tenant_name": "No Such Tenant"}));
    let body = json!({"rows": rows, "reason": "contract ended"});

    client
        .send(
            "POST",
            &server.url("/v1/jobs"),
            Some(&operate),
            &[],
            Some(body.to_string()),
        )
        .assert_error(400, "invalid_input");
    client
        .post_job(&server, &read, "k1", &body)
        .assert_error(403, "forbidden");

    let first = client.post_job(&server, &operate, "k1", &body);
    assert_eq!(first.status, 202, "{}", first.text);
    let id = first.json["id"].as_str().unwrap().to_string();
    assert_eq!(first.header("location").unwrap(), format!("/v1/jobs/{id}"));
    let again = client.post_job(&server, &operate, "k1", &body);
    assert_eq!(again.status, 202);
    assert_eq!(
        again.json["id"],
        id.as_str(),
        "the same key and body: the same job"
    );
    client
        .post_job(
            &server,
            &operate,
            "k1",
            &json!({"rows": disable_rows(&sim, 2)}),
        )
        .assert_error(422, "invalid_input");

    let job = client.wait_job(&server, &read, &id, Duration::from_secs(120));
    assert_eq!(job["status"], "failed", "one row fails: {job}");
    assert_eq!(job["rows"], 21);
    assert_eq!(job["done"], 21);
    assert_eq!(job["counts"], json!({"changed": 20, "failed": 1}));
    assert_eq!(job["created_by"], "rewst");
    assert!(job["created_at"].is_string() && job["finished_at"].is_string());

    let results = client.all_results(&server, &read, &id, 6);
    assert_eq!(results.len(), 21);
    for (n, result) in results.iter().enumerate() {
        assert_eq!(result["row"], n as u64 + 1);
        assert_eq!(result["request"], rows[n], "each result carries its row");
    }
    assert_eq!(results[20]["error"]["kind"], "not_found");
    for i in 1..=20 {
        let tenant = sim.tenant(&sim.customer_id(i).unwrap()).unwrap();
        assert!(!tenant.enabled, "customer {i} is disabled");
    }

    // Rows that cannot run refuse the job before it is stored.
    let offboard = json!({"rows": [{"vendor": "acronis", "action": "delete", "tenant": sim.customer_id(1).unwrap(), "expect_name": "Customer 00001"}]});
    client
        .post_job(&server, &operate, "k2", &offboard)
        .assert_error(422, "invalid_input");
    let mut confirmed = offboard.clone();
    confirmed["confirm"] = json!(true);
    client
        .post_job(&server, &operate, "k2", &confirmed)
        .assert_error(403, "forbidden");
    client
        .post_job(
            &server,
            &operate,
            "k3",
            &json!({"rows": [{"vendor": "nope", "action": "disable", "tenant": "x"}]}),
        )
        .assert_error(422, "invalid_input");
    client
        .get(&server.url("/v1/jobs/does-not-exist"), Some(&read))
        .assert_error(404, "not_found");

    // The journal names the token as the operator of every row.
    let journal = std::fs::read_to_string(home.audit_log()).unwrap();
    let results: Vec<Value> = journal
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["record"] == "result" && r["input"] == format!("job:{id}"))
        .collect();
    assert_eq!(results.len(), 21, "{journal}");
    assert!(
        results
            .iter()
            .all(|r| r["operator"] == "rewst" && r["reason"] == "contract ended")
    );

    // No vendor credential reaches the database.
    for file in ["tenantctl.db", "tenantctl.db-wal"] {
        let bytes = std::fs::read(home.path().join(file)).unwrap_or_default();
        let secret = sim.client_secret().as_bytes();
        assert!(!bytes.windows(secret.len()).any(|w| w == secret), "{file}");
    }
}

#[test]
fn a_body_over_the_cap_is_refused_with_413() {
    let (home, sim) = (Home::new(), acronis(3));
    let server = home.serve(&env(&sim), &["--max-body-bytes", "2000"]);
    let token = home.token("rewst", "operate");
    let answer = Client::new().post_job(
        &server,
        &token,
        "big",
        &json!({"rows": disable_rows(&sim, 3), "reason": "x".repeat(5000)}),
    );
    answer.assert_error(413, "too_large");
}

/// Polls until job `id` has at least `n` results.
fn wait_results(client: &Client, server: &Server, token: &str, id: &str, n: i64) {
    let started = Instant::now();
    loop {
        let job = client.get(&server.url(&format!("/v1/jobs/{id}")), Some(token));
        if job.json["done"].as_i64().unwrap_or(0) >= n {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "job {id} did not reach {n} results: {}",
            job.text
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_thousand_row_job_killed_mid_way_finishes_after_restart_writing_no_tenant_twice() {
    let (home, sim) = (Home::new(), acronis(1000));
    // Slow writes, so the kill lands mid-job with rows under way.
    sim.inject(
        FaultRule::new(Fault::Delay(Duration::from_millis(15)))
            .method("PUT")
            .always(),
    );
    let args = ["--lease", "2", "--concurrency", "4"];
    let server = home.serve(&env(&sim), &args);
    let token = home.token("rewst", "operate");
    let client = Client::new();
    let body = json!({"rows": disable_rows(&sim, 1000)});
    let accepted = client.post_job(&server, &token, "thousand", &body);
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    let id = accepted.json["id"].as_str().unwrap().to_string();

    wait_results(&client, &server, &token, &id, 150);
    server.kill();
    let puts_at_kill = sim.count("PUT", "/api/2/tenants/");
    assert!(puts_at_kill < 1000, "the job had finished before the kill");

    let server = home.serve(&env(&sim), &args);
    let job = client.wait_job(&server, &token, &id, Duration::from_secs(300));
    assert_eq!(job["status"], "succeeded", "{job}\n{}", server.log());
    assert_eq!(job["done"], 1000);
    let results = client.all_results(&server, &token, &id, 1000);
    assert_eq!(results.len(), 1000);
    for i in 1..=1000 {
        let tenant_id = sim.customer_id(i).unwrap();
        assert!(
            !sim.tenant(&tenant_id).unwrap().enabled,
            "customer {i} is disabled"
        );
        assert_eq!(writes(&sim, &tenant_id), 1, "customer {i} written once");
    }
    // The same key after the restart is still the same job.
    let again = client.post_job(&server, &token, "thousand", &body);
    assert_eq!(again.json["id"], id.as_str());
}

#[test]
fn sigterm_lets_rows_under_way_finish_exits_0_and_the_next_start_finishes_the_job() {
    let (home, sim) = (Home::new(), acronis(200));
    sim.inject(
        FaultRule::new(Fault::Delay(Duration::from_millis(20)))
            .method("PUT")
            .always(),
    );
    let args = ["--concurrency", "2"];
    let server = home.serve(&env(&sim), &args);
    let token = home.token("rewst", "operate");
    let client = Client::new();
    let accepted = client.post_job(
        &server,
        &token,
        "term",
        &json!({"rows": disable_rows(&sim, 200)}),
    );
    let id = accepted.json["id"].as_str().unwrap().to_string();
    wait_results(&client, &server, &token, &id, 20);

    let (code, log) = server.terminate(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{log}");
    // Every write the stopped server sent has its result recorded.
    let server = home.serve(&env(&sim), &args);
    let job = client.wait_job(&server, &token, &id, Duration::from_secs(120));
    assert_eq!(job["status"], "succeeded", "{job}");
    for i in 1..=200 {
        assert_eq!(
            writes(&sim, &sim.customer_id(i).unwrap()),
            1,
            "customer {i}"
        );
    }
    let results = client.all_results(&server, &token, &id, 1000);
    assert!(
        results.iter().all(|r| r["status"] == "changed"),
        "a row under way at SIGTERM finished before the exit, none ran twice"
    );
}

#[test]
fn a_cancelled_job_starts_no_more_rows() {
    let (home, sim) = (Home::new(), acronis(300));
    sim.inject(
        FaultRule::new(Fault::Delay(Duration::from_millis(30)))
            .method("PUT")
            .always(),
    );
    let server = home.serve(&env(&sim), &["--concurrency", "1", "--lease", "3"]);
    let token = home.token("rewst", "operate");
    let client = Client::new();
    let accepted = client.post_job(
        &server,
        &token,
        "cancel",
        &json!({"rows": disable_rows(&sim, 300)}),
    );
    let id = accepted.json["id"].as_str().unwrap().to_string();
    wait_results(&client, &server, &token, &id, 5);
    let cancelled = client.post(
        &server.url(&format!("/v1/jobs/{id}/cancel")),
        Some(&token),
        json!({}),
    );
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    let job = client.wait_job(&server, &token, &id, Duration::from_secs(60));
    assert_eq!(job["status"], "cancelled", "{job}");
    let done = job["done"].as_i64().unwrap();
    assert!(done < 300, "{done} rows ran");
    std::thread::sleep(Duration::from_millis(300));
    let written = sim
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.status.is_some())
        .count();
    assert_eq!(
        written as i64, done,
        "no row started after the cancel ran without a result"
    );
}

#[test]
fn metrics_count_requests_operations_and_jobs() {
    let (home, sim) = (Home::new(), acronis(3));
    let server = home.serve(&env(&sim), &[]);
    let token = home.token("rewst", "operate");
    let client = Client::new();
    let id = sim.customer_id(1).unwrap();
    let done = client.post(
        &server.url(&format!("/v1/vendors/acronis/tenants/{id}/disable")),
        Some(&token),
        json!({}),
    );
    assert_eq!(done.status, 200);
    let metrics = client.get(&server.url("/metrics"), None);
    assert_eq!(metrics.status, 200);
    let text = metrics.text;
    assert!(
        text.contains(
            "tenantctl_operations_total{vendor=\"acronis\",action=\"disable\",status=\"changed\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "tenantctl_http_requests_total{method=\"POST\",route=\"/v1/vendors/{vendor}/tenants/{id}/{action}\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("tenantctl_job_queue_depth 0"), "{text}");
    assert!(
        text.contains("tenantctl_retries_total{vendor=\"acronis\"}"),
        "{text}"
    );
    // The access log: one JSON line per request, with the token's name and never the token.
    let log = server.log();
    assert!(!log.contains(&token));
    assert!(
        log.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|l| l["log"] == "access" && l["token"] == "rewst" && l["status"] == 200),
        "{log}"
    );
}
