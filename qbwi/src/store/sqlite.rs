//! The SQLite store: one file, WAL journal, schema versioned with `PRAGMA user_version`.
//!
//! Every operation is one transaction on one connection, run on tokio's blocking pool (rusqlite is
//! synchronous). Opening migrates inside `BEGIN IMMEDIATE`, which takes SQLite's write lock first,
//! so hosts that start at the same moment against a new file create the schema exactly once (the
//! others wait up to the busy timeout, then see it done). SQLite has no notifications between
//! processes: jobs added by another process are found by the host's poll.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, TransactionBehavior, params, params_from_iter};

use super::{
    Backend, BoxFuture, ClaimRequest, ClaimedJob, DeadJob, Finished, JobCounts, JobId, NewJob,
    StoreError, now_millis,
};

/// The schema version this code writes and reads.
const SCHEMA_VERSION: i64 = 1;

const MIGRATIONS: [&str; 1] = [
    // 1: jobs, with the index the claim query walks. AUTOINCREMENT: completed jobs are deleted,
    // and a new job must not take the id of one that just finished.
    "CREATE TABLE qbwi_jobs (
        id           INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: ids outlive jobs in logs
        task         TEXT    NOT NULL,
        payload      TEXT    NOT NULL,
        state        TEXT    NOT NULL CHECK (state IN ('ready', 'running', 'dead')),
        attempts     INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
        run_at       INTEGER NOT NULL,
        lease_until  INTEGER,
        worker       TEXT,
        last_error   TEXT
    );
    CREATE INDEX qbwi_jobs_due ON qbwi_jobs (state, run_at, id);",
];

#[cfg(test)]
mod bad_rows;
mod path;
mod rows;

/// What can go wrong inside: SQLite's errors, a schema from the future, and a database that SQLite
/// keeps in no file (why).
#[derive(Debug)]
pub(crate) enum DbError {
    Sqlite(rusqlite::Error),
    NewerSchema { found: i64 },
    NotDurable(String),
}

impl From<rusqlite::Error> for DbError {
    fn from(error: rusqlite::Error) -> Self {
        DbError::Sqlite(error)
    }
}

type DbResult<T> = Result<T, DbError>;

/// The SQLite backend: the connection, shared with the blocking-pool threads that use it.
pub(crate) struct SqliteStore {
    db: Arc<Db>,
}

/// The connection and the synchronous operations.
pub(crate) struct Db {
    connection: Mutex<Connection>,
    describe: String,
}

impl SqliteStore {
    /// Opens (or creates) the store at `path` and brings its schema up to date.
    pub(crate) fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let describe = if path.as_os_str().is_empty() {
            "SQLite at an empty path".to_owned()
        } else {
            format!("SQLite at {}", path.display())
        };
        if let Some(reason) = path::not_durable(path) {
            return Err(StoreError::NotDurable {
                store: describe,
                reason,
                instead: path::INSTEAD,
            });
        }
        match Db::open(path) {
            Ok(connection) => Ok(SqliteStore {
                db: Arc::new(Db {
                    connection: Mutex::new(connection),
                    describe,
                }),
            }),
            Err(DbError::Sqlite(error)) if !is_write_refusal(&error) => {
                Err(StoreError::Unreachable {
                    store: describe,
                    reason: error.to_string(),
                    hint: match error.sqlite_error_code() {
                        Some(ErrorCode::NotADatabase) => HINT_NOT_A_DATABASE,
                        _ => "check that the directory exists and is writable by this process",
                    },
                })
            }
            Err(error) => Err(store_error(&describe, error)),
        }
    }

    /// Runs `operation` on the blocking pool.
    fn run<T: Send + 'static>(
        &self,
        operation: impl FnOnce(&Db) -> DbResult<T> + Send + 'static,
    ) -> BoxFuture<'_, Result<T, StoreError>> {
        let db = self.db.clone();
        Box::pin(async move {
            let describe = db.describe.clone();
            match tokio::task::spawn_blocking(move || operation(&db)).await {
                Ok(result) => result.map_err(|error| store_error(&describe, error)),
                Err(error) => match error.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    Err(_) => Err(StoreError::Database {
                        store: describe,
                        reason: "the tokio runtime is shutting down".to_owned(),
                    }),
                },
            }
        })
    }
}

impl Backend for SqliteStore {
    fn describe(&self) -> &str {
        &self.db.describe
    }

    fn enqueue(&self, jobs: Vec<NewJob>) -> BoxFuture<'_, Result<Vec<JobId>, StoreError>> {
        self.run(move |db| db.enqueue(&jobs))
    }

    fn claim(&self, request: ClaimRequest) -> BoxFuture<'_, Result<Vec<ClaimedJob>, StoreError>> {
        self.run(move |db| {
            db.claim(
                &request.tasks,
                request.limit,
                &request.worker,
                now_millis(),
                request.lease,
            )
        })
    }

    fn finish(
        &self,
        worker: Arc<str>,
        finished: Vec<Finished>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        self.run(move |db| db.finish(&worker, &finished))
    }

    fn heartbeat(
        &self,
        worker: Arc<str>,
        ids: Vec<JobId>,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Vec<JobId>, StoreError>> {
        self.run(move |db| db.heartbeat(&ids, &worker, now_millis() + millis_of(lease)))
    }

    fn next_due(
        &self,
        tasks: Arc<[&'static str]>,
    ) -> BoxFuture<'_, Result<Option<Duration>, StoreError>> {
        self.run(move |db| {
            let now = now_millis();
            Ok(db
                .next_due(&tasks)?
                .map(|due| Duration::from_millis(due.saturating_sub(now).max(0) as u64)))
        })
    }

    fn notified(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::pending())
    }

    fn dead_jobs(&self, limit: usize) -> BoxFuture<'_, Result<Vec<DeadJob>, StoreError>> {
        self.run(move |db| db.dead_jobs(limit))
    }

    fn retry_dead(&self, id: JobId) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.run(move |db| db.retry_dead(id, now_millis()))
    }

    fn delete_dead(&self, id: JobId) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.run(move |db| db.delete_dead(id))
    }

    fn counts(&self) -> BoxFuture<'_, Result<JobCounts, StoreError>> {
        self.run(move |db| db.counts(now_millis()))
    }
}

fn millis_of(duration: Duration) -> i64 {
    duration.as_millis().try_into().unwrap_or(i64::MAX)
}

impl Db {
    /// Opens the file and migrates it.
    ///
    /// Setting a new file up (switching it to WAL, the first reads of its WAL index) needs the file
    /// to itself for a moment, and SQLite does not wait for that (the busy timeout does not apply).
    /// When several hosts open a new file at once, the ones that find it busy start over, for as
    /// long as the busy timeout would have waited.
    fn open(path: &Path) -> DbResult<Connection> {
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match Self::try_open(path) {
                Err(DbError::Sqlite(error))
                    if is_busy(&error) && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                result => return result,
            }
        }
    }

    fn try_open(path: &Path) -> DbResult<Connection> {
        let mut connection = Connection::open(path)?;
        // `path::not_durable` refuses the names it knows; this is what SQLite itself says, for
        // any other way of naming a temporary or in-memory database.
        if connection.path() == Some("") {
            return Err(DbError::NotDurable(
                "SQLite opened it as a temporary or in-memory database, not a file".to_owned(),
            ));
        }
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        migrate(&mut connection)?;
        Ok(connection)
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock is held leaves no half-done transaction: rusqlite rolls back on
        // drop.
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds jobs in one transaction: all or none. Returns their ids, in order.
    pub(crate) fn enqueue(&self, jobs: &[NewJob]) -> DbResult<Vec<JobId>> {
        let now = now_millis();
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        let mut ids = Vec::with_capacity(jobs.len());
        {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO qbwi_jobs (task, payload, state, max_attempts, run_at)
                 VALUES (?1, ?2, 'ready', ?3, ?4)",
            )?;
            for job in jobs {
                let run_at = job.run_at.unwrap_or(now);
                insert.execute(params![job.task, job.payload, job.max_attempts, run_at])?;
                ids.push(JobId(transaction.last_insert_rowid()));
            }
        }
        transaction.commit()?;
        Ok(ids)
    }

    /// Claims up to `limit` jobs of the given tasks that are due at `now`: running under a lease
    /// that has expired (their worker died) first, then ready ones, oldest first; for `worker`
    /// until `now + lease`. Each claim counts an attempt. Two branches, each walking the index
    /// and stopping at `limit` rows: one `OR` query sorts every ready row (5.6 ms instead of
    /// 0.6 ms at 20,000 ready jobs).
    pub(crate) fn claim(
        &self,
        tasks: &[&str],
        limit: usize,
        worker: &str,
        now: i64,
        lease: Duration,
    ) -> DbResult<Vec<ClaimedJob>> {
        if tasks.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let lease_until = now.saturating_add(millis_of(lease));
        let sql = format!(
            "UPDATE qbwi_jobs
                SET state = 'running', attempts = attempts + 1, worker = ?1, lease_until = ?2
              WHERE id IN (
                    SELECT id FROM (
                        SELECT id FROM qbwi_jobs
                         WHERE state = 'running' AND lease_until < ?3 AND task IN ({names})
                         LIMIT ?4)
                    UNION ALL
                    SELECT id FROM (
                        SELECT id FROM qbwi_jobs
                         WHERE state = 'ready' AND run_at <= ?3 AND task IN ({names})
                         ORDER BY run_at, id
                         LIMIT ?4)
                    LIMIT ?4)
          RETURNING id, task, payload, attempts, max_attempts",
            names = placeholders(5, tasks.len()),
        );
        let mut connection = self.connection();
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut jobs = {
            let mut claim = transaction.prepare_cached(&sql)?;
            let fixed: [&dyn rusqlite::ToSql; 4] = [&worker, &lease_until, &now, &(limit as i64)];
            let bound = fixed
                .into_iter()
                .chain(tasks.iter().map(|task| task as &dyn rusqlite::ToSql));
            // A row that cannot be read is claimed too, with the reason as its payload: it must
            // not fail the claim of every other job (see `rows`).
            claim
                .query_map(params_from_iter(bound), rows::claimed_job)?
                .collect::<Result<Vec<_>, _>>()?
        };
        transaction.commit()?;
        jobs.sort_by_key(|job| job.id);
        Ok(jobs)
    }

    /// Records how runs ended, in one transaction; reports for leases `worker` no longer holds
    /// are ignored.
    pub(crate) fn finish(&self, worker: &str, finished: &[Finished]) -> DbResult<()> {
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        for finished in finished {
            match finished {
                Finished::Completed(id) => Self::complete(&transaction, *id, worker)?,
                Finished::Failed {
                    id,
                    error,
                    retry_at,
                } => Self::fail(&transaction, *id, worker, error, *retry_at)?,
                Finished::Released(id) => Self::release(&transaction, *id, worker)?,
            };
        }
        transaction.commit()?;
        Ok(())
    }

    /// The job completed: deletes it. `false` if `worker` no longer holds its lease (it expired
    /// and another worker claimed the job).
    fn complete(connection: &Connection, id: JobId, worker: &str) -> DbResult<bool> {
        let deleted = connection
            .prepare_cached(
                "DELETE FROM qbwi_jobs WHERE id = ?1 AND state = 'running' AND worker = ?2",
            )?
            .execute(params![id.0, worker])?;
        Ok(deleted == 1)
    }

    /// The run failed: the job is ready again at `retry_at`, or dead (with `error`) if `None` or
    /// out of attempts. `false` if `worker` no longer holds its lease.
    fn fail(
        connection: &Connection,
        id: JobId,
        worker: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> DbResult<bool> {
        let updated = connection
            .prepare_cached(
                "UPDATE qbwi_jobs
                    SET state = CASE WHEN ?3 IS NOT NULL AND attempts < max_attempts
                                     THEN 'ready' ELSE 'dead' END,
                        run_at = COALESCE(?3, run_at),
                        last_error = ?4, worker = NULL, lease_until = NULL
                  WHERE id = ?1 AND state = 'running' AND worker = ?2",
            )?
            .execute(params![id.0, worker, retry_at, error])?;
        Ok(updated == 1)
    }

    /// Hands a claimed job back without using up an attempt (graceful shutdown).
    fn release(connection: &Connection, id: JobId, worker: &str) -> DbResult<bool> {
        let updated = connection
            .prepare_cached(
                "UPDATE qbwi_jobs
                    SET state = 'ready', attempts = attempts - 1, worker = NULL, lease_until = NULL
                  WHERE id = ?1 AND state = 'running' AND worker = ?2",
            )?
            .execute(params![id.0, worker])?;
        Ok(updated == 1)
    }

    /// Extends `worker`'s leases on `ids` to `lease_until`. Returns the ids it no longer holds.
    pub(crate) fn heartbeat(
        &self,
        ids: &[JobId],
        worker: &str,
        lease_until: i64,
    ) -> DbResult<Vec<JobId>> {
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        let mut lost = Vec::new();
        {
            let mut extend = transaction.prepare_cached(
                "UPDATE qbwi_jobs SET lease_until = ?3
                  WHERE id = ?1 AND state = 'running' AND worker = ?2",
            )?;
            for id in ids {
                if extend.execute(params![id.0, worker, lease_until])? == 0 {
                    lost.push(*id);
                }
            }
        }
        transaction.commit()?;
        Ok(lost)
    }

    /// When the next of these tasks' jobs is due (ms since the epoch): a ready job's `run_at` or
    /// a running job's lease expiry.
    pub(crate) fn next_due(&self, tasks: &[&str]) -> DbResult<Option<i64>> {
        if tasks.is_empty() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT MIN(CASE state WHEN 'ready' THEN run_at ELSE lease_until + 1 END)
               FROM qbwi_jobs
              WHERE task IN ({names}) AND state IN ('ready', 'running')",
            names = placeholders(1, tasks.len()),
        );
        let connection = self.connection();
        let mut select = connection.prepare_cached(&sql)?;
        Ok(select.query_row(params_from_iter(tasks), |row| row.get(0))?)
    }

    /// Dead jobs, oldest first.
    pub(crate) fn dead_jobs(&self, limit: usize) -> DbResult<Vec<DeadJob>> {
        let connection = self.connection();
        let mut select = connection.prepare_cached(
            "SELECT id, task, payload, attempts, COALESCE(last_error, '')
               FROM qbwi_jobs WHERE state = 'dead' ORDER BY id LIMIT ?1",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let jobs = select
            .query_map([limit], rows::dead_job)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(jobs)
    }

    /// Gives a dead job a fresh set of attempts, due at `now`. `false` if it is not dead.
    pub(crate) fn retry_dead(&self, id: JobId, now: i64) -> DbResult<bool> {
        let updated = self.connection().execute(
            "UPDATE qbwi_jobs SET state = 'ready', attempts = 0, run_at = ?2
              WHERE id = ?1 AND state = 'dead'",
            params![id.0, now],
        )?;
        Ok(updated == 1)
    }

    /// Deletes a dead job. `false` if it is not dead.
    pub(crate) fn delete_dead(&self, id: JobId) -> DbResult<bool> {
        let deleted = self.connection().execute(
            "DELETE FROM qbwi_jobs WHERE id = ?1 AND state = 'dead'",
            params![id.0],
        )?;
        Ok(deleted == 1)
    }

    /// Jobs by state at `now`.
    pub(crate) fn counts(&self, now: i64) -> DbResult<JobCounts> {
        let connection = self.connection();
        let mut select = connection.prepare_cached(
            "SELECT COALESCE(SUM(state = 'ready' AND run_at <= ?1), 0),
                    COALESCE(SUM(state = 'ready' AND run_at > ?1), 0),
                    COALESCE(SUM(state = 'running'), 0),
                    COALESCE(SUM(state = 'dead'), 0)
               FROM qbwi_jobs",
        )?;
        Ok(select.query_row([now], |row| {
            Ok(JobCounts {
                ready: row.get::<_, i64>(0)? as u64,
                scheduled: row.get::<_, i64>(1)? as u64,
                running: row.get::<_, i64>(2)? as u64,
                dead: row.get::<_, i64>(3)? as u64,
            })
        })?)
    }
}

/// `?from, ?from+1, ..`: `count` numbered parameters.
fn placeholders(from: usize, count: usize) -> String {
    let names: Vec<String> = (from..from + count).map(|n| format!("?{n}")).collect();
    names.join(", ")
}

/// How long an operation waits for another connection's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// A read-only or full database: the file opened, but writing is refused.
fn is_write_refusal(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::ReadOnly | ErrorCode::DiskFull)
    )
}

/// The hint for a file that SQLite does not recognise as a database.
const HINT_NOT_A_DATABASE: &str = "the file is not a SQLite database (or it is encrypted or \
                                   damaged): check the path, and give qbwi a file of its own (one \
                                   that does not exist yet is created)";

/// The public error for one of this store's.
fn store_error(describe: &str, error: DbError) -> StoreError {
    let store = describe.to_owned();
    match error {
        DbError::NewerSchema { found } => StoreError::NewerSchema {
            found,
            known: SCHEMA_VERSION,
        },
        DbError::NotDurable(reason) => StoreError::NotDurable {
            store,
            reason,
            instead: path::INSTEAD,
        },
        DbError::Sqlite(error) => {
            let reason = error.to_string();
            match error.sqlite_error_code() {
                Some(ErrorCode::ReadOnly) => StoreError::ReadOnly { store, reason },
                Some(ErrorCode::DiskFull) => StoreError::Full { store, reason },
                Some(ErrorCode::NotADatabase) => StoreError::Unreachable {
                    store,
                    reason,
                    hint: HINT_NOT_A_DATABASE,
                },
                Some(ErrorCode::CannotOpen) => StoreError::Unreachable {
                    store,
                    reason,
                    hint: "check that the file and its directory exist and are readable and \
                           writable by this process",
                },
                _ => StoreError::Database { store, reason },
            }
        }
    }
}

/// Applies the migrations the file has not seen, under SQLite's write lock.
fn migrate(connection: &mut Connection) -> DbResult<()> {
    // Up to date: nothing to write (so a read-only store opens, and refuses writes when they come).
    let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = transaction.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(DbError::NewerSchema { found: version });
    }
    for migration in &MIGRATIONS[version as usize..] {
        transaction.execute_batch(migration)?;
    }
    transaction.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    transaction.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(30);

    fn temp_path(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("qbwi-sqlite-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("qbwi.db")
    }

    fn job(task: &'static str, payload: &str, run_at: i64, max_attempts: u32) -> NewJob {
        NewJob {
            task,
            payload: payload.into(),
            run_at: Some(run_at),
            max_attempts,
        }
    }

    fn open(path: impl AsRef<Path>) -> Db {
        let store = SqliteStore::open(path).unwrap();
        Arc::into_inner(store.db).unwrap()
    }

    impl Db {
        fn complete_one(&self, id: JobId, worker: &str) -> bool {
            Self::complete(&self.connection(), id, worker).unwrap()
        }
        fn fail_one(&self, id: JobId, worker: &str, error: &str, retry_at: Option<i64>) -> bool {
            Self::fail(&self.connection(), id, worker, error, retry_at).unwrap()
        }
        fn release_one(&self, id: JobId, worker: &str) -> bool {
            Self::release(&self.connection(), id, worker).unwrap()
        }
    }

    #[test]
    fn enqueue_then_claim_in_order_once_per_lease() {
        let store = open(temp_path("order"));
        let ids = store
            .enqueue(&[
                job("mail", r#"{"to":1}"#, 0, 3),
                job("mail", r#"{"to":2}"#, 0, 3),
            ])
            .unwrap();
        assert_eq!(ids.len(), 2);
        assert!(ids[0] < ids[1]);

        let claimed = store.claim(&["mail"], 10, "a", 100, LEASE).unwrap();
        assert_eq!(claimed.iter().map(|job| job.id).collect::<Vec<_>>(), ids);
        assert_eq!(claimed[0].payload.as_deref(), Ok(r#"{"to":1}"#));
        assert_eq!((claimed[0].attempt, claimed[0].max_attempts), (1, 3));
        // Leased: nobody else gets them while the lease holds.
        assert!(
            store
                .claim(&["mail"], 10, "b", 200, LEASE)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_worker_claims_only_the_tasks_it_knows_and_only_when_due() {
        let store = open(temp_path("names"));
        store
            .enqueue(&[
                job("mail", "1", 0, 1),
                job("resize", "2", 0, 1),
                job("mail", "3", 5_000, 1),
            ])
            .unwrap();
        let claimed = store
            .claim(&["resize", "pdf"], 10, "a", 1_000, LEASE)
            .unwrap();
        assert_eq!(
            claimed
                .iter()
                .map(|job| job.task.as_str())
                .collect::<Vec<_>>(),
            ["resize"]
        );
        let claimed = store.claim(&["mail"], 10, "a", 1_000, LEASE).unwrap();
        assert_eq!(
            claimed
                .iter()
                .map(|job| job.payload.as_deref())
                .collect::<Vec<_>>(),
            [Ok("1")]
        );
        // The delayed one is due at 5 s.
        assert!(
            store
                .claim(&["mail"], 10, "a", 4_999, LEASE)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.claim(&["mail"], 10, "a", 5_000, LEASE).unwrap().len(),
            1
        );
        assert!(store.claim(&[], 10, "a", 9_000, LEASE).unwrap().is_empty());
    }

    #[test]
    fn an_expired_lease_lets_another_worker_claim_and_the_old_one_loses_it() {
        let store = open(temp_path("lease"));
        let [id] = store.enqueue(&[job("mail", "x", 0, 5)]).unwrap()[..] else {
            unreachable!()
        };
        store.claim(&["mail"], 1, "dead-worker", 0, LEASE).unwrap();
        assert!(
            store
                .claim(&["mail"], 1, "b", 30_000, LEASE)
                .unwrap()
                .is_empty(),
            "lease still valid"
        );
        let reclaimed = store.claim(&["mail"], 1, "b", 30_001, LEASE).unwrap();
        assert_eq!((reclaimed[0].id, reclaimed[0].attempt), (id, 2));
        assert!(
            !store.complete_one(id, "dead-worker"),
            "the old worker's lease is gone"
        );
        assert!(store.complete_one(id, "b"));
        assert!(
            store
                .claim(&["mail"], 1, "c", 1_000_000, LEASE)
                .unwrap()
                .is_empty(),
            "completed jobs are gone"
        );
    }

    #[test]
    fn a_heartbeat_keeps_the_lease() {
        let store = open(temp_path("heartbeat"));
        let ids = store.enqueue(&[job("mail", "x", 0, 5)]).unwrap();
        store.claim(&["mail"], 1, "a", 0, LEASE).unwrap();
        assert_eq!(store.heartbeat(&ids, "a", 60_000).unwrap(), []);
        assert_eq!(store.heartbeat(&ids, "intruder", 90_000).unwrap(), ids);
        assert!(
            store
                .claim(&["mail"], 1, "b", 45_000, LEASE)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.claim(&["mail"], 1, "b", 60_001, LEASE).unwrap().len(),
            1
        );
    }

    #[test]
    fn failures_retry_until_the_job_is_dead_then_it_can_be_retried_or_deleted() {
        let store = open(temp_path("retry"));
        let [id] = store.enqueue(&[job("mail", "x", 0, 2)]).unwrap()[..] else {
            unreachable!()
        };
        store.claim(&["mail"], 1, "a", 0, LEASE).unwrap();
        assert!(store.fail_one(id, "a", "smtp 451", Some(10_000)));
        assert!(
            store
                .claim(&["mail"], 1, "a", 9_999, LEASE)
                .unwrap()
                .is_empty(),
            "backing off"
        );
        let second = store.claim(&["mail"], 1, "a", 10_000, LEASE).unwrap();
        assert_eq!(second[0].attempt, 2);
        assert!(store.fail_one(id, "a", "smtp 550", Some(20_000)));
        // Out of attempts: dead, with the last error, whatever the retry time said.
        assert!(
            store
                .claim(&["mail"], 1, "a", 1_000_000, LEASE)
                .unwrap()
                .is_empty()
        );
        let dead = store.dead_jobs(100).unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(
            (dead[0].id, dead[0].attempts, dead[0].last_error.as_str()),
            (id, 2, "smtp 550")
        );

        assert!(store.retry_dead(id, 2_000_000).unwrap());
        assert!(store.dead_jobs(100).unwrap().is_empty());
        let again = store.claim(&["mail"], 1, "a", 2_000_000, LEASE).unwrap();
        assert_eq!(
            again[0].attempt, 1,
            "a retried dead job gets its attempts back"
        );
        assert!(
            store.fail_one(id, "a", "corrupt payload", None),
            "None: dead at once"
        );
        assert_eq!(store.dead_jobs(100).unwrap()[0].attempts, 1);
        assert!(store.delete_dead(id).unwrap());
        assert!(!store.delete_dead(id).unwrap());
        assert!(store.dead_jobs(100).unwrap().is_empty());
    }

    #[test]
    fn a_released_job_runs_again_without_losing_an_attempt() {
        let store = open(temp_path("release"));
        let [id] = store.enqueue(&[job("mail", "x", 0, 1)]).unwrap()[..] else {
            unreachable!()
        };
        store.claim(&["mail"], 1, "a", 0, LEASE).unwrap();
        assert!(
            !store.release_one(id, "b"),
            "only the lease holder releases"
        );
        assert!(store.release_one(id, "a"));
        let again = store.claim(&["mail"], 1, "b", 1, LEASE).unwrap();
        assert_eq!(again[0].attempt, 1);
    }

    #[test]
    fn ids_are_never_reused() {
        let store = open(temp_path("ids"));
        let [first] = store.enqueue(&[job("mail", "1", 0, 1)]).unwrap()[..] else {
            unreachable!()
        };
        store.claim(&["mail"], 1, "a", 0, LEASE).unwrap();
        assert!(store.complete_one(first, "a"));
        let [second] = store.enqueue(&[job("mail", "2", 0, 1)]).unwrap()[..] else {
            unreachable!()
        };
        assert!(second > first, "{second} after {first}");
    }

    #[test]
    fn jobs_and_schema_survive_reopening() {
        let path = temp_path("reopen");
        let ids = open(&path).enqueue(&[job("mail", "kept", 0, 1)]).unwrap();
        let store = open(&path);
        let claimed = store.claim(&["mail"], 1, "a", 0, LEASE).unwrap();
        assert_eq!(
            (claimed[0].id, claimed[0].payload.as_deref()),
            (ids[0], Ok("kept"))
        );
        let version: i64 = store
            .connection()
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }

    #[test]
    fn a_newer_schema_is_refused_with_a_clear_error() {
        let path = temp_path("newer");
        drop(open(&path));
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let error = SqliteStore::open(&path).err().expect("refused");
        assert!(error.to_string().contains("version 99"), "{error}");
    }

    #[test]
    fn hosts_opening_a_new_file_at_the_same_moment_create_the_schema_once() {
        let path = temp_path("race");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let openers: Vec<_> = (0..8)
            .map(|n| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let store = open(&path);
                    store.enqueue(&[job("mail", &n.to_string(), 0, 1)]).unwrap();
                })
            })
            .collect();
        for opener in openers {
            opener.join().unwrap();
        }
        let store = open(&path);
        assert_eq!(store.claim(&["mail"], 100, "a", 0, LEASE).unwrap().len(), 8);
    }

    #[test]
    fn what_sqlite_opens_as_a_temporary_or_in_memory_database_is_refused_too() {
        // Past `path::not_durable` (which refuses these names first), SQLite's own answer.
        for name in ["", ":memory:", "file:%3Amemory%3A"] {
            let error = Db::open(Path::new(name)).expect_err("refused");
            let DbError::NotDurable(reason) = &error else {
                panic!("{name:?}: {error:?}")
            };
            assert!(reason.contains("temporary or in-memory"), "{reason}");
            let error = store_error("SQLite at x", error);
            assert!(
                error
                    .to_string()
                    .contains("give the path of a database file"),
                "{error}"
            );
        }
    }

    #[test]
    fn an_unwritable_place_is_a_clear_error() {
        let error = SqliteStore::open("/nonexistent-dir/qbwi.db")
            .err()
            .expect("refused");
        let text = error.to_string();
        assert!(
            text.contains("/nonexistent-dir/qbwi.db") && text.contains("writable"),
            "{text}"
        );
    }
}
