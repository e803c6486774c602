//! `tenantctl plugins ...`: list, verify, install, inspect, test, export, new.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

use super::{
    EXIT_FAILED, EXIT_OK, EXIT_USAGE, Invocation, Output, UsageError, eprint_line, is_file,
    load_catalog, print_line, runtime,
};
use crate::credentials::env_var;
use crate::plugin::catalog::{self, Checked, Rejected};
use crate::plugin::trust::{self, Verdict};
use crate::plugin::{Compilation, Limits, Plugin, PluginSource, Runtime, sha256_hex};
use crate::transcript::{self, Transcript};

/// A trust verdict as `plugins list` shows it in text: `built-in`, `signed:KEYID`, `pinned`,
/// `unsigned`.
fn trust_word(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Builtin => "built-in".into(),
        Verdict::Signed { key_id } => format!("signed:{key_id}"),
        Verdict::Pinned => "pinned".into(),
        Verdict::Unsigned { .. } => "unsigned".into(),
    }
}

/// Lists every plugin found, its trust, the one chosen per vendor, and why; then the files
/// refused as untrusted or unusable.
pub async fn list(cli: &Invocation) -> Result<u8, UsageError> {
    let (_runtime, catalog) = load_catalog(cli, Compilation::Optimized).await?;
    for entry in catalog.entries() {
        let plugin = &entry.plugin;
        let info = plugin.info();
        match cli.output {
            Output::Json => print_line(
                &json!({
                    "vendor": info.vendor,
                    "version": info.version,
                    "contract": info.contract,
                    "display_name": info.display_name,
                    "source": plugin.source().to_string(),
                    "sha256": plugin.sha256(),
                    "chosen": entry.chosen,
                    "reason": entry.reason,
                    "trusted": true,
                    "trust": entry.trust.kind(),
                    "key_id": entry.trust.key_id(),
                    "trust_reason": entry.trust.to_string(),
                    "actions": info.actions.iter().map(|a| a.action.name()).collect::<Vec<_>>(),
                })
                .to_string(),
            ),
            Output::Text | Output::Csv => print_line(&format!(
                "{:<12} {:<9} {:<8} {:<25} {}  ({})",
                info.vendor,
                info.version,
                if entry.chosen { "used" } else { "unused" },
                trust_word(&entry.trust),
                plugin.source(),
                entry.reason
            )),
        }
    }
    for rejected in catalog.rejected() {
        let (status, trust) = rejected_words(rejected);
        match cli.output {
            Output::Json => print_line(
                &json!({
                    "vendor": rejected.vendor,
                    "source": rejected.path.display().to_string(),
                    "chosen": false,
                    "reason": format!("{status}: {}", rejected.error),
                    "trusted": !rejected.untrusted,
                    "trust": trust,
                    "key_id": rejected.trust.as_ref().and_then(Verdict::key_id),
                    "trust_reason": if rejected.untrusted {
                        rejected.error.clone()
                    } else {
                        rejected.trust.as_ref().map(ToString::to_string).unwrap_or_default()
                    },
                })
                .to_string(),
            ),
            Output::Text | Output::Csv => print_line(&format!(
                "{:<12} {:<9} {:<8} {:<25} {}  ({status}: {})",
                rejected.vendor.as_deref().unwrap_or("?"),
                "?",
                status,
                trust,
                rejected.path.display(),
                rejected.error
            )),
        }
    }
    Ok(EXIT_OK)
}

/// `(status, trust)` words for a file that was not used: `refused` when untrusted,
/// `unusable` when trusted but broken.
fn rejected_words(rejected: &Rejected) -> (&'static str, String) {
    if rejected.untrusted {
        ("refused", "refused".into())
    } else {
        (
            "unusable",
            rejected
                .trust
                .as_ref()
                .map(trust_word)
                .unwrap_or_else(|| "?".into()),
        )
    }
}

/// What `plugins verify` and `plugins install` learn about one file.
struct Verification {
    file: PathBuf,
    sha256: String,
    bytes: Vec<u8>,
    signature: Option<String>,
    outcome: Result<(Arc<Plugin>, Verdict), Rejected>,
}

impl Verification {
    fn json(&self) -> serde_json::Value {
        let (plugin, verdict, reason) = match &self.outcome {
            Ok((plugin, verdict)) => (Some(plugin), Some(verdict), verdict.to_string()),
            Err(rejected) => (None, None, rejected.error.clone()),
        };
        let vendor = plugin
            .map(|p| p.info().vendor.clone())
            .or_else(|| self.outcome.as_ref().err().and_then(|r| r.vendor.clone()));
        json!({
            "file": self.file.display().to_string(),
            "vendor": vendor,
            "version": plugin.map(|p| p.info().version.clone()),
            "contract": plugin.map(|p| p.info().contract.clone()),
            "sha256": self.sha256,
            "signature": self.signature.as_ref().map(|_| trust::signature_path(&self.file).display().to_string()),
            "trusted": self.outcome.is_ok(),
            "verdict": verdict.map(Verdict::kind).unwrap_or("refused"),
            "key_id": verdict.and_then(Verdict::key_id),
            "reason": reason,
        })
    }

    fn text(&self) -> Vec<String> {
        let unknown = "? (not read: nothing vouches for the file, so it was not loaded)";
        let (vendor, version, contract, verdict) = match &self.outcome {
            Ok((plugin, verdict)) => (
                plugin.info().vendor.clone(),
                plugin.info().version.clone(),
                plugin.info().contract.clone(),
                verdict.to_string(),
            ),
            Err(rejected) => (
                rejected.vendor.clone().unwrap_or_else(|| unknown.into()),
                "?".into(),
                "?".into(),
                if rejected.untrusted {
                    format!("refused: {}", rejected.error)
                } else {
                    format!("unusable: {}", rejected.error)
                },
            ),
        };
        vec![
            format!("file      {}", self.file.display()),
            format!("vendor    {vendor}"),
            format!("version   {version}"),
            format!("contract  {contract}"),
            format!("sha256    {}", self.sha256),
            format!("verdict   {verdict}"),
        ]
    }
}

/// Reads `file` and its signature once, and checks those very bytes.
async fn verification(
    runtime: &Runtime,
    trust: &trust::Trust,
    file: &Path,
) -> Result<Verification, UsageError> {
    let (bytes, signature) = match catalog::read_file(file) {
        Ok(read) => read,
        Err(rejected) if !rejected.untrusted => return Err(UsageError(rejected.error)),
        Err(rejected) => {
            let bytes = std::fs::read(file).unwrap_or_default();
            return Ok(Verification {
                file: file.to_path_buf(),
                sha256: sha256_hex(&bytes),
                bytes,
                signature: None,
                outcome: Err(rejected),
            });
        }
    };
    let outcome =
        match catalog::check_bytes(runtime, trust, file, &bytes, signature.as_deref()).await {
            Checked::Trusted(plugin, verdict) => Ok((plugin, verdict)),
            Checked::Rejected(rejected) => Err(rejected),
        };
    Ok(Verification {
        file: file.to_path_buf(),
        sha256: sha256_hex(&bytes),
        bytes,
        signature,
        outcome,
    })
}

/// Prints whether `file` is trusted, with its vendor, version, contract, SHA-256 and the
/// verdict; exit 0 trusted, 1 not.
pub async fn verify(cli: &Invocation, file: &Path) -> Result<u8, UsageError> {
    let checked = verification(
        &runtime(Limits::default(), Compilation::QuickStart)?,
        &cli.trust()?,
        file,
    )
    .await?;
    match cli.output {
        Output::Json => print_line(&checked.json().to_string()),
        Output::Text | Output::Csv => checked.text().iter().for_each(|line| print_line(line)),
    }
    Ok(if checked.outcome.is_ok() {
        EXIT_OK
    } else {
        EXIT_FAILED
    })
}

/// Verifies `file` and copies it, and its signature, into the plugin directory, each by a
/// temporary file renamed into place; an untrusted file is refused (exit 2) and nothing is
/// copied.
pub async fn install(cli: &Invocation, file: &Path) -> Result<u8, UsageError> {
    let dir = cli
        .plugin_dir
        .clone()
        .or_else(crate::dirs::default_plugin_dir)
        .ok_or_else(|| {
            UsageError("no plugin directory: pass --plugin-dir DIR (HOME is not set)".into())
        })?;
    let checked = verification(
        &runtime(Limits::default(), Compilation::Optimized)?,
        &cli.trust()?,
        file,
    )
    .await?;
    let (plugin, verdict) = match &checked.outcome {
        Ok(trusted) => trusted,
        Err(rejected) => {
            match cli.output {
                Output::Json => print_line(&checked.json().to_string()),
                Output::Text | Output::Csv => {
                    checked.text().iter().for_each(|line| print_line(line))
                }
            }
            eprint_line(&format!(
                "error: {} was not installed: {}",
                file.display(),
                rejected.error
            ));
            return Ok(EXIT_USAGE);
        }
    };
    let name = file
        .file_name()
        .ok_or_else(|| UsageError(format!("{} names no file", file.display())))?;
    let target = dir.join(name);
    std::fs::create_dir_all(&dir).map_err(|err| {
        UsageError(format!(
            "creating the plugin directory {}: {err}",
            dir.display()
        ))
    })?;
    let same = |a: &Path, b: &Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b);
    if !same(file, &target) {
        // The signature goes first: between the two renames an old file meets a new
        // signature (or the reverse), which fails its check; never an unchecked file.
        let signature_target = trust::signature_path(&target);
        match &checked.signature {
            Some(text) => write_atomically(&dir, &signature_target, text.as_bytes())?,
            None => match std::fs::remove_file(&signature_target) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    return Err(UsageError(format!(
                        "removing the stale signature {}: {err}",
                        signature_target.display()
                    )));
                }
            },
        }
        write_atomically(&dir, &target, &checked.bytes)?;
    }
    let info = plugin.info();
    match cli.output {
        Output::Json => {
            let mut json = checked.json();
            json["installed"] = json!(target.display().to_string());
            print_line(&json.to_string());
        }
        Output::Text | Output::Csv => print_line(&format!(
            "installed {} {} ({verdict}) -> {}",
            info.vendor,
            info.version,
            target.display()
        )),
    }
    Ok(EXIT_OK)
}

/// Writes `bytes` to `target` through a temporary file in `dir` renamed over it, so a
/// reader sees the old file or the new one, never a part.
fn write_atomically(dir: &Path, target: &Path, bytes: &[u8]) -> Result<(), UsageError> {
    let fail = |err: std::io::Error| UsageError(format!("writing {}: {err}", target.display()));
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    temp.write_all(bytes).map_err(fail)?;
    temp.as_file().sync_all().map_err(fail)?;
    std::fs::set_permissions(
        temp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .map_err(fail)?;
    temp.persist(target).map_err(|err| fail(err.error))?;
    Ok(())
}

/// Describes one plugin: the one chosen for a vendor, or a file.
pub async fn inspect(cli: &Invocation, name_or_file: &str) -> Result<u8, UsageError> {
    let plugin = resolve(cli, name_or_file).await?;
    match cli.output {
        Output::Json => print_line(&describe_json(&plugin).to_string()),
        Output::Text | Output::Csv => {
            for line in describe_text(&plugin) {
                print_line(&line);
            }
        }
    }
    Ok(EXIT_OK)
}

/// The plugin a vendor name or a file path names.
///
/// A file named on the command line is loaded even when it is not trusted, with a warning:
/// `inspect` and `test` give it no credentials and no network, and this is how an author
/// tries a build before signing it.
async fn resolve(cli: &Invocation, name_or_file: &str) -> Result<Arc<Plugin>, UsageError> {
    let (runtime, catalog) = load_catalog(cli, Compilation::QuickStart).await?;
    if is_file(name_or_file) {
        let path = Path::new(name_or_file);
        let checked = verification(&runtime, &cli.trust()?, path).await?;
        return match checked.outcome {
            Ok((plugin, _)) => Ok(plugin),
            Err(rejected) if rejected.untrusted => {
                eprint_line(&format!(
                    "warning: {name_or_file} is {}; it is loaded only because it was named on \
                     the command line, with no credentials and no network",
                    rejected.error
                ));
                runtime
                    .load(&checked.bytes, PluginSource::File(path.to_path_buf()))
                    .await
                    .map_err(|err| {
                        UsageError(format!("{name_or_file} is not a usable plugin: {err:#}"))
                    })
            }
            Err(rejected) => Err(UsageError(format!(
                "{name_or_file} is not a usable plugin: {}",
                rejected.error
            ))),
        };
    }
    catalog.get(name_or_file).cloned().ok_or_else(|| {
        UsageError(format!(
            "{name_or_file:?} is neither a plugin file nor a vendor with a plugin: {}",
            catalog.missing_vendor(name_or_file)
        ))
    })
}

/// Creates a plugin crate for vendor `name`.
pub fn new(name: &str, path: Option<&Path>) -> Result<u8, UsageError> {
    let dir = path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(format!("tenantctl-plugin-{name}")));
    crate::template::write(&dir, name)?;
    eprint_line(&format!(
        "created {}: `cargo test` runs its tests, `cargo build --profile plugin --target wasm32-wasip2` builds the plugin file (see its README.md)",
        dir.display()
    ));
    Ok(EXIT_OK)
}

/// Replays every transcript in `dir` against the plugin; exit 1 if any differs.
pub async fn test(cli: &Invocation, name_or_file: &str, dir: &Path) -> Result<u8, UsageError> {
    let plugin = resolve(cli, name_or_file).await?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|err| {
            UsageError(format!(
                "reading the transcript directory {}: {err}",
                dir.display()
            ))
        })?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(UsageError(format!(
            "no transcripts (*.json) in {}",
            dir.display()
        )));
    }
    let (mut passed, mut failed) = (0, 0);
    for file in &files {
        let problems = match std::fs::read_to_string(file)
            .map_err(|err| err.to_string())
            .and_then(|text| {
                serde_json::from_str::<Transcript>(&text).map_err(|err| err.to_string())
            }) {
            Ok(transcript) => transcript::replay(plugin.clone(), &transcript).await,
            Err(err) => vec![format!("not a readable transcript: {err}")],
        };
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        if problems.is_empty() {
            passed += 1;
        } else {
            failed += 1;
        }
        match cli.output {
            Output::Json => print_line(
                &json!({"transcript": name, "passed": problems.is_empty(), "problems": problems})
                    .to_string(),
            ),
            Output::Text | Output::Csv if problems.is_empty() => {
                print_line(&format!("ok      {name}"))
            }
            Output::Text | Output::Csv => {
                print_line(&format!("FAILED  {name}"));
                for problem in &problems {
                    print_line(&format!("        {problem}"));
                }
            }
        }
    }
    if cli.output == Output::Text {
        print_line(&format!("{passed} passed, {failed} failed"));
    }
    Ok(if failed == 0 { EXIT_OK } else { EXIT_FAILED })
}

/// Writes the plugin chosen for each vendor into `dir` as `VENDOR.wasm`.
pub async fn export(cli: &Invocation, dir: &Path) -> Result<u8, UsageError> {
    let (_runtime, catalog) = load_catalog(cli, Compilation::QuickStart).await?;
    std::fs::create_dir_all(dir)
        .map_err(|err| UsageError(format!("creating {}: {err}", dir.display())))?;
    for vendor in catalog.vendors() {
        let plugin = catalog.get(vendor).expect("listed vendors have a plugin");
        let path = dir.join(format!("{vendor}.wasm"));
        std::fs::write(&path, plugin.bytes())
            .map_err(|err| UsageError(format!("writing {}: {err}", path.display())))?;
        let line = match cli.output {
            Output::Json => json!({
                "vendor": vendor,
                "version": plugin.info().version,
                "file": path.display().to_string(),
                "sha256": plugin.sha256(),
            })
            .to_string(),
            Output::Text | Output::Csv => {
                format!("{vendor} {} -> {}", plugin.info().version, path.display())
            }
        };
        print_line(&line);
    }
    Ok(EXIT_OK)
}

fn describe_json(plugin: &Plugin) -> serde_json::Value {
    let info = plugin.info();
    json!({
        "vendor": info.vendor,
        "display_name": info.display_name,
        "version": info.version,
        "contract": info.contract,
        "source": plugin.source().to_string(),
        "sha256": plugin.sha256(),
        "url_hint": info.url_hint,
        "url_variable": env_var(&info.vendor, "url"),
        "actions": info.actions.iter().map(|a| json!({
            "action": a.action.name(),
            "description": a.description,
            "destructive": a.destructive,
        })).collect::<Vec<_>>(),
        "config": info.config.iter().map(|f| json!({
            "name": f.name,
            "description": f.description,
            "secret": f.secret,
            "required": f.required,
            "variable": env_var(&info.vendor, &f.name),
        })).collect::<Vec<_>>(),
    })
}

fn describe_text(plugin: &Plugin) -> Vec<String> {
    let info = plugin.info();
    let mut lines = vec![
        format!("{} ({})", info.vendor, info.display_name),
        format!("  version    {} (contract {})", info.version, info.contract),
        format!("  source     {}", plugin.source()),
        format!("  sha256     {}", plugin.sha256()),
        format!(
            "  url        --url or {}, e.g. {}",
            env_var(&info.vendor, "url"),
            info.url_hint
        ),
        "  actions".to_string(),
    ];
    for action in &info.actions {
        let destructive = if action.destructive {
            " [destructive: needs --yes]"
        } else {
            ""
        };
        lines.push(format!(
            "    {:<10} {}{destructive}",
            action.action.name(),
            action.description
        ));
    }
    lines
        .push("  configuration (environment; add _FILE to read the value from a file)".to_string());
    for field in &info.config {
        let mut flags = vec![if field.required {
            "required"
        } else {
            "optional"
        }];
        if field.secret {
            flags.push("secret");
        }
        lines.push(format!(
            "    {:<36} {} ({})",
            env_var(&info.vendor, &field.name),
            field.description,
            flags.join(", ")
        ));
    }
    lines
}
