//! The jobs' life: the statements behind each [`Backend`] method the host's worker calls (enqueue,
//! claim, finish, heartbeat, next due), each all or nothing on the store's connection thread, which
//! commits the operations waiting together (see [`thread`](super::thread)). A batch that writes
//! takes SQLite's write lock first (`BEGIN IMMEDIATE`), so two processes never lease the same row. The operator's statements are in [`admin`](super::admin); this file
//! also holds the one `Backend` impl, which calls both.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::{OptionalExtension, params, params_from_iter};

use super::errors::DbResult;
use super::{Db, SqliteStore, rows};
use crate::store::{
    Action, Backend, BoxFuture, ClaimRequest, Claimed, ClaimedJob, DeadJob, Enqueued, Finished,
    Fire, JobCounts, JobDetail, JobId, JobQuery, JobSummary, Leases, MinuteCounts, MinuteTally,
    NewJob, Node, NodeReport, Selection, StoreError, Take, Taken, TaskCounts, now_millis,
};

impl Backend for SqliteStore {
    fn describe(&self) -> &str {
        &self.describe
    }

    fn enqueue(&self, jobs: Vec<NewJob>) -> BoxFuture<'_, Result<Vec<Enqueued>, StoreError>> {
        self.write(move |db| db.enqueue(&jobs))
    }

    fn enqueue_taking(
        &self,
        jobs: Vec<NewJob>,
        take: Take,
    ) -> BoxFuture<'_, Result<Taken, StoreError>> {
        self.write(move |db| db.enqueue_taking(jobs, &take, now_millis()))
    }

    fn last_tick(&self, name: String) -> BoxFuture<'_, Result<Option<i64>, StoreError>> {
        self.read(move |db| db.last_tick(&name))
    }

    fn fire(&self, fire: Fire) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.write(move |db| db.fire(&fire, now_millis()))
    }

    fn claim(&self, request: ClaimRequest) -> BoxFuture<'_, Result<Claimed, StoreError>> {
        self.write(move |db| {
            let now = now_millis();
            let jobs = db.claim(
                &request.tasks,
                request.limit,
                &request.worker,
                now,
                request.lease,
            )?;
            // In the same operation: one trip to the connection's thread, one commit.
            let next_due = if jobs.len() < request.limit {
                db.next_due(&request.tasks)?.map(|due| until(due, now))
            } else {
                None
            };
            Ok(Claimed { jobs, next_due })
        })
    }

    fn finish(
        &self,
        worker: Arc<str>,
        finished: Vec<Finished>,
        retain: bool,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        self.write(move |db| db.finish(&worker, &finished, retain, now_millis()))
    }

    fn count_minutes(
        &self,
        node: Arc<str>,
        tallies: Vec<MinuteTally>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        self.write(move |db| db.count_minutes(&node, &tallies))
    }

    fn heartbeat(
        &self,
        worker: Arc<str>,
        ids: Vec<JobId>,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Leases, StoreError>> {
        self.write(move |db| db.heartbeat(&ids, &worker, now_millis() + millis_of(lease)))
    }

    fn next_due(
        &self,
        tasks: Arc<[&'static str]>,
    ) -> BoxFuture<'_, Result<Option<Duration>, StoreError>> {
        self.read(move |db| Ok(db.next_due(&tasks)?.map(|due| until(due, now_millis()))))
    }

    fn notified(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::pending())
    }

    fn dead_jobs(&self, limit: usize) -> BoxFuture<'_, Result<Vec<DeadJob>, StoreError>> {
        self.read(move |db| db.dead_jobs(limit))
    }

    fn counts(&self) -> BoxFuture<'_, Result<JobCounts, StoreError>> {
        self.read(move |db| db.counts(now_millis()))
    }

    fn jobs(&self, query: JobQuery) -> BoxFuture<'_, Result<Vec<JobSummary>, StoreError>> {
        self.read(move |db| db.jobs(&query, now_millis()))
    }

    fn job(&self, id: JobId) -> BoxFuture<'_, Result<Option<JobDetail>, StoreError>> {
        self.read(move |db| db.job(id, now_millis()))
    }

    fn act(
        &self,
        action: Action,
        selection: Selection,
        limit: usize,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.write(move |db| db.act(action, &selection, limit, now_millis()))
    }

    fn pause(&self, task: String, paused: bool) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.write(move |db| db.pause(&task, paused, now_millis()))
    }

    fn paused(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        self.read(move |db| db.paused())
    }

    fn report_node(&self, node: NodeReport) -> BoxFuture<'_, Result<(), StoreError>> {
        self.write(move |db| db.report_node(&node, now_millis()))
    }

    fn remove_node(&self, id: Arc<str>) -> BoxFuture<'_, Result<(), StoreError>> {
        self.write(move |db| db.remove_node(&id))
    }

    fn nodes(&self) -> BoxFuture<'_, Result<Vec<Node>, StoreError>> {
        self.read(move |db| db.nodes(now_millis()))
    }

    fn counts_by_task(&self) -> BoxFuture<'_, Result<Vec<TaskCounts>, StoreError>> {
        self.read(move |db| db.counts_by_task(now_millis()))
    }

    fn finished_per_minute(
        &self,
        since: i64,
    ) -> BoxFuture<'_, Result<Vec<MinuteCounts>, StoreError>> {
        self.read(move |db| db.finished_per_minute(since))
    }

    fn prune(
        &self,
        retention: Duration,
        since: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.write(move |db| {
            let now = now_millis();
            db.prune(now.saturating_sub(millis_of(retention)), since, now, limit)
        })
    }
}

/// How long from `now` until `due` (ms since the epoch); zero if it is past.
fn until(due: i64, now: i64) -> Duration {
    Duration::from_millis(due.saturating_sub(now).max(0) as u64)
}

pub(super) fn millis_of(duration: Duration) -> i64 {
    duration.as_millis().try_into().unwrap_or(i64::MAX)
}

impl Db<'_> {
    /// Adds jobs in one transaction: all or none. Returns what became of each, in order.
    fn enqueue(&self, jobs: &[NewJob]) -> DbResult<Vec<Enqueued>> {
        let connection = self.connection();
        let ids = insert_jobs(connection, jobs, now_millis())?;
        Ok(ids)
    }

    /// Adds `jobs`, up to `take.most` of them claimed by `take.worker` if they may run now (see
    /// [`Backend::enqueue_taking`]): what became of each, and the jobs taken.
    fn enqueue_taking(&self, jobs: Vec<NewJob>, take: &Take, now: i64) -> DbResult<Taken> {
        let connection = self.connection();
        let mut enqueued = Vec::with_capacity(jobs.len());
        let mut taken = Vec::new();
        // Read once: the jobs added here are taken or ready in order, behind none.
        let mut may_take = take.most > 0 && !self.waiting(take, now)?;
        let mut paused: Vec<&str> = Vec::new();
        for job in jobs {
            let eligible = may_take
                && job.unique.is_none()
                && job.run_at.is_none_or(|at| at <= now)
                && take.tasks.contains(&job.task)
                && !self.is_paused(job.task, &mut paused)?;
            if !eligible {
                // Ready: those after it wait behind it, as a claim would take them.
                may_take = false;
                enqueued.extend(insert_jobs(connection, std::slice::from_ref(&job), now)?);
                continue;
            }
            let lease_until = now.saturating_add(millis_of(take.lease));
            connection.prepare_cached(INSERT_TAKEN)?.execute(params![
                job.task,
                job.payload,
                job.max_attempts,
                now,
                take.worker,
                lease_until
            ])?;
            let id = JobId(connection.last_insert_rowid());
            enqueued.push(Enqueued::New(id));
            taken.push(ClaimedJob::taken(id, job));
            may_take = taken.len() < take.most;
        }
        Ok((enqueued, taken))
    }

    /// Whether `task` is paused; `paused` keeps the answers already read.
    fn is_paused(&self, task: &'static str, paused: &mut Vec<&'static str>) -> DbResult<bool> {
        if paused.contains(&task) {
            return Ok(true);
        }
        let is = self
            .connection()
            .prepare_cached("SELECT 1 FROM qbwi_paused WHERE task = ?1")?
            .exists([task])?;
        if is {
            paused.push(task);
        }
        Ok(is)
    }

    /// Whether a due job of `take`'s tasks is waiting to be claimed (the first entry of the ready
    /// index that is theirs and due): then new jobs go behind it.
    fn waiting(&self, take: &Take, now: i64) -> DbResult<bool> {
        let sql = waiting_sql(take.tasks.len());
        let bound = std::iter::once(&now as &dyn rusqlite::ToSql)
            .chain(take.tasks.iter().map(|task| task as &dyn rusqlite::ToSql));
        Ok(self
            .connection()
            .prepare_cached(&sql)?
            .exists(params_from_iter(bound))?)
    }

    /// The last tick of schedule `name` any node fired.
    fn last_tick(&self, name: &str) -> DbResult<Option<i64>> {
        let connection = self.connection();
        let mut select =
            connection.prepare_cached("SELECT last_tick FROM qbwi_schedules WHERE name = ?1")?;
        Ok(select.query_row([name], |row| row.get(0)).optional()?)
    }

    /// Fires `fire`'s ticks unless the schedule's last tick is at or after the first: moves it to
    /// the last and adds their jobs, in one transaction under the write lock.
    fn fire(&self, fire: &Fire, now: i64) -> DbResult<bool> {
        let connection = self.connection();
        let won = connection
            .prepare_cached(FIRE)?
            .query_row(
                params![
                    fire.name,
                    fire.expression,
                    fire.timezone,
                    fire.last(),
                    now,
                    fire.first()
                ],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if won {
            insert_jobs(connection, &fire.jobs(), now)?;
        }
        Ok(won)
    }

    /// Claims up to `limit` jobs of the given tasks that are due at `now`: running under a lease
    /// that has expired (their worker died) first, then ready ones, oldest first; for `worker`
    /// until `now + lease`. Each claim counts an attempt. Paused tasks' jobs are left. Two
    /// branches, each walking its partial index (`qbwi_jobs_leased`, `qbwi_jobs_ready`) and
    /// stopping at `limit` rows: one `OR` query sorts every ready row (5.6 ms instead of 0.6 ms at
    /// 20,000 ready jobs). Named (`INDEXED BY`): without statistics SQLite would rather take the
    /// state index and sort. `+task` keeps SQLite off the
    /// task index, which would walk every job of the task, the finished ones kept for the
    /// retention included.
    pub(super) fn claim(
        &self,
        tasks: &[&str],
        limit: usize,
        worker: &str,
        now: i64,
        lease: Duration,
    ) -> DbResult<Vec<ClaimedJob>> {
        let lease_until = now.saturating_add(millis_of(lease));
        let sql = claim_sql(tasks.len());
        let connection = self.connection();
        let jobs = {
            let mut claim = connection.prepare_cached(&sql)?;
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
        Ok(jobs)
    }

    /// Records how runs ended, in one transaction; reports for leases `worker` no longer holds
    /// are ignored.
    fn finish(&self, worker: &str, finished: &[Finished], retain: bool, now: i64) -> DbResult<()> {
        let connection = self.connection();
        // Completions kept for the retention are one statement for the whole flush: one walk of
        // the indexes it changes instead of one per job.
        let kept: Vec<String> = finished
            .iter()
            .filter_map(|finished| match finished {
                Finished::Completed(id) if retain => Some(id.0.to_string()),
                _ => None,
            })
            .collect();
        if !kept.is_empty() {
            let ids = format!("[{}]", kept.join(","));
            connection
                .prepare_cached(COMPLETE_KEEP)?
                .execute(params![ids, worker, now])?;
        }
        for finished in finished {
            let (id, statement) = match finished {
                Finished::Completed(_) if retain => continue,
                Finished::Completed(id) => (id, COMPLETE_DELETE),
                Finished::Failed {
                    id,
                    error,
                    retry_at,
                } => {
                    connection
                        .prepare_cached(FAIL)?
                        .execute(params![id.0, worker, retry_at, error, now])?;
                    continue;
                }
                Finished::Released(id) => (id, RELEASE),
                Finished::Cancelled(id) => (id, CANCELLED),
            };
            connection
                .prepare_cached(statement)?
                .execute(params![id.0, worker, now])?;
        }
        Ok(())
    }

    /// Adds `node`'s tallies to the per-minute counts, in one connection.
    fn count_minutes(&self, node: &str, tallies: &[MinuteTally]) -> DbResult<()> {
        let connection = self.connection();
        {
            let mut count = connection.prepare_cached(COUNT_MINUTE)?;
            for tally in tallies {
                count.execute(params![
                    tally.minute,
                    tally.task,
                    i64::try_from(tally.completed).unwrap_or(i64::MAX),
                    i64::try_from(tally.failed).unwrap_or(i64::MAX),
                    node
                ])?;
            }
        }
        Ok(())
    }

    /// Extends `worker`'s leases on `ids` to `lease_until`: which it no longer holds, and which
    /// an operator asked to cancel.
    fn heartbeat(&self, ids: &[JobId], worker: &str, lease_until: i64) -> DbResult<Leases> {
        let connection = self.connection();
        let mut leases = Leases::default();
        {
            let mut extend = connection.prepare_cached(
                "UPDATE qbwi_jobs SET lease_until = ?3
                  WHERE id = ?1 AND state = 'running' AND worker = ?2
              RETURNING cancel_requested",
            )?;
            for id in ids {
                match extend
                    .query_row(params![id.0, worker, lease_until], |row| {
                        row.get::<_, bool>(0)
                    })
                    .optional()?
                {
                    None => leases.lost.push(*id),
                    Some(true) => leases.cancel.push(*id),
                    Some(false) => {}
                }
            }
        }
        Ok(leases)
    }

    /// When the next of these tasks' jobs is due (ms since the epoch): a ready job's `run_at` or
    /// a running job's lease expiry. Reads the first entries of the partial indexes of ready and
    /// running jobs (`+task`: not the task index, which holds the finished jobs too).
    fn next_due(&self, tasks: &[&str]) -> DbResult<Option<i64>> {
        let sql = next_due_sql(tasks.len());
        let connection = self.connection();
        let mut select = connection.prepare_cached(&sql)?;
        Ok(select.query_row(params_from_iter(tasks), |row| row.get(0))?)
    }
}

/// Adds `jobs` in `connection`'s transaction at `now`; what became of each, in order.
fn insert_jobs(
    connection: &rusqlite::Connection,
    jobs: &[NewJob],
    now: i64,
) -> DbResult<Vec<Enqueued>> {
    let mut enqueued = Vec::with_capacity(jobs.len());
    for job in jobs {
        let run_at = job.run_at.unwrap_or(now);
        let Some(unique) = &job.unique else {
            connection.prepare_cached(INSERT)?.execute(params![
                job.task,
                job.payload,
                job.max_attempts,
                run_at,
                now
            ])?;
            enqueued.push(Enqueued::New(JobId(connection.last_insert_rowid())));
            continue;
        };
        // A finished job whose `unique_for` is over lets its key go.
        connection
            .prepare_cached(RELEASE_KEY)?
            .execute(params![unique.key, now])?;
        let until = unique.for_millis.map(|millis| now.saturating_add(millis));
        let insert = |blocked_by: Option<i64>| -> DbResult<Option<i64>> {
            Ok(connection
                .prepare_cached(INSERT_UNIQUE)?
                .query_row(
                    params![
                        job.task,
                        job.payload,
                        job.max_attempts,
                        run_at,
                        now,
                        unique.key,
                        until,
                        blocked_by
                    ],
                    |row| row.get(0),
                )
                .optional()?)
        };
        if let Some(id) = insert(None)? {
            enqueued.push(Enqueued::New(JobId(id)));
            continue;
        }
        let (holder, state): (i64, String) = connection
            .prepare_cached("SELECT id, state FROM qbwi_jobs WHERE unique_key = ?1")?
            .query_row([&unique.key], |row| Ok((row.get(0)?, row.get(1)?)))?;
        enqueued.push(match state.as_str() {
            "ready" if unique.replace => {
                connection
                    .prepare_cached(
                        "UPDATE qbwi_jobs SET payload = ?2, run_at = ?3, max_attempts = ?4
                          WHERE id = ?1",
                    )?
                    .execute(params![holder, job.payload, run_at, job.max_attempts])?;
                Enqueued::Duplicate(JobId(holder))
            }
            // The running job keeps running, without the key; the new one waits behind it.
            "running" if unique.replace => {
                connection
                    .prepare_cached("UPDATE qbwi_jobs SET unique_key = NULL WHERE id = ?1")?
                    .execute([holder])?;
                match insert(Some(holder))? {
                    Some(id) => Enqueued::New(JobId(id)),
                    None => Enqueued::Duplicate(JobId(holder)),
                }
            }
            _ => Enqueued::Duplicate(JobId(holder)),
        });
    }
    Ok(enqueued)
}

/// A job claimed at once by worker `?5` (its first attempt) until `?6`; due and started at `?4`.
const INSERT_TAKEN: &str = "INSERT INTO qbwi_jobs
            (task, payload, state, max_attempts, run_at, created_at, attempts, worker,
             lease_until, started_at)
     VALUES (?1, ?2, 'running', ?3, ?4, ?4, 1, ?5, ?6, ?4)";

/// Whether a job of the tasks `?2..` is ready and due at `?1` (paused tasks' jobs left out): the
/// first entries of the ready index, as the claim reads them.
fn waiting_sql(tasks: usize) -> String {
    format!(
        "SELECT 1 FROM qbwi_jobs INDEXED BY qbwi_jobs_ready
          WHERE state = 'ready' AND run_at <= ?1 AND +task IN ({names})
            AND task NOT IN (SELECT task FROM qbwi_paused)
          LIMIT 1",
        names = placeholders(2, tasks),
    )
}

/// A job.
const INSERT: &str =
    "INSERT INTO qbwi_jobs (task, payload, state, max_attempts, run_at, created_at)
     VALUES (?1, ?2, 'ready', ?3, ?4, ?5)";

/// A unique job with key `?6` (taken until `?7`, waiting for job `?8`), unless a job holds the
/// key: its id if it was added.
const INSERT_UNIQUE: &str = "INSERT INTO qbwi_jobs
            (task, payload, state, max_attempts, run_at, created_at, unique_key, unique_until,
             blocked_by)
     VALUES (?1, ?2, 'ready', ?3, ?4, ?5, ?6, ?7, ?8)
     ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING
  RETURNING id";

/// Key `?1`, if a finished job holds it past its `unique_until` (`?2` is now), is free again.
const RELEASE_KEY: &str = "UPDATE qbwi_jobs SET unique_key = NULL
      WHERE unique_key = ?1 AND state IN ('completed', 'dead', 'cancelled')
        AND (unique_until IS NULL OR unique_until <= ?2)";

/// Moves schedule `?1`'s last tick to `?4` (recording its expression `?2`, zone `?3` and the
/// time `?5`) if it is before `?6`, the first tick fired, or adds the schedule: a row back if it
/// did (the node fires), none if another node fired `?6` or later first.
const FIRE: &str = "INSERT INTO qbwi_schedules (name, expression, timezone, last_tick, fired_at)
     VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (name) DO UPDATE
        SET last_tick = excluded.last_tick, expression = excluded.expression,
            timezone = excluded.timezone, fired_at = excluded.fired_at
      WHERE qbwi_schedules.last_tick < ?6
  RETURNING name";

/// The claim of [`Db::claim`] for `tasks` task names (`?5` on).
///
/// `LIMIT ?4 + 0`, not `LIMIT ?4`: SQLite compiles a statement whose `LIMIT` is a bare parameter
/// again each time it runs with a new binding (the limit may change its plan), which was 45 % of
/// a claim's time; an expression keeps the statement compiled.
pub(super) fn claim_sql(tasks: usize) -> String {
    format!(
        "UPDATE qbwi_jobs
            SET state = 'running', attempts = attempts + 1, worker = ?1, lease_until = ?2,
                started_at = ?3
          WHERE id IN (
                SELECT id FROM (
                    SELECT id FROM qbwi_jobs INDEXED BY qbwi_jobs_leased
                     WHERE state = 'running' AND lease_until < ?3 AND +task IN ({names})
                       AND task NOT IN (SELECT task FROM qbwi_paused)
                     ORDER BY lease_until
                     LIMIT ?4 + 0)
                UNION ALL
                SELECT id FROM (
                    SELECT id FROM qbwi_jobs INDEXED BY qbwi_jobs_ready
                     WHERE state = 'ready' AND run_at <= ?3 AND +task IN ({names})
                       AND task NOT IN (SELECT task FROM qbwi_paused)
                       AND (blocked_by IS NULL OR NOT EXISTS (
                           SELECT 1 FROM qbwi_jobs AS blocker
                            WHERE blocker.id = qbwi_jobs.blocked_by AND blocker.state = 'running'))
                     ORDER BY run_at, id
                     LIMIT ?4 + 0)
                LIMIT ?4 + 0)
      RETURNING id, task, payload, attempts, max_attempts, ?3 - run_at",
        names = placeholders(5, tasks),
    )
}

/// The query of [`Db::next_due`] for `tasks` task names: the first ready job by run time and the
/// first lease to expire, each the first entry of its partial index that is one of these tasks'.
pub(super) fn next_due_sql(tasks: usize) -> String {
    format!(
        "SELECT MIN(due) FROM (
             SELECT * FROM (
                 SELECT run_at AS due FROM qbwi_jobs INDEXED BY qbwi_jobs_ready
                  WHERE state = 'ready' AND +task IN ({names})
                    AND task NOT IN (SELECT task FROM qbwi_paused)
                  ORDER BY run_at LIMIT 1)
             UNION ALL
             SELECT * FROM (
                 SELECT lease_until + 1 AS due FROM qbwi_jobs INDEXED BY qbwi_jobs_leased
                  WHERE state = 'running' AND +task IN ({names})
                    AND task NOT IN (SELECT task FROM qbwi_paused)
                  ORDER BY lease_until LIMIT 1))",
        names = placeholders(1, tasks),
    )
}

/// `?from, ?from+1, ..`: `count` numbered parameters.
pub(super) fn placeholders(from: usize, count: usize) -> String {
    let names: Vec<String> = (from..from + count).map(|n| format!("?{n}")).collect();
    names.join(", ")
}

/// Completes the jobs whose ids are the JSON array `?1` and that worker `?2` holds, kept for the
/// retention.
const COMPLETE_KEEP: &str = "UPDATE qbwi_jobs
        SET state = 'completed', finished_at = ?3, worker = NULL, lease_until = NULL,
            unique_key = CASE WHEN unique_until > ?3 THEN unique_key END
      WHERE id IN (SELECT value FROM json_each(?1)) AND state = 'running' AND worker = ?2";

/// Completes job `?1` that worker `?2` holds, deleting it (no retention). (`?3`, the
/// time, is not needed: every report statement takes the same three parameters.)
const COMPLETE_DELETE: &str = "DELETE FROM qbwi_jobs
      WHERE id = ?1 AND state = 'running' AND worker = ?2 AND ?3 IS NOT NULL";

/// Records a failure of job `?1` that worker `?2` holds: ready again at `?3` if it has attempts
/// left, else dead (at `?5`) with the error `?4`.
const FAIL: &str = "UPDATE qbwi_jobs
        SET state = CASE WHEN ?3 IS NOT NULL AND attempts < max_attempts
                         THEN 'ready' ELSE 'dead' END,
            finished_at = CASE WHEN ?3 IS NOT NULL AND attempts < max_attempts
                               THEN NULL ELSE ?5 END,
            run_at = COALESCE(?3, run_at),
            unique_key = CASE WHEN ?3 IS NOT NULL AND attempts < max_attempts THEN unique_key
                              WHEN unique_until > ?5 THEN unique_key END,
            last_error = ?4, worker = NULL, lease_until = NULL
      WHERE id = ?1 AND state = 'running' AND worker = ?2";

/// Hands job `?1` back from worker `?2` without using up an attempt (graceful shutdown).
const RELEASE: &str = "UPDATE qbwi_jobs
        SET state = 'ready', attempts = attempts - 1, worker = NULL, lease_until = NULL
      WHERE id = ?1 AND state = 'running' AND worker = ?2 AND ?3 IS NOT NULL";

/// Job `?1`, which worker `?2` ran, was cancelled by an operator: finished at `?3`.
const CANCELLED: &str = "UPDATE qbwi_jobs
        SET state = 'cancelled', finished_at = ?3, worker = NULL, lease_until = NULL,
            unique_key = CASE WHEN unique_until > ?3 THEN unique_key END
      WHERE id = ?1 AND state = 'running' AND worker = ?2";

/// Adds `?3` completed and `?4` failed runs of task `?2` on node `?5` to the minute starting at
/// `?1`.
const COUNT_MINUTE: &str = "INSERT INTO qbwi_minutes (minute, task, completed, failed, node)
     VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (minute, task, node)
     DO UPDATE SET completed = completed + excluded.completed, failed = failed + excluded.failed";
