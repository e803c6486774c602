//! The `/_sim/` control API.

use serde_json::{Value, json};
use tenantctl_simulator::{
    AcronisConfig, AcronisSim, CommvaultConfig, CommvaultSim, VspcConfig, VspcSim,
};

use crate::vspc::{BOTH, delete as vspc_delete, poll_to_end, vspc_token};
use crate::{
    acronis_delete, acronis_get, acronis_token, client, commvault_delete, commvault_get,
    commvault_token, send,
};

async fn add_rule(base: &str, rule: &Value) {
    let added = send(
        client()
            .post(format!("{base}/_sim/faults"))
            .body(rule.to_string()),
    )
    .await;
    assert_eq!(added.status, 200, "{rule}: {}", added.text);
}

#[tokio::test]
async fn acronis_control_api() {
    let sim = AcronisSim::start(AcronisConfig {
        tenants: 4,
        ..AcronisConfig::default()
    });
    let base = sim.url();
    let token = acronis_token(&sim).await;

    let fixtures = send(client().get(format!("{base}/_sim/fixtures"))).await;
    assert_eq!(fixtures.json["root_id"], sim.root_tenant_id());
    assert_eq!(fixtures.json["twin_co_ids"], json!(sim.twin_co_ids()));
    assert_eq!(fixtures.json["client_id"], "tenantctl-demo");

    let tenants = send(client().get(format!("{base}/_sim/tenants"))).await;
    assert_eq!(tenants.json["tenants"].as_array().unwrap().len(), 4 + 10);
    assert_eq!(tenants.json["tokens_issued"], 1);

    let requests = send(client().get(format!("{base}/_sim/requests"))).await;
    let list = requests.json.as_array().unwrap();
    assert_eq!(list.len(), 1, "control calls are not recorded: {list:?}");
    assert_eq!(list[0]["method"], "POST");
    assert_eq!(list[0]["body"], "grant_type=client_credentials");
    assert_eq!(list[0]["status"], 200);
    assert_eq!(list[0]["fault"], Value::Null);

    let rule = json!({"method": "GET", "path": "/tenants/", "times": 2,
        "fault": {"kind": "status", "status": 503, "headers": {"Retry-After": "1"}}});
    let added = send(
        client()
            .post(format!("{base}/_sim/faults"))
            .body(rule.to_string()),
    )
    .await;
    assert_eq!(added.status, 200, "{}", added.text);
    let path = format!("/api/2/tenants/{}", sim.acme_id());
    let faulted = acronis_get(&sim, &token, &path).await;
    assert_eq!(faulted.status, 503);
    assert_eq!(faulted.header("retry-after"), Some("1"));
    let listed = send(client().get(format!("{base}/_sim/faults"))).await;
    assert_eq!(listed.json[0]["fired"], 1);
    let cleared = send(client().delete(format!("{base}/_sim/faults"))).await;
    assert_eq!(cleared.status, 200);
    assert_eq!(acronis_get(&sim, &token, &path).await.status, 200);

    let bad = send(
        client()
            .post(format!("{base}/_sim/faults"))
            .body("{\"fault\": {}}"),
    )
    .await;
    assert_eq!(bad.status, 400);

    send(client().post(format!("{base}/_sim/expire-tokens"))).await;
    assert_eq!(acronis_get(&sim, &token, &path).await.status, 401);

    send(client().post(format!("{base}/_sim/reset-requests"))).await;
    assert!(sim.requests().is_empty());
    let unknown = send(client().get(format!("{base}/_sim/nope"))).await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn commvault_control_api() {
    let sim = CommvaultSim::start(CommvaultConfig {
        tenants: 3,
        ..CommvaultConfig::default()
    });
    let base = sim.base_url();
    let token = commvault_token(&sim).await;
    let state = send(client().get(format!("{base}/_sim/tenants"))).await;
    let orgs = state.json["organizations"].as_array().unwrap();
    assert_eq!(orgs.len(), 3 + 5);
    let halfway = orgs.iter().find(|o| o["id"] == sim.halfway_id()).unwrap();
    assert_eq!(halfway["enabled"], false);
    assert_eq!(halfway["offboarded"], false);
    assert_eq!(state.json["logins"], 1);

    let fixtures = send(client().get(format!("{base}//_SIM/fixtures"))).await;
    assert_eq!(fixtures.json["dormant_id"], sim.dormant_id());
    assert_eq!(fixtures.json["password"], "demo-password");

    let rule = json!({"path": "/organization", "fault": {"kind": "http200_error", "code": 9, "message": "nope"}});
    send(
        client()
            .post(format!("{base}/_sim/faults"))
            .body(rule.to_string()),
    )
    .await;
    let answer = commvault_get(&sim, &token, "/Organization").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json, json!({"errorMessage": "nope", "errorCode": 9}));

    // Faults never apply to the control API.
    let rule = json!({"times": null, "fault": {"kind": "reset"}});
    send(
        client()
            .post(format!("{base}/_sim/faults"))
            .body(rule.to_string()),
    )
    .await;
    let requests = send(client().get(format!("{base}/_sim/requests"))).await;
    assert_eq!(requests.status, 200);
    assert_eq!(requests.json.as_array().unwrap().len(), 2);
    assert_eq!(requests.json[1]["fault"], "http200_error 9");
}

#[tokio::test]
async fn deletions_and_paging_faults_through_the_control_api() {
    // Acronis: a fault on the second listing page, and deletion in the state.
    let sim = AcronisSim::start(AcronisConfig {
        tenants: 3,
        ..AcronisConfig::default()
    });
    let base = sim.url();
    let token = acronis_token(&sim).await;
    add_rule(
        &base,
        &json!({"method": "GET", "path": "/api/2/tenants?", "after": 1,
            "fault": {"kind": "status", "status": 503}}),
    )
    .await;
    let list = format!(
        "/api/2/tenants?subtree_root_id={}&limit=5",
        sim.root_tenant_id()
    );
    let first = acronis_get(&sim, &token, &list).await;
    assert_eq!(first.status, 200);
    let cursor = first.json["paging"]["cursors"]["after"].as_str().unwrap();
    let second = acronis_get(&sim, &token, &format!("{list}&after={cursor}")).await;
    assert_eq!(second.status, 503);
    let dormant = sim.dormant_id().to_string();
    let version = sim.tenant(&dormant).unwrap().version;
    assert_eq!(
        acronis_delete(&sim, &token, &dormant, Some(version))
            .await
            .status,
        204
    );
    let state = send(client().get(format!("{base}/_sim/tenants"))).await;
    assert_eq!(state.json["deleted"], json!([dormant]));
    let entry = state.json["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == dormant.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["deleted"], true);

    // Commvault: a refused delete as JSON, then a real one, in the state.
    let cv = CommvaultSim::start(CommvaultConfig::default());
    let token = commvault_token(&cv).await;
    add_rule(
        &cv.base_url(),
        &json!({"method": "DELETE", "fault": {"kind": "http200_error", "code": 2, "message": "Company has plans"}}),
    )
    .await;
    let path = format!("/Organization/{}", cv.dormant_id());
    let refused = commvault_delete(&cv, &token, &path).await;
    assert_eq!(
        refused.json,
        json!({"errorMessage": "Company has plans", "errorCode": 2})
    );
    assert_eq!(
        commvault_delete(&cv, &token, &path).await.json["errorCode"],
        0
    );
    let state = send(client().get(format!("{}/_sim/tenants", cv.base_url()))).await;
    assert_eq!(state.json["deleted"], json!([cv.dormant_id()]));
    let acme = state.json["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == cv.acme_corp_id())
        .unwrap()
        .clone();
    assert_eq!(acme["status"], "ACTIVE");
    assert_eq!(commvault_get(&cv, &token, &path).await.status, 404);

    // VSPC: an async delete told to fail, as JSON.
    let vspc = VspcSim::start(VspcConfig::default());
    let token = vspc_token(&vspc).await;
    add_rule(
        &vspc.url(),
        &json!({"method": "DELETE", "path": "/companies/",
            "fault": {"kind": "async_failure", "message": "Backups are locked"}}),
    )
    .await;
    let faults = send(client().get(format!("{}/_sim/faults", vspc.url()))).await;
    assert_eq!(faults.json[0]["rule"]["fault"]["kind"], "async_failure");
    assert_eq!(faults.json[0]["rule"]["fault"]["canceled"], false);
    let uid = vspc.dormant_uid().to_string();
    let accepted = vspc_delete(&vspc, &token, &uid, BOTH).await;
    assert_eq!(accepted.status, 202);
    let (seen, failed) = poll_to_end(&token, accepted.header("location").unwrap()).await;
    assert_eq!(seen.last().map(String::as_str), Some("failed"));
    assert_eq!(failed.json["errors"][0]["message"], "Backups are locked");
    let state = send(client().get(format!("{}/_sim/tenants", vspc.url()))).await;
    assert_eq!(state.json["deleted"], json!([]));
    assert_eq!(state.json["deletions"][0]["instanceUid"], uid.as_str());
    assert_eq!(state.json["deletions"][0]["removeAllAgents"], true);
    assert_eq!(state.json["deletions"][0]["removeBackups"], false);
    assert_eq!(state.json["deletions"][0]["status"], "failed");
    let bad = send(
        client()
            .post(format!("{}/_sim/faults", vspc.url()))
            .body(r#"{"fault": {"kind": "async_failure", "message": 5}}"#),
    )
    .await;
    assert_eq!(bad.status, 400);
}
