//! Where tenantctl keeps files by default (XDG base directories).

use std::path::PathBuf;

/// The plugin directory: `$XDG_DATA_HOME/tenantctl/plugins`, else
/// `~/.local/share/tenantctl/plugins`.
pub fn default_plugin_dir() -> Option<PathBuf> {
    xdg("XDG_DATA_HOME", ".local/share").map(|dir| dir.join("tenantctl").join("plugins"))
}

/// The compile cache: `$TENANTCTL_CACHE_DIR`, else `$XDG_CACHE_HOME/tenantctl`, else
/// `~/.cache/tenantctl`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TENANTCTL_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    xdg("XDG_CACHE_HOME", ".cache").map(|dir| dir.join("tenantctl"))
}

/// Where tenantctl keeps state (the audit journal): `$XDG_STATE_HOME/tenantctl`, else
/// `~/.local/state/tenantctl`.
pub fn state_dir() -> Option<PathBuf> {
    xdg("XDG_STATE_HOME", ".local/state").map(|dir| dir.join("tenantctl"))
}

fn xdg(var: &str, fallback_under_home: &str) -> Option<PathBuf> {
    match std::env::var_os(var).filter(|d| !d.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|home| PathBuf::from(home).join(fallback_under_home)),
    }
}
