//! The SQLite store: one file, WAL journal, schema versioned with `PRAGMA user_version`.
//!
//! Every operation is one transaction on one connection. Opening migrates inside
//! `BEGIN IMMEDIATE`, which takes SQLite's write lock first, so hosts that start at the same
//! moment against a new file create the schema exactly once (the others wait up to the busy
//! timeout, then see it done).

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior, params, params_from_iter};

use super::{ClaimedJob, DeadJob, NewJob, StoreError};

/// The schema version this code writes and reads.
const SCHEMA_VERSION: i64 = 1;

const MIGRATIONS: [&str; 1] = [
    // 1: jobs, with the index the claim query walks.
    "CREATE TABLE qbwi_jobs (
        id           INTEGER PRIMARY KEY,
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

pub(crate) struct SqliteStore {
    connection: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (or creates) the store at `path` and brings its schema up to date.
    ///
    /// Setting a new file up (switching it to WAL, the first reads of its WAL index) needs the file
    /// to itself for a moment, and SQLite does not wait for that (the busy timeout does not apply).
    /// When several hosts open a new file at once, the ones that find it busy start over, for as
    /// long as the busy timeout would have waited.
    pub(crate) fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match Self::try_open(path) {
                Err(StoreError::Open { source, .. } | StoreError::Sqlite(source))
                    if is_busy(&source) && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                result => return result,
            }
        }
    }

    fn try_open(path: &Path) -> Result<Self, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        let mut connection = Connection::open(path).map_err(open_error)?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(open_error)?;
        connection
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_error)?;
        migrate(&mut connection)?;
        Ok(SqliteStore {
            connection: Mutex::new(connection),
        })
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock is held leaves no half-done transaction: rusqlite rolls back on
        // drop.
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds jobs in one transaction: all or none. Returns their ids, in order.
    pub(crate) fn enqueue(&self, jobs: &[NewJob]) -> Result<Vec<i64>, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        let mut ids = Vec::with_capacity(jobs.len());
        {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO qbwi_jobs (task, payload, state, max_attempts, run_at)
                 VALUES (?1, ?2, 'ready', ?3, ?4)",
            )?;
            for job in jobs {
                insert.execute(params![job.task, job.payload, job.max_attempts, job.run_at])?;
                ids.push(transaction.last_insert_rowid());
            }
        }
        transaction.commit()?;
        Ok(ids)
    }

    /// Claims up to `limit` jobs of the given tasks that are due at `now` (ready, or running
    /// under a lease that has expired: their worker died), oldest first, for `worker` until
    /// `now + lease`. Each claim counts an attempt.
    pub(crate) fn claim(
        &self,
        tasks: &[&str],
        limit: usize,
        worker: &str,
        now: i64,
        lease: Duration,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        if tasks.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let lease_until = now.saturating_add(lease.as_millis().try_into().unwrap_or(i64::MAX));
        // Numbered after the four fixed parameters.
        let names: Vec<String> = (5..5 + tasks.len()).map(|n| format!("?{n}")).collect();
        let names = names.join(", ");
        let sql = format!(
            "UPDATE qbwi_jobs
                SET state = 'running', attempts = attempts + 1, worker = ?1, lease_until = ?2
              WHERE id IN (
                    SELECT id FROM qbwi_jobs
                     WHERE task IN ({names})
                       AND ((state = 'ready' AND run_at <= ?3)
                         OR (state = 'running' AND lease_until < ?3))
                     ORDER BY run_at, id
                     LIMIT ?4)
          RETURNING id, task, payload, attempts, max_attempts"
        );
        let mut connection = self.connection();
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut jobs = {
            let mut claim = transaction.prepare_cached(&sql)?;
            let fixed: [&dyn rusqlite::ToSql; 4] = [&worker, &lease_until, &now, &(limit as i64)];
            let bound = fixed
                .into_iter()
                .chain(tasks.iter().map(|task| task as &dyn rusqlite::ToSql));
            claim
                .query_map(params_from_iter(bound), |row| {
                    Ok(ClaimedJob {
                        id: row.get(0)?,
                        task: row.get(1)?,
                        payload: row.get(2)?,
                        attempt: row.get(3)?,
                        max_attempts: row.get(4)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?
        };
        transaction.commit()?;
        jobs.sort_by_key(|job| job.id);
        Ok(jobs)
    }

    /// The job completed: deletes it. `false` if `worker` no longer holds its lease (it expired
    /// and another worker claimed the job).
    pub(crate) fn complete(&self, id: i64, worker: &str) -> Result<bool, StoreError> {
        let deleted = self.connection().execute(
            "DELETE FROM qbwi_jobs WHERE id = ?1 AND state = 'running' AND worker = ?2",
            params![id, worker],
        )?;
        Ok(deleted == 1)
    }

    /// The run failed: the job is ready again at `retry_at`, or dead (with `error`) if `None` or
    /// out of attempts. `false` if `worker` no longer holds its lease.
    pub(crate) fn fail(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let updated = self.connection().execute(
            "UPDATE qbwi_jobs
                SET state = CASE WHEN ?3 IS NOT NULL AND attempts < max_attempts
                                 THEN 'ready' ELSE 'dead' END,
                    run_at = COALESCE(?3, run_at),
                    last_error = ?4, worker = NULL, lease_until = NULL
              WHERE id = ?1 AND state = 'running' AND worker = ?2",
            params![id, worker, retry_at, error],
        )?;
        Ok(updated == 1)
    }

    /// Hands a claimed job back without using up an attempt (graceful shutdown).
    pub(crate) fn release(&self, id: i64, worker: &str) -> Result<bool, StoreError> {
        let updated = self.connection().execute(
            "UPDATE qbwi_jobs
                SET state = 'ready', attempts = attempts - 1, worker = NULL, lease_until = NULL
              WHERE id = ?1 AND state = 'running' AND worker = ?2",
            params![id, worker],
        )?;
        Ok(updated == 1)
    }

    /// Extends `worker`'s leases on `ids` to `lease_until`. Returns how many it still held.
    pub(crate) fn heartbeat(
        &self,
        ids: &[i64],
        worker: &str,
        lease_until: i64,
    ) -> Result<usize, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        let mut held = 0;
        {
            let mut extend = transaction.prepare_cached(
                "UPDATE qbwi_jobs SET lease_until = ?3
                  WHERE id = ?1 AND state = 'running' AND worker = ?2",
            )?;
            for id in ids {
                held += extend.execute(params![id, worker, lease_until])?;
            }
        }
        transaction.commit()?;
        Ok(held)
    }

    /// Every dead job, oldest first.
    pub(crate) fn dead_jobs(&self) -> Result<Vec<DeadJob>, StoreError> {
        let connection = self.connection();
        let mut select = connection.prepare_cached(
            "SELECT id, task, payload, attempts, COALESCE(last_error, '')
               FROM qbwi_jobs WHERE state = 'dead' ORDER BY id",
        )?;
        let jobs = select
            .query_map([], |row| {
                Ok(DeadJob {
                    id: row.get(0)?,
                    task: row.get(1)?,
                    payload: row.get(2)?,
                    attempts: row.get(3)?,
                    last_error: row.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(jobs)
    }

    /// Gives a dead job a fresh set of attempts, due at `now`. `false` if it is not dead.
    pub(crate) fn retry_dead(&self, id: i64, now: i64) -> Result<bool, StoreError> {
        let updated = self.connection().execute(
            "UPDATE qbwi_jobs SET state = 'ready', attempts = 0, run_at = ?2
              WHERE id = ?1 AND state = 'dead'",
            params![id, now],
        )?;
        Ok(updated == 1)
    }

    /// Deletes a dead job. `false` if it is not dead.
    pub(crate) fn delete_dead(&self, id: i64) -> Result<bool, StoreError> {
        let deleted = self.connection().execute(
            "DELETE FROM qbwi_jobs WHERE id = ?1 AND state = 'dead'",
            params![id],
        )?;
        Ok(deleted == 1)
    }
}

/// How long an operation waits for another connection's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(error, _)
            if matches!(error.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Applies the migrations the file has not seen, under SQLite's write lock.
fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = transaction.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found: version,
            known: SCHEMA_VERSION,
        });
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

    fn job(task: &str, payload: &str, run_at: i64, max_attempts: u32) -> NewJob {
        NewJob {
            task: task.into(),
            payload: payload.into(),
            run_at,
            max_attempts,
        }
    }

    #[test]
    fn enqueue_then_claim_in_order_once_per_lease() {
        let store = SqliteStore::open(temp_path("order")).unwrap();
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
        assert_eq!(claimed[0].payload, r#"{"to":1}"#);
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
        let store = SqliteStore::open(temp_path("names")).unwrap();
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
                .map(|job| job.payload.as_str())
                .collect::<Vec<_>>(),
            ["1"]
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
        let store = SqliteStore::open(temp_path("lease")).unwrap();
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
            !store.complete(id, "dead-worker").unwrap(),
            "the old worker's lease is gone"
        );
        assert!(store.complete(id, "b").unwrap());
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
        let store = SqliteStore::open(temp_path("heartbeat")).unwrap();
        let ids = store.enqueue(&[job("mail", "x", 0, 5)]).unwrap();
        store.claim(&["mail"], 1, "a", 0, LEASE).unwrap();
        assert_eq!(store.heartbeat(&ids, "a", 60_000).unwrap(), 1);
        assert_eq!(store.heartbeat(&ids, "intruder", 90_000).unwrap(), 0);
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
        let store = SqliteStore::open(temp_path("retry")).unwrap();
        let [id] = store.enqueue(&[job("mail", "x", 0, 2)]).unwrap()[..] else {
            unreachable!()
        };
        store.claim(&["mail"], 1, "a", 0, LEASE).unwrap();
        assert!(store.fail(id, "a", "smtp 451", Some(10_000)).unwrap());
        assert!(
            store
                .claim(&["mail"], 1, "a", 9_999, LEASE)
                .unwrap()
                .is_empty(),
            "backing off"
        );
        let second = store.claim(&["mail"], 1, "a", 10_000, LEASE).unwrap();
        assert_eq!(second[0].attempt, 2);
        assert!(store.fail(id, "a", "smtp 550", Some(20_000)).unwrap());
        // Out of attempts: dead, with the last error, whatever the retry time said.
        assert!(
            store
                .claim(&["mail"], 1, "a", 1_000_000, LEASE)
                .unwrap()
                .is_empty()
        );
        let dead = store.dead_jobs().unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(
            (dead[0].id, dead[0].attempts, dead[0].last_error.as_str()),
            (id, 2, "smtp 550")
        );

        assert!(store.retry_dead(id, 2_000_000).unwrap());
        assert!(store.dead_jobs().unwrap().is_empty());
        let again = store.claim(&["mail"], 1, "a", 2_000_000, LEASE).unwrap();
        assert_eq!(
            again[0].attempt, 1,
            "a retried dead job gets its attempts back"
        );
        assert!(
            store.fail(id, "a", "corrupt payload", None).unwrap(),
            "None: dead at once"
        );
        assert_eq!(store.dead_jobs().unwrap()[0].attempts, 1);
        assert!(store.delete_dead(id).unwrap());
        assert!(!store.delete_dead(id).unwrap());
        assert!(store.dead_jobs().unwrap().is_empty());
    }

    #[test]
    fn a_released_job_runs_again_without_losing_an_attempt() {
        let store = SqliteStore::open(temp_path("release")).unwrap();
        let [id] = store.enqueue(&[job("mail", "x", 0, 1)]).unwrap()[..] else {
            unreachable!()
        };
        store.claim(&["mail"], 1, "a", 0, LEASE).unwrap();
        assert!(
            !store.release(id, "b").unwrap(),
            "only the lease holder releases"
        );
        assert!(store.release(id, "a").unwrap());
        let again = store.claim(&["mail"], 1, "b", 1, LEASE).unwrap();
        assert_eq!(again[0].attempt, 1);
    }

    #[test]
    fn jobs_and_schema_survive_reopening() {
        let path = temp_path("reopen");
        let ids = SqliteStore::open(&path)
            .unwrap()
            .enqueue(&[job("mail", "kept", 0, 1)])
            .unwrap();
        let store = SqliteStore::open(&path).unwrap();
        let claimed = store.claim(&["mail"], 1, "a", 0, LEASE).unwrap();
        assert_eq!(
            (claimed[0].id, claimed[0].payload.as_str()),
            (ids[0], "kept")
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
        drop(SqliteStore::open(&path).unwrap());
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
                    let store = SqliteStore::open(&path).unwrap();
                    store.enqueue(&[job("mail", &n.to_string(), 0, 1)]).unwrap();
                })
            })
            .collect();
        for opener in openers {
            opener.join().unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.claim(&["mail"], 100, "a", 0, LEASE).unwrap().len(), 8);
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
