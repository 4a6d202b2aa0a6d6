//! The process's current host: the one `start()` installed last, which `Task::queue(..)` and
//! the free `queue_*` functions use.

use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Acquire, Ordering::Release};
use std::sync::{PoisonError, RwLock};

use tokio_util::sync::CancellationToken;

use crate::error::{HostError, QueueError};
use crate::host::Host;
use crate::outcome::TaskHandle;
use crate::task::IntoTaskResult;

/// The host `start()` installed last; see [`Host::current`].
static CURRENT: RwLock<Option<Host>> = RwLock::new(None);

/// Bumped by every `start()`, so that threads know their cached current host is stale.
static GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's copy of the current host and the generation it was read at: `Task::queue`
    /// then costs one atomic load instead of a lock and a reference count.
    static CACHED: RefCell<(u64, Option<Host>)> = const { RefCell::new((u64::MAX, None)) };
}

/// Runs `f` on the current host (the path of `Task::queue`).
pub(crate) fn with_current<R>(
    f: impl FnOnce(&Host) -> Result<R, QueueError>,
) -> Result<R, QueueError> {
    let generation = GENERATION.load(Acquire);
    CACHED.with(|cached| {
        if cached.borrow().0 != generation {
            // A `start()` inside `f` (from a task's own `run`) would find the cache borrowed: it
            // takes the slow path below instead.
            match cached.try_borrow_mut() {
                Ok(mut cached) => *cached = (generation, get()),
                Err(_) => return get().map_or(Err(QueueError::NoHost), |host| f(&host)),
            }
        }
        match &cached.borrow().1 {
            Some(host) => f(host),
            None => Err(QueueError::NoHost),
        }
    })
}

/// The current host, also after it stopped; `None` if none was ever started.
pub(crate) fn get() -> Option<Host> {
    CURRENT
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// Makes `host` the current one, unless the current one still accepts work.
pub(crate) fn install(host: &Host) -> Result<(), HostError> {
    let mut current = CURRENT.write().unwrap_or_else(PoisonError::into_inner);
    if current.as_ref().is_some_and(Host::is_accepting) {
        return Err(HostError::AlreadyRunning);
    }
    *current = Some(host.clone());
    GENERATION.fetch_add(1, Release);
    Ok(())
}

/// Queues an async closure on the current host; see [`Host::queue_work_item`].
pub fn queue_work_item<F, Fut>(work: F) -> Result<TaskHandle, QueueError>
where
    F: FnOnce(CancellationToken) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoTaskResult,
{
    with_current(|host| host.queue_work_item(work))
}

/// Queues a blocking closure on the current host; see [`Host::queue_blocking_work_item`].
pub fn queue_blocking_work_item<F, R>(work: F) -> Result<TaskHandle, QueueError>
where
    F: FnOnce(CancellationToken) -> R + Send + 'static,
    R: IntoTaskResult,
{
    with_current(|host| host.queue_blocking_work_item(work))
}
