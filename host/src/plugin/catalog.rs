//! Which plugin serves each vendor: the built-ins, then a plugin directory whose newer
//! versions win.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result};

use super::{Plugin, PluginSource, Runtime, builtin};

/// One plugin found, and whether it serves its vendor.
#[derive(Debug)]
pub struct Entry {
    /// The plugin.
    pub plugin: Arc<Plugin>,
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
}

/// Every plugin found, with one chosen per vendor.
#[derive(Debug, Default)]
pub struct Catalog {
    entries: Vec<Entry>,
    rejected: Vec<Rejected>,
}

impl Catalog {
    /// Loads the built-in plugins and every `*.wasm` file in `plugin_dir`.
    ///
    /// A directory that does not exist holds no plugins; a file that fails to load is listed
    /// as rejected and does not stop the others.
    pub async fn discover(runtime: &Runtime, plugin_dir: Option<&Path>) -> Result<Catalog> {
        let mut plugins = Vec::new();
        for (name, bytes) in builtin::BUILTIN {
            let plugin = runtime
                .load(bytes, PluginSource::Builtin)
                .await
                .with_context(|| format!("loading the built-in plugin {name}"))?;
            plugins.push(plugin);
        }
        let mut rejected = Vec::new();
        if let Some(dir) = plugin_dir {
            for path in wasm_files(dir)? {
                let loaded = match std::fs::read(&path) {
                    Ok(bytes) => runtime.load(&bytes, PluginSource::File(path.clone())).await,
                    Err(err) => {
                        Err(anyhow::Error::new(err).context(format!("reading {}", path.display())))
                    }
                };
                match loaded {
                    Ok(plugin) => plugins.push(plugin),
                    Err(err) => rejected.push(Rejected {
                        path,
                        error: format!("{err:#}"),
                    }),
                }
            }
        }
        Ok(Catalog {
            entries: choose(plugins),
            rejected,
        })
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
fn choose(plugins: Vec<Arc<Plugin>>) -> Vec<Entry> {
    let version = |plugin: &Plugin| {
        semver::Version::parse(&plugin.info().version)
            .expect("validated when the plugin was loaded")
    };
    let mut vendors: Vec<String> = plugins.iter().map(|p| p.info().vendor.clone()).collect();
    vendors.sort();
    vendors.dedup();
    let mut entries = Vec::new();
    for vendor in vendors {
        let mut candidates: Vec<Arc<Plugin>> = plugins
            .iter()
            .filter(|p| p.info().vendor == vendor)
            .cloned()
            .collect();
        // Stable sort: among equal versions, built-ins come first because they were loaded
        // first, then files in name order.
        candidates.sort_by_key(|plugin| std::cmp::Reverse(version(plugin)));
        let winner = candidates[0].clone();
        for (index, plugin) in candidates.into_iter().enumerate() {
            let reason = if index == 0 {
                chosen_reason(&plugin, &plugins)
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
