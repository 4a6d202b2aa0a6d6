//! Not public API: what `#[background_task]` expands to calls these. They may change in any
//! release; the macro crate is pinned to this crate's exact version.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use ::core;
pub use ::inventory;
pub use ::std;

use crate::{
    BackgroundTask, DurableTask, EnqueueIn, Host, IntoTaskResult, JobId, QueueError, TaskError,
    TaskHandle,
};

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

pub use crate::durable::DurableEntry;
pub use crate::state::{FromHost, Shareable, StateType};
pub use crate::store::NewJob;

/// A `State<T>` argument, fetched when the run starts (inside `Task::run`, which the runner calls
/// with the host's states in scope); spanned on the argument's type, so that a `State` that is
/// not qbwi's is reported there.
#[inline]
pub fn state<S: FromHost>(task: &'static str) -> S {
    S::from_host(task)
}

/// Spanned on a `State<T>` argument's type: reports a `T` that is not `Send + Sync + 'static`
/// there, with a sentence that says why.
#[inline]
pub const fn assert_state_is_shareable<T: Shareable>() {}

/// Spanned on each argument's type of a durable task: reports an argument that serde cannot
/// store where it is written.
#[inline]
pub const fn assert_arg_is_durable<T: DurableArg>() {}

/// What a durable task's argument must be: serde writes it into the stored job and reads it back.
///
/// A trait of its own, so that a type without serde's derives gets this message, which names
/// the derives a crate with only qbwi can use (`qbwi::serde`), instead of serde's, which names
/// `serde::Serialize` (a crate that does not depend on serde cannot write that).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an argument of a durable task: its jobs are stored, so serde \
               must write and read back every argument",
    label = "not `Serialize` and `Deserialize`",
    note = "for a type of your own, derive both through qbwi, which needs no serde dependency: \
            `#[derive(qbwi::serde::Serialize, qbwi::serde::Deserialize)]` with \
            `#[serde(crate = \"qbwi::serde\")]`",
    note = "for a type from another crate, check whether that crate has a `serde` feature"
)]
pub trait DurableArg: serde::Serialize + serde::de::DeserializeOwned {}

impl<T: serde::Serialize + serde::de::DeserializeOwned> DurableArg for T {}

/// A durable task's `Task::queue(..)`: hands the job to the current host's batching writer.
#[inline]
pub fn queue_durable_current<T: DurableTask>(task: T) -> Result<TaskHandle, QueueError> {
    crate::current::with_current(|host| host.queue_durable(task))
}

/// A durable task's `Task::queue_on(host, ..)`.
#[inline]
pub fn queue_durable_on<T: DurableTask>(host: &Host, task: T) -> Result<TaskHandle, QueueError> {
    host.queue_durable(task)
}

/// `Task::enqueue(..)` and `Task::enqueue_at(at, ..)`: stores the job through the current host.
pub fn enqueue_current<T: DurableTask>(
    task: T,
    at: Option<std::time::SystemTime>,
) -> impl Future<Output = Result<JobId, QueueError>> + Send + 'static {
    let host = crate::current::with_current(|host| Ok(host.clone()));
    let enqueued = host.map(|host| host.enqueue_at_millis(task, at.map(crate::store::millis)));
    async move { enqueued?.await }
}

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
        let id = client.__insert(job?).await?;
        Ok(id)
    }
}
