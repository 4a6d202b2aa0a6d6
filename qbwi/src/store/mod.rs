//! Durable jobs: the [`Store`] that keeps queued work across crashes, and the backends behind it.
//!
//! A job is `ready` (waiting for its `run_at`), `running` (claimed by a worker, under a lease that
//! expires unless the worker's heartbeat renews it), or `dead` (out of attempts, kept with its last
//! error for an operator to retry or delete); a completed job is deleted. Every backend implements
//! the same [`Backend`] state machine; the host's durable worker (`crate::durable`) drives it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

/// A boxed future: where the backends (of different types) meet.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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
    /// a count that is not a number: see [`unreadable`]), with what is wrong with it. The worker
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

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be opened or reached.
    #[error("cannot reach the store {store}: {reason}; {hint}")]
    Unreachable {
        /// Which store (its path, or its host and database).
        store: String,
        /// What the database said.
        reason: String,
        /// What to check.
        hint: &'static str,
    },
    /// The store would not keep its jobs: SQLite's temporary (empty path) and in-memory
    /// (`:memory:`, `mode=memory`) databases are gone when the process exits, so a job that
    /// `enqueue` confirmed would be lost. Refused when the store opens.
    #[error("the store {store} would not keep its jobs: {reason}; {instead}")]
    NotDurable {
        /// Which store.
        store: String,
        /// Why it would not keep them.
        reason: String,
        /// What to give instead.
        instead: &'static str,
    },
    /// The store refuses writes: a read-only file or database.
    #[error(
        "the store {store} is read-only: {reason}; give the process write access to the file and \
         its directory (SQLite writes a -wal and a -shm file beside it)"
    )]
    ReadOnly {
        /// Which store.
        store: String,
        /// What the database said.
        reason: String,
    },
    /// The disk (or the database's quota) is full.
    #[error("the store {store} is full: {reason}; free disk space, then retry")]
    Full {
        /// Which store.
        store: String,
        /// What the database said.
        reason: String,
    },
    /// The schema was written by a newer qbwi.
    #[error(
        "the store's schema is at version {found}, newer than this qbwi knows ({known}): upgrade \
         qbwi in this binary"
    )]
    NewerSchema {
        /// The version in the store.
        found: i64,
        /// The newest version this qbwi knows.
        known: i64,
    },
    /// A query failed.
    #[error("the store {store} failed: {reason}")]
    Database {
        /// Which store.
        store: String,
        /// What the database said.
        reason: String,
    },
}

/// One store's implementation of the job state machine. Every method is one transaction.
pub(crate) trait Backend: Send + Sync + 'static {
    /// Which store, for messages: `SQLite at qbwi.db`, `PostgreSQL at host:5432/db`.
    fn describe(&self) -> &str;
    /// Adds jobs in one transaction, all or none; their ids in order.
    fn enqueue(&self, jobs: Vec<NewJob>) -> BoxFuture<'_, Result<Vec<JobId>, StoreError>>;
    /// Claims up to `limit` due jobs (ready and due by the store's clock, or running under an
    /// expired lease), oldest `run_at` first; each claim counts an attempt.
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
    pub(crate) inner: Arc<StoreInner>,
}

pub(crate) struct StoreInner {
    pub(crate) backend: Box<dyn Backend>,
    /// Wakes this process's workers when this process adds jobs.
    pub(crate) added: Notify,
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

    pub(crate) fn backend(&self) -> &dyn Backend {
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

    /// Adds jobs, all or none, and wakes this process's workers.
    pub(crate) async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<Vec<JobId>, StoreError> {
        let ids = self.backend().enqueue(jobs).await?;
        self.inner.added.notify_waiters();
        Ok(ids)
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Store").field(&self.describe()).finish()
    }
}

/// The `last_error` of a claimed job whose row cannot be read: what is wrong with it (`problems`,
/// such as "its payload is a BLOB, not text"), never the row's bytes (arguments are personal data).
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn unreadable(problems: &[String]) -> String {
    format!(
        "the stored job cannot be read: {} (qbwi never writes that: another program, a migration \
         or a damaged file changed the row); correct the row and retry the job, or delete it",
        problems.join(", and ")
    )
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
