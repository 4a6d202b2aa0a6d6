//! What a job is, in the store's terms: its id, a job to add, one a worker claimed and how its run
//! ended (the reports the worker sends back), and what an operator reads (a dead job, the counts).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A durable job's id, unique within its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub(crate) i64);

impl JobId {
    /// The id as the store keeps it.
    pub fn as_i64(self) -> i64 {
        self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A job to add to the store.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// The task's registered name.
    pub(crate) task: &'static str,
    /// The task's arguments, serialized (a JSON object, one member per argument).
    pub(crate) payload: String,
    /// Not to start before this (milliseconds since the Unix epoch); `None`: now, by the store's
    /// clock.
    pub(crate) run_at: Option<i64>,
    /// Runs at most this many times (1 + retries).
    pub(crate) max_attempts: u32,
}

/// A job a worker claimed: it holds the lease until it completes, fails, releases or dies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClaimedJob {
    pub(crate) id: JobId,
    pub(crate) task: String,
    /// The task's arguments as stored; `Err`: the row cannot be read (a payload that is not text,
    /// a count that is not a number: see [`unreadable`](super::rows::unreadable)), with what is wrong with it. The worker
    /// makes such a job dead at once; the rest of the claim runs.
    pub(crate) payload: Result<String, String>,
    /// This run's number, from 1.
    pub(crate) attempt: u32,
    pub(crate) max_attempts: u32,
}

/// What to claim: up to `limit` due jobs of these task names, for `worker`, for `lease`.
#[derive(Debug, Clone)]
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) struct ClaimRequest {
    pub(crate) tasks: Arc<[&'static str]>,
    pub(crate) limit: usize,
    pub(crate) worker: Arc<str>,
    pub(crate) lease: Duration,
}

/// How a claimed job's run ended, as the store records it. Each applies only while the worker
/// still holds the job's lease (otherwise another worker has it, and this report is dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finished {
    /// Deletes the job.
    Completed(JobId),
    /// Ready again at `retry_at` if it has attempts left, else dead with `error`. `retry_at:
    /// None`: dead at once (a payload that cannot be decoded).
    Failed {
        id: JobId,
        error: String,
        retry_at: Option<i64>,
    },
    /// Ready again at once, the attempt given back (graceful shutdown).
    Released(JobId),
}

/// A job that ran out of attempts (or could not be decoded), kept for an operator: from
/// [`Store::dead_jobs`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadJob {
    /// The job's id, for [`Store::retry_dead`] and [`Store::delete_dead`].
    pub id: JobId,
    /// The task's name.
    pub task: String,
    /// The task's arguments as stored (JSON). A row that another program wrote and that qbwi
    /// cannot read shows what it can: bytes that are not UTF-8 as `\u{FFFD}`, and a value that
    /// is not text as a placeholder saying what it is (`(not text: a BLOB of 12 bytes)`).
    pub payload: String,
    /// How many times it ran.
    pub attempts: u32,
    /// The error of its last run.
    pub last_error: String,
}

/// How many jobs a store holds, by state: from [`Store::counts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobCounts {
    /// Waiting to run, due now.
    pub ready: u64,
    /// Waiting to run, due later (delayed, or retrying after a backoff).
    pub scheduled: u64,
    /// Claimed by a worker.
    pub running: u64,
    /// Out of attempts.
    pub dead: u64,
}
