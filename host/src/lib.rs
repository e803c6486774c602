//! tenantctl: disable, re-enable and offboard customer tenants on backup and
//! data-protection platforms, through WebAssembly vendor plugins.
//!
//! The library is what the `tenantctl` binary is made of; automation written in Rust can
//! embed it directly:
//!
//! 1. A [`plugin::Runtime`] (one per process) loads plugins; a [`plugin::catalog::Catalog`]
//!    finds the built-in ones and those in a plugin directory and picks one per vendor.
//! 2. An [`Account`] joins a plugin with a base URL and credentials (see [`credentials`]);
//!    it logs in once and keeps the session.
//! 3. [`Account::run`] carries out one action on one tenant and returns a
//!    [`report::TenantResult`], the same record the CLI prints.
//!
//! [`serve`] puts the same library behind an authenticated HTTP API (`tenantctl serve`).
//!
//! Every HTTP request is made here, by [`http::HttpClient`], never by a plugin: only to the
//! configured origin, with timeouts, and retries where the plugin says repeating is safe.

pub mod account;
pub mod audit;
pub mod batch;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod dirs;
pub mod http;
pub mod journal;
pub mod operation;
pub mod plugin;
pub mod redact;
pub mod report;
pub mod serve;
pub mod slots;
pub mod template;
pub mod transcript;

pub use account::{Account, RunOptions};
pub use plugin::bindings::{Action, ActionRequest, TenantSelector};
pub use report::{ErrorKind, ResultError, Status, TenantResult};
