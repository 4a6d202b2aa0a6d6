//! The errors qbwi returns: [`QueueError`] when work cannot be accepted, [`HostError`] when a host
//! cannot start.

/// Why a task was not queued. The work was not accepted and will not run: nothing is dropped
/// silently, so the caller decides what to do (retry, answer 503, run it inline).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
    /// A durable task was queued on a host without a store.
    #[error(
        "this task is durable and the qbwi host has no store: build the host with \
         `.store(qbwi::Store::sqlite(\"qbwi.db\")?)` (or `Store::postgres(url)`), or drop \
         `durable` from the task"
    )]
    NoStore,
    /// The task's arguments could not be serialized for the store.
    #[error("the durable job was not stored: {0}")]
    Payload(#[from] crate::durable::PayloadError),
    /// The store refused the job, or could not be reached.
    #[error("the durable job was not stored: {0}")]
    Store(#[from] crate::store::StoreError),
    /// [`TaskHandle::persisted`](crate::TaskHandle::persisted) on an in-memory task's handle.
    #[error(
        "this task is not durable, so it is never stored: `persisted()` applies to the handles of \
         `#[background_task(durable)]` tasks"
    )]
    NotDurable,
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
        /// The option's builder method: `max_concurrency`, `queue_capacity`, `lease` (at least
        /// 30 ms) or `poll_interval`.
        option: &'static str,
    },
    /// A registered task takes a [`State<T>`](crate::State) of a type the builder was not given
    /// with [`HostBuilder::state`](crate::HostBuilder::state). Checked when the host starts, for
    /// every task in the binary, so that no run can lack its state.
    #[error(
        "the background task `{task}` takes a `State<{type_name}>`, but the host was not given \
         one: call `HostBuilder::state(..)` with a `{type_name}` before `start()` or `build()`"
    )]
    MissingState {
        /// The task's name.
        task: &'static str,
        /// The state's type, as [`std::any::type_name`] names it.
        type_name: &'static str,
    },
    /// A registered task's name has a NUL byte, which PostgreSQL cannot store in text (a durable
    /// job is stored under its task's name). `#[background_task(name = "...")]` refuses one at
    /// compile time; a hand-written [`TaskInfo`](crate::TaskInfo) may still carry one.
    #[error(
        "the background task declared at {location} is named {name:?}, with a NUL byte, which \
         PostgreSQL cannot store in text: remove the NUL byte from the task's name"
    )]
    NulInTaskName {
        /// The name, NUL byte included.
        name: &'static str,
        /// `file:line` of the task's declaration.
        location: String,
    },
    /// A scheduled task's schedule cannot run on this machine: its time zone is not in the
    /// system's time zone database (the macro checked it against the database of the machine
    /// that built the binary).
    #[error("the scheduled task {task} cannot run on this machine: {problem}")]
    Schedule {
        /// The task's name.
        task: &'static str,
        /// What is wrong, and what to do.
        problem: String,
    },
    /// The durable store could not be opened or reached.
    #[error("the qbwi host cannot use its store: {0}")]
    Store(#[from] crate::store::StoreError),
}
