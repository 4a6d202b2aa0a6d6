//! The jobs: the statements behind each [`Backend`] method, each one transaction on the store's
//! connection (the `Backend` methods run them on the blocking pool). A claim takes SQLite's write
//! lock first (`BEGIN IMMEDIATE`), so two processes never lease the same row.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior, params, params_from_iter};

use super::errors::DbResult;
use super::{Db, SqliteStore, rows};
use crate::store::{
    Backend, BoxFuture, ClaimRequest, ClaimedJob, DeadJob, Finished, JobCounts, JobId, NewJob,
    StoreError, now_millis,
};

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
    /// Adds jobs in one transaction: all or none. Returns their ids, in order.
    fn enqueue(&self, jobs: &[NewJob]) -> DbResult<Vec<JobId>> {
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
    fn claim(
        &self,
        tasks: &[&str],
        limit: usize,
        worker: &str,
        now: i64,
        lease: Duration,
    ) -> DbResult<Vec<ClaimedJob>> {
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
        let jobs = {
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
        Ok(jobs)
    }

    /// Records how runs ended, in one transaction; reports for leases `worker` no longer holds
    /// are ignored.
    fn finish(&self, worker: &str, finished: &[Finished]) -> DbResult<()> {
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
    fn heartbeat(&self, ids: &[JobId], worker: &str, lease_until: i64) -> DbResult<Vec<JobId>> {
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
    fn next_due(&self, tasks: &[&str]) -> DbResult<Option<i64>> {
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
    fn dead_jobs(&self, limit: usize) -> DbResult<Vec<DeadJob>> {
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
    fn retry_dead(&self, id: JobId, now: i64) -> DbResult<bool> {
        let updated = self.connection().execute(
            "UPDATE qbwi_jobs SET state = 'ready', attempts = 0, run_at = ?2
              WHERE id = ?1 AND state = 'dead'",
            params![id.0, now],
        )?;
        Ok(updated == 1)
    }

    /// Deletes a dead job. `false` if it is not dead.
    fn delete_dead(&self, id: JobId) -> DbResult<bool> {
        let deleted = self.connection().execute(
            "DELETE FROM qbwi_jobs WHERE id = ?1 AND state = 'dead'",
            params![id.0],
        )?;
        Ok(deleted == 1)
    }

    /// Jobs by state at `now`.
    fn counts(&self, now: i64) -> DbResult<JobCounts> {
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
