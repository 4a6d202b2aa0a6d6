//! What every contender runs, and the bookkeeping that checks each one really ran every task.
//!
//! The body is the same for all: format a short string from the argument and `black_box` it.
//! The check is one per-thread counter that only its own thread writes (no shared cache line on
//! the hot path); the bench sums the counters after a contender says it has drained.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// The body of every task of every contender.
#[inline]
pub fn body(n: u64) {
    std::hint::black_box(format!("hello {n}"));
    COUNTER.with(|ran| ran.store(ran.load(Ordering::Relaxed) + 1, Ordering::Relaxed));
}

/// Every thread's run counter that [`body`] ever touched (leaked: a few per runtime).
static COUNTERS: Mutex<Vec<&'static AtomicU64>> = Mutex::new(Vec::new());

thread_local! {
    /// This thread's run counter; written only by this thread.
    static COUNTER: &'static AtomicU64 = {
        let counter: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
        counters().push(counter);
        counter
    };
}

/// The list of run counters, locked.
fn counters() -> MutexGuard<'static, Vec<&'static AtomicU64>> {
    COUNTERS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Zeroes the run counters. Called between measurements, when no task runs.
pub fn reset() {
    for counter in counters().iter() {
        counter.store(0, Ordering::Relaxed);
    }
    PARKED.store(0, Ordering::Relaxed);
    TIMED_DONE.store(0, Ordering::Relaxed);
}

/// How many bodies ran since [`reset`]. Exact once the contender has drained (its drain
/// synchronises with the tasks' ends).
pub fn ran() -> u64 {
    counters()
        .iter()
        .map(|counter| counter.load(Ordering::Relaxed))
        .sum()
}

/// Panics unless exactly `expected` bodies ran: every contender must do all the work.
#[track_caller]
pub fn check_ran(contender: &str, expected: u64) {
    let ran = ran();
    assert_eq!(
        ran, expected,
        "{contender}: {ran} tasks ran, {expected} were queued"
    );
}

/// Per call of the latency scenario: nanoseconds from queued to started, by task number.
static QUEUED_TO_STARTED: OnceLock<Box<[AtomicU64]>> = OnceLock::new();

/// Latency-scenario tasks that have run since [`reset`].
static TIMED_DONE: AtomicU64 = AtomicU64::new(0);

/// The slots of [`timed_body`], at least `calls` of them (sized on first use).
fn slots(calls: u64) -> &'static [AtomicU64] {
    let slots = QUEUED_TO_STARTED.get_or_init(|| (0..calls).map(|_| AtomicU64::new(0)).collect());
    assert!(
        slots.len() as u64 >= calls,
        "latency slots sized for fewer calls"
    );
    slots
}

/// Allocates the latency slots before a measurement (so the first call does not pay for it).
pub fn prepare_latency(calls: u64) {
    slots(calls);
}

/// The body of the latency scenario: records how long task `n` waited since `queued_at` (an
/// `Instant` taken just before its queue call), then runs [`body`].
#[inline]
pub fn timed_body(n: u64, queued_at: Instant) {
    let waited = queued_at.elapsed();
    let slots = QUEUED_TO_STARTED.get().expect("prepare_latency first");
    slots[n as usize].store(waited.as_nanos() as u64, Ordering::Relaxed);
    body(n);
    TIMED_DONE.fetch_add(1, Ordering::Release);
}

/// Latency-scenario calls are made in bursts of this many, back to back.
pub const BURST: u64 = 10;

/// Between bursts, once the burst has run, the bench sleeps this long: the workers go idle, as
/// they are between requests of a lightly loaded service.
pub const PAUSE: Duration = Duration::from_micros(100);

/// Paces the latency scenario; call after queueing task `n`. At the end of a burst it waits
/// (yielding the thread, so the workers get the cores) until every task queued so far ran, then
/// sleeps [`PAUSE`]. For the bench's own thread only, never on a runtime worker.
pub fn pace(n: u64) {
    let queued = n + 1;
    if queued.is_multiple_of(BURST) {
        while TIMED_DONE.load(Ordering::Acquire) < queued {
            std::thread::yield_now();
        }
        std::thread::sleep(PAUSE);
    }
}

/// The queued-to-started latencies of calls `0..calls`, in nanoseconds.
pub fn queued_to_started(calls: u64) -> Vec<u64> {
    slots(calls)[..calls as usize]
        .iter()
        .map(|slot| slot.load(Ordering::Relaxed))
        .collect()
}

/// The gate that blocked tasks wait at (memory scenario) or that stands in for a cancellation
/// token where a contender has none (apalis, shutdown scenario).
static GATE: Mutex<Option<CancellationToken>> = Mutex::new(None);

/// Tasks that reached [`wait_at_gate`] since [`reset`].
static PARKED: AtomicU64 = AtomicU64::new(0);

/// Closes a new gate; cancel the returned token to open it.
pub fn close_gate() -> CancellationToken {
    let gate = CancellationToken::new();
    *GATE.lock().unwrap_or_else(PoisonError::into_inner) = Some(gate.clone());
    gate
}

/// Counts this task as parked, then waits until the current gate opens.
pub async fn wait_at_gate() {
    let gate = GATE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .expect("close_gate first");
    parked();
    gate.cancelled().await;
}

/// Counts one more task as parked (started and waiting).
pub fn parked() {
    PARKED.fetch_add(1, Ordering::Release);
}

/// Waits (yielding the thread) until `count` tasks are parked. The bench's own thread only.
pub fn wait_parked(count: u64) {
    while PARKED.load(Ordering::Acquire) < count {
        std::thread::yield_now();
    }
}
