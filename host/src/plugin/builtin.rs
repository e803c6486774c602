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

/// The vendor a built-in plugin's file is named for (`tenantctl_plugin_acronis.wasm`:
/// `acronis`).
pub fn vendor_of(file: &str) -> Option<&str> {
    file.strip_prefix("tenantctl_plugin_")?
        .strip_suffix(".wasm")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_is_named_for_its_vendor() {
        for (file, _) in BUILTIN {
            let vendor = vendor_of(file).unwrap_or_else(|| panic!("{file} names no vendor"));
            assert!(!vendor.is_empty() && !vendor.contains('_'), "{file}");
        }
        assert_eq!(vendor_of("tenantctl_plugin_acronis.wasm"), Some("acronis"));
        assert_eq!(vendor_of("other.wasm"), None);
    }
}
