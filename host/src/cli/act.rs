//! `tenantctl status|disable|enable|offboard|delete`: one action on one tenant.

use super::{
    EXIT_FAILED, EXIT_OK, Invocation, Output, TargetArgs, UsageError, load_catalog_for, print_line,
};
use std::sync::Arc;

use crate::account::{WriteObserver, unix_now};
use crate::audit::{self, OperationAudit};
use crate::credentials;
use crate::http::HttpClient;
use crate::journal::{Journal, Stamp};
use crate::plugin::bindings::{Action, ActionRequest, TenantSelector};
use crate::transcript::Recorder;
use crate::{Account, RunOptions};

/// Runs `action` on the tenant `args` names, prints its result and returns the exit code.
pub async fn run(cli: &Invocation, action: Action, args: &TargetArgs) -> Result<u8, UsageError> {
    let selector = selector(args)?;
    let (_runtime, catalog) = load_catalog_for(cli, Some(&args.vendor)).await?;
    let plugin = catalog
        .get(&args.vendor)
        .ok_or_else(|| UsageError(catalog.missing_vendor(&args.vendor)))?;
    if !plugin.supports(action) {
        let offered: Vec<&str> = plugin
            .info()
            .actions
            .iter()
            .map(|a| a.action.name())
            .collect();
        return Err(UsageError(format!(
            "{} does not support {}; it offers: {} (it speaks contract {}{}); nothing was sent",
            plugin,
            action.name(),
            offered.join(", "),
            plugin.contract(),
            if action == Action::Delete && plugin.contract().starts_with("0.1.") {
                ", and delete arrived in contract 0.2: install a newer plugin"
            } else {
                ""
            }
        )));
    }
    if action == Action::Delete && args.expect_name.is_none() {
        return Err(UsageError(
            "delete cannot be undone, so it needs --expect-name NAME (the tenant's exact name, \
             as `tenantctl status` shows it) as well as --yes; nothing was sent"
                .into(),
        ));
    }
    if plugin.is_destructive(action) && !args.yes && !args.dry_run {
        return Err(UsageError(format!(
            "{} on {} is destructive and cannot be undone by tenantctl; add --yes to confirm, \
             or --dry-run to see what would be sent (nothing was sent)",
            action.name(),
            args.vendor
        )));
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
    let audit = if action == Action::Status || args.dry_run {
        None
    } else {
        let journal = Journal::open(&args.run.journal_path()?)?;
        let stamp = Stamp::new(plugin, &journal.operator, args.run.reason.as_deref());
        Some(Arc::new(OperationAudit::new(
            Arc::new(journal),
            stamp,
            None,
            &args.vendor,
            action.name(),
            audit::target(&selector),
        )))
    };
    let options = RunOptions {
        dry_run: args.dry_run,
        expect_name: args.expect_name.clone(),
        observer: audit.clone().map(|audit| audit as Arc<dyn WriteObserver>),
        deadline: Some(args.run.deadline()),
        abort: None,
    };
    let mut result = account.run(&request, &options).await;
    if let Some(audit) = &audit {
        audit.finish(&mut result).await;
    }
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
    let (flag, value) = match (&args.tenant, &args.tenant_name) {
        (Some(id), _) => ("--tenant", id),
        (None, Some(name)) => ("--tenant-name", name),
        (None, None) => unreachable!("clap requires one of --tenant and --tenant-name"),
    };
    if value.trim().is_empty() {
        return Err(UsageError(format!("{flag} is empty")));
    }
    if flag == "--tenant" && value.contains(['*', '?', '%']) {
        return Err(UsageError(format!(
            "--tenant {value:?} looks like a wildcard; tenantctl acts on exact ids only"
        )));
    }
    Ok(match flag {
        "--tenant" => TenantSelector::Id(value.trim().to_string()),
        _ => TenantSelector::Name(value.clone()),
    })
}
