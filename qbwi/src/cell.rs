//! One allocation per task: the [`Header`] its handles read (id, name, outcome) and the job that
//! runs it, side by side in one `Arc`.
//!
//! The job part is reached only through the task's single [`JobRef`], which is not `Clone`: a
//! `&mut JobRef` is therefore exclusive access to the job, whoever holds the handles. That is the
//! whole safety argument for the `UnsafeCell` below.

use std::cell::UnsafeCell;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::host::Inner;
use crate::outcome::{Outcome, TaskId};
use crate::run::Job;

/// What a task's handles can see. (The name is not here: the handle keeps it, and the job
/// knows it from its type; a waiting task is that much smaller.)
pub(crate) struct Header {
    pub(crate) id: TaskId,
    slot: Mutex<Slot>,
}

#[derive(Default)]
struct Slot {
    outcome: Option<Outcome>,
    /// Boxed: most tasks are never awaited, and a waiting task should be small (8 bytes here
    /// instead of a `Vec`'s 24).
    #[allow(clippy::box_collection)]
    waiters: Option<Box<Vec<Waker>>>,
}

impl Header {
    pub(crate) fn new(id: TaskId) -> Self {
        Header {
            id,
            slot: Mutex::default(),
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        // Nothing that can panic runs under this lock.
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the outcome (the first one wins) and wakes everyone awaiting it.
    pub(crate) fn set_outcome(&self, outcome: Outcome) {
        let waiters = {
            let mut slot = self.slot();
            if slot.outcome.is_some() {
                return;
            }
            slot.outcome = Some(outcome);
            slot.waiters.take()
        };
        for waiter in waiters.into_iter().flat_map(|waiters| *waiters) {
            waiter.wake();
        }
    }

    pub(crate) fn outcome(&self) -> Option<Outcome> {
        self.slot().outcome.clone()
    }

    pub(crate) fn poll_outcome(&self, cx: &mut Context<'_>) -> Poll<Outcome> {
        let mut slot = self.slot();
        if let Some(outcome) = &slot.outcome {
            return Poll::Ready(outcome.clone());
        }
        let waiters = slot.waiters.get_or_insert_default();
        if !waiters.iter().any(|waiter| waiter.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// A task: its header and its job.
pub(crate) struct TaskCell<J: ?Sized> {
    pub(crate) header: Header,
    job: UnsafeCell<J>,
}

// SAFETY: `job` is only accessed through the cell's one `JobRef`, with `&mut self` (see the
// module docs), so never from two threads at once; `header` is `Sync` by itself. `J: Send`
// because the job moves to whichever thread holds the `JobRef`.
unsafe impl<J: ?Sized + Send> Sync for TaskCell<J> {}

/// The one owner of a task's job: the lanes, the scheduler and spawned tokio tasks pass it on.
pub(crate) struct JobRef {
    cell: Arc<TaskCell<dyn Job>>,
}

impl JobRef {
    /// Allocates the task; returns its job and the cell its handles keep.
    pub(crate) fn new<J: Job + 'static>(header: Header, job: J) -> (Self, Arc<TaskCell<dyn Job>>) {
        let cell: Arc<TaskCell<dyn Job>> = Arc::new(TaskCell {
            header,
            job: UnsafeCell::new(job),
        });
        (JobRef { cell: cell.clone() }, cell)
    }

    pub(crate) fn header(&self) -> &Header {
        &self.cell.header
    }

    /// The header and the job, pinned.
    fn parts(&mut self) -> (&Header, Pin<&mut dyn Job>) {
        let cell = &*self.cell;
        // SAFETY: `&mut self` on the only `JobRef` is exclusive access to `job` (module docs).
        // The job lives in the `Arc`'s allocation and is never moved out of it, so it is pinned.
        let job = unsafe { Pin::new_unchecked(&mut *cell.job.get()) };
        (&cell.header, job)
    }

    /// Runs the task until it ends (`Ready`) or has to wait (`Pending`).
    pub(crate) fn poll(&mut self, host: &Inner, cx: &mut Context<'_>) -> Poll<()> {
        let (header, job) = self.parts();
        job.poll_job(header, host, cx)
    }

    /// Ends the task where it stands (not started, or abandoned); nothing if it already ended.
    pub(crate) fn abandon(&mut self, host: &Inner) {
        let (header, job) = self.parts();
        job.abandon(header, Some(host), true);
    }

    /// Ends a task the scheduler still holds (it holds no slots): not started.
    pub(crate) fn abandon_waiting(&mut self, host: &Inner) {
        let (header, job) = self.parts();
        job.abandon(header, Some(host), false);
    }

    pub(crate) fn concurrency(&mut self) -> Option<std::num::NonZeroUsize> {
        self.parts().1.concurrency()
    }

    pub(crate) fn name(&mut self) -> &'static str {
        self.parts().1.name()
    }
}

impl Drop for JobRef {
    fn drop(&mut self) {
        // Every path that drops a job ends it first, with its host; this is the backstop, so
        // that no handle waits forever. It also frees the task's future now, even while
        // handles keep the allocation.
        let (header, job) = self.parts();
        job.abandon(header, None, false);
    }
}
