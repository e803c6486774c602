//! The Veeam Service Provider Console simulator: every endpoint, its errors, and the shared
//! faults, control API and request record on it.

use std::time::Duration;

use serde_json::{Value, json};
use tenantctl_simulator::{
    Fault, FaultRule, VspcActionStatus, VspcConfig, VspcDeletion, VspcRateLimit, VspcSim,
    VspcStatus,
};

use crate::{Answer, client, send};

fn sim() -> VspcSim {
    VspcSim::start(VspcConfig {
        tenants: 30,
        ..VspcConfig::default()
    })
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut out = Vec::new();
    for (k, v) in pairs {
        let enc = |s: &str| {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        };
        out.push(format!("{}={}", enc(k), enc(v)));
    }
    out.join("&")
}

async fn token_answer(sim: &VspcSim, username: &str, password: &str) -> Answer {
    send(
        client()
            .post(format!("{}/api/v3/token", sim.url()))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("grant_type", "password"),
                ("username", username),
                ("password", password),
            ])),
    )
    .await
}

pub(crate) async fn vspc_token(sim: &VspcSim) -> String {
    let answer = token_answer(sim, sim.username(), sim.password()).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json["access_token"].as_str().unwrap().to_string()
}

async fn get(sim: &VspcSim, token: &str, path_and_query: &str) -> Answer {
    send(
        client()
            .get(format!("{}/api/v3{path_and_query}", sim.url()))
            .header("Authorization", format!("Bearer {token}")),
    )
    .await
}

async fn patch(sim: &VspcSim, token: &str, uid: &str, body: &Value) -> Answer {
    send(
        client()
            .patch(format!(
                "{}/api/v3/organizations/companies/{uid}",
                sim.url()
            ))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .body(body.to_string()),
    )
    .await
}

/// DELETE a company with `query` (e.g. `removeAllAgents=true&removeBackups=false`).
pub(crate) async fn delete(sim: &VspcSim, token: &str, uid: &str, query: &str) -> Answer {
    send(
        client()
            .delete(format!(
                "{}/api/v3/organizations/companies/{uid}?{query}",
                sim.url()
            ))
            .header("Authorization", format!("Bearer {token}")),
    )
    .await
}

/// GET an async action by its `Location` URL.
pub(crate) async fn poll(token: &str, location: &str) -> Answer {
    send(
        client()
            .get(location)
            .header("Authorization", format!("Bearer {token}")),
    )
    .await
}

/// Polls `location` until the action is no longer `running`; returns the statuses seen.
pub(crate) async fn poll_to_end(token: &str, location: &str) -> (Vec<String>, Answer) {
    let mut seen = Vec::new();
    for _ in 0..20 {
        let answer = poll(token, location).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let status = answer.json["data"]["status"].as_str().unwrap().to_string();
        seen.push(status.clone());
        if status != "running" {
            return (seen, answer);
        }
    }
    panic!("still running after 20 polls: {seen:?}");
}

pub(crate) const BOTH: &str = "removeAllAgents=true&removeBackups=false";

fn status_patch(value: &str) -> Value {
    json!([{"op": "replace", "path": "/status", "value": value}])
}

fn filter(name: &str, collation: Option<&str>, operation: &str) -> String {
    let mut clause = json!({"property": "name", "operation": operation, "value": name});
    if let Some(collation) = collation {
        clause["collation"] = json!(collation);
    }
    let text = json!([clause]).to_string();
    form(&[("filter", &text)])
}

fn names(answer: &Answer) -> Vec<String> {
    answer.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn token_password_grant_and_its_failures() {
    let sim = sim();
    let answer = token_answer(&sim, "VSPC\\Administrator", sim.password()).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json["token_type"], "bearer");
    assert_eq!(answer.json["expires_in"], 3600);
    assert!(answer.json["access_token"].as_str().unwrap().len() >= 32);
    assert!(answer.json["refresh_token"].is_string());

    let wrong = token_answer(&sim, sim.username(), "wrong").await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json["errors"][0]["code"], 401);
    assert!(wrong.json["errors"][0]["message"].is_string());
    assert_eq!(sim.failed_login_count(), 1);

    let json_body = send(
        client()
            .post(format!("{}/api/v3/token", sim.url()))
            .header("Content-Type", "application/json")
            .body("{}"),
    )
    .await;
    assert_eq!(json_body.status, 415);

    let grant = send(
        client()
            .post(format!("{}/api/v3/token", sim.url()))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials"),
    )
    .await;
    assert_eq!(grant.status, 400);
    assert_eq!(grant.json["errors"][0]["parameterName"], "grant_type");

    // The refresh token works once.
    let refresh = answer.json["refresh_token"].as_str().unwrap();
    let body = form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)]);
    let renewed = send(
        client()
            .post(format!("{}/api/v3/token", sim.url()))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.clone()),
    )
    .await;
    assert_eq!(renewed.status, 200);
    let again = send(
        client()
            .post(format!("{}/api/v3/token", sim.url()))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body),
    )
    .await;
    assert_eq!(again.status, 401);
    assert_eq!(sim.tokens_issued(), 2);
}

#[tokio::test]
async fn bearer_tokens_are_checked_and_expire() {
    let sim = VspcSim::start(VspcConfig {
        token_lifetime_secs: 1,
        ..VspcConfig::default()
    });
    let none = send(client().get(format!("{}/api/v3/organizations/companies", sim.url()))).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.json["errors"][0]["code"], 401);
    assert_eq!(
        get(&sim, "bogus", "/organizations/companies").await.status,
        401
    );

    let token = vspc_token(&sim).await;
    let lower = send(
        client()
            .get(format!("{}/API/V3/Organizations/Companies", sim.url()))
            .header("Authorization", format!("bearer {token}")),
    )
    .await;
    assert_eq!(lower.status, 200, "scheme and path ignore case");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        get(&sim, &token, "/organizations/companies").await.status,
        401
    );

    let fresh = vspc_token(&sim).await;
    sim.expire_tokens();
    assert_eq!(
        get(&sim, &fresh, "/organizations/companies").await.status,
        401
    );
}

#[tokio::test]
async fn the_company_list_pages_and_filters_as_documented() {
    let sim = sim();
    let token = vspc_token(&sim).await;
    let all = get(&sim, &token, "/organizations/companies").await;
    assert_eq!(all.status, 200);
    assert_eq!(all.json["meta"]["pagingInfo"]["total"], 30 + 6);
    assert_eq!(all.json["meta"]["pagingInfo"]["count"], 36);
    let first = &all.json["data"][0];
    assert_eq!(first["name"], "Acme Corp");
    assert_eq!(first["instanceUid"], sim.acme_corp_uid());
    assert_eq!(first["status"], "Active");

    let page = get(&sim, &token, "/organizations/companies?limit=5&offset=3").await;
    assert_eq!(page.json["data"].as_array().unwrap().len(), 5);
    assert_eq!(page.json["meta"]["pagingInfo"]["offset"], 3);
    assert_eq!(page.json["data"][0]["name"], "TWIN CO");
    for bad in ["limit=0", "limit=501", "limit=x", "offset=-1"] {
        let answer = get(&sim, &token, &format!("/organizations/companies?{bad}")).await;
        assert_eq!(answer.status, 400, "{bad}");
        assert!(
            answer.json["errors"][0]["parameterName"].is_string(),
            "{bad}"
        );
    }

    let exact = get(
        &sim,
        &token,
        &format!(
            "/organizations/companies?{}&limit=500",
            filter("acme corp", Some("ignorecase"), "equals")
        ),
    )
    .await;
    assert_eq!(names(&exact), vec!["Acme Corp"]);
    let ordinal = get(
        &sim,
        &token,
        &format!(
            "/organizations/companies?{}",
            filter("acme corp", None, "equals")
        ),
    )
    .await;
    assert!(
        names(&ordinal).is_empty(),
        "ordinal is the default collation"
    );
    let contains = get(
        &sim,
        &token,
        &format!(
            "/organizations/companies?{}",
            filter("Acme Corp", None, "contains")
        ),
    )
    .await;
    assert_eq!(names(&contains), vec!["Acme Corp", "Acme Corporation"]);
    let twins = get(
        &sim,
        &token,
        &format!(
            "/organizations/companies?{}",
            filter("twin co", Some("ignorecase"), "equals")
        ),
    )
    .await;
    assert_eq!(names(&twins), vec!["Twin Co", "TWIN CO"]);
    let uids: Vec<&str> = twins.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["instanceUid"].as_str().unwrap())
        .collect();
    assert_eq!(uids, sim.twin_co_uids().to_vec());

    let broken = get(&sim, &token, "/organizations/companies?filter=%5Bnot-json").await;
    assert_eq!(broken.status, 400);
    assert_eq!(broken.json["errors"][0]["parameterName"], "filter");
}

#[tokio::test]
async fn one_company_and_unknown_uids() {
    let sim = sim();
    let token = vspc_token(&sim).await;
    let dormant = get(
        &sim,
        &token,
        &format!("/organizations/companies/{}", sim.dormant_uid()),
    )
    .await;
    assert_eq!(dormant.status, 200);
    assert_eq!(dormant.json["data"]["name"], "Dormant Ltd");
    assert_eq!(dormant.json["data"]["status"], "Disabled");
    let lapsed = get(
        &sim,
        &token,
        &format!(
            "/organizations/companies/{}",
            sim.lapsed_uid().to_uppercase()
        ),
    )
    .await;
    assert_eq!(lapsed.json["data"]["status"], "Expired", "uids ignore case");
    for uid in ["00000000-0000-4000-8000-000000000000", "not-a-uid"] {
        let unknown = get(&sim, &token, &format!("/organizations/companies/{uid}")).await;
        assert_eq!(unknown.status, 404, "{uid}");
        assert_eq!(unknown.json["errors"][0]["code"], 404);
        assert!(
            unknown.json["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(uid)
        );
    }
    let elsewhere = get(&sim, &token, "/organizations/resellers").await;
    assert_eq!(elsewhere.status, 404);
}

#[tokio::test]
async fn patching_the_status_disables_and_enables() {
    let sim = sim();
    let token = vspc_token(&sim).await;
    let uid = sim.acme_corp_uid().to_string();
    let disabled = patch(&sim, &token, &uid, &status_patch("Disabled")).await;
    assert_eq!(disabled.status, 200, "{}", disabled.text);
    assert_eq!(disabled.json["data"]["status"], "Disabled");
    assert!(!sim.company(&uid).unwrap().enabled());
    // Repeating the replace changes nothing more.
    let again = patch(&sim, &token, &uid, &status_patch("disabled")).await;
    assert_eq!(again.status, 200);
    assert_eq!(sim.company(&uid).unwrap().status, VspcStatus::Disabled);
    let enabled = patch(
        &sim,
        &token,
        &uid,
        &json!([{"op": "replace", "path": "/Status", "value": "ACTIVE"}]),
    )
    .await;
    assert_eq!(enabled.json["data"]["status"], "Active");
    assert!(sim.company(&uid).unwrap().enabled());

    for (body, about) in [
        (status_patch("Expired"), "status"),
        (
            json!([{"op": "replace", "path": "/name", "value": "x"}]),
            "name",
        ),
        (json!([{"op": "remove", "path": "/status"}]), "status"),
    ] {
        let answer = patch(&sim, &token, &uid, &body).await;
        assert_eq!(answer.status, 400, "{body}");
        assert_eq!(answer.json["errors"][0]["propertyName"], about, "{body}");
    }
    for body in [json!({}), json!([])] {
        assert_eq!(patch(&sim, &token, &uid, &body).await.status, 400, "{body}");
    }
    let expired = patch(&sim, &token, sim.lapsed_uid(), &status_patch("Active")).await;
    assert_eq!(expired.status, 400);
    assert_eq!(
        sim.company(sim.lapsed_uid()).unwrap().status,
        VspcStatus::Expired
    );
    let no_type = send(
        client()
            .patch(format!(
                "{}/api/v3/organizations/companies/{uid}",
                sim.url()
            ))
            .header("Authorization", format!("Bearer {token}"))
            .body(status_patch("Disabled").to_string()),
    )
    .await;
    assert_eq!(no_type.status, 415);
    assert!(sim.company(&uid).unwrap().enabled());
    let unknown = patch(
        &sim,
        &token,
        "00000000-0000-4000-8000-000000000000",
        &status_patch("Disabled"),
    )
    .await;
    assert_eq!(unknown.status, 404);
    let wrong_method = send(
        client()
            .post(format!(
                "{}/api/v3/organizations/companies/{uid}",
                sim.url()
            ))
            .header("Authorization", format!("Bearer {token}")),
    )
    .await;
    assert_eq!(wrong_method.status, 405);
}

#[tokio::test]
async fn async_patches_answer_202_with_a_location() {
    let sim = VspcSim::start(VspcConfig {
        async_patches: true,
        ..VspcConfig::default()
    });
    let token = vspc_token(&sim).await;
    let uid = sim.acme_corp_uid().to_string();
    let queued = patch(&sim, &token, &uid, &status_patch("Disabled")).await;
    assert_eq!(queued.status, 202);
    assert!(queued.text.is_empty());
    let location = queued.header("location").unwrap();
    assert!(
        location.starts_with(&format!("{}/api/v3/asyncActions/", sim.url())),
        "{location}"
    );
    assert!(!sim.company(&uid).unwrap().enabled());
    let (seen, done) = poll_to_end(&token, location).await;
    assert_eq!(seen, ["running", "running", "succeed"]);
    assert_eq!(done.json["data"]["actionName"], "PatchCompany");
    assert!(done.json["errors"].is_null());
}

#[tokio::test]
async fn deleting_a_disabled_company_is_asynchronous() {
    let sim = sim();
    let token = vspc_token(&sim).await;
    let uid = sim.dormant_uid().to_string();
    let accepted = delete(&sim, &token, &uid, BOTH).await;
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    let location = accepted.header("location").unwrap().to_string();
    let prefix = format!("{}/api/v3/asyncActions/", sim.url());
    let action_id = location.strip_prefix(&prefix).unwrap().to_string();
    assert_eq!(accepted.json["data"]["id"], action_id.as_str());
    assert_eq!(accepted.json["data"]["status"], "running");
    assert_eq!(accepted.json["data"]["actionName"], "DeleteCompany");
    assert!(accepted.json["data"]["startTime"].is_string());
    assert_eq!(
        sim.deletions(),
        vec![VspcDeletion {
            company_uid: uid.clone(),
            action_id: action_id.clone(),
            remove_all_agents: true,
            remove_backups: false,
            status: VspcActionStatus::Running,
        }]
    );

    // Deleting while the action runs: readable and listed with that status.
    let path = format!("/organizations/companies/{uid}");
    let reading = get(&sim, &token, &path).await;
    assert_eq!(reading.json["data"]["status"], "Deleting");
    let listed = get(&sim, &token, "/organizations/companies?limit=500").await;
    assert!(
        listed.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["instanceUid"] == uid.as_str() && c["status"] == "Deleting")
    );
    assert!(!sim.is_deleted(&uid));

    let (seen, done) = poll_to_end(&token, &location).await;
    assert_eq!(
        seen,
        ["running", "running", "succeed"],
        "two polls running by default"
    );
    assert_eq!(done.json["data"]["id"], action_id.as_str());
    assert!(done.json["errors"].is_null());
    assert!(sim.is_deleted(&uid));
    assert!(sim.is_deleted(&uid.to_uppercase()));
    assert_eq!(sim.deleted(), vec![uid.clone()]);
    assert_eq!(sim.deletions()[0].status, VspcActionStatus::Succeed);
    assert!(sim.company(&uid).is_none());
    assert_eq!(get(&sim, &token, &path).await.status, 404);
    let after = get(&sim, &token, "/organizations/companies").await;
    assert_eq!(after.json["meta"]["pagingInfo"]["total"], 30 + 6 - 1);
    // The finished result stays readable.
    let later = poll(&token, &location).await;
    assert_eq!(later.json["data"]["status"], "succeed");
    let again = delete(&sim, &token, &uid, BOTH).await;
    assert_eq!(again.status, 404);
    // Everything was recorded, query and all.
    assert_eq!(
        sim.count("DELETE", "removeAllAgents=true&removeBackups=false"),
        2
    );
    assert_eq!(sim.count("GET", "/asyncActions/"), 4);
}

#[tokio::test]
async fn delete_needs_both_flags_and_a_disabled_company() {
    let sim = sim();
    let token = vspc_token(&sim).await;
    let uid = sim.dormant_uid().to_string();
    for (query, missing) in [
        ("removeBackups=false", "removeAllAgents"),
        ("removeAllAgents=true", "removeBackups"),
        ("", "removeAllAgents"),
        ("removeAllAgents=yes&removeBackups=false", "removeAllAgents"),
        ("removeAllAgents=TRUE&removeBackups=maybe", "removeBackups"),
    ] {
        let answer = delete(&sim, &token, &uid, query).await;
        assert_eq!(answer.status, 400, "{query}");
        assert_eq!(
            answer.json["errors"][0]["parameterName"], missing,
            "{query}"
        );
    }
    for active in [sim.acme_corp_uid(), sim.lapsed_uid()] {
        let answer = delete(&sim, &token, active, BOTH).await;
        assert_eq!(answer.status, 400, "{}", answer.text);
        assert_eq!(answer.json["errors"][0]["type"], "logical");
        assert!(sim.company(active).is_some());
    }
    let unknown = delete(&sim, &token, "00000000-0000-4000-8000-000000000000", BOTH).await;
    assert_eq!(unknown.status, 404);
    assert!(sim.deletions().is_empty());
    assert_eq!(sim.company(&uid).unwrap().status, VspcStatus::Disabled);

    // Flags are case-insensitive booleans; the delete of one being deleted is refused.
    let accepted = delete(
        &sim,
        &token,
        &uid,
        "removeAllAgents=False&removeBackups=TRUE",
    )
    .await;
    assert_eq!(accepted.status, 202);
    let deletion = &sim.deletions()[0];
    assert!(!deletion.remove_all_agents && deletion.remove_backups);
    assert_eq!(delete(&sim, &token, &uid, BOTH).await.status, 400);

    let action = format!("{}/api/v3/asyncActions/{}", sim.url(), deletion.action_id);
    assert_eq!(poll("bogus", &action).await.status, 401);
    let unknown_action = poll(
        &token,
        &format!(
            "{}/api/v3/asyncActions/00000000-0000-4000-8000-000000000000",
            sim.url()
        ),
    )
    .await;
    assert_eq!(unknown_action.status, 404);
    assert_eq!(unknown_action.json["errors"][0]["code"], 404);
    let wrong_method = send(
        client()
            .post(&action)
            .header("Authorization", format!("Bearer {token}")),
    )
    .await;
    assert_eq!(wrong_method.status, 405);
}

#[tokio::test]
async fn async_polls_and_result_retention_are_configurable() {
    let sim = VspcSim::start(VspcConfig {
        async_polls: 0,
        async_success_ttl_secs: 1,
        async_failure_ttl_secs: 60,
        ..VspcConfig::default()
    });
    let token = vspc_token(&sim).await;
    let ok_uid = sim.dormant_uid().to_string();
    let failing_uid = sim.add_company("Doomed Ltd");
    sim.set_status(&failing_uid, VspcStatus::Disabled);
    let ok = delete(&sim, &token, &ok_uid, BOTH).await;
    let ok_location = ok.header("location").unwrap().to_string();
    sim.inject(FaultRule::new(Fault::async_failure("Agents are busy")).method("DELETE"));
    let failing = delete(&sim, &token, &failing_uid, BOTH).await;
    assert_eq!(failing.status, 202, "the failure shows only when polled");
    let failing_location = failing.header("location").unwrap().to_string();

    let (seen, _) = poll_to_end(&token, &ok_location).await;
    assert_eq!(seen, ["succeed"], "no running polls");
    let (seen, failed) = poll_to_end(&token, &failing_location).await;
    assert_eq!(seen, ["failed"]);
    assert_eq!(failed.json["errors"][0]["message"], "Agents are busy");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        poll(&token, &ok_location).await.status,
        404,
        "a success is kept for async_success_ttl_secs"
    );
    assert_eq!(
        poll(&token, &failing_location).await.json["data"]["status"],
        "failed",
        "a failure is kept longer"
    );
}

#[tokio::test]
async fn throttling_answers_429_with_retry_after_in_the_body() {
    let sim = VspcSim::start(VspcConfig {
        rate_limit: Some(VspcRateLimit {
            requests: 2,
            period: Duration::from_secs(2),
        }),
        ..VspcConfig::default()
    });
    let token = vspc_token(&sim).await;
    assert_eq!(
        get(&sim, &token, "/organizations/companies").await.status,
        200
    );
    let limited = get(&sim, &token, "/organizations/companies").await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.json["errors"][0]["type"], "transport");
    assert_eq!(limited.json["errors"][0]["code"], 429);
    let wait = limited.json["errors"][0]["retryAfter"].as_u64().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        get(&sim, &token, "/organizations/companies").await.status,
        200
    );
}

#[tokio::test]
async fn shared_faults_use_the_vspc_shapes() {
    let sim = sim();
    let token = vspc_token(&sim).await;
    let uid = sim.acme_corp_uid().to_string();
    let path = format!("/organizations/companies/{uid}");

    sim.inject(FaultRule::new(Fault::status(520)).path("/companies/"));
    let server_error = get(&sim, &token, &path).await;
    assert_eq!(server_error.status, 520);
    assert_eq!(server_error.json["errors"][0]["code"], 520);

    sim.inject(FaultRule::new(Fault::rate_limited(3)));
    let limited = get(&sim, &token, &path).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("3"));
    assert_eq!(limited.json["errors"][0]["code"], 429);

    sim.inject(FaultRule::new(Fault::http200_error(1200, "Operation failed")).method("PATCH"));
    let failed = patch(&sim, &token, &uid, &status_patch("Disabled")).await;
    assert_eq!(failed.status, 200);
    assert!(failed.json["data"].is_null());
    assert_eq!(failed.json["errors"][0]["code"], 1200);
    assert!(
        sim.company(&uid).unwrap().enabled(),
        "the fault replaced the change"
    );

    sim.inject(
        FaultRule::new(Fault::ConcurrentChange)
            .method("GET")
            .path("/companies/"),
    );
    let flipped = get(&sim, &token, &path).await;
    assert_eq!(flipped.json["data"]["status"], "Disabled");

    sim.inject(FaultRule::new(Fault::ExpireTokens));
    assert_eq!(get(&sim, &token, &path).await.status, 401);

    sim.inject(FaultRule::new(Fault::NonJson { status: 502 }));
    let html = send(client().get(format!("{}/api/v3/token", sim.url()))).await;
    assert_eq!(html.status, 502);
    assert!(html.text.contains("<html>"));

    sim.inject(FaultRule::new(Fault::Reset).path("/token"));
    let reset = client()
        .post(format!("{}/api/v3/token", sim.url()))
        .send()
        .await;
    assert!(reset.is_err(), "a reset is a transport error");

    let recorded = sim.requests();
    let patches: Vec<_> = recorded.iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].fault.as_deref(), Some("http200_error 1200"));
    assert_eq!(
        patches[0].body_json(),
        Some(json!([{"op": "replace", "path": "/status", "value": "Disabled"}]))
    );
    assert!(recorded.iter().any(|r| r.path_only() == "/api/v3/token"
        && r.fault.as_deref() == Some("reset")
        && r.status.is_none()));
    assert_eq!(sim.count("GET", "/organizations/companies/"), 4);
}

#[tokio::test]
async fn control_api_reports_state_and_fixtures() {
    let sim = sim();
    sim.set_status(sim.acme_corp_uid(), VspcStatus::Disabled);
    let fixtures = send(client().get(format!("{}/_sim/fixtures", sim.url()))).await;
    assert_eq!(fixtures.json["acme_corp_uid"], sim.acme_corp_uid());
    assert_eq!(fixtures.json["username"], "vspc\\administrator");
    assert_eq!(fixtures.json["twin_co_uids"][1], sim.twin_co_uids()[1]);
    let state = send(client().get(format!("{}/_sim/tenants", sim.url()))).await;
    let acme = state.json["companies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["instanceUid"] == sim.acme_corp_uid())
        .unwrap()
        .clone();
    assert_eq!(acme["status"], "Disabled");
    assert_eq!(acme["enabled"], false);
    let rule =
        json!({"method": "GET", "path": "/companies", "fault": {"kind": "status", "status": 503}});
    let added = send(
        client()
            .post(format!("{}/_sim/faults", sim.url()))
            .body(rule.to_string()),
    )
    .await;
    assert_eq!(added.status, 200);
    let token = vspc_token(&sim).await;
    assert_eq!(
        get(&sim, &token, "/organizations/companies").await.status,
        503
    );
    assert!(sim.requests().iter().all(|r| !r.path.contains("_sim")));
}

#[test]
fn state_helpers_without_a_runtime() {
    let sim = VspcSim::start(VspcConfig {
        tenants: 2,
        ..VspcConfig::default()
    });
    assert_eq!(sim.company_count(), 2 + 6);
    let second = sim.company_uid(2).unwrap();
    assert_eq!(sim.company(&second).unwrap().name, "Company 00002");
    assert!(sim.company_uid(3).is_none());
    assert_eq!(sim.companies_named("twin co").len(), 2);
    assert_eq!(sim.companies_named("Acme Corp").len(), 1);
    assert!(!sim.company(sim.dormant_uid()).unwrap().enabled());
    let late = sim.add_company("Late Arrival");
    assert!(sim.company(&late).unwrap().enabled());
    assert!(sim.api_url().ends_with("/api/v3"));
    // The same seed gives the same uids.
    let twin = VspcSim::start(VspcConfig {
        tenants: 2,
        ..VspcConfig::default()
    });
    assert_eq!(twin.acme_corp_uid(), sim.acme_corp_uid());
}
