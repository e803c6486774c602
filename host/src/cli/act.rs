//! `tenantctl status|disable|enable|offboard|delete`: one action on one tenant.

use super::{
    EXIT_FAILED, EXIT_OK, Invocation, Output, TargetArgs, UsageError, load_catalog_for, print_line,
};
use std::sync::Arc;

use crate::account::unix_now;
use crate::credentials;
use crate::http::HttpClient;
use crate::journal::Journal;
use crate::operation::{self, Journaling, Refusal};
use crate::plugin::Compilation;
use crate::plugin::bindings::{Action, ActionRequest, TenantSelector};
use crate::transcript::Recorder;
use crate::{Account, RunOptions};

/// Runs `action` on the tenant `args` names, prints its result and returns the exit code.
pub async fn run(cli: &Invocation, action: Action, args: &TargetArgs) -> Result<u8, UsageError> {
    let selector = selector(args)?;
    let (_runtime, catalog) =
        load_catalog_for(cli, Some(&args.vendor), Compilation::QuickStart).await?;
    let plugin = catalog
        .get(&args.vendor)
        .ok_or_else(|| UsageError(catalog.missing_vendor(&args.vendor)))?;
    match operation::refusal(
        plugin,
        action,
        args.expect_name.as_deref(),
        args.yes,
        args.dry_run,
    ) {
        None => {}
        Some(Refusal::Unsupported) => {
            return Err(UsageError(format!(
                "{} does not support {}; it offers: {} (it speaks contract {}{}); nothing was sent",
                plugin,
                action.name(),
                operation::offered_actions(plugin).join(", "),
                plugin.contract(),
                if action == Action::Delete && plugin.contract().starts_with("0.1.") {
                    ", and delete arrived in contract 0.2: install a newer plugin"
                } else {
                    ""
                }
            )));
        }
        Some(Refusal::NeedsExpectName) => {
            return Err(UsageError(
                "delete cannot be undone, so it needs --expect-name NAME (the tenant's exact \
                 name, as `tenantctl status` shows it) as well as --yes; nothing was sent"
                    .into(),
            ));
        }
        Some(Refusal::NeedsConfirmation) => {
            return Err(UsageError(format!(
                "{} on {} is destructive and cannot be undone by tenantctl; add --yes to \
                 confirm, or --dry-run to see what would be sent (nothing was sent)",
                action.name(),
                args.vendor
            )));
        }
    }
    let reach = credentials::reach(
        plugin.info(),
        args.url.as_deref(),
        &cli.config.vendor(&args.vendor),
        |name| std::env::var(name).ok(),
        args.run.http()?,
    )
    .map_err(UsageError)?;
    let http = HttpClient::new(reach.http)?;
    let recorder = args
        .record
        .as_ref()
        .map(|_| Arc::new(Recorder::new(http.clone())));
    let now = unix_now();
    let account = match &recorder {
        Some(recorder) => Account::new(plugin.clone(), &reach.url, reach.values, recorder.clone())
            .map(|account| account.with_clock(move || now)),
        None => Account::new(plugin.clone(), &reach.url, reach.values, http),
    }
    .map_err(|err| UsageError(format!("--url: {err}")))?;

    let request = ActionRequest {
        action,
        tenant: Some(selector.clone()),
    };
    // Every write goes to the audit journal; a read or a dry run writes nothing.
    let journaling = if action == Action::Status || args.dry_run {
        None
    } else {
        let journal = Journal::open(&args.run.journal_path()?)?;
        Some(Journaling {
            operator: journal.operator.clone(),
            journal: Arc::new(journal),
            reason: args.run.reason.clone(),
        })
    };
    let options = RunOptions {
        dry_run: args.dry_run,
        expect_name: args.expect_name.clone(),
        observer: None,
        deadline: Some(args.run.deadline()),
        abort: None,
    };
    let result = operation::run(
        &account,
        &args.vendor,
        &request,
        options.clone(),
        journaling.as_ref(),
    )
    .await;
    if let (Some(recorder), Some(path)) = (&recorder, &args.record) {
        let mut transcript = recorder.transcript(&account, &request, &options, now, &result);
        transcript.description = format!(
            "{} {} {}: {}",
            args.vendor,
            action.name(),
            args.tenant_name
                .as_deref()
                .or(args.tenant.as_deref())
                .unwrap_or_default(),
            result.to_text_line()
        );
        let json = serde_json::to_string_pretty(&transcript).expect("a transcript serializes");
        std::fs::write(path, json + "\n").map_err(|err| {
            UsageError(format!("writing the transcript {}: {err}", path.display()))
        })?;
    }
    match cli.output {
        Output::Json => print_line(&result.to_json_line()),
        Output::Text | Output::Csv => {
            print_line(&result.to_text_line());
            for note in &result.notes {
                print_line(&format!("  note: {note}"));
            }
        }
    }
    Ok(if result.status.is_success() {
        EXIT_OK
    } else {
        EXIT_FAILED
    })
}

/// The tenant as given, refusing empty values and wildcards before anything is sent.
fn selector(args: &TargetArgs) -> Result<TenantSelector, UsageError> {
    let flag = if args.tenant.is_some() {
        "--tenant"
    } else {
        "--tenant-name"
    };
    operation::selector(args.tenant.as_deref(), args.tenant_name.as_deref())
        .map_err(|why| UsageError(format!("{flag}: {why}")))
}
