//! The Commvault endpoints: routing, login, companies, deactivate/activate, offboard, limits.

use std::time::Duration;

use serde_json::json;
use tenantctl_simulator::{CommvaultConfig, CommvaultSim, LoginFailure, RateLimit};

use crate::{
    client, commvault_delete, commvault_get, commvault_post, commvault_token, login_body, send,
};

fn sim() -> CommvaultSim {
    CommvaultSim::start(CommvaultConfig {
        tenants: 30,
        ..CommvaultConfig::default()
    })
}

#[tokio::test]
async fn probe_without_token() {
    let sim = sim();
    for url in [
        format!("{}/", sim.url()),
        sim.url(),
        format!("{}/", sim.legacy_url()),
        format!(
            "{}//",
            sim.url().to_uppercase().replace("HTTP://", "http://")
        ),
    ] {
        let answer = send(client().get(&url)).await;
        assert_eq!(answer.status, 200, "{url}");
    }
    let elsewhere = send(client().get(format!("{}/api/Organization", sim.base_url()))).await;
    assert_eq!(elsewhere.status, 404);
}

#[tokio::test]
async fn login_variants() {
    let sim = sim();
    for path in ["/Login", "//Login", "/login", "/LOGIN/"] {
        let answer = send(
            client()
                .post(format!("{}{path}", sim.url()))
                .header("Accept", "application/json")
                .header("Content-Type", "application/json")
                .body(login_body("admin", "demo-password")),
        )
        .await;
        assert_eq!(answer.status, 200, "{path}");
        let token = answer.json["token"].as_str().unwrap();
        assert!(token.starts_with("QSDK "), "{token}");
        assert_eq!(answer.json["userName"], "admin");
        assert_eq!(answer.json["errList"], json!([]));
    }
    let legacy = send(
        client()
            .post(format!("{}/Login", sim.legacy_url()))
            .header("Content-Type", "application/json")
            .body(login_body("ADMIN", "demo-password")),
    )
    .await;
    assert_eq!(legacy.status, 200);
    assert_eq!(sim.login_count(), 5);
}

#[tokio::test]
async fn login_failure_is_http_200_by_default() {
    let sim = sim();
    let answer = send(
        client()
            .post(format!("{}/Login", sim.url()))
            .header("Content-Type", "application/json")
            .body(login_body("admin", "wrong")),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert!(answer.json.get("token").is_none());
    let err = &answer.json["errList"][0];
    assert_ne!(err["errorCode"], 0);
    assert_eq!(err["errLogMessage"], "Invalid Username or Password");

    // The password must be base64: a plain one is wrong.
    let plain = send(
        client()
            .post(format!("{}/Login", sim.url()))
            .header("Content-Type", "application/json")
            .body(json!({"username": "admin", "password": "demo-password"}).to_string()),
    )
    .await;
    assert!(plain.json.get("token").is_none());
    assert_eq!(sim.failed_login_count(), 2);
    assert_eq!(sim.login_count(), 0);
}

#[tokio::test]
async fn login_failure_as_401() {
    let sim = CommvaultSim::start(CommvaultConfig {
        login_failure: LoginFailure::Http401,
        username: "operator".into(),
        password: "pässword".into(),
        ..CommvaultConfig::default()
    });
    let wrong = send(
        client()
            .post(format!("{}/Login", sim.url()))
            .header("Content-Type", "application/json")
            .body(login_body("operator", "password")),
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.json["errList"].is_array());
    // UTF-8 passwords are base64 of their UTF-8 bytes.
    let token = commvault_token(&sim).await;
    assert!(token.starts_with("QSDK "));
}

#[tokio::test]
async fn organization_list_any_case() {
    let sim = sim();
    let token = commvault_token(&sim).await;
    for path in [
        "/Organization",
        "/organization",
        "//ORGANIZATION",
        "/Organization/",
    ] {
        let answer = commvault_get(&sim, &token, path).await;
        assert_eq!(answer.status, 200, "{path}");
        let providers = answer.json["providers"].as_array().unwrap();
        assert_eq!(providers.len(), 30 + 5);
        let acme = providers
            .iter()
            .find(|p| p["connectName"] == "Acme Corp")
            .unwrap();
        assert_eq!(acme["shortName"]["id"], sim.acme_corp_id());
        assert!(acme["shortName"]["domainName"].is_string());
        assert!(acme["providerGUID"].is_string());
    }
    let twins: Vec<u32> = commvault_get(&sim, &token, "/Organization").await.json["providers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["connectName"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case("twin co")
        })
        .map(|p| p["shortName"]["id"].as_u64().unwrap() as u32)
        .collect();
    assert_eq!(twins, sim.twin_co_ids().to_vec());
}

fn status_of(list: &serde_json::Value, id: u32) -> String {
    list["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["shortName"]["id"] == id)
        .map(|p| p["status"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("company {id} not listed"))
}

#[tokio::test]
async fn organization_list_reports_status_and_pages() {
    let sim = sim();
    let token = commvault_token(&sim).await;
    let all = commvault_get(&sim, &token, "/Organization").await;
    assert_eq!(all.json["filterQueryCount"], 35);
    assert_eq!(status_of(&all.json, sim.acme_corp_id()), "ACTIVE");
    assert_eq!(status_of(&all.json, sim.dormant_id()), "DEACTIVATED");
    assert_eq!(
        status_of(&all.json, sim.halfway_id()),
        "DEACTIVATED",
        "partly deactivated counts as deactivated"
    );
    // The status follows changes at once.
    let id = sim.acme_corp_id();
    let full = json!({"deactivateOptions": {"disableBackup": true, "disableRestore": true, "disableLogin": true}});
    commvault_post(
        &sim,
        &token,
        &format!("/Organization/{id}/action/deactivate"),
        Some(&full),
    )
    .await;
    let after = commvault_get(&sim, &token, "/Organization").await;
    assert_eq!(status_of(&after.json, id), "DEACTIVATED");
    sim.set_deactivate_options(id, false, false, false);
    let back = commvault_get(&sim, &token, "/Organization").await;
    assert_eq!(status_of(&back.json, id), "ACTIVE");

    let mut paged = Vec::new();
    let mut start = 0;
    loop {
        let page = commvault_get(
            &sim,
            &token,
            &format!("/Organization?start={start}&limit=10"),
        )
        .await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert_eq!(page.json["filterQueryCount"], 35);
        let providers = page.json["providers"].as_array().unwrap().clone();
        assert!(providers.len() <= 10);
        start += providers.len();
        paged.extend(providers);
        if start >= 35 {
            break;
        }
    }
    assert_eq!(paged, *back.json["providers"].as_array().unwrap());
    assert_eq!(sim.count("GET", "/Organization?start="), 4);
    assert_eq!(sim.count("GET", "limit=10"), 4);
    let past = commvault_get(&sim, &token, "/Organization?start=100&limit=5").await;
    assert_eq!(past.json["providers"], json!([]));
    let only_limit = commvault_get(&sim, &token, "/organization?limit=3").await;
    assert_eq!(only_limit.json["providers"].as_array().unwrap().len(), 3);
    for bad in ["start=-1", "limit=0", "limit=ten", "start=x&limit=5"] {
        let answer = commvault_get(&sim, &token, &format!("/Organization?{bad}")).await;
        assert_eq!(answer.status, 400, "{bad}");
        assert!(answer.json["errorMessage"].is_string(), "{bad}");
    }
}

#[tokio::test]
async fn delete_needs_a_deactivated_company() {
    let sim = sim();
    let token = commvault_token(&sim).await;
    let refusal = json!({
        "errorCode": 2,
        "errorMessage": "The company must be deactivated before it can be deleted",
    });
    for id in [sim.acme_corp_id(), sim.halfway_id()] {
        let answer = commvault_delete(&sim, &token, &format!("/Organization/{id}")).await;
        assert_eq!(answer.status, 200, "refusals are HTTP 200");
        assert_eq!(answer.json, refusal);
        assert!(!sim.is_deleted(id));
    }
    let dormant = sim.dormant_id();
    let deleted = commvault_delete(&sim, &token, &format!("/organization/{dormant}")).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.json["errorCode"], 0);
    assert!(deleted.json["errorMessage"].is_string());
    assert!(sim.is_deleted(dormant));
    assert_eq!(sim.deleted(), vec![dormant]);
    assert!(sim.organization(dormant).is_none());
    assert_eq!(sim.organization_count(), 30 + 5 - 1);

    // Gone from the list and from reads.
    let list = commvault_get(&sim, &token, "/Organization").await;
    assert_eq!(list.json["filterQueryCount"], 34);
    assert!(
        list.json["providers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["shortName"]["id"] != dormant)
    );
    let not_found = json!({"errorMessage": "Organization not found", "errorCode": 2});
    let read = commvault_get(&sim, &token, &format!("/Organization/{dormant}")).await;
    assert_eq!((read.status, read.json), (404, not_found.clone()));
    let again = commvault_delete(&sim, &token, &format!("/Organization/{dormant}")).await;
    assert_eq!((again.status, again.json), (404, not_found.clone()));
    let unknown = commvault_delete(&sim, &token, "/Organization/99999").await;
    assert_eq!(unknown.status, 404);
    let offboard = commvault_post(
        &sim,
        &token,
        "/Tenant/Offboard",
        Some(&json!({"tenantHostName": "Dormant Ltd"})),
    )
    .await;
    assert_eq!(offboard.json["errorCode"], 2, "not found by name either");

    let no_token =
        send(client().delete(format!("{}/Organization/{}", sim.url(), sim.acme_corp_id()))).await;
    assert_eq!(no_token.status, 401);
    let wrong_method = commvault_delete(&sim, &token, "/Organization").await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(sim.count("DELETE", "/organization/"), 6);
}

#[tokio::test]
async fn organization_detail() {
    let sim = sim();
    let token = commvault_token(&sim).await;
    let halfway = commvault_get(&sim, &token, &format!("/Organization/{}", sim.halfway_id())).await;
    assert_eq!(halfway.status, 200);
    let org = &halfway.json["organizationInfo"]["organization"];
    assert_eq!(org["connectName"], "Halfway Inc");
    assert_eq!(org["shortName"]["id"], sim.halfway_id());
    assert!(org["description"].is_string());
    assert_eq!(
        org["deactivateOptions"],
        json!({"disableBackup": false, "disableRestore": false, "disableLogin": true})
    );
    assert!(halfway.json["organizationInfo"]["organizationProperties"].is_object());

    let dormant = commvault_get(&sim, &token, &format!("/organization/{}", sim.dormant_id())).await;
    assert_eq!(
        dormant.json["organizationInfo"]["organization"]["deactivateOptions"],
        json!({"disableBackup": true, "disableRestore": true, "disableLogin": true})
    );

    for path in ["/Organization/99999", "/Organization/abc"] {
        let unknown = commvault_get(&sim, &token, path).await;
        assert_eq!(unknown.status, 404, "{path}");
        assert_eq!(
            unknown.json,
            json!({"errorMessage": "Organization not found", "errorCode": 2})
        );
    }
}

#[tokio::test]
async fn deactivate_and_activate() {
    let sim = sim();
    let token = commvault_token(&sim).await;
    let id = sim.acme_corp_id();
    let full = json!({"deactivateOptions": {"disableBackup": true, "disableRestore": true, "disableLogin": true}});
    let answer = commvault_post(
        &sim,
        &token,
        &format!("/Organization/{id}/action/deactivate"),
        Some(&full),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json["response"]["errorCode"], 0);
    assert!(answer.json["response"]["entity"].is_object());
    let org = sim.organization(id).unwrap();
    assert!(org.deactivate_options.is_deactivated());
    assert!(!org.enabled());

    let answer = commvault_post(
        &sim,
        &token,
        &format!("/organization/{id}/ACTION/Activate"),
        None,
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json["response"]["errorCode"], 0);
    assert!(sim.organization(id).unwrap().enabled());

    // Completing a partial deactivation.
    let halfway = sim.halfway_id();
    commvault_post(
        &sim,
        &token,
        &format!("/Organization/{halfway}/action/deactivate"),
        Some(&full),
    )
    .await;
    assert!(
        sim.organization(halfway)
            .unwrap()
            .deactivate_options
            .is_deactivated()
    );

    // A body without deactivateOptions fails the HTTP-200 way.
    let bad = commvault_post(
        &sim,
        &token,
        &format!("/Organization/{id}/action/deactivate"),
        Some(&json!({})),
    )
    .await;
    assert_eq!(bad.status, 200);
    assert_ne!(bad.json["response"]["errorCode"], 0);
    assert!(bad.json["error"]["errorMessage"].is_string());
    assert!(sim.organization(id).unwrap().enabled());

    let unknown = commvault_post(&sim, &token, "/Organization/99999/action/activate", None).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json["errorCode"], 2);

    let wrong_method =
        commvault_get(&sim, &token, &format!("/Organization/{id}/action/activate")).await;
    assert_eq!(wrong_method.status, 405);
}

#[tokio::test]
async fn offboard() {
    let sim = sim();
    let token = commvault_token(&sim).await;
    let id = sim.acme_corp_id();
    let answer = commvault_post(
        &sim,
        &token,
        "/Tenant/Offboard",
        Some(&json!({"tenantId": id})),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.json,
        json!({"errorMessage": format!("Successfully offboarded tenant {id}"), "errorCode": 0})
    );
    assert!(sim.is_offboarded(id));
    // Offboarding does not deactivate.
    assert!(sim.organization(id).unwrap().enabled());
    // Repeating is harmless.
    let again = commvault_post(
        &sim,
        &token,
        "/tenant/offboard",
        Some(&json!({"tenantId": id})),
    )
    .await;
    assert_eq!(again.json["errorCode"], 0);

    let company = sim.company_id(7).unwrap();
    let by_name = commvault_post(
        &sim,
        &token,
        "//Tenant/Offboard",
        Some(&json!({"tenantHostName": "company 00007"})),
    )
    .await;
    assert_eq!(by_name.json["errorCode"], 0, "{}", by_name.text);
    assert_eq!(sim.offboarded(), vec![id, company]);

    let ambiguous = commvault_post(
        &sim,
        &token,
        "/Tenant/Offboard",
        Some(&json!({"tenantHostName": "twin co"})),
    )
    .await;
    assert_eq!(ambiguous.status, 200);
    assert_eq!(ambiguous.json["errorCode"], 2);

    let unknown = commvault_post(
        &sim,
        &token,
        "/Tenant/Offboard",
        Some(&json!({"tenantId": 99999})),
    )
    .await;
    assert_eq!(unknown.status, 200);
    assert_eq!(unknown.json["errorCode"], 2);
    assert!(unknown.json["errorMessage"].is_string());

    let neither = commvault_post(&sim, &token, "/Tenant/Offboard", Some(&json!({}))).await;
    assert_eq!(neither.status, 200);
    assert_ne!(neither.json["errorCode"], 0);
    assert_eq!(sim.offboarded().len(), 2);
}

#[tokio::test]
async fn access_denied_and_idle_expiry() {
    let sim = CommvaultSim::start(CommvaultConfig {
        token_idle_timeout_secs: 2,
        ..CommvaultConfig::default()
    });
    let denied = json!({"errorMessage": "Access denied", "errorCode": 5});
    let none = send(client().get(format!("{}/Organization", sim.url()))).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.json, denied);
    let bogus = commvault_get(&sim, "QSDK bogus", "/Organization").await;
    assert_eq!(bogus.status, 401);

    let token = commvault_token(&sim).await;
    // Activity keeps the token alive past its idle timeout.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(
            commvault_get(&sim, &token, "/Organization").await.status,
            200
        );
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = commvault_get(&sim, &token, "/Organization").await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.json, denied);

    let fresh = commvault_token(&sim).await;
    sim.expire_tokens();
    assert_eq!(
        commvault_get(&sim, &fresh, "/Organization").await.status,
        401
    );
}

#[tokio::test]
async fn rate_limit() {
    let sim = CommvaultSim::start(CommvaultConfig {
        rate_limit: Some(RateLimit {
            writes: 1,
            reads: 2,
            period: Duration::from_secs(3),
        }),
        ..CommvaultConfig::default()
    });
    let token = commvault_token(&sim).await;
    assert_eq!(
        commvault_get(&sim, &token, "/Organization").await.status,
        200
    );
    assert_eq!(
        commvault_get(&sim, &token, "/Organization/2").await.status,
        200
    );
    let limited = commvault_get(&sim, &token, "/Organization").await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("x-ratelimit-limit"), Some("2"));
    assert_eq!(limited.header("x-ratelimit-period"), Some("3"));
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3).contains(&retry));

    let id = sim.acme_corp_id();
    let path = format!("/Organization/{id}/action/activate");
    assert_eq!(commvault_post(&sim, &token, &path, None).await.status, 200);
    let write_limited = commvault_post(&sim, &token, &path, None).await;
    assert_eq!(write_limited.status, 429);
    assert_eq!(write_limited.header("x-ratelimit-limit"), Some("1"));

    // Login is never limited; the window starts over.
    commvault_token(&sim).await;
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(
        commvault_get(&sim, &token, "/Organization").await.status,
        200
    );
}

#[tokio::test]
async fn deletes_count_as_writes() {
    let sim = CommvaultSim::start(CommvaultConfig {
        rate_limit: Some(RateLimit::per_hour(1, 100)),
        ..CommvaultConfig::default()
    });
    let token = commvault_token(&sim).await;
    let dormant = format!("/Organization/{}", sim.dormant_id());
    assert_eq!(
        commvault_delete(&sim, &token, &dormant).await.json["errorCode"],
        0
    );
    let limited = commvault_delete(&sim, &token, &dormant).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("x-ratelimit-limit"), Some("1"));
}

#[test]
fn state_helpers_without_a_runtime() {
    let sim = CommvaultSim::start(CommvaultConfig {
        tenants: 2,
        ..CommvaultConfig::default()
    });
    assert_eq!(sim.organization_count(), 2 + 5);
    assert_eq!(
        sim.organization(sim.company_id(2).unwrap()).unwrap().name,
        "Company 00002"
    );
    assert_eq!(sim.organizations_named("twin co").len(), 2);
    let halfway = sim.organization(sim.halfway_id()).unwrap();
    assert!(!halfway.enabled());
    assert!(!halfway.deactivate_options.is_deactivated());
    sim.set_deactivate_options(sim.acme_corp_id(), true, false, false);
    assert!(!sim.organization(sim.acme_corp_id()).unwrap().enabled());
    let id = sim.add_organization("Late Arrival");
    assert!(sim.organization(id).unwrap().enabled());
    assert!(!sim.is_offboarded(id));
    assert!(sim.offboarded().is_empty());
    assert!(sim.url().ends_with("/commandcenter/api"));
}
