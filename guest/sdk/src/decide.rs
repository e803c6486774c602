//! Deciding from a fresh read whether an action has anything to write: the rule every
//! vendor follows (send nothing when the tenant is already as asked; delete only what is
//! disabled).

use crate::{Action, ErrorDetail, Failure, Intent, Outcome, TenantRef};

/// Where a tenant stands, as its vendor reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Enabled: its users work normally.
    Enabled,
    /// Fully disabled.
    Disabled,
    /// Partly disabled (e.g. a Commvault company with only login disabled): reported as
    /// disabled, but `disable` still completes it, `enable` restores it, and `delete`
    /// refuses it like an enabled one.
    Partly(String),
    /// In a state this tool does not change (e.g. expired, being created); the reason is
    /// shown. Reported as disabled; `disable`, `enable` and `delete` refuse it.
    Locked(String),
}

impl Standing {
    /// Whether the tenant counts as enabled.
    pub fn enabled(&self) -> bool {
        matches!(self, Standing::Enabled)
    }
}

/// What an action has to do after reading the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to write: report this outcome (unchanged, or a refusal in its error).
    Done(Outcome),
    /// Write this change.
    Write(Change),
}

/// A change to write: the tenant and its state before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The tenant.
    pub tenant: TenantRef,
    /// The action that writes it.
    pub action: Action,
    /// Enabled before the write.
    pub before: bool,
    /// Enabled after it (`None` once deleted).
    pub after: Option<bool>,
}

impl Change {
    /// The intent to declare with the write.
    pub fn intent(&self) -> Intent {
        Intent {
            tenant: self.tenant.clone(),
            enabled_before: Some(self.before),
            enabled_after: self.after,
        }
    }

    /// The outcome once the write succeeded.
    pub fn done(&self) -> Outcome {
        Outcome::for_tenant(self.tenant.clone())
            .enabled(Some(self.before), self.after)
            .changed()
    }
}

/// Decides `action` for `tenant`, which stands as `standing`:
/// - `status`: done, unchanged;
/// - `disable`/`enable`: done when already as asked, a refusal when locked, else the write;
/// - `delete`: the write only when fully disabled, else an `invalid-input` refusal;
/// - `offboard`: always the write (no vendor reads back "offboarded"); the tenant stays
///   enabled or disabled as it was.
pub fn decide(action: Action, tenant: &TenantRef, standing: Standing) -> Decision {
    let before = standing.enabled();
    let unchanged = Outcome::for_tenant(tenant.clone()).enabled(Some(before), Some(before));
    let refuse = |message: String| {
        Decision::Done(
            unchanged
                .clone()
                .error(Failure::InvalidInput(ErrorDetail::new(message))),
        )
    };
    let name = format!("{} ({})", tenant.name, tenant.id);
    let write = |after| {
        Decision::Write(Change {
            tenant: tenant.clone(),
            action,
            before,
            after,
        })
    };
    match (action, &standing) {
        (Action::Status | Action::List, _) => Decision::Done(unchanged),
        (Action::Offboard, _) => write(Some(before)),
        (Action::Disable | Action::Enable, Standing::Locked(reason)) => refuse(format!(
            "{name} is {reason}; tenantctl only switches tenants between enabled and \
             disabled, so it will not {} it",
            action.name()
        )),
        (Action::Disable, Standing::Disabled) | (Action::Enable, Standing::Enabled) => {
            Decision::Done(unchanged)
        }
        (Action::Disable, _) => write(Some(false)),
        (Action::Enable, _) => write(Some(true)),
        (Action::Delete, Standing::Disabled) => write(None),
        (Action::Delete, Standing::Enabled) => refuse(format!(
            "{name} is enabled; a tenant must be disabled before it is deleted: run \
             `disable` first (nothing was deleted)"
        )),
        (Action::Delete, Standing::Partly(parts)) => refuse(format!(
            "{name} is not fully disabled ({parts}); run `disable` first, then delete it \
             (nothing was deleted)"
        )),
        (Action::Delete, Standing::Locked(reason)) => refuse(format!(
            "{name} is {reason}; only a disabled tenant can be deleted (nothing was deleted)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme() -> TenantRef {
        TenantRef::new("t1", "Acme")
    }

    fn written(decision: Decision) -> Change {
        match decision {
            Decision::Write(change) => change,
            Decision::Done(outcome) => panic!("expected a write, got {outcome:?}"),
        }
    }

    fn done(decision: Decision) -> Outcome {
        match decision {
            Decision::Done(outcome) => outcome,
            Decision::Write(change) => panic!("expected no write, got {change:?}"),
        }
    }

    #[test]
    fn enable_and_disable_write_only_what_differs() {
        let change = written(decide(Action::Disable, &acme(), Standing::Enabled));
        assert_eq!(change.intent().enabled_before, Some(true));
        assert_eq!(change.intent().enabled_after, Some(false));
        let outcome = change.done();
        assert!(outcome.changed);
        assert_eq!(outcome.tenant, Some(acme()));
        let same = done(decide(Action::Disable, &acme(), Standing::Disabled));
        assert!(!same.changed && same.error.is_none());
        assert_eq!(
            (same.enabled_before, same.enabled_after),
            (Some(false), Some(false))
        );
        assert!(written(decide(Action::Enable, &acme(), Standing::Disabled)).after == Some(true));
        assert!(
            done(decide(Action::Enable, &acme(), Standing::Enabled))
                .error
                .is_none()
        );
    }

    #[test]
    fn a_partly_disabled_tenant_is_completed_or_restored() {
        let partly = || Standing::Partly("login is disabled".into());
        assert!(!written(decide(Action::Disable, &acme(), partly())).before);
        assert_eq!(
            written(decide(Action::Enable, &acme(), partly())).after,
            Some(true)
        );
        let status = done(decide(Action::Status, &acme(), partly()));
        assert_eq!(status.enabled_before, Some(false));
    }

    #[test]
    fn locked_tenants_are_refused_and_status_reads_them() {
        let expired = || Standing::Locked("Expired".into());
        for action in [Action::Disable, Action::Enable, Action::Delete] {
            let outcome = done(decide(action, &acme(), expired()));
            let Some(Failure::InvalidInput(detail)) = &outcome.error else {
                panic!("{action:?}: {outcome:?}");
            };
            assert!(detail.message.contains("Expired"), "{}", detail.message);
            assert!(!outcome.changed);
        }
        assert!(
            done(decide(Action::Status, &acme(), expired()))
                .error
                .is_none()
        );
    }

    #[test]
    fn delete_needs_a_fully_disabled_tenant() {
        let change = written(decide(Action::Delete, &acme(), Standing::Disabled));
        assert_eq!((change.before, change.after), (false, None));
        for standing in [
            Standing::Enabled,
            Standing::Partly("backup is enabled".into()),
        ] {
            let outcome = done(decide(Action::Delete, &acme(), standing));
            let Some(Failure::InvalidInput(detail)) = &outcome.error else {
                panic!("{outcome:?}");
            };
            assert!(detail.message.contains("disable"), "{}", detail.message);
        }
    }

    #[test]
    fn offboard_always_writes_and_keeps_the_state() {
        let change = written(decide(Action::Offboard, &acme(), Standing::Enabled));
        assert_eq!((change.before, change.after), (true, Some(true)));
        let change = written(decide(Action::Offboard, &acme(), Standing::Disabled));
        assert_eq!((change.before, change.after), (false, Some(false)));
    }
}
