//! The plugins compiled into the tenantctl binary (built from `guest/` by `build.rs`).

/// `(file name, component bytes)` for every built-in plugin.
pub const BUILTIN: &[(&str, &[u8])] = &[
    (
        "tenantctl_plugin_acronis.wasm",
        include_bytes!(concat!(env!("OUT_DIR"), "/tenantctl_plugin_acronis.wasm")),
    ),
    (
        "tenantctl_plugin_commvault.wasm",
        include_bytes!(concat!(env!("OUT_DIR"), "/tenantctl_plugin_commvault.wasm")),
    ),
];
