//! The steps of logging in and of acting on a tenant.

use serde::{Deserialize, Serialize};
use tenantctl_plugin_sdk::{
    Action, ActionRequest, Context, ErrorDetail, Failure, HttpRequest, HttpResponse, Intent,
    Outcome, Session, Step, TenantRef, TenantSelector,
};

use crate::api::{self, Api, Phase, SEARCH_LIMIT};

/// Version conflicts an update may meet before the action gives up.
pub const MAX_CONFLICTS: u32 = 5;

/// What every disable outcome tells the operator.
pub const DISABLED_NOTE: &str = "While the tenant is disabled, every user of it and of its \
     sub-tenants is blocked; its data is kept and billing continues.";
/// What every enable outcome tells the operator.
pub const ENABLED_NOTE: &str =
    "The tenant is enabled: access is restored for the users of it and of its sub-tenants.";

/// Where a login is.
#[derive(Debug, Serialize, Deserialize)]
pub enum LoginState {
    /// Waiting for the access token.
    Token,
    /// Waiting for the API client's registration, to learn its own tenant.
    Client {
        /// The access token just issued (the session's token once the login ends).
        token: String,
        /// When it expires.
        expires_at: Option<u32>,
    },
}

/// What a session keeps for later actions.
#[derive(Debug, Serialize, Deserialize)]
pub struct SessionData {
    /// The API client's own tenant: the root of name searches, and never to be disabled.
    pub root_tenant_id: String,
}

/// Where an action is.
#[derive(Debug, Serialize, Deserialize)]
pub struct ActionState {
    goal: Goal,
    stage: Stage,
}

/// What the action is after, as kept in the state (the host does not hand the request back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Goal {
    Status,
    Disable,
    Enable,
}

impl Goal {
    /// The `enabled` value the action wants, `None` for a read.
    fn wanted(self) -> Option<bool> {
        match self {
            Goal::Status => None,
            Goal::Disable => Some(false),
            Goal::Enable => Some(true),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
enum Stage {
    /// Waiting for the search for a name.
    Search { name: String },
    /// Waiting for the tenant itself; `name` is known when a search found it.
    Read {
        id: String,
        name: Option<String>,
        conflicts: u32,
    },
    /// Waiting for the answer to the update of a tenant that was `before`.
    Update {
        id: String,
        name: String,
        before: bool,
        conflicts: u32,
    },
}

type LoginStep = Step<LoginState, Session>;
type ActionStep = Step<ActionState, Outcome>;

/// Asks for an access token with the API client's id and secret.
pub fn begin_login(ctx: &Context) -> LoginStep {
    let request = || {
        let api = Api::new(&ctx.base_url)?;
        Ok(api.token(ctx.require("client-id")?, ctx.require("client-secret")?))
    };
    match request() {
        Ok(request) => Step::send(request, LoginState::Token),
        Err(failure) => Step::Fail(failure),
    }
}

/// Takes the token, then the API client's own tenant, into a session.
pub fn resume_login(ctx: &Context, state: LoginState, response: &HttpResponse) -> LoginStep {
    login_step(ctx, state, response).unwrap_or_else(Step::Fail)
}

fn login_step(
    ctx: &Context,
    state: LoginState,
    response: &HttpResponse,
) -> Result<LoginStep, Failure> {
    let api = Api::new(&ctx.base_url)?;
    let client_id = ctx.require("client-id")?;
    match state {
        LoginState::Token => {
            const DOING: &str = "requesting an access token";
            if !response.is_success() {
                return Err(api::failure(response, DOING, Phase::Login));
            }
            let token: api::Token = api::parse(response, DOING)?;
            if token.access_token.is_empty() {
                return Err(vendor(response, "the token answer has no access_token"));
            }
            Ok(Step::send(
                api.client(&token.access_token, client_id),
                LoginState::Client {
                    expires_at: token.expires_at(ctx.now),
                    token: token.access_token,
                },
            ))
        }
        LoginState::Client { token, expires_at } => {
            let doing = format!("reading the registration of API client {client_id}");
            if !response.is_success() {
                return Err(api::failure(response, &doing, Phase::Login));
            }
            let client: api::Client = api::parse(response, &doing)?;
            if client.tenant_id.is_empty() {
                return Err(vendor(
                    response,
                    &format!("the registration of API client {client_id} names no tenant_id"),
                ));
            }
            let data = SessionData {
                root_tenant_id: client.tenant_id,
            };
            Ok(Step::Done(Session::new(token, expires_at, &data)))
        }
    }
}

/// Starts an action: checks the input, then reads the tenant by id or searches its name.
pub fn begin_action(ctx: &Context, session: &Session, request: &ActionRequest) -> ActionStep {
    let start = || {
        let goal = match request.action {
            Action::Status => Goal::Status,
            Action::Disable => Goal::Disable,
            Action::Enable => Goal::Enable,
            Action::Offboard => {
                return Err(Failure::Unsupported(ErrorDetail::new(
                    "Acronis has no offboard action in tenantctl: use disable (reversible) \
                     instead",
                )));
            }
        };
        let run = Run::new(ctx, session, goal)?;
        match &request.tenant {
            TenantSelector::Id(id) => {
                api::check_tenant_id(id)?;
                Ok(run.read(id.clone(), None, 0))
            }
            TenantSelector::Name(name) => {
                if name.trim().is_empty() {
                    return Err(Failure::InvalidInput(ErrorDetail::new(
                        "the tenant name is empty: give the tenant's exact name or its id",
                    )));
                }
                Ok(run.send(
                    run.api.search(&session.token, &run.root, name),
                    Stage::Search { name: name.clone() },
                ))
            }
        }
    };
    start().unwrap_or_else(Step::Fail)
}

/// Continues an action with the answer to its last request.
pub fn resume_action(
    ctx: &Context,
    session: &Session,
    state: ActionState,
    response: &HttpResponse,
) -> ActionStep {
    let run = match Run::new(ctx, session, state.goal) {
        Ok(run) => run,
        Err(failure) => return Step::Fail(failure),
    };
    match state.stage {
        Stage::Search { name } => run.found(&name, response),
        Stage::Read {
            id,
            name,
            conflicts,
        } => run.decide(id, name, conflicts, response),
        Stage::Update {
            id,
            name,
            before,
            conflicts,
        } => run.updated(id, name, before, conflicts, response),
    }
}

/// One action in progress: what it is after, and the account it runs in.
struct Run<'a> {
    api: Api,
    session: &'a Session,
    /// The API client's own tenant.
    root: String,
    goal: Goal,
}

impl<'a> Run<'a> {
    fn new(ctx: &Context, session: &'a Session, goal: Goal) -> Result<Self, Failure> {
        let root = match session.data::<SessionData>() {
            Ok(data) if !data.root_tenant_id.is_empty() => data.root_tenant_id,
            // A session another plugin version made: a fresh login fixes it.
            _ => {
                return Err(Failure::SessionExpired(ErrorDetail::new(
                    "the session does not name the API client's own tenant; log in again",
                )));
            }
        };
        Ok(Run {
            api: Api::new(&ctx.base_url)?,
            session,
            root,
            goal,
        })
    }

    fn send(&self, request: HttpRequest, stage: Stage) -> ActionStep {
        let goal = self.goal;
        Step::send(request, ActionState { goal, stage })
    }

    fn read(&self, id: String, name: Option<String>, conflicts: u32) -> ActionStep {
        let request = self.api.tenant(&self.session.token, &id);
        self.send(
            request,
            Stage::Read {
                id,
                name,
                conflicts,
            },
        )
    }

    /// Picks the one tenant whose name is exactly `name` out of a search answer.
    fn found(&self, name: &str, response: &HttpResponse) -> ActionStep {
        let doing = format!("searching for a tenant named {name:?}");
        if !response.is_success() {
            return Step::Fail(api::failure(response, &doing, Phase::Action));
        }
        let answer: api::SearchAnswer = match api::parse(response, &doing) {
            Ok(answer) => answer,
            Err(failure) => return Step::Fail(failure),
        };
        let matches: Vec<&api::SearchItem> = answer
            .items
            .iter()
            .filter(|item| item.obj_type == "tenant" && item.name == name)
            .collect();
        let ambiguous = |message: String| Step::Fail(Failure::Ambiguous(ErrorDetail::new(message)));
        if matches.len() > 1 {
            let ids: Vec<String> = matches
                .iter()
                .map(|item| match item.kind.as_str() {
                    "" => item.id.clone(),
                    kind => format!("{} ({kind})", item.id),
                })
                .collect();
            return ambiguous(format!(
                "{} tenants are named {name:?}: {}; pick one and give its id with --tenant",
                matches.len(),
                ids.join(", ")
            ));
        }
        if answer.items.len() >= SEARCH_LIMIT {
            return ambiguous(format!(
                "the search for {name:?} returned {} results, as many as tenantctl asks for, \
                 so another tenant with this name may have been left out; give the tenant's \
                 id with --tenant",
                answer.items.len()
            ));
        }
        let Some(item) = matches.first() else {
            return Step::Fail(Failure::NotFound(ErrorDetail::new(format!(
                "no tenant is named exactly {name:?} under the API client's tenant (names \
                 match whole and case-sensitively); check the name or give the tenant's id \
                 with --tenant"
            ))));
        };
        if let Err(failure) = api::check_tenant_id(&item.id) {
            return Step::Fail(vendor(
                response,
                &format!("the search found tenant {name:?} with an unusable id: {failure}"),
            ));
        }
        // The search result carries neither `enabled` nor `version`: read the tenant itself.
        self.read(item.id.clone(), Some(item.name.clone()), 0)
    }

    /// Reads the tenant's state and decides: report it, leave it, refuse, or update it.
    fn decide(
        &self,
        id: String,
        name: Option<String>,
        conflicts: u32,
        response: &HttpResponse,
    ) -> ActionStep {
        let doing = format!("reading tenant {id}");
        let fail = |failure: Failure| match &name {
            Some(name) => Step::Done(Outcome::for_tenant(TenantRef::new(&id, name)).error(failure)),
            None => Step::Fail(failure),
        };
        if !response.is_success() {
            return fail(api::failure(response, &doing, Phase::Action));
        }
        let tenant: api::Tenant = match api::parse(response, &doing) {
            Ok(tenant) => tenant,
            Err(failure) => return fail(failure),
        };
        let Some(enabled) = tenant.enabled else {
            return fail(vendor(
                response,
                &format!("tenant {id} came without `enabled`"),
            ));
        };
        let tenant_name = match (tenant.name.is_empty(), &name) {
            (true, Some(name)) => name.clone(),
            _ => tenant.name,
        };
        let tenant_ref = TenantRef::new(&id, tenant_name);
        let state = Some(enabled);
        let outcome = Outcome::for_tenant(tenant_ref.clone()).enabled(state, state);
        let Some(wanted) = self.goal.wanted() else {
            return Step::Done(outcome);
        };
        let is_root = [id.as_str(), tenant.id.as_str()]
            .iter()
            .any(|candidate| candidate.eq_ignore_ascii_case(&self.root));
        if !wanted && is_root {
            let refusal = format!(
                "tenant {id} is the API client's own tenant: disabling it would lock tenantctl \
                 and every user of the account out; disable the tenants under it instead"
            );
            return Step::Done(outcome.error(Failure::InvalidInput(ErrorDetail::new(refusal))));
        }
        if enabled == wanted {
            return Step::Done(outcome.note(note(wanted)));
        }
        let Some(version) = tenant.version else {
            return Step::Done(outcome.error(vendor(
                response,
                &format!("tenant {id} came without `version`, which an update must carry"),
            )));
        };
        let request = self.api.update(&self.session.token, &id, wanted, version);
        let intent = Intent {
            tenant: tenant_ref.clone(),
            enabled_before: state,
            enabled_after: Some(wanted),
        };
        let stage = Stage::Update {
            id,
            name: tenant_ref.name,
            before: enabled,
            conflicts,
        };
        let goal = self.goal;
        Step::write(request, ActionState { goal, stage }, intent)
    }

    /// Reads the answer to an update: done, or a version conflict to re-read and retry.
    fn updated(
        &self,
        id: String,
        name: String,
        before: bool,
        conflicts: u32,
        response: &HttpResponse,
    ) -> ActionStep {
        // An update is only ever sent to flip the tenant.
        let wanted = !before;
        let outcome = Outcome::for_tenant(TenantRef::new(&id, &name));
        if api::is_version_conflict(response) {
            let conflicts = conflicts + 1;
            if conflicts >= MAX_CONFLICTS {
                let failure = Failure::Conflict(ErrorDetail::new(format!(
                    "tenant {id} kept changing while tenantctl updated it ({conflicts} version \
                     conflicts in a row); try again later"
                )));
                return Step::Done(outcome.enabled(Some(before), None).error(failure));
            }
            // Someone else changed the tenant: read it again and decide afresh.
            return self.read(id, Some(name), conflicts);
        }
        let doing = format!("updating tenant {id}");
        let failure = match response.is_success() {
            false => Some(api::failure(response, &doing, Phase::Action)),
            true => api::error_despite_success(response, &doing),
        };
        if let Some(failure) = failure {
            return Step::Done(outcome.enabled(Some(before), None).error(failure));
        }
        // The answer is the updated tenant; an empty or odd 2xx body still means it took effect.
        let after = api::parse::<api::Tenant>(response, &doing)
            .ok()
            .and_then(|tenant| tenant.enabled)
            .unwrap_or(wanted);
        let outcome = outcome.enabled(Some(before), Some(after)).changed();
        if after != wanted {
            let failure = vendor(
                response,
                &format!("Acronis accepted the update of tenant {id} but reports enabled={after}"),
            );
            return Step::Done(outcome.error(failure));
        }
        Step::Done(outcome.note(note(wanted)))
    }
}

fn note(enabled: bool) -> &'static str {
    if enabled { ENABLED_NOTE } else { DISABLED_NOTE }
}

/// A 2xx answer that does not say what it should.
fn vendor(response: &HttpResponse, message: &str) -> Failure {
    Failure::Vendor(
        ErrorDetail::new(format!("{message} ({})", response.body_excerpt()))
            .status(response.status),
    )
}
