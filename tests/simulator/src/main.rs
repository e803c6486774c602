//! `tenantctl-simulator`: the vendor simulators as a standalone program.

use clap::Parser;

fn main() -> std::process::ExitCode {
    match tenantctl_simulator::cli::run(tenantctl_simulator::cli::Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tenantctl-simulator: {err:?}");
            std::process::ExitCode::FAILURE
        }
    }
}
