//! The global operation slots of a batch (`--concurrency`), and giving one back while an
//! operation only waits.
//!
//! A row holds its vendor's slot, then a global slot, while it runs. When it has nothing to
//! do but wait — for a rate limiter, a retry's backoff, a `Retry-After`, a plugin's poll
//! interval — it gives the global slot back and takes one again afterwards, so a vendor that
//! is rate-limited or slow to answer asynchronously never holds the slots other vendors'
//! rows need. Code that waits calls [`idle`]; outside a batch it simply waits.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

tokio::task_local! {
    static HELD: Arc<Held>;
}

/// The global slot the current task holds.
struct Held {
    slots: Arc<Semaphore>,
    permit: Mutex<Option<OwnedSemaphorePermit>>,
}

/// Runs `work` holding one of `slots` (waiting for one first), except while it is [`idle`].
pub async fn holding<F: Future>(slots: Arc<Semaphore>, work: F) -> F::Output {
    let permit = slots
        .clone()
        .acquire_owned()
        .await
        .expect("the slots are never closed");
    let held = Arc::new(Held {
        slots,
        permit: Mutex::new(Some(permit)),
    });
    HELD.scope(held, work).await
}

/// Awaits `wait` without holding the current task's global slot, if it holds one.
pub async fn idle<F: Future>(wait: F) -> F::Output {
    let Ok(held) = HELD.try_with(Arc::clone) else {
        return wait.await;
    };
    drop(held.permit.lock().unwrap_or_else(|e| e.into_inner()).take());
    let output = wait.await;
    let permit = held
        .slots
        .clone()
        .acquire_owned()
        .await
        .expect("the slots are never closed");
    *held.permit.lock().unwrap_or_else(|e| e.into_inner()) = Some(permit);
    output
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_waiting_task_gives_its_slot_to_others() {
        let slots = Arc::new(Semaphore::new(1));
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let waiter = tokio::spawn(holding(slots.clone(), async {
            idle(released).await.unwrap();
        }));
        // The only slot comes free while the first task waits, and another task gets it.
        while slots.available_permits() == 0 {
            tokio::task::yield_now().await;
        }
        let other = tokio::time::timeout(Duration::from_secs(10), holding(slots.clone(), async {}));
        assert!(other.await.is_ok(), "the slot was held through the wait");
        release.send(()).unwrap();
        waiter.await.unwrap();
        assert_eq!(slots.available_permits(), 1);
    }
}
