//! Each task's metric handles, registered once and found again without allocating or hashing:
//! [`TaskMetrics::of`] keeps them in a small per-thread cache keyed by the name's address. And
//! what the host records with them: [`RunMetrics`] (one run's clock, inside the run), the durable
//! outcomes, the queued durable jobs and the store's errors.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

/// The runs' clock: the CPU's time-stamp counter where it is reliable (about 10 ns a reading on
/// the bench machine, against 25 for `std`'s), else the OS's monotonic clock.
use quanta::Instant;

use ::metrics::{Counter, Histogram, counter, histogram};

use super::buffer;
use super::{OUTCOME_LABEL, STORE_ERRORS, TASK_DURATION, TASK_LABEL, TASK_WAIT, TASKS_FINISHED};
use super::{TASKS_QUEUED, describe};
use crate::counts::Fate;
use crate::outcome::Outcome;
use crate::store::NewJob;

/// The words of `qbwi_tasks_finished_total`'s `outcome` label: a run's [`Fate`], numbered alike,
/// then the durable ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Word {
    Completed = Fate::Completed as isize,
    Failed = Fate::Failed as isize,
    Panicked = Fate::Panicked as isize,
    TimedOut = Fate::TimedOut as isize,
    Abandoned = Fate::Abandoned as isize,
    NotStarted = Fate::NotStarted as isize,
    Retried,
    Dead,
    Cancelled,
    Released,
}

const WORDS: usize = Word::Released as usize + 1;

impl Word {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Word::Completed => "completed",
            Word::Failed => "failed",
            Word::Panicked => "panicked",
            Word::TimedOut => "timed_out",
            Word::Abandoned => "abandoned",
            Word::NotStarted => "not_started",
            Word::Retried => "retried",
            Word::Dead => "dead",
            Word::Cancelled => "cancelled",
            Word::Released => "released",
        }
    }

    /// The word of [`Word`]` as u8`.
    pub(crate) fn from_u8(word: u8) -> Word {
        const ALL: [Word; WORDS] = [
            Word::Completed,
            Word::Failed,
            Word::Panicked,
            Word::TimedOut,
            Word::Abandoned,
            Word::NotStarted,
            Word::Retried,
            Word::Dead,
            Word::Cancelled,
            Word::Released,
        ];
        ALL.get(usize::from(word))
            .copied()
            .unwrap_or(Word::Completed)
    }

    fn of(outcome: &Outcome) -> Word {
        Word::from_u8(Fate::of(outcome) as u8)
    }
}

pub(crate) use super::end::DurableEnd;

impl DurableEnd {
    fn word(self) -> Word {
        match self {
            DurableEnd::Completed => Word::Completed,
            DurableEnd::Retried => Word::Retried,
            DurableEnd::Dead => Word::Dead,
            DurableEnd::Cancelled => Word::Cancelled,
            DurableEnd::Released => Word::Released,
        }
    }
}

/// One task's handles, registered with the recorder of the moment.
pub(crate) struct TaskMetrics {
    /// Its place in [`by_id`], which the buffers' entries hold.
    pub(crate) id: u32,
    name: &'static str,
    pub(crate) queued: Counter,
    pub(crate) duration: Histogram,
    pub(crate) wait: Histogram,
    /// By [`Word`], registered at the first run that ends so: a task shows the outcomes it had.
    finished: [OnceLock<Counter>; WORDS],
}

impl TaskMetrics {
    fn register(id: u32, name: &'static str) -> TaskMetrics {
        TaskMetrics {
            id,
            name,
            queued: counter!(TASKS_QUEUED, TASK_LABEL => name),
            duration: histogram!(TASK_DURATION, TASK_LABEL => name),
            wait: histogram!(TASK_WAIT, TASK_LABEL => name),
            finished: [const { OnceLock::new() }; WORDS],
        }
    }

    pub(crate) fn finished(&self, word: Word) -> &Counter {
        self.finished[word as usize].get_or_init(
            || counter!(TASKS_FINISHED, TASK_LABEL => self.name, OUTCOME_LABEL => word.as_str()),
        )
    }

    /// The handles of task `name`: from this thread's cache, else registered (once per process,
    /// until a recorder is installed through qbwi).
    #[inline]
    pub(crate) fn of(name: &'static str) -> &'static TaskMetrics {
        let generation = GENERATION.load(Relaxed);
        let (address, len) = (name.as_ptr() as usize, name.len());
        let index = ((address >> 3) ^ len) % SLOTS;
        CACHE.with(|cache| {
            let slot = cache[index].get();
            if slot.address == address
                && slot.len == len
                && slot.generation == generation
                && let Some(task) = slot.task
            {
                return task;
            }
            let task = registered(name);
            cache[index].set(Slot {
                address,
                len,
                generation,
                task: Some(task),
            });
            task
        })
    }
}

/// Bumped when qbwi installs a recorder: the handles registered before (with no recorder) are
/// registered again.
static GENERATION: AtomicU32 = AtomicU32::new(0);

/// Every task's handles, by name, for the current generation.
static REGISTERED: Mutex<Option<Registered>> = Mutex::new(None);

/// Every set of handles ever registered, by [`TaskMetrics::id`].
static BY_ID: Mutex<Vec<&'static TaskMetrics>> = Mutex::new(Vec::new());

/// Every set of handles ever registered, by id (a copy: the buffers read it once per batch).
pub(crate) fn by_id() -> Vec<&'static TaskMetrics> {
    BY_ID.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

struct Registered {
    generation: u32,
    tasks: HashMap<&'static str, &'static TaskMetrics>,
}

/// The handles of task `name` in the current generation, registered if they are not yet. Each
/// set lives as long as the process (a few hundred bytes per task and generation).
#[cold]
fn registered(name: &'static str) -> &'static TaskMetrics {
    let mut registered = REGISTERED.lock().unwrap_or_else(PoisonError::into_inner);
    let generation = GENERATION.load(Relaxed);
    let registered = match &mut *registered {
        Some(registered) if registered.generation == generation => registered,
        stale => stale.insert(Registered {
            generation,
            tasks: HashMap::new(),
        }),
    };
    registered.tasks.entry(name).or_insert_with(|| {
        let mut by_id = BY_ID.lock().unwrap_or_else(PoisonError::into_inner);
        let id = u32::try_from(by_id.len()).unwrap_or(u32::MAX);
        let task: &'static TaskMetrics = Box::leak(Box::new(TaskMetrics::register(id, name)));
        by_id.push(task);
        task
    })
}

/// The current recorder generation.
pub(crate) fn generation() -> u32 {
    GENERATION.load(Relaxed)
}

/// A recorder was installed: every task registers its handles again, and the metrics are described
/// to it.
pub(crate) fn new_recorder() {
    GENERATION.fetch_add(1, Relaxed);
    describe();
}

const SLOTS: usize = 16;

/// A cached task: its name's address and length, the generation, its handles.
#[derive(Clone, Copy)]
struct Slot {
    address: usize,
    len: usize,
    generation: u32,
    task: Option<&'static TaskMetrics>,
}

thread_local! {
    /// Direct-mapped by the name's address: no hashing, no allocation, no destructor.
    static CACHE: [Cell<Slot>; SLOTS] = const {
        [const {
            Cell::new(Slot {
                address: 0,
                len: 0,
                generation: 0,
                task: None,
            })
        }; SLOTS]
    };
}

/// One run's metrics, kept in the run: its task's handles, and when it was queued (then when it
/// started).
pub(crate) struct RunMetrics {
    task: &'static TaskMetrics,
    since: Instant,
}

impl RunMetrics {
    /// A task queued in memory: counted as queued.
    #[inline]
    pub(crate) fn queued(name: &'static str) -> RunMetrics {
        let task = TaskMetrics::of(name);
        buffer::push(task, buffer::QUEUED, 0);
        RunMetrics {
            task,
            since: Instant::now(),
        }
    }

    /// A durable job's run, due `waited` ago (it was counted as queued when it was stored).
    #[inline]
    pub(crate) fn claimed(name: &'static str, waited: Duration) -> RunMetrics {
        let now = Instant::now();
        RunMetrics {
            task: TaskMetrics::of(name),
            since: now.checked_sub(waited).unwrap_or(now),
        }
    }

    /// The run starts: records how long it waited.
    #[inline]
    pub(crate) fn started(&mut self) {
        let now = Instant::now();
        buffer::push(
            self.task,
            buffer::WAIT,
            nanos(now.duration_since(self.since)),
        );
        self.since = now;
    }

    /// The run ended so; `started`: it had started. A durable job's run (`claimed`) is counted
    /// by the durable worker, which knows what becomes of the job.
    #[inline]
    pub(crate) fn ended(&self, outcome: &Outcome, started: bool, claimed: bool) {
        let duration = if started {
            nanos(self.since.elapsed())
        } else {
            buffer::NO_DURATION
        };
        match claimed {
            false => buffer::push(self.task, Word::of(outcome) as u8, duration),
            true if started => buffer::push(self.task, buffer::DURATION_ONLY, duration),
            true => {}
        }
    }
}

/// `duration` in nanoseconds, short of [`buffer::NO_DURATION`].
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).map_or(buffer::NO_DURATION - 1, |nanos| {
        nanos.min(buffer::NO_DURATION - 1)
    })
}

/// A durable job of task `name` ended so.
pub(crate) fn durable_ended(name: &'static str, end: DurableEnd) {
    TaskMetrics::of(name).finished(end.word()).increment(1);
}

/// A store error, logged and retried.
pub(crate) fn store_error() {
    counter!(STORE_ERRORS).increment(1);
}

/// The tasks of jobs being stored, counted as queued once they are.
pub(crate) struct Storing(Vec<&'static str>);

impl Storing {
    pub(crate) fn of(jobs: &[NewJob]) -> Storing {
        Storing(jobs.iter().map(|job| job.task).collect())
    }

    /// The jobs were stored; `new(i)`: the `i`th was a new job, not a duplicate of a unique one.
    pub(crate) fn stored(self, new: impl Fn(usize) -> bool) {
        for (index, name) in self.0.into_iter().enumerate() {
            if new(index) {
                TaskMetrics::of(name).queued.increment(1);
            }
        }
    }
}
