//! Contract 0.2 (`wit/v0.2.0`): the host's own types.

// Generated items without WIT docs (call_* helpers, the world struct) would warn.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit/v0.2.0",
    world: "vendor-plugin",
    // Async, so the WASI calls a plugin makes (e.g. writing a panic message to stderr) run
    // on the host's tokio runtime instead of trying to start one of their own.
    exports: { default: async },
    additional_derives: [serde::Serialize, serde::Deserialize, PartialEq, Eq],
});

pub use self::exports::tenantctl::plugin::plugin::Guest;
pub use self::tenantctl::plugin::types::*;
