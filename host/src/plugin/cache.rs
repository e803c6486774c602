//! Compiling plugins once: precompiled artifacts on disk, keyed by the plugin's hash and the
//! engine's compatibility hash.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The SHA-256 of a plugin file, as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A directory of precompiled plugins.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    engine_key: String,
}

impl CompileCache {
    /// A cache in `dir` (created on first write) for artifacts of `engine`.
    pub fn new(dir: PathBuf, engine: &Engine) -> Self {
        // Stable for a given tenantctl build: the engine's settings and wasmtime's version.
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        CompileCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    /// Where the artifact for a plugin with this hash lives.
    fn path_for(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    /// Loads the precompiled plugin, or compiles `bytes` and stores the result.
    ///
    /// A cache that cannot be read or written costs a compile, never a failure.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
        sha256: &str,
    ) -> Result<Component> {
        let path = self.path_for(sha256);
        if path.is_file() {
            // SAFETY: the file was written by `store` below from wasmtime's own serializer,
            // under a name that binds it to this exact plugin and engine configuration; the
            // cache directory belongs to the user running tenantctl.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok(component),
                Err(err) => tracing::warn!(
                    "ignoring unreadable compile cache {}: {err:#}",
                    path.display()
                ),
            }
        }
        let component = compile(engine, bytes)?;
        if let Err(err) = self.store(&path, &component) {
            tracing::warn!("could not write compile cache {}: {err:#}", path.display());
        }
        Ok(component)
    }

    fn store(&self, path: &Path, component: &Component) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let artifact = component.serialize().map_err(anyhow::Error::from)?;
        // Write aside and rename, so a concurrent run never reads half a file.
        let partial = path.with_extension(format!("partial-{}", std::process::id()));
        std::fs::write(&partial, artifact)
            .with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, path)
            .with_context(|| format!("renaming to {}", path.display()))?;
        Ok(())
    }
}

/// Compiles a plugin without any cache.
pub fn compile(engine: &Engine, bytes: &[u8]) -> Result<Component> {
    Component::new(engine, bytes)
        .map_err(anyhow::Error::from)
        .context("compiling the plugin (is it a WebAssembly component built for wasm32-wasip2?)")
}
