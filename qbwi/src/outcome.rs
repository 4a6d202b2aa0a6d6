//! What happened to one task: [`TaskId`], [`Outcome`] and the [`TaskHandle`] to await it.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use crate::QueueError;
use crate::cell::{Header, RunRef, TaskCell};
use crate::host::HostInner;
use crate::run::Runnable;
use crate::store::JobId;

/// Where a durable `queue` call's handle learns the stored job's id, or why it was not stored.
type PersistSlot = OnceLock<Result<JobId, QueueError>>;

/// A task's number, unique within its host, in the order the tasks were queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub(crate) u64);

impl TaskId {
    /// The number as a `u64`.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// How a task ended. Every task the host accepts ends in exactly one of these.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The task returned `()` or `Ok(_)`.
    Completed,
    /// The task returned `Err(e)`; this is `e.to_string()`.
    Failed(String),
    /// The task panicked; this is the panic message.
    Panicked(String),
    /// The task's `timeout` elapsed: its token was cancelled and the run dropped (async) or
    /// detached (blocking).
    TimedOut,
    /// The task was still running at the shutdown deadline: its future was dropped (async) or its
    /// thread detached (blocking).
    Abandoned,
    /// The task was queued but had not started when shutdown began, so it never ran.
    NotStarted,
}

impl Outcome {
    /// `true` for [`Outcome::Completed`].
    pub fn is_completed(&self) -> bool {
        matches!(self, Outcome::Completed)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Completed => f.write_str("completed"),
            Outcome::Failed(error) => write!(f, "failed: {error}"),
            Outcome::Panicked(message) => write!(f, "panicked: {message}"),
            Outcome::TimedOut => f.write_str("timed out"),
            Outcome::Abandoned => f.write_str("abandoned at the shutdown deadline"),
            Outcome::NotStarted => f.write_str("not started before shutdown"),
        }
    }
}

/// A handle to one queued task: its id, its name, and its [`Outcome`] once it ends.
///
/// Dropping the handle does not cancel the task; nobody has to wait for a background task.
#[derive(Clone)]
pub struct TaskHandle {
    cell: Arc<TaskCell<dyn Runnable>>,
    name: &'static str,
    /// A durable task's `queue`: where the writer puts the stored job's id.
    persist: Option<Arc<PersistSlot>>,
}

impl TaskHandle {
    pub(crate) fn new(cell: Arc<TaskCell<dyn Runnable>>, name: &'static str) -> Self {
        TaskHandle {
            cell,
            name,
            persist: None,
        }
    }

    /// The handle of a durable `queue` call, and what settles it once the job is stored (or
    /// refused). The task behind it never runs here: whichever host claims the job runs it.
    pub(crate) fn persisting(id: TaskId, name: &'static str) -> (Self, Persisting) {
        let (run, cell) = RunRef::new(Header::new(id), OutcomeOnly);
        drop(run); // nothing to run: only the outcome, set by `Persisting::settle`
        let slot = Arc::<PersistSlot>::default();
        let handle = TaskHandle {
            cell: cell.clone(),
            name,
            persist: Some(slot.clone()),
        };
        (handle, Persisting { cell, slot })
    }

    /// For a durable task's `queue`: waits until the job is committed to the store and returns its
    /// id, or the store's error. For an in-memory task: [`QueueError::NotDurable`] at once.
    pub fn persisted(
        &self,
    ) -> impl std::future::Future<Output = Result<JobId, QueueError>> + Send + 'static {
        let cell = self.cell.clone();
        let slot = self.persist.clone();
        async move {
            let slot = slot.ok_or(QueueError::NotDurable)?;
            std::future::poll_fn(|cx| cell.header.poll_outcome(cx)).await;
            slot.get().cloned().unwrap_or(Err(QueueError::ShuttingDown))
        }
    }

    /// The task's id, unique within its host.
    pub fn id(&self) -> TaskId {
        self.cell.header.id
    }

    /// The task's name (its [`BackgroundTask::NAME`](crate::BackgroundTask::NAME)).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The outcome if the task has ended, without waiting.
    pub fn try_outcome(&self) -> Option<Outcome> {
        self.cell.header.outcome()
    }

    /// Waits until the task ends and returns how it ended. May be awaited any number of times.
    ///
    /// For a durable task's `queue`, the task here is storing the job: `Completed` once it is
    /// committed (see [`persisted`](Self::persisted)).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let host = qbwi::Host::builder().build().unwrap();
    /// let handle = host.queue_work_item(|_token| async { Err::<(), _>("smtp refused") }).unwrap();
    /// assert_eq!(handle.outcome().await, qbwi::Outcome::Failed("smtp refused".into()));
    /// # }
    /// ```
    pub fn outcome(&self) -> impl std::future::Future<Output = Outcome> + Send + 'static {
        let cell = self.cell.clone();
        std::future::poll_fn(move |cx| cell.header.poll_outcome(cx))
    }
}

impl fmt::Debug for TaskHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("outcome", &self.try_outcome())
            .finish()
    }
}

/// Settles a durable `queue` call's handle: what the store did with the job. Held by whoever
/// stores the job (the host's batching writer).
pub(crate) struct Persisting {
    cell: Arc<TaskCell<dyn Runnable>>,
    slot: Arc<PersistSlot>,
}

impl Persisting {
    /// The job was stored (`Ok`, the handle's outcome is `Completed`), or not (`Failed`).
    pub(crate) fn settle(self, result: Result<JobId, QueueError>) {
        let outcome = match &result {
            Ok(_) => Outcome::Completed,
            Err(error) => Outcome::Failed(error.to_string()),
        };
        let _ = self.slot.set(result);
        self.cell.header.set_outcome(outcome);
    }
}

/// The task behind a handle whose outcome is set from outside ([`Persisting`]): it never runs,
/// and nothing counts it.
struct OutcomeOnly;

impl Runnable for OutcomeOnly {
    fn poll_run(
        self: Pin<&mut Self>,
        _header: &Header,
        _host: &HostInner,
        _cx: &mut Context<'_>,
    ) -> Poll<()> {
        Poll::Ready(())
    }

    fn abandon(self: Pin<&mut Self>, _header: &Header, _host: Option<&HostInner>, _admitted: bool) {
    }

    fn concurrency(&self) -> Option<std::num::NonZeroUsize> {
        None
    }

    fn name(&self) -> &'static str {
        "qbwi::outcome_only"
    }
}
