//! tenantctl plugin for Veeam Service Provider Console (REST API v3).
//!
//! Logs in with a user name and password (`POST /api/v3/token`, password grant), finds a
//! company by uid or by case-insensitive name (`GET /api/v3/organizations/companies` with a
//! name filter), reads its `status` (`GET …/companies/{uid}`) and disables or enables it with
//! a JSON Patch of `/status` (`PATCH …/companies/{uid}`). Every write is decided from a fresh
//! read and declared with its intent before it is sent.
//!
//! Built against the plugin SDK alone and shipped as a drop-in `.wasm` file: the tenantctl
//! binary does not embed it.

mod api;
mod flow;

use serde::{Deserialize, Serialize};
use tenantctl_plugin_sdk::{
    Action, ActionInfo, ActionRequest, CONTRACT_VERSION, ConfigField, Context, HttpResponse,
    Outcome, Plugin, PluginInfo, Session, Step, register_plugin,
};

/// The Veeam Service Provider Console plugin.
pub struct Vspc;

/// What a login carries between its steps.
#[derive(Debug, Serialize, Deserialize)]
pub struct LoginState {
    /// The user that logs in, for messages.
    username: String,
}

/// What the session keeps besides the token.
#[derive(Debug, Serialize, Deserialize)]
pub struct SessionData {
    /// The user the session belongs to.
    username: String,
}

impl Plugin for Vspc {
    type LoginState = LoginState;
    type ActionState = flow::State;

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
            vendor: "vspc".to_string(),
            display_name: "Veeam Service Provider Console".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            contract: CONTRACT_VERSION.to_string(),
            url_hint: "https://<host>:1280 (the REST API v3 lives under /api/v3)".to_string(),
            actions: vec![
                action(
                    Action::Status,
                    "Shows whether the company is Active or Disabled (or in another state \
                     such as Expired); changes nothing.",
                ),
                action(
                    Action::Disable,
                    "Disables the company (status Disabled): its users cannot log in to the \
                     console, it cannot be managed, its active alarms are resolved. \
                     Reversible with `enable`.",
                ),
                action(
                    Action::Enable,
                    "Enables a disabled company again (status Active).",
                ),
            ],
            config: vec![
                field(
                    "username",
                    "A Veeam Service Provider Console user with the Portal Administrator, \
                     Service Provider Global Administrator or Service Provider Administrator \
                     role, without multi-factor authentication; local users are written \
                     <machine>\\<user>.",
                    false,
                ),
                field("password", "That user's password.", true),
            ],
        }
    }

    fn begin_login(ctx: &Context) -> Step<LoginState, Session> {
        let ready = api::Api::new(&ctx.base_url)
            .and_then(|api| Ok((api, ctx.require("username")?, ctx.require("password")?)));
        match ready {
            Ok((api, username, password)) => Step::send(
                api.token(username, password),
                LoginState {
                    username: username.to_string(),
                },
            ),
            Err(failure) => Step::Fail(failure),
        }
    }

    fn resume_login(
        ctx: &Context,
        state: LoginState,
        response: &HttpResponse,
    ) -> Step<LoginState, Session> {
        match api::parse_token(response, &state.username, ctx.now) {
            Ok((token, expires_at)) => Step::Done(Session::new(
                token,
                Some(expires_at),
                &SessionData {
                    username: state.username,
                },
            )),
            Err(failure) => Step::Fail(failure),
        }
    }

    fn begin_action(
        ctx: &Context,
        session: &Session,
        request: &ActionRequest,
    ) -> Step<flow::State, Outcome> {
        flow::begin(ctx, session, request)
    }

    fn resume_action(
        ctx: &Context,
        session: &Session,
        state: flow::State,
        response: &HttpResponse,
    ) -> Step<flow::State, Outcome> {
        flow::resume(ctx, session, state, response)
    }
}

register_plugin!(Vspc);

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fuzz;
