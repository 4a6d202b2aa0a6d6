//! The gauges, read from what the host and the store already count rather than kept per task:
//! tasks running and waiting ([`watch_host`], once a second from the host's counters) and the
//! store's jobs by task and state ([`JobGauges`], every 15 s from the store's counts).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use ::metrics::gauge;
use tokio::runtime::Handle;
use tokio::time::{Interval, MissedTickBehavior};

use super::task::{generation, store_error};
use super::{JOBS, STATE_LABEL, TASK_LABEL, TASKS_RUNNING, TASKS_WAITING};
use crate::counts::FINAL;
use crate::host::HostInner;
use crate::{JobState, Store};

/// How often a host's tasks running and waiting are read into the gauges.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// How often a host with a store reads its counts into `qbwi_jobs`: they walk the jobs that are
/// not finished, which takes a while on a large store.
const JOBS_EVERY: Duration = if cfg!(test) {
    Duration::from_millis(100)
} else {
    Duration::from_secs(15)
};

/// The states `qbwi_jobs` shows: those the store's per-task counts hold (the finished ones are
/// history, counted by `qbwi_tasks_finished_total`).
const STATES: [JobState; 5] = [
    JobState::Scheduled,
    JobState::Ready,
    JobState::Running,
    JobState::Retrying,
    JobState::Dead,
];

/// Keeps `qbwi_tasks_running` and `qbwi_tasks_waiting` up to date with `host`'s counters, once a
/// second, until it has shut down or is gone. Each host adds its own share to the gauges (and
/// takes it back when it stops), so several hosts in one process add up.
pub(crate) fn watch_host(runtime: &Handle, host: &Arc<HostInner>) {
    // The runs' clock calibrates itself at its first reading (under a millisecond): here, not in
    // the first run.
    let _ = quanta::Instant::now();
    runtime.spawn(sample(Arc::downgrade(host)));
}

async fn sample(host: Weak<HostInner>) {
    let mut share = Share::default();
    let mut every = tokio::time::interval(SAMPLE_EVERY);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        super::flush(); // the runs that ended, from every thread's buffer
        let Some(host) = host.upgrade() else { return };
        let stats = host.counts.stats();
        share.publish(stats.running as f64, stats.queued as f64);
        if host.counts.phase() == FINAL {
            return; // shut down: `share` takes its share back
        }
    }
}

/// What one host has added to the two gauges.
#[derive(Default)]
struct Share {
    running: f64,
    waiting: f64,
    /// The recorder generation the share was added in: a new recorder starts from nothing.
    generation: Option<u32>,
}

impl Share {
    fn publish(&mut self, running: f64, waiting: f64) {
        let now = generation();
        if self.generation != Some(now) {
            *self = Share {
                generation: Some(now),
                ..Share::default()
            };
        }
        gauge!(TASKS_RUNNING).increment(running - self.running);
        gauge!(TASKS_WAITING).increment(waiting - self.waiting);
        self.running = running;
        self.waiting = waiting;
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        // Runs in the host's runtime's task, or where the runtime drops it: the recorder is
        // global, so this is the same gauge wherever it runs.
        if self.generation == Some(generation()) {
            self.publish(0.0, 0.0);
        }
    }
}

/// The tasks `qbwi_jobs` shows, whichever host of the process showed them: one that has no jobs
/// left is shown as 0, then dropped.
static SHOWN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// `qbwi_jobs{task, state}`, from the store's counts by task, on the node loop of a host with a
/// store.
pub(crate) struct JobGauges {
    every: Interval,
}

impl JobGauges {
    pub(crate) fn new() -> JobGauges {
        let mut every = tokio::time::interval(JOBS_EVERY);
        every.set_missed_tick_behavior(MissedTickBehavior::Delay);
        JobGauges { every }
    }

    /// Resolves when the gauges are due for an update: at once, then every 15 s.
    pub(crate) async fn due(&mut self) {
        self.every.tick().await;
    }

    /// Reads the store's counts into the gauges.
    pub(crate) async fn update(&mut self, store: &Store) {
        let counts = match store.counts_by_task().await {
            Ok(counts) => counts,
            Err(error) => {
                store_error();
                tracing::debug!(%error, "cannot read the store's counts for the metrics");
                return;
            }
        };
        let mut shown = SHOWN.lock().unwrap_or_else(PoisonError::into_inner);
        let mut now = BTreeSet::new();
        for task in counts {
            for state in STATES {
                gauge!(JOBS, TASK_LABEL => task.task.clone(), STATE_LABEL => state.as_str())
                    .set(task.counts.get(state) as f64);
            }
            now.insert(task.task);
        }
        for gone in shown.difference(&now) {
            for state in STATES {
                gauge!(JOBS, TASK_LABEL => gone.clone(), STATE_LABEL => state.as_str()).set(0.0);
            }
        }
        *shown = now;
    }
}
