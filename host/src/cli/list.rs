//! `tenantctl list`: every tenant the account can act on, streamed as the vendor pages it.

use std::io::Write as _;

use clap::Args;

use super::{EXIT_FAILED, EXIT_OK, Invocation, Output, UsageError, eprint_line, load_catalog_for};
use crate::Account;
use crate::account::RunOptions;
use crate::credentials;
use crate::http::HttpClient;
use crate::plugin::Compilation;
use crate::plugin::bindings::{Action, ListedTenant};
use crate::report::wire_name;

/// Arguments of `tenantctl list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The vendor, as `tenantctl plugins list` shows it (e.g. acronis, commvault).
    #[arg(long)]
    pub vendor: String,
    /// The vendor's base URL. Default: TENANTCTL_<VENDOR>_URL.
    #[arg(long)]
    pub url: Option<String>,
    /// Seconds allowed for each HTTP request.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// Seconds the whole listing may take, every page, retry and renewal included.
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub deadline: u64,
}

/// The CSV header of `list --output csv`: the columns `apply --action ACTION` reads.
pub const CSV_HEADER: &str = "vendor,tenant,tenant_name,enabled";

/// Lists the tenants; exit 1 when the listing stopped part-way (what was printed stands).
pub async fn run(cli: &Invocation, args: &ListArgs) -> Result<u8, UsageError> {
    let (_runtime, catalog) =
        load_catalog_for(cli, Some(&args.vendor), Compilation::QuickStart).await?;
    let plugin = catalog
        .get(&args.vendor)
        .ok_or_else(|| UsageError(catalog.missing_vendor(&args.vendor)))?;
    if !plugin.supports(Action::List) {
        return Err(UsageError(format!(
            "{plugin} does not support list (it speaks contract {}; listing arrived in contract \
             0.2): install a newer plugin for {}",
            plugin.contract(),
            args.vendor
        )));
    }
    let reach = credentials::reach(
        plugin.info(),
        args.url.as_deref(),
        &cli.config.vendor(&args.vendor),
        |name| std::env::var(name).ok(),
        crate::http::HttpSettings {
            timeout: std::time::Duration::from_secs(args.timeout),
            ..crate::http::HttpSettings::default()
        },
    )
    .map_err(UsageError)?;
    let http = HttpClient::new(reach.http)?;
    let account = Account::new(plugin.clone(), &reach.url, reach.values, http)
        .map_err(|err| UsageError(format!("--url: {err}")))?;
    let options = RunOptions {
        deadline: Some(std::time::Duration::from_secs(args.deadline)),
        ..RunOptions::default()
    };

    let vendor = args.vendor.clone();
    let output = cli.output;
    if output == Output::Csv {
        write_out(&format!("{CSV_HEADER}\n"));
    }
    let mut on_page = |page: &[ListedTenant]| {
        write_out(&format_page(&vendor, output, page));
        std::ops::ControlFlow::Continue(())
    };
    match account.list(&options, &mut on_page).await {
        Ok(count) => {
            eprint_line(&format!("list: {count} tenants on {vendor}"));
            Ok(EXIT_OK)
        }
        Err(error) => {
            eprint_line(&format!(
                "error: the listing of {vendor} stopped: {}: {}{}",
                wire_name(error.kind),
                error.message,
                error
                    .http_status
                    .map(|s| format!(" [HTTP {s}]"))
                    .unwrap_or_default()
            ));
            Ok(EXIT_FAILED)
        }
    }
}

/// One page in the chosen format, a line per tenant, each line ending in a newline.
pub fn format_page(vendor: &str, output: Output, page: &[ListedTenant]) -> String {
    let mut text = String::new();
    match output {
        Output::Json => {
            for tenant in page {
                let line = serde_json::json!({
                    "vendor": vendor,
                    "tenant_id": tenant.id,
                    "tenant_name": tenant.name,
                    "enabled": tenant.enabled,
                });
                text.push_str(&line.to_string());
                text.push('\n');
            }
        }
        Output::Csv => {
            let mut writer = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(Vec::new());
            for tenant in page {
                let enabled = match tenant.enabled {
                    Some(true) => "true",
                    Some(false) => "false",
                    None => "",
                };
                writer
                    .write_record([vendor, &tenant.id, &tenant.name, enabled])
                    .expect("writing CSV to memory");
            }
            let bytes = writer.into_inner().expect("writing CSV to memory");
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
        Output::Text => {
            for tenant in page {
                let state = match tenant.enabled {
                    Some(true) => "enabled",
                    Some(false) => "disabled",
                    None => "unknown",
                };
                text.push_str(&format!(
                    "{vendor} {:?} ({}): {state}\n",
                    tenant.name, tenant.id
                ));
            }
        }
    }
    text
}

/// Writes to stdout at once, scrubbed of secrets; a closed pipe (e.g. `| head`) is not an
/// error.
fn write_out(text: &str) {
    let text = crate::redact::scrub(text);
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::input::Rows;

    fn tenants() -> Vec<ListedTenant> {
        vec![
            ListedTenant {
                id: "0fcd".into(),
                name: "Acme, \"Corp\"".into(),
                enabled: Some(true),
            },
            ListedTenant {
                id: "42".into(),
                name: "Dormant".into(),
                enabled: None,
            },
        ]
    }

    #[test]
    fn csv_quotes_names_and_reads_back_as_batch_rows() {
        let csv = format!(
            "{CSV_HEADER}\n{}",
            format_page("acronis", Output::Csv, &tenants())
        );
        let rows: Vec<_> = Rows::new(Box::new(std::io::Cursor::new(csv.into_bytes())))
            .unwrap()
            .map(|row| row.row.unwrap())
            .collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].tenant.as_deref(), Some("0fcd"));
        assert_eq!(rows[0].tenant_name.as_deref(), Some("Acme, \"Corp\""));
        assert_eq!(rows[0].enabled.as_deref(), Some("true"));
        assert_eq!(rows[1].enabled.as_deref(), None);
    }

    #[test]
    fn json_lines_carry_null_for_unknown_state() {
        let text = format_page("commvault", Output::Json, &tenants());
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines[0]["tenant_id"], "0fcd");
        assert_eq!(lines[0]["enabled"], true);
        assert_eq!(lines[1]["vendor"], "commvault");
        assert!(lines[1]["enabled"].is_null());
    }
}
