//! A vendor plugin built for contract 0.1 (`wit/v0.1.0`) with raw `wit-bindgen`, the way a
//! plugin shipped before contract 0.2 was built: the host must keep loading and running it.
//!
//! Vendor `acronis-classic` speaks the Acronis API (the simulator's): it logs in with client
//! credentials and shows, disables or enables a tenant given by id. Names are `unsupported`.

#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/v0.1.0",
        world: "vendor-plugin",
    });
}

use base64::Engine as _;
use bindings::exports::tenantctl::plugin::plugin::Guest;
use bindings::tenantctl::plugin::types::*;
use serde_json::{Value, json};

/// The plugin.
pub struct Classic;

#[cfg(target_arch = "wasm32")]
bindings::export!(Classic with_types_in bindings);

impl Guest for Classic {
    fn describe() -> PluginInfo {
        let field = |name: &str, description: &str, secret| ConfigField {
            name: name.into(),
            description: description.into(),
            secret,
            required: true,
        };
        let action = |action, description: &str| ActionInfo {
            action,
            description: description.into(),
            destructive: false,
        };
        PluginInfo {
            vendor: "acronis-classic".into(),
            display_name: "Acronis (a plugin built for contract 0.1)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract: "0.1.0".into(),
            url_hint: "https://eu2-cloud.acronis.com".into(),
            actions: vec![
                action(Action::Status, "shows whether the tenant is enabled"),
                action(Action::Disable, "disables the tenant"),
                action(Action::Enable, "enables the tenant"),
            ],
            config: vec![
                field("client-id", "the API client's id", false),
                field("client-secret", "the API client's secret", true),
            ],
        }
    }

    fn begin_login(ctx: Context) -> LoginStep {
        let value = |name: &str| {
            ctx.config
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.value.clone())
                .unwrap_or_default()
        };
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            value("client-id"),
            value("client-secret")
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
        LoginStep::Send(Outgoing {
            request,
            state: Vec::new(),
            intent: None,
        })
    }

    fn resume_login(_ctx: Context, _state: Vec<u8>, response: HttpResponse) -> LoginStep {
        let body = json_body(&response);
        match (response.status, body["access_token"].as_str()) {
            (200, Some(token)) => LoginStep::Done(Session {
                token: token.into(),
                expires_at: body["expires_on"]
                    .as_u64()
                    .and_then(|at| u32::try_from(at).ok()),
                data: Vec::new(),
            }),
            (401, _) => LoginStep::Failed(Failure::Auth(detail(&response, "credentials refused"))),
            _ => LoginStep::Failed(Failure::Vendor(detail(&response, "login failed"))),
        }
    }

    fn begin_action(ctx: Context, session: Session, request: ActionRequest) -> ActionStep {
        let id = match request.tenant {
            TenantSelector::Id(id) => id,
            TenantSelector::Name(_) => {
                return failed(Failure::Unsupported(ErrorDetail {
                    message: "this plugin finds tenants by id only".into(),
                    http_status: None,
                    vendor_code: None,
                }));
            }
        };
        let state = json!({"phase": "read", "action": action_name(request.action), "id": id});
        ActionStep::Send(Outgoing {
            request: request_with(&session, Method::Get, format!("{}/tenants/{id}", api(&ctx))),
            state: state.to_string().into_bytes(),
            intent: None,
        })
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
            409 => return failed(Failure::Conflict(detail(&response, "the tenant changed"))),
            _ => return failed(Failure::Vendor(detail(&response, "the vendor failed"))),
        }
        let tenant = json_body(&response);
        let found = TenantRef {
            id: tenant["id"].as_str().unwrap_or_default().into(),
            name: tenant["name"].as_str().unwrap_or_default().into(),
        };
        let enabled = tenant["enabled"].as_bool();
        if state["phase"] == "write" {
            return ActionStep::Done(Outcome {
                tenant: Some(found),
                enabled_before: state["before"].as_bool(),
                enabled_after: enabled,
                changed: true,
                error: None,
                notes: Vec::new(),
            });
        }
        let wanted = match state["action"].as_str() {
            Some("disable") => Some(false),
            Some("enable") => Some(true),
            _ => None,
        };
        if wanted.is_none() || wanted == enabled {
            return ActionStep::Done(Outcome {
                tenant: Some(found),
                enabled_before: enabled,
                enabled_after: enabled,
                changed: false,
                error: None,
                notes: Vec::new(),
            });
        }
        let mut request = request_with(
            &session,
            Method::Put,
            format!("{}/tenants/{}", api(&ctx), found.id),
        );
        request.effect = Effect::IdempotentWrite;
        request
            .headers
            .push(header("Content-Type", "application/json", false));
        request.body = json!({"enabled": wanted, "version": tenant["version"]})
            .to_string()
            .into_bytes();
        let next = json!({"phase": "write", "action": state["action"], "before": enabled});
        ActionStep::Send(Outgoing {
            request,
            state: next.to_string().into_bytes(),
            intent: Some(Intent {
                tenant: found,
                enabled_before: enabled,
                enabled_after: wanted,
            }),
        })
    }
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
    }
}

fn request_with(session: &Session, method: Method, url: String) -> HttpRequest {
    request(method, url, Some(&session.token))
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Status => "status",
        Action::Disable => "disable",
        Action::Enable => "enable",
        Action::Offboard => "offboard",
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
        vendor_code: match &body["error"]["code"] {
            Value::Null => None,
            Value::String(code) => Some(code.clone()),
            code => Some(code.to_string()),
        },
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
