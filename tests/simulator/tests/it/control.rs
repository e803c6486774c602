//! The `/_sim/` control API.

use serde_json::{Value, json};
use tenantctl_simulator::{AcronisConfig, AcronisSim, CommvaultConfig, CommvaultSim};

use crate::{acronis_get, acronis_token, client, commvault_get, commvault_token, send};

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
