//! The Acronis endpoints: happy paths, auth, errors, search and optimistic locking.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tenantctl_simulator::{AcronisConfig, AcronisSim, TenantKind};

use crate::{acronis_get, acronis_put, acronis_token, client, send};

fn sim() -> AcronisSim {
    AcronisSim::start(AcronisConfig {
        tenants: 42,
        ..AcronisConfig::default()
    })
}

fn assert_envelope(body: &Value) {
    let error = &body["error"];
    assert!(error.is_object(), "not an error envelope: {body}");
    assert!(error["code"].is_string() || error["code"].is_i64());
    assert!(error["message"].is_string());
    assert!(error["details"].is_object());
    assert!(error["context"].is_object());
    assert_eq!(error["domain"], "PlatformAccountServer");
}

#[tokio::test]
async fn token_happy_path() {
    let sim = sim();
    let answer = send(
        client()
            .post(format!("{}/api/2/idp/token", sim.url()))
            .basic_auth("tenantctl-demo", Some("demo-secret"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials"),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json["token_type"], "bearer");
    assert!(answer.json["access_token"].as_str().unwrap().len() > 20);
    assert!(answer.json["id_token"].is_string());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expires_on = answer.json["expires_on"].as_u64().unwrap();
    assert!(
        (now + 7190..=now + 7210).contains(&expires_on),
        "{expires_on}"
    );
    assert_eq!(sim.tokens_issued(), 1);
}

#[tokio::test]
async fn token_rejects_bad_credentials_and_grants() {
    let sim = sim();
    let url = format!("{}/api/2/idp/token", sim.url());
    let form = "application/x-www-form-urlencoded";
    let wrong = send(
        client()
            .post(&url)
            .basic_auth("tenantctl-demo", Some("nope"))
            .header("Content-Type", form)
            .body("grant_type=client_credentials"),
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json["error"], "invalid_client");
    assert!(wrong.json["error_description"].is_string());

    let missing = send(
        client()
            .post(&url)
            .header("Content-Type", form)
            .body("grant_type=client_credentials"),
    )
    .await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json["error"], "invalid_client");

    let grant = send(
        client()
            .post(&url)
            .basic_auth("tenantctl-demo", Some("demo-secret"))
            .header("Content-Type", form)
            .body("grant_type=password"),
    )
    .await;
    assert_eq!(grant.status, 400);
    assert_eq!(grant.json["error"], "unsupported_grant_type");
    assert_eq!(sim.tokens_issued(), 0);
}

#[tokio::test]
async fn custom_credentials() {
    let sim = AcronisSim::start(AcronisConfig {
        client_id: "other".into(),
        client_secret: "s3cret:with:colons".into(),
        ..AcronisConfig::default()
    });
    let token = acronis_token(&sim).await;
    let answer = acronis_get(&sim, &token, "/api/2/clients/other").await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn client_reports_its_root_tenant() {
    let sim = sim();
    let token = acronis_token(&sim).await;
    let answer = acronis_get(&sim, &token, "/api/2/clients/tenantctl-demo").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json["client_id"], "tenantctl-demo");
    assert_eq!(answer.json["tenant_id"], sim.root_tenant_id());
    assert_eq!(answer.json["type"], "api_client");

    let unknown = acronis_get(&sim, &token, "/api/2/clients/nobody").await;
    assert_eq!(unknown.status, 404);
    assert_envelope(&unknown.json);
}

#[tokio::test]
async fn get_tenant() {
    let sim = sim();
    let token = acronis_token(&sim).await;
    let id = sim.acme_corp_id().to_string();
    let answer = acronis_get(&sim, &token, &format!("/api/2/tenants/{id}")).await;
    assert_eq!(answer.status, 200);
    let t = &answer.json;
    assert_eq!(t["id"], id.as_str());
    assert_eq!(t["name"], "Acme Corp");
    assert_eq!(t["kind"], "customer");
    assert_eq!(t["parent_id"], sim.root_tenant_id());
    assert_eq!(t["enabled"], true);
    assert_eq!(t["version"], sim.tenant(&id).unwrap().version);

    let dormant = acronis_get(
        &sim,
        &token,
        &format!("/api/2/tenants/{}", sim.dormant_id()),
    )
    .await;
    assert_eq!(dormant.json["enabled"], false);

    let root = acronis_get(
        &sim,
        &token,
        &format!("/api/2/tenants/{}", sim.root_tenant_id()),
    )
    .await;
    assert_eq!(root.status, 200);
    assert_eq!(root.json["kind"], "partner");
}

#[tokio::test]
async fn tenant_errors() {
    let sim = sim();
    let token = acronis_token(&sim).await;
    let unknown = acronis_get(
        &sim,
        &token,
        "/api/2/tenants/00000000-1111-4222-8333-444444444444",
    )
    .await;
    assert_eq!(unknown.status, 404);
    assert_envelope(&unknown.json);

    let foreign = acronis_get(
        &sim,
        &token,
        &format!("/api/2/tenants/{}", sim.foreign_tenant_id()),
    )
    .await;
    assert_eq!(foreign.status, 403);
    assert_envelope(&foreign.json);

    let top = acronis_get(
        &sim,
        &token,
        &format!("/api/2/tenants/{}", sim.fixtures().top_id),
    )
    .await;
    assert_eq!(top.status, 403);

    let path = format!("/api/2/tenants/{}", sim.acme_id());
    let no_token = send(client().get(format!("{}{path}", sim.url()))).await;
    assert_eq!(no_token.status, 401);
    assert_envelope(&no_token.json);
    let bad_token = acronis_get(&sim, "not-a-token", &path).await;
    assert_eq!(bad_token.status, 401);
    let basic = send(
        client()
            .get(format!("{}{path}", sim.url()))
            .basic_auth("tenantctl-demo", Some("demo-secret")),
    )
    .await;
    assert_eq!(basic.status, 401);

    let unknown_route = acronis_get(&sim, &token, "/api/2/nothing").await;
    assert_eq!(unknown_route.status, 404);
    assert_envelope(&unknown_route.json);
}

#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    let sim = sim();
    let token = acronis_token(&sim).await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let answer = send(
            client()
                .get(format!("{}/api/2/tenants/{}", sim.url(), sim.acme_id()))
                .header("Authorization", format!("{scheme} {token}")),
        )
        .await;
        assert_eq!(answer.status, 200, "{scheme}");
    }
}

#[tokio::test]
async fn search_is_word_prefix_and_includes_users() {
    let sim = sim();
    let token = acronis_token(&sim).await;
    let root = sim.root_tenant_id();
    let answer = acronis_get(
        &sim,
        &token,
        &format!("/api/2/search?tenant={root}&text=Acme&limit=1000"),
    )
    .await;
    assert_eq!(answer.status, 200);
    let items = answer.json["items"].as_array().unwrap();
    let mut names: Vec<(&str, &str)> = items
        .iter()
        .map(|i| (i["obj_type"].as_str().unwrap(), i["name"].as_str().unwrap()))
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            ("tenant", "Acme"),
            ("tenant", "Acme Corp"),
            ("user", "Acme Admin")
        ]
    );
    let acme_corp = items.iter().find(|i| i["name"] == "Acme Corp").unwrap();
    assert_eq!(acme_corp["id"], sim.acme_corp_id());
    assert_eq!(acme_corp["kind"], "customer");
    assert_eq!(acme_corp["parent_id"], root);
    assert!(acme_corp["path"].is_string());

    // Lower case and a partial word match too.
    let lower = acronis_get(
        &sim,
        &token,
        &format!("/api/2/search?tenant={root}&text=acm"),
    )
    .await;
    assert_eq!(lower.json["items"].as_array().unwrap().len(), 3);
    // Not a prefix of any word.
    let inner = acronis_get(
        &sim,
        &token,
        &format!("/api/2/search?tenant={root}&text=cme"),
    )
    .await;
    assert!(inner.json["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn search_ambiguous_limit_and_scope() {
    let sim = sim();
    let token = acronis_token(&sim).await;
    let root = sim.root_tenant_id();
    let twins = acronis_get(
        &sim,
        &token,
        &format!("/api/2/search?tenant={root}&text=Twin%20Co&limit=1000"),
    )
    .await;
    let items = twins.json["items"].as_array().unwrap();
    let tenant_ids: Vec<&str> = items
        .iter()
        .filter(|i| i["obj_type"] == "tenant" && i["name"] == "Twin Co")
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(tenant_ids, sim.twin_co_ids().to_vec());
    assert!(items.iter().any(|i| i["obj_type"] == "user"));

    let limited = acronis_get(
        &sim,
        &token,
        &format!("/api/2/search?tenant={root}&text=Customer&limit=5"),
    )
    .await;
    assert_eq!(limited.json["items"].as_array().unwrap().len(), 5);
    let all = acronis_get(
        &sim,
        &token,
        &format!("/api/2/search?tenant={root}&text=customer&limit=1000"),
    )
    .await;
    assert_eq!(all.json["items"].as_array().unwrap().len(), 42);

    let exact = acronis_get(
        &sim,
        &token,
        &format!("/api/2/search?tenant={root}&text=Customer+00042&limit=1000"),
    )
    .await;
    let items = exact.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], sim.customer_id(42).unwrap().as_str());

    // Outside the client's subtree: not found by search, refused as a scope.
    let foreign = acronis_get(
        &sim,
        &token,
        &format!("/api/2/search?tenant={root}&text=Foreign"),
    )
    .await;
    assert!(foreign.json["items"].as_array().unwrap().is_empty());
    let other_scope = acronis_get(
        &sim,
        &token,
        &format!(
            "/api/2/search?tenant={}&text=Foreign",
            sim.fixtures().other_partner_id
        ),
    )
    .await;
    assert_eq!(other_scope.status, 403);

    // A narrower scope finds only what is below it.
    let reseller = acronis_get(
        &sim,
        &token,
        &format!(
            "/api/2/search?tenant={}&text=Twin",
            sim.fixtures().reseller_id
        ),
    )
    .await;
    let tenants: Vec<&Value> = reseller.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["obj_type"] == "tenant")
        .collect();
    assert_eq!(tenants.len(), 1);
    assert_eq!(tenants[0]["id"], sim.twin_co_ids()[1]);

    let missing = acronis_get(&sim, &token, "/api/2/search?text=Acme").await;
    assert_eq!(missing.status, 400);
    assert_envelope(&missing.json);
}

#[tokio::test]
async fn put_disables_and_enables() {
    let sim = sim();
    let token = acronis_token(&sim).await;
    let id = sim.acme_corp_id().to_string();
    let version = sim.tenant(&id).unwrap().version;

    let answer = acronis_put(
        &sim,
        &token,
        &id,
        &json!({"enabled": false, "version": version}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json["enabled"], false);
    assert_eq!(answer.json["version"], version + 1);
    assert_eq!(answer.json["id"], id.as_str());
    let after = sim.tenant(&id).unwrap();
    assert!(!after.enabled);
    assert_eq!(after.version, version + 1);

    let again = acronis_put(
        &sim,
        &token,
        &id,
        &json!({"enabled": true, "version": version + 1}),
    )
    .await;
    assert_eq!(again.status, 200);
    assert!(sim.tenant(&id).unwrap().enabled);
    assert_eq!(sim.tenant(&id).unwrap().version, version + 2);
}

#[tokio::test]
async fn put_stale_version_is_409() {
    let sim = sim();
    let token = acronis_token(&sim).await;
    let id = sim.acme_id().to_string();
    let version = sim.tenant(&id).unwrap().version;
    let bumped = sim.bump_version(&id);
    assert_eq!(bumped, version + 1);

    let answer = acronis_put(
        &sim,
        &token,
        &id,
        &json!({"enabled": false, "version": version}),
    )
    .await;
    assert_eq!(answer.status, 409);
    assert_envelope(&answer.json);
    assert_eq!(answer.json["error"]["code"], 1001);
    assert_eq!(answer.json["error"]["message"], "Version mismatch");
    let unchanged = sim.tenant(&id).unwrap();
    assert!(unchanged.enabled);
    assert_eq!(unchanged.version, bumped);
}

#[tokio::test]
async fn put_validation() {
    let sim = sim();
    let token = acronis_token(&sim).await;
    let id = sim.acme_id().to_string();
    let url = format!("{}/api/2/tenants/{id}", sim.url());
    let version = sim.tenant(&id).unwrap().version;
    let body = json!({"enabled": false, "version": version}).to_string();

    let no_type = send(
        client()
            .put(&url)
            .header("Authorization", format!("Bearer {token}"))
            .body(body.clone()),
    )
    .await;
    assert_eq!(no_type.status, 415);
    assert_envelope(&no_type.json);
    let wrong_type = send(
        client()
            .put(&url)
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "text/plain")
            .body(body.clone()),
    )
    .await;
    assert_eq!(wrong_type.status, 415);
    let with_charset = send(
        client()
            .put(&url)
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json; charset=utf-8")
            .body(body),
    )
    .await;
    assert_eq!(with_charset.status, 200);

    let no_version = acronis_put(&sim, &token, &id, &json!({"enabled": true})).await;
    assert_eq!(no_version.status, 400);
    assert_envelope(&no_version.json);
    let not_json = send(
        client()
            .put(&url)
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .body("{oops"),
    )
    .await;
    assert_eq!(not_json.status, 400);

    let foreign = acronis_put(
        &sim,
        &token,
        sim.foreign_tenant_id(),
        &json!({"enabled": false, "version": 1}),
    )
    .await;
    assert_eq!(foreign.status, 403);
    assert!(sim.tenant(sim.foreign_tenant_id()).unwrap().enabled);

    let no_token = send(
        client()
            .put(&url)
            .header("Content-Type", "application/json")
            .body("{}"),
    )
    .await;
    assert_eq!(no_token.status, 401);
}

#[tokio::test]
async fn tokens_expire() {
    let sim = AcronisSim::start(AcronisConfig {
        token_lifetime_secs: 2,
        ..AcronisConfig::default()
    });
    let token = acronis_token(&sim).await;
    let path = format!("/api/2/tenants/{}", sim.acme_id());
    assert_eq!(acronis_get(&sim, &token, &path).await.status, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = acronis_get(&sim, &token, &path).await;
    assert_eq!(expired.status, 401);
    assert_envelope(&expired.json);

    let fresh = acronis_token(&sim).await;
    assert_eq!(acronis_get(&sim, &fresh, &path).await.status, 200);
    sim.expire_tokens();
    assert_eq!(acronis_get(&sim, &fresh, &path).await.status, 401);
}

#[test]
fn state_helpers_without_a_runtime() {
    let sim = AcronisSim::start(AcronisConfig {
        tenants: 3,
        ..AcronisConfig::default()
    });
    assert_eq!(sim.tenant_count(), 3 + 10);
    assert_eq!(
        sim.tenant(&sim.customer_id(3).unwrap()).unwrap().name,
        "Customer 00003"
    );
    assert!(sim.customer_id(4).is_none());
    assert!(sim.customer_id(0).is_none());
    assert_eq!(sim.tenants_named("Twin Co").len(), 2);
    assert_eq!(sim.tenants_named("Acme").len(), 1);

    let dormant = sim.dormant_id().to_string();
    let before = sim.tenant(&dormant).unwrap();
    assert!(!before.enabled);
    sim.set_enabled(&dormant, true);
    let after = sim.tenant(&dormant).unwrap();
    assert!(after.enabled);
    assert_eq!(after.version, before.version + 1);

    let new_id = sim.add_tenant("Brand New", sim.root_tenant_id());
    let t = sim.tenant(&new_id).unwrap();
    assert_eq!(t.name, "Brand New");
    assert_eq!(t.kind, TenantKind::Customer);
    assert_eq!(t.parent_id, sim.root_tenant_id());
    assert!(t.enabled);
    assert_eq!(sim.url().matches("/api/2").count(), 0);
    assert!(sim.api_url().ends_with("/api/2"));
}

#[test]
fn seeding_is_deterministic() {
    let a = AcronisSim::start(AcronisConfig::default());
    let b = AcronisSim::start(AcronisConfig::default());
    assert_eq!(a.fixtures(), b.fixtures());
    assert_eq!(a.customer_id(7), b.customer_id(7));
    let c = AcronisSim::start(AcronisConfig {
        seed: 2,
        ..AcronisConfig::default()
    });
    assert_ne!(a.fixtures(), c.fixtures());
    // Fixture ids do not depend on the number of generated tenants.
    let d = AcronisSim::start(AcronisConfig {
        tenants: 500,
        ..AcronisConfig::default()
    });
    assert_eq!(a.fixtures(), d.fixtures());
}
