//! Durable jobs: the [`Store`] that keeps queued work across crashes, and the backends behind it.
//!
//! A job is `ready` (waiting for its `run_at`), `running` (claimed by a worker, under a lease that
//! expires unless the worker's heartbeat renews it), or `dead` (out of attempts, kept with its last
//! error for an operator to retry or delete); a completed job is deleted. Every backend implements
//! the same [`Backend`] state machine, and [`Store`] is where the host meets it: what every backend
//! would otherwise repeat (nothing to do for empty input, claims and ids in order, waking this
//! process's workers) is done there, once.
//!
//! The parts, one idea each: [`job`] (what a job is in the store's terms), [`error`] (why an
//! operation failed), [`rows`] (reading a row qbwi may not have written, for every backend), and
//! the backends, `sqlite/` and `postgres/`, which hold the same files for the same concerns
//! (`schema`, `errors`, `jobs`, `rows`, `tests`). What every backend must do is tested once, in
//! `conformance`, and run against each.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

mod admin;
#[cfg(all(test, any(feature = "sqlite", feature = "postgres")))]
pub(crate) mod conformance;
mod error;
mod job;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
mod query;
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
mod rows;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod statements;

pub use error::StoreError;
pub(crate) use job::{
    Action, ClaimRequest, Claimed, ClaimedJob, Finished, Fire, Leases, MinuteTally, NodeReport,
    Selection, Take, Taken,
};
pub use job::{DeadJob, Enqueued, JobCounts, JobId, NewJob, UniqueKey};
pub use query::{
    JobDetail, JobQuery, JobState, JobSummary, MinuteCounts, Node, ParseJobStateError, TaskCounts,
};

/// A boxed future: where the backends (of different types) meet.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One store's implementation of the job state machine. Every method is one transaction.
///
/// The host calls it only through [`Store`], which spares each backend the work they would all
/// repeat: no method is called with nothing to do (no jobs, no tasks, no ids, no reports, a
/// `limit` of 0), and what comes back is put in order by the `Store` (a backend returns claims
/// and ids in any order).
pub(crate) trait Backend: Send + Sync + 'static {
    /// Which store, for messages: `SQLite at qbwi.db`, `PostgreSQL at host:5432/db`.
    fn describe(&self) -> &str;
    /// Adds jobs in one transaction, all or none, numbered in the order given; what became of
    /// each, in that order (a unique job whose key a live job holds is that job: see
    /// [`UniqueKey`]).
    fn enqueue(&self, jobs: Vec<NewJob>) -> BoxFuture<'_, Result<Vec<Enqueued>, StoreError>>;
    /// The last tick of schedule `name` that a node fired (ms since the epoch), if any.
    fn last_tick(&self, name: String) -> BoxFuture<'_, Result<Option<i64>, StoreError>>;
    /// Fires the ticks of `fire` if the schedule's last tick is before the first of them: records
    /// the last as the schedule's and adds their jobs, in one transaction (first writer wins:
    /// `false`, and nothing added, if another node fired one of them or a later tick first).
    fn fire(&self, fire: Fire) -> BoxFuture<'_, Result<bool, StoreError>>;
    /// Claims up to `limit` due jobs (ready and due by the store's clock, or running under an
    /// expired lease), the expired first, then the oldest `run_at`; each claim counts an attempt.
    /// At most how many jobs one claim should take: a claim's cost is part fixed (a walk of
    /// the ready jobs' index, a round trip), part per job (its row and index entries), and where
    /// the fixed part is large, fewer larger claims keep up with more jobs.
    fn most_per_claim(&self) -> usize {
        128
    }
    /// Adds jobs as [`enqueue`](Backend::enqueue) does, in one transaction, but up to `take.most`
    /// of those `take` may run now (due now, holding no unique key, of one of `take.tasks` and not
    /// paused) already claimed by `take.worker` (their first attempt, under `take.lease`), if no
    /// due job of `take.tasks` is waiting before them: the enqueueing host runs them without a
    /// claim, and a job's one write is its insert. A store may take fewer (PostgreSQL takes a
    /// job alone in its call only). Returns what became of each job, in order, and the jobs taken.
    fn enqueue_taking(
        &self,
        jobs: Vec<NewJob>,
        take: Take,
    ) -> BoxFuture<'_, Result<Taken, StoreError>>;
    /// With the jobs, when the next job of these tasks is due, read after the claim (unless it got
    /// `limit` jobs: then the worker claims again at once), so that a worker learns how long it may
    /// sleep without asking again.
    fn claim(&self, request: ClaimRequest) -> BoxFuture<'_, Result<Claimed, StoreError>>;
    /// Records how runs ended, in one transaction. Completed jobs are kept as `completed` if
    /// `retain`, else deleted.
    fn finish(
        &self,
        worker: Arc<str>,
        finished: Vec<Finished>,
        retain: bool,
    ) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Adds a node's tallies of ended runs to the per-minute counts ([`MinuteCounts`]), in one
    /// transaction. Each node has rows of its own, so hosts never wait for each other here.
    fn count_minutes(
        &self,
        node: Arc<str>,
        tallies: Vec<MinuteTally>,
    ) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Extends `worker`'s leases on `ids` by `lease` from now; which it no longer holds, and which
    /// an operator asked to cancel.
    fn heartbeat(
        &self,
        worker: Arc<str>,
        ids: Vec<JobId>,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Leases, StoreError>>;
    /// How long until the next of these tasks' jobs is due (ready with a later `run_at`, or
    /// running under a lease that will expire); `None` if there is none. `Some(ZERO)` if one is
    /// due now. Paused tasks' jobs are never due.
    fn next_due(
        &self,
        tasks: Arc<[&'static str]>,
    ) -> BoxFuture<'_, Result<Option<Duration>, StoreError>>;
    /// Resolves when another process may have added jobs (PostgreSQL's LISTEN/NOTIFY). Jobs added
    /// through this process's `Store` wake the worker without it. May resolve spuriously; a
    /// backend without notifications never resolves (the worker polls).
    fn notified(&self) -> BoxFuture<'_, ()>;
    /// Dead jobs, oldest first, at most `limit`.
    fn dead_jobs(&self, limit: usize) -> BoxFuture<'_, Result<Vec<DeadJob>, StoreError>>;
    /// Jobs by state.
    fn counts(&self) -> BoxFuture<'_, Result<JobCounts, StoreError>>;
    /// The jobs `query` asks for, newest first.
    fn jobs(&self, query: JobQuery) -> BoxFuture<'_, Result<Vec<JobSummary>, StoreError>>;
    /// One job, if it exists.
    fn job(&self, id: JobId) -> BoxFuture<'_, Result<Option<JobDetail>, StoreError>>;
    /// Does `action` to at most `limit` of the jobs of `selection` it applies to (the oldest
    /// first), in one transaction; how many it changed. Wakes other hosts if it made jobs ready.
    fn act(
        &self,
        action: Action,
        selection: Selection,
        limit: usize,
    ) -> BoxFuture<'_, Result<u64, StoreError>>;
    /// Pauses (`paused`) or resumes the task named `task` for every host; whether that changed
    /// anything. Resuming wakes other hosts.
    fn pause(&self, task: String, paused: bool) -> BoxFuture<'_, Result<bool, StoreError>>;
    /// The paused tasks' names, in order.
    fn paused(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>>;
    /// Records what a host reports of itself (creating its node, or updating it).
    fn report_node(&self, node: NodeReport) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Removes the node `id` (its host stopped).
    fn remove_node(&self, id: Arc<str>) -> BoxFuture<'_, Result<(), StoreError>>;
    /// The nodes whose last report still holds, by id.
    fn nodes(&self) -> BoxFuture<'_, Result<Vec<Node>, StoreError>>;
    /// Jobs by task and state, for the states that are not finished (finished jobs, kept for the
    /// retention, would make this a walk of the whole history); tasks in order.
    fn counts_by_task(&self) -> BoxFuture<'_, Result<Vec<TaskCounts>, StoreError>>;
    /// Runs ended in each of the minutes since `since` (ms since the epoch) that had any, oldest
    /// first, summed over the tasks.
    fn finished_per_minute(
        &self,
        since: i64,
    ) -> BoxFuture<'_, Result<Vec<MinuteCounts>, StoreError>>;
    /// Deletes at most `limit` jobs that finished (completed or cancelled) more than `retention`
    /// ago, the per-minute counts older than `since` (ms since the epoch) and the nodes whose
    /// report expired; how many jobs it deleted.
    fn prune(
        &self,
        retention: Duration,
        since: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<u64, StoreError>>;
}

/// Where durable jobs are kept: SQLite (one file, one machine) or PostgreSQL (shared by many
/// hosts). Give it to [`HostBuilder::store`](crate::HostBuilder::store).
///
/// A `Store` is a cheap handle (`Clone` shares it). Besides the host, it is the operator's API:
/// list jobs ([`jobs`](Store::jobs), [`job`](Store::job), [`counts`](Store::counts)), act on them
/// ([`retry`](Store::retry), [`delete`](Store::delete), [`cancel`](Store::cancel), and their
/// forms over a filter), pause and resume tasks, and see the hosts ([`nodes`](Store::nodes)).
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    backend: Box<dyn Backend>,
    /// Wakes this process's workers when this process adds jobs.
    added: Notify,
}

impl Store {
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn from_backend(backend: impl Backend) -> Store {
        Store {
            inner: Arc::new(StoreInner {
                backend: Box::new(backend),
                added: Notify::new(),
            }),
        }
    }

    fn backend(&self) -> &dyn Backend {
        &*self.inner.backend
    }

    /// Resolves when this process adds jobs through this store (or an operator retries one):
    /// wakes the process's claim loops without a round trip.
    pub(crate) fn added(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.added.notified()
    }

    /// Wakes the process's claim loops, as adding a job does.
    pub(crate) fn announce_added(&self) {
        self.inner.added.notify_waiters();
    }

    /// Opens (or creates) the SQLite store at `path` and brings its schema up to date.
    ///
    /// Uses SQLite's WAL journal; several processes on one machine may share the file. Hosts
    /// that open a new file at the same moment create the schema once.
    ///
    /// `path` may also be an SQLite URI (`file:/var/lib/app/qbwi.db?mode=ro`).
    ///
    /// # Errors
    ///
    /// - [`StoreError::NotDurable`] for a name that SQLite does not keep in a file: an empty path
    ///   (a private temporary database, deleted when it closes), `:memory:`, or a URI naming
    ///   `:memory:`, no file, `mode=memory` or `vfs=memdb`. Jobs stored there would be lost at
    ///   exit, so they are refused.
    /// - [`StoreError::Unreachable`] for a file that is not a SQLite database (the message says
    ///   so) or a directory that does not exist.
    /// - [`StoreError::NewerSchema`] for a store migrated by a newer qbwi.
    ///
    /// A store that is read-only or on a full disk opens, and refuses writes with
    /// [`StoreError::ReadOnly`] / [`StoreError::Full`].
    ///
    /// ```
    /// # fn main() -> Result<(), qbwi::StoreError> {
    /// # let dir = std::env::temp_dir().join(format!("qbwi-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let path = dir.join("qbwi.db");
    /// let store = qbwi::Store::sqlite(&path)?;
    /// # drop(store);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "sqlite")]
    pub fn sqlite(path: impl AsRef<std::path::Path>) -> Result<Store, StoreError> {
        Ok(Store::from_backend(sqlite::SqliteStore::open(path)?))
    }

    /// Which store this is, for logs: `SQLite at qbwi.db`, `PostgreSQL at host:5432/db`.
    pub fn describe(&self) -> &str {
        self.backend().describe()
    }

    /// Adds jobs, all or none, and wakes this process's workers; what became of each, in order.
    pub(crate) async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>, StoreError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let storing = crate::metrics::Storing::of(&jobs);
        let enqueued = self.backend().enqueue(jobs).await?;
        storing.stored(|index| enqueued.get(index).is_some_and(Enqueued::is_new));
        self.inner.added.notify_waiters();
        Ok(enqueued)
    }

    /// At most how many jobs one claim takes (see [`Backend::most_per_claim`]).
    pub(crate) fn most_per_claim(&self) -> usize {
        self.backend().most_per_claim()
    }

    /// Adds jobs, those the enqueueing host can run now taken by it (see
    /// [`Backend::enqueue_taking`]). Wakes the process's claim loops only if some were not taken.
    pub(crate) async fn enqueue_taking(
        &self,
        jobs: Vec<NewJob>,
        take: Take,
    ) -> Result<Taken, StoreError> {
        if jobs.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let storing = crate::metrics::Storing::of(&jobs);
        let count = jobs.len();
        let (enqueued, taken) = self.backend().enqueue_taking(jobs, take).await?;
        storing.stored(|index| enqueued.get(index).is_some_and(Enqueued::is_new));
        if taken.len() < count {
            self.inner.added.notify_waiters();
        }
        Ok((enqueued, taken))
    }

    /// [`enqueue`](Self::enqueue), for tests of jobs that are never duplicates: their ids.
    #[cfg(all(test, any(feature = "sqlite", feature = "postgres")))]
    pub(crate) async fn enqueue_ids(&self, jobs: Vec<NewJob>) -> Result<Vec<JobId>, StoreError> {
        let enqueued = self.enqueue(jobs).await?;
        Ok(enqueued.iter().map(Enqueued::id).collect())
    }

    /// The last tick of schedule `name` fired by any node (see [`Backend::last_tick`]).
    pub(crate) async fn last_tick_millis(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.backend().last_tick(name.to_owned()).await
    }

    /// When the last tick of scheduled durable task `task` was due, of those any node enqueued;
    /// `None` if none has been (or the task is not a scheduled durable one).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), qbwi::StoreError> {
    /// # let dir = std::env::temp_dir().join(format!("qbwi-doc-tick-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// let store = qbwi::Store::sqlite(dir.join("qbwi.db"))?;
    /// assert_eq!(store.last_tick("app::nightly_report").await?, None); // never fired here
    /// # Ok(())
    /// # }
    /// ```
    pub async fn last_tick(&self, task: &str) -> Result<Option<SystemTime>, StoreError> {
        Ok(self.last_tick_millis(task).await?.map(from_millis))
    }

    /// Fires ticks of a schedule unless another node did (see [`Backend::fire`]), waking this
    /// process's workers when it added their jobs.
    pub(crate) async fn fire(&self, fire: Fire) -> Result<bool, StoreError> {
        if fire.ticks.is_empty() {
            return Ok(false);
        }
        let storing = crate::metrics::Storing::of(&fire.jobs());
        let fired = self.backend().fire(fire).await?;
        if fired {
            storing.stored(|_| true);
            self.inner.added.notify_waiters();
        }
        Ok(fired)
    }

    /// Claims up to `request.limit` due jobs of `request.tasks` (see [`Backend::claim`]), in the
    /// order they were added.
    #[cfg(all(test, any(feature = "sqlite", feature = "postgres")))]
    pub(crate) async fn claim(&self, request: ClaimRequest) -> Result<Vec<ClaimedJob>, StoreError> {
        Ok(self.claim_and_next_due(request).await?.jobs)
    }

    /// Claims as [`Store::claim`] does, and says when the next job of the tasks is due (see
    /// [`Backend::claim`]).
    pub(crate) async fn claim_and_next_due(
        &self,
        request: ClaimRequest,
    ) -> Result<Claimed, StoreError> {
        if request.tasks.is_empty() || request.limit == 0 {
            return Ok(Claimed::default());
        }
        let mut claimed = self.backend().claim(request).await?;
        claimed.jobs.sort_by_key(|job| job.id);
        Ok(claimed)
    }

    /// Records how runs ended, in one transaction; reports for leases `worker` no longer holds
    /// are dropped.
    pub(crate) async fn finish(
        &self,
        worker: Arc<str>,
        finished: Vec<Finished>,
        retain: bool,
    ) -> Result<(), StoreError> {
        if finished.is_empty() {
            return Ok(());
        }
        self.backend().finish(worker, finished, retain).await
    }

    /// Extends `worker`'s leases on `ids` by `lease` from now; which it no longer holds, and
    /// which an operator asked to cancel.
    pub(crate) async fn heartbeat(
        &self,
        worker: Arc<str>,
        ids: Vec<JobId>,
        lease: Duration,
    ) -> Result<Leases, StoreError> {
        if ids.is_empty() {
            return Ok(Leases::default());
        }
        self.backend().heartbeat(worker, ids, lease).await
    }

    /// How long until the next job of `tasks` is due (see [`Backend::next_due`]); `None` for no
    /// tasks.
    pub(crate) async fn next_due(
        &self,
        tasks: Arc<[&'static str]>,
    ) -> Result<Option<Duration>, StoreError> {
        if tasks.is_empty() {
            return Ok(None);
        }
        self.backend().next_due(tasks).await
    }

    /// Resolves when another process may have added jobs (see [`Backend::notified`]).
    pub(crate) async fn notified(&self) {
        self.backend().notified().await;
    }

    /// Adds a node's tallies of ended runs to the per-minute counts.
    pub(crate) async fn count_minutes(
        &self,
        node: Arc<str>,
        tallies: Vec<MinuteTally>,
    ) -> Result<(), StoreError> {
        if tallies.is_empty() {
            return Ok(());
        }
        self.backend().count_minutes(node, tallies).await
    }

    /// Records what a host reports of itself.
    pub(crate) async fn report_node(&self, node: NodeReport) -> Result<(), StoreError> {
        self.backend().report_node(node).await
    }

    /// Removes a stopped host's node.
    pub(crate) async fn remove_node(&self, id: Arc<str>) -> Result<(), StoreError> {
        self.backend().remove_node(id).await
    }

    /// Deletes the jobs that finished more than `retention` ago, the per-minute counts past the
    /// last hour and the nodes that stopped reporting, in batches of `batch` (each its own short
    /// transaction, so no lock is held for long); how many jobs it deleted.
    pub(crate) async fn prune(&self, retention: Duration, batch: usize) -> Result<u64, StoreError> {
        let since = now_millis() - admin::MINUTES_KEPT;
        let mut deleted = 0;
        loop {
            let pruned = self.backend().prune(retention, since, batch).await?;
            deleted += pruned;
            if pruned < batch as u64 {
                return Ok(deleted);
            }
            // Let the others in between batches.
            tokio::task::yield_now().await;
        }
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Store").field(&self.describe()).finish()
    }
}

/// Milliseconds since the Unix epoch: how the stores keep times.
pub(crate) fn millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_millis().try_into().unwrap_or(i64::MAX),
        Err(before) => -(before.duration().as_millis().try_into().unwrap_or(i64::MAX)),
    }
}

/// The time `millis` milliseconds after the Unix epoch (before it, if negative).
pub(crate) fn from_millis(millis: i64) -> SystemTime {
    let offset = Duration::from_millis(millis.unsigned_abs());
    if millis >= 0 {
        UNIX_EPOCH + offset
    } else {
        UNIX_EPOCH - offset
    }
}

/// Now, in milliseconds since the Unix epoch.
pub(crate) fn now_millis() -> i64 {
    millis(SystemTime::now())
}

/// A PostgreSQL client or transaction that a durable job can be inserted in:
/// `send_mail::enqueue_in(&transaction, ..)` adds the job inside the caller's own transaction, so
/// it exists if and only if that transaction commits.
///
/// Implemented (with the `postgres` feature) for `tokio_postgres::Transaction`,
/// `tokio_postgres::Client`, and deadpool-postgres' `Transaction` and pooled `Client`.
pub trait EnqueueIn: Sync + sealed::Sealed {
    #[doc(hidden)]
    fn __insert(&self, job: NewJob) -> BoxFuture<'_, Result<Enqueued, StoreError>>;
}

pub(crate) mod sealed {
    /// Only qbwi implements [`EnqueueIn`](super::EnqueueIn).
    pub trait Sealed {}
}
