//! The steps of an action: find the company (by id, or by name through the list), read its
//! deactivation state, decide, and write only when something has to change.

use serde::{Deserialize, Serialize};
use tenantctl_plugin_sdk::{
    Action, ActionRequest, Context, ErrorDetail, Failure, HttpResponse, Intent, Outcome, Session,
    Step, TenantRef, TenantSelector,
};

use crate::api::{self, DeactivateOptions, Standing};

/// What offboarding did, for every successful offboard.
const OFFBOARD_NOTE: &str = "Offboarding removed every user of the company as owner of \
    their clients and disabled backup on their subclients and VM clients. The company itself \
    is not deactivated (use `disable` for that), and tenantctl cannot undo the offboarding.";

/// The action, in a form that travels in the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// Read only.
    Status,
    /// Deactivate.
    Disable,
    /// Activate.
    Enable,
    /// Offboard.
    Offboard,
}

impl From<Action> for Kind {
    fn from(action: Action) -> Self {
        match action {
            Action::Status => Kind::Status,
            Action::Disable => Kind::Disable,
            Action::Enable => Kind::Enable,
            Action::Offboard => Kind::Offboard,
        }
    }
}

/// A company as read, carried into the write step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Organization id.
    pub id: u64,
    /// Company name.
    pub name: String,
    /// What was switched off when it was read.
    pub options: DeactivateOptions,
}

impl Target {
    fn tenant(&self) -> TenantRef {
        TenantRef::new(self.id.to_string(), self.name.clone())
    }

    fn enabled(&self) -> bool {
        self.options.enabled()
    }

    /// An outcome for this company, noting a partial deactivation seen when it was read.
    fn outcome(&self, before: bool, after: Option<bool>) -> Outcome {
        let outcome = Outcome::for_tenant(self.tenant()).enabled(Some(before), after);
        if self.options.standing() == Standing::Partly {
            outcome.note(format!(
                "Partly deactivated when read: {}.",
                self.options.describe_parts()
            ))
        } else {
            outcome
        }
    }
}

/// Where an action stands between two steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// Waiting for the list of companies, to find the one called `name`.
    Find {
        /// The action.
        kind: Kind,
        /// The name asked for, trimmed.
        name: String,
    },
    /// Waiting for the company's details.
    Read {
        /// The action.
        kind: Kind,
        /// The organization id.
        id: u64,
        /// The name the company had in the list, when it was found by name.
        listed: Option<String>,
    },
    /// Waiting for the answer to the action's write.
    Write {
        /// The action.
        kind: Kind,
        /// The company as read before the write.
        target: Target,
    },
}

/// `begin-action`: checks the input and asks for the company (or for the list to find it).
pub fn begin(ctx: &Context, session: &Session, request: &ActionRequest) -> Step<State, Outcome> {
    let webservice = match api::webservice(ctx) {
        Ok(webservice) => webservice,
        Err(failure) => return Step::Fail(failure),
    };
    let kind = Kind::from(request.action);
    match &request.tenant {
        TenantSelector::Id(raw) => match api::parse_id(raw) {
            Ok(id) => Step::send(
                api::read_request(&webservice, &session.token, id),
                State::Read {
                    kind,
                    id,
                    listed: None,
                },
            ),
            Err(failure) => Step::Fail(failure),
        },
        TenantSelector::Name(name) => {
            let name = name.trim();
            if name.is_empty() {
                return Step::Fail(Failure::InvalidInput(ErrorDetail::new(
                    "the company name is empty; give the company's name as shown in the \
                     Command Center, or its id with --tenant",
                )));
            }
            Step::send(
                api::list_request(&webservice, &session.token),
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
    let webservice = match api::webservice(ctx) {
        Ok(webservice) => webservice,
        Err(failure) => return Step::Fail(failure),
    };
    match state {
        State::Find { kind, name } => found(&webservice, session, kind, &name, response),
        State::Read { kind, id, listed } => read(&webservice, session, kind, id, listed, response),
        State::Write { kind, target } => written(kind, &target, response),
    }
}

/// Picks the one company whose name matches `name` case-insensitively, then reads it.
fn found(
    webservice: &str,
    session: &Session,
    kind: Kind,
    name: &str,
    response: &HttpResponse,
) -> Step<State, Outcome> {
    if !response.is_success() {
        return Step::Fail(api::failure(
            response,
            &format!("listing companies to find `{name}`"),
        ));
    }
    let companies = match api::parse_list(response) {
        Ok(companies) => companies,
        Err(failure) => return Step::Fail(failure),
    };
    // Commvault's own SDK lowercases names to compare them; a prefix is not a match.
    let wanted = name.to_lowercase();
    let mut matches: Vec<api::Listed> = Vec::new();
    for company in companies {
        // The same company listed twice is one match, not an ambiguity.
        let listed_twice = company.id.is_some() && matches.iter().any(|seen| seen.id == company.id);
        if company.name.trim().to_lowercase() == wanted && !listed_twice {
            matches.push(company);
        }
    }
    match matches.as_slice() {
        [] => Step::Fail(Failure::NotFound(ErrorDetail::new(format!(
            "no Commvault company is named `{name}` (names compare case-insensitively and \
             must match in full); check the name in the Command Center or use --tenant with \
             the company id"
        )))),
        [one] => match one.id {
            Some(id) => Step::send(
                api::read_request(webservice, &session.token, id),
                State::Read {
                    kind,
                    id,
                    listed: Some(one.name.clone()),
                },
            ),
            None => Step::Fail(Failure::Vendor(ErrorDetail::new(format!(
                "Commvault listed the company `{}` without a usable id (shortName.id); \
                 use --tenant with its id",
                one.name
            )))),
        },
        several => {
            let ids = several
                .iter()
                .map(|company| match company.id {
                    Some(id) => format!("{id} (`{}`)", company.name),
                    None => format!("an entry without id (`{}`)", company.name),
                })
                .collect::<Vec<_>>()
                .join(", ");
            Step::Fail(Failure::Ambiguous(ErrorDetail::new(format!(
                "{} Commvault companies are named `{name}` (ignoring case): ids {ids}; \
                 use --tenant with the id of the one you mean",
                several.len()
            ))))
        }
    }
}

/// Reads the company's state and decides what to send, if anything.
fn read(
    webservice: &str,
    session: &Session,
    kind: Kind,
    id: u64,
    listed: Option<String>,
    response: &HttpResponse,
) -> Step<State, Outcome> {
    let company = if response.is_success() {
        api::parse_company(response, id)
    } else {
        Err(api::failure(response, &format!("reading company {id}")))
    };
    let company = match company {
        Ok(company) => company,
        // Found by name: the operator should still see which company it was.
        Err(failure) => {
            return match listed {
                Some(name) => Step::Done(
                    Outcome::for_tenant(TenantRef::new(id.to_string(), name)).error(failure),
                ),
                None => Step::Fail(failure),
            };
        }
    };
    let target = Target {
        id: company.id.unwrap_or(id),
        name: company.name.or(listed).unwrap_or_default(),
        options: company.options,
    };
    decide(webservice, session, kind, target)
}

/// Finishes without writing when the company is already as asked, otherwise sends the write
/// with its intent.
fn decide(webservice: &str, session: &Session, kind: Kind, target: Target) -> Step<State, Outcome> {
    let token = &session.token;
    let before = target.enabled();
    let (request, after) =
        match (kind, target.options.standing()) {
            (Kind::Status, Standing::Partly) => {
                return Step::Done(target.outcome(before, Some(before)).note(
                    "`disable` completes the deactivation; `enable` activates the company.",
                ));
            }
            (Kind::Status, _) => return Step::Done(target.outcome(before, Some(before))),
            (Kind::Disable, Standing::Deactivated) => {
                return Step::Done(target.outcome(before, Some(before)).note(
                    "The company is already deactivated: backup, restore and login are disabled.",
                ));
            }
            (Kind::Enable, Standing::Active) => {
                return Step::Done(
                    target
                        .outcome(before, Some(before))
                        .note("The company is already active."),
                );
            }
            (Kind::Disable, _) => (api::deactivate_request(webservice, token, target.id), false),
            (Kind::Enable, _) => (api::activate_request(webservice, token, target.id), true),
            // Offboarding leaves the company's activation as it is.
            (Kind::Offboard, _) => (api::offboard_request(webservice, token, target.id), before),
        };
    let intent = Intent {
        tenant: target.tenant(),
        enabled_before: Some(before),
        enabled_after: Some(after),
    };
    Step::write(request, State::Write { kind, target }, intent)
}

/// Reads the answer to the write.
fn written(kind: Kind, target: &Target, response: &HttpResponse) -> Step<State, Outcome> {
    let before = target.enabled();
    let (doing, after) = match kind {
        Kind::Disable => ("deactivating", false),
        Kind::Enable => ("activating", true),
        Kind::Offboard => ("offboarding", before),
        // Status never writes, so no answer to a write can belong to it.
        Kind::Status => {
            return Step::Done(target.outcome(before, Some(before)));
        }
    };
    let doing = format!("{doing} company `{}` ({})", target.name, target.id);
    let result = if response.is_success() {
        api::parse_write(response, &doing)
    } else {
        Err(api::failure(response, &doing))
    };
    match result {
        // Whether anything changed before the failure is not known.
        Err(failure) => Step::Done(target.outcome(before, None).error(failure)),
        Ok(said) => {
            let outcome = target.outcome(before, Some(after)).changed();
            let outcome = match kind {
                Kind::Disable => outcome
                    .note("The company is deactivated: backup, restore and login are disabled."),
                Kind::Enable => {
                    outcome.note("The company is active: backup, restore and login are enabled.")
                }
                _ => outcome.note(OFFBOARD_NOTE),
            };
            match said {
                Some(said) if kind == Kind::Offboard => {
                    Step::Done(outcome.note(format!("Commvault said: {said}")))
                }
                _ => Step::Done(outcome),
            }
        }
    }
}
