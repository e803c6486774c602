//! Loading vendor plugins and calling them inside a sandbox.
//!
//! One [`Runtime`] serves the whole process: a wasmtime `Engine` and `Linker` per compiler
//! it uses (see [`Compilation`]). Each plugin is compiled once (cached on disk) into a
//! [`Plugin`] holding its description and an `InstancePre`; every operation gets a fresh
//! [`PluginInstance`] with its own `Store`.
//!
//! Loading is lazy: a plugin whose description was cached with its compiled artifact is
//! described from the artifact's header alone, and deserialized and linked only when its
//! first instance is needed, so a command pays only for the plugins it uses.

pub mod bindings;
mod builtin;
mod cache;
pub mod catalog;
pub mod contract;
mod sandbox;
pub mod trust;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store, Strategy, Trap, UpdateDeadline};

use bindings::{ActionRequest, ActionStep, Context, HttpResponse, LoginStep, PluginInfo, Session};
use cache::CompileCache;
pub use cache::sha256_hex;
pub use sandbox::Limits;
use sandbox::SandboxState;

/// The newest contract version this host implements (the WIT package version).
pub const CONTRACT_VERSION: &str = "0.2.0";

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    /// Embedded in the tenantctl binary.
    Builtin,
    /// A file in the plugin directory (or named on the command line).
    File(PathBuf),
}

impl fmt::Display for PluginSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginSource::Builtin => f.write_str("built-in"),
            PluginSource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Which of wasmtime's compilers made a plugin's native code. Each has its own entries in the
/// compile cache, so a plugin is compiled once per compiler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compiler {
    /// Winch, wasmtime's single-pass baseline compiler: quick to compile, larger code.
    Winch,
    /// Cranelift, wasmtime's optimising compiler.
    Cranelift,
}

impl Compiler {
    /// Its name, as the compile cache and the logs use it.
    pub fn name(self) -> &'static str {
        match self {
            Compiler::Winch => "winch",
            Compiler::Cranelift => "cranelift",
        }
    }
}

/// How a runtime gets the native code of a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compilation {
    /// Cranelift's code, compiled when the compile cache does not hold it: for batches and
    /// the service, where a plugin's code runs for every row, and for the commands that
    /// warm the cache (`plugins list`, `plugins install`).
    Optimized,
    /// Cranelift's code when the compile cache holds it, else Winch's, which compiles about
    /// five times faster (and is cached in turn): for commands that make a few plugin
    /// calls, so that the first one after an install is not held up by a compile. Winch's
    /// code is larger, so a command that loads it takes a few milliseconds longer than one
    /// that loads Cranelift's (the figures are in BENCHMARKS.md).
    QuickStart,
}

/// The process-wide plugin engine.
pub struct Runtime {
    engines: Engines,
    limits: Limits,
}

/// The engines a runtime's plugins load with.
#[derive(Clone)]
struct Engines {
    /// Compiles a plugin the compile cache does not hold.
    compiling: Arc<Shared>,
    /// Another compiler's engine whose cached artifacts are used first (Cranelift's, for
    /// [`Compilation::QuickStart`] with a cache).
    preferred: Option<Arc<Shared>>,
}

impl Engines {
    fn in_order(&self) -> impl Iterator<Item = &Arc<Shared>> {
        self.preferred.iter().chain([&self.compiling])
    }

    /// The description cached with an artifact of this plugin, if any.
    fn peek(&self, sha256: &str) -> Option<PluginInfo> {
        self.in_order()
            .find_map(|shared| shared.cache.as_ref()?.peek(sha256))
    }

    /// The compiled plugin and the engine it is for: the preferred engine's cached
    /// artifact, else the compiling engine's cached artifact or a compile now.
    fn component(&self, bytes: &[u8], sha256: &str) -> Result<(Arc<Shared>, cache::Cached)> {
        if let Some(preferred) = &self.preferred
            && let Some(cached) = preferred
                .cache
                .as_ref()
                .and_then(|cache| cache.load(&preferred.engine, sha256))
        {
            return Ok((preferred.clone(), cached));
        }
        let shared = &self.compiling;
        let cached = match &shared.cache {
            Some(cache) => cache.load_or_compile(&shared.engine, bytes, sha256)?,
            None => cache::Cached {
                component: cache::compile(&shared.engine, bytes)?,
                info: None,
            },
        };
        Ok((shared.clone(), cached))
    }
}

/// What the plugins compiled by one compiler use to become runnable: the engine, the linker
/// and the compile cache.
struct Shared {
    compiler: Compiler,
    engine: Engine,
    linker: Linker<SandboxState>,
    cache: Option<CompileCache>,
}

impl Shared {
    /// An engine that compiles with `compiler`, with epoch interruption for call deadlines
    /// and a pool sized from `limits`, and its linker.
    fn new(compiler: Compiler, cache_dir: Option<PathBuf>, limits: &Limits) -> Result<Self> {
        let mut config = Config::new();
        config.strategy(match compiler {
            Compiler::Winch => Strategy::Winch,
            Compiler::Cranelift => Strategy::Cranelift,
        });
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        sandbox::configure_pool(&mut config, limits);
        let engine = Engine::new(&config)
            .map_err(anyhow::Error::from)
            .context("creating the WebAssembly engine")?;
        sandbox::start_epoch_ticker(&engine)
            .context("starting the thread that enforces plugin deadlines")?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)
            .context("linking the WASI interfaces plugins import")?;
        let cache = cache_dir.map(|dir| CompileCache::new(dir, &engine, compiler));
        Ok(Shared {
            compiler,
            engine,
            linker,
            cache,
        })
    }

    /// Links `component` in the binding of `contract` (which `contract::read` accepted).
    fn link(&self, component: &Component, contract: &semver::Version) -> Result<Pre> {
        let instance_pre = self
            .linker
            .instantiate_pre(component)
            .map_err(anyhow::Error::from)
            .context("linking the plugin: it imports something tenantctl does not provide")?;
        let shape = || {
            format!(
                "the component does not export the {}@{contract} interface in the shape this \
                 host speaks",
                contract::INTERFACE
            )
        };
        // The contract read from the exports picks the binding (`contract::read` refused
        // every other minor).
        Ok(if contract.minor == 1 {
            Pre::V0_1(
                bindings::v0_1::VendorPluginPre::new(instance_pre)
                    .map_err(anyhow::Error::from)
                    .with_context(shape)?,
            )
        } else {
            Pre::V0_2(
                bindings::v0_2::VendorPluginPre::new(instance_pre)
                    .map_err(anyhow::Error::from)
                    .with_context(shape)?,
            )
        })
    }
}

impl Runtime {
    /// A runtime that gets plugins' native code as `compilation` says, caching compiled
    /// plugins in `cache_dir` when given.
    pub fn new(
        cache_dir: Option<PathBuf>,
        limits: Limits,
        compilation: Compilation,
    ) -> Result<Self> {
        let engines = match compilation {
            Compilation::Optimized => Engines {
                compiling: Arc::new(Shared::new(Compiler::Cranelift, cache_dir, &limits)?),
                preferred: None,
            },
            Compilation::QuickStart => Engines {
                // Without a cache there is no Cranelift code to find.
                preferred: match &cache_dir {
                    Some(dir) => Some(Arc::new(Shared::new(
                        Compiler::Cranelift,
                        Some(dir.clone()),
                        &limits,
                    )?)),
                    None => None,
                },
                compiling: Arc::new(Shared::new(Compiler::Winch, cache_dir, &limits)?),
            },
        };
        Ok(Runtime { engines, limits })
    }

    /// Checks the contract a plugin file was built for and describes it: from the compile
    /// cache when the description was stored with the artifact (nothing is compiled or
    /// deserialized then, until the plugin's first instance), else by compiling, linking
    /// and asking it. Checks that the description is usable.
    ///
    /// `bytes` must already be trusted (see `catalog`): compiling is the first step that
    /// treats them as code.
    pub async fn load(&self, bytes: &[u8], source: PluginSource) -> Result<Arc<Plugin>> {
        let contract = contract::read(bytes)?;
        let sha256 = sha256_hex(bytes);
        let mut plugin = Plugin {
            info: PluginInfo {
                vendor: String::new(),
                display_name: String::new(),
                version: String::new(),
                contract: String::new(),
                url_hint: String::new(),
                actions: Vec::new(),
                config: Vec::new(),
            },
            source,
            sha256,
            bytes: bytes.to_vec(),
            contract,
            pre: tokio::sync::OnceCell::new(),
            engines: self.engines.clone(),
            limits: self.limits.clone(),
        };
        if let Some(info) = self.engines.peek(&plugin.sha256) {
            validate(&info, &plugin.contract)?;
            plugin.info = info;
            return Ok(Arc::new(plugin));
        }
        let (shared, cached) = self.engines.component(bytes, &plugin.sha256)?;
        let pre = shared.link(&cached.component, &plugin.contract)?;
        plugin
            .pre
            .set(Linked {
                shared: shared.clone(),
                pre,
            })
            .unwrap_or_else(|_| unreachable!("a new plugin is not linked yet"));
        // A cached description saves instantiating the plugin just to ask it.
        let described_now = cached.info.is_none();
        let info = match cached.info {
            Some(info) => info,
            None => plugin.instantiate().await?.describe().await?,
        };
        validate(&info, &plugin.contract)?;
        if let (Some(cache), true) = (&shared.cache, described_now) {
            cache.store(&plugin.sha256, &cached.component, Some(&info));
        }
        plugin.info = info;
        Ok(Arc::new(plugin))
    }

    /// The limits every plugin instance runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

/// Checks what a plugin says about itself; `exported` is the contract version its exports
/// name (the one that decides which binding is used).
fn validate(info: &PluginInfo, exported: &semver::Version) -> Result<()> {
    let is_id = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    if !is_id(&info.vendor) || info.vendor.len() > 64 {
        bail!(
            "vendor id {:?} must be at most 64 lower-case letters, digits and '-'",
            info.vendor
        );
    }
    semver::Version::parse(&info.version).with_context(|| {
        format!(
            "plugin version {:?} is not a semantic version",
            info.version
        )
    })?;
    let said = semver::Version::parse(&info.contract).with_context(|| {
        format!(
            "contract version {:?} is not a semantic version",
            info.contract
        )
    })?;
    if (said.major, said.minor) != (exported.major, exported.minor) {
        bail!(
            "the plugin says it was built for contract {said}, but its exports are those of \
             contract {exported}; it was built inconsistently"
        );
    }
    for field in &info.config {
        if !is_id(&field.name) {
            bail!("configuration field {:?} must be kebab-case", field.name);
        }
    }
    Ok(())
}

/// A plugin linked by one engine, which makes its instances.
struct Linked {
    shared: Arc<Shared>,
    pre: Pre,
}

/// A linked plugin, in the binding of the contract it speaks.
enum Pre {
    V0_1(bindings::v0_1::VendorPluginPre<SandboxState>),
    V0_2(bindings::v0_2::VendorPluginPre<SandboxState>),
}

/// A live plugin instance, in the binding of the contract it speaks.
enum Bindings {
    V0_1(bindings::v0_1::VendorPlugin),
    V0_2(bindings::v0_2::VendorPlugin),
}

/// A described plugin, ready to instantiate (compiled or deserialized, and linked, the
/// first time it is).
pub struct Plugin {
    info: PluginInfo,
    source: PluginSource,
    sha256: String,
    bytes: Vec<u8>,
    /// The contract its exports name, which picks the binding.
    contract: semver::Version,
    pre: tokio::sync::OnceCell<Linked>,
    engines: Engines,
    limits: Limits,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "plugin {} {} ({})",
            self.info.vendor, self.info.version, self.source
        )
    }
}

impl Plugin {
    /// What the plugin says about itself.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// Where it was loaded from.
    pub fn source(&self) -> &PluginSource {
        &self.source
    }

    /// The SHA-256 of its file.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The component file itself.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The compiler whose code its instances run, once the first one was made.
    pub fn compiled_by(&self) -> Option<Compiler> {
        self.pre.get().map(|linked| linked.shared.compiler)
    }

    /// The limits its instances run under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The contract version the plugin speaks, e.g. `0.1.0`.
    pub fn contract(&self) -> &str {
        &self.info.contract
    }

    /// True when `action` cannot be undone by tenantctl (it needs `--yes`): what the plugin
    /// says, and always for `delete`, whatever the plugin says.
    pub fn is_destructive(&self, action: bindings::Action) -> bool {
        action == bindings::Action::Delete
            || self
                .info
                .actions
                .iter()
                .any(|info| info.action == action && info.destructive)
    }

    /// True when the plugin offers `action`.
    pub fn supports(&self, action: bindings::Action) -> bool {
        self.info.actions.iter().any(|info| info.action == action)
    }

    /// The linked plugin, deserialized from the compile cache (or compiled) on first use. A
    /// cache entry that fails its checks is discarded and compiled again, and stored anew.
    async fn linked(&self) -> Result<&Linked, PluginError> {
        self.pre
            .get_or_try_init(|| async {
                let (shared, cached) = self.engines.component(&self.bytes, &self.sha256)?;
                if let (Some(cache), None) = (&shared.cache, &cached.info) {
                    cache.store(&self.sha256, &cached.component, Some(&self.info));
                }
                let pre = shared.link(&cached.component, &self.contract)?;
                Ok(Linked { shared, pre })
            })
            .await
            .map_err(|err: anyhow::Error| PluginError {
                plugin: self.info.vendor.clone(),
                version: self.info.version.clone(),
                call: "load",
                step: 0,
                cause: format!("it could not be loaded: {err:#}"),
            })
    }

    /// A fresh instance in its own sandboxed store, for one operation.
    pub async fn instantiate(&self) -> Result<PluginInstance<'_>, PluginError> {
        let Linked { shared, pre } = self.linked().await?;
        let mut store = Store::new(&shared.engine, SandboxState::new(&self.limits));
        store.limiter(|state| state);
        // Every epoch tick, the plugin yields to the async runtime (so a plugin that loops
        // does not hold a worker thread for its whole deadline) and is stopped once the call
        // has run past its deadline.
        store.epoch_deadline_callback(|store| {
            Ok(if store.data().past_deadline() {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        store.set_epoch_deadline(1);
        store.data_mut().start_call();
        let instantiated = match pre {
            Pre::V0_1(pre) => pre.instantiate_async(&mut store).await.map(Bindings::V0_1),
            Pre::V0_2(pre) => pre.instantiate_async(&mut store).await.map(Bindings::V0_2),
        };
        let bindings = instantiated.map_err(|err| self.error("instantiate", 0, err, &store))?;
        Ok(PluginInstance {
            plugin: self,
            store,
            bindings,
            calls: 0,
        })
    }

    fn error(
        &self,
        call: &'static str,
        step: usize,
        err: wasmtime::Error,
        store: &Store<SandboxState>,
    ) -> PluginError {
        // The trap, not wasmtime's whole backtrace of an anonymous module: the backtrace
        // goes to the debug log.
        tracing::debug!("{self} failed in {call} (step {step}): {err:?}");
        let what = match err.downcast_ref::<Trap>() {
            Some(trap) => format!("trapped ({trap})"),
            None => format!("failed: {err:#}"),
        };
        let cause = if err.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            format!(
                "it ran longer than its {:?} limit and was stopped",
                self.limits.call_deadline
            )
        } else if store.data().memory_denied {
            format!(
                "it tried to use more than its {} MiB memory limit and {what}",
                self.limits.memory_bytes >> 20
            )
        } else {
            format!("it {what}")
        };
        PluginError {
            plugin: if self.info.vendor.is_empty() {
                format!("from {}", self.source)
            } else {
                self.info.vendor.clone()
            },
            version: self.info.version.clone(),
            call,
            step,
            cause,
        }
    }
}

/// A plugin that trapped, overran its deadline or memory, or misbehaved.
#[derive(Debug, Clone)]
pub struct PluginError {
    /// The plugin's vendor id (its source while it is being described for the first time).
    pub plugin: String,
    /// Its version.
    pub version: String,
    /// The function that failed, e.g. `resume-action`.
    pub call: &'static str,
    /// How many calls into this instance preceded the failure.
    pub step: usize,
    /// What went wrong.
    pub cause: String,
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "plugin {}", self.plugin)?;
        // A file that has not described itself yet has no version to name.
        if !self.version.is_empty() {
            write!(f, " {}", self.version)?;
        }
        write!(
            f,
            " failed in {} (step {}): {}",
            self.call, self.step, self.cause
        )
    }
}

impl std::error::Error for PluginError {}

/// One live instance of a plugin, used for one operation. Whatever contract the plugin
/// speaks, its calls take and return the host's (0.2) types.
pub struct PluginInstance<'a> {
    plugin: &'a Plugin,
    store: Store<SandboxState>,
    bindings: Bindings,
    calls: usize,
}

impl PluginInstance<'_> {
    /// Starts a call: a fresh deadline, and the call counted for error messages.
    fn begin_call(&mut self) -> (&Bindings, &mut Store<SandboxState>) {
        self.calls += 1;
        self.store.set_epoch_deadline(1);
        self.store.data_mut().start_call();
        (&self.bindings, &mut self.store)
    }

    fn end_call<T>(
        &self,
        name: &'static str,
        result: wasmtime::Result<T>,
    ) -> Result<T, PluginError> {
        result.map_err(|err| self.plugin.error(name, self.calls, err, &self.store))
    }

    /// Calls `describe`.
    pub async fn describe(&mut self) -> Result<PluginInfo, PluginError> {
        let result = match self.begin_call() {
            (Bindings::V0_1(b), store) => b
                .tenantctl_plugin_plugin()
                .call_describe(store)
                .await
                .map(Into::into),
            (Bindings::V0_2(b), store) => b.tenantctl_plugin_plugin().call_describe(store).await,
        };
        self.end_call("describe", result)
    }

    /// Calls `begin-login`.
    pub async fn begin_login(&mut self, ctx: &Context) -> Result<LoginStep, PluginError> {
        let result = match self.begin_call() {
            (Bindings::V0_1(b), store) => b
                .tenantctl_plugin_plugin()
                .call_begin_login(store, &bindings::v0_1::context(ctx))
                .await
                .map(Into::into),
            (Bindings::V0_2(b), store) => {
                b.tenantctl_plugin_plugin()
                    .call_begin_login(store, ctx)
                    .await
            }
        };
        self.end_call("begin-login", result)
    }

    /// Calls `resume-login`.
    pub async fn resume_login(
        &mut self,
        ctx: &Context,
        state: &[u8],
        response: &HttpResponse,
    ) -> Result<LoginStep, PluginError> {
        let result = match self.begin_call() {
            (Bindings::V0_1(b), store) => b
                .tenantctl_plugin_plugin()
                .call_resume_login(
                    store,
                    &bindings::v0_1::context(ctx),
                    state,
                    &bindings::v0_1::http_response(response),
                )
                .await
                .map(Into::into),
            (Bindings::V0_2(b), store) => {
                b.tenantctl_plugin_plugin()
                    .call_resume_login(store, ctx, state, response)
                    .await
            }
        };
        self.end_call("resume-login", result)
    }

    /// Calls `begin-action`. A 0.1 plugin cannot be asked for what 0.1 lacks (`list`,
    /// `delete`): that fails here, before the plugin runs.
    pub async fn begin_action(
        &mut self,
        ctx: &Context,
        session: &Session,
        request: &ActionRequest,
    ) -> Result<ActionStep, PluginError> {
        let result = match self.begin_call() {
            (Bindings::V0_1(b), store) => match bindings::v0_1::action_request(request) {
                Some(old) => b
                    .tenantctl_plugin_plugin()
                    .call_begin_action(
                        store,
                        &bindings::v0_1::context(ctx),
                        &bindings::v0_1::session(session),
                        &old,
                    )
                    .await
                    .map(Into::into),
                None => Err(wasmtime::Error::msg(format!(
                    "contract 0.1 has no {} action (it arrived in contract 0.2); use a plugin \
                     built for contract 0.2",
                    request.action.name()
                ))),
            },
            (Bindings::V0_2(b), store) => {
                b.tenantctl_plugin_plugin()
                    .call_begin_action(store, ctx, session, request)
                    .await
            }
        };
        self.end_call("begin-action", result)
    }

    /// Calls `resume-action`.
    pub async fn resume_action(
        &mut self,
        ctx: &Context,
        session: &Session,
        state: &[u8],
        response: &HttpResponse,
    ) -> Result<ActionStep, PluginError> {
        let result = match self.begin_call() {
            (Bindings::V0_1(b), store) => b
                .tenantctl_plugin_plugin()
                .call_resume_action(
                    store,
                    &bindings::v0_1::context(ctx),
                    &bindings::v0_1::session(session),
                    state,
                    &bindings::v0_1::http_response(response),
                )
                .await
                .map(Into::into),
            (Bindings::V0_2(b), store) => {
                b.tenantctl_plugin_plugin()
                    .call_resume_action(store, ctx, session, state, response)
                    .await
            }
        };
        self.end_call("resume-action", result)
    }

    /// The plugin this is an instance of.
    pub fn plugin(&self) -> &Plugin {
        self.plugin
    }
}
