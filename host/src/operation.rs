//! One action on one tenant, as `tenantctl status|disable|enable|offboard|delete` and the
//! service's `POST /v1/vendors/{vendor}/tenants/{id}/{action}` both carry it out: the checks
//! made before anything is sent, then the run with its audit journal.

use std::sync::Arc;

use crate::Account;
use crate::account::{RunOptions, WriteObserver};
use crate::audit::{self, OperationAudit};
use crate::journal::{Journal, Stamp};
use crate::plugin::Plugin;
use crate::plugin::bindings::{Action, ActionRequest, TenantSelector};
use crate::report::TenantResult;

/// Why an action is refused before anything is sent. Each front end words it in its own
/// terms (`--yes` on the command line, `"confirm": true` in the service).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The vendor's plugin does not offer the action.
    Unsupported,
    /// A delete must name the tenant it expects (`expect_name`).
    NeedsExpectName,
    /// A destructive action must be confirmed (unless it is a dry run).
    NeedsConfirmation,
}

/// Checks `action` on `plugin` before anything is sent: supported, a delete names the
/// tenant it expects, a destructive action is confirmed or a dry run.
pub fn refusal(
    plugin: &Plugin,
    action: Action,
    expect_name: Option<&str>,
    confirmed: bool,
    dry_run: bool,
) -> Option<Refusal> {
    if !plugin.supports(action) {
        return Some(Refusal::Unsupported);
    }
    if action == Action::Delete && expect_name.is_none() {
        return Some(Refusal::NeedsExpectName);
    }
    if plugin.is_destructive(action) && !confirmed && !dry_run {
        return Some(Refusal::NeedsConfirmation);
    }
    None
}

/// What the actions a plugin offers are called, e.g. `status, disable, enable`.
pub fn offered_actions(plugin: &Plugin) -> Vec<&'static str> {
    plugin
        .info()
        .actions
        .iter()
        .map(|a| a.action.name())
        .collect()
}

/// The tenant as given, refusing empty values and wildcards in ids before anything is
/// sent; the error says which.
pub fn selector(id: Option<&str>, name: Option<&str>) -> Result<TenantSelector, String> {
    match (id, name) {
        (Some(id), _) if id.trim().is_empty() => Err("the tenant id is empty".into()),
        (Some(id), _) if id.contains(['*', '?', '%']) => Err(format!(
            "the tenant id {id:?} looks like a wildcard; tenantctl acts on exact ids only"
        )),
        (Some(id), _) => Ok(TenantSelector::Id(id.trim().to_string())),
        (None, Some(name)) if name.trim().is_empty() => Err("the tenant name is empty".into()),
        (None, Some(name)) => Ok(TenantSelector::Name(name.to_string())),
        (None, None) => Err("no tenant given: name it by id or by name".into()),
    }
}

/// Where a write is journaled, and on whose behalf.
#[derive(Debug, Clone)]
pub struct Journaling {
    /// The open audit journal.
    pub journal: Arc<Journal>,
    /// Who asked: `user@host` on the command line, the token's name in the service.
    pub operator: String,
    /// Why, as the operator said.
    pub reason: Option<String>,
}

/// Runs `request` on `account` with `options` (whose observer is replaced by the journal's).
/// A write that is not a dry run is journaled in `journaling`: an intent before each
/// request that changes the tenant, and the result.
pub async fn run(
    account: &Account,
    vendor: &str,
    request: &ActionRequest,
    mut options: RunOptions,
    journaling: Option<&Journaling>,
) -> TenantResult {
    let writes = request.action != Action::Status && !options.dry_run;
    let audit = match (journaling, &request.tenant) {
        (Some(journaling), Some(selector)) if writes => Some(Arc::new(OperationAudit::new(
            journaling.journal.clone(),
            Stamp::new(
                account.plugin(),
                &journaling.operator,
                journaling.reason.as_deref(),
            ),
            None,
            vendor,
            request.action.name(),
            audit::target(selector),
        ))),
        _ => None,
    };
    options.observer = audit.clone().map(|audit| audit as Arc<dyn WriteObserver>);
    let mut result = account.run(request, &options).await;
    if let Some(audit) = &audit {
        audit.finish(&mut result).await;
    }
    result
}
