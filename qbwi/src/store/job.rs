//! What a job is, in the store's terms: its id, a job to add, one a worker claimed and how its run
//! ended (the reports the worker sends back), and what an operator reads (a dead job, the counts).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::JobState;

/// A durable job's id, unique within its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub(crate) i64);

impl JobId {
    /// The id as the store keeps it.
    pub fn as_i64(self) -> i64 {
        self.0
    }

    /// The job whose id the store keeps as `id` (as [`as_i64`](JobId::as_i64) gave it, or as an
    /// operator typed it).
    pub fn from_i64(id: i64) -> JobId {
        JobId(id)
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
    /// A unique task's key, and what a duplicate does.
    pub(crate) unique: Option<UniqueKey>,
}

/// The key of a unique task's job (`unique`, `unique_by = [..]`): at most one live job holds it.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueKey {
    /// The task's name and the key arguments, as JSON.
    pub(crate) key: String,
    /// `unique_for`: the key stays taken this long after the enqueue (ms), even once the job
    /// finished; `None`: only while the job is live.
    pub(crate) for_millis: Option<i64>,
    /// `on_conflict = "replace"`: a duplicate's arguments and run time replace the pending job's.
    pub(crate) replace: bool,
}

/// What [`enqueue_unique`](crate::DurableTask) did with a unique task's job: stored it, or found
/// a job holding its key (whose id it gives; with `on_conflict = "replace"`, that job now has the
/// new arguments if it had not started).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Enqueued {
    /// A new job, with this id.
    New(JobId),
    /// A job of the same key was live (or finished within `unique_for`): this one.
    Duplicate(JobId),
}

impl Enqueued {
    /// The job's id, new or existing.
    pub fn id(&self) -> JobId {
        match self {
            Enqueued::New(id) | Enqueued::Duplicate(id) => *id,
        }
    }

    /// `true` for a new job.
    pub fn is_new(&self) -> bool {
        matches!(self, Enqueued::New(_))
    }
}

/// Ticks of a schedule to fire: their jobs are added only if no node fired any of them (or a later
/// tick) before, by a conditional update of the schedule's row in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fire {
    /// The schedule's (its task's) name.
    pub(crate) name: &'static str,
    /// Its expression and zone, recorded for operators.
    pub(crate) expression: &'static str,
    pub(crate) timezone: &'static str,
    /// The ticks (milliseconds since the Unix epoch), in order, each with its job.
    pub(crate) ticks: Vec<(i64, NewJob)>,
}

// Read by the backends, which the in-memory build has none of.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
impl Fire {
    /// The first tick: the schedule's last must be before it.
    pub(crate) fn first(&self) -> i64 {
        self.ticks.first().map_or(i64::MIN, |(tick, _)| *tick)
    }

    /// The last tick: what the schedule records.
    pub(crate) fn last(&self) -> i64 {
        self.ticks.last().map_or(i64::MIN, |(tick, _)| *tick)
    }

    /// The jobs, in the ticks' order.
    pub(crate) fn jobs(&self) -> Vec<NewJob> {
        self.ticks.iter().map(|(_, job)| job.clone()).collect()
    }
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
    /// How long ago it was due (its `run_at`), by the store's clock, when it was claimed.
    pub(crate) waited: Duration,
}

/// A host that could run a job it is enqueueing at once: its worker, its lease, and the tasks it
/// claims together (the job is taken only if none of theirs is due and waiting, so that it never
/// runs before jobs added earlier).
#[derive(Debug, Clone)]
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) struct Take {
    pub(crate) worker: Arc<str>,
    pub(crate) lease: Duration,
    pub(crate) tasks: Arc<[&'static str]>,
    /// At most this many of the jobs: the host's room.
    pub(crate) most: usize,
}

/// What adding jobs with a [`Take`] did: what became of each job, in order, and the jobs added
/// already claimed.
pub(crate) type Taken = (Vec<Enqueued>, Vec<ClaimedJob>);

/// What a claim got: the jobs, and when the next job of the claim's tasks is due after it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Claimed {
    pub(crate) jobs: Vec<ClaimedJob>,
    /// How long until the next job of these tasks is due (zero: one is due now; `None`: none
    /// is stored). Not read (`None`) when the claim got as many jobs as it asked for.
    pub(crate) next_due: Option<Duration>,
}

impl ClaimedJob {
    /// `job`, stored as `id` already claimed by the host adding it ([`Take`]): its first attempt,
    /// due now.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn taken(id: JobId, job: NewJob) -> ClaimedJob {
        ClaimedJob {
            id,
            task: job.task.to_owned(),
            payload: Ok(job.payload),
            attempt: 1,
            max_attempts: job.max_attempts,
            waited: Duration::ZERO,
        }
    }
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
    /// Completed: kept as `completed` for the retention, or deleted at once (no retention).
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
    /// Cancelled by an operator while it ran: finished, not retried.
    Cancelled(JobId),
}

/// A job that ran out of attempts (or could not be decoded), kept for an operator: from
/// [`Store::dead_jobs`](super::Store::dead_jobs).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadJob {
    /// The job's id, for [`Store::retry_dead`](super::Store::retry_dead) and [`Store::delete_dead`](super::Store::delete_dead).
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

/// How many jobs a store holds, by state: from [`Store::counts`](super::Store::counts).
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
    /// Of `scheduled`, those waiting out a backoff after a failed run ([`JobState::Retrying`]);
    /// the rest of `scheduled` have not run yet ([`JobState::Scheduled`]).
    pub retrying: u64,
    /// Ran to completion, and kept for the retention.
    pub completed: u64,
    /// Cancelled by an operator, and kept for the retention.
    pub cancelled: u64,
}

impl JobCounts {
    /// Counts as both stores' statements return them, from column `first` on: ready, scheduled,
    /// retrying, running, dead, then completed and cancelled if `finished` (else 0).
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn from_columns<E>(
        mut column: impl FnMut(usize) -> Result<u64, E>,
        first: usize,
        finished: bool,
    ) -> Result<JobCounts, E> {
        let ready = column(first)?;
        let scheduled = column(first + 1)?;
        let retrying = column(first + 2)?;
        let running = column(first + 3)?;
        let dead = column(first + 4)?;
        let (completed, cancelled) = if finished {
            (column(first + 5)?, column(first + 6)?)
        } else {
            (0, 0)
        };
        Ok(JobCounts {
            ready,
            scheduled,
            retrying,
            running,
            dead,
            completed,
            cancelled,
        })
    }

    /// How many jobs are in `state`.
    pub fn get(&self, state: JobState) -> u64 {
        match state {
            JobState::Scheduled => self.scheduled.saturating_sub(self.retrying),
            JobState::Ready => self.ready,
            JobState::Running => self.running,
            JobState::Retrying => self.retrying,
            JobState::Dead => self.dead,
            JobState::Completed => self.completed,
            JobState::Cancelled => self.cancelled,
        }
    }
}

/// What an operator's action ([`Action`]) applies to: one job, or every job that matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Selection {
    pub(crate) id: Option<JobId>,
    pub(crate) state: Option<JobState>,
    pub(crate) task: Option<String>,
}

/// What an operator does to the jobs of a [`Selection`]. Each applies only to the jobs it makes
/// sense for, and the others are left as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Dead, cancelled or retrying jobs: ready now (dead and cancelled ones with a fresh set of
    /// attempts).
    Retry,
    /// Any job but a running one.
    Delete,
    /// Scheduled, ready or retrying jobs become cancelled; a running one is asked to stop (its
    /// host cancels the run at its next heartbeat, and it ends cancelled).
    Cancel,
}

#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
impl Action {
    /// The SQL condition on a job's row that this action applies to, with `now` the store's
    /// expression for the time (in the unit `run_at` is kept in).
    pub(crate) fn applies_to(self, now: &str) -> String {
        match self {
            Action::Retry => format!(
                "(state IN ('dead', 'cancelled') OR ({}))",
                JobState::Retrying.condition(now)
            ),
            Action::Delete => "state <> 'running'".to_owned(),
            // A running job asked already is left out: asking again changes nothing.
            Action::Cancel => {
                "(state = 'ready' OR (state = 'running' AND NOT cancel_requested))".to_owned()
            }
        }
    }
}

/// What a host reports of itself, when it starts and at every heartbeat.
#[derive(Debug, Clone)]
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) struct NodeReport {
    pub(crate) id: Arc<str>,
    pub(crate) hostname: String,
    pub(crate) pid: u32,
    /// When it started, in ms since the epoch.
    pub(crate) started_at: i64,
    pub(crate) tasks: Arc<[&'static str]>,
    pub(crate) running: u64,
    /// How long its report holds: it is gone from the list if it has not reported again by then.
    pub(crate) lease: Duration,
}

/// How many runs of one task ended in one minute on one node, as its worker counted them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MinuteTally {
    /// The minute's start, in ms since the epoch.
    pub(crate) minute: i64,
    pub(crate) task: &'static str,
    pub(crate) completed: u64,
    pub(crate) failed: u64,
}

/// What a heartbeat learns of the jobs a worker runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Leases {
    /// The jobs whose lease it lost (another worker may run them now).
    pub(crate) lost: Vec<JobId>,
    /// The jobs an operator asked to cancel.
    pub(crate) cancel: Vec<JobId>,
}
