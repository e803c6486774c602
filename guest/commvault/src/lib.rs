//! tenantctl plugin for Commvault (REST API of the Command Center web service).
//!
//! Logs in with a user name and password (`POST Login`), finds a company by id or by
//! case-insensitive name (`GET Organization`), reads its deactivation state
//! (`GET Organization/{id}`), and deactivates, activates or offboards it. Every write is
//! decided from a fresh read and declared with its intent before it is sent.

mod api;
mod flow;

use serde::{Deserialize, Serialize};
use tenantctl_plugin_sdk::{
    Action, ActionInfo, ActionRequest, CONTRACT_VERSION, ConfigField, Context, HttpResponse,
    Outcome, Plugin, PluginInfo, Session, Step, register_plugin,
};

/// The Commvault plugin.
pub struct Commvault;

/// What a login carries between its steps.
#[derive(Debug, Serialize, Deserialize)]
pub struct LoginState {
    /// The user name that logs in, for messages.
    username: String,
}

/// What the session keeps besides the token.
#[derive(Debug, Serialize, Deserialize)]
pub struct SessionData {
    /// The user name the session belongs to.
    username: String,
}

impl Plugin for Commvault {
    type LoginState = LoginState;
    type ActionState = flow::State;

    fn describe() -> PluginInfo {
        let action = |action, description: &str, destructive| ActionInfo {
            action,
            description: description.to_string(),
            destructive,
        };
        let field = |name: &str, description: &str, secret| ConfigField {
            name: name.to_string(),
            description: description.to_string(),
            secret,
            required: true,
        };
        PluginInfo {
            vendor: "commvault".to_string(),
            display_name: "Commvault".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            contract: CONTRACT_VERSION.to_string(),
            url_hint: "https://<host>/commandcenter/api (older installs: \
                       https://<host>/webconsole/api)"
                .to_string(),
            actions: vec![
                action(
                    Action::Status,
                    "Shows whether the company is active, deactivated or partly deactivated \
                     (backup, restore and login each on or off); changes nothing.",
                    false,
                ),
                action(
                    Action::Disable,
                    "Deactivates the company: disables backup, restore and login for it. \
                     Reversible with `enable`.",
                    false,
                ),
                action(
                    Action::Enable,
                    "Activates a deactivated or partly deactivated company: backup, restore \
                     and login work again.",
                    false,
                ),
                action(
                    Action::Offboard,
                    "Offboards the company (Tenant/Offboard): removes every user of the \
                     company as owner of their clients and disables backup on their \
                     subclients and VM clients. Does not deactivate the company. tenantctl \
                     cannot undo it.",
                    true,
                ),
            ],
            config: vec![
                field(
                    "username",
                    "The Commvault user that logs in to the web service, e.g. an MSP \
                     administrator with rights on the companies to manage.",
                    false,
                ),
                field("password", "That user's password.", true),
            ],
        }
    }

    fn begin_login(ctx: &Context) -> Step<LoginState, Session> {
        let credentials = api::webservice(ctx).and_then(|webservice| {
            Ok((
                webservice,
                ctx.require("username")?,
                ctx.require("password")?,
            ))
        });
        match credentials {
            Ok((webservice, username, password)) => Step::send(
                api::login_request(&webservice, username, password),
                LoginState {
                    username: username.to_string(),
                },
            ),
            Err(failure) => Step::Fail(failure),
        }
    }

    fn resume_login(
        _ctx: &Context,
        state: LoginState,
        response: &HttpResponse,
    ) -> Step<LoginState, Session> {
        match api::parse_login(response, &state.username) {
            // Tokens expire after 30 minutes of inactivity, not at a fixed time; the host
            // renews the session when a request answers 401.
            Ok(token) => Step::Done(Session::new(
                token,
                None,
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

register_plugin!(Commvault);

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fuzz;
