//! Checking an input row on its own: vendor, action, target, and what makes it the same row
//! as one in an earlier run.

use std::collections::HashMap;

use super::input::InputRow;
use crate::audit;
use crate::journal::{RowKey, row_key};
use crate::plugin::bindings::{Action, ActionRequest, TenantSelector};
use crate::report::{ErrorKind, ResultError, TenantResult};

/// A row that can run (as far as the row itself tells).
#[derive(Debug, Clone)]
pub struct Task {
    /// Its line in the input (the CSV header is line 1).
    pub line: u64,
    /// Its position among the input's rows, from 1.
    pub ordinal: u64,
    /// Which occurrence of the same vendor, action and target in the input it is, from 1.
    pub occurrence: u64,
    /// The vendor id.
    pub vendor: String,
    /// What to do to which tenant.
    pub request: ActionRequest,
    /// The tenant as asked for, `id:…` or `name:…`.
    pub target: String,
    /// Fail unless the tenant is named exactly this.
    pub expect_name: Option<String>,
    /// The row's own reason, if it gives one.
    pub reason: Option<String>,
}

impl Task {
    /// What resume knows the row by.
    pub fn key(&self) -> RowKey {
        row_key(
            &self.vendor,
            self.request.action.name(),
            &self.target,
            self.occurrence,
        )
    }

    /// A result for this row before it runs.
    pub fn result(&self, dry_run: bool) -> TenantResult {
        let mut result = TenantResult::new(
            &self.vendor,
            self.request.action.name(),
            self.request.tenant.as_ref(),
            dry_run,
        );
        result.row = Some(self.line);
        result
    }
}

/// A row that cannot run, already as its result.
pub type BadRow = TenantResult;

/// Checks one row. `default_action` (`--action`) is used when the row has none.
pub fn check(
    input: InputRow,
    ordinal: u64,
    default_action: Option<Action>,
    dry_run: bool,
) -> Result<Task, Box<BadRow>> {
    let line = input.line;
    let bad = |result: TenantResult, message: String| {
        let mut result = result.failed(ResultError::new(
            ErrorKind::InvalidInput,
            format!("line {line}: {message}"),
        ));
        result.row = Some(line);
        Box::new(result)
    };
    let row = match input.row {
        Ok(row) => row,
        Err(reason) => return Err(bad(TenantResult::new("", "", None, dry_run), reason)),
    };
    let clean = |value: Option<String>| {
        value
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let vendor = clean(row.vendor);
    let action_name = clean(row.action);
    let tenant = clean(row.tenant);
    let tenant_name = clean(row.tenant_name);
    let mut expect_name = clean(row.expect_name);
    let selector = match (&tenant, &tenant_name) {
        (Some(id), _) => Some(TenantSelector::Id(id.clone())),
        (None, Some(name)) => Some(TenantSelector::Name(name.clone())),
        (None, None) => None,
    };
    let shown = TenantResult::new(
        vendor.as_deref().unwrap_or_default(),
        action_name.as_deref().unwrap_or_default(),
        selector.as_ref(),
        dry_run,
    );
    let Some(vendor) = vendor else {
        return Err(bad(shown, "the vendor is missing".into()));
    };
    let action = match (action_name.as_deref(), default_action) {
        (Some(name), default) => match parse_action(name) {
            Some(action) if default.is_none_or(|d| d == action) => action,
            Some(action) => {
                return Err(bad(
                    shown,
                    format!(
                        "the row says {}, but --action says {}; remove one",
                        action.name(),
                        default.map(Action::name).unwrap_or_default()
                    ),
                ));
            }
            None => {
                return Err(bad(
                    shown,
                    format!("unknown action {name:?}; use {}", action_names()),
                ));
            }
        },
        (None, Some(default)) => default,
        (None, None) => {
            return Err(bad(
                shown,
                "the action is missing: add an action column or pass --action".into(),
            ));
        }
    };
    let Some(selector) = selector else {
        return Err(bad(
            shown,
            "the tenant is missing: give tenant (an id) or tenant_name".into(),
        ));
    };
    if let TenantSelector::Id(id) = &selector {
        if id.contains(['*', '?', '%']) {
            return Err(bad(
                shown,
                format!("tenant {id:?} looks like a wildcard; give exact ids"),
            ));
        }
        // With both an id and a name (as `tenantctl list` writes them), act on the id and
        // make sure it still has that name.
        if expect_name.is_none() {
            expect_name = tenant_name.clone();
        }
    }
    Ok(Task {
        line,
        ordinal,
        occurrence: 0,
        target: audit::target(&selector),
        vendor,
        request: ActionRequest {
            action,
            tenant: Some(selector),
        },
        expect_name,
        reason: clean(row.reason),
    })
}

/// Numbers each row among the rows with the same vendor, action and target, so a row keeps
/// its identity when other rows are fixed, added or removed around it.
#[derive(Debug, Default)]
pub struct Occurrences(HashMap<RowKey, u64>);

impl Occurrences {
    /// Sets `task.occurrence`.
    pub fn number(&mut self, task: &mut Task) {
        let count = self
            .0
            .entry(row_key(
                &task.vendor,
                task.request.action.name(),
                &task.target,
                0,
            ))
            .or_default();
        *count += 1;
        task.occurrence = *count;
    }
}

/// Every action a row may name (`list` acts on no tenant, so no row may ask for it).
const ACTIONS: &[Action] = &[
    Action::Status,
    Action::Disable,
    Action::Enable,
    Action::Offboard,
    Action::Delete,
];

/// The action called `name` (any case).
pub fn parse_action(name: &str) -> Option<Action> {
    ACTIONS
        .iter()
        .copied()
        .find(|action| action.name().eq_ignore_ascii_case(name))
}

fn action_names() -> String {
    ACTIONS
        .iter()
        .map(|action| action.name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::input::Rows;

    fn tasks(text: &'static str, default: Option<Action>) -> Vec<Result<Task, Box<BadRow>>> {
        let mut occurrences = Occurrences::default();
        Rows::new(Box::new(text.as_bytes()))
            .unwrap()
            .enumerate()
            .map(|(n, row)| {
                let mut checked = check(row, n as u64 + 1, default, false);
                if let Ok(task) = &mut checked {
                    occurrences.number(task);
                }
                checked
            })
            .collect()
    }

    #[test]
    fn rows_are_checked_and_numbered_by_content() {
        let read = tasks(
            "vendor,action,tenant,tenant_name,expect_name\n\
             acronis,disable,,Acme,\n\
             acronis,frobnicate,,Acme,\n\
             acronis,disable,,Acme,\n\
             ,disable,x,,\n\
             acronis,disable,a*,,\n\
             acronis,disable,,,\n",
            None,
        );
        let first = read[0].as_ref().unwrap();
        assert_eq!((first.line, first.occurrence), (2, 1));
        assert!(
            read[1]
                .as_ref()
                .unwrap_err()
                .error
                .as_ref()
                .unwrap()
                .message
                .contains("unknown action")
        );
        let again = read[2].as_ref().unwrap();
        assert_eq!((again.line, again.occurrence), (4, 2));
        assert_ne!(first.key(), again.key());
        for bad in &read[3..] {
            let error = bad.as_ref().unwrap_err().error.clone().unwrap();
            assert_eq!(error.kind, ErrorKind::InvalidInput);
        }
    }

    #[test]
    fn a_listing_feeds_apply_with_a_default_action() {
        let read = tasks(
            "vendor,tenant,tenant_name,enabled\nacronis,0fcd,Acme Corp,true\n",
            Some(Action::Disable),
        );
        let task = read[0].as_ref().unwrap();
        assert_eq!(task.request.action, Action::Disable);
        assert_eq!(task.request.tenant, Some(TenantSelector::Id("0fcd".into())));
        assert_eq!(task.expect_name.as_deref(), Some("Acme Corp"));

        let conflicting = tasks(
            "vendor,action,tenant\nacronis,enable,x\n",
            Some(Action::Disable),
        );
        assert!(conflicting[0].is_err());
        let missing = tasks("vendor,tenant\nacronis,x\n", None);
        assert!(missing[0].is_err());
    }
}
