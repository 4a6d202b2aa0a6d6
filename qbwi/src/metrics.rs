//! Metrics (feature `metrics`), through the [`metrics`](https://docs.rs/metrics) facade: qbwi
//! records into whichever recorder the app installs (Prometheus, StatsD, OpenTelemetry, ..). With
//! feature `prometheus`, the dashboard serves them at `GET /metrics`.
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `qbwi_tasks_queued_total` | counter | `task` | tasks queued: every `queue` the host accepted, and every durable job stored (`enqueue`, `queue`, `enqueue_in`) |
//! | `qbwi_tasks_finished_total` | counter | `task`, `outcome` | runs that ended, by how (below) |
//! | `qbwi_task_duration_seconds` | histogram | `task` | how long each run ran, from its start to its end |
//! | `qbwi_task_wait_seconds` | histogram | `task` | how long each run waited to start: since it was queued, or for a durable job since it was due (its `run_at`, by the store's clock) |
//! | `qbwi_tasks_running` | gauge | | tasks running on the hosts of this process |
//! | `qbwi_tasks_waiting` | gauge | | tasks queued in memory that have not started (claimed durable jobs included) |
//! | `qbwi_jobs` | gauge | `task`, `state` | the store's jobs by task and state (`scheduled`, `ready`, `running`, `retrying`, `dead`), read every 15 s by each host with a store (every process reports the whole store: aggregate with `max`, not `sum`) |
//! | `qbwi_store_errors_total` | counter | | store errors the host logged (and retries): claims, reports, heartbeats, writes |
//!
//! `outcome` is, for an in-memory task, what its [`Outcome`](crate::Outcome) says:
//! `completed`, `failed`, `panicked`, `timed_out`, `abandoned` (still running at the shutdown
//! deadline) or `not_started` (still queued when shutdown began). For a durable job's run it is
//! what becomes of the job: `completed`, `retried` (it failed, panicked or timed out and runs
//! again after its backoff), `dead` (it did so on its last attempt, or cannot be decoded),
//! `cancelled` (by an operator) or `released` (interrupted by the shutdown: back in the store
//! without using an attempt).
//!
//! Labels hold task names and these words only: never arguments, job ids or errors, so the number
//! of series stays the number of tasks times a few.
//!
//! # Installing a recorder
//!
//! Install the recorder before the host runs tasks. Each task's metric handles are looked up once,
//! at its first run, and stay with the recorder installed at that moment (as the facade's own
//! handles do); with none installed, they record nothing. A recorder installed later is used
//! once qbwi is told with [`recorder_installed`]; `install_prometheus` (feature `prometheus`)
//! tells it itself.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Any `metrics` recorder; this one drops everything.
//! let _ = metrics::set_global_recorder(metrics::NoopRecorder);
//! let host = qbwi::Host::builder().build()?; // describes the metrics to the recorder
//! host.queue_work_item(|_token| async {})?;
//! host.wait_idle().await;
//! host.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # When the recorder sees them
//!
//! Runs' waits, durations and ends (and in-memory queues) are written into a small buffer of the
//! thread that has them and handed to the recorder in batches: when a buffer is full, and every
//! second. A host that is idle ([`Host::wait_idle`](crate::Host::wait_idle)) or shut down has
//! handed every run over, and so has the dashboard before it renders `/metrics`; [`flush`] does it
//! at once. The gauges of tasks running and waiting are read from the host's own counters once a
//! second.
//!
//! # What it costs
//!
//! A task's handles are found in a small per-thread cache keyed by its name, so a run allocates
//! nothing and hashes nothing for its metrics: it reads the clock three times (queued, started,
//! ended: the CPU's time-stamp counter where it is reliable, through `quanta`) and writes three
//! entries into the buffers, without a read-modify-write; a queued task is 16 bytes larger. The
//! recorder's own work (for Prometheus', keeping every histogram sample until a scrape: some 30 ns
//! a sample) is done a batch at a time, by one thread at a time. Without the feature none of this
//! is compiled. The throughput bench measures it: `cargo bench -p qbwi-bench --bench throughput --features metrics
//! -- throughput qbwi qbwi-metrics` runs the same host and task with a Prometheus recorder and
//! without one, in turns, and prints the ratio.

mod buffer;
mod end;
mod gauges;
#[cfg(feature = "prometheus")]
mod prometheus;
mod task;
#[cfg(test)]
mod tests;

use ::metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

pub use buffer::flush;
pub(crate) use gauges::{JobGauges, watch_host};
#[cfg(feature = "prometheus")]
pub use prometheus::{BUCKETS, InstallError, install_prometheus, prometheus_builder};
pub(crate) use task::{DurableEnd, RunMetrics, Storing, durable_ended, store_error};

/// `qbwi_tasks_queued_total{task}`: a counter of the tasks queued (in memory, and durable jobs
/// stored).
pub const TASKS_QUEUED: &str = "qbwi_tasks_queued_total";

/// `qbwi_tasks_finished_total{task, outcome}`: a counter of the runs that ended, by outcome.
pub const TASKS_FINISHED: &str = "qbwi_tasks_finished_total";

/// `qbwi_task_duration_seconds{task}`: a histogram of how long runs ran.
pub const TASK_DURATION: &str = "qbwi_task_duration_seconds";

/// `qbwi_task_wait_seconds{task}`: a histogram of how long runs waited to start.
pub const TASK_WAIT: &str = "qbwi_task_wait_seconds";

/// `qbwi_tasks_running`: a gauge of the tasks running on this process's hosts.
pub const TASKS_RUNNING: &str = "qbwi_tasks_running";

/// `qbwi_tasks_waiting`: a gauge of the tasks queued in memory and not started.
pub const TASKS_WAITING: &str = "qbwi_tasks_waiting";

/// `qbwi_jobs{task, state}`: a gauge of the store's jobs by task and state.
pub const JOBS: &str = "qbwi_jobs";

/// `qbwi_store_errors_total`: a counter of the store errors the hosts logged.
pub const STORE_ERRORS: &str = "qbwi_store_errors_total";

/// The label that holds a task's name.
pub const TASK_LABEL: &str = "task";

/// The label of [`TASKS_FINISHED`] that says how a run ended.
pub const OUTCOME_LABEL: &str = "outcome";

/// The label of [`JOBS`] that holds a job state ([`JobState::as_str`](crate::JobState::as_str)).
pub const STATE_LABEL: &str = "state";

/// Tells qbwi that the app installed a recorder after its hosts ran tasks: every task looks its
/// handles up again, with this recorder (the runs before it were recorded nowhere), and the
/// metrics are described to it. `install_prometheus` (feature `prometheus`) does this itself.
///
/// ```
/// // .. the host runs tasks, and only then:
/// let _ = metrics::set_global_recorder(metrics::NoopRecorder);
/// qbwi::metrics::recorder_installed();
/// ```
pub fn recorder_installed() {
    task::new_recorder();
}

/// Describes every qbwi metric (its type, unit and help text) to the current recorder.
///
/// A host calls it when it is built, and `install_prometheus` (feature `prometheus`) when it
/// installs its recorder; [`recorder_installed`] calls it too.
///
/// ```
/// qbwi::metrics::describe(); // to whichever recorder is installed (none here: nothing happens)
/// ```
pub fn describe() {
    describe_counter!(
        TASKS_QUEUED,
        Unit::Count,
        "Tasks queued: each queue call the host accepted, and each durable job stored."
    );
    describe_counter!(
        TASKS_FINISHED,
        Unit::Count,
        "Runs that ended, by task and outcome (a durable job's outcome says what becomes of it)."
    );
    describe_histogram!(
        TASK_DURATION,
        Unit::Seconds,
        "How long each run ran, from its start to its end."
    );
    describe_histogram!(
        TASK_WAIT,
        Unit::Seconds,
        "How long each run waited to start, since it was queued (a durable job: since it was due)."
    );
    describe_gauge!(
        TASKS_RUNNING,
        Unit::Count,
        "Tasks running on this process's hosts."
    );
    describe_gauge!(
        TASKS_WAITING,
        Unit::Count,
        "Tasks queued in memory on this process's hosts and not started yet."
    );
    describe_gauge!(
        JOBS,
        Unit::Count,
        "The store's jobs by task and state, read every 15 s."
    );
    describe_counter!(
        STORE_ERRORS,
        Unit::Count,
        "Store errors the hosts logged; each is retried."
    );
}
