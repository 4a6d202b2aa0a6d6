//! The host's counters and its three phases, changed without locks.
//!
//! Every task moves queued -> running -> ended (or queued -> ended when it never starts). `queued`
//! and `running` share one atomic word, so a reader never sees a task in neither (which would
//! make [`Host::wait_idle`](crate::Host::wait_idle) return early).
//!
//! Shutdown ends with a *final* count: tasks still queued or running at that moment are counted
//! as not started or abandoned by the shutdown itself, because a task stuck on a starved runtime
//! may never get to report. Each transition runs inside a short `busy` section so that the final
//! count and a task's own report never both count the same task (Dekker's handshake on `busy`
//! and `phase`, all `SeqCst`).

use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering::SeqCst};

use crate::report::Stats;

const QUEUED_ONE: u64 = 1 << 32;
const RUNNING_ONE: u64 = 1;
const RUNNING_MASK: u64 = QUEUED_ONE - 1;

/// Accepting work.
pub(crate) const ACCEPTING: u8 = 0;
/// Shutdown has begun: no new work; queued tasks end as not started.
pub(crate) const DRAINING: u8 = 1;
/// Shutdown has counted everything; later reports are ignored.
pub(crate) const FINAL: u8 = 2;

/// How a task ended, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Completed,
    Failed,
    Panicked,
    TimedOut,
    Abandoned,
    NotStarted,
}

/// What a transition found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// The transition happened and was counted.
    Done,
    /// Shutdown is draining: the task must not start (nothing was changed; end it as not started).
    Draining,
    /// Shutdown already counted this task; nothing was changed.
    Final,
}

#[derive(Default)]
pub(crate) struct Counts {
    phase: AtomicU8,
    busy: AtomicUsize,
    /// `queued << 32 | running`.
    active: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    panicked: AtomicU64,
    timed_out: AtomicU64,
    abandoned: AtomicU64,
    not_started: AtomicU64,
}

/// Marks a transition in progress; see the module docs.
struct Busy<'a>(&'a AtomicUsize);

impl<'a> Busy<'a> {
    fn enter(busy: &'a AtomicUsize) -> Self {
        busy.fetch_add(1, SeqCst);
        Busy(busy)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

impl Counts {
    pub(crate) fn phase(&self) -> u8 {
        self.phase.load(SeqCst)
    }

    /// A new task. `Err(())` if the host is no longer accepting; `Ok(false)` if `capacity` tasks
    /// are already queued.
    pub(crate) fn accept(&self, capacity: Option<usize>) -> Result<bool, ()> {
        let _busy = Busy::enter(&self.busy);
        if self.phase.load(SeqCst) != ACCEPTING {
            return Err(());
        }
        let before = self.active.fetch_add(QUEUED_ONE, SeqCst);
        if let Some(capacity) = capacity
            && before >> 32 >= capacity as u64
        {
            self.active.fetch_sub(QUEUED_ONE, SeqCst);
            return Ok(false);
        }
        Ok(true)
    }

    /// A queued task is about to run its first poll.
    pub(crate) fn start(&self) -> Transition {
        let _busy = Busy::enter(&self.busy);
        match self.phase.load(SeqCst) {
            ACCEPTING => {
                // Running up before queued down (one add), so the task is never in neither.
                self.active
                    .fetch_add(RUNNING_ONE.wrapping_sub(QUEUED_ONE), SeqCst);
                Transition::Done
            }
            DRAINING => Transition::Draining,
            _ => Transition::Final,
        }
    }

    /// A task ended. `started` says whether it was running (else it was still queued). Returns
    /// whether the host is now idle (nothing queued, nothing running) and the transition.
    pub(crate) fn end(&self, started: bool, end: End) -> (Transition, bool) {
        let _busy = Busy::enter(&self.busy);
        if self.phase.load(SeqCst) == FINAL {
            return (Transition::Final, false);
        }
        self.counter(end).fetch_add(1, SeqCst);
        let one = if started { RUNNING_ONE } else { QUEUED_ONE };
        let after = self.active.fetch_sub(one, SeqCst) - one;
        (Transition::Done, after == 0)
    }

    fn counter(&self, end: End) -> &AtomicU64 {
        match end {
            End::Completed => &self.completed,
            End::Failed => &self.failed,
            End::Panicked => &self.panicked,
            End::TimedOut => &self.timed_out,
            End::Abandoned => &self.abandoned,
            End::NotStarted => &self.not_started,
        }
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.active.load(SeqCst) == 0
    }

    /// Stops accepting. Returns `false` if shutdown had already begun.
    pub(crate) fn begin_drain(&self) -> bool {
        self.phase
            .compare_exchange(ACCEPTING, DRAINING, SeqCst, SeqCst)
            .is_ok()
    }

    /// Ends the count: whatever is still queued is not started, whatever still runs is abandoned.
    /// Waits (briefly: transitions run no user code) for transitions in progress.
    pub(crate) async fn finalize(&self) -> Stats {
        self.phase.store(FINAL, SeqCst);
        let mut spins = 0u32;
        while self.busy.load(SeqCst) != 0 {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                tokio::task::yield_now().await;
            }
        }
        let active = self.active.swap(0, SeqCst);
        self.not_started.fetch_add(active >> 32, SeqCst);
        self.abandoned.fetch_add(active & RUNNING_MASK, SeqCst);
        self.stats()
    }

    pub(crate) fn stats(&self) -> Stats {
        let active = self.active.load(SeqCst);
        Stats {
            queued: active >> 32,
            running: active & RUNNING_MASK,
            completed: self.completed.load(SeqCst),
            failed: self.failed.load(SeqCst),
            panicked: self.panicked.load(SeqCst),
            timed_out: self.timed_out.load(SeqCst),
            abandoned: self.abandoned.load(SeqCst),
            not_started: self.not_started.load(SeqCst),
        }
    }
}
