//! The Acronis endpoints: happy paths, auth, errors, search and optimistic locking.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tenantctl_simulator::{AcronisConfig, AcronisSim, TenantKind};

use crate::{
    acronis_delete, acronis_get, acronis_list_all, acronis_put, acronis_token, client, send,
};

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

/// Every tenant id in the client's subtree: its own tenant, the fixtures below it and the
/// generated customers.
fn subtree_ids(sim: &AcronisSim, generated: usize) -> Vec<String> {
    let f = sim.fixtures();
    let mut ids = vec![
        f.root_id.clone(),
        f.acme_corp_id.clone(),
        f.acme_id.clone(),
        f.twin_co_ids[0].clone(),
        f.twin_co_ids[1].clone(),
        f.reseller_id.clone(),
        f.dormant_id.clone(),
    ];
    ids.extend((1..=generated).map(|n| sim.customer_id(n).unwrap()));
    ids.sort();
    ids
}

fn ids_of(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn listing_over_5000_tenants_takes_two_pages_with_cursors() {
    let sim = AcronisSim::start(AcronisConfig {
        tenants: 5000,
        ..AcronisConfig::default()
    });
    let token = acronis_token(&sim).await;
    let root = sim.root_tenant_id().to_string();
    let first = acronis_get(
        &sim,
        &token,
        &format!("/api/2/tenants?subtree_root_id={root}&lod=basic"),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let items = first.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 5000, "the default limit is the maximum, 5000");
    let cursor = first.json["paging"]["cursors"]["after"].as_str().unwrap();
    assert!(first.json["timestamp"].as_str().unwrap().ends_with('Z'));
    let mut fields: Vec<&str> = items[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["enabled", "id", "kind", "name", "parent_id", "version"],
        "lod=basic"
    );
    let second = acronis_get(
        &sim,
        &token,
        &format!("/api/2/tenants?subtree_root_id={root}&lod=basic&after={cursor}"),
    )
    .await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.json["items"].as_array().unwrap().len(), 7);
    assert_eq!(
        second.json["paging"]["cursors"],
        json!({}),
        "no cursor on the last page"
    );

    let (all, pages) = acronis_list_all(&sim, &token, &root, None).await;
    assert_eq!(pages, 2);
    let ids = ids_of(&all);
    assert_eq!(
        ids,
        subtree_ids(&sim, 5000),
        "each tenant once, in id order"
    );
    assert!(ids.contains(&root), "the root itself is listed");
    assert!(!ids.contains(&sim.foreign_tenant_id().to_string()));
    let dormant = all.iter().find(|t| t["id"] == sim.dormant_id()).unwrap();
    assert_eq!(dormant["enabled"], false);
    assert_eq!(dormant["parent_id"], sim.fixtures().reseller_id.as_str());
    assert_eq!(dormant["kind"], "customer");
    assert_eq!(
        dormant["version"],
        sim.tenant(sim.dormant_id()).unwrap().version
    );
    // 2 pages above, 2 more in the loop; the cursor is in the recorded query.
    assert_eq!(sim.count("GET", "/api/2/tenants?"), 4);
    assert_eq!(sim.count("GET", "&after="), 2);
}

#[tokio::test]
async fn listing_order_stays_stable_while_tenants_change() {
    let sim = sim();
    let token = acronis_token(&sim).await;
    let root = sim.root_tenant_id().to_string();
    let before = subtree_ids(&sim, 42);
    let first = acronis_get(
        &sim,
        &token,
        &format!("/api/2/tenants?subtree_root_id={root}&lod=basic&limit=10"),
    )
    .await;
    let page_one = ids_of(first.json["items"].as_array().unwrap());
    assert_eq!(page_one, before[..10].to_vec());
    // Between pages: one listed tenant and one not yet listed are deleted, one is added.
    for id in [&before[3], &before[30]] {
        sim.set_enabled(id, false);
        let version = sim.tenant(id).unwrap().version;
        let deleted = acronis_delete(&sim, &token, id, Some(version)).await;
        assert_eq!(deleted.status, 204, "{}", deleted.text);
    }
    let added = sim.add_tenant("Late Arrival", &root);
    let cursor = first.json["paging"]["cursors"]["after"].as_str().unwrap();
    let mut rest = Vec::new();
    let mut after = cursor.to_string();
    loop {
        let page = acronis_get(
            &sim,
            &token,
            &format!("/api/2/tenants?subtree_root_id={root}&lod=basic&limit=10&after={after}"),
        )
        .await;
        assert_eq!(page.status, 200, "{}", page.text);
        rest.extend(ids_of(page.json["items"].as_array().unwrap()));
        match page.json["paging"]["cursors"]["after"].as_str() {
            Some(next) => after = next.to_string(),
            None => break,
        }
    }
    let mut seen = page_one.clone();
    seen.extend(rest.iter().cloned());
    let unchanged: Vec<&String> = before
        .iter()
        .filter(|id| **id != before[3] && **id != before[30])
        .collect();
    for id in &unchanged {
        assert_eq!(
            seen.iter().filter(|s| s == id).count(),
            1,
            "{id} listed exactly once"
        );
    }
    assert!(!rest.contains(&before[30]), "deleted before it was reached");
    assert_eq!(
        rest.contains(&added),
        added > before[9],
        "a new tenant appears when its id is past the cursor"
    );
}

#[tokio::test]
async fn listing_selectors_and_their_errors() {
    let sim = sim();
    let token = acronis_token(&sim).await;
    let f = sim.fixtures().clone();
    let list = |query: String| {
        let (sim, token) = (&sim, &token);
        async move { acronis_get(sim, token, &format!("/api/2/tenants?{query}")).await }
    };

    let children = list(format!("parent_id={}&lod=basic", f.reseller_id)).await;
    let mut expected = vec![f.twin_co_ids[1].clone(), f.dormant_id.clone()];
    expected.sort();
    assert_eq!(ids_of(children.json["items"].as_array().unwrap()), expected);
    let ids_only = acronis_get(
        &sim,
        &token,
        &format!("/api/2/tenants/{}/children", f.reseller_id),
    )
    .await;
    assert_eq!(ids_only.json, json!({"items": expected}));

    let unknown_id = "00000000-1111-4222-8333-444444444444";
    let by_ids = list(format!(
        "uuids={},{},{unknown_id}",
        f.acme_id, f.acme_corp_id
    ))
    .await;
    let mut wanted = vec![f.acme_id.clone(), f.acme_corp_id.clone()];
    wanted.sort();
    assert_eq!(ids_of(by_ids.json["items"].as_array().unwrap()), wanted);
    let full = &by_ids.json["items"][0];
    assert!(full["customer_type"].is_string(), "lod defaults to full");

    let narrow = list(format!(
        "subtree_root_id={}&lod=basic&limit=1",
        f.reseller_id
    ))
    .await;
    assert_eq!(narrow.json["items"].as_array().unwrap().len(), 1);
    assert!(narrow.json["paging"]["cursors"]["after"].is_string());

    let too_many: Vec<String> = (0..101)
        .map(|n| format!("{n:08}-0000-4000-8000-000000000000"))
        .collect();
    for (query, status) in [
        (format!("subtree_root_id={}&limit=5001", f.root_id), 400),
        (format!("subtree_root_id={}&limit=0", f.root_id), 400),
        (format!("subtree_root_id={}&limit=many", f.root_id), 400),
        (
            format!("subtree_root_id={}&after=bm90LWEtY3Vyc29y", f.root_id),
            400,
        ),
        (format!("subtree_root_id={}&lod=everything", f.root_id), 400),
        ("lod=basic".to_string(), 400),
        (format!("uuids={}", too_many.join(",")), 400),
        (format!("subtree_root_id={}", f.other_partner_id), 403),
        (format!("subtree_root_id={}", f.top_id), 403),
        (format!("parent_id={}", f.other_partner_id), 403),
        (format!("uuids={},{}", f.acme_id, f.foreign_id), 403),
        (format!("subtree_root_id={unknown_id}"), 404),
    ] {
        let answer = list(query.clone()).await;
        assert_eq!(answer.status, status, "{query}: {}", answer.text);
        assert_envelope(&answer.json);
    }
    let no_token = send(client().get(format!(
        "{}/api/2/tenants?subtree_root_id={}",
        sim.url(),
        f.root_id
    )))
    .await;
    assert_eq!(no_token.status, 401);
    let wrong_method = send(
        client()
            .post(format!("{}/api/2/tenants", sim.url()))
            .header("Authorization", format!("Bearer {token}")),
    )
    .await;
    assert_eq!(wrong_method.status, 405);
}

#[tokio::test]
async fn delete_needs_a_disabled_tenant_and_its_version() {
    let sim = sim();
    let token = acronis_token(&sim).await;
    let id = sim.acme_corp_id().to_string();
    let version = sim.tenant(&id).unwrap().version;

    let enabled = acronis_delete(&sim, &token, &id, Some(version)).await;
    assert_eq!(enabled.status, 400);
    assert_envelope(&enabled.json);
    assert_eq!(enabled.json["error"]["code"], 1023);
    assert_eq!(
        enabled.json["error"]["message"],
        "Tenant must be disabled before deletion"
    );
    let no_version = acronis_delete(&sim, &token, &id, None).await;
    assert_eq!(no_version.status, 400);
    assert_envelope(&no_version.json);
    let bad_version = send(
        client()
            .delete(format!("{}/api/2/tenants/{id}?version=two", sim.url()))
            .header("Authorization", format!("Bearer {token}")),
    )
    .await;
    assert_eq!(bad_version.status, 400);

    let disabled = acronis_put(
        &sim,
        &token,
        &id,
        &json!({"enabled": false, "version": version}),
    )
    .await;
    assert_eq!(disabled.status, 200);
    let stale = acronis_delete(&sim, &token, &id, Some(version)).await;
    assert_eq!(stale.status, 409);
    assert_eq!(stale.json["error"]["code"], 1001);
    assert!(!sim.is_deleted(&id));

    let deleted = acronis_delete(&sim, &token, &id, Some(version + 1)).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    assert!(deleted.text.is_empty());
    assert!(sim.is_deleted(&id));
    assert_eq!(sim.deleted(), vec![id.clone()]);
    let last = sim.tenant(&id).unwrap();
    assert!(last.deleted && !last.enabled, "the last state is kept");
    assert_eq!(sim.tenant_count(), 42 + 10 - 1);
    assert!(sim.tenants_named("Acme Corp").is_empty());

    // Gone from every read at once.
    let path = format!("/api/2/tenants/{id}");
    assert_eq!(acronis_get(&sim, &token, &path).await.status, 404);
    let again = acronis_delete(&sim, &token, &id, Some(version + 1)).await;
    assert_eq!(again.status, 404);
    assert_envelope(&again.json);
    let put = acronis_put(
        &sim,
        &token,
        &id,
        &json!({"enabled": true, "version": version + 1}),
    )
    .await;
    assert_eq!(put.status, 404);
    let root = sim.root_tenant_id().to_string();
    let search = acronis_get(
        &sim,
        &token,
        &format!("/api/2/search?tenant={root}&text=Acme&limit=1000"),
    )
    .await;
    let names: Vec<&str> = search.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Acme"], "the tenant and its user are gone");
    let (listed, _) = acronis_list_all(&sim, &token, &root, None).await;
    assert!(!ids_of(&listed).contains(&id));
    assert_eq!(listed.len(), 7 + 42 - 1);
    let uuids = acronis_get(&sim, &token, &format!("/api/2/tenants?uuids={id}")).await;
    assert_eq!(uuids.json["items"], json!([]));
    assert_eq!(sim.count("DELETE", "/api/2/tenants/"), 6);
}

#[tokio::test]
async fn delete_takes_sub_tenants_along_and_spares_the_clients_own_tenant() {
    let sim = sim();
    let token = acronis_token(&sim).await;
    let f = sim.fixtures().clone();
    sim.set_enabled(&f.reseller_id, false);
    let version = sim.tenant(&f.reseller_id).unwrap().version;
    let deleted = acronis_delete(&sim, &token, &f.reseller_id, Some(version)).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    let mut below = vec![f.twin_co_ids[1].clone(), f.dormant_id.clone()];
    below.sort();
    let mut expected = vec![f.reseller_id.clone()];
    expected.extend(below);
    assert_eq!(sim.deleted(), expected);
    let twin = acronis_get(
        &sim,
        &token,
        &format!("/api/2/tenants/{}", f.twin_co_ids[1]),
    )
    .await;
    assert_eq!(twin.status, 404);
    let root = acronis_get(&sim, &token, &format!("/api/2/tenants/{}", f.root_id)).await;
    assert_eq!(root.status, 200);

    sim.set_enabled(&f.root_id, false);
    let own_version = sim.tenant(&f.root_id).unwrap().version;
    let own = acronis_delete(&sim, &token, &f.root_id, Some(own_version)).await;
    assert_eq!(own.status, 403);
    assert_envelope(&own.json);
    let foreign = acronis_delete(&sim, &token, &f.foreign_id, Some(1)).await;
    assert_eq!(foreign.status, 403);
    assert!(!sim.is_deleted(&f.root_id) && !sim.is_deleted(&f.foreign_id));
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
