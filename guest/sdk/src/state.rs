//! Typed state in the opaque bytes the host carries between steps.

use crate::{ErrorDetail, Failure};

/// Encodes state (or session data) for the host to carry.
pub fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Plain data structures always serialize; a failure here is a bug in the plugin.
    serde_json::to_vec(value).expect("plugin state must serialize to JSON")
}

/// Decodes state encoded by [`encode`]. Bytes that are not this plugin's state (a host bug,
/// or state from another plugin version) fail the operation instead of panicking.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(bytes).map_err(|err| {
        Failure::InvalidInput(ErrorDetail::new(format!(
            "the state handed back to the plugin is not one it produced: {err}"
        )))
    })
}
