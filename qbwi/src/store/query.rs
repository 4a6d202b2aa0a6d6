//! What an operator asks of the store and what comes back: the state a job is in ([`JobState`]),
//! a filter over jobs ([`JobQuery`], paged by id, newest first), a job in a listing
//! ([`JobSummary`]) and on its own page ([`JobDetail`]), the hosts that run jobs ([`Node`]), and
//! how many jobs finished each minute ([`MinuteCounts`]).

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use super::JobId;

/// The state of a durable job, as an operator sees it. Every job is in exactly one.
///
/// The store keeps five (`ready`, `running`, `dead`, `completed`, `cancelled`); a `ready` job is
/// [`Ready`](JobState::Ready) when it is due, [`Scheduled`](JobState::Scheduled) when it is due
/// later and has not run yet, and [`Retrying`](JobState::Retrying) when it is due later after a
/// failed run (waiting out its backoff).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum JobState {
    /// Waiting for its time (delayed when it was enqueued).
    Scheduled,
    /// Due: the next free worker of its task claims it.
    Ready,
    /// Claimed by a host, which is running it.
    Running,
    /// Failed, and waiting out its backoff before it runs again.
    Retrying,
    /// Out of attempts (or not decodable); kept until an operator retries or deletes it.
    Dead,
    /// Ran to completion; kept for the host's retention
    /// ([`HostBuilder::retention`](crate::HostBuilder::retention)).
    Completed,
    /// Cancelled by an operator; kept for the host's retention.
    Cancelled,
}

impl JobState {
    /// Every state, in the order a job usually goes through them.
    pub const ALL: [JobState; 7] = [
        JobState::Scheduled,
        JobState::Ready,
        JobState::Running,
        JobState::Retrying,
        JobState::Dead,
        JobState::Completed,
        JobState::Cancelled,
    ];

    /// Its name: `scheduled`, `ready`, `running`, `retrying`, `dead`, `completed`, `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Scheduled => "scheduled",
            JobState::Ready => "ready",
            JobState::Running => "running",
            JobState::Retrying => "retrying",
            JobState::Dead => "dead",
            JobState::Completed => "completed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// The SQL condition on a job's row for this state, with `now` the store's expression for the
    /// time (in the unit `run_at` is kept in). Both stores keep the same columns and states, so
    /// this is written once.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn condition(self, now: &str) -> String {
        match self {
            JobState::Scheduled => format!("state = 'ready' AND run_at > {now} AND attempts = 0"),
            JobState::Ready => format!("state = 'ready' AND run_at <= {now}"),
            JobState::Retrying => format!("state = 'ready' AND run_at > {now} AND attempts > 0"),
            JobState::Running => "state = 'running'".to_owned(),
            JobState::Dead => "state = 'dead'".to_owned(),
            JobState::Completed => "state = 'completed'".to_owned(),
            JobState::Cancelled => "state = 'cancelled'".to_owned(),
        }
    }

    /// The state of a row whose `state` column holds `stored`, due now or not, after `attempts`
    /// runs. A value qbwi never writes reads as dead: an operator can see it, and delete it.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn of_row(stored: &str, due: bool, attempts: u32) -> JobState {
        match stored {
            "ready" if due => JobState::Ready,
            "ready" if attempts > 0 => JobState::Retrying,
            "ready" => JobState::Scheduled,
            "running" => JobState::Running,
            "completed" => JobState::Completed,
            "cancelled" => JobState::Cancelled,
            _ => JobState::Dead,
        }
    }

    /// Whether a job in this state has finished (and is pruned after the retention).
    pub fn is_finished(self) -> bool {
        matches!(self, JobState::Completed | JobState::Cancelled)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a [`JobState`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a job state: use one of scheduled, ready, running, retrying, dead, completed, \
     cancelled"
)]
pub struct ParseJobStateError(String);

impl FromStr for JobState {
    type Err = ParseJobStateError;

    /// Parses a state's name, in any case.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|state| state.as_str().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| ParseJobStateError(name.to_owned()))
    }
}

/// Which jobs to list: by state and task, newest first, a page at a time.
///
/// Pages are by id, never by offset: the next page is the jobs older than the last one shown
/// ([`before`](JobQuery::before)), so a page costs the same however deep it is, and jobs added
/// meanwhile never shift it.
///
/// ```
/// use qbwi::{JobQuery, JobState};
///
/// let dead_mail = JobQuery::new()
///     .state(JobState::Dead)
///     .task("app::send_mail")
///     .limit(20);
/// assert_eq!(dead_mail.get_limit(), 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobQuery {
    state: Option<JobState>,
    task: Option<String>,
    before: Option<JobId>,
    limit: usize,
}

impl Default for JobQuery {
    fn default() -> Self {
        JobQuery::new()
    }
}

impl JobQuery {
    /// How many jobs a page holds unless told otherwise.
    pub const DEFAULT_LIMIT: usize = 50;
    /// The most a page holds.
    pub const MAX_LIMIT: usize = 1_000;

    /// Every job, newest first, [`DEFAULT_LIMIT`](JobQuery::DEFAULT_LIMIT) at a time.
    pub fn new() -> JobQuery {
        JobQuery {
            state: None,
            task: None,
            before: None,
            limit: JobQuery::DEFAULT_LIMIT,
        }
    }

    /// Only jobs in `state`.
    #[must_use]
    pub fn state(mut self, state: JobState) -> JobQuery {
        self.state = Some(state);
        self
    }

    /// Only jobs of the task named `task` (its registered name, `module::fn` unless renamed).
    #[must_use]
    pub fn task(mut self, task: impl Into<String>) -> JobQuery {
        self.task = Some(task.into());
        self
    }

    /// Only jobs older than `id`: the page after the one that ended with `id`.
    #[must_use]
    pub fn before(mut self, id: JobId) -> JobQuery {
        self.before = Some(id);
        self
    }

    /// At most `limit` jobs (from 1 to [`MAX_LIMIT`](JobQuery::MAX_LIMIT); others are brought
    /// into that range).
    #[must_use]
    pub fn limit(mut self, limit: usize) -> JobQuery {
        self.limit = limit.clamp(1, JobQuery::MAX_LIMIT);
        self
    }

    /// The state asked for, if any.
    pub fn get_state(&self) -> Option<JobState> {
        self.state
    }

    /// The task asked for, if any.
    pub fn get_task(&self) -> Option<&str> {
        self.task.as_deref()
    }

    /// Where the page starts (jobs older than this id), if anywhere.
    pub fn get_before(&self) -> Option<JobId> {
        self.before
    }

    /// How many jobs a page holds at most.
    pub fn get_limit(&self) -> usize {
        self.limit
    }
}

/// A job in a listing: from [`Store::jobs`](crate::Store::jobs).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobSummary {
    /// Its id.
    pub id: JobId,
    /// Its task's name.
    pub task: String,
    /// Its state now.
    pub state: JobState,
    /// How many times it has started.
    pub attempts: u32,
    /// How many times it may start in all.
    pub max_attempts: u32,
    /// When it was enqueued.
    pub created_at: SystemTime,
    /// When it runs (or ran) next: its due time.
    pub run_at: SystemTime,
    /// When it finished (completed, cancelled, or died), if it has.
    pub finished_at: Option<SystemTime>,
    /// The error of its last failed run, if one failed.
    pub last_error: Option<String>,
}

/// A job on its own: from [`Store::job`](crate::Store::job).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobDetail {
    /// What a listing shows of it.
    pub summary: JobSummary,
    /// When its last run started, if it has run.
    pub started_at: Option<SystemTime>,
    /// The node ([`Node::id`]) that holds it, while it runs.
    pub node: Option<String>,
    /// Until when that node's lease on it lasts, while it runs.
    pub lease_until: Option<SystemTime>,
    /// Whether an operator asked for it to be cancelled while it runs (its host cancels the run at
    /// its next heartbeat).
    pub cancel_requested: bool,
    /// Its arguments as stored: a JSON object, one member per argument. Often personal data:
    /// show it only to those who may see it.
    pub arguments: String,
}

/// A host that runs durable jobs from this store, as it last reported itself: from
/// [`Store::nodes`](crate::Store::nodes). A host registers when it starts, reports every third of
/// its lease, and is gone from the list once it has not reported for a whole lease (it stopped,
/// or died).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Node {
    /// Its id: `hostname:pid:random`, the name it leases jobs under.
    pub id: String,
    /// The machine's name.
    pub hostname: String,
    /// The process id.
    pub pid: u32,
    /// When the host started.
    pub started_at: SystemTime,
    /// When it last reported.
    pub heartbeat_at: SystemTime,
    /// The durable tasks it runs (registered in its binary).
    pub tasks: Vec<String>,
    /// How many durable jobs it was running when it last reported.
    pub running: u64,
}

/// How many runs ended in one minute: from
/// [`Store::finished_per_minute`](crate::Store::finished_per_minute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MinuteCounts {
    /// The minute's start.
    pub minute: SystemTime,
    /// Runs that completed.
    pub completed: u64,
    /// Runs that failed (to be retried, or dead).
    pub failed: u64,
}

/// How many jobs of one task the store holds, by state: from
/// [`Store::counts_by_task`](crate::Store::counts_by_task).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskCounts {
    /// The task's name.
    pub task: String,
    /// Its jobs, by state.
    pub counts: super::JobCounts,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse_from_their_names_and_say_what_to_write_otherwise() {
        for state in JobState::ALL {
            assert_eq!(state.as_str().parse::<JobState>(), Ok(state));
            assert_eq!(
                state.to_string().to_uppercase().parse::<JobState>(),
                Ok(state)
            );
        }
        let error = "deadd".parse::<JobState>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "`deadd` is not a job state: use one of scheduled, ready, running, retrying, dead, \
             completed, cancelled"
        );
    }

    #[test]
    fn a_page_holds_between_one_and_the_maximum() {
        assert_eq!(JobQuery::new().get_limit(), JobQuery::DEFAULT_LIMIT);
        assert_eq!(JobQuery::new().limit(0).get_limit(), 1);
        assert_eq!(
            JobQuery::new().limit(1_000_000).get_limit(),
            JobQuery::MAX_LIMIT
        );
    }
}
