//! The jobs' life: the statements behind each [`Backend`] method the host's worker calls (enqueue,
//! claim, finish, heartbeat, next due), one round trip each. Claims lease with `FOR UPDATE SKIP
//! LOCKED`; every due time and lease is compared with the server's `now()`. The operator's
//! statements are in [`admin`](super::admin); this file also holds the one `Backend` impl, which
//! calls both.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Object;
use tokio_postgres::types::{ToSql, Type};

use super::{PostgresStore, rows};
use crate::store::{
    Action, Backend, BoxFuture, ClaimRequest, Claimed, ClaimedJob, DeadJob, Enqueued, Finished,
    Fire, JobCounts, JobDetail, JobId, JobQuery, JobSummary, Leases, MinuteCounts, MinuteTally,
    NewJob, Node, NodeReport, Selection, StoreError, Take, Taken, TaskCounts, UniqueKey,
};

/// Inserts jobs, in order, and notifies [`CHANNEL`](super::listener::CHANNEL) (at commit) with
/// `$5`, the inserting store's origin (so that its own listener can leave out what its process
/// already knows); one statement, one round trip. `WITH ORDINALITY .. ORDER BY` makes the sequence number the rows in
/// input order, so the ids, sorted (by the `Store`), are the jobs' ids in order.
const INSERT: &str = "WITH inserted AS (
        INSERT INTO qbwi_jobs (task, payload, state, max_attempts, run_at)
        SELECT job.task, job.payload, 'ready', job.max_attempts,
               COALESCE(to_timestamp(job.run_at / 1000), now())
          FROM unnest($1::text[], $2::text[], $3::int4[], $4::float8[])
               WITH ORDINALITY AS job (task, payload, max_attempts, run_at, position)
         ORDER BY job.position
        RETURNING id)
    SELECT inserted.id FROM inserted, (SELECT pg_notify('qbwi_jobs', $5)) AS wake
     ORDER BY inserted.id";

/// Adds job (`$1` task, `$2` payload, `$3` attempts) claimed by worker `$5` for `$6` ms, its first
/// attempt, unless its task is paused or a due job of the tasks `$4` is waiting (then ready, as
/// [`INSERT`] adds it, notifying with `$7`): its id, and whether it was taken. One statement, a
/// transaction of its own, committed as every enqueue is.
const INSERT_TAKING: &str = "WITH take AS (
        SELECT NOT EXISTS (SELECT FROM qbwi_paused WHERE task = $1)
           AND NOT EXISTS (
               SELECT FROM qbwi_jobs
                WHERE state = 'ready' AND run_at <= now() AND task = ANY($4::text[])
                  AND task NOT IN (SELECT task FROM qbwi_paused)) AS taken),
    inserted AS (
        INSERT INTO qbwi_jobs (task, payload, state, max_attempts, run_at, attempts, worker,
                               lease_until, started_at)
        SELECT $1, $2, CASE WHEN taken THEN 'running' ELSE 'ready' END, $3, now(),
               CASE WHEN taken THEN 1 ELSE 0 END, CASE WHEN taken THEN $5::text END,
               CASE WHEN taken THEN now() + $6::float8 * interval '1 millisecond' END,
               CASE WHEN taken THEN now() END
          FROM take
        RETURNING id, state = 'running' AS taken)
    SELECT inserted.id, inserted.taken,
           (SELECT count(pg_notify('qbwi_jobs', $7)) FROM inserted WHERE NOT inserted.taken)
      FROM inserted";

/// Opens the transaction of a claim or of recording runs' ends: it commits without waiting for its
/// WAL to reach the disk. The jobs' enqueues keep waiting for it (the server's setting, `on` as
/// users run it): they are what a crash must not lose. A claim or an end that a crash of the
/// *server* loses (its last few hundred milliseconds, at most `3 × wal_writer_delay`) only means
/// that the job runs again, as at-least-once delivery allows for a worker that dies anyway; a
/// commit that waits makes every one of them wait for the disk, once per job, and on a disk that
/// flushes in a third of a millisecond that halved the rate of enqueues beside them.
const BEGIN_UNSYNCED: &str = "BEGIN; SET LOCAL synchronous_commit TO OFF";

/// Opens a claim's transaction: unsynced, as [`BEGIN_UNSYNCED`], and planned as a walk of the
/// partial indexes whatever the statistics say. A new store's statistics are an empty table's,
/// and autovacuum analyzes it again only some time after a burst of jobs: until then the planner
/// would read every ready row and sort them, once per claim (the durable bench's batched runs took
/// 2.7 s or 8 s, by whether autovacuum had come by in time).
pub(super) const BEGIN_CLAIM: &str = "BEGIN; SET LOCAL synchronous_commit TO OFF;
    SET LOCAL enable_seqscan TO off; SET LOCAL enable_bitmapscan TO off";

/// Leases up to `$2` due jobs of the tasks `$1` to worker `$3` for `$4` milliseconds: jobs whose
/// worker died (lease expired) first, then ready ones, oldest first; paused tasks' jobs are left.
/// Two branches, each walking its own partial index and stopping at `$2` rows: one query with `OR`
/// sorts every ready row (22 ms instead of 1.3 ms at 20,000 ready jobs). Rows a branch locks
/// beyond the limit are unlocked at the statement's commit, untouched.
///
/// The payload is returned as its bytes, checked by `rows::claimed_job`: a `SQL_ASCII` database
/// keeps text that is not UTF-8, and the server refuses to send such text to a UTF-8 client,
/// failing the whole statement (every claim, forever) for one bad row. `convert_to(payload,
/// current_setting('server_encoding'))` is the column's bytes as stored (converting to the
/// database's own encoding changes nothing), as `bytea`, which the server sends unchecked.
pub(super) const CLAIM: &str = "WITH expired AS (
        SELECT id FROM qbwi_jobs
         WHERE state = 'running' AND lease_until < now() AND task = ANY($1::text[])
           AND task NOT IN (SELECT task FROM qbwi_paused)
         ORDER BY lease_until
         LIMIT $2
           FOR UPDATE SKIP LOCKED),
    ready AS (
        SELECT id FROM qbwi_jobs
         WHERE state = 'ready' AND run_at <= now() AND task = ANY($1::text[])
           AND task NOT IN (SELECT task FROM qbwi_paused)
           AND (blocked_by IS NULL OR NOT EXISTS (
               SELECT FROM qbwi_jobs AS blocker
                WHERE blocker.id = qbwi_jobs.blocked_by AND blocker.state = 'running'))
         ORDER BY run_at, id
         LIMIT $2
           FOR UPDATE SKIP LOCKED)
    UPDATE qbwi_jobs AS job
       SET state = 'running', attempts = job.attempts + 1, worker = $3, started_at = now(),
           lease_until = now() + $4::float8 * interval '1 millisecond'
     WHERE job.id = ANY(ARRAY(
           SELECT id FROM (SELECT id, 0 AS branch FROM expired
                           UNION ALL SELECT id, 1 FROM ready) AS due
            ORDER BY branch
            LIMIT $2))
 RETURNING job.id, job.task, convert_to(job.payload, current_setting('server_encoding')),
           job.attempts, job.max_attempts,
           (extract(epoch FROM now() - job.run_at) * 1000)::int8";

/// Moves schedule `$1`'s last tick to `$4` (recording its expression `$2` and zone `$3`) if it is
/// before `$5`, the first tick fired, or adds the schedule: a row back if it did (the node fires),
/// none if another node fired `$5` or later first. A second node's update of the row waits for the
/// first's transaction, then reads the row it committed.
const FIRE: &str = "INSERT INTO qbwi_schedules (name, expression, timezone, last_tick)
     VALUES ($1, $2, $3, $4)
     ON CONFLICT (name) DO UPDATE
        SET last_tick = excluded.last_tick, expression = excluded.expression,
            timezone = excluded.timezone, fired_at = now()
      WHERE qbwi_schedules.last_tick < $5
  RETURNING name";

/// Completes the jobs `$1` that worker `$2` still holds, kept for the retention.
const COMPLETE_KEEP: &str = "UPDATE qbwi_jobs
        SET state = 'completed', finished_at = now(), worker = NULL, lease_until = NULL,
            unique_key = CASE WHEN unique_until > now() THEN unique_key END
      WHERE id = ANY($1::int8[]) AND state = 'running' AND worker = $2";

/// Deletes the completed jobs `$1` that worker `$2` still holds (no retention).
const COMPLETE_DELETE: &str = "DELETE FROM qbwi_jobs
      WHERE id = ANY($1::int8[]) AND state = 'running' AND worker = $2";

/// Records failures (ids `$1`, errors `$3`, retry times `$4`) of jobs worker `$2` still holds.
const FAIL: &str = "UPDATE qbwi_jobs AS job
        SET state = CASE WHEN failure.retry_at IS NOT NULL AND job.attempts < job.max_attempts
                         THEN 'ready' ELSE 'dead' END,
            finished_at = CASE WHEN failure.retry_at IS NOT NULL
                                    AND job.attempts < job.max_attempts
                               THEN NULL ELSE now() END,
            run_at = COALESCE(to_timestamp(failure.retry_at / 1000), job.run_at),
            unique_key = CASE WHEN failure.retry_at IS NOT NULL
                                   AND job.attempts < job.max_attempts THEN job.unique_key
                              WHEN job.unique_until > now() THEN job.unique_key END,
            last_error = failure.error, worker = NULL, lease_until = NULL
       FROM unnest($1::int8[], $3::text[], $4::float8[]) AS failure (id, error, retry_at)
      WHERE job.id = failure.id AND job.state = 'running' AND job.worker = $2";

/// Hands back the jobs `$1` that worker `$2` still holds, their attempt given back; notifies other
/// hosts if there were any.
const RELEASE: &str = "WITH released AS (
        UPDATE qbwi_jobs
           SET state = 'ready', attempts = attempts - 1, worker = NULL, lease_until = NULL
         WHERE id = ANY($1::int8[]) AND state = 'running' AND worker = $2
        RETURNING id)
    SELECT pg_notify('qbwi_jobs', '') WHERE EXISTS (SELECT FROM released)";

/// Adds node `$1`'s tallies (minutes `$2` in ms since the epoch, tasks `$3`, completed `$4`, failed
/// `$5`) to the per-minute counts.
const COUNT_MINUTES: &str = "INSERT INTO qbwi_minutes (minute, task, node, completed, failed)
    SELECT to_timestamp(tally.minute / 1000), tally.task, $1, tally.completed, tally.failed
      FROM unnest($2::float8[], $3::text[], $4::int8[], $5::int8[])
           AS tally (minute, task, completed, failed)
    ON CONFLICT (minute, task, node)
    DO UPDATE SET completed = qbwi_minutes.completed + excluded.completed,
                  failed = qbwi_minutes.failed + excluded.failed";

/// The jobs `$1` that worker `$2` ran were cancelled by an operator: finished now.
const CANCELLED: &str = "UPDATE qbwi_jobs
       SET state = 'cancelled', finished_at = now(), worker = NULL, lease_until = NULL,
           unique_key = CASE WHEN unique_until > now() THEN unique_key END
     WHERE id = ANY($1::int8[]) AND state = 'running' AND worker = $2";

/// Extends to `$3` milliseconds from now the leases that worker `$2` holds on the jobs `$1`; the
/// ids it holds, and whether an operator asked to cancel each.
const HEARTBEAT: &str = "UPDATE qbwi_jobs
       SET lease_until = now() + $3::float8 * interval '1 millisecond'
     WHERE id = ANY($1::int8[]) AND state = 'running' AND worker = $2
 RETURNING id, cancel_requested";

/// Seconds until the next job of the tasks `$1` is due (negative if one is overdue), or NULL.
const NEXT_DUE: &str = "SELECT EXTRACT(EPOCH FROM (min(next.due) - now()))::float8 FROM (
        SELECT min(run_at) AS due FROM qbwi_jobs
         WHERE state = 'ready' AND task = ANY($1::text[])
           AND task NOT IN (SELECT task FROM qbwi_paused)
        UNION ALL
        SELECT min(lease_until) FROM qbwi_jobs
         WHERE state = 'running' AND task = ANY($1::text[])
           AND task NOT IN (SELECT task FROM qbwi_paused)) AS next";

impl Backend for PostgresStore {
    fn describe(&self) -> &str {
        &self.describe
    }

    fn enqueue(&self, jobs: Vec<NewJob>) -> BoxFuture<'_, Result<Vec<Enqueued>, StoreError>> {
        Box::pin(async move {
            let error = |error: tokio_postgres::Error| self.error(&error);
            let mut client = self.client().await?;
            if jobs.iter().all(|job| job.unique.is_none()) {
                // One statement: a transaction of its own.
                let ids = insert_prepared(&client, &jobs, &self.origin)
                    .await
                    .map_err(error)?;
                return Ok(ids.into_iter().map(Enqueued::New).collect());
            }
            let transaction = client.transaction().await.map_err(error)?;
            let enqueued = insert_jobs(&*transaction, &jobs, &self.origin)
                .await
                .map_err(error)?;
            transaction.commit().await.map_err(error)?;
            Ok(enqueued)
        })
    }

    /// 512: a claim walks the ready index past the entries of the rows claimed before it, which
    /// stay until vacuum (up to 6 ms for 128 jobs after a burst of 20,000; 512 take 8 to 16 ms).
    /// The durable bench's batched runs: 26k -> 32-35k jobs/s end to end with 512.
    fn most_per_claim(&self) -> usize {
        512
    }

    /// Takes a job alone in its call (an awaited enqueue, the one that waits for its commit);
    /// a batch's jobs are added ready, for a claim.
    fn enqueue_taking(
        &self,
        mut jobs: Vec<NewJob>,
        take: Take,
    ) -> BoxFuture<'_, Result<Taken, StoreError>> {
        Box::pin(async move {
            let tasks = storable(&take.tasks);
            let alone = match jobs.as_slice() {
                [job] => {
                    job.unique.is_none()
                        && job.run_at.is_none()
                        && take.most > 0
                        && tasks.contains(&job.task)
                }
                _ => false,
            };
            if !alone {
                return Ok((self.enqueue(jobs).await?, Vec::new()));
            }
            let Some(job) = jobs.pop() else {
                return Ok((Vec::new(), Vec::new())); // `alone`: one job
            };
            let error = |error: tokio_postgres::Error| self.error(&error);
            let client = self.client().await?;
            let statement = client.prepare_cached(INSERT_TAKING).await.map_err(error)?;
            let max_attempts = i32::try_from(job.max_attempts).unwrap_or(i32::MAX);
            let row = client
                .query_one(
                    &statement,
                    &[
                        &job.task,
                        &job.payload.as_str(),
                        &max_attempts,
                        &tasks,
                        &&*take.worker,
                        &millis_f64(take.lease),
                        &&*self.origin,
                    ],
                )
                .await
                .map_err(error)?;
            let id = JobId(row.try_get(0).map_err(error)?);
            let taken: bool = row.try_get(1).map_err(error)?;
            let claimed = taken.then(|| ClaimedJob::taken(id, job));
            Ok((vec![Enqueued::New(id)], claimed.into_iter().collect()))
        })
    }

    fn last_tick(&self, name: String) -> BoxFuture<'_, Result<Option<i64>, StoreError>> {
        Box::pin(async move {
            let rows = self
                .query(
                    "SELECT last_tick FROM qbwi_schedules WHERE name = $1",
                    &[&name],
                )
                .await?;
            Ok(rows.first().map(|row| row.get(0)))
        })
    }

    fn fire(&self, fire: Fire) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            let error = |error: tokio_postgres::Error| self.error(&error);
            let mut client = self.client().await?;
            let transaction = client.transaction().await.map_err(error)?;
            let won = !transaction
                .query(
                    FIRE,
                    &[
                        &fire.name,
                        &fire.expression,
                        &fire.timezone,
                        &fire.last(),
                        &fire.first(),
                    ],
                )
                .await
                .map_err(error)?
                .is_empty();
            if won {
                insert_jobs(&*transaction, &fire.jobs(), &self.origin)
                    .await
                    .map_err(error)?;
            }
            transaction.commit().await.map_err(error)?;
            Ok(won)
        })
    }

    fn claim(&self, request: ClaimRequest) -> BoxFuture<'_, Result<Claimed, StoreError>> {
        Box::pin(async move {
            let tasks = storable(&request.tasks);
            if tasks.is_empty() {
                return Ok(Claimed::default());
            }
            let error = |error: tokio_postgres::Error| self.error(&error);
            let limit = i64::try_from(request.limit).unwrap_or(i64::MAX);
            let client = self.client().await?;
            let claim = client.prepare_cached(CLAIM).await.map_err(error)?;
            let next_due = client.prepare_cached(NEXT_DUE).await.map_err(error)?;
            let (worker, lease) = (&*request.worker, millis_f64(request.lease));
            let claim_params: [&(dyn ToSql + Sync); 4] = [&tasks, &limit, &worker, &lease];
            let next_due_params: [&(dyn ToSql + Sync); 1] = [&tasks];
            // One round trip: the four are sent together, in this order (`biased`), and the server
            // runs them in order; the next due time is read after the claim, in its transaction.
            let (begun, claimed, due, committed) = tokio::join!(
                biased;
                client.batch_execute(BEGIN_CLAIM),
                client.query(&claim, &claim_params),
                client.query(&next_due, &next_due_params),
                client.batch_execute("COMMIT"),
            );
            begun.map_err(error)?;
            let rows = claimed.map_err(error)?;
            let due = due.map_err(error)?;
            committed.map_err(error)?;
            // Each row on its own: one that cannot be read is a job whose payload says why (dead
            // at once), never a failure of the whole claim.
            let jobs: Vec<ClaimedJob> = rows.iter().filter_map(rows::claimed_job).collect();
            let next_due = match due.first() {
                Some(row) => row.try_get(0).map_err(error)?,
                None => None,
            }
            .map(seconds_until);
            Ok(Claimed { jobs, next_due })
        })
    }

    fn finish(
        &self,
        worker: Arc<str>,
        finished: Vec<Finished>,
        retain: bool,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let reports = Reports::sort(finished, retain);
            let error = |error: tokio_postgres::Error| self.error(&error);
            let client = self.client().await?;
            client.batch_execute(BEGIN_UNSYNCED).await.map_err(error)?;
            let recorded = reports.record(&client, &worker).await;
            // A failed statement leaves the transaction aborted: `COMMIT` then rolls it back.
            let committed = client.batch_execute("COMMIT").await;
            recorded.map_err(error)?;
            committed.map_err(error)
        })
    }

    fn count_minutes(
        &self,
        node: Arc<str>,
        tallies: Vec<MinuteTally>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let minutes: Vec<f64> = tallies.iter().map(|tally| tally.minute as f64).collect();
            let tasks: Vec<&str> = tallies.iter().map(|tally| tally.task).collect();
            let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            let completed: Vec<i64> = tallies.iter().map(|tally| count(tally.completed)).collect();
            let failed: Vec<i64> = tallies.iter().map(|tally| count(tally.failed)).collect();
            self.execute(
                COUNT_MINUTES,
                &[&&*node, &minutes, &tasks, &completed, &failed],
            )
            .await
            .map(drop)
        })
    }

    fn heartbeat(
        &self,
        worker: Arc<str>,
        ids: Vec<JobId>,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Leases, StoreError>> {
        Box::pin(async move {
            let raw: Vec<i64> = ids.iter().map(|id| id.0).collect();
            let rows = self
                .query(HEARTBEAT, &[&raw, &&*worker, &millis_f64(lease)])
                .await?;
            let mut held = HashSet::new();
            let mut leases = Leases::default();
            for row in &rows {
                let id: i64 = row.try_get(0).map_err(|error| self.error(&error))?;
                held.insert(id);
                if row.try_get(1).unwrap_or(false) {
                    leases.cancel.push(JobId(id));
                }
            }
            leases.lost = ids.into_iter().filter(|id| !held.contains(&id.0)).collect();
            Ok(leases)
        })
    }

    fn next_due(
        &self,
        tasks: Arc<[&'static str]>,
    ) -> BoxFuture<'_, Result<Option<Duration>, StoreError>> {
        Box::pin(async move {
            let tasks = storable(&tasks);
            if tasks.is_empty() {
                return Ok(None);
            }
            let rows = self.query(NEXT_DUE, &[&tasks]).await?;
            let seconds: Option<f64> = match rows.first() {
                Some(row) => row.try_get(0).map_err(|error| self.error(&error))?,
                None => None,
            };
            Ok(seconds.map(seconds_until))
        })
    }

    fn notified(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.listener.notified(&self.describe))
    }

    fn dead_jobs(&self, limit: usize) -> BoxFuture<'_, Result<Vec<DeadJob>, StoreError>> {
        Box::pin(self.dead_jobs_page(limit))
    }

    fn counts(&self) -> BoxFuture<'_, Result<JobCounts, StoreError>> {
        Box::pin(self.job_counts())
    }

    fn jobs(&self, query: JobQuery) -> BoxFuture<'_, Result<Vec<JobSummary>, StoreError>> {
        Box::pin(async move { self.list(&query).await })
    }

    fn job(&self, id: JobId) -> BoxFuture<'_, Result<Option<JobDetail>, StoreError>> {
        Box::pin(self.one_job(id))
    }

    fn act(
        &self,
        action: Action,
        selection: Selection,
        limit: usize,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move { self.act_on(action, &selection, limit).await })
    }

    fn pause(&self, task: String, paused: bool) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move { self.set_paused(&task, paused).await })
    }

    fn paused(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(self.paused_tasks())
    }

    fn report_node(&self, node: NodeReport) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { self.upsert_node(&node).await })
    }

    fn remove_node(&self, id: Arc<str>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { self.delete_node(&id).await })
    }

    fn nodes(&self) -> BoxFuture<'_, Result<Vec<Node>, StoreError>> {
        Box::pin(self.live_nodes())
    }

    fn counts_by_task(&self) -> BoxFuture<'_, Result<Vec<TaskCounts>, StoreError>> {
        Box::pin(self.task_counts())
    }

    fn finished_per_minute(
        &self,
        since: i64,
    ) -> BoxFuture<'_, Result<Vec<MinuteCounts>, StoreError>> {
        Box::pin(self.minutes(since))
    }

    fn prune(
        &self,
        retention: Duration,
        since: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(self.prune_finished(retention, since, limit))
    }
}

/// A batch of reports, sorted by kind so each kind is one statement.
struct Reports {
    /// Whether completed jobs are kept for the retention.
    retain: bool,
    completed: Vec<i64>,
    cancelled: Vec<i64>,
    released: Vec<i64>,
    failed_ids: Vec<i64>,
    failed_errors: Vec<String>,
    failed_retry_at: Vec<Option<f64>>,
}

impl Reports {
    fn sort(finished: Vec<Finished>, retain: bool) -> Reports {
        let mut reports = Reports {
            retain,
            completed: Vec::new(),
            cancelled: Vec::new(),
            released: Vec::new(),
            failed_ids: Vec::new(),
            failed_errors: Vec::new(),
            failed_retry_at: Vec::new(),
        };
        for report in finished {
            match report {
                Finished::Completed(id) => reports.completed.push(id.0),
                Finished::Released(id) => reports.released.push(id.0),
                Finished::Cancelled(id) => reports.cancelled.push(id.0),
                Finished::Failed {
                    id,
                    error,
                    retry_at,
                } => {
                    reports.failed_ids.push(id.0);
                    // PostgreSQL's text cannot hold NUL; an error message may.
                    reports.failed_errors.push(error.replace('\0', "\u{fffd}"));
                    reports.failed_retry_at.push(retry_at.map(|at| at as f64));
                }
            }
        }
        reports
    }

    /// Records the reports of `worker` (dropping those for leases it lost).
    async fn record(
        &self,
        client: &impl deadpool_postgres::GenericClient,
        worker: &str,
    ) -> Result<(), tokio_postgres::Error> {
        if !self.completed.is_empty() {
            let complete = if self.retain {
                COMPLETE_KEEP
            } else {
                COMPLETE_DELETE
            };
            let statement = client.prepare_cached(complete).await?;
            client
                .execute(&statement, &[&self.completed, &worker])
                .await?;
        }
        if !self.failed_ids.is_empty() {
            let statement = client.prepare_cached(FAIL).await?;
            client
                .execute(
                    &statement,
                    &[
                        &self.failed_ids,
                        &worker,
                        &self.failed_errors,
                        &self.failed_retry_at,
                    ],
                )
                .await?;
        }
        if !self.released.is_empty() {
            let statement = client.prepare_cached(RELEASE).await?;
            client
                .execute(&statement, &[&self.released, &worker])
                .await?;
        }
        if !self.cancelled.is_empty() {
            let statement = client.prepare_cached(CANCELLED).await?;
            client
                .execute(&statement, &[&self.cancelled, &worker])
                .await?;
        }
        Ok(())
    }
}

/// Inserts jobs through any client or transaction (one statement); their ids, in any order
/// (numbered in the order given). The notification says `origin`: the inserting store's, or
/// empty when no store of this process announces the jobs itself (a caller's transaction, whose
/// commit is the caller's).
pub(super) async fn insert_jobs(
    client: &(impl tokio_postgres::GenericClient + Sync),
    jobs: &[NewJob],
    origin: &str,
) -> Result<Vec<Enqueued>, tokio_postgres::Error> {
    if jobs.iter().all(|job| job.unique.is_none()) {
        return Ok(insert_plain(client, jobs, origin)
            .await?
            .into_iter()
            .map(Enqueued::New)
            .collect());
    }
    // In the caller's transaction (or statement by statement on a bare client: the unique index
    // holds either way), in order.
    let mut enqueued = Vec::with_capacity(jobs.len());
    for job in jobs {
        enqueued.push(match &job.unique {
            None => {
                Enqueued::New(insert_plain(client, std::slice::from_ref(job), origin).await?[0])
            }
            Some(unique) => insert_unique(client, job, unique, origin).await?,
        });
    }
    Ok(enqueued)
}

/// Adds `jobs`, which hold no unique key, in one statement; their ids, in order.
async fn insert_plain(
    client: &(impl tokio_postgres::GenericClient + Sync),
    jobs: &[NewJob],
    origin: &str,
) -> Result<Vec<JobId>, tokio_postgres::Error> {
    let columns = Columns::of(jobs);
    // Typed parameters: no separate prepare round trip (this also serves callers' transactions,
    // whose connections have no statement cache).
    let rows = client
        .query_typed(
            INSERT,
            &[
                (&columns.tasks, Type::TEXT_ARRAY),
                (&columns.payloads, Type::TEXT_ARRAY),
                (&columns.max_attempts, Type::INT4_ARRAY),
                (&columns.run_at, Type::FLOAT8_ARRAY),
                (&origin, Type::TEXT),
            ],
        )
        .await?;
    rows.iter().map(|row| row.try_get(0).map(JobId)).collect()
}

/// Adds `jobs`, which hold no unique key, as [`insert_plain`] does, through a statement the pooled
/// connection keeps prepared: the server plans the insert once per connection instead of once per
/// enqueue (a third of a single enqueue's time on the server, beside its commit).
async fn insert_prepared(
    client: &Object,
    jobs: &[NewJob],
    origin: &str,
) -> Result<Vec<JobId>, tokio_postgres::Error> {
    let statement = client.prepare_cached(INSERT).await?;
    let columns = Columns::of(jobs);
    let rows = client
        .query(
            &statement,
            &[
                &columns.tasks,
                &columns.payloads,
                &columns.max_attempts,
                &columns.run_at,
                &origin,
            ],
        )
        .await?;
    rows.iter().map(|row| row.try_get(0).map(JobId)).collect()
}

/// [`INSERT`]'s arrays: one element per job.
struct Columns<'a> {
    tasks: Vec<&'a str>,
    payloads: Vec<&'a str>,
    max_attempts: Vec<i32>,
    run_at: Vec<Option<f64>>,
}

impl<'a> Columns<'a> {
    fn of(jobs: &'a [NewJob]) -> Columns<'a> {
        Columns {
            tasks: jobs.iter().map(|job| job.task).collect(),
            payloads: jobs.iter().map(|job| job.payload.as_str()).collect(),
            max_attempts: jobs
                .iter()
                .map(|job| i32::try_from(job.max_attempts).unwrap_or(i32::MAX))
                .collect(),
            run_at: jobs
                .iter()
                .map(|job| job.run_at.map(|at| at as f64))
                .collect(),
        }
    }
}

/// Adds a unique job unless a job holds its key: then that job (whose arguments and run time it
/// takes if it is pending and `replace` is set; a running one gives up the key to a new job that
/// waits for it). The unique index decides between racing enqueues: the loser's insert waits for
/// the winner's commit and inserts nothing, and it reads the winner's job; if that job let the key
/// go in between, it tries again.
async fn insert_unique(
    client: &(impl tokio_postgres::GenericClient + Sync),
    job: &NewJob,
    unique: &UniqueKey,
    origin: &str,
) -> Result<Enqueued, tokio_postgres::Error> {
    let max_attempts = i32::try_from(job.max_attempts).unwrap_or(i32::MAX);
    let run_at = job.run_at.map(|at| at as f64);
    let for_millis = unique.for_millis.map(|millis| millis as f64);
    let mut blocked_by: Option<i64> = None;
    loop {
        client.execute(RELEASE_KEY, &[&unique.key]).await?;
        let inserted = client
            .query_typed(
                INSERT_UNIQUE,
                &[
                    (&job.task, Type::TEXT),
                    (&job.payload, Type::TEXT),
                    (&max_attempts, Type::INT4),
                    (&run_at, Type::FLOAT8),
                    (&unique.key, Type::TEXT),
                    (&for_millis, Type::FLOAT8),
                    (&blocked_by, Type::INT8),
                    (&origin, Type::TEXT),
                ],
            )
            .await?;
        if let Some(row) = inserted.first() {
            return Ok(Enqueued::New(JobId(row.try_get(0)?)));
        }
        let Some(holder) = client
            .query_opt(
                "SELECT id, state FROM qbwi_jobs WHERE unique_key = $1",
                &[&unique.key],
            )
            .await?
        else {
            continue; // the holder let the key go after our insert: try again
        };
        let (id, state): (i64, String) = (holder.try_get(0)?, holder.try_get(1)?);
        if !unique.replace {
            return Ok(Enqueued::Duplicate(JobId(id)));
        }
        match state.as_str() {
            "ready" => {
                let replaced = client
                    .execute(
                        "UPDATE qbwi_jobs
                            SET payload = $2, max_attempts = $3,
                                run_at = COALESCE(to_timestamp($4::float8 / 1000), now())
                          WHERE id = $1 AND state = 'ready'",
                        &[&id, &job.payload, &max_attempts, &run_at],
                    )
                    .await?;
                if replaced == 1 {
                    return Ok(Enqueued::Duplicate(JobId(id)));
                }
            }
            "running" => {
                // It keeps running, without the key; the new job waits behind it.
                let freed = client
                    .execute(
                        "UPDATE qbwi_jobs SET unique_key = NULL
                          WHERE id = $1 AND state = 'running' AND unique_key = $2",
                        &[&id, &unique.key],
                    )
                    .await?;
                if freed == 1 {
                    blocked_by = Some(id);
                }
            }
            // Finished within `unique_for`: the key stays taken.
            _ => return Ok(Enqueued::Duplicate(JobId(id))),
        }
        // Claimed or finished meanwhile: look again.
    }
}

/// A unique job with key `$5` (taken `$6` ms from now at least; waiting for job `$7`), unless a
/// job holds the key: its id if it was added, waking the hosts (the notification says `$8`, the
/// inserting store's origin).
const INSERT_UNIQUE: &str = "WITH inserted AS (
        INSERT INTO qbwi_jobs
               (task, payload, state, max_attempts, run_at, unique_key, unique_until, blocked_by)
        VALUES ($1, $2, 'ready', $3, COALESCE(to_timestamp($4 / 1000), now()), $5,
                now() + $6 * interval '1 millisecond', $7)
        ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING
        RETURNING id)
    SELECT inserted.id FROM inserted, (SELECT pg_notify('qbwi_jobs', $8)) AS wake";

/// Key `$1`, if a finished job holds it past its `unique_until`, is free again.
const RELEASE_KEY: &str = "UPDATE qbwi_jobs SET unique_key = NULL
      WHERE unique_key = $1 AND state IN ('completed', 'dead', 'cancelled')
        AND (unique_until IS NULL OR unique_until <= now())";

/// The task names that PostgreSQL's `text` can hold. A name with a NUL byte cannot be sent (the
/// server refuses the whole statement) nor stored, so no job of it exists: it is left out of the
/// array instead of failing the claim of every other task. (The host refuses such names at start;
/// this keeps the store safe on its own.)
fn storable(tasks: &[&'static str]) -> Vec<&'static str> {
    tasks
        .iter()
        .copied()
        .filter(|task| !task.contains('\0'))
        .collect()
}

/// [`NEXT_DUE`]'s seconds as a wait: overdue (negative) is due now; NaN becomes 0 too (`max`
/// prefers the number).
fn seconds_until(seconds: f64) -> Duration {
    Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(Duration::MAX)
}

/// A duration in milliseconds, for `$n::float8 * interval '1 millisecond'`.
pub(super) fn millis_f64(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
