//! The `tenantctl` command line: a thin layer over the library.
//!
//! Stdout carries results only; logs, warnings and errors go to stderr. Exit codes:
//! 0 every tenant ended as asked, 1 at least one tenant failed, 2 usage or configuration
//! error with nothing sent.

mod act;
mod apply;
pub mod list;
mod plugins;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Config;
use crate::plugin::catalog::Catalog;
use crate::plugin::trust::{Trust, Verdict};
use crate::plugin::{Compilation, Limits, Runtime};

/// Disable, re-enable and offboard customer tenants on backup platforms.
///
/// Credentials come only from the environment: TENANTCTL_<VENDOR>_<FIELD>, or
/// TENANTCTL_<VENDOR>_<FIELD>_FILE naming a file that holds the value
/// (`tenantctl plugins inspect VENDOR` lists the fields). The vendor URL comes from --url or
/// TENANTCTL_<VENDOR>_URL.
#[derive(Debug, Parser)]
#[command(name = "tenantctl", version, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Result format on stdout: one line per tenant, as text or as JSON (`list` also writes
    /// CSV).
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Directory of plugin files (*.wasm); a newer version of a vendor there replaces the
    /// built-in one. Default: $XDG_DATA_HOME/tenantctl/plugins.
    #[arg(long, global = true, value_name = "DIR", env = "TENANTCTL_PLUGIN_DIR")]
    pub plugin_dir: Option<PathBuf>,
    /// Log more to stderr: -v each request, -vv everything. TENANTCTL_LOG takes a filter too.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The configuration file (TOML: [vendors.NAME] and [trust]; see the README). Default:
    /// $TENANTCTL_CONFIG, else $XDG_CONFIG_HOME/tenantctl/config.toml (which may be missing).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show whether a tenant is enabled. Changes nothing.
    Status(TargetArgs),
    /// Disable a tenant reversibly (its users are blocked; data is kept).
    Disable(TargetArgs),
    /// Re-enable a disabled tenant.
    Enable(TargetArgs),
    /// Run the vendor's offboarding. Destructive: requires --yes (or --dry-run to preview).
    Offboard(TargetArgs),
    /// Delete a disabled tenant, for good. Requires --yes and --expect-name (a dry run needs
    /// only --expect-name); an enabled tenant is refused: disable it first.
    Delete(TargetArgs),
    /// List every tenant the account can act on (text, JSON Lines or CSV), streamed as the
    /// vendor pages it; `--output csv` feeds `apply --action ACTION --input`.
    List(list::ListArgs),
    /// Run one action per row of a CSV or JSON Lines input, many at once, with an audit
    /// log and --resume after a crash.
    Apply(apply::ApplyArgs),
    /// List and inspect vendor plugins.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Serve the HTTP API (single tenants, jobs, OpenAPI) for automation platforms; state
    /// in SQLite (default) or PostgreSQL.
    Serve(crate::serve::ServeArgs),
    /// Create, list and revoke the API tokens of `tenantctl serve`.
    #[command(subcommand)]
    Tokens(crate::serve::TokensCommand),
}

/// Which tenant, where, and how.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("target").required(true).args(["tenant", "tenant_name"]))]
pub struct TargetArgs {
    /// The vendor, as `tenantctl plugins list` shows it (e.g. acronis, commvault).
    #[arg(long)]
    pub vendor: String,
    /// The vendor's base URL. Default: TENANTCTL_<VENDOR>_URL.
    #[arg(long)]
    pub url: Option<String>,
    /// The tenant's id at the vendor.
    #[arg(long, value_name = "ID")]
    pub tenant: Option<String>,
    /// The tenant's name, matched as the vendor matches names; several matches fail.
    #[arg(long, value_name = "NAME")]
    pub tenant_name: Option<String>,
    /// Fail, before changing anything, unless the tenant's name is exactly this.
    #[arg(long, value_name = "NAME")]
    pub expect_name: Option<String>,
    /// Read, but send nothing that changes a tenant; show the request that would be sent.
    #[arg(long)]
    pub dry_run: bool,
    /// Confirm a destructive action (offboard, delete).
    #[arg(long)]
    pub yes: bool,
    /// Timeouts, deadline, reason and audit journal.
    #[command(flatten)]
    pub run: RunArgs,
    /// Write a transcript of this run (every request, answer and the result, secrets
    /// redacted) to FILE, for `tenantctl plugins test`.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
}

/// What every command that acts on tenants takes.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Why this is done; recorded in every audit journal record of the run (a batch row's
    /// `reason` column overrides it).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Seconds allowed for each HTTP request.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// Seconds one tenant's whole operation may take, retries, waits and restarts included;
    /// past it the tenant fails as `timeout`.
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub deadline: u64,
    /// The audit journal (JSON Lines, appended). Default: $TENANTCTL_AUDIT_LOG, else
    /// $XDG_STATE_HOME/tenantctl/audit.jsonl.
    #[arg(long, value_name = "FILE", env = "TENANTCTL_AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,
    /// A PEM file of CA certificates to trust besides the system's (a private CA). Default:
    /// TENANTCTL_<VENDOR>_CA_CERT, else ca_cert in the configuration file. Certificate
    /// verification is never turned off.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

impl RunArgs {
    /// The audit journal's path.
    pub fn journal_path(&self) -> Result<PathBuf, UsageError> {
        self.audit_log
            .clone()
            .or_else(crate::journal::default_path)
            .ok_or_else(|| {
                UsageError(
                    "no place for the audit log: pass --audit-log FILE (HOME is not set)".into(),
                )
            })
    }

    /// The HTTP settings these flags ask for (with the `--ca-cert` certificates).
    pub fn http(&self) -> Result<crate::http::HttpSettings, UsageError> {
        let ca_certs = match &self.ca_cert {
            Some(path) => crate::http::load_ca_certs(path, "--ca-cert").map_err(UsageError)?,
            None => Vec::new(),
        };
        Ok(crate::http::HttpSettings {
            timeout: std::time::Duration::from_secs(self.timeout),
            ca_certs,
            ..crate::http::HttpSettings::default()
        })
    }

    /// The per-operation deadline.
    pub fn deadline(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.deadline)
    }
}

/// `tenantctl plugins ...`
#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// List every plugin found, its trust, and which one serves each vendor and why.
    List,
    /// Check whether a plugin file is trusted (signature by a key trusted for its vendor,
    /// or a SHA-256 pin) and print its vendor, version, contract, SHA-256 and the verdict.
    /// Exit 0 trusted, 1 not.
    Verify {
        /// The plugin file; its signature is FILE.minisig.
        file: PathBuf,
    },
    /// Verify a plugin file and copy it (and FILE.minisig) into the plugin directory; an
    /// untrusted file is refused and nothing is copied.
    Install {
        /// The plugin file; its signature is FILE.minisig.
        file: PathBuf,
    },
    /// Show a plugin's description: actions, configuration fields and their variables.
    Inspect {
        /// A vendor name (the plugin chosen for it) or the path of a plugin file.
        name_or_file: String,
    },
    /// Create a new plugin crate (with the SDK and a complete example plugin) that builds
    /// on its own.
    New {
        /// The vendor id: lower-case letters, digits and '-'.
        name: String,
        /// Where to create it. Default: ./tenantctl-plugin-NAME.
        #[arg(long, value_name = "DIR")]
        path: Option<PathBuf>,
    },
    /// Replay recorded transcripts against a plugin, without a network: it must make the
    /// same requests and reach the same results. Prints one line per transcript.
    Test {
        /// A vendor name (the plugin chosen for it) or the path of a plugin file.
        name_or_file: String,
        /// Directory of transcript files (*.json), as written by `--record`.
        #[arg(long, value_name = "DIR")]
        transcripts: PathBuf,
    },
    /// Write the plugin file used for each vendor into DIR as VENDOR.wasm, for loading in
    /// another runtime (Node with jco, Python with wasmtime-py, your own host).
    Export {
        /// Where to write the files (created if missing).
        dir: PathBuf,
    },
}

/// Result format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// One line per tenant for people.
    Text,
    /// One JSON object per tenant per line.
    Json,
    /// CSV with a header row (`list` only): `vendor,tenant,tenant_name,enabled`.
    Csv,
}

/// Exit code: every tenant ended as asked.
pub const EXIT_OK: u8 = 0;
/// Exit code: at least one tenant failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: usage or configuration error; nothing was sent.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: interrupted (Ctrl-C, SIGTERM); rows under way finished and were recorded.
pub const EXIT_INTERRUPTED: u8 = 130;

/// A usage or configuration error: reported on stderr, exit code 2, nothing sent.
#[derive(Debug)]
pub struct UsageError(pub String);

impl<E: Into<anyhow::Error>> From<E> for UsageError {
    fn from(err: E) -> Self {
        UsageError(format!("{:#}", err.into()))
    }
}

/// Parses the command line and runs it; the binary's whole `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(UsageError(message)) => {
            eprint_line(&format!("error: {message}"));
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Runs a parsed command line and returns the exit code.
pub fn run(cli: Cli) -> Result<u8, UsageError> {
    // Every command reads the configuration file, so a broken one is reported whatever
    // the command.
    let config = Config::find_and_load(cli.config.as_deref(), |name| std::env::var(name).ok())?;
    let cli = Invocation { cli, config };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if cli.output == Output::Csv && !matches!(cli.command, Command::List(_)) {
        return Err(UsageError(
            "--output csv is for `tenantctl list`; other commands write text or json".into(),
        ));
    }
    runtime.block_on(async {
        match &cli.command {
            Command::Status(args) => act::run(&cli, crate::Action::Status, args).await,
            Command::Disable(args) => act::run(&cli, crate::Action::Disable, args).await,
            Command::Enable(args) => act::run(&cli, crate::Action::Enable, args).await,
            Command::Offboard(args) => act::run(&cli, crate::Action::Offboard, args).await,
            Command::Delete(args) => act::run(&cli, crate::Action::Delete, args).await,
            Command::List(args) => list::run(&cli, args).await,
            Command::Apply(args) => apply::run(&cli, args).await,
            Command::Plugins(PluginsCommand::List) => plugins::list(&cli).await,
            Command::Plugins(PluginsCommand::Verify { file }) => plugins::verify(&cli, file).await,
            Command::Plugins(PluginsCommand::Install { file }) => {
                plugins::install(&cli, file).await
            }
            Command::Plugins(PluginsCommand::Inspect { name_or_file }) => {
                plugins::inspect(&cli, name_or_file).await
            }
            Command::Plugins(PluginsCommand::Export { dir }) => plugins::export(&cli, dir).await,
            Command::Plugins(PluginsCommand::New { name, path }) => {
                plugins::new(name, path.as_deref())
            }
            Command::Plugins(PluginsCommand::Test {
                name_or_file,
                transcripts,
            }) => plugins::test(&cli, name_or_file, transcripts).await,
            Command::Serve(args) => crate::serve::run(&cli, args).await,
            Command::Tokens(command) => crate::serve::tokens(&cli, command).await,
        }
    })
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "tenantctl=info,warn",
        _ => "tenantctl=debug,info",
    };
    let filter = std::env::var("TENANTCTL_LOG")
        .ok()
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| default.to_string());
    tracing_subscriber::fmt()
        .with_writer(crate::redact::ScrubbedStderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_target(false)
        .init();
}

/// A parsed command line with the configuration file it names.
pub struct Invocation {
    /// The command line.
    pub cli: Cli,
    /// The configuration file's contents (empty when there is none).
    pub config: Config,
}

impl std::ops::Deref for Invocation {
    type Target = Cli;

    fn deref(&self) -> &Cli {
        &self.cli
    }
}

impl Invocation {
    /// The trust settings: `[trust]` of the configuration file, and the environment.
    fn trust(&self) -> Result<Trust, UsageError> {
        Trust::from_config(&self.config.trust, self.config.path.as_deref(), |name| {
            std::env::var(name).ok()
        })
        .map_err(UsageError)
    }

    /// The plugin directory: `--plugin-dir` (which must exist), else the default.
    fn plugin_dir(&self) -> Result<Option<PathBuf>, UsageError> {
        match &self.plugin_dir {
            Some(dir) if !dir.is_dir() => Err(UsageError(format!(
                "the plugin directory {} does not exist or is not a directory",
                dir.display()
            ))),
            Some(dir) => Ok(Some(dir.clone())),
            None => Ok(crate::dirs::default_plugin_dir()),
        }
    }
}

/// Plugin instances alive at once in a command on one vendor.
const SINGLE_COMMAND_INSTANCES: u32 = 8;

/// The plugin runtime, with the default compile cache, `limits` and `compilation`:
/// [`Compilation::Optimized`] for the commands that run many operations (`apply`, `serve`)
/// or warm the cache for the others (`plugins list`, `plugins install`), and
/// [`Compilation::QuickStart`] for the others, which make a few plugin calls and should
/// not wait on an optimising compile.
fn runtime(limits: Limits, compilation: Compilation) -> Result<Runtime, UsageError> {
    Ok(Runtime::new(
        crate::dirs::default_cache_dir(),
        limits,
        compilation,
    )?)
}

/// The plugin runtime and catalog for this invocation: the built-ins and the trusted files
/// of the plugin directory, compiled as `compilation` says. Refused files are
/// logged; a run that loads plugin files only because unsigned ones are allowed says so on
/// stderr, every time.
pub(crate) async fn load_catalog(
    cli: &Invocation,
    compilation: Compilation,
) -> Result<(Runtime, Catalog), UsageError> {
    load_catalog_for(cli, None, compilation).await
}

/// [`load_catalog`] for a command that needs only `vendor` (when given): no other built-in
/// plugin is loaded. When nothing serves `vendor`, every plugin is, so the error can name
/// what is served.
async fn load_catalog_for(
    cli: &Invocation,
    vendor: Option<&str>,
    compilation: Compilation,
) -> Result<(Runtime, Catalog), UsageError> {
    let plugin_dir = cli.plugin_dir()?;
    let trust = cli.trust()?;
    // A command on one vendor runs one operation at a time (a login, then the action or
    // the listing): a pool of a few instances, instead of one reserved for a whole batch,
    // makes the engine quicker to start.
    let limits = match vendor {
        Some(_) => Limits {
            max_live_instances: SINGLE_COMMAND_INSTANCES,
            ..Limits::default()
        },
        None => Limits::default(),
    };
    let runtime = runtime(limits, compilation)?;
    let dir = plugin_dir.as_deref();
    let catalog = match vendor {
        Some(vendor) => {
            let some = Catalog::discover_for(&runtime, dir, &trust, vendor).await?;
            match some.get(vendor) {
                Some(_) => some,
                None => Catalog::discover_trusting(&runtime, dir, &trust).await?,
            }
        }
        None => Catalog::discover_trusting(&runtime, dir, &trust).await?,
    };
    for rejected in catalog.rejected() {
        tracing::warn!(
            "ignoring plugin file {}: {}",
            rejected.path.display(),
            rejected.error
        );
    }
    if let Some(why) = trust.allow_unsigned() {
        let unsigned: Vec<String> = catalog
            .entries()
            .iter()
            .filter(|entry| matches!(entry.trust, Verdict::Unsigned { .. }))
            .map(|entry| entry.plugin.source().to_string())
            .collect();
        eprint_line(&format!(
            "warning: unsigned plugin files are allowed ({why}): any file in the plugin \
             directory runs with the vendor's credentials; {}",
            if unsigned.is_empty() {
                "none is loaded now".to_string()
            } else {
                format!("loaded without signature or pin: {}", unsigned.join(", "))
            }
        ));
    }
    Ok((runtime, catalog))
}

/// Writes a result line to stdout, scrubbed of secrets; a closed pipe (e.g. `| head`) is not
/// an error.
fn print_line(line: &str) {
    let line = crate::redact::scrub(line);
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}

/// Writes a message line to stderr, scrubbed of secrets.
pub(crate) fn eprint_line(line: &str) {
    let line = crate::redact::scrub(line);
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}

fn is_file(name: &str) -> bool {
    Path::new(name).is_file()
}
