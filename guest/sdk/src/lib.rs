//! Write a tenantctl vendor plugin.
//!
//! A plugin teaches tenantctl one vendor's API: how to log in, and how to read, disable,
//! enable, delete, offboard and list tenants. It never performs I/O. With this SDK an
//! operation is still written as straight-line code:
//!
//! ```ignore
//! let tenant = io.read(api.tenant(&id), |r| api.parse_tenant(r))?;
//! ```
//!
//! and the SDK makes it sans-IO by deterministic replay: every call from the host re-runs
//! the operation from the top, hands back the results recorded in the state blob for the
//! requests already answered, and stops at the first request without one, which it emits
//! (see [`Io`]). The host sends every request, so it can log, audit, dry-run, retry and cap
//! every step.
//!
//! A plugin is a type implementing [`Plugin`] plus one [`register_plugin!`] call, built for
//! `wasm32-wasip2`. The same crate builds natively, so its logic has ordinary unit tests;
//! [`testing`] drives a whole operation against canned responses.
//!
//! ```ignore
//! use tenantctl_plugin_sdk::*;
//!
//! struct Example;
//!
//! impl Plugin for Example {
//!     fn describe() -> PluginInfo { /* vendor, version, actions, config fields */ }
//!     fn login(io: &mut Io, ctx: &Context) -> Flow<Session> { /* ... */ }
//!     fn act(io: &mut Io, ctx: &Context, session: &Session, action: Action,
//!            tenant: &TenantSelector) -> Flow<Outcome> { /* ... */ }
//! }
//!
//! register_plugin!(Example);
//! ```
//!
//! Common pieces every vendor needs live here, not in each plugin: [`Io::find`] (a tenant
//! by id or by name, never guessing between matches), [`decide`] (idempotent
//! enable/disable/delete decisions), [`Vendor`] (error mapping, including non-JSON bodies
//! and HTTP-200 error envelopes), [`Io::pages`] (listing page by page), [`Io::poll`]
//! (asynchronous vendor operations, with `wait-ms`), [`HttpRequest::cache_for`] (name
//! lookups shared across a batch) and [`login`] (OAuth token answers).

// `Flow`'s error side is the replay's control flow (a request to emit, or the failure),
// returned once per operation step; boxing it would add an allocation to every step.
#![allow(clippy::result_large_err)]

mod decide;
mod find;
#[cfg(feature = "fuzz")]
pub mod fuzz;
mod http;
mod io;
pub mod lenient;
pub mod login;
mod outcome;
mod state;
pub mod testing;
mod vendor;

pub use __private::bindings::tenantctl::plugin::types::{
    Action, ActionInfo, ActionRequest, ActionStep, ConfigField, ConfigValue, Context, Effect,
    ErrorDetail, Failure, Header, HttpRequest, HttpResponse, Intent, ListedTenant, LoginStep,
    Method, Outcome, Outgoing, Page, PluginInfo, RateLimit, Session, TenantRef, TenantSelector,
};
pub use decide::{Change, Decision, Standing, decide};
pub use find::{Candidate, Candidates, Found, Names};
pub use http::{base64_encode, basic_auth, path_segment, query_string};
pub use io::{Flow, Io, Listing, MAX_POLLS, Poll, Stop, poll_wait_ms};
pub use state::{decode, encode};
pub use vendor::{Vendor, VendorError, json_text};

/// The version of the WIT contract this SDK implements; put it in [`PluginInfo::contract`].
pub const CONTRACT_VERSION: &str = "0.2.0";

/// A vendor plugin: one function per kind of operation, each written as straight-line code
/// over an [`Io`]. Every function must be deterministic: given the same context, session,
/// request and recorded results it must ask for the same requests in the same order
/// (read [`Context::now`] inside a parse closure, never to build a request).
pub trait Plugin {
    /// Describes the plugin: vendor, versions, actions and configuration fields. An action
    /// that is not listed here is refused as `unsupported` before the plugin runs.
    fn describe() -> PluginInfo;

    /// Logs in to the vendor account `ctx` describes and returns the session every later
    /// operation of the account gets. A 401 here is bad credentials: see
    /// [`Vendor::login_failure`].
    fn login(io: &mut Io, ctx: &Context) -> Flow<Session>;

    /// Carries out `action` (anything but `list`) on the tenant `tenant` names.
    fn act(
        io: &mut Io,
        ctx: &Context,
        session: &Session,
        action: Action,
        tenant: &TenantSelector,
    ) -> Flow<Outcome>;

    /// Lists every tenant the account can act on, page by page with [`Io::pages`].
    /// Plugins that do not list leave it out of [`Plugin::describe`] and need not write it.
    fn list(io: &mut Io, ctx: &Context, session: &Session) -> Flow<Listing> {
        let _ = (io, ctx, session);
        Err(Failure::Unsupported(ErrorDetail::new("this plugin cannot list tenants")).into())
    }
}

/// The plugin functions as the host calls them, over opaque state bytes. The export glue
/// and [`testing`] both go through here, so native tests exercise the same path as wasm.
pub mod raw {
    use super::*;

    /// `begin-login`.
    pub fn begin_login<P: Plugin>(ctx: &Context) -> LoginStep {
        io::login::<P>(ctx, None)
    }

    /// `resume-login`.
    pub fn resume_login<P: Plugin>(
        ctx: &Context,
        state: &[u8],
        response: HttpResponse,
    ) -> LoginStep {
        io::login::<P>(ctx, Some((state, response)))
    }

    /// `begin-action`.
    pub fn begin_action<P: Plugin>(
        ctx: &Context,
        session: &Session,
        request: &ActionRequest,
    ) -> ActionStep {
        io::action::<P>(ctx, session, Some(request), None)
    }

    /// `resume-action`.
    pub fn resume_action<P: Plugin>(
        ctx: &Context,
        session: &Session,
        state: &[u8],
        response: HttpResponse,
    ) -> ActionStep {
        io::action::<P>(ctx, session, None, Some((state, response)))
    }
}

/// The generated bindings; used by [`register_plugin!`], not a stable API.
#[doc(hidden)]
pub mod __private {
    #[allow(missing_docs, clippy::all)]
    pub mod bindings {
        wit_bindgen::generate!({
            path: "../../wit/v0.2.0",
            world: "vendor-plugin",
            pub_export_macro: true,
            export_macro_name: "__export_vendor_plugin",
            default_bindings_module: "tenantctl_plugin_sdk::__private::bindings",
            additional_derives: [PartialEq, Eq, serde::Serialize, serde::Deserialize],
        });
    }
    pub use bindings::exports::tenantctl::plugin::plugin::Guest;
}

/// Exports a [`Plugin`] implementation as the component's `tenantctl:plugin/plugin`
/// interface. Call it once, at the crate root of a `cdylib` plugin crate. On targets other
/// than wasm it expands to nothing, so the crate's unit tests build natively.
#[macro_export]
macro_rules! register_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct Export;

            impl $crate::__private::Guest for Export {
                fn describe() -> $crate::PluginInfo {
                    <$plugin as $crate::Plugin>::describe()
                }
                fn begin_login(ctx: $crate::Context) -> $crate::LoginStep {
                    $crate::raw::begin_login::<$plugin>(&ctx)
                }
                fn resume_login(
                    ctx: $crate::Context,
                    state: ::std::vec::Vec<u8>,
                    response: $crate::HttpResponse,
                ) -> $crate::LoginStep {
                    $crate::raw::resume_login::<$plugin>(&ctx, &state, response)
                }
                fn begin_action(
                    ctx: $crate::Context,
                    session: $crate::Session,
                    request: $crate::ActionRequest,
                ) -> $crate::ActionStep {
                    $crate::raw::begin_action::<$plugin>(&ctx, &session, &request)
                }
                fn resume_action(
                    ctx: $crate::Context,
                    session: $crate::Session,
                    state: ::std::vec::Vec<u8>,
                    response: $crate::HttpResponse,
                ) -> $crate::ActionStep {
                    $crate::raw::resume_action::<$plugin>(&ctx, &session, &state, response)
                }
            }

    $crate::__private::bindings::__export_vendor_plugin!(Export with_types_in $crate::__private::bindings);
        };
    };
}

impl Context {
    /// The value the operator set for configuration field `name`, if any.
    pub fn config(&self, name: &str) -> Option<&str> {
        self.config
            .iter()
            .find(|value| value.name == name)
            .map(|value| value.value.as_str())
    }

    /// The value of a required configuration field, or an `invalid-input` failure naming it.
    pub fn require(&self, name: &str) -> Result<&str, Failure> {
        match self.config(name) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(Failure::InvalidInput(ErrorDetail::new(format!(
                "configuration field `{name}` is not set"
            )))),
        }
    }

    /// The base URL without surrounding blanks and trailing `/`, with `suffix` (e.g.
    /// `/api/2`, compared ignoring case) cut off when the operator included it; an
    /// `invalid-input` failure with `example` when nothing is left.
    pub fn base(&self, suffix: &str, example: &str) -> Result<String, Failure> {
        let trimmed = self.base_url.trim().trim_end_matches('/');
        let base = match trimmed.len().checked_sub(suffix.len()) {
            Some(cut)
                if !suffix.is_empty()
                    && trimmed.is_char_boundary(cut)
                    && trimmed[cut..].eq_ignore_ascii_case(suffix) =>
            {
                &trimmed[..cut]
            }
            _ => trimmed,
        }
        .trim_end_matches('/');
        if base.is_empty() {
            return Err(Failure::InvalidInput(ErrorDetail::new(format!(
                "the base URL is empty: give it with --url, e.g. {example}"
            ))));
        }
        Ok(base.to_string())
    }
}

impl Session {
    /// A session holding `token`, expiring at `expires_at` (Unix seconds) if known, with
    /// `data` kept for later operations.
    pub fn new(
        token: impl Into<String>,
        expires_at: Option<u32>,
        data: &impl serde::Serialize,
    ) -> Self {
        Session {
            token: token.into(),
            expires_at,
            data: encode(data),
        }
    }

    /// The data stored by [`Session::new`]. Data another plugin version stored is
    /// `session-expired`, so the host logs in again and the new session carries it.
    pub fn data<T: serde::de::DeserializeOwned>(&self) -> Result<T, Failure> {
        serde_json::from_slice(&self.data).map_err(|_| {
            Failure::SessionExpired(ErrorDetail::new(
                "the session was made by another version of this plugin; log in again",
            ))
        })
    }
}

impl Action {
    /// The action's name as the CLI spells it: `status`, `disable`, `enable`, `offboard`,
    /// `list`, `delete`.
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

impl ActionInfo {
    /// An action as [`Plugin::describe`] lists it.
    pub fn new(action: Action, description: impl Into<String>, destructive: bool) -> Self {
        ActionInfo {
            action,
            description: description.into(),
            destructive,
        }
    }
}

impl ConfigField {
    /// A required configuration field; `secret` for credentials.
    pub fn required(name: &str, description: impl Into<String>, secret: bool) -> Self {
        ConfigField {
            name: name.to_string(),
            description: description.into(),
            secret,
            required: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_version_matches_the_wit_package() {
        let world = include_str!("../../../wit/v0.2.0/world.wit");
        let expected = format!("package tenantctl:plugin@{};", super::CONTRACT_VERSION);
        assert!(
            world.contains(&expected),
            "wit/world.wit must declare {expected}"
        );
    }

    #[test]
    fn base_cuts_the_api_suffix_and_slashes() {
        let ctx = |url: &str| testing::context(url, &[], 0);
        for url in [
            "https://h",
            "https://h/",
            " https://h/API/2// ",
            "https://h//api/2",
        ] {
            assert_eq!(ctx(url).base("/api/2", "x").unwrap(), "https://h", "{url}");
        }
        assert_eq!(
            ctx("https://h/api/20").base("/api/2", "x").unwrap(),
            "https://h/api/20"
        );
        assert_eq!(ctx("https://h/x/").base("", "x").unwrap(), "https://h/x");
        for url in ["", " ", "/", "/api/2/"] {
            assert!(matches!(
                ctx(url).base("/api/2", "https://example"),
                Err(Failure::InvalidInput(_))
            ));
        }
    }
}
