//! Not public API: what `#[background_task]` expands to calls these. They may change in any
//! release; the macro crate is pinned to this crate's exact version.

use std::future::Future;

pub use ::core;
pub use ::inventory;
pub use ::std;

use crate::{DurableTask, EnqueueIn, Host, JobId, QueueError, TaskError};

/// `Task::queue(..)`: calls `queue` with [`Host::current`]. The generated code passes a closure
/// that calls [`Host::queue`] (or [`Host::queue_durable`]) itself, so that a task whose arguments
/// are not `Send` is reported as not a [`BackgroundTask`](crate::BackgroundTask) in the words of
/// the public method, the same for `queue` and `queue_on`.
#[inline]
pub fn on_current<R>(queue: impl FnOnce(&Host) -> Result<R, QueueError>) -> Result<R, QueueError> {
    crate::current::with_current(queue)
}

/// Wraps the user's fn future (`Task::run`), its output turned into the run's result by
/// `convert` (`TaskReturn::__into_result`, named where the return type is written). A plain
/// adapter rather than an `async` block: the run then holds the fn's future only, not a second
/// copy of its arguments.
#[inline]
pub fn task_future<F: Future>(
    future: F,
    convert: fn(F::Output) -> Result<(), TaskError>,
) -> crate::task::RunFuture<F> {
    crate::task::RunFuture::new(future, convert)
}

/// Runs a synchronous task body on tokio's blocking pool (QBWI's `Action<CancellationToken>`).
///
/// No `Send` bound here: the returned future is a `Future` (and `Send`) only where `body` is
/// `Send`, which the generated `run`'s return type requires, so that a body that is not is
/// reported once, on the type that makes it so (see `blocking.rs`).
pub fn run_blocking<F>(body: F) -> crate::blocking::Blocking<F> {
    crate::blocking::run_blocking(body)
}

pub use crate::cron::{CronEntry, ScheduledTask};
pub use crate::durable::DurableEntry;
pub use crate::state::StateType;

/// `Task::enqueue(..)` and `Task::enqueue_at(at, ..)`: stores the job through the current host.
pub fn enqueue_current<T: DurableTask>(
    task: T,
    at: Option<std::time::SystemTime>,
) -> impl Future<Output = Result<JobId, QueueError>> + Send + 'static {
    let enqueued = enqueue_unique(task, at);
    async move { enqueued.await.map(|enqueued| enqueued.id()) }
}

/// `Task::enqueue_unique(..)`: stores the job through the current host, saying whether it is new.
pub fn enqueue_unique<T: DurableTask>(
    task: T,
    at: Option<std::time::SystemTime>,
) -> impl Future<Output = Result<crate::Enqueued, QueueError>> + Send + 'static {
    let host = crate::current::with_current(|host| Ok(host.clone()));
    let enqueued = host.map(|host| host.enqueue_at_millis(task, at.map(crate::store::millis)));
    async move { enqueued?.await }
}

/// `DurableTask::unique_key` of a unique task.
pub use crate::durable::unique_key;
pub use crate::store::UniqueKey;

/// `Task::enqueue_after(delay, ..)`.
pub fn enqueue_after<T: DurableTask>(
    task: T,
    delay: std::time::Duration,
) -> impl Future<Output = Result<JobId, QueueError>> + Send + 'static {
    let at = std::time::SystemTime::now()
        .checked_add(delay)
        .unwrap_or_else(|| {
            std::time::SystemTime::now() + std::time::Duration::from_secs(u32::MAX.into())
        });
    enqueue_current(task, Some(at))
}

/// `Task::enqueue_in(&transaction, ..)`: inserts the job in the caller's own transaction.
pub fn enqueue_in<'a, C: EnqueueIn + ?Sized, T: DurableTask>(
    client: &'a C,
    task: T,
) -> impl Future<Output = Result<JobId, QueueError>> + Send + 'a {
    let job = crate::durable::new_job(&task, None);
    async move {
        let job = job?;
        let storing = crate::metrics::Storing::of(std::slice::from_ref(&job));
        let enqueued = client.__insert(job).await?;
        // In the caller's transaction, which may still roll back.
        storing.stored(|_| enqueued.is_new());
        Ok(enqueued.id())
    }
}
