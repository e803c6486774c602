//! Write a tenantctl vendor plugin.
//!
//! A plugin teaches tenantctl one vendor's API: which requests log in, read, disable,
//! enable and offboard a tenant, and how to read the answers. It never performs I/O: each
//! function returns either a request for the host to send, with typed state to get back,
//! or the result. The host sends every request, so it can log, audit, dry-run, retry and
//! cap every step.
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
//!     type LoginState = ();
//!     type ActionState = ();
//!     fn describe() -> PluginInfo { /* vendor, version, actions, config fields */ }
//!     fn begin_login(ctx: &Context) -> Step<(), Session> {
//!         Step::send(HttpRequest::post(format!("{}/login", ctx.base_url)), ())
//!     }
//!     // resume_login, begin_action, resume_action ...
//! }
//!
//! register_plugin!(Example);
//! ```

#[cfg(feature = "fuzz")]
pub mod fuzz;
mod http;
mod outcome;
mod state;
pub mod testing;

pub use __private::bindings::tenantctl::plugin::types::{
    Action, ActionInfo, ActionRequest, ActionStep, ConfigField, ConfigValue, Context, Effect,
    ErrorDetail, Failure, Header, HttpRequest, HttpResponse, Intent, LoginStep, Method, Outcome,
    Outgoing, PluginInfo, RateLimit, Session, TenantRef, TenantSelector,
};
pub use http::{base64_encode, basic_auth, query_string};
pub use state::{decode, encode};

/// The version of the WIT contract this SDK implements; put it in [`PluginInfo::contract`].
pub const CONTRACT_VERSION: &str = "0.1.0";

/// The next step of a login or an action, with typed state.
///
/// `S` is the state the plugin wants back with the response; `T` is what a finished
/// operation yields ([`Session`] for a login, [`Outcome`] for an action).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<S, T> {
    /// Send `request`; the host calls back with its response and `state`.
    Send {
        /// The request to send.
        request: HttpRequest,
        /// What to get back with the response.
        state: S,
        /// What the request changes; required when the request writes.
        intent: Option<Intent>,
    },
    /// The operation finished.
    Done(T),
    /// The operation failed. For an action this becomes an [`Outcome`] carrying only the
    /// error; return `Done(outcome)` instead to report the tenant too.
    Fail(Failure),
}

impl<S, T> Step<S, T> {
    /// Sends a request that changes nothing.
    pub fn send(request: HttpRequest, state: S) -> Self {
        Step::Send {
            request,
            state,
            intent: None,
        }
    }

    /// Sends a request that changes `intent.tenant` as `intent` says.
    pub fn write(request: HttpRequest, state: S, intent: Intent) -> Self {
        Step::Send {
            request,
            state,
            intent: Some(intent),
        }
    }
}

/// A vendor plugin. Every function is pure: no I/O, no clock (use [`Context::now`]), no
/// memory of earlier calls beyond the state it hands the host.
pub trait Plugin {
    /// State carried between the steps of a login.
    type LoginState: serde::Serialize + serde::de::DeserializeOwned;
    /// State carried between the steps of an action.
    type ActionState: serde::Serialize + serde::de::DeserializeOwned;

    /// Describes the plugin: vendor, versions, actions and configuration fields.
    fn describe() -> PluginInfo;

    /// Starts logging in.
    fn begin_login(ctx: &Context) -> Step<Self::LoginState, Session>;

    /// Continues a login with the response to the previous step's request.
    fn resume_login(
        ctx: &Context,
        state: Self::LoginState,
        response: &HttpResponse,
    ) -> Step<Self::LoginState, Session>;

    /// Starts an action on a tenant.
    fn begin_action(
        ctx: &Context,
        session: &Session,
        request: &ActionRequest,
    ) -> Step<Self::ActionState, Outcome>;

    /// Continues an action with the response to the previous step's request.
    fn resume_action(
        ctx: &Context,
        session: &Session,
        state: Self::ActionState,
        response: &HttpResponse,
    ) -> Step<Self::ActionState, Outcome>;
}

/// The plugin functions as the host calls them, over opaque state bytes. The export glue
/// and [`testing`] both go through here, so native tests exercise the same path as wasm.
pub mod raw {
    use super::*;

    /// `begin-login`.
    pub fn begin_login<P: Plugin>(ctx: &Context) -> LoginStep {
        login_step(P::begin_login(ctx))
    }

    /// `resume-login`.
    pub fn resume_login<P: Plugin>(
        ctx: &Context,
        state: &[u8],
        response: &HttpResponse,
    ) -> LoginStep {
        match decode(state) {
            Ok(state) => login_step(P::resume_login(ctx, state, response)),
            Err(failure) => LoginStep::Failed(failure),
        }
    }

    /// `begin-action`.
    pub fn begin_action<P: Plugin>(
        ctx: &Context,
        session: &Session,
        request: &ActionRequest,
    ) -> ActionStep {
        action_step(P::begin_action(ctx, session, request))
    }

    /// `resume-action`.
    pub fn resume_action<P: Plugin>(
        ctx: &Context,
        session: &Session,
        state: &[u8],
        response: &HttpResponse,
    ) -> ActionStep {
        match decode(state) {
            Ok(state) => action_step(P::resume_action(ctx, session, state, response)),
            Err(failure) => ActionStep::Done(Outcome::failed(failure)),
        }
    }

    fn login_step<S: serde::Serialize>(step: Step<S, Session>) -> LoginStep {
        match step {
            Step::Send {
                request,
                state,
                intent,
            } => LoginStep::Send(Outgoing {
                request,
                state: encode(&state),
                intent,
            }),
            Step::Done(session) => LoginStep::Done(session),
            Step::Fail(failure) => LoginStep::Failed(failure),
        }
    }

    fn action_step<S: serde::Serialize>(step: Step<S, Outcome>) -> ActionStep {
        match step {
            Step::Send {
                request,
                state,
                intent,
            } => ActionStep::Send(Outgoing {
                request,
                state: encode(&state),
                intent,
            }),
            Step::Done(outcome) => ActionStep::Done(outcome),
            Step::Fail(failure) => ActionStep::Done(Outcome::failed(failure)),
        }
    }
}

/// The generated bindings; used by [`register_plugin!`], not a stable API.
#[doc(hidden)]
pub mod __private {
    #[allow(missing_docs, clippy::all)]
    pub mod bindings {
        wit_bindgen::generate!({
            path: "../../wit/v0.1.0",
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
                    $crate::raw::resume_login::<$plugin>(&ctx, &state, &response)
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
                    $crate::raw::resume_action::<$plugin>(&ctx, &session, &state, &response)
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

    /// The data stored by [`Session::new`].
    pub fn data<T: serde::de::DeserializeOwned>(&self) -> Result<T, Failure> {
        decode(&self.data)
    }
}

impl Action {
    /// The action's name as the CLI spells it: `status`, `disable`, `enable`, `offboard`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Status => "status",
            Action::Disable => "disable",
            Action::Enable => "enable",
            Action::Offboard => "offboard",
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn contract_version_matches_the_wit_package() {
        let world = include_str!("../../../wit/v0.1.0/world.wit");
        let expected = format!("package tenantctl:plugin@{};", super::CONTRACT_VERSION);
        assert!(
            world.contains(&expected),
            "wit/world.wit must declare {expected}"
        );
    }
}
