//! The operator's statements: listings (walking `qbwi_jobs_state` or `qbwi_jobs_task` by id,
//! newest first, never with OFFSET), one job, the actions on one job or a filter, pausing, the
//! nodes, the counts, and pruning. Times are milliseconds since the epoch, as every column keeps
//! them.

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, params, params_from_iter};

use super::errors::DbResult;
use super::{Db, rows};
use crate::store::rows::job_columns;
use crate::store::statements::{self, Dialect, Parameter, Statement};
use crate::store::{
    Action, DeadJob, JobCounts, JobDetail, JobId, JobQuery, JobSummary, MinuteCounts, Node,
    NodeReport, Selection, TaskCounts, from_millis,
};

/// A column as it is: SQLite keeps text as text and times as milliseconds.
fn as_is(column: &str) -> String {
    column.to_owned()
}

/// SQLite's SQL for the shared statements: the time is bound first, as `?1`.
const SQLITE: Dialect = Dialect {
    now: "?1",
    first: 2,
    parameter: |n| format!("?{n}"),
    lock: "",
};

/// A shared statement's parameters at `now`, the time first.
fn values(statement: &Statement, now: i64) -> Vec<Value> {
    std::iter::once(Value::Integer(now))
        .chain(
            statement
                .parameters
                .iter()
                .map(|parameter| match parameter {
                    Parameter::Integer(value) => Value::Integer(*value),
                    Parameter::Text(value) => Value::Text(value.clone()),
                }),
        )
        .collect()
}

/// Deletes at most `?3` jobs in state `?1` that finished before `?2`, among the `?4` oldest of
/// that state: it walks `qbwi_jobs_state` from the oldest id and reads no further than the window
/// (no index on `finished_at`, which every completion would have to write). Jobs finish roughly
/// in the order of their ids; one that finished late (a delayed job) holds back no more than its
/// own place in the window.
const PRUNE: &str = "DELETE FROM qbwi_jobs WHERE id IN (
        SELECT id FROM (
            SELECT id, finished_at, unique_until FROM qbwi_jobs WHERE state = ?1
             ORDER BY id LIMIT ?4 + 0)
         -- A job whose `unique_for` holds its key (`?5`: now) stays until it is over.
         WHERE finished_at < ?2 AND (unique_until IS NULL OR unique_until <= ?5)
         LIMIT ?3 + 0)";

/// How many of the oldest finished jobs a prune looks at, per job it may delete.
const PRUNE_WINDOW: i64 = 10;

impl Db<'_> {
    /// Dead jobs, oldest first.
    pub(super) fn dead_jobs(&self, limit: usize) -> DbResult<Vec<DeadJob>> {
        let connection = self.connection();
        let mut select = connection.prepare_cached(
            "SELECT id, task, payload, attempts, COALESCE(last_error, '')
               FROM qbwi_jobs WHERE state = 'dead' ORDER BY id LIMIT ?1 + 0",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let jobs = select
            .query_map([limit], rows::dead_job)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(jobs)
    }

    /// Jobs by state at `now`.
    pub(super) fn counts(&self, now: i64) -> DbResult<JobCounts> {
        let connection = self.connection();
        // One count per state, each over its part of `qbwi_jobs_state`.
        let mut select = connection.prepare_cached(
            "SELECT (SELECT count(*) FROM qbwi_jobs WHERE state = 'ready' AND run_at <= ?1),
                    (SELECT count(*) FROM qbwi_jobs WHERE state = 'ready' AND run_at > ?1),
                    (SELECT count(*) FROM qbwi_jobs
                      WHERE state = 'ready' AND run_at > ?1 AND attempts > 0),
                    (SELECT count(*) FROM qbwi_jobs WHERE state = 'running'),
                    (SELECT count(*) FROM qbwi_jobs WHERE state = 'dead'),
                    (SELECT count(*) FROM qbwi_jobs WHERE state = 'completed'),
                    (SELECT count(*) FROM qbwi_jobs WHERE state = 'cancelled')",
        )?;
        Ok(select.query_row([now], |row| {
            let count = |index| -> rusqlite::Result<u64> {
                Ok(u64::try_from(row.get::<_, i64>(index)?).unwrap_or(0))
            };
            JobCounts::from_columns(count, 0, true)
        })?)
    }

    /// The jobs `query` asks for at `now`, newest first.
    pub(super) fn jobs(&self, query: &JobQuery, now: i64) -> DbResult<Vec<JobSummary>> {
        let (sql, values) = listing(query, now);
        let connection = self.connection();
        let mut select = connection.prepare_cached(&sql)?;
        let jobs = select
            .query_map(params_from_iter(&values), rows::job_summary)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(jobs)
    }

    /// The job `id` at `now`.
    pub(super) fn job(&self, id: JobId, now: i64) -> DbResult<Option<JobDetail>> {
        let sql = format!(
            "SELECT {} FROM qbwi_jobs WHERE id = ?2",
            job_columns(as_is, as_is, "?1")
        );
        let connection = self.connection();
        let mut select = connection.prepare_cached(&sql)?;
        Ok(select
            .query_row(params![now, id.0], rows::job_detail)
            .optional()?)
    }

    /// Does `action` to at most `limit` jobs of `selection` at `now`, oldest first; how many.
    pub(super) fn act(
        &self,
        action: Action,
        selection: &Selection,
        limit: usize,
        now: i64,
    ) -> DbResult<u64> {
        let statement = statements::action(action, selection, limit, &SQLITE);
        let connection = self.connection();
        let changed = connection
            .prepare_cached(&statement.sql)?
            .execute(params_from_iter(values(&statement, now)))?;
        Ok(changed as u64)
    }

    /// Pauses or resumes `task`; whether that changed anything.
    pub(super) fn pause(&self, task: &str, paused: bool, now: i64) -> DbResult<bool> {
        let connection = self.connection();
        let changed = if paused {
            connection.execute(
                "INSERT INTO qbwi_paused (task, paused_at) VALUES (?1, ?2)
                 ON CONFLICT (task) DO NOTHING",
                params![task, now],
            )?
        } else {
            connection.execute("DELETE FROM qbwi_paused WHERE task = ?1", params![task])?
        };
        Ok(changed == 1)
    }

    /// The paused tasks, in order.
    pub(super) fn paused(&self) -> DbResult<Vec<String>> {
        let connection = self.connection();
        let mut select = connection.prepare_cached("SELECT task FROM qbwi_paused ORDER BY task")?;
        let tasks = select
            .query_map([], |row| row.get(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(tasks)
    }

    /// Creates or updates `node`'s row at `now`.
    pub(super) fn report_node(&self, node: &NodeReport, now: i64) -> DbResult<()> {
        let tasks = serde_json::to_string(&*node.tasks).unwrap_or_else(|_| "[]".to_owned());
        let expires_at = now.saturating_add(super::jobs::millis_of(node.lease));
        self.connection()
            .prepare_cached(
                "INSERT INTO qbwi_nodes
                        (id, hostname, pid, started_at, heartbeat_at, expires_at, tasks, running)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (id) DO UPDATE
                    SET heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at,
                        tasks = excluded.tasks, running = excluded.running",
            )?
            .execute(params![
                &*node.id,
                node.hostname,
                node.pid,
                node.started_at,
                now,
                expires_at,
                tasks,
                i64::try_from(node.running).unwrap_or(i64::MAX),
            ])?;
        Ok(())
    }

    /// Removes the node `id`.
    pub(super) fn remove_node(&self, id: &str) -> DbResult<()> {
        self.connection()
            .execute("DELETE FROM qbwi_nodes WHERE id = ?1", params![id])?;
        Ok(())
    }

    /// The nodes whose report holds at `now`, by id.
    pub(super) fn nodes(&self, now: i64) -> DbResult<Vec<Node>> {
        let connection = self.connection();
        let mut select = connection.prepare_cached(
            "SELECT id, hostname, pid, started_at, heartbeat_at, tasks, running
               FROM qbwi_nodes WHERE expires_at > ?1 ORDER BY id",
        )?;
        let nodes = select
            .query_map([now], |row| {
                let tasks: String = row.get(5)?;
                Ok(Node {
                    id: row.get(0)?,
                    hostname: row.get(1)?,
                    pid: row.get(2)?,
                    started_at: from_millis(row.get(3)?),
                    heartbeat_at: from_millis(row.get(4)?),
                    tasks: serde_json::from_str(&tasks).unwrap_or_default(),
                    running: u64::try_from(row.get::<_, i64>(6)?).unwrap_or(0),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(nodes)
    }

    /// Jobs by task and unfinished state at `now`.
    pub(super) fn counts_by_task(&self, now: i64) -> DbResult<Vec<TaskCounts>> {
        let connection = self.connection();
        let mut select = connection.prepare_cached(
            "SELECT task,
                    COALESCE(SUM(state = 'ready' AND run_at <= ?1), 0),
                    COALESCE(SUM(state = 'ready' AND run_at > ?1), 0),
                    COALESCE(SUM(state = 'ready' AND run_at > ?1 AND attempts > 0), 0),
                    COALESCE(SUM(state = 'running'), 0),
                    COALESCE(SUM(state = 'dead'), 0)
               FROM qbwi_jobs
              WHERE state IN ('ready', 'running', 'dead')
              GROUP BY task ORDER BY task",
        )?;
        let counts = select
            .query_map([now], |row| {
                let count = |index| -> rusqlite::Result<u64> {
                    Ok(u64::try_from(row.get::<_, i64>(index)?).unwrap_or(0))
                };
                Ok(TaskCounts {
                    task: row.get(0)?,
                    counts: JobCounts::from_columns(count, 1, false)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(counts)
    }

    /// Runs ended per minute since `since`, summed over the tasks.
    pub(super) fn finished_per_minute(&self, since: i64) -> DbResult<Vec<MinuteCounts>> {
        let connection = self.connection();
        let mut select = connection.prepare_cached(
            "SELECT minute, SUM(completed), SUM(failed) FROM qbwi_minutes
              WHERE minute >= ?1 GROUP BY minute ORDER BY minute",
        )?;
        let minutes = select
            .query_map([since], |row| {
                Ok(MinuteCounts {
                    minute: from_millis(row.get(0)?),
                    completed: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                    failed: u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(minutes)
    }

    /// Deletes at most `limit` jobs that finished before `cutoff`, the minutes before `since`,
    /// and the nodes expired at `now`; how many jobs.
    pub(super) fn prune(&self, cutoff: i64, since: i64, now: i64, limit: usize) -> DbResult<u64> {
        let connection = self.connection();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let window = limit.saturating_mul(PRUNE_WINDOW);
        let mut deleted = 0;
        for state in ["completed", "cancelled"] {
            deleted += connection
                .prepare_cached(PRUNE)?
                .execute(params![state, cutoff, limit, window, now])?;
        }
        connection
            .prepare_cached("DELETE FROM qbwi_minutes WHERE minute < ?1")?
            .execute([since])?;
        connection
            .prepare_cached("DELETE FROM qbwi_nodes WHERE expires_at <= ?1")?
            .execute([now])?;
        Ok(deleted as u64)
    }
}

#[cfg(test)]
impl Db<'_> {
    /// How SQLite runs `sql`: its query plan's details, one line a step.
    pub(super) fn plan(&self, sql: &str, values: &[Value]) -> Vec<String> {
        let connection = self.connection();
        let mut explain = connection
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        explain
            .query_map(params_from_iter(values), |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    }
}

/// The statement of a listing at `now`, and its parameters.
pub(super) fn listing(query: &JobQuery, now: i64) -> (String, Vec<Value>) {
    let statement = statements::listing(query, &job_columns(as_is, as_is, "?1"), &SQLITE);
    let values = values(&statement, now);
    (statement.sql, values)
}
