//! `tenantctl serve`: the library behind an authenticated JSON API, for automation
//! platforms that call HTTP rather than run a command (Rewst, n8n, Power Automate,
//! Ansible's `uri`), and `tenantctl tokens`, which manages its API tokens.
//!
//! - [`api`]: the routes, single tenants synchronously, errors as `{"error": {kind, message}}`.
//! - [`jobs`]: batches as jobs run by the batch engine of `apply`, their state in the
//!   database, claimed under leases so a replica that dies loses nothing.
//! - [`db`]: SQLite (default) or PostgreSQL through sqlx, migrations embedded.
//! - [`auth`]: bearer tokens, hashed, with roles `read`, `operate`, `admin`.
//! - [`metrics`]: Prometheus text at `/metrics`; [`openapi`]: `/openapi.json` (3.1) and
//!   `/swagger.json` (2.0).

pub mod api;
pub mod auth;
pub mod db;
pub mod jobs;
pub mod metrics;
pub mod openapi;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::Account;
use crate::cli::{EXIT_FAILED, EXIT_OK, Invocation, Output, RunArgs, UsageError};
use crate::config::{Config, Rate};
use crate::http::{HttpClient, HttpSettings};
use crate::journal::Journal;
use crate::plugin::catalog::Catalog;
use crate::plugin::{Compilation, Runtime};
use auth::Role;
use db::Db;

/// Arguments of `tenantctl serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen (port 0 picks a free port; the address bound is printed on stderr).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The database holding tokens and jobs: sqlite://PATH or postgres://…
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Operations at once within a job, across vendors (as `apply --concurrency`).
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,
    /// Jobs this process runs at once.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub job_workers: u32,
    /// Seconds a replica's claim on a job lasts without a heartbeat; past it another
    /// replica (or the next start) takes the job over.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub lease: u64,
    /// The largest request body accepted, in bytes (a larger one answers 413).
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    pub max_body_bytes: usize,
    /// The most rows one job may have.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub max_job_rows: usize,
    /// Timeouts, deadline, default reason and audit journal (as the other commands).
    #[command(flatten)]
    pub run: RunArgs,
}

/// Where the database is.
#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// The database: sqlite://PATH or postgres://USER@HOST/DB. Default:
    /// $TENANTCTL_DATABASE_URL, else sqlite://$XDG_STATE_HOME/tenantctl/tenantctl.db.
    #[arg(long = "database", value_name = "URL", env = "TENANTCTL_DATABASE_URL")]
    pub url: Option<String>,
}

impl DatabaseArgs {
    /// Opens the database (creating and migrating it as needed).
    pub async fn open(&self) -> Result<Db, UsageError> {
        let url = match &self.url {
            Some(url) => url.clone(),
            None => db::default_url().ok_or_else(|| {
                UsageError(
                    "no place for the database: pass --database URL or set \
                     TENANTCTL_DATABASE_URL (HOME is not set)"
                        .into(),
                )
            })?,
        };
        Db::open(&url).await.map_err(UsageError::from)
    }
}

/// `tenantctl tokens ...`
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token and print it once on stdout (only its hash is stored).
    Create {
        /// Its name: who the audit journal says acted.
        name: String,
        /// What it may do: read (list, status, jobs' state), operate (also disable,
        /// enable, jobs), admin (also offboard, delete).
        #[arg(long, value_parser = ["read", "operate", "admin"])]
        role: String,
        /// The database (the same as `serve`'s).
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List the tokens: name, role, created, revoked.
    List {
        /// The database (the same as `serve`'s).
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Revoke a token; a running server refuses it from its next request.
    Revoke {
        /// The token's name.
        name: String,
        /// The database (the same as `serve`'s).
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// What every request and job of a running service shares.
pub struct State {
    /// The database.
    pub db: Db,
    /// The plugins (kept with their runtime).
    pub catalog: Catalog,
    _runtime: Runtime,
    /// The configuration file's contents.
    pub config: Config,
    /// HTTP timeouts and retries for vendor requests.
    pub http: HttpSettings,
    /// The longest one tenant's operation may take.
    pub deadline: Duration,
    /// The reason recorded when a request gives none.
    pub reason: Option<String>,
    /// Operations at once within a job.
    pub concurrency: usize,
    /// The most rows one job may have.
    pub max_job_rows: usize,
    /// The audit journal single-tenant writes go to (jobs open their own on the same file).
    pub journal: Arc<Journal>,
    /// The audit journal's path.
    pub journal_path: PathBuf,
    /// One account per vendor for single-tenant requests, so they share a session.
    accounts: tokio::sync::Mutex<HashMap<String, Arc<Account>>>,
    /// Counters for `/metrics`.
    pub metrics: metrics::Metrics,
    /// Wakes this process's job workers (a job was accepted).
    pub wake: tokio::sync::Notify,
    /// Raised on SIGTERM / Ctrl-C.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// This replica's name in job leases: host, process id and a random suffix.
    pub owner: String,
    /// How long a job lease lasts.
    pub lease: Duration,
}

impl State {
    /// The shared account of `vendor`, made on first use from the environment and the
    /// configuration file; the error says what is missing.
    pub async fn account(&self, vendor: &str) -> Result<Arc<Account>, api::ApiError> {
        let mut accounts = self.accounts.lock().await;
        if let Some(account) = accounts.get(vendor) {
            return Ok(account.clone());
        }
        let plugin = self
            .catalog
            .get(vendor)
            .ok_or_else(|| api::ApiError::not_found(self.catalog.missing_vendor(vendor)))?;
        let settings = self.config.vendor(vendor);
        let unavailable = |why: String| {
            api::ApiError::unavailable(format!(
                "the service is not set up to reach {vendor}: {why} (in the server's environment \
                 or configuration file)"
            ))
        };
        let reach = crate::credentials::reach(
            plugin.info(),
            None,
            &settings,
            |name| std::env::var(name).ok(),
            self.http.clone(),
        )
        .map_err(unavailable)?;
        let mut http =
            HttpClient::new(reach.http).map_err(|err| unavailable(format!("{err:#}")))?;
        if let Some(rate) = settings.rate_limit.as_deref() {
            let rate = Rate::parse(rate).map_err(|err| unavailable(format!("{err:#}")))?;
            http = http.with_rate_limit(rate.requests, rate.period);
        }
        let account = Arc::new(
            Account::new(plugin.clone(), &reach.url, reach.values, http).map_err(unavailable)?,
        );
        accounts.insert(vendor.to_string(), account.clone());
        Ok(account)
    }

    /// The accounts made so far, for `/metrics`.
    pub async fn accounts(&self) -> Vec<(String, Arc<Account>)> {
        let accounts = self.accounts.lock().await;
        accounts
            .iter()
            .map(|(vendor, account)| (vendor.clone(), account.clone()))
            .collect()
    }
}

/// Runs the service until SIGTERM or Ctrl-C: stops accepting, lets rows under way finish,
/// gives unfinished jobs back, exits 0.
pub async fn run(cli: &Invocation, args: &ServeArgs) -> Result<u8, UsageError> {
    let db = args.database.open().await?;
    let (runtime, catalog) = crate::cli::load_catalog(cli, Compilation::Optimized).await?;
    let journal_path = args.run.journal_path()?;
    let journal = Arc::new(Journal::open(&journal_path)?);
    let owner = format!(
        "{}-{}-{:08x}",
        gethostname::gethostname().to_string_lossy(),
        std::process::id(),
        rand::random::<u32>()
    );
    let state = Arc::new(State {
        db,
        catalog,
        _runtime: runtime,
        config: cli.config.clone(),
        http: args.run.http()?,
        deadline: args.run.deadline(),
        reason: args.run.reason.clone(),
        concurrency: args.concurrency as usize,
        max_job_rows: args.max_job_rows,
        journal,
        journal_path,
        accounts: tokio::sync::Mutex::default(),
        metrics: metrics::Metrics::default(),
        wake: tokio::sync::Notify::new(),
        shutdown: tokio::sync::watch::Sender::new(false),
        owner,
        lease: Duration::from_secs(args.lease),
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|err| UsageError(format!("cannot listen on {}: {err}", args.listen)))?;
    let bound = listener.local_addr()?;
    crate::cli::eprint_line(&format!(
        "tenantctl serve: listening on http://{bound} (database: {}, replica {})",
        state.db.kind(),
        state.owner
    ));

    tokio::spawn(on_signals(state.clone()));
    let workers = jobs::start_workers(state.clone(), args.job_workers as usize);
    let app = api::router(state.clone(), args.max_body_bytes);
    let mut stopping = state.shutdown.subscribe();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        })
        .await
        .map_err(|err| UsageError(format!("serving HTTP: {err}")))?;
    crate::cli::eprint_line(
        "tenantctl serve: stopped accepting requests; waiting for the rows under way",
    );
    workers.finish().await;
    crate::cli::eprint_line("tenantctl serve: stopped");
    Ok(EXIT_OK)
}

/// Raises the shutdown flag on the first SIGTERM or Ctrl-C.
async fn on_signals(state: Arc<State>) {
    let Ok(mut terminate) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    crate::cli::eprint_line(
        "tenantctl serve: stopping: no new requests or rows; rows under way finish",
    );
    state.shutdown.send_replace(true);
}

/// `tenantctl tokens create|list|revoke`.
pub async fn tokens(cli: &Invocation, command: &TokensCommand) -> Result<u8, UsageError> {
    match command {
        TokensCommand::Create {
            name,
            role,
            database,
        } => {
            if name.trim().is_empty() || name.chars().any(char::is_control) {
                return Err(UsageError(
                    "a token's name must be non-empty printable text (it is the operator in the \
                     audit journal)"
                        .into(),
                ));
            }
            let role = Role::parse(role).expect("clap checks the role");
            let db = database.open().await?;
            let token = auth::new_token();
            if !db.create_token(name, role, &auth::hash(&token)).await? {
                return Err(UsageError(format!(
                    "a token named {name:?} exists; revoke it first (`tenantctl tokens revoke \
                     {name}`) or choose another name"
                )));
            }
            // Stdout holds only the token, so `TOKEN=$(tenantctl tokens create …)` works.
            println!("{token}");
            crate::cli::eprint_line(&format!(
                "created token {name:?} with role {}; it is shown only this once",
                role.name()
            ));
            Ok(EXIT_OK)
        }
        TokensCommand::List { database } => {
            let db = database.open().await?;
            let tokens = db.tokens().await?;
            let time = |ms: i64| {
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64),
                )
                .to_string()
            };
            for token in &tokens {
                let line = match cli.output {
                    Output::Json => serde_json::json!({
                        "name": token.name,
                        "role": token.role.name(),
                        "created_at": time(token.created_at),
                        "revoked_at": token.revoked_at.map(time),
                    })
                    .to_string(),
                    Output::Text | Output::Csv => format!(
                        "{}\t{}\tcreated {}{}",
                        token.name,
                        token.role.name(),
                        time(token.created_at),
                        token
                            .revoked_at
                            .map(|at| format!("\trevoked {}", time(at)))
                            .unwrap_or_default()
                    ),
                };
                println!("{line}");
            }
            Ok(EXIT_OK)
        }
        TokensCommand::Revoke { name, database } => {
            let db = database.open().await?;
            if db.revoke_token(name).await? {
                crate::cli::eprint_line(&format!("revoked token {name:?}"));
                Ok(EXIT_OK)
            } else {
                crate::cli::eprint_line(&format!(
                    "error: no unrevoked token named {name:?} (`tenantctl tokens list` shows them)"
                ));
                Ok(EXIT_FAILED)
            }
        }
    }
}
