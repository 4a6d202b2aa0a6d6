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

#[cfg(all(test, any(feature = "sqlite", feature = "postgres")))]
mod conformance;
mod error;
mod job;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
mod rows;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

pub use error::StoreError;
pub(crate) use job::{ClaimRequest, ClaimedJob, Finished};
pub use job::{DeadJob, JobCounts, JobId, NewJob};

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
    /// Adds jobs in one transaction, all or none; their ids (in any order: jobs are numbered in
    /// the order given).
    fn enqueue(&self, jobs: Vec<NewJob>) -> BoxFuture<'_, Result<Vec<JobId>, StoreError>>;
    /// Claims up to `limit` due jobs (ready and due by the store's clock, or running under an
    /// expired lease), the expired first, then the oldest `run_at`; each claim counts an attempt.
    fn claim(&self, request: ClaimRequest) -> BoxFuture<'_, Result<Vec<ClaimedJob>, StoreError>>;
    /// Records how runs ended, in one transaction.
    fn finish(
        &self,
        worker: Arc<str>,
        finished: Vec<Finished>,
    ) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Extends `worker`'s leases on `ids` by `lease` from now; returns the ids it no longer holds.
    fn heartbeat(
        &self,
        worker: Arc<str>,
        ids: Vec<JobId>,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Vec<JobId>, StoreError>>;
    /// How long until the next of these tasks' jobs is due (ready with a later `run_at`, or
    /// running under a lease that will expire); `None` if there is none. `Some(ZERO)` if one is
    /// due now.
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
    /// Gives a dead job a fresh set of attempts, due now. `false` if it is not dead.
    fn retry_dead(&self, id: JobId) -> BoxFuture<'_, Result<bool, StoreError>>;
    /// Deletes a dead job. `false` if it is not dead.
    fn delete_dead(&self, id: JobId) -> BoxFuture<'_, Result<bool, StoreError>>;
    /// Jobs by state.
    fn counts(&self) -> BoxFuture<'_, Result<JobCounts, StoreError>>;
}

/// Where durable jobs are kept: SQLite (one file, one machine) or PostgreSQL (shared by many
/// hosts). Give it to [`HostBuilder::store`](crate::HostBuilder::store).
///
/// A `Store` is a cheap handle (`Clone` shares it). Besides the host, it is the admin API for dead
/// jobs: [`dead_jobs`](Store::dead_jobs), [`retry_dead`](Store::retry_dead),
/// [`delete_dead`](Store::delete_dead).
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

    /// Dead jobs (out of attempts, or with a payload that could not be decoded), oldest first, at
    /// most `limit`.
    pub async fn dead_jobs(&self, limit: usize) -> Result<Vec<DeadJob>, StoreError> {
        self.backend().dead_jobs(limit).await
    }

    /// Gives a dead job a fresh set of attempts, due now. `Ok(false)` if no dead job has this id.
    pub async fn retry_dead(&self, id: JobId) -> Result<bool, StoreError> {
        let retried = self.backend().retry_dead(id).await?;
        if retried {
            self.inner.added.notify_waiters();
        }
        Ok(retried)
    }

    /// Deletes a dead job. `Ok(false)` if no dead job has this id.
    pub async fn delete_dead(&self, id: JobId) -> Result<bool, StoreError> {
        self.backend().delete_dead(id).await
    }

    /// How many jobs the store holds, by state.
    pub async fn counts(&self) -> Result<JobCounts, StoreError> {
        self.backend().counts().await
    }

    /// Adds jobs, all or none, and wakes this process's workers; their ids, in order.
    pub(crate) async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<Vec<JobId>, StoreError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids = self.backend().enqueue(jobs).await?;
        ids.sort_unstable();
        self.inner.added.notify_waiters();
        Ok(ids)
    }

    /// Claims up to `request.limit` due jobs of `request.tasks` (see [`Backend::claim`]), in the
    /// order they were added.
    pub(crate) async fn claim(&self, request: ClaimRequest) -> Result<Vec<ClaimedJob>, StoreError> {
        if request.tasks.is_empty() || request.limit == 0 {
            return Ok(Vec::new());
        }
        let mut jobs = self.backend().claim(request).await?;
        jobs.sort_by_key(|job| job.id);
        Ok(jobs)
    }

    /// Records how runs ended, in one transaction; reports for leases `worker` no longer holds
    /// are dropped.
    pub(crate) async fn finish(
        &self,
        worker: Arc<str>,
        finished: Vec<Finished>,
    ) -> Result<(), StoreError> {
        if finished.is_empty() {
            return Ok(());
        }
        self.backend().finish(worker, finished).await
    }

    /// Extends `worker`'s leases on `ids` by `lease` from now; the ids it no longer holds.
    pub(crate) async fn heartbeat(
        &self,
        worker: Arc<str>,
        ids: Vec<JobId>,
        lease: Duration,
    ) -> Result<Vec<JobId>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
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
    fn __insert(&self, job: NewJob) -> BoxFuture<'_, Result<JobId, StoreError>>;
}

pub(crate) mod sealed {
    /// Only qbwi implements [`EnqueueIn`](super::EnqueueIn).
    pub trait Sealed {}
}
