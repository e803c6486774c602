//! Contract 0.1 (`wit/v0.1.0`), and its conversions to and from the host's 0.2 types.
//!
//! Up (what a 0.1 plugin returns): every 0.1 value has a 0.2 counterpart; requests gain
//! `cache-for: none` and `wait-ms: none`. Down (what the host passes in): the same records,
//! except that a 0.1 action request always names a tenant and knows only the four 0.1
//! actions, so [`action_request`] refuses `list` and `delete`.

// Generated items without WIT docs (call_* helpers, the world struct) would warn.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit/v0.1.0",
    world: "vendor-plugin",
    exports: { default: async },
    additional_derives: [PartialEq, Eq],
});

pub use self::exports::tenantctl::plugin::plugin::Guest;
pub use self::tenantctl::plugin::types::*;

use super::v0_2 as latest;

// ---- up: 0.1 results as 0.2 values ----

impl From<Method> for latest::Method {
    fn from(method: Method) -> Self {
        match method {
            Method::Get => latest::Method::Get,
            Method::Post => latest::Method::Post,
            Method::Put => latest::Method::Put,
            Method::Patch => latest::Method::Patch,
            Method::Delete => latest::Method::Delete,
        }
    }
}

impl From<Header> for latest::Header {
    fn from(header: Header) -> Self {
        latest::Header {
            name: header.name,
            value: header.value,
            secret: header.secret,
        }
    }
}

impl From<Effect> for latest::Effect {
    fn from(effect: Effect) -> Self {
        match effect {
            Effect::Read => latest::Effect::Read,
            Effect::IdempotentWrite => latest::Effect::IdempotentWrite,
            Effect::Write => latest::Effect::Write,
        }
    }
}

impl From<HttpRequest> for latest::HttpRequest {
    fn from(request: HttpRequest) -> Self {
        latest::HttpRequest {
            method: request.method.into(),
            url: request.url,
            headers: request.headers.into_iter().map(Into::into).collect(),
            body: request.body,
            body_secret: request.body_secret,
            effect: request.effect.into(),
            cache_for: None,
        }
    }
}

impl From<Session> for latest::Session {
    fn from(session: Session) -> Self {
        latest::Session {
            token: session.token,
            expires_at: session.expires_at,
            data: session.data,
        }
    }
}

impl From<Action> for latest::Action {
    fn from(action: Action) -> Self {
        match action {
            Action::Status => latest::Action::Status,
            Action::Disable => latest::Action::Disable,
            Action::Enable => latest::Action::Enable,
            Action::Offboard => latest::Action::Offboard,
        }
    }
}

impl From<TenantRef> for latest::TenantRef {
    fn from(tenant: TenantRef) -> Self {
        latest::TenantRef {
            id: tenant.id,
            name: tenant.name,
        }
    }
}

impl From<ErrorDetail> for latest::ErrorDetail {
    fn from(detail: ErrorDetail) -> Self {
        latest::ErrorDetail {
            message: detail.message,
            http_status: detail.http_status,
            vendor_code: detail.vendor_code,
        }
    }
}

impl From<Failure> for latest::Failure {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Auth(d) => latest::Failure::Auth(d.into()),
            Failure::SessionExpired(d) => latest::Failure::SessionExpired(d.into()),
            Failure::NotFound(d) => latest::Failure::NotFound(d.into()),
            Failure::Ambiguous(d) => latest::Failure::Ambiguous(d.into()),
            Failure::Conflict(d) => latest::Failure::Conflict(d.into()),
            Failure::RateLimited(limit) => latest::Failure::RateLimited(latest::RateLimit {
                detail: limit.detail.into(),
                retry_after: limit.retry_after,
            }),
            Failure::Vendor(d) => latest::Failure::Vendor(d.into()),
            Failure::InvalidInput(d) => latest::Failure::InvalidInput(d.into()),
            Failure::Unsupported(d) => latest::Failure::Unsupported(d.into()),
        }
    }
}

impl From<Outcome> for latest::Outcome {
    fn from(outcome: Outcome) -> Self {
        latest::Outcome {
            tenant: outcome.tenant.map(Into::into),
            enabled_before: outcome.enabled_before,
            enabled_after: outcome.enabled_after,
            changed: outcome.changed,
            error: outcome.error.map(Into::into),
            notes: outcome.notes,
        }
    }
}

impl From<Intent> for latest::Intent {
    fn from(intent: Intent) -> Self {
        latest::Intent {
            tenant: intent.tenant.into(),
            enabled_before: intent.enabled_before,
            enabled_after: intent.enabled_after,
        }
    }
}

impl From<Outgoing> for latest::Outgoing {
    fn from(outgoing: Outgoing) -> Self {
        latest::Outgoing {
            request: outgoing.request.into(),
            state: outgoing.state,
            intent: outgoing.intent.map(Into::into),
            wait_ms: None,
        }
    }
}

impl From<LoginStep> for latest::LoginStep {
    fn from(step: LoginStep) -> Self {
        match step {
            LoginStep::Send(outgoing) => latest::LoginStep::Send(outgoing.into()),
            LoginStep::Done(session) => latest::LoginStep::Done(session.into()),
            LoginStep::Failed(failure) => latest::LoginStep::Failed(failure.into()),
        }
    }
}

impl From<ActionStep> for latest::ActionStep {
    fn from(step: ActionStep) -> Self {
        match step {
            ActionStep::Send(outgoing) => latest::ActionStep::Send(outgoing.into()),
            ActionStep::Done(outcome) => latest::ActionStep::Done(outcome.into()),
        }
    }
}

impl From<ConfigField> for latest::ConfigField {
    fn from(field: ConfigField) -> Self {
        latest::ConfigField {
            name: field.name,
            description: field.description,
            secret: field.secret,
            required: field.required,
        }
    }
}

impl From<ActionInfo> for latest::ActionInfo {
    fn from(info: ActionInfo) -> Self {
        latest::ActionInfo {
            action: info.action.into(),
            description: info.description,
            destructive: info.destructive,
        }
    }
}

impl From<PluginInfo> for latest::PluginInfo {
    fn from(info: PluginInfo) -> Self {
        latest::PluginInfo {
            vendor: info.vendor,
            display_name: info.display_name,
            version: info.version,
            contract: info.contract,
            url_hint: info.url_hint,
            actions: info.actions.into_iter().map(Into::into).collect(),
            config: info.config.into_iter().map(Into::into).collect(),
        }
    }
}

// ---- down: the host's arguments as 0.1 values ----

/// The context, for a 0.1 plugin (same fields).
pub fn context(ctx: &latest::Context) -> Context {
    Context {
        base_url: ctx.base_url.clone(),
        config: ctx
            .config
            .iter()
            .map(|value| ConfigValue {
                name: value.name.clone(),
                value: value.value.clone(),
            })
            .collect(),
        now: ctx.now,
    }
}

/// The session, for a 0.1 plugin (same fields).
pub fn session(session: &latest::Session) -> Session {
    Session {
        token: session.token.clone(),
        expires_at: session.expires_at,
        data: session.data.clone(),
    }
}

/// A response, for a 0.1 plugin (same fields).
pub fn http_response(response: &latest::HttpResponse) -> HttpResponse {
    HttpResponse {
        status: response.status,
        headers: response
            .headers
            .iter()
            .map(|header| Header {
                name: header.name.clone(),
                value: header.value.clone(),
                secret: header.secret,
            })
            .collect(),
        body: response.body.clone(),
    }
}

/// An action request, for a 0.1 plugin; `None` for what 0.1 cannot express (`list`,
/// `delete`, or a request that names no tenant).
pub fn action_request(request: &latest::ActionRequest) -> Option<ActionRequest> {
    let action = match request.action {
        latest::Action::Status => Action::Status,
        latest::Action::Disable => Action::Disable,
        latest::Action::Enable => Action::Enable,
        latest::Action::Offboard => Action::Offboard,
        latest::Action::List | latest::Action::Delete => return None,
    };
    let tenant = match request.tenant.as_ref()? {
        latest::TenantSelector::Id(id) => TenantSelector::Id(id.clone()),
        latest::TenantSelector::Name(name) => TenantSelector::Name(name.clone()),
    };
    Some(ActionRequest { action, tenant })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_gains_no_cache_and_no_wait() {
        let outgoing = Outgoing {
            request: HttpRequest {
                method: Method::Put,
                url: "https://vendor.test/t/1".into(),
                headers: vec![Header {
                    name: "Authorization".into(),
                    value: "Bearer x".into(),
                    secret: true,
                }],
                body: b"{}".to_vec(),
                body_secret: false,
                effect: Effect::IdempotentWrite,
            },
            state: vec![1, 2],
            intent: Some(Intent {
                tenant: TenantRef {
                    id: "1".into(),
                    name: "Acme".into(),
                },
                enabled_before: Some(true),
                enabled_after: Some(false),
            }),
        };
        let up: latest::Outgoing = outgoing.into();
        assert_eq!(up.wait_ms, None);
        assert_eq!(up.request.cache_for, None);
        assert_eq!(up.request.method, latest::Method::Put);
        assert_eq!(up.request.effect, latest::Effect::IdempotentWrite);
        assert!(up.request.headers[0].secret);
        assert_eq!(up.intent.unwrap().tenant.name, "Acme");
    }

    #[test]
    fn only_the_four_old_actions_go_down() {
        let by_id = |action| latest::ActionRequest {
            action,
            tenant: Some(latest::TenantSelector::Id("7".into())),
        };
        let down = action_request(&by_id(latest::Action::Disable)).unwrap();
        assert_eq!(down.action, Action::Disable);
        assert!(matches!(down.tenant, TenantSelector::Id(id) if id == "7"));
        assert!(action_request(&by_id(latest::Action::Delete)).is_none());
        assert!(action_request(&by_id(latest::Action::List)).is_none());
        let nameless = latest::ActionRequest {
            action: latest::Action::Status,
            tenant: None,
        };
        assert!(action_request(&nameless).is_none());
    }

    #[test]
    fn failures_keep_their_case_and_details() {
        let failure = Failure::RateLimited(RateLimit {
            detail: ErrorDetail {
                message: "slow down".into(),
                http_status: Some(429),
                vendor_code: Some("7".into()),
            },
            retry_after: Some(30),
        });
        match latest::Failure::from(failure) {
            latest::Failure::RateLimited(limit) => {
                assert_eq!(limit.retry_after, Some(30));
                assert_eq!(limit.detail.http_status, Some(429));
                assert_eq!(limit.detail.vendor_code.as_deref(), Some("7"));
            }
            other => panic!("{other:?}"),
        }
    }
}
