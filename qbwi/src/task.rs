//! The [`BackgroundTask`] trait and the values a task run produces.

use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::CancellationToken;

/// A unit of background work that a [`Host`](crate::Host) can run.
///
/// `#[background_task]` implements this trait for the struct it generates, so most code never
/// names it. Implement it by hand for a task type the macro cannot express; such a task is queued
/// with [`Host::queue`](crate::Host::queue) and is not listed by [`registry`](fn@crate::registry).
///
/// # Example
///
/// ```
/// use std::future::Future;
/// use qbwi::{BackgroundTask, CancellationToken, TaskError};
///
/// struct Resize { image_id: u64 }
///
/// impl BackgroundTask for Resize {
///     const NAME: &'static str = "images::resize";
///
///     fn run(self, token: &CancellationToken) -> impl Future<Output = Result<(), TaskError>> + Send + use<> {
///         let token = token.clone(); // only tasks that watch for cancellation pay for a clone
///         async move {
///             if token.is_cancelled() {
///                 return Err(TaskError::new(format!("image {} not resized: shutting down", self.image_id)));
///             }
///             Ok(())
///         }
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a background task",
    label = "not a background task",
    note = "annotate an `async fn` or `fn` with `#[qbwi::background_task]`, or implement `qbwi::BackgroundTask` by hand"
)]
pub trait BackgroundTask: Send + 'static {
    /// The task's unique name, `"<module path>::<fn name>"` unless `name = "..."` was given.
    const NAME: &'static str;

    /// Per-run limits: timeout and concurrency. Defaults to none.
    const OPTIONS: TaskOptions = TaskOptions::new();

    /// Starts one run: called when the task's turn comes, and the returned future is polled
    /// right away. `token` is cancelled when the host shuts down or the run times out; clone it
    /// into the future if the task watches it (a task that does not, pays nothing for it).
    fn run(
        self,
        token: &CancellationToken,
    ) -> impl Future<Output = Result<(), TaskError>> + Send + 'static + use<Self>;
}

/// Per-task options, set on the macro as `#[background_task(timeout = "30s", concurrency = 4)]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskOptions {
    /// Longest a single run may take: when it elapses, the token is cancelled and the run ends as
    /// [`Outcome::TimedOut`](crate::Outcome::TimedOut).
    pub timeout: Option<Duration>,
    /// At most this many runs of this task at once on one host.
    pub concurrency: Option<NonZeroUsize>,
}

impl TaskOptions {
    /// No timeout and no concurrency limit.
    pub const fn new() -> Self {
        TaskOptions {
            timeout: None,
            concurrency: None,
        }
    }

    /// Sets the per-run timeout.
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the most runs of this task that may be in progress at once.
    ///
    /// # Panics
    ///
    /// If `limit` is zero (in a `const`, this is a compile error).
    #[track_caller]
    pub const fn with_concurrency(mut self, limit: usize) -> Self {
        match NonZeroUsize::new(limit) {
            Some(limit) => self.concurrency = Some(limit),
            None => panic!("a background task's concurrency must be at least 1"),
        }
        self
    }
}

impl Default for TaskOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a task run failed: the `Display` text of the error the task returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    message: String,
}

impl TaskError {
    /// Wraps the text that explains the failure.
    pub fn new(message: impl fmt::Display) -> Self {
        TaskError {
            message: message.to_string(),
        }
    }

    /// The failure's text.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn into_message(self) -> String {
        self.message
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TaskError {}

/// What a background task may return: `()` or `Result<T, E>` where `E: Display`.
///
/// `Err(e)` makes the run [`Outcome::Failed`](crate::Outcome::Failed) with `e.to_string()`;
/// everything else completes it. The `Ok` value is dropped: nobody is waiting for it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid return type for a background task",
    label = "return `()` or `Result<T, E>` where `E: Display` instead",
    note = "a background task's result goes to the host, which counts it and logs failures; there is no caller to hand other values to"
)]
pub trait IntoTaskResult {
    /// Turns the value into the run's result.
    fn into_task_result(self) -> Result<(), TaskError>;
}

impl IntoTaskResult for () {
    fn into_task_result(self) -> Result<(), TaskError> {
        Ok(())
    }
}

impl<T, E: fmt::Display> IntoTaskResult for Result<T, E> {
    fn into_task_result(self) -> Result<(), TaskError> {
        self.map(drop).map_err(TaskError::new)
    }
}

pin_project_lite::pin_project! {
    /// The future of an `async fn` task's run: the fn's own future, its output turned into the
    /// run's result ([`TaskReturn`](crate::TaskReturn)). Not exported: the generated `run` returns it as an
    /// `impl Future`, and it is named only in the compiler's note on a future that is not `Send`.
    pub struct RunFuture<F: Future> {
        #[pin]
        future: F,
        // Chosen by the generated code, where the return type is written, so that the `Future`
        // impl needs no bound of its own.
        convert: fn(F::Output) -> Result<(), TaskError>,
    }
}

impl<F: Future> RunFuture<F> {
    pub(crate) fn new(future: F, convert: fn(F::Output) -> Result<(), TaskError>) -> Self {
        RunFuture { future, convert }
    }
}

impl<F: Future> Future for RunFuture<F> {
    type Output = Result<(), TaskError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        this.future.poll(cx).map(*this.convert)
    }
}

impl<F: Future> fmt::Debug for RunFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunFuture").finish_non_exhaustive()
    }
}
