//! The operator's statements: listings (walking a state's partial index or `qbwi_jobs_task` by
//! id, newest first, never with OFFSET), one job, the actions on one job or a filter, pausing, the
//! nodes, the counts, and pruning. Times go out as milliseconds since the epoch, compared with the
//! server's `now()`.

use std::time::Duration;

use tokio_postgres::types::ToSql;

use super::jobs::millis_f64;
use super::{PostgresStore, rows};
use crate::store::rows::job_columns;
use crate::store::statements::{self, Dialect, Parameter, Statement};
use crate::store::{
    Action, DeadJob, JobCounts, JobDetail, JobId, JobQuery, JobSummary, MinuteCounts, Node,
    NodeReport, Selection, StoreError, TaskCounts, from_millis,
};

/// Up to `$1` dead jobs, oldest first; their text as bytes (see `jobs::CLAIM`), shown as well as
/// it can be by `rows::dead_job`.
const DEAD_JOBS: &str = "SELECT id,
           convert_to(task, current_setting('server_encoding')),
           convert_to(payload, current_setting('server_encoding')),
           attempts,
           convert_to(COALESCE(last_error, ''), current_setting('server_encoding'))
      FROM qbwi_jobs WHERE state = 'dead' ORDER BY id LIMIT $1";

/// Jobs by state, due or not by the server's clock: one count per state, each over its part of an
/// index.
const COUNTS: &str = "SELECT
           (SELECT count(*) FROM qbwi_jobs WHERE state = 'ready' AND run_at <= now()),
           (SELECT count(*) FROM qbwi_jobs WHERE state = 'ready' AND run_at > now()),
           (SELECT count(*) FROM qbwi_jobs
             WHERE state = 'ready' AND run_at > now() AND attempts > 0),
           (SELECT count(*) FROM qbwi_jobs WHERE state = 'running'),
           (SELECT count(*) FROM qbwi_jobs WHERE state = 'dead'),
           (SELECT count(*) FROM qbwi_jobs WHERE state = 'completed'),
           (SELECT count(*) FROM qbwi_jobs WHERE state = 'cancelled')";

/// Jobs by task and unfinished state.
const TASK_COUNTS: &str = "SELECT task,
           count(*) FILTER (WHERE state = 'ready' AND run_at <= now()),
           count(*) FILTER (WHERE state = 'ready' AND run_at > now()),
           count(*) FILTER (WHERE state = 'ready' AND run_at > now() AND attempts > 0),
           count(*) FILTER (WHERE state = 'running'),
           count(*) FILTER (WHERE state = 'dead')
      FROM qbwi_jobs
     WHERE state IN ('ready', 'running', 'dead')
     GROUP BY task ORDER BY task";

/// Creates or updates a node's row (`$7`: its lease, in milliseconds).
const REPORT_NODE: &str = "INSERT INTO qbwi_nodes
           (id, hostname, pid, started_at, heartbeat_at, expires_at, tasks, running)
    VALUES ($1, $2, $3, to_timestamp($4::float8 / 1000), now(),
            now() + $7::float8 * interval '1 millisecond', $5, $6)
    ON CONFLICT (id) DO UPDATE
       SET heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at,
           tasks = excluded.tasks, running = excluded.running";

/// The nodes whose report holds.
const NODES: &str = "SELECT id, hostname, pid, (extract(epoch FROM started_at) * 1000)::int8,
           (extract(epoch FROM heartbeat_at) * 1000)::int8, tasks, running
      FROM qbwi_nodes WHERE expires_at > now() ORDER BY id";

/// Runs ended per minute since `$1` (ms since the epoch), summed over tasks and nodes.
const MINUTES: &str = "SELECT (extract(epoch FROM minute) * 1000)::int8, sum(completed)::int8,
           sum(failed)::int8
      FROM qbwi_minutes WHERE minute >= to_timestamp($1::float8 / 1000)
     GROUP BY minute ORDER BY minute";

/// Deletes at most `$2` jobs of each finished state that finished more than `$1` milliseconds ago,
/// among the `$4` oldest of that state, the minutes before `$3` and the expired nodes, in one
/// statement; how many jobs. Each state's part walks its partial index from the oldest id and
/// reads no further than the window (no index on `finished_at`, which every completion would have
/// to write); jobs finish roughly in the order of their ids.
const PRUNE: &str = "WITH completed AS (
        SELECT id, finished_at FROM qbwi_jobs WHERE state = 'completed'
         ORDER BY id LIMIT $4),
    cancelled AS (
        SELECT id, finished_at FROM qbwi_jobs WHERE state = 'cancelled'
         ORDER BY id LIMIT $4),
    pruned AS (
        DELETE FROM qbwi_jobs WHERE id IN (
            (SELECT id FROM completed
              WHERE finished_at < now() - $1::float8 * interval '1 millisecond' LIMIT $2)
            UNION ALL
            (SELECT id FROM cancelled
              WHERE finished_at < now() - $1::float8 * interval '1 millisecond' LIMIT $2))
          -- A job whose `unique_for` holds its key stays until it is over.
          AND (unique_until IS NULL OR unique_until <= now())
        RETURNING 1),
    minutes AS (DELETE FROM qbwi_minutes WHERE minute < to_timestamp($3::float8 / 1000)),
    nodes AS (DELETE FROM qbwi_nodes WHERE expires_at <= now())
    SELECT count(*) FROM pruned";

/// A text column as its bytes (the server may refuse to send text that is not UTF-8).
fn bytes(column: &str) -> String {
    format!("convert_to({column}, current_setting('server_encoding'))")
}

/// A time column as milliseconds since the epoch.
fn ms(column: &str) -> String {
    format!("(extract(epoch FROM {column}) * 1000)::int8")
}

/// PostgreSQL's SQL for the shared statements.
const POSTGRES: Dialect = Dialect {
    now: "now()",
    first: 1,
    parameter: |n| format!("${n}"),
    lock: "FOR UPDATE SKIP LOCKED",
};

/// A shared statement's parameters.
fn values(statement: &Statement) -> Vec<Box<dyn ToSql + Sync + Send>> {
    statement
        .parameters
        .iter()
        .map(|parameter| -> Box<dyn ToSql + Sync + Send> {
            match parameter {
                Parameter::Integer(value) => Box::new(*value),
                Parameter::Text(value) => Box::new(value.clone()),
            }
        })
        .collect()
}

/// Borrows boxed parameters as a statement takes them.
fn borrowed(values: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    values
        .iter()
        .map(|value| &**value as &(dyn ToSql + Sync))
        .collect()
}

/// A listing's statement.
fn listing(query: &JobQuery) -> Statement {
    statements::listing(query, &job_columns(bytes, ms, "now()"), &POSTGRES)
}

impl PostgresStore {
    pub(super) async fn dead_jobs_page(&self, limit: usize) -> Result<Vec<DeadJob>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.query(DEAD_JOBS, &[&limit]).await?;
        Ok(rows.iter().filter_map(rows::dead_job).collect())
    }

    pub(super) async fn job_counts(&self) -> Result<JobCounts, StoreError> {
        let rows = self.query(COUNTS, &[]).await?;
        let row = rows.first().ok_or_else(|| StoreError::Database {
            store: self.describe.clone(),
            reason: "counting the jobs returned no row".to_owned(),
        })?;
        let column = |index| -> Result<u64, StoreError> {
            let value: i64 = row.try_get(index).map_err(|error| self.error(&error))?;
            Ok(u64::try_from(value).unwrap_or(0))
        };
        JobCounts::from_columns(column, 0, true)
    }

    pub(super) async fn list(&self, query: &JobQuery) -> Result<Vec<JobSummary>, StoreError> {
        let statement = listing(query);
        let values = values(&statement);
        let rows = self.query(&statement.sql, &borrowed(&values)).await?;
        Ok(rows.iter().filter_map(rows::job_summary).collect())
    }

    pub(super) async fn one_job(&self, id: JobId) -> Result<Option<JobDetail>, StoreError> {
        let sql = format!(
            "SELECT {} FROM qbwi_jobs WHERE id = $1",
            job_columns(bytes, ms, "now()")
        );
        let rows = self.query(&sql, &[&id.0]).await?;
        Ok(rows.first().and_then(rows::job_detail))
    }

    pub(super) async fn act_on(
        &self,
        action: Action,
        selection: &Selection,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let statement = statements::action(action, selection, limit, &POSTGRES);
        let values = values(&statement);
        let changed = self.execute(&statement.sql, &borrowed(&values)).await?;
        if changed > 0 && action == Action::Retry {
            self.wake_others().await?;
        }
        Ok(changed)
    }

    /// Tells the other hosts that jobs may be ready.
    async fn wake_others(&self) -> Result<(), StoreError> {
        self.execute("SELECT pg_notify('qbwi_jobs', '')", &[])
            .await
            .map(drop)
    }

    pub(super) async fn set_paused(&self, task: &str, paused: bool) -> Result<bool, StoreError> {
        if paused {
            let sql = "INSERT INTO qbwi_paused (task) VALUES ($1) ON CONFLICT (task) DO NOTHING";
            Ok(self.execute(sql, &[&task]).await? == 1)
        } else {
            let resumed = self
                .execute("DELETE FROM qbwi_paused WHERE task = $1", &[&task])
                .await?
                == 1;
            if resumed {
                self.wake_others().await?;
            }
            Ok(resumed)
        }
    }

    pub(super) async fn paused_tasks(&self) -> Result<Vec<String>, StoreError> {
        let rows = self
            .query("SELECT task FROM qbwi_paused ORDER BY task", &[])
            .await?;
        rows.iter()
            .map(|row| row.try_get(0).map_err(|error| self.error(&error)))
            .collect()
    }

    pub(super) async fn upsert_node(&self, node: &NodeReport) -> Result<(), StoreError> {
        let tasks: Vec<&str> = node.tasks.iter().copied().collect();
        let running = i64::try_from(node.running).unwrap_or(i64::MAX);
        self.execute(
            REPORT_NODE,
            &[
                &&*node.id,
                &node.hostname,
                &i64::from(node.pid),
                &(node.started_at as f64),
                &tasks,
                &running,
                &millis_f64(node.lease),
            ],
        )
        .await
        .map(drop)
    }

    pub(super) async fn delete_node(&self, id: &str) -> Result<(), StoreError> {
        self.execute("DELETE FROM qbwi_nodes WHERE id = $1", &[&id])
            .await
            .map(drop)
    }

    pub(super) async fn live_nodes(&self) -> Result<Vec<Node>, StoreError> {
        let rows = self.query(NODES, &[]).await?;
        rows.iter()
            .map(|row| {
                let node = || -> Result<Node, tokio_postgres::Error> {
                    Ok(Node {
                        id: row.try_get(0)?,
                        hostname: row.try_get(1)?,
                        pid: u32::try_from(row.try_get::<_, i64>(2)?).unwrap_or(0),
                        started_at: from_millis(row.try_get(3)?),
                        heartbeat_at: from_millis(row.try_get(4)?),
                        tasks: row.try_get(5)?,
                        running: u64::try_from(row.try_get::<_, i64>(6)?).unwrap_or(0),
                    })
                };
                node().map_err(|error| self.error(&error))
            })
            .collect()
    }

    pub(super) async fn task_counts(&self) -> Result<Vec<TaskCounts>, StoreError> {
        let rows = self.query(TASK_COUNTS, &[]).await?;
        rows.iter()
            .map(|row| {
                let count = |index| -> Result<u64, tokio_postgres::Error> {
                    Ok(u64::try_from(row.try_get::<_, i64>(index)?).unwrap_or(0))
                };
                let counts = || -> Result<TaskCounts, tokio_postgres::Error> {
                    Ok(TaskCounts {
                        task: row.try_get(0)?,
                        counts: JobCounts::from_columns(count, 1, false)?,
                    })
                };
                counts().map_err(|error| self.error(&error))
            })
            .collect()
    }

    pub(super) async fn minutes(&self, since: i64) -> Result<Vec<MinuteCounts>, StoreError> {
        let rows = self.query(MINUTES, &[&(since as f64)]).await?;
        rows.iter()
            .map(|row| {
                let minute = || -> Result<MinuteCounts, tokio_postgres::Error> {
                    Ok(MinuteCounts {
                        minute: from_millis(row.try_get(0)?),
                        completed: u64::try_from(row.try_get::<_, i64>(1)?).unwrap_or(0),
                        failed: u64::try_from(row.try_get::<_, i64>(2)?).unwrap_or(0),
                    })
                };
                minute().map_err(|error| self.error(&error))
            })
            .collect()
    }

    pub(super) async fn prune_finished(
        &self,
        retention: Duration,
        since: i64,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let window = limit.saturating_mul(10);
        let rows = self
            .query(
                PRUNE,
                &[&millis_f64(retention), &limit, &(since as f64), &window],
            )
            .await?;
        let deleted: i64 = match rows.first() {
            Some(row) => row.try_get(0).map_err(|error| self.error(&error))?,
            None => 0,
        };
        Ok(u64::try_from(deleted).unwrap_or(0))
    }
}

#[cfg(test)]
pub(super) fn listing_for_plan(query: &JobQuery) -> (String, Vec<Box<dyn ToSql + Sync + Send>>) {
    let statement = listing(query);
    let values = values(&statement);
    (statement.sql, values)
}
