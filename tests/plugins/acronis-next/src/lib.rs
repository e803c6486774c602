//! The Acronis plugin re-released under version 0.2.0, built against the SDK alone, as a
//! vendor would ship an update. Tests drop its `.wasm` into a plugin directory and check
//! that an unchanged tenantctl binary picks it over the built-in one.

use tenantctl_plugin_acronis::Acronis;
use tenantctl_plugin_sdk::*;

/// Acronis, re-released.
pub struct AcronisNext;

impl Plugin for AcronisNext {
    fn describe() -> PluginInfo {
        PluginInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            ..Acronis::describe()
        }
    }

    fn login(io: &mut Io, ctx: &Context) -> Flow<Session> {
        Acronis::login(io, ctx)
    }

    fn act(
        io: &mut Io,
        ctx: &Context,
        session: &Session,
        action: Action,
        tenant: &TenantSelector,
    ) -> Flow<Outcome> {
        Acronis::act(io, ctx, session, action, tenant)
    }

    fn list(io: &mut Io, ctx: &Context, session: &Session) -> Flow<Listing> {
        Acronis::list(io, ctx, session)
    }
}

register_plugin!(AcronisNext);
