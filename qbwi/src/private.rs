//! Not public API: what `#[background_task]` expands to calls these. They may change in any
//! release; the macro crate is pinned to this crate's exact version.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use ::core;
pub use ::inventory;
pub use ::std;

use crate::{BackgroundTask, Host, IntoTaskResult, QueueError, TaskError, TaskHandle};

/// `Task::queue(..)`: queues on [`Host::current`].
#[inline]
pub fn queue_current<T: BackgroundTask>(task: T) -> Result<TaskHandle, QueueError> {
    crate::current::with_current(|host| host.queue(task))
}

/// `Task::queue_on(host, ..)`.
#[inline]
pub fn queue_on<T: BackgroundTask>(host: &Host, task: T) -> Result<TaskHandle, QueueError> {
    host.queue(task)
}

/// Converts what the user's fn returned; spanned on the fn's return type so a bad type is
/// reported there.
#[inline]
pub fn into_task_result<R: IntoTaskResult>(value: R) -> Result<(), TaskError> {
    value.into_task_result()
}

pin_project_lite::pin_project! {
    /// The future of an `async fn` task, its output turned into the run's result.
    pub struct TaskFuture<F: Future> {
        #[pin]
        future: F,
        // Chosen where the bound is checked (`task_future`), so that the `Future` impl needs no
        // bound of its own and a bad return type is reported once, on the return type.
        convert: fn(F::Output) -> Result<(), TaskError>,
    }
}

/// Wraps the user's fn future (`Task::run`); spanned on the fn's return type, so that a type that
/// is not `()` or `Result<T, E: Display>` is reported there. A plain adapter rather than an
/// `async` block: the run then holds the fn's future only, not a second copy of its arguments.
#[inline]
pub fn task_future<F>(future: F) -> TaskFuture<F>
where
    F: Future,
    F::Output: IntoTaskResult,
{
    TaskFuture {
        future,
        convert: IntoTaskResult::into_task_result,
    }
}

impl<F: Future> Future for TaskFuture<F> {
    type Output = Result<(), TaskError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        this.future.poll(cx).map(*this.convert)
    }
}

impl<F: Future> std::fmt::Debug for TaskFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskFuture").finish_non_exhaustive()
    }
}

/// Spanned on each argument's type: reports a non-`Send` or borrowed argument where it is written.
#[inline]
pub const fn assert_arg_is_send<T: Send + 'static>() {}

/// Spanned on the fn's name: reports a future that is not `Send` on the fn.
#[inline]
pub fn assert_future_is_send<F: Future + Send + 'static>(future: F) -> F {
    future
}

/// Runs a synchronous task body on tokio's blocking pool (QBWI's `Action<CancellationToken>`).
///
/// Dropping the returned future detaches the thread: it runs on, but nobody waits for it. A panic
/// on the thread is resumed in the caller, where the host catches and counts it.
pub fn run_blocking<F>(body: F) -> impl Future<Output = Result<(), TaskError>> + Send + 'static
where
    F: FnOnce() -> Result<(), TaskError> + Send + 'static,
{
    crate::run::run_blocking(body)
}
