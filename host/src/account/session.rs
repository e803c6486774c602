//! The session of one vendor account: logged in once for every operation that waits for it,
//! renewed before a known expiry and when a request finds it refused, and the rule that
//! tells an expired session from credentials that no longer work.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::plugin::bindings::Session;
use crate::report::{ErrorKind, ResultError};

/// Renew a session this many seconds before the vendor says it expires.
const RENEW_MARGIN_SECS: u32 = 60;

/// Renewals one operation may ask for before it gives up.
pub const MAX_RENEWALS: u32 = 3;

/// A session handed to an operation, with what the renewal rule needs to know about it.
#[derive(Clone)]
pub struct Lease {
    /// The session itself.
    pub session: Session,
    generation: u64,
    issued: Instant,
    /// Set once the session got an answer that was not a refusal: it worked.
    served: Arc<AtomicBool>,
}

impl Lease {
    /// Which login of the account this session came from (1 for the first); a renewed
    /// session has a higher one.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Notes that a request made with this session was answered without refusing it.
    pub fn mark_served(&self) {
        self.served.store(true, Ordering::Relaxed);
    }

    fn served(&self) -> bool {
        self.served.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
struct Slot {
    current: Option<Lease>,
    generation: u64,
    /// A login refused for its credentials stays refused: retrying would only hammer the
    /// vendor's login endpoint.
    refused: Option<ResultError>,
}

/// The account's session, shared by all its operations.
#[derive(Default)]
pub struct SessionCache {
    slot: tokio::sync::Mutex<Slot>,
}

impl SessionCache {
    /// The session to use: the current one, or a new one from `login` when there is none,
    /// when it is about to expire (`now` is the plugin's clock), or when `refused` is the
    /// current session. Operations that arrive while a login is under way wait for it, so one
    /// login serves everyone who saw the same session refused.
    pub async fn lease<F, Fut>(
        &self,
        refused: Option<&Lease>,
        now: u32,
        login: F,
    ) -> Result<Lease, ResultError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Session, ResultError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(refusal) = &slot.refused {
            return Err(refusal.clone());
        }
        if let Some(current) = &slot.current {
            let was_refused = refused.is_some_and(|r| r.generation == current.generation);
            let expiring = current
                .session
                .expires_at
                .is_some_and(|at| at <= now.saturating_add(RENEW_MARGIN_SECS));
            if !was_refused && !expiring {
                return Ok(current.clone());
            }
        }
        match login().await {
            Ok(session) => {
                slot.generation += 1;
                let lease = Lease {
                    session,
                    generation: slot.generation,
                    issued: Instant::now(),
                    served: Arc::default(),
                };
                slot.current = Some(lease.clone());
                Ok(lease)
            }
            Err(error) => {
                if error.kind == ErrorKind::Auth {
                    slot.refused = Some(error.clone());
                }
                Err(error)
            }
        }
    }
}

/// One operation's account of the sessions it saw refused.
#[derive(Debug)]
pub struct Renewals {
    started: Instant,
    renewed: u32,
    /// Sessions logged in for this operation and refused before they served anyone, in a row.
    refused_fresh: u32,
}

impl Renewals {
    /// For an operation starting now.
    pub fn new() -> Self {
        Renewals {
            started: Instant::now(),
            renewed: 0,
            refused_fresh: 0,
        }
    }

    /// Decides what a refusal of `lease` means: `Ok` to renew and start again, or the `auth`
    /// error that ends the operation.
    ///
    /// A session that served requests and is then refused has expired or been revoked:
    /// renew it (at most [`MAX_RENEWALS`] times per operation). A session logged in while
    /// this operation waited (for it, or for everyone who saw the previous one refused) and
    /// refused before it served a single request suggests the credentials no longer reach the
    /// tenant; a revocation can land in that window too, so it takes two such sessions in a
    /// row to fail the operation as `auth`.
    pub fn after_refusal(&mut self, lease: &Lease, vendor: &str) -> Result<(), ResultError> {
        let fresh = lease.issued >= self.started && !lease.served();
        self.refused_fresh = if fresh { self.refused_fresh + 1 } else { 0 };
        if self.refused_fresh >= 2 {
            return Err(ResultError::new(
                ErrorKind::Auth,
                format!(
                    "{vendor} refused {} sessions logged in for this operation before they served \
                     a single request: the credentials log in but no longer reach the tenant; \
                     check the account's rights",
                    self.refused_fresh
                ),
            ));
        }
        if self.renewed >= MAX_RENEWALS {
            return Err(ResultError::new(
                ErrorKind::Auth,
                format!(
                    "{vendor} refused the session {} times during this operation (renewed {} \
                     times); check that the credentials still have access",
                    self.renewed + 1,
                    self.renewed
                ),
            ));
        }
        self.renewed += 1;
        Ok(())
    }
}

impl Default for Renewals {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    fn session(token: &str) -> Session {
        Session {
            token: token.into(),
            expires_at: None,
            data: Vec::new(),
        }
    }

    #[tokio::test]
    async fn one_login_serves_everyone_and_a_refusal_renews_once() {
        let cache = SessionCache::default();
        let logins = AtomicU32::new(0);
        let login = || async {
            let n = logins.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(session(&format!("token-{n}")))
        };
        let first = cache.lease(None, 0, login).await.unwrap();
        let again = cache.lease(None, 0, login).await.unwrap();
        assert_eq!(again.session.token, "token-1");
        // Two operations saw the same session refused: one login between them.
        let a = cache.lease(Some(&first), 0, login).await.unwrap();
        let b = cache.lease(Some(&first), 0, login).await.unwrap();
        assert_eq!(
            (a.session.token.as_str(), b.session.token.as_str()),
            ("token-2", "token-2")
        );
        assert_eq!(logins.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn expiring_sessions_are_renewed_and_refused_logins_stick() {
        let cache = SessionCache::default();
        let expiring = || async {
            Ok(Session {
                expires_at: Some(100),
                ..session("t")
            })
        };
        let first = cache.lease(None, 0, expiring).await.unwrap();
        let later = cache.lease(None, 50, expiring).await.unwrap();
        assert_ne!(
            first.generation, later.generation,
            "renewed within the margin"
        );

        let cache = SessionCache::default();
        let refused = || async { Err(ResultError::new(ErrorKind::Auth, "bad credentials")) };
        assert!(cache.lease(None, 0, refused).await.is_err());
        let never = || async { panic!("a refused login is not tried again") };
        assert!(cache.lease(None, 0, never).await.is_err());
    }

    #[tokio::test]
    async fn the_renewal_rule() {
        let cache = SessionCache::default();
        let old = cache
            .lease(None, 0, || async { Ok(session("old")) })
            .await
            .unwrap();
        old.mark_served();

        // Sessions that served requests: renewed up to the limit.
        let mut renewals = Renewals::new();
        for _ in 0..MAX_RENEWALS {
            assert!(renewals.after_refusal(&old, "acronis").is_ok());
        }
        let err = renewals.after_refusal(&old, "acronis").unwrap_err();
        assert_eq!(err.kind, ErrorKind::Auth);

        // A session logged in for the operation and refused before serving anyone: once may
        // be a revocation, twice in a row is the credentials.
        let mut renewals = Renewals::new();
        let fresh = cache
            .lease(Some(&old), 0, || async { Ok(session("new")) })
            .await
            .unwrap();
        assert!(renewals.after_refusal(&fresh, "acronis").is_ok());
        let fresher = cache
            .lease(Some(&fresh), 0, || async { Ok(session("newer")) })
            .await
            .unwrap();
        let err = renewals.after_refusal(&fresher, "acronis").unwrap_err();
        assert!(err.message.contains("no longer reach"), "{}", err.message);

        // One that served in between resets the count.
        let mut renewals = Renewals::new();
        let a = cache
            .lease(Some(&fresher), 0, || async { Ok(session("a")) })
            .await
            .unwrap();
        assert!(renewals.after_refusal(&a, "acronis").is_ok());
        let b = cache
            .lease(Some(&a), 0, || async { Ok(session("b")) })
            .await
            .unwrap();
        b.mark_served();
        assert!(renewals.after_refusal(&b, "acronis").is_ok());
        let c = cache
            .lease(Some(&b), 0, || async { Ok(session("c")) })
            .await
            .unwrap();
        assert!(renewals.after_refusal(&c, "acronis").is_ok());
    }
}
