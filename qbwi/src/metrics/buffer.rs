//! Runs' waits, durations and ends, kept per thread and handed to the recorder in batches.
//!
//! A histogram sample is the dear part of a run's metrics: the `metrics` recorders keep every
//! sample until a scrape (Prometheus' appends it to a lock-free list shared by every thread, some
//! 30 ns a sample on the bench machine), and two workers recording into the same histogram fight
//! over its cache lines; measured, recording each run's two samples where it ended cost qbwi's
//! throughput 40 %. So a run writes its samples into its thread's buffer (three relaxed stores and
//! a release, no read-modify-write), and buffers are handed to the recorder one at a time: by
//! their own thread when they are full, and by [`flush`], which hosts call every second (their
//! gauge sampler), when they are idle or shut down, and the dashboard before it renders
//! `/metrics`. (A thread of its own woken to drain half-full buffers was measured dearer: on a busy
//! machine its wake-ups cost more than the drains it took off the workers.)
//!
//! Each buffer is a single-producer ring: its thread writes entries and moves `head`; whoever
//! drains it holds `draining`, reads up to `head` and moves `tail`. A thread that ends drains its
//! buffer and leaves it to the next thread.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize};
use std::sync::{Mutex, PoisonError};

use super::task::{TaskMetrics, Word, by_id};

/// Entries per thread: 24 KB.
pub(crate) const CAPACITY: usize = 1024;

/// Held while a buffer is handed to the recorder: one thread at a time records, so that the
/// recorder's histograms stay in one core's cache for a whole batch instead of bouncing between
/// the workers that drain together.
static RECORDING: Mutex<()> = Mutex::new(());

/// What an entry holds: a wait, a duration and an end ([`Word`] as `u8`), a duration only (a
/// durable run, whose end the worker counts), or a task queued.
pub(crate) const WAIT: u8 = u8::MAX;
pub(crate) const DURATION_ONLY: u8 = u8::MAX - 1;
pub(crate) const QUEUED: u8 = u8::MAX - 2;

/// One sample. Written by the buffer's thread before it publishes `head`, read by whoever drains
/// after: relaxed is enough (the release and acquire on `head` and `tail` order them).
struct Entry {
    /// [`TaskMetrics::id`].
    task: AtomicU32,
    what: AtomicU8,
    /// Nanoseconds; [`NO_DURATION`]: the run never started.
    nanos: AtomicU64,
}

/// The `nanos` of an end without a duration (the run never started).
pub(crate) const NO_DURATION: u64 = u64::MAX;

struct Buffer {
    entries: Box<[Entry]>,
    /// Entries written (only the owning thread moves it).
    head: AtomicUsize,
    /// Entries handed to the recorder (only whoever holds `draining` moves it).
    tail: AtomicUsize,
    /// Someone is draining.
    draining: AtomicBool,
    /// A live thread writes into it.
    owned: AtomicBool,
}

/// Every buffer ever made, owned or free (a few per thread that ever recorded a run, reused).
static BUFFERS: Mutex<Vec<&'static Buffer>> = Mutex::new(Vec::new());

/// This thread's buffer; drained and freed when the thread ends.
struct Mine(&'static Buffer);

thread_local! {
    static MINE: Mine = Mine::claim();
}

impl Mine {
    /// A free buffer, or a new one.
    fn claim() -> Mine {
        let mut buffers = BUFFERS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(free) = buffers.iter().find(|buffer| {
            buffer
                .owned
                .compare_exchange(false, true, Acquire, Relaxed)
                .is_ok()
        }) {
            return Mine(free);
        }
        let buffer: &'static Buffer = Box::leak(Box::new(Buffer {
            entries: (0..CAPACITY)
                .map(|_| Entry {
                    task: AtomicU32::new(0),
                    what: AtomicU8::new(0),
                    nanos: AtomicU64::new(0),
                })
                .collect(),
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
            owned: AtomicBool::new(true),
        }));
        buffers.push(buffer);
        Mine(buffer)
    }
}

impl Drop for Mine {
    fn drop(&mut self) {
        while !self.0.drain() {
            std::thread::yield_now(); // `flush` is draining it: let it finish
        }
        self.0.owned.store(false, Release);
    }
}

/// Records `nanos` of `what` for `task`, through this thread's buffer.
#[inline]
pub(crate) fn push(task: &'static TaskMetrics, what: u8, nanos: u64) {
    let written = MINE.try_with(|mine| mine.0.push(task, what, nanos));
    if written != Ok(true) {
        // The thread is ending, or its buffer is full while `flush` drains it.
        record(task, what, nanos);
    }
}

impl Buffer {
    /// `false` if it is full and someone else drains it.
    #[inline]
    fn push(&self, task: &'static TaskMetrics, what: u8, nanos: u64) -> bool {
        let head = self.head.load(Relaxed);
        if head - self.tail.load(Acquire) >= CAPACITY && !self.drain() {
            return false;
        }
        let entry = &self.entries[head % CAPACITY];
        entry.task.store(task.id, Relaxed);
        entry.what.store(what, Relaxed);
        entry.nanos.store(nanos, Relaxed);
        self.head.store(head + 1, Release);
        true
    }

    /// Hands what it holds to the recorder; `false` if someone else is draining it.
    #[cold]
    fn drain(&self) -> bool {
        if self.draining.swap(true, Acquire) {
            return false;
        }
        let recording = RECORDING.lock().unwrap_or_else(PoisonError::into_inner);
        let tail = self.tail.load(Relaxed);
        let head = self.head.load(Acquire);
        let tasks = by_id();
        // Queued and ended runs, counted once per task and word rather than once per run.
        let mut counts: Vec<(&'static TaskMetrics, u8, u64)> = Vec::new();
        for index in tail..head {
            let entry = &self.entries[index % CAPACITY];
            let Some(&task) = tasks.get(entry.task.load(Relaxed) as usize) else {
                continue;
            };
            let what = entry.what.load(Relaxed);
            if what <= QUEUED {
                match counts
                    .iter_mut()
                    .find(|(t, w, _)| std::ptr::eq(*t, task) && *w == what)
                {
                    Some((_, _, count)) => *count += 1,
                    None => counts.push((task, what, 1)),
                }
            }
            record_sample(task, what, entry.nanos.load(Relaxed));
        }
        for (task, what, count) in counts {
            count_runs(task, what, count);
        }
        drop(recording);
        self.tail.store(head, Release);
        self.draining.store(false, Release);
        true
    }
}

/// Records one entry's histogram sample, if it has one (not its count), in seconds.
fn record_sample(task: &TaskMetrics, what: u8, nanos: u64) {
    let seconds = nanos as f64 * 1e-9;
    match what {
        WAIT => task.wait.record(seconds),
        QUEUED => {}
        _ if nanos == NO_DURATION => {}
        _ => task.duration.record(seconds),
    }
}

/// Counts `count` entries of `what` (queued, or ended so).
fn count_runs(task: &TaskMetrics, what: u8, count: u64) {
    match what {
        QUEUED => task.queued.increment(count),
        WAIT | DURATION_ONLY => {}
        word => task.finished(Word::from_u8(word)).increment(count),
    }
}

/// Records one entry now, without a buffer.
#[cold]
fn record(task: &'static TaskMetrics, what: u8, nanos: u64) {
    record_sample(task, what, nanos);
    count_runs(task, what, 1);
}

/// Hands every thread's buffered samples to the recorder now. Hosts do it every second, when they
/// are idle ([`Host::wait_idle`](crate::Host::wait_idle)) and when they shut down, and the
/// dashboard before it renders `/metrics`; call it before reading a recorder yourself to see
/// every run that has ended.
///
/// ```
/// qbwi::metrics::flush();
/// ```
pub fn flush() {
    let buffers: Vec<&'static Buffer> = BUFFERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    for buffer in buffers {
        // One that its thread is draining is being handed over already.
        buffer.drain();
    }
}
