//! The errors qbwi returns: [`QueueError`] when work cannot be accepted, [`HostError`] when a host
//! cannot start.

/// Why a task was not queued. The work was not accepted and will not run: nothing is dropped
/// silently, so the caller decides what to do (retry, answer 503, run it inline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// No host was ever started in this process.
    #[error(
        "no qbwi host is running: start one with `qbwi::Host::builder().start()` before queueing \
         work, or pass a host explicitly with `queue_on`"
    )]
    NoHost,
    /// The host has begun shutting down and accepts no new work.
    #[error(
        "the qbwi host is shutting down and accepts no new work: the task was not queued; \
         answer the request with 503 or hand the work to the next instance"
    )]
    ShuttingDown,
    /// The host's `queue_capacity` tasks are already waiting to start.
    #[error(
        "the qbwi host's queue is full: `queue_capacity` tasks are already waiting to start; \
         shed load (answer 503), retry later, or raise `queue_capacity`"
    )]
    Full,
}

/// Why a host could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// `start()` or `build()` was called outside a tokio runtime.
    #[error(
        "a qbwi host needs a tokio runtime: call `start()` inside `#[tokio::main]`, a \
         `#[tokio::test]`, or after `Runtime::enter()`"
    )]
    NoRuntime,
    /// Another host started with `start()` is still accepting work.
    #[error(
        "a qbwi host is already running in this process: shut it down before starting another, \
         or use `Host::builder().build()` for an extra host and queue on it with `queue_on`"
    )]
    AlreadyRunning,
    /// Two `#[background_task]`s in this binary have the same name.
    #[error(
        "two background tasks are named `{name}` (at {first} and at {second}): rename one of the \
         fns or give it `#[background_task(name = \"...\")]`"
    )]
    DuplicateTask {
        /// The name both tasks have.
        name: &'static str,
        /// `file:line` of one declaration.
        first: String,
        /// `file:line` of the other.
        second: String,
    },
    /// A builder option has a value that cannot work.
    #[error("`{option}` must be at least 1, got 0: leave it unset for no limit")]
    ZeroLimit {
        /// The option's builder method, `max_concurrency` or `queue_capacity`.
        option: &'static str,
    },
}
