//! A vendor plugin built for contract 0.2 (`wit/v0.2.0`) with raw `wit-bindgen`, that uses
//! each thing 0.2 added as its configuration says, so the host's side of each can be tested
//! on its own: listing page by page, waiting before a request, cacheable reads.
//!
//! Vendor `acronis-probe` speaks the Acronis API (the simulator's):
//! - `list`: the tenants below the API client's own tenant, `page-size` per page (cursor
//!   paging);
//! - `status` of a tenant given by id: reads it `polls` times (default 1), each read asking
//!   the host to wait `wait-ms` first and marked cacheable for `cache-for` seconds.

#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/v0.2.0",
        world: "vendor-plugin",
    });
}

use base64::Engine as _;
use bindings::exports::tenantctl::plugin::plugin::Guest;
use bindings::tenantctl::plugin::types::*;
use serde_json::{Value, json};

/// The plugin.
pub struct Probe;

#[cfg(target_arch = "wasm32")]
bindings::export!(Probe with_types_in bindings);

impl Guest for Probe {
    fn describe() -> PluginInfo {
        let field = |name: &str, description: &str, secret, required| ConfigField {
            name: name.into(),
            description: description.into(),
            secret,
            required,
        };
        let action = |action, description: &str| ActionInfo {
            action,
            description: description.into(),
            destructive: false,
        };
        PluginInfo {
            vendor: "acronis-probe".into(),
            display_name: "Acronis probe (contract 0.2 test plugin)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract: "0.2.0".into(),
            url_hint: "https://eu2-cloud.acronis.com".into(),
            actions: vec![
                action(Action::Status, "reads the tenant `polls` times"),
                action(Action::List, "lists the tenants below the client's own"),
            ],
            config: vec![
                field("client-id", "the API client's id", false, true),
                field("client-secret", "the API client's secret", true, true),
                field(
                    "wait-ms",
                    "milliseconds to wait before each status read",
                    false,
                    false,
                ),
                field(
                    "cache-for",
                    "seconds a status read may be cached",
                    false,
                    false,
                ),
                field(
                    "polls",
                    "how many times status reads the tenant",
                    false,
                    false,
                ),
                field("page-size", "tenants per listing page", false, false),
            ],
        }
    }

    fn begin_login(ctx: Context) -> LoginStep {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            config(&ctx, "client-id").unwrap_or_default(),
            config(&ctx, "client-secret").unwrap_or_default()
        ));
        let mut request = request(Method::Post, format!("{}/idp/token", api(&ctx)), None);
        request
            .headers
            .push(header("Authorization", &format!("Basic {basic}"), true));
        request.headers.push(header(
            "Content-Type",
            "application/x-www-form-urlencoded",
            false,
        ));
        request.body = b"grant_type=client_credentials".to_vec();
        LoginStep::Send(send(request, json!({"phase": "token"})))
    }

    fn resume_login(ctx: Context, state: Vec<u8>, response: HttpResponse) -> LoginStep {
        let state: Value = serde_json::from_slice(&state).unwrap_or_default();
        let body = json_body(&response);
        if response.status != 200 {
            let detail = detail(&response, "login failed");
            return LoginStep::Failed(if response.status == 401 {
                Failure::Auth(detail)
            } else {
                Failure::Vendor(detail)
            });
        }
        if state["phase"] == "token" {
            let token = body["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let client = config(&ctx, "client-id").unwrap_or_default();
            let request = request(
                Method::Get,
                format!("{}/clients/{client}", api(&ctx)),
                Some(&token),
            );
            let next = json!({"phase": "client", "token": token, "expires": body["expires_on"]});
            return LoginStep::Send(send(request, next));
        }
        LoginStep::Done(Session {
            token: state["token"].as_str().unwrap_or_default().into(),
            expires_at: state["expires"]
                .as_u64()
                .and_then(|at| u32::try_from(at).ok()),
            data: body["tenant_id"]
                .as_str()
                .unwrap_or_default()
                .as_bytes()
                .to_vec(),
        })
    }

    fn begin_action(ctx: Context, session: Session, request: ActionRequest) -> ActionStep {
        let root = String::from_utf8_lossy(&session.data).into_owned();
        match (request.action, request.tenant) {
            (Action::List, None) => {
                let size = config(&ctx, "page-size").unwrap_or_else(|| "5000".into());
                let url = format!(
                    "{}/tenants?subtree_root_id={root}&lod=basic&limit={size}",
                    api(&ctx)
                );
                let read = request_with(&session, url);
                ActionStep::Send(send(read, json!({"phase": "page", "root": root})))
            }
            (Action::Status, Some(TenantSelector::Id(id))) => status_read(&ctx, &session, &id, 1),
            _ => failed(Failure::Unsupported(ErrorDetail {
                message: "this plugin lists, and shows tenants given by id".into(),
                http_status: None,
                vendor_code: None,
            })),
        }
    }

    fn resume_action(
        ctx: Context,
        session: Session,
        state: Vec<u8>,
        response: HttpResponse,
    ) -> ActionStep {
        let state: Value = serde_json::from_slice(&state).unwrap_or_default();
        match response.status {
            200 => {}
            401 => return failed(Failure::SessionExpired(detail(&response, "token refused"))),
            404 => return failed(Failure::NotFound(detail(&response, "no such tenant"))),
            _ => return failed(Failure::Vendor(detail(&response, "the vendor failed"))),
        }
        let body = json_body(&response);
        if state["phase"] == "page" {
            let root = state["root"].as_str().unwrap_or_default();
            let tenants = body["items"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter(|t| t["id"] != root)
                .map(|t| ListedTenant {
                    id: t["id"].as_str().unwrap_or_default().into(),
                    name: t["name"].as_str().unwrap_or_default().into(),
                    enabled: t["enabled"].as_bool(),
                })
                .collect();
            let next = body["paging"]["cursors"]["after"].as_str().map(|cursor| {
                let size = config(&ctx, "page-size").unwrap_or_else(|| "5000".into());
                let url = format!(
                    "{}/tenants?subtree_root_id={root}&lod=basic&limit={size}&after={cursor}",
                    api(&ctx)
                );
                send(request_with(&session, url), state.clone())
            });
            return ActionStep::Page(Page { tenants, next });
        }
        let polls: u64 = config(&ctx, "polls")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1);
        let done = state["poll"].as_u64().unwrap_or(1);
        let id = body["id"].as_str().unwrap_or_default().to_string();
        if done < polls {
            return status_read(&ctx, &session, &id, done + 1);
        }
        ActionStep::Done(Outcome {
            tenant: Some(TenantRef {
                id,
                name: body["name"].as_str().unwrap_or_default().into(),
            }),
            enabled_before: body["enabled"].as_bool(),
            enabled_after: body["enabled"].as_bool(),
            changed: false,
            error: None,
            notes: vec![format!("read {done} times")],
        })
    }
}

/// The `poll`-th read of a status.
fn status_read(ctx: &Context, session: &Session, id: &str, poll: u64) -> ActionStep {
    let mut read = request_with(session, format!("{}/tenants/{id}", api(ctx)));
    read.cache_for = config(ctx, "cache-for").and_then(|s| s.parse().ok());
    let mut outgoing = send(read, json!({"phase": "status", "poll": poll}));
    outgoing.wait_ms = config(ctx, "wait-ms").and_then(|s| s.parse().ok());
    ActionStep::Send(outgoing)
}

fn config(ctx: &Context, name: &str) -> Option<String> {
    ctx.config
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.value.clone())
}

/// The API root: the base URL with or without `/api/2` and a trailing `/`.
fn api(ctx: &Context) -> String {
    let base = ctx.base_url.trim_end_matches('/');
    format!("{}/api/2", base.strip_suffix("/api/2").unwrap_or(base))
}

fn header(name: &str, value: &str, secret: bool) -> Header {
    Header {
        name: name.into(),
        value: value.into(),
        secret,
    }
}

fn request(method: Method, url: String, token: Option<&str>) -> HttpRequest {
    let mut headers = vec![header("Accept", "application/json", false)];
    if let Some(token) = token {
        headers.push(header("Authorization", &format!("Bearer {token}"), true));
    }
    HttpRequest {
        method,
        url,
        headers,
        body: Vec::new(),
        body_secret: false,
        effect: Effect::Read,
        cache_for: None,
    }
}

fn request_with(session: &Session, url: String) -> HttpRequest {
    request(Method::Get, url, Some(&session.token))
}

fn send(request: HttpRequest, state: Value) -> Outgoing {
    Outgoing {
        request,
        state: state.to_string().into_bytes(),
        intent: None,
        wait_ms: None,
    }
}

fn json_body(response: &HttpResponse) -> Value {
    serde_json::from_slice(&response.body).unwrap_or_default()
}

fn detail(response: &HttpResponse, what: &str) -> ErrorDetail {
    let body = json_body(response);
    let message = body["error"]["message"]
        .as_str()
        .map(|m| format!("{what}: {m}"))
        .unwrap_or_else(|| format!("{what} (HTTP {})", response.status));
    ErrorDetail {
        message,
        http_status: Some(response.status),
        vendor_code: None,
    }
}

fn failed(failure: Failure) -> ActionStep {
    ActionStep::Done(Outcome {
        tenant: None,
        enabled_before: None,
        enabled_after: None,
        changed: false,
        error: Some(failure),
        notes: Vec::new(),
    })
}
