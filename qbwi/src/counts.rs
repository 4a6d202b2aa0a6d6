//! The host's counters and its three phases, changed without locks and, on the hot path, with one
//! shared atomic operation per step of a task's life.
//!
//! Every task moves queued -> running -> ended (or queued -> ended when it never starts). The
//! phase, `queued` and `running` share one atomic word (`state`), so a reader never sees a task
//! in neither (which would make `wait_idle` return early), and a step checks the phase in the same
//! operation that counts it.
//!
//! How tasks ended is counted in per-thread shards (no cache line shared between threads).
//! Shutdown ends with a *final* count: tasks still queued or running at that moment are counted
//! as not started or abandoned by the shutdown itself, because a task stuck on a starved runtime
//! may never get to report. So that the final count and a task's own report never both count the
//! same task, a task marks its shard `ending` before it reports and unmarks it after; the final
//! count sets the phase first and then waits until no shard is `ending` (Dekker's handshake, all
//! `SeqCst`; the marked section runs no user code).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use crate::report::Stats;

const RUNNING_BITS: u32 = 31;
const RUNNING_ONE: u64 = 1;
const RUNNING_MASK: u64 = (1 << RUNNING_BITS) - 1;
const QUEUED_ONE: u64 = 1 << RUNNING_BITS;
const QUEUED_MASK: u64 = RUNNING_MASK << RUNNING_BITS;
const PHASE_SHIFT: u32 = 2 * RUNNING_BITS;

/// The most tasks that can wait at once (about two billion): `queue` returns `Full` beyond it.
pub(crate) const MAX_QUEUED: u64 = RUNNING_MASK;

/// Accepting work.
pub(crate) const ACCEPTING: u64 = 0;
/// Shutdown has begun: no new work; queued tasks end as not started.
pub(crate) const DRAINING: u64 = 1;
/// Shutdown has counted everything; later reports are ignored.
pub(crate) const FINAL: u64 = 2;

fn phase(state: u64) -> u64 {
    state >> PHASE_SHIFT
}

fn queued(state: u64) -> u64 {
    (state & QUEUED_MASK) >> RUNNING_BITS
}

fn running(state: u64) -> u64 {
    state & RUNNING_MASK
}

/// How a task ended, for the counters (and, by number, for the metrics' outcome label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Completed = 0,
    Failed,
    Panicked,
    TimedOut,
    Abandoned,
    NotStarted,
}

impl Fate {
    /// The fate of a run that ended with `outcome`.
    pub(crate) fn of(outcome: &crate::outcome::Outcome) -> Fate {
        use crate::outcome::Outcome;
        match outcome {
            Outcome::Completed => Fate::Completed,
            Outcome::Failed(_) => Fate::Failed,
            Outcome::Panicked(_) => Fate::Panicked,
            Outcome::TimedOut => Fate::TimedOut,
            Outcome::Abandoned => Fate::Abandoned,
            Outcome::NotStarted => Fate::NotStarted,
        }
    }
}

/// What a step found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The step happened and was counted.
    Done,
    /// Shutdown is draining: the task must not start (nothing changed; end it as not started).
    Draining,
    /// Shutdown already counted this task; nothing changed.
    Final,
}

/// Why `accept` refused a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    ShuttingDown,
    Full,
}

const SHARDS: usize = 16;

/// One thread's counters, alone on its cache lines.
#[derive(Default)]
#[repr(align(128))]
struct Shard {
    ending: AtomicU64,
    ended: [AtomicU64; 6],
}

thread_local! {
    /// The shard this thread counts into; threads are dealt shards in turn.
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

static NEXT_SHARD: AtomicU64 = AtomicU64::new(0);

fn shard_index() -> usize {
    SHARD.with(|shard| {
        if shard.get() == usize::MAX {
            shard.set(NEXT_SHARD.fetch_add(1, SeqCst) as usize % SHARDS);
        }
        shard.get()
    })
}

pub(crate) struct Counts {
    /// `phase << 62 | queued << 31 | running`.
    state: AtomicU64,
    shards: Box<[Shard]>,
}

impl Default for Counts {
    fn default() -> Self {
        Counts {
            state: AtomicU64::new(0),
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
        }
    }
}

impl Counts {
    pub(crate) fn phase(&self) -> u64 {
        phase(self.state.load(SeqCst))
    }

    /// Changes `state` with `f` unless `f` says no; returns the state before.
    fn update(&self, mut f: impl FnMut(u64) -> Option<u64>) -> Result<u64, u64> {
        self.state.fetch_update(SeqCst, SeqCst, &mut f)
    }

    /// A new task, queued. Refused once shutdown has begun, or when `capacity` tasks wait.
    pub(crate) fn accept(&self, capacity: Option<usize>) -> Result<(), Refused> {
        let capacity = capacity.map_or(MAX_QUEUED, |capacity| (capacity as u64).min(MAX_QUEUED));
        let mut refused = Refused::ShuttingDown;
        self.update(|state| {
            if phase(state) != ACCEPTING {
                refused = Refused::ShuttingDown;
                None
            } else if queued(state) >= capacity {
                refused = Refused::Full;
                None
            } else {
                Some(state + QUEUED_ONE)
            }
        })
        .map(drop)
        .map_err(|_| refused)
    }

    /// A queued task is about to run its first poll.
    pub(crate) fn start(&self) -> Step {
        let mut step = Step::Done;
        let _ = self.update(|state| match phase(state) {
            ACCEPTING => {
                step = Step::Done;
                Some(state - QUEUED_ONE + RUNNING_ONE)
            }
            DRAINING => {
                step = Step::Draining;
                None
            }
            _ => {
                step = Step::Final;
                None
            }
        });
        step
    }

    /// A task ended. `started` says whether it was running (else it was still queued). Returns
    /// the step and whether the host is now idle (nothing queued, nothing running).
    pub(crate) fn end(&self, started: bool, end: Fate) -> (Step, bool) {
        let shard = &self.shards[shard_index()];
        shard.ending.fetch_add(1, SeqCst);
        let one = if started { RUNNING_ONE } else { QUEUED_ONE };
        let result = self.update(|state| (phase(state) != FINAL).then(|| state - one));
        let outcome = match result {
            Ok(before) => {
                shard.ended[end as usize].fetch_add(1, SeqCst);
                let after = before - one;
                (Step::Done, queued(after) + running(after) == 0)
            }
            Err(_) => (Step::Final, false),
        };
        shard.ending.fetch_sub(1, SeqCst);
        outcome
    }

    pub(crate) fn is_idle(&self) -> bool {
        let state = self.state.load(SeqCst);
        queued(state) + running(state) == 0
    }

    /// Stops accepting. Returns `false` if shutdown had already begun.
    pub(crate) fn begin_drain(&self) -> bool {
        self.update(|state| (phase(state) == ACCEPTING).then_some(state | DRAINING << PHASE_SHIFT))
            .is_ok()
    }

    /// Ends the count: whatever is still queued is not started, whatever still runs is abandoned.
    /// Waits (briefly: the marked sections run no user code) for reports in progress.
    pub(crate) async fn finalize(&self) -> Stats {
        let before = self.state.swap(FINAL << PHASE_SHIFT, SeqCst);
        for shard in self.shards.iter() {
            let mut spins = 0u32;
            while shard.ending.load(SeqCst) != 0 {
                spins += 1;
                if spins < 64 {
                    std::hint::spin_loop();
                } else {
                    tokio::task::yield_now().await;
                }
            }
        }
        let shard = &self.shards[shard_index()];
        shard.ended[Fate::NotStarted as usize].fetch_add(queued(before), SeqCst);
        shard.ended[Fate::Abandoned as usize].fetch_add(running(before), SeqCst);
        self.stats()
    }

    pub(crate) fn stats(&self) -> Stats {
        let state = self.state.load(SeqCst);
        let ended = |end: Fate| -> u64 {
            self.shards
                .iter()
                .map(|shard| shard.ended[end as usize].load(SeqCst))
                .sum()
        };
        Stats {
            queued: queued(state),
            running: running(state),
            completed: ended(Fate::Completed),
            failed: ended(Fate::Failed),
            panicked: ended(Fate::Panicked),
            timed_out: ended(Fate::TimedOut),
            abandoned: ended(Fate::Abandoned),
            not_started: ended(Fate::NotStarted),
        }
    }
}
