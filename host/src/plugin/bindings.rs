//! The WIT contract as host-side Rust types: one `bindgen!` per contract version, as Zed's
//! extension host keeps one per `since_vX` folder.
//!
//! The host's own types are those of the newest contract ([`v0_2`], re-exported here); an
//! older plugin's values are converted up at the boundary (see [`v0_1`]), so nothing past
//! `plugin::PluginInstance` knows which contract a plugin speaks.

pub mod v0_1;
pub mod v0_2;

pub use v0_2::{Guest, *};

impl Action {
    /// The action's name as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Action::Status => "status",
            Action::Disable => "disable",
            Action::Enable => "enable",
            Action::Offboard => "offboard",
            Action::List => "list",
            Action::Delete => "delete",
        }
    }
}
