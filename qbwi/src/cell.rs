//! One allocation per task: the [`Header`] its handles read (id, name, outcome) and the
//! [`Runnable`] that runs it, side by side in one `Arc`.
//!
//! The run part is reached only through the task's single [`RunRef`], which is not `Clone`: a
//! `&mut RunRef` is therefore exclusive access to the run, whoever holds the handles. That is the
//! whole safety argument for the `UnsafeCell` below.

use std::cell::UnsafeCell;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::host::HostInner;
use crate::outcome::{Outcome, TaskId};
use crate::run::Runnable;

/// What a task's handles can see. (The name is not here: the handle keeps it, and the run
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

/// A task: its header and its run.
pub(crate) struct TaskCell<J: ?Sized> {
    pub(crate) header: Header,
    run: UnsafeCell<J>,
}

// SAFETY: `run` is only accessed through the cell's one `RunRef`, with `&mut self` (see the
// module docs), so never from two threads at once; `header` is `Sync` by itself. `J: Send`
// because the run moves to whichever thread holds the `RunRef`.
unsafe impl<J: ?Sized + Send> Sync for TaskCell<J> {}

/// The one owner of a task's run: the lanes, the scheduler and spawned tokio tasks pass it on.
pub(crate) struct RunRef {
    cell: Arc<TaskCell<dyn Runnable>>,
}

impl RunRef {
    /// Allocates the task; returns its run and the cell its handles keep.
    pub(crate) fn new<J: Runnable + 'static>(
        header: Header,
        run: J,
    ) -> (Self, Arc<TaskCell<dyn Runnable>>) {
        let cell: Arc<TaskCell<dyn Runnable>> = Arc::new(TaskCell {
            header,
            run: UnsafeCell::new(run),
        });
        (RunRef { cell: cell.clone() }, cell)
    }

    pub(crate) fn header(&self) -> &Header {
        &self.cell.header
    }

    /// The header and the run, pinned.
    fn parts(&mut self) -> (&Header, Pin<&mut dyn Runnable>) {
        let cell = &*self.cell;
        // SAFETY: `&mut self` on the only `RunRef` is exclusive access to `run` (module docs).
        // The run lives in the `Arc`'s allocation and is never moved out of it, so it is pinned.
        let run = unsafe { Pin::new_unchecked(&mut *cell.run.get()) };
        (&cell.header, run)
    }

    /// Runs the task until it ends (`Ready`) or has to wait (`Pending`).
    pub(crate) fn poll(&mut self, host: &HostInner, cx: &mut Context<'_>) -> Poll<()> {
        let (header, run) = self.parts();
        run.poll_run(header, host, cx)
    }

    /// Ends the task where it stands (not started, or abandoned); nothing if it already ended.
    pub(crate) fn abandon(&mut self, host: &HostInner) {
        let (header, run) = self.parts();
        run.abandon(header, Some(host), true);
    }

    /// Ends a task the scheduler still holds (it holds no slots): not started.
    pub(crate) fn abandon_waiting(&mut self, host: &HostInner) {
        let (header, run) = self.parts();
        run.abandon(header, Some(host), false);
    }

    pub(crate) fn concurrency(&mut self) -> Option<std::num::NonZeroUsize> {
        self.parts().1.concurrency()
    }

    pub(crate) fn name(&mut self) -> &'static str {
        self.parts().1.name()
    }
}

impl Drop for RunRef {
    fn drop(&mut self) {
        // Every path that drops a run ends it first, with its host; this is the backstop, so
        // that no handle waits forever. It also frees the task's future now, even while
        // handles keep the allocation.
        let (header, run) = self.parts();
        run.abandon(header, None, false);
    }
}
