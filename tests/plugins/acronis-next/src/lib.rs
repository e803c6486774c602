//! The Acronis plugin re-released under version 0.2.0, built against the SDK alone, as a
//! vendor would ship an update. Tests drop its `.wasm` into a plugin directory and check
//! that an unchanged tenantctl binary picks it over the built-in 0.1.0.

use tenantctl_plugin_acronis::Acronis;
use tenantctl_plugin_sdk::*;

/// Acronis, re-released.
pub struct AcronisNext;

impl Plugin for AcronisNext {
    type LoginState = <Acronis as Plugin>::LoginState;
    type ActionState = <Acronis as Plugin>::ActionState;

    fn describe() -> PluginInfo {
        PluginInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            ..Acronis::describe()
        }
    }

    fn begin_login(ctx: &Context) -> Step<Self::LoginState, Session> {
        Acronis::begin_login(ctx)
    }

    fn resume_login(
        ctx: &Context,
        state: Self::LoginState,
        response: &HttpResponse,
    ) -> Step<Self::LoginState, Session> {
        Acronis::resume_login(ctx, state, response)
    }

    fn begin_action(
        ctx: &Context,
        session: &Session,
        request: &ActionRequest,
    ) -> Step<Self::ActionState, Outcome> {
        Acronis::begin_action(ctx, session, request)
    }

    fn resume_action(
        ctx: &Context,
        session: &Session,
        state: Self::ActionState,
        response: &HttpResponse,
    ) -> Step<Self::ActionState, Outcome> {
        Acronis::resume_action(ctx, session, state, response)
    }
}

register_plugin!(AcronisNext);
