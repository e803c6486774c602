//! A plugin that misbehaves on request, so tests can check that the host contains it.
//!
//! The tenant id chooses the misbehaviour: `trap`, `loop`, `bloat`, `foreign-origin`,
//! `write-without-intent`, `runaway`; any other id reads `GET <base-url>/ok` and succeeds.

use tenantctl_plugin_sdk::*;

/// The misbehaving plugin.
pub struct Misbehaving;

impl Plugin for Misbehaving {
    type LoginState = ();
    type ActionState = ();

    fn describe() -> PluginInfo {
        PluginInfo {
            vendor: "misbehaving".into(),
            display_name: "Misbehaving test plugin".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract: CONTRACT_VERSION.into(),
            url_hint: "http://127.0.0.1:1".into(),
            actions: vec![ActionInfo {
                action: Action::Status,
                description: "misbehaves as the tenant id says".into(),
                destructive: false,
            }],
            config: vec![],
        }
    }

    fn begin_login(_ctx: &Context) -> Step<(), Session> {
        Step::Done(Session::new("no-token", None, &()))
    }

    fn resume_login(_ctx: &Context, _state: (), _response: &HttpResponse) -> Step<(), Session> {
        Step::Fail(Failure::Vendor(ErrorDetail::new("login sends no request")))
    }

    fn begin_action(
        ctx: &Context,
        _session: &Session,
        request: &ActionRequest,
    ) -> Step<(), Outcome> {
        let id = match &request.tenant {
            TenantSelector::Id(id) | TenantSelector::Name(id) => id.as_str(),
        };
        match id {
            "trap" => panic!("this plugin panics on purpose"),
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "bloat" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "foreign-origin" => Step::send(HttpRequest::get("http://192.0.2.1/steal"), ()),
            "write-without-intent" => Step::send(
                HttpRequest::put(format!("{}/tenant", ctx.base_url))
                    .effect(Effect::IdempotentWrite),
                (),
            ),
            _ => Step::send(HttpRequest::get(format!("{}/ok", ctx.base_url)), ()),
        }
    }

    fn resume_action(
        ctx: &Context,
        _session: &Session,
        _state: (),
        _response: &HttpResponse,
    ) -> Step<(), Outcome> {
        if ctx.base_url.contains("runaway") {
            return Step::send(HttpRequest::get(format!("{}/again", ctx.base_url)), ());
        }
        Step::Done(Outcome::for_tenant(TenantRef::new("ok", "OK")).enabled(Some(true), Some(true)))
    }
}

register_plugin!(Misbehaving);
