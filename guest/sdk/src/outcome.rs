//! Building outcomes and failures.

use crate::{ErrorDetail, Failure, ListedTenant, Outcome, RateLimit, TenantRef};

impl ErrorDetail {
    /// A detail with only a message.
    pub fn new(message: impl Into<String>) -> Self {
        ErrorDetail {
            message: message.into(),
            http_status: None,
            vendor_code: None,
        }
    }

    /// Adds the HTTP status that revealed the error.
    pub fn status(mut self, status: u16) -> Self {
        self.http_status = Some(status);
        self
    }

    /// Adds the vendor's own error code.
    pub fn code(mut self, code: impl ToString) -> Self {
        self.vendor_code = Some(code.to_string());
        self
    }
}

impl Failure {
    /// The failure's kind as the CLI reports it, e.g. `not_found`.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Auth(_) | Failure::SessionExpired(_) => "auth",
            Failure::NotFound(_) => "not_found",
            Failure::Ambiguous(_) => "ambiguous",
            Failure::Conflict(_) => "conflict",
            Failure::RateLimited(_) => "rate_limited",
            Failure::Vendor(_) => "vendor",
            Failure::InvalidInput(_) => "invalid_input",
            Failure::Unsupported(_) => "unsupported",
        }
    }

    /// The failure's details.
    pub fn detail(&self) -> &ErrorDetail {
        match self {
            Failure::Auth(detail)
            | Failure::SessionExpired(detail)
            | Failure::NotFound(detail)
            | Failure::Ambiguous(detail)
            | Failure::Conflict(detail)
            | Failure::Vendor(detail)
            | Failure::InvalidInput(detail)
            | Failure::Unsupported(detail) => detail,
            Failure::RateLimited(RateLimit { detail, .. }) => detail,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind(), self.detail().message)
    }
}

impl TenantRef {
    /// A tenant with the given id and name.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        TenantRef {
            id: id.into(),
            name: name.into(),
        }
    }
}

impl ListedTenant {
    /// A tenant of a listing; `enabled` is `None` when the listing does not say.
    pub fn new(id: impl Into<String>, name: impl Into<String>, enabled: Option<bool>) -> Self {
        ListedTenant {
            id: id.into(),
            name: name.into(),
            enabled,
        }
    }
}

impl Outcome {
    /// An outcome for `tenant` that changed nothing yet and has no error.
    pub fn for_tenant(tenant: TenantRef) -> Self {
        Outcome {
            tenant: Some(tenant),
            enabled_before: None,
            enabled_after: None,
            changed: false,
            error: None,
            notes: Vec::new(),
        }
    }

    /// An outcome carrying only `error`.
    pub fn failed(error: Failure) -> Self {
        Outcome {
            tenant: None,
            enabled_before: None,
            enabled_after: None,
            changed: false,
            error: Some(error),
            notes: Vec::new(),
        }
    }

    /// Sets the state before and after.
    pub fn enabled(mut self, before: Option<bool>, after: Option<bool>) -> Self {
        self.enabled_before = before;
        self.enabled_after = after;
        self
    }

    /// Marks the outcome as changed.
    pub fn changed(mut self) -> Self {
        self.changed = true;
        self
    }

    /// Sets the error.
    pub fn error(mut self, error: Failure) -> Self {
        self.error = Some(error);
        self
    }

    /// Adds a note for the operator.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
}
