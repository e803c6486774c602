//! Which plugin serves each vendor: the built-ins, then the trusted files of a plugin
//! directory, whose newer versions win.
//!
//! A file is checked against the operator's [`Trust`] before anything reads it as a
//! plugin: a file nothing vouches for is refused untouched, never compiled (see
//! [`super::trust`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result};

use super::trust::{self, Trust, Verdict};
use super::{Plugin, PluginSource, Runtime, builtin};

/// One plugin found, and whether it serves its vendor.
#[derive(Debug)]
pub struct Entry {
    /// The plugin.
    pub plugin: Arc<Plugin>,
    /// Why it may run.
    pub trust: Verdict,
    /// True when it is the one used for its vendor.
    pub chosen: bool,
    /// Why it was or was not chosen.
    pub reason: String,
}

/// A file in the plugin directory that could not be used.
#[derive(Debug)]
pub struct Rejected {
    /// The file.
    pub path: PathBuf,
    /// Why, with the chain of causes.
    pub error: String,
    /// True when it was refused as untrusted (rather than trusted but unusable).
    pub untrusted: bool,
    /// The vendor it says it is, when it got as far as saying (a file refused before it was
    /// read as a plugin says nothing).
    pub vendor: Option<String>,
    /// What vouched for its bytes, when something did.
    pub trust: Option<Verdict>,
}

/// Every plugin found, with one chosen per vendor.
#[derive(Debug, Default)]
pub struct Catalog {
    entries: Vec<Entry>,
    rejected: Vec<Rejected>,
}

/// A plugin file loaded and trusted, or why not.
pub enum Checked {
    /// Trusted for the vendor it declares, and loaded.
    Trusted(Arc<Plugin>, Verdict),
    /// Refused, or unusable.
    Rejected(Rejected),
}

/// Reads a plugin file and its signature, and checks them with [`check_bytes`].
pub async fn check_file(runtime: &Runtime, trust: &Trust, path: &Path) -> Checked {
    match read_file(path) {
        Ok((bytes, signature)) => {
            check_bytes(runtime, trust, path, &bytes, signature.as_deref()).await
        }
        Err(rejected) => Checked::Rejected(rejected),
    }
}

/// A plugin file's bytes and its signature file's text (`None` when there is none).
pub fn read_file(path: &Path) -> Result<(Vec<u8>, Option<String>), Rejected> {
    let rejected = |error, untrusted| Rejected {
        path: path.to_path_buf(),
        error,
        untrusted,
        vendor: None,
        trust: None,
    };
    let bytes = std::fs::read(path)
        .map_err(|err| rejected(format!("reading {}: {err}", path.display()), false))?;
    let signature = trust::read_signature(path).map_err(|why| rejected(why, true))?;
    Ok((bytes, signature))
}

/// Checks a plugin file's trust on its raw bytes, then (only when something vouches for
/// them) loads it and checks that what vouched is trusted for the vendor it declares.
/// `path` is where the bytes came from, for messages.
pub async fn check_bytes(
    runtime: &Runtime,
    trust: &Trust,
    path: &Path,
    bytes: &[u8],
    signature: Option<&str>,
) -> Checked {
    let rejected = |error: String, untrusted, vendor, verdict| {
        Checked::Rejected(Rejected {
            path: path.to_path_buf(),
            error,
            untrusted,
            vendor,
            trust: verdict,
        })
    };
    let vouch = match trust.vouch(bytes, signature) {
        Ok(vouch) => vouch,
        Err(why) => return rejected(why, true, None, None),
    };
    match runtime
        .load(bytes, PluginSource::File(path.to_path_buf()))
        .await
    {
        Err(err) => rejected(format!("{err:#}"), false, None, Some(vouch.any_verdict())),
        Ok(plugin) => match vouch.for_vendor(&plugin.info().vendor) {
            Ok(verdict) => Checked::Trusted(plugin, verdict),
            Err(why) => rejected(why, true, Some(plugin.info().vendor.clone()), None),
        },
    }
}

impl Catalog {
    /// Loads the built-in plugins and every `*.wasm` file in `plugin_dir` that nothing but
    /// a built-in key, pin or opt-out vouches for: with no trust configured, only the
    /// built-ins (see [`Catalog::discover_trusting`]).
    pub async fn discover(runtime: &Runtime, plugin_dir: Option<&Path>) -> Result<Catalog> {
        Catalog::discover_trusting(runtime, plugin_dir, &Trust::default()).await
    }

    /// Loads the built-in plugins and every `*.wasm` file in `plugin_dir` that `trust`
    /// vouches for.
    ///
    /// A directory that does not exist holds no plugins; a file that is not trusted or fails
    /// to load is listed as rejected and does not stop the others.
    pub async fn discover_trusting(
        runtime: &Runtime,
        plugin_dir: Option<&Path>,
        trust: &Trust,
    ) -> Result<Catalog> {
        Catalog::discover_some(runtime, plugin_dir, trust, None).await
    }

    /// [`Catalog::discover_trusting`] for a command that needs only `vendor`: the built-in
    /// plugins of other vendors are left out, so a first run compiles none of them. Every
    /// trusted file of `plugin_dir` is still loaded (any of them may serve `vendor`).
    pub async fn discover_for(
        runtime: &Runtime,
        plugin_dir: Option<&Path>,
        trust: &Trust,
        vendor: &str,
    ) -> Result<Catalog> {
        Catalog::discover_some(runtime, plugin_dir, trust, Some(vendor)).await
    }

    async fn discover_some(
        runtime: &Runtime,
        plugin_dir: Option<&Path>,
        trust: &Trust,
        only: Option<&str>,
    ) -> Result<Catalog> {
        let mut plugins = Vec::new();
        let wanted = |name: &str| match (only, builtin::vendor_of(name)) {
            (Some(only), Some(vendor)) => only == vendor,
            _ => true,
        };
        for (name, bytes) in builtin::BUILTIN.iter().filter(|(name, _)| wanted(name)) {
            let plugin = runtime
                .load(bytes, PluginSource::Builtin)
                .await
                .with_context(|| format!("loading the built-in plugin {name}"))?;
            plugins.push((plugin, Verdict::Builtin));
        }
        let mut rejected = Vec::new();
        if let Some(dir) = plugin_dir {
            for path in wasm_files(dir)? {
                match check_file(runtime, trust, &path).await {
                    Checked::Trusted(plugin, verdict) => plugins.push((plugin, verdict)),
                    Checked::Rejected(why) => rejected.push(why),
                }
            }
        }
        Ok(Catalog {
            entries: choose(plugins),
            rejected,
        })
    }

    /// Whether a refused plugin file is, or may be, `vendor`'s: one that said it is, or one
    /// refused as untrusted before it could say. A vendor no plugin serves is then a trust
    /// problem to fix, not a typo in a row.
    pub fn refused_for(&self, vendor: &str) -> bool {
        self.rejected.iter().any(|r| match &r.vendor {
            Some(named) => named == vendor,
            None => r.untrusted,
        })
    }

    /// Why `vendor` has no plugin, and what to do: its plugin file was refused, or no
    /// plugin found serves it (naming the files refused before they could say their vendor).
    pub fn missing_vendor(&self, vendor: &str) -> String {
        let served = self.vendors().join(", ");
        if let Some(refused) = self
            .rejected
            .iter()
            .find(|r| r.vendor.as_deref() == Some(vendor))
        {
            return format!(
                "the plugin file for {vendor}, {}, was refused: {}",
                refused.path.display(),
                refused.error
            );
        }
        let unknown: Vec<String> = self
            .rejected
            .iter()
            .filter(|r| r.untrusted && r.vendor.is_none())
            .map(|r| r.path.display().to_string())
            .collect();
        if unknown.is_empty() {
            format!(
                "unknown vendor {vendor:?}; the plugins found serve: {served} (see `tenantctl \
                 plugins list`)"
            )
        } else {
            format!(
                "no trusted plugin serves {vendor:?} (the plugins found serve: {served}); \
                 these plugin files were refused as untrusted and never read, so one of them \
                 may be {vendor}'s: {}; {}",
                unknown.join(", "),
                trust::what_to_do()
            )
        }
    }

    /// The plugin chosen for `vendor`.
    pub fn get(&self, vendor: &str) -> Option<&Arc<Plugin>> {
        self.entries
            .iter()
            .find(|entry| entry.chosen && entry.plugin.info().vendor == vendor)
            .map(|entry| &entry.plugin)
    }

    /// The vendors served, in order.
    pub fn vendors(&self) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|entry| entry.chosen)
            .map(|entry| entry.plugin.info().vendor.as_str())
            .collect()
    }

    /// Every plugin found, grouped by vendor, the chosen one first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The files that could not be used.
    pub fn rejected(&self) -> &[Rejected] {
        &self.rejected
    }
}

fn wasm_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => {
            return Err(err)
                .with_context(|| format!("reading the plugin directory {}", dir.display()));
        }
    };
    let mut files = Vec::new();
    for entry in listing {
        let path = entry
            .with_context(|| format!("reading the plugin directory {}", dir.display()))?
            .path();
        if path.extension().is_some_and(|ext| ext == "wasm") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Picks one plugin per vendor: the highest version; on a tie the built-in, then the first
/// file by name.
fn choose(plugins: Vec<(Arc<Plugin>, Verdict)>) -> Vec<Entry> {
    let version = |plugin: &Plugin| {
        semver::Version::parse(&plugin.info().version)
            .expect("validated when the plugin was loaded")
    };
    let all: Vec<Arc<Plugin>> = plugins.iter().map(|(p, _)| p.clone()).collect();
    let mut vendors: Vec<String> = all.iter().map(|p| p.info().vendor.clone()).collect();
    vendors.sort();
    vendors.dedup();
    let mut entries = Vec::new();
    for vendor in vendors {
        let mut candidates: Vec<(Arc<Plugin>, Verdict)> = plugins
            .iter()
            .filter(|(p, _)| p.info().vendor == vendor)
            .cloned()
            .collect();
        // Stable sort: among equal versions, built-ins come first because they were loaded
        // first, then files in name order.
        candidates.sort_by_key(|(plugin, _)| std::cmp::Reverse(version(plugin)));
        let winner = candidates[0].0.clone();
        for (index, (plugin, trust)) in candidates.into_iter().enumerate() {
            let reason = if index == 0 {
                chosen_reason(&plugin, &all)
            } else {
                format!(
                    "not used: {} {} from {} is preferred",
                    vendor,
                    winner.info().version,
                    winner.source()
                )
            };
            entries.push(Entry {
                chosen: index == 0,
                plugin,
                trust,
                reason,
            });
        }
    }
    entries
}

fn chosen_reason(winner: &Plugin, all: &[Arc<Plugin>]) -> String {
    let rivals = all
        .iter()
        .filter(|p| p.info().vendor == winner.info().vendor && !std::ptr::eq(p.as_ref(), winner))
        .count();
    match (winner.source(), rivals) {
        (PluginSource::Builtin, 0) => {
            "built-in; no plugin for this vendor in the plugin directory".into()
        }
        (PluginSource::Builtin, _) => "built-in; no newer version in the plugin directory".into(),
        (PluginSource::File(_), 0) => {
            "from the plugin directory; the only plugin for this vendor".into()
        }
        (PluginSource::File(_), _) => {
            "from the plugin directory; the newest version of this vendor".into()
        }
    }
}
