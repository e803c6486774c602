//! The tenantctl plugin for Acronis Cyber Protect Cloud (Account Management API v2).
//!
//! Logs in with an API client's id and secret (`POST /api/2/idp/token`), learns the API
//! client's own tenant (`GET /api/2/clients/{id}`), and reads, disables or enables tenants
//! by id or exact name (`GET /api/2/search`, `GET`/`PUT /api/2/tenants/{id}`). The API is
//! described in `docs/vendors.md`, "Acronis".

mod api;
mod flow;
#[cfg(test)]
mod tests;

use tenantctl_plugin_sdk::{
    Action, ActionInfo, ActionRequest, CONTRACT_VERSION, ConfigField, Context, HttpResponse,
    Outcome, Plugin, PluginInfo, Session, Step,
};

/// The Acronis plugin.
pub struct Acronis;

impl Plugin for Acronis {
    type LoginState = flow::LoginState;
    type ActionState = flow::ActionState;

    fn describe() -> PluginInfo {
        let action = |action, description: &str| ActionInfo {
            action,
            description: description.to_string(),
            destructive: false,
        };
        let field = |name: &str, description: &str, secret| ConfigField {
            name: name.to_string(),
            description: description.to_string(),
            secret,
            required: true,
        };
        PluginInfo {
            vendor: "acronis".into(),
            display_name: "Acronis Cyber Protect Cloud".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract: CONTRACT_VERSION.into(),
            url_hint: "https://eu2-cloud.acronis.com".into(),
            actions: vec![
                action(
                    Action::Status,
                    "Show whether the tenant is enabled; changes nothing.",
                ),
                action(
                    Action::Disable,
                    "Disable the tenant: every user of it and of its sub-tenants is blocked; \
                     data is kept and billing continues. Undo with enable.",
                ),
                action(
                    Action::Enable,
                    "Enable the tenant again, restoring access for its users and sub-tenants.",
                ),
            ],
            config: vec![
                field(
                    "client-id",
                    "The API client's id (created under Settings > API clients in the \
                     management portal).",
                    false,
                ),
                field(
                    "client-secret",
                    "The API client's secret, shown once when the client was created.",
                    true,
                ),
            ],
        }
    }

    fn begin_login(ctx: &Context) -> Step<Self::LoginState, Session> {
        flow::begin_login(ctx)
    }

    fn resume_login(
        ctx: &Context,
        state: Self::LoginState,
        response: &HttpResponse,
    ) -> Step<Self::LoginState, Session> {
        flow::resume_login(ctx, state, response)
    }

    fn begin_action(
        ctx: &Context,
        session: &Session,
        request: &ActionRequest,
    ) -> Step<Self::ActionState, Outcome> {
        flow::begin_action(ctx, session, request)
    }

    fn resume_action(
        ctx: &Context,
        session: &Session,
        state: Self::ActionState,
        response: &HttpResponse,
    ) -> Step<Self::ActionState, Outcome> {
        flow::resume_action(ctx, session, state, response)
    }
}

#[cfg(feature = "export")]
tenantctl_plugin_sdk::register_plugin!(Acronis);

#[cfg(test)]
mod fuzz;
