//! `tenantctl plugins list` and `tenantctl plugins inspect`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

use super::{
    Cli, EXIT_FAILED, EXIT_OK, Output, UsageError, eprint_line, is_file, load_catalog, print_line,
};
use crate::credentials::env_var;
use crate::plugin::{Plugin, PluginSource};
use crate::transcript::{self, Transcript};

/// Lists every plugin found, the one chosen per vendor, and why.
pub async fn list(cli: &Cli) -> Result<u8, UsageError> {
    let (_runtime, catalog) = load_catalog(cli).await?;
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
                    "actions": info.actions.iter().map(|a| a.action.name()).collect::<Vec<_>>(),
                })
                .to_string(),
            ),
            Output::Text | Output::Csv => print_line(&format!(
                "{:<12} {:<9} {:<8} {}  ({})",
                info.vendor,
                info.version,
                if entry.chosen { "used" } else { "unused" },
                plugin.source(),
                entry.reason
            )),
        }
    }
    for rejected in catalog.rejected() {
        match cli.output {
            Output::Json => print_line(
                &json!({
                    "source": rejected.path.display().to_string(),
                    "chosen": false,
                    "reason": format!("unusable: {}", rejected.error),
                })
                .to_string(),
            ),
            Output::Text | Output::Csv => print_line(&format!(
                "{:<12} {:<9} {:<8} {}  (unusable: {})",
                "?",
                "?",
                "unusable",
                rejected.path.display(),
                rejected.error
            )),
        }
    }
    Ok(EXIT_OK)
}

/// Describes one plugin: the one chosen for a vendor, or a file.
pub async fn inspect(cli: &Cli, name_or_file: &str) -> Result<u8, UsageError> {
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
async fn resolve(cli: &Cli, name_or_file: &str) -> Result<Arc<Plugin>, UsageError> {
    let (runtime, catalog) = load_catalog(cli).await?;
    if is_file(name_or_file) {
        let bytes = std::fs::read(name_or_file)
            .map_err(|err| UsageError(format!("reading {name_or_file}: {err}")))?;
        return runtime
            .load(&bytes, PluginSource::File(PathBuf::from(name_or_file)))
            .await
            .map_err(|err| UsageError(format!("{name_or_file} is not a usable plugin: {err:#}")));
    }
    catalog.get(name_or_file).cloned().ok_or_else(|| {
        UsageError(format!(
            "{name_or_file:?} is neither a plugin file nor a vendor; vendors: {}",
            catalog.vendors().join(", ")
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
pub async fn test(cli: &Cli, name_or_file: &str, dir: &Path) -> Result<u8, UsageError> {
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
pub async fn export(cli: &Cli, dir: &Path) -> Result<u8, UsageError> {
    let (_runtime, catalog) = load_catalog(cli).await?;
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
