//! The steps of an action: find the company (by uid, or by name through the filtered list),
//! read its status, decide, and write only when something has to change; a write answered
//! "queued" (202) is confirmed by reading the company again.

use serde::{Deserialize, Serialize};
use tenantctl_plugin_sdk::{
    Action, ActionRequest, Context, ErrorDetail, Failure, HttpResponse, Intent, Outcome, Session,
    Step, TenantRef, TenantSelector,
};

use crate::api::{self, Api, Company, Standing};

/// What disabling does, for every company disabled.
pub(crate) const DISABLED_NOTE: &str = "The company is disabled: its users cannot log in to \
    Veeam Service Provider Console, provider administrators cannot run management tasks for \
    it (discovery, jobs, invoices), and its active alarms are resolved. `enable` reverses it.";

/// What enabling does, for every company enabled.
pub(crate) const ENABLED_NOTE: &str =
    "The company is active: its users can log in and it can be managed again.";

/// The action, in a form that travels in the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// Read only.
    Status,
    /// Set `status` to `Disabled`.
    Disable,
    /// Set `status` to `Active`.
    Enable,
}

impl Kind {
    /// The `status` value the action writes, and whether the company is enabled after it.
    fn wanted(self) -> Option<(&'static str, Standing)> {
        match self {
            Kind::Status => None,
            Kind::Disable => Some(("Disabled", Standing::Disabled)),
            Kind::Enable => Some(("Active", Standing::Active)),
        }
    }
}

/// A company as read, carried into the write step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// `instanceUid`.
    pub uid: String,
    /// `name`.
    pub name: String,
    /// `status` when it was read.
    pub status: String,
}

impl Target {
    fn tenant(&self) -> TenantRef {
        TenantRef::new(self.uid.clone(), self.name.clone())
    }

    fn enabled(&self) -> bool {
        api::standing(&self.status) == Standing::Active
    }

    /// An outcome for this company, naming a status other than Active or Disabled.
    fn outcome(&self, before: bool, after: Option<bool>) -> Outcome {
        let outcome = Outcome::for_tenant(self.tenant()).enabled(Some(before), after);
        if api::standing(&self.status) == Standing::Other {
            outcome.note(format!("The company's status is {}.", self.status))
        } else {
            outcome
        }
    }
}

/// Where an action stands between two steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// Waiting for the filtered company list, to find the one called `name`.
    Find {
        /// The action.
        kind: Kind,
        /// The name asked for, trimmed.
        name: String,
    },
    /// Waiting for the company.
    Read {
        /// The action.
        kind: Kind,
        /// The company uid.
        uid: String,
        /// The name the company had in the list, when it was found by name.
        listed: Option<String>,
    },
    /// Waiting for the answer to the PATCH.
    Write {
        /// The action.
        kind: Kind,
        /// The company as read before the write.
        target: Target,
    },
    /// Waiting for the company again, after a PATCH answered without the company (202).
    Verify {
        /// The action.
        kind: Kind,
        /// The company as read before the write.
        target: Target,
        /// The async action the server named (`Location`), if it named one.
        location: Option<String>,
    },
}

/// `begin-action`: checks the input and asks for the company (or for the list to find it).
pub fn begin(ctx: &Context, session: &Session, request: &ActionRequest) -> Step<State, Outcome> {
    let api = match Api::new(&ctx.base_url) {
        Ok(api) => api,
        Err(failure) => return Step::Fail(failure),
    };
    let kind = match request.action {
        Action::Status => Kind::Status,
        Action::Disable => Kind::Disable,
        Action::Enable => Kind::Enable,
        Action::Offboard => {
            return Step::Fail(Failure::Unsupported(ErrorDetail::new(
                "Veeam Service Provider Console has no offboarding that tenantctl offers \
                 (its only destructive company operation deletes the company); use `disable`",
            )));
        }
    };
    match &request.tenant {
        TenantSelector::Id(raw) => match api::parse_uid(raw) {
            Ok(uid) => Step::send(
                api.company(&session.token, &uid),
                State::Read {
                    kind,
                    uid,
                    listed: None,
                },
            ),
            Err(failure) => Step::Fail(failure),
        },
        TenantSelector::Name(name) => {
            let name = name.trim();
            if name.is_empty() {
                return Step::Fail(Failure::InvalidInput(ErrorDetail::new(
                    "the company name is empty; give the company's name as shown in Veeam \
                     Service Provider Console, or its uid with --tenant",
                )));
            }
            Step::send(
                api.find(&session.token, name),
                State::Find {
                    kind,
                    name: name.to_string(),
                },
            )
        }
    }
}

/// `resume-action`: continues with the answer to the request of the step `state` names.
pub fn resume(
    ctx: &Context,
    session: &Session,
    state: State,
    response: &HttpResponse,
) -> Step<State, Outcome> {
    let api = match Api::new(&ctx.base_url) {
        Ok(api) => api,
        Err(failure) => return Step::Fail(failure),
    };
    match state {
        State::Find { kind, name } => found(&api, session, kind, &name, response),
        State::Read { kind, uid, listed } => read(&api, session, kind, uid, listed, response),
        State::Write { kind, target } => written(&api, session, kind, target, response),
        State::Verify {
            kind,
            target,
            location,
        } => verified(kind, &target, location.as_deref(), response),
    }
}

/// Picks the one company whose name matches `name` in full, ignoring case, then reads it.
fn found(
    api: &Api,
    session: &Session,
    kind: Kind,
    name: &str,
    response: &HttpResponse,
) -> Step<State, Outcome> {
    let doing = format!("looking for the company `{name}`");
    if !response.is_success() {
        return Step::Fail(api::failure(response, &doing));
    }
    let (companies, cut_short) = match api::parse_list(response, &doing) {
        Ok(list) => list,
        Err(failure) => return Step::Fail(failure),
    };
    // The server was asked to filter; the names are checked here all the same, so a server
    // that ignored the filter (or matched by prefix) cannot make the plugin guess.
    let wanted = name.to_lowercase();
    let mut matches: Vec<Company> = Vec::new();
    for company in companies {
        let same_name = company
            .name
            .as_deref()
            .is_some_and(|n| n.trim().to_lowercase() == wanted);
        let listed_twice =
            company.uid.is_some() && matches.iter().any(|seen| seen.uid == company.uid);
        if same_name && !listed_twice {
            matches.push(company);
        }
    }
    if cut_short {
        return Step::Fail(Failure::Ambiguous(ErrorDetail::new(format!(
            "the list of companies named `{name}` was cut short (more than {} answers); \
             use --tenant with the company uid",
            api::LIST_LIMIT
        ))));
    }
    match matches.as_slice() {
        [] => Step::Fail(Failure::NotFound(ErrorDetail::new(format!(
            "no Veeam Service Provider Console company is named `{name}` (names compare \
             ignoring case and must match in full); check the name in the console or use \
             --tenant with the company uid"
        )))),
        [one] => match one.uid.as_deref().map(api::parse_uid) {
            Some(Ok(uid)) => Step::send(
                api.company(&session.token, &uid),
                State::Read {
                    kind,
                    uid,
                    listed: one.name.clone(),
                },
            ),
            _ => Step::Fail(Failure::Vendor(ErrorDetail::new(format!(
                "Veeam Service Provider Console listed the company `{name}` without a usable \
                 instanceUid; use --tenant with its uid"
            )))),
        },
        several => {
            let uids = several
                .iter()
                .map(|company| {
                    format!(
                        "{} (`{}`)",
                        company.uid.as_deref().unwrap_or("an entry without uid"),
                        company.name.as_deref().unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            Step::Fail(Failure::Ambiguous(ErrorDetail::new(format!(
                "{} Veeam Service Provider Console companies are named `{name}` (ignoring \
                 case): {uids}; use --tenant with the uid of the one you mean",
                several.len()
            ))))
        }
    }
}

/// Reads the company's status and decides what to send, if anything.
fn read(
    api: &Api,
    session: &Session,
    kind: Kind,
    uid: String,
    listed: Option<String>,
    response: &HttpResponse,
) -> Step<State, Outcome> {
    let doing = format!("reading company {uid}");
    let company = if response.is_success() {
        api::parse_company(response, &doing)
    } else {
        Err(api::failure(response, &doing))
    };
    let company = match company {
        Ok(company) => company,
        // Found by name: the operator should still see which company it was.
        Err(failure) => {
            return match listed {
                Some(name) => {
                    Step::Done(Outcome::for_tenant(TenantRef::new(uid, name)).error(failure))
                }
                None => Step::Fail(failure),
            };
        }
    };
    let target = Target {
        uid: company.uid.unwrap_or(uid),
        name: company.name.or(listed).unwrap_or_default(),
        status: company.status.unwrap_or_default(),
    };
    decide(api, session, kind, target)
}

/// Finishes without writing when the company is already as asked (or cannot be moved),
/// otherwise sends the PATCH with its intent.
fn decide(api: &Api, session: &Session, kind: Kind, target: Target) -> Step<State, Outcome> {
    let before = target.enabled();
    let Some((value, wanted)) = kind.wanted() else {
        return Step::Done(target.outcome(before, Some(before)));
    };
    let current = api::standing(&target.status);
    if current == wanted {
        let note = match wanted {
            Standing::Active => "The company is already active.",
            _ => "The company is already disabled.",
        };
        return Step::Done(target.outcome(before, Some(before)).note(note));
    }
    if current == Standing::Other {
        let verb = if kind == Kind::Disable {
            "disable"
        } else {
            "enable"
        };
        return Step::Done(
            target
                .outcome(before, Some(before))
                .error(Failure::InvalidInput(ErrorDetail::new(format!(
                    "the company `{}` ({}) is {}; tenantctl only switches companies between \
                     Active and Disabled, so it will not {verb} it",
                    target.name, target.uid, target.status
                )))),
        );
    }
    let intent = Intent {
        tenant: target.tenant(),
        enabled_before: Some(before),
        enabled_after: Some(wanted == Standing::Active),
    };
    Step::write(
        api.set_status(&session.token, &target.uid, value),
        State::Write { kind, target },
        intent,
    )
}

/// The success outcome of a write whose effect was seen.
fn done(kind: Kind, target: &Target) -> Outcome {
    let after = kind == Kind::Enable;
    Outcome::for_tenant(target.tenant())
        .enabled(Some(target.enabled()), Some(after))
        .changed()
        .note(if after { ENABLED_NOTE } else { DISABLED_NOTE })
}

/// Reads the answer to the PATCH.
fn written(
    api: &Api,
    session: &Session,
    kind: Kind,
    target: Target,
    response: &HttpResponse,
) -> Step<State, Outcome> {
    let before = target.enabled();
    let Some((value, wanted)) = kind.wanted() else {
        // Status never writes, so no answer to a write can belong to it.
        return Step::Done(target.outcome(before, Some(before)));
    };
    let doing = format!(
        "setting the status of company `{}` ({}) to {value}",
        target.name, target.uid
    );
    if !response.is_success() {
        // Whether anything changed before the failure is not known.
        return Step::Done(
            target
                .outcome(before, None)
                .error(api::failure(response, &doing)),
        );
    }
    // Queued for asynchronous execution, or no company in the answer: read it back.
    if response.status == 202 || response.body.iter().all(u8::is_ascii_whitespace) {
        let location = response
            .header("Location")
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string);
        return Step::send(
            api.company(&session.token, &target.uid),
            State::Verify {
                kind,
                target,
                location,
            },
        );
    }
    match api::parse_company(response, &doing) {
        Err(failure) => Step::Done(target.outcome(before, None).error(failure)),
        Ok(company) => {
            let now = company.status.unwrap_or_default();
            if api::standing(&now) == wanted {
                Step::Done(done(kind, &target))
            } else {
                Step::Done(
                    target
                        .outcome(before, Some(api::standing(&now) == Standing::Active))
                        .error(Failure::Vendor(
                            ErrorDetail::new(format!(
                                "Veeam Service Provider Console accepted the change of company \
                                 `{}` ({}) to {value} (HTTP {}) but the company it returned is \
                                 {now}",
                                target.name, target.uid, response.status
                            ))
                            .status(response.status),
                        )),
                )
            }
        }
    }
}

/// Reads the company again after a PATCH that was queued.
fn verified(
    kind: Kind,
    target: &Target,
    location: Option<&str>,
    response: &HttpResponse,
) -> Step<State, Outcome> {
    let before = target.enabled();
    let Some((value, wanted)) = kind.wanted() else {
        return Step::Done(target.outcome(before, Some(before)));
    };
    let doing = format!(
        "reading company `{}` ({}) back after setting its status to {value}",
        target.name, target.uid
    );
    let company = if response.is_success() {
        api::parse_company(response, &doing)
    } else {
        Err(api::failure(response, &doing))
    };
    let queued = match location {
        Some(location) => format!(" (async action {location})"),
        None => String::new(),
    };
    match company {
        Err(failure) => Step::Done(target.outcome(before, None).error(failure)),
        Ok(company) => {
            let now = company.status.unwrap_or_default();
            if api::standing(&now) == wanted {
                Step::Done(done(kind, target).note(format!(
                    "Veeam Service Provider Console applied the change asynchronously{queued}."
                )))
            } else {
                Step::Done(
                    target
                        .outcome(before, Some(api::standing(&now) == Standing::Active))
                        .error(Failure::Vendor(ErrorDetail::new(format!(
                            "Veeam Service Provider Console queued the change of company `{}` \
                             ({}) to {value}{queued}, but the company is still {now}; check \
                             again later with `status`",
                            target.name, target.uid
                        )))),
                )
            }
        }
    }
}
