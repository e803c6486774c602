//! The `tenantctl-simulator` program: starts one or all simulators, prints their
//! coordinates as shell `export` lines, and serves until told to stop.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};

use crate::util::shell_quote;
use crate::{
    AcronisConfig, AcronisSim, CommvaultConfig, CommvaultSim, Fault, FaultRule, LoginFailure,
    RateLimit, VspcConfig, VspcRateLimit, VspcSim,
};

/// Which simulators to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Which {
    /// Only Acronis.
    Acronis,
    /// Only Commvault.
    Commvault,
    /// Only Veeam Service Provider Console.
    Vspc,
    /// Every simulator, each on its own port (`both` is accepted too, its name from when
    /// there were two).
    #[value(alias = "both")]
    All,
}

impl Which {
    fn includes(self, one: Which) -> bool {
        self == Which::All || self == one
    }
}

/// How the Commvault simulator answers a failed login.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LoginFailureArg {
    /// HTTP 200 with an `errList` and no token.
    Http200,
    /// HTTP 401.
    Http401,
}

/// Local simulators of the Acronis, Commvault and Veeam Service Provider Console APIs for
/// tenantctl's tests and demos.
///
/// Prints `export TENANTCTL_...=...` lines on stdout (for `eval`), then serves until
/// SIGINT/SIGTERM. Control API on each server under `/_sim/`.
#[derive(Debug, Parser)]
#[command(name = "tenantctl-simulator", version)]
pub struct Args {
    /// Which vendors to simulate.
    #[arg(long, value_enum, default_value_t = Which::All)]
    pub vendor: Which,
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// Port for Acronis (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub acronis_port: u16,
    /// Port for Commvault (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub commvault_port: u16,
    /// Port for Veeam Service Provider Console (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub vspc_port: u16,
    /// Generated tenants per vendor, besides the fixed fixtures.
    #[arg(long, default_value_t = 25)]
    pub tenants: usize,
    /// Fraction of vendor requests (0 to 1) answered with a random 500 or connection reset.
    #[arg(long, default_value_t = 0.0)]
    pub fault_rate: f64,
    /// Seed for ids, tokens and random faults.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Exit when standard input reaches end of file (for test harnesses holding a pipe).
    #[arg(long)]
    pub exit_on_stdin_close: bool,
    /// Token lifetime in seconds (Acronis: absolute, default 7200; Commvault: inactivity,
    /// default 1800; VSPC: absolute, default 3600).
    #[arg(long)]
    pub token_lifetime: Option<u64>,
    /// How Commvault answers a failed login.
    #[arg(long, value_enum, default_value_t = LoginFailureArg::Http200)]
    pub commvault_login_failure: LoginFailureArg,
    /// Commvault write requests allowed per hour (enables rate limiting).
    #[arg(long)]
    pub commvault_writes_per_hour: Option<u32>,
    /// Commvault read requests allowed per hour (enables rate limiting).
    #[arg(long)]
    pub commvault_reads_per_hour: Option<u32>,
    /// VSPC requests allowed per minute (enables its throttling: 429 with `retryAfter`).
    #[arg(long)]
    pub vspc_requests_per_minute: Option<u32>,
    /// Answer VSPC company changes with 202 and a `Location` (queued) instead of 200.
    #[arg(long)]
    pub vspc_async_patches: bool,
    /// How many polls of a VSPC async action (a company delete) answer `running` before it
    /// finishes.
    #[arg(long, default_value_t = 2)]
    pub vspc_async_polls: u32,
}

/// The simulators started by [`start`]; dropping them stops them.
pub struct Running {
    /// The Acronis simulator, if started.
    pub acronis: Option<AcronisSim>,
    /// The Commvault simulator, if started.
    pub commvault: Option<CommvaultSim>,
    /// The Veeam Service Provider Console simulator, if started.
    pub vspc: Option<VspcSim>,
}

impl Running {
    /// The `export NAME='value'` lines describing the running simulators.
    pub fn exports(&self) -> Vec<String> {
        let mut vars = Vec::new();
        if let Some(sim) = &self.acronis {
            vars.push(("TENANTCTL_ACRONIS_URL", sim.url()));
            vars.push(("TENANTCTL_ACRONIS_CLIENT_ID", sim.client_id().to_string()));
            vars.push((
                "TENANTCTL_ACRONIS_CLIENT_SECRET",
                sim.client_secret().to_string(),
            ));
        }
        if let Some(sim) = &self.commvault {
            vars.push(("TENANTCTL_COMMVAULT_URL", sim.url()));
            vars.push(("TENANTCTL_COMMVAULT_USERNAME", sim.username().to_string()));
            vars.push(("TENANTCTL_COMMVAULT_PASSWORD", sim.password().to_string()));
        }
        if let Some(sim) = &self.vspc {
            vars.push(("TENANTCTL_VSPC_URL", sim.url()));
            vars.push(("TENANTCTL_VSPC_USERNAME", sim.username().to_string()));
            vars.push(("TENANTCTL_VSPC_PASSWORD", sim.password().to_string()));
        }
        vars.into_iter()
            .map(|(name, value)| format!("export {name}={}", shell_quote(&value)))
            .collect()
    }
}

/// Starts the simulators `args` asks for.
pub fn start(args: &Args) -> Result<Running> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.fault_rate),
        "--fault-rate must be between 0 and 1, got {}",
        args.fault_rate
    );
    let random_faults = random_fault_rules(args.fault_rate);
    let acronis = if args.vendor.includes(Which::Acronis) {
        let mut config = AcronisConfig {
            tenants: args.tenants,
            seed: args.seed,
            ..AcronisConfig::default()
        };
        if let Some(secs) = args.token_lifetime {
            config.token_lifetime_secs = secs;
        }
        let addr = SocketAddr::new(args.bind, args.acronis_port);
        let sim = AcronisSim::start_on(addr, config)
            .with_context(|| format!("starting the Acronis simulator on {addr}"))?;
        random_faults.iter().for_each(|r| sim.inject(r.clone()));
        Some(sim)
    } else {
        None
    };
    let commvault = if args.vendor.includes(Which::Commvault) {
        let mut config = CommvaultConfig {
            tenants: args.tenants,
            seed: args.seed,
            login_failure: match args.commvault_login_failure {
                LoginFailureArg::Http200 => LoginFailure::Http200,
                LoginFailureArg::Http401 => LoginFailure::Http401,
            },
            ..CommvaultConfig::default()
        };
        if let Some(secs) = args.token_lifetime {
            config.token_idle_timeout_secs = secs;
        }
        if args.commvault_writes_per_hour.is_some() || args.commvault_reads_per_hour.is_some() {
            config.rate_limit = Some(RateLimit::per_hour(
                args.commvault_writes_per_hour.unwrap_or(u32::MAX),
                args.commvault_reads_per_hour.unwrap_or(u32::MAX),
            ));
        }
        let addr = SocketAddr::new(args.bind, args.commvault_port);
        let sim = CommvaultSim::start_on(addr, config)
            .with_context(|| format!("starting the Commvault simulator on {addr}"))?;
        random_faults.iter().for_each(|r| sim.inject(r.clone()));
        Some(sim)
    } else {
        None
    };
    let vspc = if args.vendor.includes(Which::Vspc) {
        let mut config = VspcConfig {
            tenants: args.tenants,
            seed: args.seed,
            async_patches: args.vspc_async_patches,
            async_polls: args.vspc_async_polls,
            ..VspcConfig::default()
        };
        if let Some(secs) = args.token_lifetime {
            config.token_lifetime_secs = secs;
        }
        if let Some(requests) = args.vspc_requests_per_minute {
            config.rate_limit = Some(VspcRateLimit {
                requests,
                period: std::time::Duration::from_secs(60),
            });
        }
        let addr = SocketAddr::new(args.bind, args.vspc_port);
        let sim = VspcSim::start_on(addr, config)
            .with_context(|| format!("starting the VSPC simulator on {addr}"))?;
        random_faults.iter().for_each(|r| sim.inject(r.clone()));
        Some(sim)
    } else {
        None
    };
    Ok(Running {
        acronis,
        commvault,
        vspc,
    })
}

/// Rules answering a fraction `rate` of requests, half with a 500 and half with a reset.
fn random_fault_rules(rate: f64) -> Vec<FaultRule> {
    if rate <= 0.0 {
        return Vec::new();
    }
    let half = rate / 2.0;
    // The second rule only sees requests the first let through, so scale it up to keep the
    // two outcomes equally likely.
    let second = if half < 1.0 { half / (1.0 - half) } else { 1.0 };
    vec![
        FaultRule::random(half, Fault::status(500)),
        FaultRule::random(second.min(1.0), Fault::Reset),
    ]
}

/// Runs the program: start, print the exports, serve until a signal (or stdin EOF).
pub fn run(args: Args) -> Result<()> {
    let running = start(&args)?;
    let mut stdout = std::io::stdout().lock();
    for line in running.exports() {
        writeln!(stdout, "{line}").context("writing to stdout")?;
    }
    stdout.flush().context("flushing stdout")?;
    drop(stdout);
    if let Some(sim) = &running.acronis {
        eprintln!(
            "acronis simulator: {} ({} tenants, control API {}/_sim/)",
            sim.url(),
            sim.tenant_count(),
            sim.url()
        );
    }
    if let Some(sim) = &running.commvault {
        eprintln!(
            "commvault simulator: {} ({} companies, control API {}/_sim/)",
            sim.url(),
            sim.organization_count(),
            sim.base_url()
        );
    }
    if let Some(sim) = &running.vspc {
        eprintln!(
            "vspc simulator: {} ({} companies, API {}, control API {}/_sim/)",
            sim.url(),
            sim.company_count(),
            sim.api_url(),
            sim.url()
        );
    }
    wait_for_stop(args.exit_on_stdin_close)?;
    eprintln!("simulator: stopping");
    drop(running);
    Ok(())
}

fn wait_for_stop(exit_on_stdin_close: bool) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the signal runtime")?;
    runtime.block_on(async {
        let (stdin_tx, stdin_rx) = tokio::sync::oneshot::channel::<()>();
        if exit_on_stdin_close {
            std::thread::Builder::new()
                .name("stdin-watch".to_string())
                .spawn(move || {
                    let mut sink = [0u8; 1024];
                    let mut stdin = std::io::stdin();
                    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
                    let _ = stdin_tx.send(());
                })
                .context("starting the stdin watcher")?;
        } else {
            // Never fires: the sender lives until the end of the block.
            std::mem::forget(stdin_tx);
        }
        let stdin_closed = async {
            if stdin_rx.await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        #[cfg(unix)]
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("installing the SIGTERM handler")?;
        #[cfg(unix)]
        let terminated = terminate.recv();
        #[cfg(not(unix))]
        let terminated = std::future::pending::<Option<()>>();
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("waiting for Ctrl-C")?,
            _ = terminated => {}
            () = stdin_closed => {}
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_for_all() {
        let args = Args::parse_from(["tenantctl-simulator", "--tenants", "3"]);
        let running = start(&args).unwrap();
        let lines = running.exports();
        assert_eq!(lines.len(), 9);
        assert!(lines[0].starts_with("export TENANTCTL_ACRONIS_URL='http://127.0.0.1:"));
        assert_eq!(
            lines[1],
            "export TENANTCTL_ACRONIS_CLIENT_ID='tenantctl-demo'"
        );
        assert_eq!(
            lines[2],
            "export TENANTCTL_ACRONIS_CLIENT_SECRET='demo-secret'"
        );
        assert!(lines[3].ends_with("/commandcenter/api'"));
        assert_eq!(lines[4], "export TENANTCTL_COMMVAULT_USERNAME='admin'");
        assert_eq!(
            lines[5],
            "export TENANTCTL_COMMVAULT_PASSWORD='demo-password'"
        );
        assert_eq!(running.acronis.as_ref().unwrap().tenant_count(), 3 + 10);
        assert!(lines[6].starts_with("export TENANTCTL_VSPC_URL='http://127.0.0.1:"));
        assert_eq!(
            lines[7],
            "export TENANTCTL_VSPC_USERNAME='vspc\\administrator'"
        );
        assert_eq!(lines[8], "export TENANTCTL_VSPC_PASSWORD='demo-password'");
        assert_eq!(running.vspc.as_ref().unwrap().company_count(), 3 + 6);
    }

    #[test]
    fn both_is_still_accepted_and_starts_every_simulator() {
        let args = Args::parse_from(["tenantctl-simulator", "--vendor", "both", "--tenants", "1"]);
        assert_eq!(args.vendor, Which::All);
        let running = start(&args).unwrap();
        assert!(running.acronis.is_some() && running.commvault.is_some() && running.vspc.is_some());
        let all = Args::parse_from(["tenantctl-simulator", "--vendor", "all"]);
        assert_eq!(all.vendor, Which::All);
    }

    #[test]
    fn vspc_only_with_its_options() {
        let args = Args::parse_from([
            "tenantctl-simulator",
            "--vendor",
            "vspc",
            "--vspc-requests-per-minute",
            "100",
            "--vspc-async-patches",
            "--vspc-async-polls",
            "0",
            "--token-lifetime",
            "60",
        ]);
        assert_eq!(args.vspc_async_polls, 0);
        assert_eq!(
            Args::parse_from(["tenantctl-simulator"]).vspc_async_polls,
            2,
            "the default"
        );
        let running = start(&args).unwrap();
        assert!(running.acronis.is_none() && running.commvault.is_none());
        let lines = running.exports();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("export TENANTCTL_VSPC_URL="));
    }

    #[test]
    fn one_vendor_only() {
        let args = Args::parse_from(["tenantctl-simulator", "--vendor", "commvault"]);
        let running = start(&args).unwrap();
        assert!(running.acronis.is_none() && running.vspc.is_none());
        assert_eq!(running.exports().len(), 3);
    }

    #[test]
    fn rejects_bad_fault_rate() {
        let args = Args::parse_from(["tenantctl-simulator", "--fault-rate", "1.5"]);
        assert!(start(&args).is_err());
    }

    #[test]
    fn random_rules_split_evenly() {
        let rules = random_fault_rules(0.2);
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].probability, Some(0.1));
        let p2 = rules[1].probability.unwrap();
        assert!((0.9 * p2 - 0.1).abs() < 1e-9);
        assert!(random_fault_rules(0.0).is_empty());
    }
}
