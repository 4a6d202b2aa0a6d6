//! Waiting for a condition that other tasks change: `wait_until`, the one "register, check, wait"
//! loop behind `wait_idle`, the writer's flush and the durable worker's reports.
//!
//! A waiter that checks first and registers after could miss the change made in between (and the
//! `notify_waiters` that announced it): so it registers, then checks, then waits, and the changing
//! side changes, then notifies. A `SeqCst` fence between the waiter's registration and its check
//! pairs with one the notifier issues between its change and its check for waiters (the host's
//! `notify_idle`), so that one of the two sees the other.

use std::sync::atomic::{Ordering::SeqCst, fence};

use tokio::sync::Notify;

/// Waits until `done()` holds, checking it again whenever `notify` wakes its waiters. Registered
/// before each check, so that a change (and its `notify_waiters`) between the check and the wait
/// is never missed.
pub(crate) async fn wait_until(notify: &Notify, mut done: impl FnMut() -> bool) {
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        // Pairs with the notifier's fence: either the check sees the change, or the notifier sees
        // this waiter.
        fence(SeqCst);
        if done() {
            return;
        }
        notified.await;
    }
}
