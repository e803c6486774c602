//! Fault injection on every vendor, and the request record.

use std::time::{Duration, Instant};

use serde_json::json;
use tenantctl_simulator::{
    AcronisConfig, AcronisSim, CommvaultConfig, CommvaultSim, Fault, FaultRule, VspcActionStatus,
    VspcConfig, VspcSim, VspcStatus,
};

use crate::vspc::{BOTH, delete as vspc_delete, poll_to_end, vspc_token};
use crate::{
    acronis_delete, acronis_get, acronis_put, acronis_token, client, commvault_delete,
    commvault_get, commvault_post, commvault_token, login_body, send,
};

fn acronis() -> AcronisSim {
    AcronisSim::start(AcronisConfig::default())
}

fn commvault() -> CommvaultSim {
    CommvaultSim::start(CommvaultConfig::default())
}

#[tokio::test]
async fn status_faults_use_vendor_bodies_and_headers() {
    let sim = acronis();
    let token = acronis_token(&sim).await;
    let path = format!("/api/2/tenants/{}", sim.acme_id());
    sim.inject(FaultRule::new(Fault::status(503)).path("/tenants/"));
    let answer = acronis_get(&sim, &token, &path).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.json["error"]["domain"], "PlatformAccountServer");
    // Fires once by default.
    assert_eq!(acronis_get(&sim, &token, &path).await.status, 200);

    sim.inject(FaultRule::new(Fault::rate_limited(7)));
    let limited = acronis_get(&sim, &token, &path).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("7"));

    sim.inject(FaultRule::new(
        Fault::status(500)
            .with_body("text/plain", "boom")
            .with_header("X-Test", "yes"),
    ));
    let custom = acronis_get(&sim, &token, &path).await;
    assert_eq!(custom.status, 500);
    assert_eq!(custom.text, "boom");
    assert_eq!(custom.header("content-type"), Some("text/plain"));
    assert_eq!(custom.header("x-test"), Some("yes"));

    let cv = commvault();
    cv.inject(FaultRule::new(Fault::status(502)).method("GET"));
    let answer = send(client().get(format!("{}/", cv.url()))).await;
    assert_eq!(answer.status, 502);
    assert!(answer.json["errorMessage"].is_string());
    assert!(answer.json["errorCode"].is_i64());
}

#[tokio::test]
async fn method_path_after_times() {
    let sim = acronis();
    let token = acronis_token(&sim).await;
    let id = sim.acme_id().to_string();
    let path = format!("/api/2/tenants/{id}");
    sim.inject(
        FaultRule::new(Fault::status(500))
            .method("GET")
            .path("/TENANTS/")
            .after(1)
            .times(2),
    );
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(acronis_get(&sim, &token, &path).await.status);
        }
        v
    };
    assert_eq!(statuses, vec![200, 500, 500, 200, 200]);
    // A PUT does not match a GET rule.
    sim.inject(FaultRule::new(Fault::status(500)).method("GET").always());
    let version = sim.tenant(&id).unwrap().version;
    let put = acronis_put(
        &sim,
        &token,
        &id,
        &json!({"enabled": false, "version": version}),
    )
    .await;
    assert_eq!(put.status, 200);
    sim.clear_faults();
    assert_eq!(acronis_get(&sim, &token, &path).await.status, 200);
}

async fn assert_reset(url: &str, records: impl Fn() -> Vec<tenantctl_simulator::RecordedRequest>) {
    let result = client().post(url).body("x").send().await;
    let err = result.expect_err("a reset must not produce a response");
    assert!(!err.is_timeout(), "{err:?}");
    // The next request is served normally.
    let again = client().post(url).body("x").send().await.unwrap();
    assert!(again.status().as_u16() < 500);
    let records = records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].status, None);
    assert_eq!(records[0].fault.as_deref(), Some("reset"));
    assert!(records[1].status.is_some());
    assert!(!records[1].faulted());
}

#[tokio::test]
async fn reset_drops_the_connection() {
    let a = acronis();
    a.inject(FaultRule::new(Fault::Reset));
    assert_reset(&format!("{}/api/2/idp/token", a.url()), || a.requests()).await;

    let c = commvault();
    c.inject(FaultRule::new(Fault::Reset));
    assert_reset(&format!("{}/Login", c.url()), || c.requests()).await;
}

#[tokio::test]
async fn delay_then_serve_and_timeout() {
    let sim = commvault();
    sim.inject(FaultRule::new(Fault::delay_ms(400)).path("/login"));
    let started = Instant::now();
    let token = commvault_token(&sim).await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(token.starts_with("QSDK"));
    let record = &sim.requests()[0];
    assert_eq!(record.status, Some(200));
    assert_eq!(record.fault.as_deref(), Some("delay 400ms"));

    sim.inject(FaultRule::new(Fault::Delay(Duration::from_secs(1))));
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = impatient
        .get(format!("{}/Organization", sim.url()))
        .header("Authtoken", &token)
        .send()
        .await
        .expect_err("must time out");
    assert!(err.is_timeout(), "{err:?}");
    // The abandoned request is logged once the server is done with it, fault and all.
    let deadline = Instant::now() + Duration::from_secs(3);
    while sim.requests().len() < 2 {
        assert!(Instant::now() < deadline, "abandoned request not logged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sim.requests()[1].fault.as_deref(), Some("delay 1000ms"));
}

#[tokio::test]
async fn non_json_page() {
    let sim = acronis();
    sim.inject(FaultRule::new(Fault::NonJson { status: 502 }));
    let answer = send(client().get(format!("{}/api/2/search", sim.url()))).await;
    assert_eq!(answer.status, 502);
    assert!(
        answer
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(answer.text.contains("502 Bad Gateway"));
    assert!(serde_json::from_str::<serde_json::Value>(&answer.text).is_err());
}

#[tokio::test]
async fn expire_tokens_mid_run() {
    let sim = acronis();
    let token = acronis_token(&sim).await;
    let path = format!("/api/2/tenants/{}", sim.acme_id());
    sim.inject(FaultRule::new(Fault::ExpireTokens).after(1));
    assert_eq!(acronis_get(&sim, &token, &path).await.status, 200);
    assert_eq!(acronis_get(&sim, &token, &path).await.status, 401);
    let fresh = acronis_token(&sim).await;
    assert_eq!(acronis_get(&sim, &fresh, &path).await.status, 200);
    assert_eq!(sim.requests()[2].fault.as_deref(), Some("expire_tokens"));
    assert_eq!(sim.requests()[2].status, Some(401));

    let cv = commvault();
    let token = commvault_token(&cv).await;
    cv.inject(FaultRule::new(Fault::ExpireTokens).path("/organization"));
    let answer = commvault_get(&cv, &token, "/Organization").await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.json,
        json!({"errorMessage": "Access denied", "errorCode": 5})
    );
}

#[tokio::test]
async fn concurrent_change() {
    let sim = acronis();
    let token = acronis_token(&sim).await;
    let id = sim.acme_corp_id().to_string();
    let version = sim.tenant(&id).unwrap().version;
    sim.inject(FaultRule::new(Fault::ConcurrentChange).method("PUT"));
    let conflict = acronis_put(
        &sim,
        &token,
        &id,
        &json!({"enabled": false, "version": version}),
    )
    .await;
    assert_eq!(conflict.status, 409);
    assert_eq!(conflict.json["error"]["code"], 1001);
    let now = sim.tenant(&id).unwrap();
    assert_eq!(now.version, version + 1);
    assert!(now.enabled);
    // Re-read and retry with the fresh version succeeds.
    let retry = acronis_put(
        &sim,
        &token,
        &id,
        &json!({"enabled": false, "version": now.version}),
    )
    .await;
    assert_eq!(retry.status, 200);

    let cv = commvault();
    let token = commvault_token(&cv).await;
    let org = cv.acme_corp_id();
    cv.inject(FaultRule::new(Fault::ConcurrentChange).path(format!("/organization/{org}")));
    let detail = commvault_get(&cv, &token, &format!("/Organization/{org}")).await;
    assert_eq!(
        detail.json["organizationInfo"]["organization"]["deactivateOptions"]["disableLogin"],
        true
    );
    assert!(
        cv.organization(org)
            .unwrap()
            .deactivate_options
            .is_deactivated()
    );
}

#[tokio::test]
async fn http_200_errors_in_each_commvault_shape() {
    let sim = commvault();
    sim.inject(FaultRule::new(Fault::http200_error(7, "License expired")).path("/login"));
    let login = send(
        client()
            .post(format!("{}/Login", sim.url()))
            .header("Content-Type", "application/json")
            .body(login_body("admin", "demo-password")),
    )
    .await;
    assert_eq!(login.status, 200);
    assert!(login.json.get("token").is_none());
    assert_eq!(login.json["errList"][0]["errorCode"], 7);
    assert_eq!(login.json["errList"][0]["errLogMessage"], "License expired");

    let token = commvault_token(&sim).await;
    let id = sim.acme_corp_id();
    sim.inject(FaultRule::new(Fault::http200_error(3, "Operation not permitted")).path("/action/"));
    let deactivate = commvault_post(
        &sim,
        &token,
        &format!("/Organization/{id}/action/deactivate"),
        Some(&json!({"deactivateOptions": {"disableBackup": true, "disableRestore": true, "disableLogin": true}})),
    )
    .await;
    assert_eq!(deactivate.status, 200);
    assert_eq!(deactivate.json["response"]["errorCode"], 3);
    assert_eq!(
        deactivate.json["error"]["errorMessage"],
        "Operation not permitted"
    );
    assert!(sim.organization(id).unwrap().enabled());

    sim.inject(FaultRule::new(Fault::http200_error(2, "Offboard failed")).path("/offboard"));
    let offboard = commvault_post(
        &sim,
        &token,
        "/Tenant/Offboard",
        Some(&json!({"tenantId": id})),
    )
    .await;
    assert_eq!(offboard.status, 200);
    assert_eq!(
        offboard.json,
        json!({"errorMessage": "Offboard failed", "errorCode": 2})
    );
    assert!(!sim.is_offboarded(id));
}

#[tokio::test]
async fn random_faults_are_seeded() {
    let outcomes = |seed| async move {
        let sim = AcronisSim::start(AcronisConfig {
            seed,
            ..AcronisConfig::default()
        });
        sim.inject(FaultRule::random(0.5, Fault::status(500)));
        let mut v = Vec::new();
        for _ in 0..20 {
            v.push(
                send(client().get(format!("{}/api/2/search", sim.url())))
                    .await
                    .status,
            );
        }
        v
    };
    let a = outcomes(9).await;
    assert_eq!(a, outcomes(9).await);
    assert!(a.contains(&500) && a.contains(&401), "{a:?}");
}

#[tokio::test]
async fn requests_are_recorded() {
    let sim = acronis();
    let token = acronis_token(&sim).await;
    let id = sim.acme_id().to_string();
    let version = sim.tenant(&id).unwrap().version;
    acronis_put(
        &sim,
        &token,
        &id,
        &json!({"enabled": false, "version": version}),
    )
    .await;
    let root = sim.root_tenant_id().to_string();
    acronis_get(
        &sim,
        &token,
        &format!("/api/2/search?tenant={root}&text=Acme"),
    )
    .await;

    let records = sim.requests();
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].method, "POST");
    assert_eq!(records[0].path, "/api/2/idp/token");
    assert_eq!(records[0].body_text(), "grant_type=client_credentials");
    assert!(
        records[0]
            .header("Authorization")
            .unwrap()
            .starts_with("Basic ")
    );
    let put = &records[1];
    assert_eq!(put.method, "PUT");
    assert_eq!(put.status, Some(200));
    assert_eq!(
        put.body_json().unwrap(),
        json!({"enabled": false, "version": version})
    );
    assert_eq!(put.header("content-type"), Some("application/json"));
    assert!(records[2].path.contains("text=Acme"));
    assert_eq!(records[2].path_only(), "/api/2/search");
    assert!(records.iter().all(|r| !r.faulted()));

    assert_eq!(sim.count("put", "/api/2/tenants/"), 1);
    assert_eq!(sim.count("GET", "SEARCH?"), 1);
    assert_eq!(sim.count("DELETE", ""), 0);
    sim.clear_requests();
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn many_concurrent_connections() {
    let sim = CommvaultSim::start(CommvaultConfig {
        tenants: 2000,
        ..CommvaultConfig::default()
    });
    let token = commvault_token(&sim).await;
    // One client, 200 requests in flight at once: HTTP/1.1 needs a connection for each.
    let shared = client();
    let mut tasks = Vec::new();
    for n in 1..=200usize {
        let url = format!(
            "{}/Organization/{}",
            sim.url(),
            sim.company_id(n * 10).unwrap()
        );
        let request = shared.get(url).header("Authtoken", token.clone());
        tasks.push(tokio::spawn(
            async move { crate::send(request).await.status },
        ));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(sim.count("GET", "/organization/"), 200);
}

#[tokio::test]
async fn a_concurrent_change_makes_an_acronis_delete_conflict() {
    let sim = acronis();
    let token = acronis_token(&sim).await;
    let id = sim.dormant_id().to_string();
    let version = sim.tenant(&id).unwrap().version;
    sim.inject(FaultRule::new(Fault::ConcurrentChange).method("DELETE"));
    let conflict = acronis_delete(&sim, &token, &id, Some(version)).await;
    assert_eq!(conflict.status, 409);
    assert_eq!(conflict.json["error"]["code"], 1001);
    assert!(!sim.is_deleted(&id));
    // Read again, retry with the fresh version.
    let fresh = acronis_get(&sim, &token, &format!("/api/2/tenants/{id}")).await;
    let now = fresh.json["version"].as_u64().unwrap();
    assert_eq!(now, version + 1);
    let deleted = acronis_delete(&sim, &token, &id, Some(now)).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        sim.requests()[1].fault.as_deref(),
        Some("concurrent_change")
    );
}

#[tokio::test]
async fn commvault_deletes_refused_with_http_200() {
    let sim = commvault();
    let token = commvault_token(&sim).await;
    let id = sim.dormant_id();
    sim.inject(
        FaultRule::new(Fault::http200_error(6, "Plans are still associated")).method("DELETE"),
    );
    let refused = commvault_delete(&sim, &token, &format!("/Organization/{id}")).await;
    assert_eq!(refused.status, 200);
    assert_eq!(
        refused.json,
        json!({"errorMessage": "Plans are still associated", "errorCode": 6})
    );
    assert!(!sim.is_deleted(id) && sim.organization(id).is_some());

    // Someone re-activates the company just before the delete: refused the same way.
    sim.inject(FaultRule::new(Fault::ConcurrentChange).method("DELETE"));
    let reactivated = commvault_delete(&sim, &token, &format!("/Organization/{id}")).await;
    assert_eq!(reactivated.json["errorCode"], 2);
    assert!(sim.organization(id).unwrap().enabled());
}

#[tokio::test]
async fn a_vspc_delete_can_end_failed_or_canceled() {
    let sim = VspcSim::start(VspcConfig::default());
    let token = vspc_token(&sim).await;
    let uid = sim.dormant_uid().to_string();
    sim.inject(FaultRule::new(Fault::async_failure("Cannot remove agents")).method("DELETE"));
    let accepted = vspc_delete(&sim, &token, &uid, BOTH).await;
    assert_eq!(accepted.status, 202);
    assert_eq!(
        sim.company(&uid).unwrap().status,
        VspcStatus::Deleting,
        "the delete runs first"
    );
    let location = accepted.header("location").unwrap().to_string();
    let (seen, failed) = poll_to_end(&token, &location).await;
    assert_eq!(seen, ["running", "running", "failed"]);
    assert_eq!(failed.json["errors"][0]["message"], "Cannot remove agents");
    assert_eq!(failed.json["errors"][0]["type"], "logical");
    assert_eq!(
        sim.company(&uid).unwrap().status,
        VspcStatus::Disabled,
        "a failed delete leaves the company as it was"
    );
    assert!(!sim.is_deleted(&uid));
    assert_eq!(sim.deletions()[0].status, VspcActionStatus::Failed);
    assert_eq!(sim.requests()[1].fault.as_deref(), Some("async_failure"));

    sim.inject(FaultRule::new(Fault::async_canceled()).method("DELETE"));
    let accepted = vspc_delete(&sim, &token, &uid, BOTH).await;
    let (seen, _) = poll_to_end(&token, accepted.header("location").unwrap()).await;
    assert_eq!(seen.last().map(String::as_str), Some("canceled"));
    assert_eq!(sim.deletions()[1].status, VspcActionStatus::Canceled);

    // The next delete, without a fault, succeeds.
    let accepted = vspc_delete(&sim, &token, &uid, BOTH).await;
    let (seen, _) = poll_to_end(&token, accepted.header("location").unwrap()).await;
    assert_eq!(seen.last().map(String::as_str), Some("succeed"));
    assert!(sim.is_deleted(&uid));

    // A concurrent re-enable just before the delete: refused.
    let other = sim.add_company("Flip Flop");
    sim.set_status(&other, VspcStatus::Disabled);
    sim.inject(FaultRule::new(Fault::ConcurrentChange).method("DELETE"));
    assert_eq!(vspc_delete(&sim, &token, &other, BOTH).await.status, 400);
    assert!(sim.company(&other).unwrap().enabled());
}

#[tokio::test]
async fn paging_faults_hit_the_second_page() {
    let sim = AcronisSim::start(AcronisConfig {
        tenants: 20,
        ..AcronisConfig::default()
    });
    let token = acronis_token(&sim).await;
    let root = sim.root_tenant_id().to_string();
    sim.inject(
        FaultRule::new(Fault::status(503))
            .method("GET")
            .path("/api/2/tenants?")
            .after(1),
    );
    let list = format!("/api/2/tenants?subtree_root_id={root}&lod=basic&limit=10");
    let first = acronis_get(&sim, &token, &list).await;
    assert_eq!(first.status, 200);
    let next = format!(
        "{list}&after={}",
        first.json["paging"]["cursors"]["after"].as_str().unwrap()
    );
    assert_eq!(acronis_get(&sim, &token, &next).await.status, 503);
    let retried = acronis_get(&sim, &token, &next).await;
    assert_eq!(
        retried.status, 200,
        "the cursor still works after the failure"
    );
    assert_eq!(retried.json["items"].as_array().unwrap().len(), 10);

    let cv = commvault();
    let token = commvault_token(&cv).await;
    cv.inject(FaultRule::new(Fault::Reset).path("/organization?").after(1));
    let page = |start: usize| format!("{}/Organization?start={start}&limit=10", cv.url());
    let ok = client()
        .get(page(0))
        .header("Authtoken", &token)
        .send()
        .await;
    assert_eq!(ok.unwrap().status(), 200);
    let reset = client()
        .get(page(10))
        .header("Authtoken", &token)
        .send()
        .await;
    assert!(reset.is_err(), "the second page's connection is reset");
    assert_eq!(
        commvault_get(&cv, &token, "/Organization?start=10&limit=10")
            .await
            .status,
        200
    );
    assert_eq!(cv.count("GET", "/organization?start=10"), 2);

    let vspc = VspcSim::start(VspcConfig::default());
    let token = vspc_token(&vspc).await;
    vspc.inject(
        FaultRule::new(Fault::status(520))
            .path("/organizations/companies?")
            .after(1),
    );
    let url = |offset: usize| {
        format!(
            "{}/api/v3/organizations/companies?limit=10&offset={offset}",
            vspc.url()
        )
    };
    let bearer = format!("Bearer {token}");
    let first = send(client().get(url(0)).header("Authorization", &bearer)).await;
    assert_eq!(first.status, 200);
    let second = send(client().get(url(10)).header("Authorization", &bearer)).await;
    assert_eq!(second.status, 520);
    assert_eq!(second.json["errors"][0]["code"], 520);
}
