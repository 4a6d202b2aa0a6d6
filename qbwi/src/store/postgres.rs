//! The PostgreSQL store: one database shared by many hosts.
//!
//! - **Claiming** is one statement: a `SELECT .. FOR UPDATE SKIP LOCKED` picks the due rows and an
//!   `UPDATE` leases them. Workers on different hosts never wait for each other's rows, and a row
//!   goes to one worker at a time.
//! - **Time is the server's.** Every due time and lease is compared with `now()` inside the query,
//!   and leases are written as `now() + lease`, so hosts whose clocks disagree still agree on when
//!   a lease has expired. Only the times a host computes itself (a delayed job's `run_at`, a retry's
//!   backoff) come from its clock, as milliseconds since the epoch.
//! - **Wake-ups**: adding jobs sends `NOTIFY qbwi_jobs` in the same transaction (PostgreSQL
//!   delivers it at commit). A store whose worker waits for jobs opens one connection of its own,
//!   outside the pool, that `LISTEN`s and turns notifications into [`Backend::notified`] wake-ups;
//!   it reconnects with backoff if the connection drops, and stops when the store is dropped.
//!   Without it (a caller's pool: see [`PostgresConfig::Pool`]), workers poll.
//! - **Schema**: created and migrated by qbwi, versioned in `qbwi_schema`, in one transaction that
//!   first takes a transaction-level advisory lock. Hosts that start at the same moment against an
//!   empty database create the schema once: the others wait on the lock, then find it done.

use std::collections::HashSet;
use std::error::Error as _;
use std::fmt;
use std::future::{pending, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use deadpool_postgres::{Manager, Object, Pool, PoolError, Runtime, TimeoutType};
use tokio::sync::watch;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{AsyncMessage, NoTls, Row};
use tokio_util::sync::CancellationToken;

use super::{
    Backend, BoxFuture, ClaimRequest, ClaimedJob, DeadJob, EnqueueIn, Finished, JobCounts, JobId,
    NewJob, Store, StoreError,
};

/// The schema migrations, in order: `qbwi_schema.version` counts how many have run.
const MIGRATIONS: [&str; 1] = [
    // 1: jobs, with the partial indexes the claim, the due-time and the dead-job queries walk.
    "CREATE TABLE qbwi_jobs (
        id           bigserial   PRIMARY KEY,
        task         text        NOT NULL,
        payload      text        NOT NULL,
        state        text        NOT NULL CHECK (state IN ('ready', 'running', 'dead')),
        attempts     integer     NOT NULL DEFAULT 0,
        max_attempts integer     NOT NULL CHECK (max_attempts >= 1),
        run_at       timestamptz NOT NULL,
        lease_until  timestamptz,
        worker       text,
        last_error   text,
        created_at   timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX qbwi_jobs_ready ON qbwi_jobs (run_at, id) WHERE state = 'ready';
    CREATE INDEX qbwi_jobs_leased ON qbwi_jobs (lease_until) WHERE state = 'running';
    CREATE INDEX qbwi_jobs_dead ON qbwi_jobs (id) WHERE state = 'dead';",
];

/// The schema version this code writes and reads.
const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The advisory lock that serializes migrations: "qbwi.sch" as a big-endian 64-bit number.
const MIGRATION_LOCK: i64 = i64::from_be_bytes(*b"qbwi.sch");

/// The channel that adding jobs notifies.
const CHANNEL: &str = "qbwi_jobs";

/// Connections of a pool made from a connection string.
const POOL_SIZE: usize = 16;
/// How long opening a TCP connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long opening a connection may take in all (TCP, startup, authentication).
const CREATE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long an operation waits for a free connection of the pool.
const WAIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long checking a pooled connection before reuse may take.
const RECYCLE_TIMEOUT: Duration = Duration::from_secs(5);
/// The listening connection's first wait before reconnecting; it doubles up to the maximum.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// The listening connection's longest wait before reconnecting.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// What to check when the server cannot be reached.
const HINT_CONNECT: &str = "check that the server is running and reachable, and that DATABASE_URL's \
                            host, port, user, password and database are right";
/// What to check when the connection string does not parse.
const HINT_URL: &str = "write the connection string as postgres://user:password@host:5432/database \
                        or as host=.. port=.. user=.. password=.. dbname=..";
/// What to check when the server refuses the user.
const HINT_AUTH: &str = "check DATABASE_URL's user and password, and that the server's pg_hba.conf \
                         lets this user in from this host";
/// What to check when the database does not exist.
const HINT_DATABASE: &str =
    "create the database (CREATE DATABASE ..), or fix the database name in DATABASE_URL";
/// What to check when the server has no connection slot left.
const HINT_TOO_MANY: &str = "the server has no connection slot left: raise its max_connections, or \
                             lower the pool sizes of its clients";
/// What to check when every pooled connection stayed busy.
const HINT_POOL_BUSY: &str = "every connection of the pool stayed busy: raise the pool's max_size, \
                              or shorten the transactions that hold its connections";
/// What to check when the caller's pool cannot hand out connections.
const HINT_POOL: &str = "the deadpool-postgres pool given to Store::postgres was closed or is \
                         misconfigured: build it with .runtime(Runtime::Tokio1) if it has timeouts, \
                         and keep it open while the store is in use";
/// What to check when the server wants TLS.
const HINT_TLS: &str = "Store::postgres(url) connects without TLS: allow plain connections from \
                        this host, or pass a deadpool-postgres pool built with a TLS connector";

/// What [`Store::postgres`] accepts: a connection string (`postgres://user:pass@host:port/db` or
/// `host=.. user=..`), or a ready deadpool-postgres pool.
///
/// Built with `From`, so `Store::postgres(&url)` and `Store::postgres(pool)` both work.
///
/// - From a **connection string**, qbwi builds a pool of up to 16 connections (without TLS), with
///   timeouts on connecting (10 s for TCP, 15 s in all) and on waiting for a free connection
///   (30 s), and opens one more connection of its own that `LISTEN`s for jobs added by other
///   processes, so idle workers start them at once.
/// - From a **pool** (to share your application's pool, or to connect with TLS), qbwi uses its
///   connections, and opens none of its own: the pool's connections cannot receive notifications,
///   so idle workers find jobs added by other processes by polling (see the host's poll interval).
#[non_exhaustive]
pub enum PostgresConfig {
    /// A connection string: a URL (`postgres://user:password@host:5432/database`) or key-value
    /// pairs (`host=localhost user=app dbname=app`), as libpq accepts.
    Url(String),
    /// A ready pool. qbwi does not resize or close it.
    Pool(Pool),
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Never the password: a config may well end up in a log.
            PostgresConfig::Url(url) => f.debug_tuple("Url").field(&redact(url)).finish(),
            PostgresConfig::Pool(pool) => f.debug_tuple("Pool").field(pool).finish(),
        }
    }
}

impl From<&str> for PostgresConfig {
    fn from(url: &str) -> Self {
        PostgresConfig::Url(url.to_owned())
    }
}

impl From<String> for PostgresConfig {
    fn from(url: String) -> Self {
        PostgresConfig::Url(url)
    }
}

impl From<&String> for PostgresConfig {
    fn from(url: &String) -> Self {
        PostgresConfig::Url(url.clone())
    }
}

impl From<Pool> for PostgresConfig {
    fn from(pool: Pool) -> Self {
        PostgresConfig::Pool(pool)
    }
}

impl Store {
    /// Connects to the PostgreSQL store and brings its schema up to date (creating it in an empty
    /// database).
    ///
    /// Takes a connection string (`postgres://user:password@host:5432/database`, or `host=..
    /// user=..` pairs) or a ready deadpool-postgres pool; see [`PostgresConfig`] for what each
    /// gives. qbwi keeps its jobs in the table `qbwi_jobs` and its schema version in
    /// `qbwi_schema`. Hosts that start at the same moment against an empty database create the
    /// schema once.
    ///
    /// ```no_run
    /// #[tokio::main]
    /// async fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     let url = std::env::var("DATABASE_URL")?;
    ///     let store = qbwi::Store::postgres(&url).await?;
    ///     println!("{}: {:?}", store.describe(), store.counts().await?);
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Unreachable`] if the connection string does not parse or the server cannot
    /// be reached or refuses the login (it says what to check);
    /// [`StoreError::NewerSchema`] if a newer qbwi has migrated the database;
    /// [`StoreError::Database`] if creating the schema fails (for example, without the `CREATE`
    /// privilege).
    pub async fn postgres(config: impl Into<PostgresConfig>) -> Result<Store, StoreError> {
        Ok(Store::from_backend(
            PostgresStore::connect(config.into()).await?,
        ))
    }
}

/// The PostgreSQL [`Backend`]: a connection pool, and the listener that wakes idle workers.
pub(crate) struct PostgresStore {
    pool: Pool,
    /// `PostgreSQL at host:port/database`, for messages; never the password.
    describe: String,
    listener: Listener,
}

impl PostgresStore {
    /// Connects (building a pool from a connection string, or using the caller's), and brings the
    /// schema up to date.
    pub(crate) async fn connect(config: PostgresConfig) -> Result<PostgresStore, StoreError> {
        match config {
            PostgresConfig::Url(url) => {
                let config = url.parse().map_err(|error| StoreError::Unreachable {
                    store: "PostgreSQL (the connection string is not valid)".to_owned(),
                    reason: reason(&error),
                    hint: HINT_URL,
                })?;
                Self::connect_with(config).await
            }
            PostgresConfig::Pool(pool) => Self::connect_pool(pool).await,
        }
    }

    /// Builds a pool for `config` and brings the schema up to date.
    async fn connect_with(mut config: tokio_postgres::Config) -> Result<PostgresStore, StoreError> {
        let describe = describe_config(&config);
        if config.get_ssl_mode() == SslMode::Require {
            return Err(StoreError::Unreachable {
                store: describe,
                reason: "the connection string requires TLS (sslmode=require)".to_owned(),
                hint: HINT_TLS,
            });
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            // So that operators can tell qbwi's sessions apart in pg_stat_activity.
            config.application_name("qbwi");
        }
        let pool = Pool::builder(Manager::new(config.clone(), NoTls))
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(WAIT_TIMEOUT))
            .create_timeout(Some(CREATE_TIMEOUT))
            .recycle_timeout(Some(RECYCLE_TIMEOUT))
            .build()
            .map_err(|error| StoreError::Unreachable {
                store: describe.clone(),
                reason: error.to_string(),
                hint: HINT_CONNECT,
            })?;
        let mut client = pool
            .get()
            .await
            .map_err(|error| pool_error(&describe, error))?;
        migrate(&mut client, &describe).await?;
        drop(client);
        Ok(PostgresStore {
            pool,
            describe,
            listener: Listener::new(Some(listen_config(config))),
        })
    }

    /// Uses the caller's pool, and brings the schema up to date.
    async fn connect_pool(pool: Pool) -> Result<PostgresStore, StoreError> {
        let mut describe = "PostgreSQL (from a deadpool-postgres pool)".to_owned();
        // The caller's pool may have no timeouts: do not wait forever for its first connection.
        let mut client = match tokio::time::timeout(WAIT_TIMEOUT, pool.get()).await {
            Ok(client) => client.map_err(|error| pool_error(&describe, error))?,
            Err(_) => return Err(pool_error(&describe, PoolError::Timeout(TimeoutType::Wait))),
        };
        // The pool's settings are private to it: ask the server where we are.
        if let Ok(row) = client
            .query_one(
                "SELECT current_database(), host(inet_server_addr()), inet_server_port()",
                &[],
            )
            .await
        {
            let database: Option<String> = row.get(0);
            let host: Option<String> = row.get(1);
            let port: Option<i32> = row.get(2);
            describe = match (host, port) {
                (Some(host), Some(port)) => {
                    format!("PostgreSQL at {}:{port}", bracket_ipv6(&host))
                }
                _ => "PostgreSQL at a local socket".to_owned(),
            };
            describe.push('/');
            describe.push_str(database.as_deref().unwrap_or("?"));
        }
        migrate(&mut client, &describe).await?;
        drop(client);
        Ok(PostgresStore {
            pool,
            describe,
            listener: Listener::new(None),
        })
    }

    /// A connection from the pool.
    async fn client(&self) -> Result<Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|error| pool_error(&self.describe, error))
    }

    /// Maps a query's error.
    fn error(&self, error: &tokio_postgres::Error) -> StoreError {
        store_error(&self.describe, error)
    }

    /// Runs one statement (prepared once per connection) and returns its rows.
    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(sql)
            .await
            .map_err(|error| self.error(&error))?;
        client
            .query(&statement, params)
            .await
            .map_err(|error| self.error(&error))
    }

    /// Runs one statement (prepared once per connection) and returns how many rows it changed.
    async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(sql)
            .await
            .map_err(|error| self.error(&error))?;
        client
            .execute(&statement, params)
            .await
            .map_err(|error| self.error(&error))
    }
}

/// Inserts jobs, in order, and notifies [`CHANNEL`] (at commit); one statement, one round trip.
/// `WITH ORDINALITY .. ORDER BY` makes the sequence number the rows in input order, so the ids,
/// sorted, are the jobs' ids in order.
const INSERT: &str = "WITH inserted AS (
        INSERT INTO qbwi_jobs (task, payload, state, max_attempts, run_at)
        SELECT job.task, job.payload, 'ready', job.max_attempts,
               COALESCE(to_timestamp(job.run_at / 1000), now())
          FROM unnest($1::text[], $2::text[], $3::int4[], $4::float8[])
               WITH ORDINALITY AS job (task, payload, max_attempts, run_at, position)
         ORDER BY job.position
        RETURNING id)
    SELECT inserted.id FROM inserted, (SELECT pg_notify('qbwi_jobs', '')) AS wake
     ORDER BY inserted.id";

/// Leases up to `$2` due jobs of the tasks `$1` to worker `$3` for `$4` milliseconds.
const CLAIM: &str = "WITH due AS (
        SELECT id FROM qbwi_jobs
         WHERE task = ANY($1::text[])
           AND ((state = 'ready' AND run_at <= now())
             OR (state = 'running' AND lease_until < now()))
         ORDER BY run_at, id
         LIMIT $2
           FOR UPDATE SKIP LOCKED)
    UPDATE qbwi_jobs AS job
       SET state = 'running', attempts = job.attempts + 1, worker = $3,
           lease_until = now() + $4::float8 * interval '1 millisecond'
      FROM due
     WHERE job.id = due.id
 RETURNING job.id, job.task, job.payload, job.attempts, job.max_attempts";

/// Deletes the completed jobs `$1` that worker `$2` still holds.
const COMPLETE: &str = "DELETE FROM qbwi_jobs
     WHERE id = ANY($1::int8[]) AND state = 'running' AND worker = $2";

/// Records failures (ids `$1`, errors `$2`, retry times `$3`) of jobs worker `$4` still holds.
const FAIL: &str = "UPDATE qbwi_jobs AS job
       SET state = CASE WHEN failure.retry_at IS NOT NULL AND job.attempts < job.max_attempts
                        THEN 'ready' ELSE 'dead' END,
           run_at = COALESCE(to_timestamp(failure.retry_at / 1000), job.run_at),
           last_error = failure.error, worker = NULL, lease_until = NULL
      FROM unnest($1::int8[], $2::text[], $3::float8[]) AS failure (id, error, retry_at)
     WHERE job.id = failure.id AND job.state = 'running' AND job.worker = $4";

/// Hands back the jobs `$1` that worker `$2` still holds, their attempt given back; notifies other
/// hosts if there were any.
const RELEASE: &str = "WITH released AS (
        UPDATE qbwi_jobs
           SET state = 'ready', attempts = attempts - 1, worker = NULL, lease_until = NULL
         WHERE id = ANY($1::int8[]) AND state = 'running' AND worker = $2
        RETURNING id)
    SELECT pg_notify('qbwi_jobs', '') WHERE EXISTS (SELECT FROM released)";

/// Extends to `$3` milliseconds from now the leases that worker `$2` holds on the jobs `$1`.
const HEARTBEAT: &str = "UPDATE qbwi_jobs
       SET lease_until = now() + $3::float8 * interval '1 millisecond'
     WHERE id = ANY($1::int8[]) AND state = 'running' AND worker = $2
 RETURNING id";

/// Seconds until the next job of the tasks `$1` is due (negative if one is overdue), or NULL.
const NEXT_DUE: &str = "SELECT EXTRACT(EPOCH FROM (min(next.due) - now()))::float8 FROM (
        SELECT min(run_at) AS due FROM qbwi_jobs
         WHERE state = 'ready' AND task = ANY($1::text[])
        UNION ALL
        SELECT min(lease_until) FROM qbwi_jobs
         WHERE state = 'running' AND task = ANY($1::text[])) AS next";

/// Up to `$1` dead jobs, oldest first.
const DEAD_JOBS: &str = "SELECT id, task, payload, attempts, COALESCE(last_error, '')
      FROM qbwi_jobs WHERE state = 'dead' ORDER BY id LIMIT $1";

/// Makes the dead job `$1` ready now with a fresh set of attempts (its last error kept), and
/// notifies; one row if it was dead.
const RETRY_DEAD: &str = "WITH retried AS (
        UPDATE qbwi_jobs SET state = 'ready', attempts = 0, run_at = now()
         WHERE id = $1 AND state = 'dead'
        RETURNING id)
    SELECT pg_notify('qbwi_jobs', '') FROM retried";

/// Deletes the dead job `$1`.
const DELETE_DEAD: &str = "DELETE FROM qbwi_jobs WHERE id = $1 AND state = 'dead'";

/// Jobs by state, due or not by the server's clock.
const COUNTS: &str = "SELECT count(*) FILTER (WHERE state = 'ready' AND run_at <= now()),
           count(*) FILTER (WHERE state = 'ready' AND run_at > now()),
           count(*) FILTER (WHERE state = 'running'),
           count(*) FILTER (WHERE state = 'dead')
      FROM qbwi_jobs";

impl Backend for PostgresStore {
    fn describe(&self) -> &str {
        &self.describe
    }

    fn enqueue(&self, jobs: Vec<NewJob>) -> BoxFuture<'_, Result<Vec<JobId>, StoreError>> {
        Box::pin(async move {
            if jobs.is_empty() {
                return Ok(Vec::new());
            }
            let client = self.client().await?;
            insert_jobs(&**client, &jobs)
                .await
                .map_err(|error| self.error(&error))
        })
    }

    fn claim(&self, request: ClaimRequest) -> BoxFuture<'_, Result<Vec<ClaimedJob>, StoreError>> {
        Box::pin(async move {
            if request.tasks.is_empty() || request.limit == 0 {
                return Ok(Vec::new());
            }
            let limit = i64::try_from(request.limit).unwrap_or(i64::MAX);
            let rows = self
                .query(
                    CLAIM,
                    &[
                        &&*request.tasks,
                        &limit,
                        &&*request.worker,
                        &millis_f64(request.lease),
                    ],
                )
                .await?;
            let mut jobs = rows
                .iter()
                .map(|row| {
                    Ok(ClaimedJob {
                        id: JobId(row.try_get(0)?),
                        task: row.try_get(1)?,
                        payload: row.try_get(2)?,
                        attempt: count(row.try_get(3)?),
                        max_attempts: count(row.try_get(4)?),
                    })
                })
                .collect::<Result<Vec<_>, tokio_postgres::Error>>()
                .map_err(|error| self.error(&error))?;
            jobs.sort_by_key(|job| job.id);
            Ok(jobs)
        })
    }

    fn finish(
        &self,
        worker: Arc<str>,
        finished: Vec<Finished>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let reports = Reports::sort(finished);
            if reports.kinds() == 0 {
                return Ok(());
            }
            let mut client = self.client().await?;
            if reports.kinds() > 1 {
                let transaction = client
                    .transaction()
                    .await
                    .map_err(|error| self.error(&error))?;
                reports
                    .record(&transaction, &worker)
                    .await
                    .map_err(|error| self.error(&error))?;
                transaction
                    .commit()
                    .await
                    .map_err(|error| self.error(&error))
            } else {
                // One statement is a transaction already: spare the BEGIN and COMMIT round trips.
                reports
                    .record(&client, &worker)
                    .await
                    .map_err(|error| self.error(&error))
            }
        })
    }

    fn heartbeat(
        &self,
        worker: Arc<str>,
        ids: Vec<JobId>,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Vec<JobId>, StoreError>> {
        Box::pin(async move {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let raw: Vec<i64> = ids.iter().map(|id| id.0).collect();
            let rows = self
                .query(HEARTBEAT, &[&raw, &&*worker, &millis_f64(lease)])
                .await?;
            let held = rows
                .iter()
                .map(|row| row.try_get(0))
                .collect::<Result<HashSet<i64>, _>>()
                .map_err(|error| self.error(&error))?;
            Ok(ids.into_iter().filter(|id| !held.contains(&id.0)).collect())
        })
    }

    fn next_due(
        &self,
        tasks: Arc<[&'static str]>,
    ) -> BoxFuture<'_, Result<Option<Duration>, StoreError>> {
        Box::pin(async move {
            if tasks.is_empty() {
                return Ok(None);
            }
            let rows = self.query(NEXT_DUE, &[&&*tasks]).await?;
            let seconds: Option<f64> = match rows.first() {
                Some(row) => row.try_get(0).map_err(|error| self.error(&error))?,
                None => None,
            };
            // Overdue (negative) is due now; NaN becomes 0 too (`max` prefers the number).
            Ok(seconds.map(|seconds| {
                Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(Duration::MAX)
            }))
        })
    }

    fn notified(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.listener.notified(&self.describe))
    }

    fn dead_jobs(&self, limit: usize) -> BoxFuture<'_, Result<Vec<DeadJob>, StoreError>> {
        Box::pin(async move {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = self.query(DEAD_JOBS, &[&limit]).await?;
            rows.iter()
                .map(|row| {
                    Ok(DeadJob {
                        id: JobId(row.try_get(0)?),
                        task: row.try_get(1)?,
                        payload: row.try_get(2)?,
                        attempts: count(row.try_get(3)?),
                        last_error: row.try_get(4)?,
                    })
                })
                .collect::<Result<Vec<_>, tokio_postgres::Error>>()
                .map_err(|error| self.error(&error))
        })
    }

    fn retry_dead(&self, id: JobId) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move { Ok(self.execute(RETRY_DEAD, &[&id.0]).await? == 1) })
    }

    fn delete_dead(&self, id: JobId) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move { Ok(self.execute(DELETE_DEAD, &[&id.0]).await? == 1) })
    }

    fn counts(&self) -> BoxFuture<'_, Result<JobCounts, StoreError>> {
        Box::pin(async move {
            let rows = self.query(COUNTS, &[]).await?;
            let row = rows.first().ok_or_else(|| StoreError::Database {
                store: self.describe.clone(),
                reason: "counting the jobs returned no row".to_owned(),
            })?;
            let column = |index| -> Result<u64, StoreError> {
                let value: i64 = row.try_get(index).map_err(|error| self.error(&error))?;
                Ok(u64::try_from(value).unwrap_or(0))
            };
            Ok(JobCounts {
                ready: column(0)?,
                scheduled: column(1)?,
                running: column(2)?,
                dead: column(3)?,
            })
        })
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("describe", &self.describe)
            .finish_non_exhaustive()
    }
}

/// A batch of reports, sorted by kind so each kind is one statement.
struct Reports {
    completed: Vec<i64>,
    released: Vec<i64>,
    failed_ids: Vec<i64>,
    failed_errors: Vec<String>,
    failed_retry_at: Vec<Option<f64>>,
}

impl Reports {
    fn sort(finished: Vec<Finished>) -> Reports {
        let mut reports = Reports {
            completed: Vec::new(),
            released: Vec::new(),
            failed_ids: Vec::new(),
            failed_errors: Vec::new(),
            failed_retry_at: Vec::new(),
        };
        for report in finished {
            match report {
                Finished::Completed(id) => reports.completed.push(id.0),
                Finished::Released(id) => reports.released.push(id.0),
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

    /// How many statements recording these takes.
    fn kinds(&self) -> usize {
        [&self.completed, &self.released, &self.failed_ids]
            .into_iter()
            .filter(|ids| !ids.is_empty())
            .count()
    }

    /// Records the reports of `worker` (dropping those for leases it lost).
    async fn record(
        &self,
        client: &impl deadpool_postgres::GenericClient,
        worker: &str,
    ) -> Result<(), tokio_postgres::Error> {
        if !self.completed.is_empty() {
            let statement = client.prepare_cached(COMPLETE).await?;
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
                        &self.failed_errors,
                        &self.failed_retry_at,
                        &worker,
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
        Ok(())
    }
}

/// Inserts jobs through any client or transaction (one statement); their ids, in order.
async fn insert_jobs(
    client: &(impl tokio_postgres::GenericClient + Sync),
    jobs: &[NewJob],
) -> Result<Vec<JobId>, tokio_postgres::Error> {
    let tasks: Vec<&str> = jobs.iter().map(|job| job.task).collect();
    let payloads: Vec<&str> = jobs.iter().map(|job| job.payload.as_str()).collect();
    let max_attempts: Vec<i32> = jobs
        .iter()
        .map(|job| i32::try_from(job.max_attempts).unwrap_or(i32::MAX))
        .collect();
    let run_at: Vec<Option<f64>> = jobs
        .iter()
        .map(|job| job.run_at.map(|at| at as f64))
        .collect();
    // Typed parameters: no separate prepare round trip (this also serves callers' transactions,
    // whose connections have no statement cache).
    let rows = client
        .query_typed(
            INSERT,
            &[
                (&tasks, Type::TEXT_ARRAY),
                (&payloads, Type::TEXT_ARRAY),
                (&max_attempts, Type::INT4_ARRAY),
                (&run_at, Type::FLOAT8_ARRAY),
            ],
        )
        .await?;
    let mut ids = rows
        .iter()
        .map(|row| row.try_get(0).map(JobId))
        .collect::<Result<Vec<_>, _>>()?;
    ids.sort_unstable();
    Ok(ids)
}

/// Brings the schema up to date under the migration lock (held until the transaction ends).
async fn migrate(client: &mut Object, store: &str) -> Result<(), StoreError> {
    let error = |error: tokio_postgres::Error| store_error(store, &error);
    let transaction = client.transaction().await.map_err(error)?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(error)?;
    // Checked first so that a role without the CREATE privilege can use a migrated database.
    let exists: bool = transaction
        .query_one("SELECT to_regclass('qbwi_schema') IS NOT NULL", &[])
        .await
        .map_err(error)?
        .get(0);
    if !exists {
        transaction
            .batch_execute("CREATE TABLE IF NOT EXISTS qbwi_schema (version integer NOT NULL)")
            .await
            .map_err(error)?;
    }
    let version: Option<i32> = transaction
        .query_one("SELECT max(version) FROM qbwi_schema", &[])
        .await
        .map_err(error)?
        .get(0);
    let version = i64::from(version.unwrap_or(0));
    if version > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    if version == SCHEMA_VERSION {
        // Nothing to write (a read-only session gets this far too).
        return transaction.commit().await.map_err(error);
    }
    for migration in MIGRATIONS
        .iter()
        .skip(usize::try_from(version).unwrap_or(0))
    {
        transaction.batch_execute(migration).await.map_err(error)?;
    }
    let new_version = i32::try_from(SCHEMA_VERSION).unwrap_or(i32::MAX);
    transaction
        .execute("DELETE FROM qbwi_schema", &[])
        .await
        .map_err(error)?;
    transaction
        .execute(
            "INSERT INTO qbwi_schema (version) VALUES ($1)",
            &[&new_version],
        )
        .await
        .map_err(error)?;
    transaction.commit().await.map_err(error)
}

/// Wakes idle workers when other processes add jobs: a connection outside the pool that
/// `LISTEN`s, opened on the first [`Listener::notified`] and closed when the store is dropped.
struct Listener {
    /// How to open the listening connection; `None` with a caller's pool (then workers poll).
    config: Option<tokio_postgres::Config>,
    /// Whether the listening task has been started.
    started: AtomicBool,
    /// Counts notifications (and reconnections, after which jobs may have been missed).
    generation: Arc<watch::Sender<u64>>,
    /// The generation the last resolved [`Listener::notified`] saw: a notification that arrives
    /// while no one waits resolves the next call at once instead of being lost.
    seen: AtomicU64,
    /// Stops the listening task.
    stop: CancellationToken,
}

impl Listener {
    fn new(config: Option<tokio_postgres::Config>) -> Listener {
        Listener {
            config,
            started: AtomicBool::new(false),
            generation: Arc::new(watch::Sender::new(0)),
            seen: AtomicU64::new(0),
            stop: CancellationToken::new(),
        }
    }

    /// Resolves at the next notification, or at once if one arrived since the last call resolved.
    /// Never resolves without a listening connection.
    async fn notified(&self, store: &str) {
        let Some(config) = &self.config else {
            return pending().await;
        };
        let seen = self.seen.load(Ordering::Acquire);
        let mut changes = self.generation.subscribe();
        if !self.started.swap(true, Ordering::AcqRel) {
            let stop = self.stop.clone();
            let listening = listen(config.clone(), self.generation.clone(), store.to_owned());
            tokio::spawn(async move {
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = listening => {}
                }
            });
        }
        loop {
            let current = *changes.borrow_and_update();
            if current > seen {
                self.seen.fetch_max(current, Ordering::AcqRel);
                return;
            }
            if changes.changed().await.is_err() {
                return pending().await;
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The listening connection's settings: TCP keepalives that notice a dead server within about a
/// minute (the connection only reads, so nothing else would).
fn listen_config(mut config: tokio_postgres::Config) -> tokio_postgres::Config {
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        .keepalives_interval(Duration::from_secs(10))
        .keepalives_retries(3);
    config
}

/// Listens for notifications for ever, reconnecting with backoff; each (re)connection counts as a
/// notification, since jobs may have been added while it was down.
async fn listen(
    config: tokio_postgres::Config,
    generation: Arc<watch::Sender<u64>>,
    store: String,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let reason = listen_once(&config, &generation, &mut backoff).await;
        tracing::warn!(
            store = %store,
            %reason,
            retry_in = ?backoff,
            "lost the connection that listens for new jobs; idle workers poll until it is back"
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Connects, `LISTEN`s and forwards notifications until the connection fails; returns why.
async fn listen_once(
    config: &tokio_postgres::Config,
    generation: &watch::Sender<u64>,
    backoff: &mut Duration,
) -> String {
    let (client, mut connection) =
        match tokio::time::timeout(CREATE_TIMEOUT, config.connect(NoTls)).await {
            Ok(Ok(connected)) => connected,
            Ok(Err(error)) => return reason(&error),
            Err(_) => return format!("connecting took more than {CREATE_TIMEOUT:?}"),
        };
    // The connection must be driven for the LISTEN to complete.
    let mut listen = pin!(client.batch_execute("LISTEN qbwi_jobs"));
    loop {
        tokio::select! {
            listened = &mut listen => match listened {
                Ok(()) => break,
                Err(error) => return reason(&error),
            },
            message = poll_fn(|cx| connection.poll_message(cx)) => match message {
                Some(Ok(_)) => {}
                Some(Err(error)) => return reason(&error),
                None => return "the server closed the connection".to_owned(),
            },
        }
    }
    *backoff = BACKOFF_MIN;
    generation.send_modify(|generation| *generation += 1);
    loop {
        match poll_fn(|cx| connection.poll_message(cx)).await {
            Some(Ok(AsyncMessage::Notification(notification)))
                if notification.channel() == CHANNEL =>
            {
                generation.send_modify(|generation| *generation += 1);
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => return reason(&error),
            None => return "the server closed the connection".to_owned(),
        }
    }
}

/// The caller's client or transaction, for [`EnqueueIn`].
const CALLER: &str = "PostgreSQL (the caller's connection)";

/// Inserts one job through the caller's client or transaction.
async fn insert_one(
    client: &(impl tokio_postgres::GenericClient + Sync),
    job: NewJob,
) -> Result<JobId, StoreError> {
    let ids = insert_jobs(client, std::slice::from_ref(&job))
        .await
        .map_err(|error| {
            if error.code() == Some(&SqlState::UNDEFINED_TABLE) {
                StoreError::Database {
                    store: CALLER.to_owned(),
                    reason: "the qbwi schema is missing: open the store with \
                             `qbwi::Store::postgres(..)` once before enqueueing in your own \
                             transaction"
                        .to_owned(),
                }
            } else {
                store_error(CALLER, &error)
            }
        })?;
    ids.first().copied().ok_or_else(|| StoreError::Database {
        store: CALLER.to_owned(),
        reason: "inserting the job returned no id".to_owned(),
    })
}

impl super::sealed::Sealed for tokio_postgres::Transaction<'_> {}

/// Inserts the job in this transaction: it exists if and only if the transaction commits.
impl EnqueueIn for tokio_postgres::Transaction<'_> {
    fn __insert(&self, job: NewJob) -> BoxFuture<'_, Result<JobId, StoreError>> {
        Box::pin(insert_one(self, job))
    }
}

impl super::sealed::Sealed for tokio_postgres::Client {}

/// Inserts the job in its own statement (committed at once outside a transaction).
impl EnqueueIn for tokio_postgres::Client {
    fn __insert(&self, job: NewJob) -> BoxFuture<'_, Result<JobId, StoreError>> {
        Box::pin(insert_one(self, job))
    }
}

impl super::sealed::Sealed for deadpool_postgres::Transaction<'_> {}

/// Inserts the job in this transaction: it exists if and only if the transaction commits.
impl EnqueueIn for deadpool_postgres::Transaction<'_> {
    fn __insert(&self, job: NewJob) -> BoxFuture<'_, Result<JobId, StoreError>> {
        let transaction: &tokio_postgres::Transaction<'_> = self;
        Box::pin(insert_one(transaction, job))
    }
}

impl super::sealed::Sealed for Object {}

/// Inserts the job in its own statement (committed at once outside a transaction).
impl EnqueueIn for Object {
    fn __insert(&self, job: NewJob) -> BoxFuture<'_, Result<JobId, StoreError>> {
        let client: &tokio_postgres::Client = self;
        Box::pin(insert_one(client, job))
    }
}

/// Maps a query's error: lost connections are [`StoreError::Unreachable`], a read-only server
/// [`StoreError::ReadOnly`], a full disk [`StoreError::Full`], anything else
/// [`StoreError::Database`].
fn store_error(store: &str, error: &tokio_postgres::Error) -> StoreError {
    let store = store.to_owned();
    let reason = reason(error);
    match error.code() {
        Some(code) if *code == SqlState::READ_ONLY_SQL_TRANSACTION => {
            StoreError::ReadOnly { store, reason }
        }
        // 53100 disk_full, 53200 out_of_memory, 53400 configuration_limit_exceeded; 53300
        // too_many_connections is about reaching the server, below.
        Some(code) if code.code().starts_with("53") && *code != SqlState::TOO_MANY_CONNECTIONS => {
            StoreError::Full { store, reason }
        }
        Some(code) => match unreachable_hint(code) {
            Some(hint) => StoreError::Unreachable {
                store,
                reason,
                hint,
            },
            None => StoreError::Database { store, reason },
        },
        None if error.is_closed() || io_error(error) => StoreError::Unreachable {
            store,
            reason,
            hint: HINT_CONNECT,
        },
        None => StoreError::Database { store, reason },
    }
}

/// Maps an error of opening a connection: always [`StoreError::Unreachable`], with what to check.
fn connect_error(store: &str, error: &tokio_postgres::Error) -> StoreError {
    let hint = if let Some(code) = error.code() {
        unreachable_hint(code).unwrap_or(HINT_CONNECT)
    } else if chain(error).any(|cause| cause.is::<tokio_postgres::tls::NoTlsError>()) {
        HINT_TLS
    } else {
        HINT_CONNECT
    };
    StoreError::Unreachable {
        store: store.to_owned(),
        reason: reason(error),
        hint,
    }
}

/// Maps an error of getting a connection from the pool.
fn pool_error(store: &str, error: PoolError) -> StoreError {
    let unreachable = |reason: &str, hint| StoreError::Unreachable {
        store: store.to_owned(),
        reason: reason.to_owned(),
        hint,
    };
    match error {
        PoolError::Backend(error) => connect_error(store, &error),
        PoolError::Timeout(TimeoutType::Wait) => unreachable(
            "no connection of the pool became free in time",
            HINT_POOL_BUSY,
        ),
        PoolError::Timeout(TimeoutType::Create) => {
            unreachable("connecting to the server took too long", HINT_CONNECT)
        }
        PoolError::Timeout(TimeoutType::Recycle) => {
            unreachable("checking a pooled connection took too long", HINT_CONNECT)
        }
        PoolError::Closed => unreachable("the connection pool is closed", HINT_POOL),
        PoolError::NoRuntimeSpecified => {
            unreachable("the connection pool has timeouts but no runtime", HINT_POOL)
        }
        PoolError::PostCreateHook(error) => unreachable(&error.to_string(), HINT_CONNECT),
    }
}

/// The hint for SQLSTATEs that mean the server cannot be used at all, if `code` is one.
fn unreachable_hint(code: &SqlState) -> Option<&'static str> {
    match code.code() {
        // invalid_authorization_specification, invalid_password
        "28000" | "28P01" => Some(HINT_AUTH),
        // invalid_catalog_name: no such database
        "3D000" => Some(HINT_DATABASE),
        "53300" => Some(HINT_TOO_MANY),
        // connection_exception; admin_shutdown, crash_shutdown, cannot_connect_now, ..
        code if code.starts_with("08") || code.starts_with("57P") => Some(HINT_CONNECT),
        _ => None,
    }
}

/// Whether the error comes from the socket.
fn io_error(error: &tokio_postgres::Error) -> bool {
    chain(error).any(|cause| cause.is::<std::io::Error>())
}

/// The error's causes, after it.
fn chain(
    error: &tokio_postgres::Error,
) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
    std::iter::successors(error.source(), |cause| (*cause).source())
}

/// What the server said (tokio-postgres' own message is only "db error"), or what went wrong on
/// the way to it, with its causes.
fn reason(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut reason = db.message().to_owned();
        if let Some(detail) = db.detail() {
            reason.push_str(": ");
            reason.push_str(detail);
        }
        reason.push_str(" (SQLSTATE ");
        reason.push_str(db.code().code());
        reason.push(')');
        return reason;
    }
    let mut reason = error.to_string();
    for cause in chain(error) {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
    }
    reason
}

/// `PostgreSQL at host:port/database`, from a connection string's settings.
fn describe_config(config: &tokio_postgres::Config) -> String {
    let mut hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            Host::Tcp(name) => bracket_ipv6(name),
            #[cfg(unix)]
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    if hosts.is_empty() {
        hosts = config
            .get_hostaddrs()
            .iter()
            .map(|address| bracket_ipv6(&address.to_string()))
            .collect();
    }
    let host = if hosts.is_empty() {
        "(no host)".to_owned()
    } else {
        hosts.join(",")
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    // libpq's default database is the user's name.
    let database = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("PostgreSQL at {host}:{port}/{database}")
}

/// `[::1]` for an IPv6 address, so that the port after it reads clearly.
fn bracket_ipv6(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') && !host.starts_with('/') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// The connection string with its password replaced by `***`: in a URL's user info, and in
/// `password=..` pairs (key-value form, or a URL's query).
fn redact(connection: &str) -> String {
    let mut text = connection.to_owned();
    if let Some(scheme) = text.find("://") {
        let start = scheme + 3;
        let end = text[start..]
            .find(['/', '?'])
            .map_or(text.len(), |at| start + at);
        if let Some(at) = text[start..end].rfind('@')
            && let Some(colon) = text[start..start + at].find(':')
        {
            text.replace_range(start + colon + 1..start + at, "***");
        }
    }
    let mut from = 0;
    while let Some(found) = text[from..].find("password") {
        let mut at = from + found + "password".len();
        let rest = &text[at..];
        let spaces = rest.len() - rest.trim_start().len();
        if !rest[spaces..].starts_with('=') {
            from = at;
            continue;
        }
        at += spaces + 1;
        let rest = &text[at..];
        at += rest.len() - rest.trim_start().len();
        let value = &text[at..];
        let length = if let Some(quoted) = value.strip_prefix('\'') {
            // Up to the closing quote; `\'` and `\\` are escapes.
            let mut escaped = false;
            let mut end = value.len();
            for (index, character) in quoted.char_indices() {
                match character {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '\'' => {
                        end = index + 2;
                        break;
                    }
                    _ => {}
                }
            }
            end
        } else {
            value
                .find(|character: char| character.is_whitespace() || character == '&')
                .unwrap_or(value.len())
        };
        text.replace_range(at..at + length, "***");
        from = at + 3;
    }
    text
}

/// A duration in milliseconds, for `$n::float8 * interval '1 millisecond'`.
fn millis_f64(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// A count the schema keeps as `integer`, never negative.
fn count(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    //! Against a real server: set `QBWI_TEST_DATABASE_URL` to a server whose user may create
    //! databases (each test makes its own); without it the tests that need one skip.

    use super::super::now_millis;
    use super::*;

    const LEASE: Duration = Duration::from_secs(30);

    /// A database of one test's own, dropped by [`TestDatabase::finish`].
    struct TestDatabase {
        config: tokio_postgres::Config,
        admin: tokio_postgres::Client,
        name: String,
    }

    impl TestDatabase {
        async fn create(test: &str) -> Option<TestDatabase> {
            let Ok(url) = std::env::var("QBWI_TEST_DATABASE_URL") else {
                eprintln!(
                    "QBWI_TEST_DATABASE_URL is not set: skipping (point it at a PostgreSQL server \
                     whose user may create databases)"
                );
                return None;
            };
            let config: tokio_postgres::Config =
                url.parse().expect("QBWI_TEST_DATABASE_URL parses");
            let admin = connect(&config).await;
            let name = format!("qbwi_test_{test}");
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .unwrap();
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            let mut config = config;
            config.dbname(&name);
            Some(TestDatabase {
                config,
                admin,
                name,
            })
        }

        async fn store(&self) -> PostgresStore {
            PostgresStore::connect_with(self.config.clone())
                .await
                .expect("connects")
        }

        async fn client(&self) -> tokio_postgres::Client {
            connect(&self.config).await
        }

        /// The listening connections' server process ids.
        async fn listeners(&self) -> Vec<i32> {
            self.admin
                .query(
                    "SELECT pid FROM pg_stat_activity
                      WHERE datname = $1 AND query = 'LISTEN qbwi_jobs'",
                    &[&self.name],
                )
                .await
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect()
        }

        async fn finish(self) {
            self.admin
                .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
                .await
                .unwrap();
        }
    }

    async fn connect(config: &tokio_postgres::Config) -> tokio_postgres::Client {
        let (client, connection) = config.connect(NoTls).await.expect("connects");
        tokio::spawn(connection);
        client
    }

    fn job(task: &'static str, payload: &str, run_at: Option<i64>, max_attempts: u32) -> NewJob {
        NewJob {
            task,
            payload: payload.into(),
            run_at,
            max_attempts,
        }
    }

    fn request(
        tasks: &[&'static str],
        limit: usize,
        worker: &str,
        lease: Duration,
    ) -> ClaimRequest {
        ClaimRequest {
            tasks: tasks.into(),
            limit,
            worker: worker.into(),
            lease,
        }
    }

    fn ids_of(jobs: &[ClaimedJob]) -> Vec<JobId> {
        jobs.iter().map(|job| job.id).collect()
    }

    fn payloads_of(jobs: &[ClaimedJob]) -> Vec<&str> {
        jobs.iter().map(|job| job.payload.as_str()).collect()
    }

    async fn claim(
        store: &PostgresStore,
        tasks: &[&'static str],
        worker: &str,
        lease: Duration,
    ) -> Vec<ClaimedJob> {
        store
            .claim(request(tasks, 100, worker, lease))
            .await
            .unwrap()
    }

    async fn finish(store: &PostgresStore, worker: &str, finished: Vec<Finished>) {
        store.finish(worker.into(), finished).await.unwrap();
    }

    async fn one(store: &PostgresStore, job: NewJob) -> JobId {
        store.enqueue(vec![job]).await.unwrap()[0]
    }

    #[tokio::test]
    async fn enqueue_then_claim_in_order_once_per_lease() {
        let Some(db) = TestDatabase::create("order").await else {
            return;
        };
        let store = db.store().await;
        let ids = store
            .enqueue(vec![
                job("mail", r#"{"to":1}"#, None, 3),
                job("mail", r#"{"to":2}"#, None, 3),
            ])
            .await
            .unwrap();
        assert_eq!(ids.len(), 2);
        assert!(ids[0] < ids[1]);

        let claimed = claim(&store, &["mail"], "a", LEASE).await;
        assert_eq!(ids_of(&claimed), ids);
        assert_eq!(claimed[0].payload, r#"{"to":1}"#);
        assert_eq!(claimed[0].task, "mail");
        assert_eq!((claimed[0].attempt, claimed[0].max_attempts), (1, 3));
        // Leased: nobody else gets them while the lease holds.
        assert!(claim(&store, &["mail"], "b", LEASE).await.is_empty());

        // A large batch keeps its order, and a claim takes at most its limit.
        let payloads: Vec<String> = (0..500).map(|n| n.to_string()).collect();
        let ids = store
            .enqueue(
                payloads
                    .iter()
                    .map(|payload| job("bulk", payload, None, 1))
                    .collect(),
            )
            .await
            .unwrap();
        let first = store
            .claim(request(&["bulk"], 200, "a", LEASE))
            .await
            .unwrap();
        let rest = store
            .claim(request(&["bulk"], 1000, "b", LEASE))
            .await
            .unwrap();
        assert_eq!(first.len(), 200);
        let claimed: Vec<ClaimedJob> = first.into_iter().chain(rest).collect();
        assert_eq!(ids_of(&claimed), ids);
        assert_eq!(payloads_of(&claimed), payloads);
        assert!(store.enqueue(Vec::new()).await.unwrap().is_empty());
        assert!(
            store
                .claim(request(&["bulk"], 0, "a", LEASE))
                .await
                .unwrap()
                .is_empty()
        );
        drop(store);
        db.finish().await;
    }

    #[tokio::test]
    async fn a_worker_claims_only_the_tasks_it_knows_and_only_when_due() {
        let Some(db) = TestDatabase::create("names").await else {
            return;
        };
        let store = db.store().await;
        let due_at = now_millis() + 1_500;
        store
            .enqueue(vec![
                job("mail", "1", None, 1),
                job("resize", "2", None, 1),
                job("mail", "3", Some(due_at), 1),
            ])
            .await
            .unwrap();
        let claimed = claim(&store, &["resize", "pdf"], "a", LEASE).await;
        assert_eq!(payloads_of(&claimed), ["2"]);
        let claimed = claim(&store, &["mail"], "a", LEASE).await;
        assert_eq!(payloads_of(&claimed), ["1"]);
        assert!(claim(&store, &["mail"], "a", LEASE).await.is_empty());
        assert_eq!(
            store.counts().await.unwrap(),
            JobCounts {
                ready: 0,
                scheduled: 1,
                running: 2,
                dead: 0
            }
        );

        let next = store.next_due(["mail"].into()).await.unwrap().unwrap();
        assert!(
            next > Duration::from_millis(500) && next <= Duration::from_millis(1_500),
            "{next:?}"
        );
        assert_eq!(store.next_due(["pdf"].into()).await.unwrap(), None);
        assert_eq!(store.next_due([].into()).await.unwrap(), None);

        tokio::time::sleep(next + Duration::from_millis(100)).await;
        assert_eq!(
            store.next_due(["mail"].into()).await.unwrap(),
            Some(Duration::ZERO)
        );
        assert_eq!(
            payloads_of(&claim(&store, &["mail"], "a", LEASE).await),
            ["3"]
        );
        assert!(claim(&store, &[], "a", LEASE).await.is_empty());
        drop(store);
        db.finish().await;
    }

    #[tokio::test]
    async fn an_expired_lease_lets_another_worker_claim_and_the_old_one_loses_it() {
        let Some(db) = TestDatabase::create("lease").await else {
            return;
        };
        let store = db.store().await;
        let id = one(&store, job("mail", "x", None, 5)).await;
        let short = Duration::from_millis(300);
        assert_eq!(
            claim(&store, &["mail"], "dead-worker", short).await.len(),
            1
        );
        assert!(
            claim(&store, &["mail"], "b", LEASE).await.is_empty(),
            "lease still valid"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        let reclaimed = claim(&store, &["mail"], "b", LEASE).await;
        assert_eq!((reclaimed[0].id, reclaimed[0].attempt), (id, 2));

        finish(&store, "dead-worker", vec![Finished::Completed(id)]).await;
        assert_eq!(
            store.counts().await.unwrap().running,
            1,
            "the old worker's lease is gone: its report is dropped"
        );
        finish(&store, "b", vec![Finished::Completed(id)]).await;
        assert_eq!(store.counts().await.unwrap(), JobCounts::default());
        drop(store);
        db.finish().await;
    }

    #[tokio::test]
    async fn a_heartbeat_keeps_the_lease() {
        let Some(db) = TestDatabase::create("heartbeat").await else {
            return;
        };
        let store = db.store().await;
        let id = one(&store, job("mail", "x", None, 5)).await;
        claim(&store, &["mail"], "a", Duration::from_millis(400)).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let extend = Duration::from_secs(2);
        assert!(
            store
                .heartbeat("a".into(), vec![id], extend)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store
                .heartbeat("intruder".into(), vec![id, JobId(id.0 + 1000)], extend)
                .await
                .unwrap(),
            [id, JobId(id.0 + 1000)]
        );
        assert!(
            store
                .heartbeat("a".into(), Vec::new(), extend)
                .await
                .unwrap()
                .is_empty()
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(
            claim(&store, &["mail"], "b", LEASE).await.is_empty(),
            "past the first lease, within the renewed one"
        );
        let next = store.next_due(["mail"].into()).await.unwrap().unwrap();
        assert!(next > Duration::from_secs(1) && next <= extend, "{next:?}");
        drop(store);
        db.finish().await;
    }

    #[tokio::test]
    async fn failures_retry_until_the_job_is_dead_then_it_can_be_retried_or_deleted() {
        let Some(db) = TestDatabase::create("retry").await else {
            return;
        };
        let store = db.store().await;
        let id = one(&store, job("mail", "x", None, 2)).await;
        claim(&store, &["mail"], "a", LEASE).await;
        let failed = |error: &str, retry_at| Finished::Failed {
            id,
            error: error.into(),
            retry_at,
        };
        finish(
            &store,
            "a",
            vec![failed("smtp 451", Some(now_millis() + 500))],
        )
        .await;
        assert!(
            claim(&store, &["mail"], "a", LEASE).await.is_empty(),
            "backing off"
        );
        assert_eq!(store.counts().await.unwrap().scheduled, 1);
        tokio::time::sleep(Duration::from_millis(600)).await;
        let second = claim(&store, &["mail"], "a", LEASE).await;
        assert_eq!(second[0].attempt, 2);
        finish(&store, "a", vec![failed("smtp 550", Some(now_millis()))]).await;
        // Out of attempts: dead, with the last error, whatever the retry time said.
        assert!(claim(&store, &["mail"], "a", LEASE).await.is_empty());
        let dead = store.dead_jobs(10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(
            (
                dead[0].id,
                dead[0].task.as_str(),
                dead[0].payload.as_str(),
                dead[0].attempts,
                dead[0].last_error.as_str()
            ),
            (id, "mail", "x", 2, "smtp 550")
        );
        assert_eq!(store.counts().await.unwrap().dead, 1);

        assert!(store.retry_dead(id).await.unwrap());
        assert!(!store.retry_dead(id).await.unwrap(), "no longer dead");
        assert!(store.dead_jobs(10).await.unwrap().is_empty());
        let again = claim(&store, &["mail"], "a", LEASE).await;
        assert_eq!(
            again[0].attempt, 1,
            "a retried dead job gets its attempts back"
        );
        finish(&store, "a", vec![failed("corrupt\0payload", None)]).await;
        let dead = store.dead_jobs(10).await.unwrap();
        assert_eq!(
            (dead[0].attempts, dead[0].last_error.as_str()),
            (1, "corrupt\u{fffd}payload"),
            "None: dead at once"
        );
        assert!(!store.delete_dead(JobId(id.0 + 1000)).await.unwrap());
        assert!(store.delete_dead(id).await.unwrap());
        assert!(!store.delete_dead(id).await.unwrap());
        assert!(store.dead_jobs(10).await.unwrap().is_empty());
        drop(store);
        db.finish().await;
    }

    #[tokio::test]
    async fn a_released_job_runs_again_without_losing_an_attempt() {
        let Some(db) = TestDatabase::create("release").await else {
            return;
        };
        let store = db.store().await;
        let id = one(&store, job("mail", "x", None, 1)).await;
        claim(&store, &["mail"], "a", LEASE).await;
        finish(&store, "b", vec![Finished::Released(id)]).await;
        assert_eq!(
            store.counts().await.unwrap().running,
            1,
            "only the lease holder releases"
        );
        finish(&store, "a", vec![Finished::Released(id)]).await;
        let again = claim(&store, &["mail"], "b", LEASE).await;
        assert_eq!((again[0].id, again[0].attempt), (id, 1));
        drop(store);
        db.finish().await;
    }

    #[tokio::test]
    async fn one_finish_records_every_kind_of_report_together() {
        let Some(db) = TestDatabase::create("batch").await else {
            return;
        };
        let store = db.store().await;
        let ids = store
            .enqueue((0..4).map(|_| job("mail", "x", None, 3)).collect())
            .await
            .unwrap();
        claim(&store, &["mail"], "a", LEASE).await;
        finish(
            &store,
            "a",
            vec![
                Finished::Completed(ids[0]),
                Finished::Failed {
                    id: ids[1],
                    error: "bad".into(),
                    retry_at: None,
                },
                Finished::Released(ids[2]),
                Finished::Failed {
                    id: ids[3],
                    error: "later".into(),
                    retry_at: Some(now_millis() + 60_000),
                },
            ],
        )
        .await;
        assert_eq!(
            store.counts().await.unwrap(),
            JobCounts {
                ready: 1,
                scheduled: 1,
                running: 0,
                dead: 1
            }
        );
        drop(store);
        db.finish().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn hosts_connecting_to_an_empty_database_at_the_same_moment_create_the_schema_once() {
        let Some(db) = TestDatabase::create("race").await else {
            return;
        };
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let hosts: Vec<_> = (0..8)
            .map(|n| {
                let (config, barrier) = (db.config.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    let store = PostgresStore::connect_with(config).await.unwrap();
                    store
                        .enqueue(vec![job("mail", &n.to_string(), None, 1)])
                        .await
                        .unwrap();
                })
            })
            .collect();
        for host in hosts {
            host.await.unwrap();
        }
        let client = db.client().await;
        let versions: Vec<i32> = client
            .query("SELECT version FROM qbwi_schema", &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(versions, [i32::try_from(SCHEMA_VERSION).unwrap()]);
        let store = db.store().await;
        assert_eq!(claim(&store, &["mail"], "a", LEASE).await.len(), 8);
        drop((store, client));
        db.finish().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn workers_claiming_at_once_never_get_the_same_job() {
        let Some(db) = TestDatabase::create("skip_locked").await else {
            return;
        };
        let store = Arc::new(db.store().await);
        let ids = store
            .enqueue((0..400).map(|_| job("mail", "x", None, 1)).collect())
            .await
            .unwrap();
        let workers: Vec<_> = (0..8)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let worker = format!("w{n}");
                    let mut mine = Vec::new();
                    loop {
                        let claimed = store
                            .claim(request(&["mail"], 7, &worker, LEASE))
                            .await
                            .unwrap();
                        if claimed.is_empty() {
                            return mine;
                        }
                        mine.extend(ids_of(&claimed));
                    }
                })
            })
            .collect();
        let mut claimed = Vec::new();
        for worker in workers {
            claimed.extend(worker.await.unwrap());
        }
        claimed.sort_unstable();
        assert_eq!(claimed, ids, "each job claimed exactly once");
        drop(store);
        db.finish().await;
    }

    #[tokio::test]
    async fn a_newer_schema_is_refused_with_a_clear_error() {
        let Some(db) = TestDatabase::create("newer").await else {
            return;
        };
        drop(db.store().await);
        let client = db.client().await;
        client
            .batch_execute("UPDATE qbwi_schema SET version = 99")
            .await
            .unwrap();
        let error = PostgresStore::connect_with(db.config.clone())
            .await
            .expect_err("refused");
        assert_eq!(
            error,
            StoreError::NewerSchema {
                found: 99,
                known: SCHEMA_VERSION
            }
        );
        assert!(error.to_string().contains("version 99"), "{error}");
        drop(client);
        db.finish().await;
    }

    #[tokio::test]
    async fn a_notification_wakes_the_listener_and_is_kept_until_someone_waits() {
        let Some(db) = TestDatabase::create("notify").await else {
            return;
        };
        let store = db.store().await;
        let other = db.store().await;
        let within = Duration::from_secs(5);
        // The first call starts the listener; it resolves once listening (jobs may have been
        // added before).
        tokio::time::timeout(within, store.notified())
            .await
            .expect("resolves once listening");
        assert_eq!(db.listeners().await.len(), 1);
        assert!(
            tokio::time::timeout(Duration::from_millis(300), store.notified())
                .await
                .is_err(),
            "nothing happened since"
        );

        // Someone waiting is woken by another process's enqueue.
        let (woken, ()) = tokio::join!(tokio::time::timeout(within, store.notified()), async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            one(&other, job("mail", "x", None, 1)).await;
        });
        woken.expect("woken by the NOTIFY");

        // A notification that arrives while nobody waits resolves the next call at once.
        one(&other, job("mail", "y", None, 1)).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        tokio::time::timeout(Duration::from_millis(50), store.notified())
            .await
            .expect("kept");

        // So do retried dead jobs and released ones.
        let id = one(&other, job("mail", "z", None, 1)).await;
        tokio::time::timeout(within, store.notified())
            .await
            .expect("kept");
        claim(&other, &["mail"], "a", LEASE).await;
        finish(
            &other,
            "a",
            vec![Finished::Failed {
                id,
                error: "x".into(),
                retry_at: None,
            }],
        )
        .await;
        let (woken, ()) = tokio::join!(tokio::time::timeout(within, store.notified()), async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert!(other.retry_dead(id).await.unwrap());
        });
        woken.expect("woken by the retry");
        claim(&other, &["mail"], "a", LEASE).await;
        let (woken, ()) = tokio::join!(tokio::time::timeout(within, store.notified()), async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            finish(&other, "a", vec![Finished::Released(id)]).await;
        });
        woken.expect("woken by the release");

        // Dropping the store closes its listening connection.
        drop(store);
        let deadline = tokio::time::Instant::now() + within;
        while !db.listeners().await.is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the listener outlived its store"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(other);
        db.finish().await;
    }

    #[tokio::test]
    async fn the_listener_reconnects_after_losing_its_connection() {
        let Some(db) = TestDatabase::create("reconnect").await else {
            return;
        };
        let store = db.store().await;
        let other = db.store().await;
        let within = Duration::from_secs(5);
        tokio::time::timeout(within, store.notified())
            .await
            .expect("listening");
        let [pid] = db.listeners().await[..] else {
            panic!("one listener")
        };
        db.admin
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .unwrap();
        // After reconnecting it wakes the worker once: jobs may have been added meanwhile.
        tokio::time::timeout(within, store.notified())
            .await
            .expect("resolves after reconnecting");
        let listeners = db.listeners().await;
        assert_eq!(listeners.len(), 1);
        assert_ne!(listeners[0], pid, "a new connection");
        let (woken, ()) = tokio::join!(tokio::time::timeout(within, store.notified()), async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            one(&other, job("mail", "x", None, 1)).await;
        });
        woken.expect("listening again");
        drop((store, other));
        db.finish().await;
    }

    #[tokio::test]
    async fn jobs_enqueued_in_a_callers_transaction_exist_only_if_it_commits() {
        let Some(db) = TestDatabase::create("enqueue_in").await else {
            return;
        };
        let mut client = db.client().await;
        // Before any store created the schema: a clear error.
        let error = client
            .__insert(job("mail", "x", None, 1))
            .await
            .expect_err("no schema yet");
        assert!(
            error.to_string().contains("the qbwi schema is missing"),
            "{error}"
        );

        let store = db.store().await;
        let transaction = client.transaction().await.unwrap();
        transaction
            .__insert(job("mail", "rolled back", None, 1))
            .await
            .unwrap();
        transaction.rollback().await.unwrap();
        assert_eq!(store.counts().await.unwrap(), JobCounts::default());

        let transaction = client.transaction().await.unwrap();
        let committed = transaction
            .__insert(job("mail", "committed", None, 1))
            .await
            .unwrap();
        transaction.commit().await.unwrap();
        let plain = client
            .__insert(job("mail", "plain", None, 1))
            .await
            .unwrap();

        // Through deadpool-postgres' pooled client and transaction too.
        let mut pooled = store.pool.get().await.unwrap();
        let from_pool = pooled
            .__insert(job("mail", "pooled", None, 1))
            .await
            .unwrap();
        let transaction = pooled.transaction().await.unwrap();
        let from_pool_transaction = transaction
            .__insert(job("mail", "pooled transaction", None, 1))
            .await
            .unwrap();
        transaction.commit().await.unwrap();
        drop(pooled);

        let claimed = claim(&store, &["mail"], "a", LEASE).await;
        assert_eq!(
            ids_of(&claimed),
            [committed, plain, from_pool, from_pool_transaction]
        );
        assert_eq!(
            payloads_of(&claimed),
            ["committed", "plain", "pooled", "pooled transaction"]
        );
        drop((store, client));
        db.finish().await;
    }

    #[tokio::test]
    async fn a_callers_pool_works_without_a_listener() {
        let Some(db) = TestDatabase::create("pool").await else {
            return;
        };
        let pool = Pool::builder(Manager::new(db.config.clone(), NoTls))
            .max_size(2)
            .build()
            .unwrap();
        let store = PostgresStore::connect(pool.into()).await.unwrap();
        let port = db.config.get_ports().first().copied().unwrap_or(5432);
        assert_eq!(
            store.describe(),
            format!("PostgreSQL at 127.0.0.1:{port}/qbwi_test_pool")
        );
        let id = one(&store, job("mail", "x", None, 1)).await;
        assert_eq!(ids_of(&claim(&store, &["mail"], "a", LEASE).await), [id]);
        assert!(
            tokio::time::timeout(Duration::from_millis(300), store.notified())
                .await
                .is_err(),
            "no listener: workers poll"
        );
        assert!(db.listeners().await.is_empty());
        drop(store);
        db.finish().await;
    }

    #[tokio::test]
    async fn a_read_only_database_is_reported_as_read_only() {
        let Some(db) = TestDatabase::create("read_only").await else {
            return;
        };
        drop(db.store().await);
        db.admin
            .batch_execute(&format!(
                "ALTER DATABASE {} SET default_transaction_read_only = on",
                db.name
            ))
            .await
            .unwrap();
        // A migrated database opens read-only; writing is refused.
        let store = db.store().await;
        assert_eq!(store.counts().await.unwrap(), JobCounts::default());
        let error = store
            .enqueue(vec![job("mail", "x", None, 1)])
            .await
            .expect_err("refused");
        assert!(matches!(error, StoreError::ReadOnly { .. }), "{error:?}");
        drop(store);
        db.finish().await;
    }

    #[tokio::test]
    async fn a_missing_database_is_unreachable_with_a_hint() {
        let Some(db) = TestDatabase::create("missing").await else {
            return;
        };
        let mut config = db.config.clone();
        config.dbname("qbwi_no_such_database");
        let error = PostgresStore::connect_with(config)
            .await
            .expect_err("refused");
        let StoreError::Unreachable {
            store,
            reason,
            hint,
        } = &error
        else {
            panic!("{error:?}")
        };
        assert!(store.ends_with("/qbwi_no_such_database"), "{store}");
        assert!(reason.contains("does not exist"), "{reason}");
        assert_eq!(*hint, HINT_DATABASE);
        db.finish().await;
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_clear_error_without_the_password() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("postgres://qbwi:secret-word@127.0.0.1:{port}/jobs");
        let started = std::time::Instant::now();
        let error = PostgresStore::connect(url.as_str().into())
            .await
            .expect_err("refused");
        assert!(started.elapsed() < Duration::from_secs(20));
        let StoreError::Unreachable { store, hint, .. } = &error else {
            panic!("{error:?}")
        };
        assert_eq!(store, &format!("PostgreSQL at 127.0.0.1:{port}/jobs"));
        assert_eq!(*hint, HINT_CONNECT);
        let text = error.to_string();
        assert!(
            text.contains("check that the server is running") && !text.contains("secret-word"),
            "{text}"
        );

        let error = PostgresStore::connect("postgres://qbwi:secret-word@host:port/jobs".into())
            .await
            .expect_err("refused");
        assert!(
            matches!(error, StoreError::Unreachable { hint, .. } if hint == HINT_URL),
            "{error:?}"
        );
        assert!(!error.to_string().contains("secret-word"), "{error}");

        let error = PostgresStore::connect(
            format!("postgres://qbwi@127.0.0.1:{port}/jobs?sslmode=require").into(),
        )
        .await
        .expect_err("refused");
        assert!(
            matches!(error, StoreError::Unreachable { hint, .. } if hint == HINT_TLS),
            "{error:?}"
        );
    }

    #[test]
    fn configs_print_without_their_password() {
        for (url, printed) in [
            (
                "postgres://app:s3cret@db:5432/jobs",
                "postgres://app:***@db:5432/jobs",
            ),
            (
                "postgresql://app:p@ss:w@rd@db/jobs?sslmode=disable",
                "postgresql://app:***@db/jobs?sslmode=disable",
            ),
            ("postgres://app@db/jobs", "postgres://app@db/jobs"),
            (
                "postgres://db/jobs?user=app&password=s3cret&x=1",
                "postgres://db/jobs?user=app&password=***&x=1",
            ),
            (
                "host=db user=app password=s3cret dbname=jobs",
                "host=db user=app password=*** dbname=jobs",
            ),
            (
                "host=db password = 'it\\'s secret' dbname=jobs",
                "host=db password = *** dbname=jobs",
            ),
        ] {
            assert_eq!(redact(url), printed, "{url}");
            let debug = format!("{:?}", PostgresConfig::from(url));
            assert!(
                !debug.contains("s3cret") && !debug.contains("secret"),
                "{debug}"
            );
        }
    }

    #[test]
    fn descriptions_name_the_host_port_and_database() {
        let describe = |url: &str| describe_config(&url.parse().unwrap());
        assert_eq!(
            describe("postgres://app:pw@db.internal:6543/jobs"),
            "PostgreSQL at db.internal:6543/jobs"
        );
        assert_eq!(
            describe("postgres://app@[::1]/jobs"),
            "PostgreSQL at [::1]:5432/jobs"
        );
        assert_eq!(
            describe("host=/run/postgresql user=app"),
            "PostgreSQL at /run/postgresql:5432/app"
        );
    }
}
