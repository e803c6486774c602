//! API tokens: created by `tenantctl tokens create`, shown once, stored as SHA-256 hashes,
//! checked on every `/v1/` request (so a revocation holds at the next request).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use super::State;
use super::api::ApiError;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// List and read.
    Read,
    /// Also disable and enable tenants, and run jobs.
    Operate,
    /// Also offboard and delete.
    Admin,
}

impl Role {
    /// `read`, `operate` or `admin`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Operate => "operate",
            Role::Admin => "admin",
        }
    }

    /// The role called `name`.
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "read" => Some(Role::Read),
            "operate" => Some(Role::Operate),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// The prefix of every token, so a leaked one is recognisable (e.g. by secret scanners).
pub const TOKEN_PREFIX: &str = "tctl_";

/// A new random token (256 bits).
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// What the database keeps of a token: its SHA-256, hex. A token is 256 random bits, so a
/// plain hash cannot be reversed by guessing.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Who is calling: the token's name and role.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name (the operator in the audit journal).
    pub name: String,
    /// The token's role.
    pub role: Role,
}

impl Caller {
    /// Refuses (403) a caller whose role is below `needed`, saying what `what` needs.
    pub fn require(&self, needed: Role, what: &str) -> Result<(), ApiError> {
        if self.role >= needed {
            return Ok(());
        }
        Err(ApiError::forbidden(format!(
            "{what} needs a token with role {} or higher; the token {:?} has role {}",
            needed.name(),
            self.name,
            self.role.name()
        )))
    }
}

impl FromRequestParts<Arc<State>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        let Some(header) = header else {
            return Err(ApiError::unauthorized(
                "no token: send `Authorization: Bearer TOKEN` (create one with `tenantctl tokens \
                 create NAME --role ROLE`)",
            ));
        };
        let Some(token) = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
        else {
            return Err(ApiError::unauthorized(
                "the Authorization header must be `Bearer TOKEN`",
            ));
        };
        let found = state
            .db
            .token_by_hash(&hash(token))
            .await
            .map_err(ApiError::internal)?;
        let Some((name, role)) = found else {
            return Err(ApiError::unauthorized(
                "the token is unknown or revoked (`tenantctl tokens list` shows the tokens)",
            ));
        };
        if let Some(slot) = parts.extensions.get::<super::api::CallerSlot>() {
            *slot.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(name.clone());
        }
        Ok(Caller { name, role })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 43);
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
        assert!(!hash(&a).contains(&a[TOKEN_PREFIX.len()..]));
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Admin > Role::Operate && Role::Operate > Role::Read);
        for role in [Role::Read, Role::Operate, Role::Admin] {
            assert_eq!(Role::parse(role.name()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
