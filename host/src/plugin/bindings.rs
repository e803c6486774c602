//! The workspace's one `bindgen!`: the WIT contract as host-side Rust types.

// Generated items without WIT docs (call_* helpers, the world struct) would warn.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit/v0.1.0",
    world: "vendor-plugin",
    // Async, so the WASI calls a plugin makes (e.g. writing a panic message to stderr) run
    // on the host's tokio runtime instead of trying to start one of their own.
    exports: { default: async },
    additional_derives: [serde::Serialize, serde::Deserialize, PartialEq, Eq],
});

pub use self::exports::tenantctl::plugin::plugin::Guest;
pub use self::tenantctl::plugin::types::*;

impl Action {
    /// The action's name as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Action::Status => "status",
            Action::Disable => "disable",
            Action::Enable => "enable",
            Action::Offboard => "offboard",
        }
    }
}
