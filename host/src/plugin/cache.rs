//! Compiling plugins once: precompiled artifacts on disk, keyed by the plugin's hash and the
//! engine's compatibility hash.
//!
//! A precompiled artifact is native code that wasmtime maps and runs without validating it,
//! so the cache is treated as code: the directory is created `0700` and used only when it is
//! owned by the user running tenantctl and writable by nobody else; each artifact carries the
//! SHA-256 of its payload, the plugin it was compiled from and the engine it is for, all
//! checked before the payload reaches `deserialize`. A corrupt, truncated, swapped or foreign
//! entry is removed and compiled again; it is never loaded.

use std::hash::{Hash, Hasher};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::Compiler;
use super::bindings::PluginInfo;

/// The SHA-256 of a plugin file, as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The first bytes of every artifact this cache writes (format version 1).
const MAGIC: &[u8; 8] = b"TCTLCW01";

/// The largest header [`CompileCache::peek`] reads.
const MAX_HEADER: usize = 1 << 20;

/// What an artifact says about itself, checked before its payload is used.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    /// The SHA-256 of the plugin file it was compiled from.
    plugin_sha256: String,
    /// The engine it was compiled for (see [`CompileCache::new`]).
    engine: String,
    /// The SHA-256 of the payload (wasmtime's serialized component).
    payload_sha256: String,
    /// The payload's length in bytes.
    payload_len: u64,
    /// The plugin's `describe()`, when it was known at the time of writing.
    info: Option<PluginInfo>,
}

/// A compiled plugin, as the cache hands it out.
pub struct Cached {
    /// The component, ready to link.
    pub component: Component,
    /// The plugin's description stored with it, if any.
    pub info: Option<PluginInfo>,
}

/// A directory of precompiled plugins.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    engine_key: String,
}

impl CompileCache {
    /// A cache in `dir` (created `0700` on first write) for artifacts of `engine`, which
    /// compiles with `compiler`.
    pub fn new(dir: PathBuf, engine: &Engine, compiler: Compiler) -> Self {
        // Stable for a given tenantctl build: the compiler, the engine's settings and
        // wasmtime's version.
        let mut hasher = std::hash::DefaultHasher::new();
        compiler.name().hash(&mut hasher);
        engine.precompile_compatibility_hash().hash(&mut hasher);
        CompileCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    /// The directory.
    #[cfg(test)]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the artifact for a plugin with this hash lives.
    fn path_for(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    /// Loads the precompiled plugin, or compiles `bytes`; a fresh compile is stored with
    /// `info` when the caller can describe it afterwards (see [`CompileCache::store`]).
    ///
    /// A cache that cannot be used costs a compile, never a failure.
    pub fn load_or_compile(&self, engine: &Engine, bytes: &[u8], sha256: &str) -> Result<Cached> {
        if let Some(cached) = self.load(engine, sha256) {
            return Ok(cached);
        }
        Ok(Cached {
            component: compile(engine, bytes)?,
            info: None,
        })
    }

    /// The cached artifact for the plugin with hash `sha256`, if there is a sound one. An
    /// entry that fails any check is removed.
    pub fn load(&self, engine: &Engine, sha256: &str) -> Option<Cached> {
        // Nothing compiled yet (a first run): `store` creates the directory.
        if std::fs::metadata(&self.dir).is_err_and(|err| err.kind() == std::io::ErrorKind::NotFound)
        {
            return None;
        }
        if let Err(err) = self.check_dir(false) {
            tracing::warn!("not using the compile cache: {err:#}");
            return None;
        }
        let path = self.path_for(sha256);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
            Err(err) => {
                tracing::warn!("cannot read the compile cache {}: {err}", path.display());
                return None;
            }
        };
        match self.verify(&bytes, sha256) {
            Ok((header, payload)) => {
                // SAFETY: the payload is byte for byte what `store` wrote from wasmtime's own
                // serializer for this plugin and this engine (its SHA-256 was checked just now),
                // in a directory only this user can write.
                match unsafe { Component::deserialize(engine, payload) } {
                    Ok(component) => Some(Cached {
                        component,
                        info: header.info,
                    }),
                    Err(err) => {
                        self.discard(&path, &format!("{err:#}"));
                        None
                    }
                }
            }
            Err(err) => {
                self.discard(&path, &format!("{err:#}"));
                None
            }
        }
    }

    /// The description stored with the artifact of the plugin with hash `sha256`, read
    /// from the artifact's header alone: what `plugins list` and `inspect` need, without
    /// reading, checking or deserializing the compiled code (that happens in
    /// [`CompileCache::load`], when an instance is needed). `None` when there is no sound
    /// header for this plugin and this engine, or it holds no description.
    pub fn peek(&self, sha256: &str) -> Option<PluginInfo> {
        self.check_dir(false).ok()?;
        let mut file = std::fs::File::open(self.path_for(sha256)).ok()?;
        let mut start = [0u8; MAGIC.len() + 4];
        file.read_exact(&mut start).ok()?;
        let (magic, len) = start.split_at(MAGIC.len());
        if magic != MAGIC.as_slice() {
            return None;
        }
        let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
        // A description is a few KiB; anything near this is not a header we wrote.
        if len > MAX_HEADER {
            return None;
        }
        let mut header = vec![0; len];
        file.read_exact(&mut header).ok()?;
        let header: Header = serde_json::from_slice(&header).ok()?;
        if header.plugin_sha256 != sha256 || header.engine != self.engine_key {
            return None;
        }
        header.info
    }

    /// Writes `component` (compiled from the plugin with hash `sha256`, described by `info`)
    /// into the cache. Failures are logged, not returned: the cache is an optimisation.
    pub fn store(&self, sha256: &str, component: &Component, info: Option<&PluginInfo>) {
        let path = self.path_for(sha256);
        if let Err(err) = self.write(&path, sha256, component, info) {
            tracing::warn!("could not write compile cache {}: {err:#}", path.display());
        }
    }

    fn write(
        &self,
        path: &Path,
        sha256: &str,
        component: &Component,
        info: Option<&PluginInfo>,
    ) -> Result<()> {
        self.check_dir(true)?;
        let payload = component.serialize().map_err(anyhow::Error::from)?;
        let header = serde_json::to_vec(&Header {
            plugin_sha256: sha256.to_string(),
            engine: self.engine_key.clone(),
            payload_sha256: sha256_hex(&payload),
            payload_len: payload.len() as u64,
            info: info.cloned(),
        })?;
        // Write aside and rename, so a concurrent run never reads half a file.
        let mut partial = tempfile::Builder::new()
            .prefix(".partial-")
            .tempfile_in(&self.dir)
            .with_context(|| format!("creating a file in {}", self.dir.display()))?;
        let file = partial.as_file_mut();
        file.write_all(MAGIC)?;
        file.write_all(&(header.len() as u32).to_le_bytes())?;
        file.write_all(&header)?;
        file.write_all(&payload)?;
        file.sync_all()?;
        partial
            .persist(path)
            .with_context(|| format!("renaming to {}", path.display()))?;
        Ok(())
    }

    /// Splits an artifact into its header and payload, checking every field.
    fn verify<'a>(&self, bytes: &'a [u8], sha256: &str) -> Result<(Header, &'a [u8])> {
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .context("not an artifact written by this tenantctl (no header)")?;
        let (len, rest) = rest
            .split_first_chunk::<4>()
            .context("the header is cut short")?;
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            bail!("the header is cut short");
        }
        let (header, payload) = rest.split_at(len);
        let header: Header = serde_json::from_slice(header).context("the header is corrupt")?;
        if header.plugin_sha256 != sha256 {
            bail!(
                "it was compiled from another plugin ({}), not {sha256}",
                header.plugin_sha256
            );
        }
        if header.engine != self.engine_key {
            bail!("it was compiled for another engine ({})", header.engine);
        }
        if payload.len() as u64 != header.payload_len {
            bail!(
                "it is {} bytes long, not the {} its header says (truncated?)",
                payload.len(),
                header.payload_len
            );
        }
        if sha256_hex(payload) != header.payload_sha256 {
            bail!("its checksum does not match (corrupt or tampered with)");
        }
        Ok((header, payload))
    }

    fn discard(&self, path: &Path, why: &str) {
        tracing::warn!(
            "discarding the compile cache entry {} and compiling again: {why}",
            path.display()
        );
        if let Err(err) = std::fs::remove_file(path) {
            tracing::warn!("could not remove {}: {err}", path.display());
        }
    }

    /// Checks that the directory is safe to take code from: owned by this user and writable
    /// by nobody else. With `create`, makes it (`0700`) when missing.
    fn check_dir(&self, create: bool) -> Result<()> {
        if create && !self.dir.exists() {
            create_private_dir(&self.dir)?;
        }
        let meta = std::fs::metadata(&self.dir)
            .with_context(|| format!("reading {}", self.dir.display()))?;
        if !meta.is_dir() {
            bail!("{} is not a directory", self.dir.display());
        }
        check_private(&self.dir, &meta)
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .or_else(|err| match err.kind() {
            std::io::ErrorKind::AlreadyExists => Ok(()),
            _ => Err(err),
        })
        .with_context(|| format!("creating {}", dir.display()))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

#[cfg(unix)]
fn check_private(dir: &Path, meta: &std::fs::Metadata) -> Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        bail!(
            "{} belongs to user id {}, not to the user running tenantctl ({me}); another user \
             could place code there. Remove it or point TENANTCTL_CACHE_DIR at a directory of \
             your own",
            dir.display(),
            meta.uid()
        );
    }
    if meta.mode() & 0o022 != 0 {
        bail!(
            "{} is writable by other users (mode {:o}); another user could place code there. \
             Run `chmod 700 {}`",
            dir.display(),
            meta.mode() & 0o777,
            dir.display()
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_dir: &Path, _meta: &std::fs::Metadata) -> Result<()> {
    Ok(())
}

/// Compiles a plugin without any cache.
///
/// A component that needs more memories, tables or instances than the limits allow is
/// refused here, before any of its code runs, and the error says so.
pub fn compile(engine: &Engine, bytes: &[u8]) -> Result<Component> {
    Component::new(engine, bytes).map_err(|err| {
        let err = anyhow::Error::from(err);
        if format!("{err:#}").contains("exceeds the configured maximum") {
            err.context(
                "the plugin needs more memories, tables or instances than tenantctl allows a \
                 plugin, so it was refused before any of its code ran",
            )
        } else {
            err.context(
                "compiling the plugin (is it a WebAssembly component built for wasm32-wasip2?)",
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;
    use wasmtime::{Config, Strategy};

    /// A tiny real component: compiling it takes milliseconds.
    fn component_bytes() -> Vec<u8> {
        let mut component = wasm_encoder::Component::new();
        let mut instance = wasm_encoder::ComponentInstanceSection::new();
        instance.export_items(Vec::<(&str, wasm_encoder::ComponentExportKind, u32)>::new());
        component.section(&instance);
        component.finish()
    }

    fn setup() -> (tempfile::TempDir, Engine, CompileCache, Vec<u8>, String) {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = CompileCache::new(dir.path().join("cache"), &engine, Compiler::Cranelift);
        let bytes = component_bytes();
        let sha = sha256_hex(&bytes);
        (dir, engine, cache, bytes, sha)
    }

    fn stored(cache: &CompileCache, engine: &Engine, bytes: &[u8], sha: &str) -> PathBuf {
        let component = compile(engine, bytes).unwrap();
        cache.store(sha, &component, None);
        let path = cache.path_for(sha);
        assert!(path.is_file());
        path
    }

    #[test]
    fn a_stored_artifact_loads_and_the_directory_is_private() {
        let (_dir, engine, cache, bytes, sha) = setup();
        assert!(cache.load(&engine, &sha).is_none());
        stored(&cache, &engine, &bytes, &sha);
        let mode = std::fs::metadata(cache.dir()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(cache.load(&engine, &sha).is_some());
    }

    #[test]
    fn corrupt_truncated_and_swapped_entries_are_discarded() {
        let (_dir, engine, cache, bytes, sha) = setup();
        let path = stored(&cache, &engine, &bytes, &sha);
        let good = std::fs::read(&path).unwrap();

        // Overwrite bytes in the middle of the payload, headers intact.
        let mut corrupt = good.clone();
        let middle = corrupt.len() / 2 + 40;
        for byte in &mut corrupt[middle..(middle + 64).min(good.len())] {
            *byte ^= 0xa5;
        }
        std::fs::write(&path, &corrupt).unwrap();
        assert!(cache.load(&engine, &sha).is_none());
        assert!(!path.exists(), "the corrupt entry is removed");

        std::fs::write(&path, &good[..good.len() - 100]).unwrap();
        assert!(cache.load(&engine, &sha).is_none());

        // Another plugin's artifact under this plugin's name.
        let other = format!("{:0>64}", "1");
        let other_path = stored(&cache, &engine, &bytes, &other);
        std::fs::rename(&other_path, &path).unwrap();
        assert!(cache.load(&engine, &sha).is_none());

        // A raw wasmtime artifact without our header.
        let raw = compile(&engine, &bytes).unwrap().serialize().unwrap();
        std::fs::write(&path, raw).unwrap();
        assert!(cache.load(&engine, &sha).is_none());

        std::fs::write(&path, &good).unwrap();
        assert!(cache.load(&engine, &sha).is_some());
    }

    #[test]
    fn a_description_is_read_from_the_header_alone() {
        let (_dir, engine, cache, bytes, sha) = setup();
        let info = PluginInfo {
            vendor: "example".into(),
            display_name: "Example".into(),
            version: "1.2.3".into(),
            contract: "0.2.0".into(),
            url_hint: String::new(),
            actions: Vec::new(),
            config: Vec::new(),
        };
        assert_eq!(cache.peek(&sha), None, "nothing cached yet");
        let component = compile(&engine, &bytes).unwrap();
        cache.store(&sha, &component, None);
        assert_eq!(
            cache.peek(&sha),
            None,
            "an artifact stored without a description"
        );
        cache.store(&sha, &component, Some(&info));
        assert_eq!(cache.peek(&sha), Some(info.clone()));
        assert_eq!(
            cache.peek(&format!("{:0>64}", "1")),
            None,
            "another plugin's hash"
        );

        // Another plugin's artifact under this one's name is not believed.
        let other = format!("{:0>64}", "2");
        cache.store(&other, &component, Some(&info));
        std::fs::rename(cache.path_for(&other), cache.path_for(&sha)).unwrap();
        assert_eq!(cache.peek(&sha), None);

        // A payload cut short still has a sound header; loading it is what fails.
        cache.store(&sha, &component, Some(&info));
        let path = cache.path_for(&sha);
        let full = std::fs::read(&path).unwrap();
        std::fs::write(&path, &full[..full.len() - 100]).unwrap();
        assert_eq!(cache.peek(&sha), Some(info));
        assert!(cache.load(&engine, &sha).is_none());
    }

    #[test]
    fn each_compiler_has_its_own_entries_and_never_loads_the_other_ones() {
        let (dir, cranelift, cache, bytes, sha) = setup();
        let winch = Engine::new(Config::new().strategy(Strategy::Winch)).unwrap();
        let winch_cache = CompileCache::new(dir.path().join("cache"), &winch, Compiler::Winch);
        let cranelift_path = stored(&cache, &cranelift, &bytes, &sha);
        assert!(
            winch_cache.load(&winch, &sha).is_none(),
            "nothing of its own yet"
        );
        assert!(
            cranelift_path.exists(),
            "the other compiler's entry is left alone"
        );

        let winch_path = stored(&winch_cache, &winch, &bytes, &sha);
        assert_ne!(winch_path, cranelift_path);
        assert!(winch_cache.load(&winch, &sha).is_some());
        assert!(cache.load(&cranelift, &sha).is_some());

        // One compiler's artifact under the other's name is refused, not run.
        std::fs::rename(&winch_path, &cranelift_path).unwrap();
        assert!(cache.load(&cranelift, &sha).is_none());
        assert!(!cranelift_path.exists());
    }

    #[test]
    fn a_directory_writable_by_others_is_not_used() {
        let (_dir, engine, cache, bytes, sha) = setup();
        stored(&cache, &engine, &bytes, &sha);
        std::fs::set_permissions(cache.dir(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(cache.load(&engine, &sha).is_none());
        std::fs::set_permissions(cache.dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(cache.load(&engine, &sha).is_some());
    }
}
