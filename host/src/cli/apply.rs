//! `tenantctl apply`: a batch from a file or standard input.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::{
    EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Invocation, Output, UsageError, eprint_line,
    load_catalog, print_line,
};
use crate::batch::{Batch, BatchOptions, Interrupts, Source};
use crate::plugin::Compilation;
use crate::report::TenantResult;

/// Arguments of `tenantctl apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The rows: a CSV file with a header row, a JSON Lines file, or - for standard input.
    /// Fields: vendor, action, tenant (an id) or tenant_name, and optionally expect_name.
    #[arg(long, value_name = "FILE|-")]
    pub input: String,
    /// Operations at once, across vendors.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,
    /// Read, but send nothing that changes a tenant; show what would be sent.
    #[arg(long)]
    pub dry_run: bool,
    /// Confirm destructive actions (required when any row offboards).
    #[arg(long)]
    pub yes: bool,
    /// Refuse an input with more rows than this.
    #[arg(long, value_name = "N")]
    pub max_targets: Option<u64>,
    /// Start no more rows after the first failure (rows under way finish).
    #[arg(long)]
    pub fail_fast: bool,
    /// Finish an interrupted run: skip rows the audit log shows done, run the others.
    #[arg(long)]
    pub resume: bool,
    /// The action of rows that name none (for inputs without an action column, such as
    /// `tenantctl list --output csv`).
    #[arg(long, value_name = "ACTION", value_parser = parse_action)]
    pub action: Option<crate::plugin::bindings::Action>,
    /// Timeouts, deadline, reason and audit journal.
    #[command(flatten)]
    pub run: super::RunArgs,
}

fn parse_action(name: &str) -> Result<crate::plugin::bindings::Action, String> {
    crate::batch::rows::parse_action(name).ok_or_else(|| format!("unknown action {name:?}"))
}

/// Runs the batch; exit 1 when any row failed.
pub async fn run(cli: &Invocation, args: &ApplyArgs) -> Result<u8, UsageError> {
    let (_runtime, catalog) = load_catalog(cli, Compilation::Optimized).await?;
    let config = cli.config.clone();
    let options = BatchOptions {
        source: if args.input == "-" {
            Source::Stdin
        } else {
            Source::File(PathBuf::from(&args.input))
        },
        action: args.action,
        concurrency: args.concurrency as usize,
        dry_run: args.dry_run,
        yes: args.yes,
        max_targets: args.max_targets,
        fail_fast: args.fail_fast,
        audit_log: args.run.journal_path()?,
        resume: args.resume,
        reason: args.run.reason.clone(),
        deadline: Some(args.run.deadline()),
        config,
        http: args.run.http()?,
    };
    let batch = Batch::new(&catalog, options, |name| std::env::var(name).ok())
        .map_err(|err| UsageError(err.0))?;
    let signals = tokio::spawn(on_interrupts(batch.interrupts()));

    let progress = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::hidden()
    };
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {pos}/{len} rows [{elapsed_precise}] {wide_bar} {msg}",
        )
        .expect("a valid template"),
    );
    let output = cli.output;
    let shown = progress.clone();
    let emit: Arc<dyn Fn(&TenantResult) + Send + Sync> = Arc::new(move |result: &TenantResult| {
        let line = match output {
            Output::Json => result.to_json_line(),
            Output::Text | Output::Csv => format!(
                "row {}: {}",
                result.row.unwrap_or_default(),
                result.to_text_line()
            ),
        };
        shown.suspend(|| print_line(&line));
        shown.inc(1);
    });
    let summary = batch
        .run(emit, |total| {
            if let Some(total) = total {
                progress.set_length(total);
            }
        })
        .await
        .map_err(|err| UsageError(err.0));
    signals.abort();
    let summary = summary?;
    progress.finish_and_clear();

    let counts: Vec<String> = summary
        .counts
        .iter()
        .map(|((vendor, status), n)| format!("{vendor} {status} {n}"))
        .collect();
    eprint_line(&format!(
        "apply: {} rows in {:.1} s: {}",
        summary.counts.values().sum::<u64>(),
        summary.elapsed.as_secs_f64(),
        if counts.is_empty() {
            "nothing to do".to_string()
        } else {
            counts.join(", ")
        }
    ));
    for (vendor, (requests, retries, logins)) in &summary.traffic {
        eprint_line(&format!(
            "  {vendor}: {requests} requests, {retries} retries, {logins} logins"
        ));
    }
    for estimate in &summary.estimates {
        eprint_line(&format!("  {estimate}"));
    }
    if summary.interrupted {
        eprint_line(&format!(
            "  interrupted: {} rows were not started; rows under way finished and are in the \
             audit log; run the same command with --resume to do the rest",
            summary.not_started
        ));
    } else if summary.not_started > 0 {
        eprint_line(&format!(
            "  --fail-fast stopped the batch: {} rows were not started; run the same command with --resume to finish them",
            summary.not_started
        ));
    }
    if summary.failed > 0 {
        eprint_line(&format!("  failed rows ({}):", summary.failed));
        for failure in summary.failures.values() {
            eprint_line(&format!("    {failure}"));
        }
        let more = summary.failed - summary.failures.len() as u64;
        if more > 0 {
            eprint_line(&format!(
                "    ... and {more} more (see the results on stdout)"
            ));
        }
    }
    Ok(if summary.interrupted {
        EXIT_INTERRUPTED
    } else if summary.all_ok() {
        EXIT_OK
    } else {
        EXIT_FAILED
    })
}

/// The first SIGINT or SIGTERM stops the batch (rows under way finish), the second aborts
/// the rows under way.
async fn on_interrupts(interrupts: Interrupts) {
    let Ok(mut terminate) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        return;
    };
    let mut next = async || {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    };
    next().await;
    eprint_line(
        "interrupted: starting no more rows; rows under way finish (interrupt again to abort them)",
    );
    interrupts.stop();
    next().await;
    eprint_line("interrupted again: aborting the rows under way");
    interrupts.abort();
}
