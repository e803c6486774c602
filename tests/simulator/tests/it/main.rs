//! End-to-end tests of the simulators over loopback HTTP.

mod acronis;
mod cli;
mod commvault;
mod control;
mod faults;
mod vspc;

use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use tenantctl_simulator::{AcronisSim, CommvaultSim};

/// A client without connection pooling surprises: short timeout, no proxy.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .unwrap()
}

/// A response's status, headers and body parsed as JSON (`Value::Null` if not JSON).
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) text: String,
    pub(crate) json: Value,
}

impl Answer {
    pub(crate) async fn from(resp: reqwest::Response) -> Answer {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            json,
        }
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub(crate) async fn send(req: reqwest::RequestBuilder) -> Answer {
    Answer::from(req.send().await.unwrap()).await
}

/// A fresh Acronis access token.
pub(crate) async fn acronis_token(sim: &AcronisSim) -> String {
    let answer = send(
        client()
            .post(format!("{}/api/2/idp/token", sim.url()))
            .basic_auth(sim.client_id(), Some(sim.client_secret()))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json["access_token"].as_str().unwrap().to_string()
}

/// GET an Acronis API path (starting with `/api/2`) with a bearer token.
pub(crate) async fn acronis_get(sim: &AcronisSim, token: &str, path: &str) -> Answer {
    send(
        client()
            .get(format!("{}{path}", sim.url()))
            .header("Authorization", format!("Bearer {token}")),
    )
    .await
}

/// PUT a JSON body to an Acronis tenant.
pub(crate) async fn acronis_put(sim: &AcronisSim, token: &str, id: &str, body: &Value) -> Answer {
    send(
        client()
            .put(format!("{}/api/2/tenants/{id}", sim.url()))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .body(body.to_string()),
    )
    .await
}

/// DELETE an Acronis tenant, with `?version=` when given.
pub(crate) async fn acronis_delete(
    sim: &AcronisSim,
    token: &str,
    id: &str,
    version: Option<u64>,
) -> Answer {
    let query = version.map_or_else(String::new, |v| format!("?version={v}"));
    send(
        client()
            .delete(format!("{}/api/2/tenants/{id}{query}", sim.url()))
            .header("Authorization", format!("Bearer {token}")),
    )
    .await
}

/// Lists Acronis tenants below `root` page by page with `limit` (`None`: the default);
/// returns the pages' items and how many pages it took.
pub(crate) async fn acronis_list_all(
    sim: &AcronisSim,
    token: &str,
    root: &str,
    limit: Option<usize>,
) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("/api/2/tenants?subtree_root_id={root}&lod=basic");
        if let Some(limit) = limit {
            path.push_str(&format!("&limit={limit}"));
        }
        if let Some(cursor) = &after {
            path.push_str(&format!("&after={cursor}"));
        }
        let page = acronis_get(sim, token, &path).await;
        assert_eq!(page.status, 200, "{}", page.text);
        pages += 1;
        items.extend(page.json["items"].as_array().unwrap().iter().cloned());
        match page.json["paging"]["cursors"]["after"].as_str() {
            Some(cursor) => after = Some(cursor.to_string()),
            None => return (items, pages),
        }
    }
}

/// The Commvault `Login` body for a password.
pub(crate) fn login_body(username: &str, password: &str) -> String {
    serde_json::json!({
        "username": username,
        "password": base64::engine::general_purpose::STANDARD.encode(password.as_bytes()),
    })
    .to_string()
}

/// A fresh Commvault token.
pub(crate) async fn commvault_token(sim: &CommvaultSim) -> String {
    let answer = send(
        client()
            .post(format!("{}/Login", sim.url()))
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .body(login_body(sim.username(), sim.password())),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json["token"].as_str().unwrap().to_string()
}

/// GET a Commvault web-service path (starting with `/`) with a token.
pub(crate) async fn commvault_get(sim: &CommvaultSim, token: &str, path: &str) -> Answer {
    send(
        client()
            .get(format!("{}{path}", sim.url()))
            .header("Accept", "application/json")
            .header("Authtoken", token),
    )
    .await
}

/// DELETE a Commvault web-service path with a token.
pub(crate) async fn commvault_delete(sim: &CommvaultSim, token: &str, path: &str) -> Answer {
    send(
        client()
            .delete(format!("{}{path}", sim.url()))
            .header("Accept", "application/json")
            .header("Authtoken", token),
    )
    .await
}

/// POST to a Commvault web-service path with a token and optional JSON body.
pub(crate) async fn commvault_post(
    sim: &CommvaultSim,
    token: &str,
    path: &str,
    body: Option<&Value>,
) -> Answer {
    let mut req = client()
        .post(format!("{}{path}", sim.url()))
        .header("Accept", "application/json")
        .header("Authtoken", token);
    if let Some(body) = body {
        req = req
            .header("Content-Type", "application/json")
            .body(body.to_string());
    }
    send(req).await
}
