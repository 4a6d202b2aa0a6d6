//! What happened to one task: [`TaskId`], [`Outcome`] and the [`TaskHandle`] to await it.

use std::fmt;
use std::sync::Arc;

use crate::QueueError;
use crate::cell::TaskCell;
use crate::durable::writer::PersistSlot;
use crate::run::Job;
use crate::store::JobId;

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
    cell: Arc<TaskCell<dyn Job>>,
    name: &'static str,
    /// A durable task's `queue`: where the writer puts the stored job's id.
    persist: Option<Arc<PersistSlot>>,
}

impl TaskHandle {
    pub(crate) fn new(cell: Arc<TaskCell<dyn Job>>, name: &'static str) -> Self {
        TaskHandle {
            cell,
            name,
            persist: None,
        }
    }

    pub(crate) fn persisting(
        cell: Arc<TaskCell<dyn Job>>,
        name: &'static str,
        slot: Arc<PersistSlot>,
    ) -> Self {
        TaskHandle {
            cell,
            name,
            persist: Some(slot),
        }
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
