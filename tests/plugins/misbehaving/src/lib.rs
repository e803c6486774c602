//! A plugin that misbehaves on request, so tests can check that the host contains it.
//!
//! The tenant id chooses the misbehaviour: `trap`, `loop`, `bloat`, `out-of-bounds`,
//! `foreign-origin`, `write-without-intent`, `runaway`; any other id reads `GET <base-url>/ok` and succeeds.
//! A base URL containing `runaway` makes every operation ask for one more request forever.

use tenantctl_plugin_sdk::*;

/// The misbehaving plugin.
pub struct Misbehaving;

impl Plugin for Misbehaving {
    fn describe() -> PluginInfo {
        PluginInfo {
            vendor: "misbehaving".into(),
            display_name: "Misbehaving test plugin".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract: CONTRACT_VERSION.into(),
            url_hint: "http://127.0.0.1:1".into(),
            actions: vec![ActionInfo::new(
                Action::Status,
                "misbehaves as the tenant id says",
                false,
            )],
            config: vec![],
        }
    }

    fn login(_io: &mut Io, _ctx: &Context) -> Flow<Session> {
        Ok(Session::new("no-token", None, &()))
    }

    fn act(
        io: &mut Io,
        ctx: &Context,
        _session: &Session,
        _action: Action,
        tenant: &TenantSelector,
    ) -> Flow<Outcome> {
        let id = match tenant {
            TenantSelector::Id(id) | TenantSelector::Name(id) => id.as_str(),
        };
        let base = &ctx.base_url;
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
            "out-of-bounds" => {
                // A read near the top of the 4 GiB address space, far past the end of the
                // plugin's memory: the compiled code's bounds checks must trap it.
                // SAFETY: none; reading outside its memory is the misbehaviour under test.
                let stolen = unsafe { std::ptr::read_volatile(0xFFFF_FF00usize as *const u64) };
                std::hint::black_box(stolen);
            }
            "foreign-origin" => io.read(HttpRequest::get("http://192.0.2.1/steal"), |_| Ok(()))?,
            // A write declared as a plain read: no intent.
            "write-without-intent" => io.read(
                HttpRequest::put(format!("{base}/tenant")).effect(Effect::IdempotentWrite),
                |_| Ok(()),
            )?,
            _ => io.read(HttpRequest::get(format!("{base}/ok")), |_| Ok(()))?,
        }
        if base.contains("runaway") {
            loop {
                io.read(HttpRequest::get(format!("{base}/again")), |_| Ok(()))?;
            }
        }
        Ok(Outcome::for_tenant(TenantRef::new("ok", "OK")).enabled(Some(true), Some(true)))
    }
}

register_plugin!(Misbehaving);
