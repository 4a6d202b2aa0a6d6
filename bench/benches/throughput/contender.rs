//! What a contender must do in each scenario, and the runtime every measurement runs on.

use std::time::Duration;

use tokio::runtime::Runtime;

/// Why a contender cannot take part in a scenario; printed as "n/a" with the reason.
#[derive(Debug, Clone, Copy)]
pub struct NotApplicable(pub &'static str);

/// A measurement, or why there is none.
pub type Measured<T> = Result<T, NotApplicable>;

/// What the latency scenario measured, per call, in nanoseconds.
#[derive(Debug, Default)]
pub struct Latencies {
    /// The queue call itself (an `Instant` either side of it).
    pub queue_call: Vec<u64>,
    /// From just before the queue call to the first line of the task's body.
    pub queued_to_started: Vec<u64>,
}

/// What the memory scenario measured.
#[derive(Debug, Clone, Copy)]
pub struct PendingMemory {
    /// Growth of the live heap while the pending tasks were queued (bytes).
    pub heap_growth: isize,
    /// `size_of` the argument each task carries (bytes).
    pub argument_size: usize,
}

/// One way of running background tasks, measured in every scenario.
///
/// Each method gets a fresh multi-thread runtime with 2 workers (the idle shutdown shares one
/// across its repetitions), runs the same trivial body ([`crate::work::body`]) and checks that
/// every task ran before it returns.
pub trait Contender {
    /// Its name in the tables.
    fn name(&self) -> &'static str;

    /// Scenario 1: `tasks` queued from the bench's main task, all completed; the time from the
    /// first queue call to the last completion.
    fn throughput(&self, rt: &Runtime, tasks: u64) -> Measured<Duration>;

    /// Scenario 2: two std threads queue `per_producer` tasks each, concurrently; the time from
    /// their start to the last completion.
    fn two_producers(&self, rt: &Runtime, per_producer: u64) -> Measured<Duration>;

    /// Scenario 3: `calls` tasks queued at low load, paced by [`crate::work::pace`] after each
    /// call; the latency of every queue call and of every queued-to-started.
    fn latency(&self, rt: &Runtime, calls: u64) -> Measured<Latencies>;

    /// Scenario 4: heap growth while `tasks` tasks are queued behind one running task that
    /// blocks (raw tokio: `tasks` spawned tasks parked on a shared gate).
    fn pending_memory(&self, rt: &Runtime, tasks: u64) -> Measured<PendingMemory>;

    /// Scenario 5a: the time to shut down with nothing queued or running.
    fn idle_shutdown(&self, rt: &Runtime) -> Measured<Duration>;

    /// Scenario 5b: the time to shut down `tasks` running tasks that end when cancelled.
    fn busy_shutdown(&self, rt: &Runtime, tasks: u64) -> Measured<Duration>;
}

/// A fresh multi-thread runtime with 2 worker threads: the machine has 2 cores.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
