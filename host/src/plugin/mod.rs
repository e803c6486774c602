//! Loading vendor plugins and calling them inside a sandbox.
//!
//! One [`Runtime`] (one wasmtime `Engine` and `Linker`) serves the whole process. Each
//! plugin is compiled once (cached on disk) into a [`Plugin`] holding its description and
//! an `InstancePre`; every operation gets a fresh [`PluginInstance`] with its own `Store`.

pub mod bindings;
mod builtin;
mod cache;
pub mod catalog;
mod sandbox;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, Store, Trap};

use bindings::{
    ActionRequest, ActionStep, Context, HttpResponse, LoginStep, PluginInfo, Session, VendorPlugin,
    VendorPluginPre,
};
use cache::CompileCache;
pub use cache::sha256_hex;
pub use sandbox::Limits;
use sandbox::SandboxState;

/// The contract version this host implements (the WIT package version).
pub const CONTRACT_VERSION: &str = "0.1.0";

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

/// The process-wide plugin engine.
pub struct Runtime {
    engine: Engine,
    linker: Linker<SandboxState>,
    cache: Option<CompileCache>,
    limits: Limits,
}

impl Runtime {
    /// An engine with epoch interruption for call deadlines, caching compiled plugins in
    /// `cache_dir` when given.
    pub fn new(cache_dir: Option<PathBuf>, limits: Limits) -> Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let engine = Engine::new(&config)
            .map_err(anyhow::Error::from)
            .context("creating the WebAssembly engine")?;
        sandbox::start_epoch_ticker(&engine)
            .context("starting the thread that enforces plugin deadlines")?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)
            .context("linking the WASI interfaces plugins import")?;
        let cache = cache_dir.map(|dir| CompileCache::new(dir, &engine));
        Ok(Runtime {
            engine,
            linker,
            cache,
            limits,
        })
    }

    /// Compiles (or fetches from the cache), links and describes a plugin, and checks that
    /// its description is usable.
    pub async fn load(&self, bytes: &[u8], source: PluginSource) -> Result<Arc<Plugin>> {
        let sha256 = sha256_hex(bytes);
        let component = match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, bytes, &sha256)?,
            None => cache::compile(&self.engine, bytes)?,
        };
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("linking the plugin: it imports something tenantctl does not provide")?;
        let pre = VendorPluginPre::new(instance_pre).map_err(anyhow::Error::from).context(
            "the component does not export the tenantctl:plugin/plugin@0.1 interface this host speaks",
        )?;
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
            pre,
            engine: self.engine.clone(),
            limits: self.limits.clone(),
        };
        let info = plugin.instantiate().await?.describe().await?;
        validate(&info)?;
        plugin.info = info;
        Ok(Arc::new(plugin))
    }

    /// The limits every plugin instance runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

fn validate(info: &PluginInfo) -> Result<()> {
    let is_id = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    if !is_id(&info.vendor) {
        bail!(
            "vendor id {:?} must be lower-case letters, digits and '-'",
            info.vendor
        );
    }
    semver::Version::parse(&info.version).with_context(|| {
        format!(
            "plugin version {:?} is not a semantic version",
            info.version
        )
    })?;
    let contract = semver::Version::parse(&info.contract).with_context(|| {
        format!(
            "contract version {:?} is not a semantic version",
            info.contract
        )
    })?;
    let ours = semver::Version::parse(CONTRACT_VERSION).expect("CONTRACT_VERSION is semver");
    let compatible = semver::VersionReq::parse(&format!("^{ours}"))
        .expect("a caret requirement parses")
        .matches(&contract)
        || semver::VersionReq::parse(&format!("^{contract}"))
            .expect("a caret requirement parses")
            .matches(&ours);
    if !compatible {
        bail!(
            "plugin was built for contract {contract}, this tenantctl speaks {ours}; \
             use a plugin and a tenantctl built for the same contract"
        );
    }
    for field in &info.config {
        if !is_id(&field.name) {
            bail!("configuration field {:?} must be kebab-case", field.name);
        }
    }
    Ok(())
}

/// A compiled, described plugin, ready to instantiate.
pub struct Plugin {
    info: PluginInfo,
    source: PluginSource,
    sha256: String,
    bytes: Vec<u8>,
    pre: VendorPluginPre<SandboxState>,
    engine: Engine,
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

    /// The limits its instances run under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// True when the plugin offers `action`.
    pub fn supports(&self, action: bindings::Action) -> bool {
        self.info.actions.iter().any(|info| info.action == action)
    }

    /// A fresh instance in its own sandboxed store, for one operation.
    pub async fn instantiate(&self) -> Result<PluginInstance<'_>, PluginError> {
        let mut store = Store::new(&self.engine, SandboxState::new(&self.limits));
        store.limiter(|state| state);
        store.set_epoch_deadline(deadline_ticks(&self.limits));
        let bindings = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|err| self.error("instantiate", 0, err, &store))?;
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
        let cause = if err.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            format!(
                "it ran longer than its {:?} limit and was stopped",
                self.limits.call_deadline
            )
        } else if store.data().memory_denied {
            format!(
                "it tried to use more than its {} MiB memory limit and trapped: {err:#}",
                self.limits.memory_bytes >> 20
            )
        } else {
            format!("{err:#}")
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

fn deadline_ticks(limits: &Limits) -> u64 {
    (limits.call_deadline.as_millis() / sandbox::EPOCH_TICK.as_millis()).max(1) as u64
}

/// A plugin that trapped, overran its deadline or memory, or misbehaved.
#[derive(Debug, Clone, thiserror::Error)]
#[error("plugin {plugin} {version} failed in {call} (step {step}): {cause}")]
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

/// One live instance of a plugin, used for one operation.
pub struct PluginInstance<'a> {
    plugin: &'a Plugin,
    store: Store<SandboxState>,
    bindings: VendorPlugin,
    calls: usize,
}

impl PluginInstance<'_> {
    /// Starts a call: a fresh deadline, and the call counted for error messages.
    fn begin_call(&mut self) -> (&bindings::Guest, &mut Store<SandboxState>) {
        self.calls += 1;
        self.store
            .set_epoch_deadline(deadline_ticks(&self.plugin.limits));
        (self.bindings.tenantctl_plugin_plugin(), &mut self.store)
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
        let (guest, store) = self.begin_call();
        let result = guest.call_describe(store).await;
        self.end_call("describe", result)
    }

    /// Calls `begin-login`.
    pub async fn begin_login(&mut self, ctx: &Context) -> Result<LoginStep, PluginError> {
        let (guest, store) = self.begin_call();
        let result = guest.call_begin_login(store, ctx).await;
        self.end_call("begin-login", result)
    }

    /// Calls `resume-login`.
    pub async fn resume_login(
        &mut self,
        ctx: &Context,
        state: &[u8],
        response: &HttpResponse,
    ) -> Result<LoginStep, PluginError> {
        let (guest, store) = self.begin_call();
        let result = guest.call_resume_login(store, ctx, state, response).await;
        self.end_call("resume-login", result)
    }

    /// Calls `begin-action`.
    pub async fn begin_action(
        &mut self,
        ctx: &Context,
        session: &Session,
        request: &ActionRequest,
    ) -> Result<ActionStep, PluginError> {
        let (guest, store) = self.begin_call();
        let result = guest.call_begin_action(store, ctx, session, request).await;
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
        let (guest, store) = self.begin_call();
        let result = guest
            .call_resume_action(store, ctx, session, state, response)
            .await;
        self.end_call("resume-action", result)
    }

    /// The plugin this is an instance of.
    pub fn plugin(&self) -> &Plugin {
        self.plugin
    }
}
