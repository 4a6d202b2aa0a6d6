//! The PostgreSQL store: one database shared by many hosts.
//!
//! - **Claiming** is one statement: a `SELECT .. FOR UPDATE SKIP LOCKED` picks the due rows and an
//!   `UPDATE` leases them. Workers on different hosts never wait for each other's rows, and a row
//!   goes to one worker at a time.
//! - **Only enqueues wait for the disk.** An enqueue's commit waits for its WAL flush (the server's
//!   `synchronous_commit`, on as users run it). Claims and runs' ends commit with
//!   `synchronous_commit` off for their own transaction: a crash of the server can lose their
//!   last moments, which makes those jobs run again, never loses one.
//!   A job the enqueueing host can run at once is inserted already claimed by it, in the same
//!   statement.
//! - **Time is the server's.** Every due time and lease is compared with `now()` inside the query,
//!   and leases are written as `now() + lease`, so hosts whose clocks disagree still agree on when
//!   a lease has expired. Only the times a host computes itself (a delayed job's `run_at`, a
//!   retry's backoff) come from its clock, as milliseconds since the epoch.
//! - **Wake-ups**: adding jobs sends `NOTIFY qbwi_jobs` in the same transaction (PostgreSQL
//!   delivers it at commit), saying which store sent it: a store's listener leaves its own out,
//!   since the store wakes its process's workers itself. A store whose worker waits for jobs
//!   opens one connection of its own, outside the pool, that `LISTEN`s and turns notifications into
//!   [`Backend::notified`](super::Backend::notified) wake-ups; it reconnects with backoff if the
//!   connection drops, and stops when the store is dropped.
//!   Without it (a caller's pool: see [`PostgresConfig::Pool`]), workers poll.
//! - **Schema**: created and migrated by qbwi, versioned in `qbwi_schema`, in one transaction that
//!   first takes a transaction-level advisory lock. Hosts that start at the same moment against an
//!   empty database create the schema once: the others wait on the lock, then find it done.
//!
//! This module connects and holds the pool. The rest, one idea each: [`config`] (what
//! `Store::postgres` accepts, and how a server is named in messages), [`schema`] (the
//! migrations), [`jobs`] (the statements behind each [`Backend`](super::Backend) method),
//! [`rows`] (reading each returned row on its own, so one that cannot be read never fails the
//! rest), [`listener`] (the wake-ups), [`enqueue_in`] (jobs added in the caller's transaction) and
//! [`errors`] (what each failure is called, with what to check). Its `tests` run against a
//! throwaway server (see `tests/mod.rs`).

mod admin;
mod config;
mod enqueue_in;
mod errors;
mod jobs;
mod listener;
mod rows;
mod schema;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

use deadpool_postgres::{Manager, Object, Pool, PoolError, Runtime, TimeoutType};
use tokio_postgres::config::SslMode;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row, Statement};

use super::{Store, StoreError};
use config::{bracket_ipv6, describe_config};
use errors::{HINT_CONNECT, HINT_TLS, HINT_URL, pool_error, reason, store_error};
use listener::{Listener, listen_config};
use schema::migrate;

pub use config::PostgresConfig;

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

/// The PostgreSQL [`Backend`](super::Backend): a connection pool, and the listener that wakes idle
/// workers.
pub(crate) struct PostgresStore {
    pool: Pool,
    /// `PostgreSQL at host:port/database`, for messages; never the password.
    describe: String,
    listener: Listener,
    /// What this store's inserts notify with: its listener leaves those out, since the store wakes
    /// its process's workers itself, without the round trip.
    origin: std::sync::Arc<str>,
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
        let origin = origin();
        Ok(PostgresStore {
            pool,
            describe,
            listener: Listener::new(Some(listen_config(config)), origin.clone()),
            origin,
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
        let origin = origin();
        Ok(PostgresStore {
            pool,
            describe,
            listener: Listener::new(None, origin.clone()),
            origin,
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

    /// A pooled connection and `sql` prepared on it (once per connection).
    async fn prepared(&self, sql: &str) -> Result<(Object, Statement), StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(sql)
            .await
            .map_err(|error| self.error(&error))?;
        Ok((client, statement))
    }

    /// Runs one statement and returns its rows.
    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let (client, statement) = self.prepared(sql).await?;
        client
            .query(&statement, params)
            .await
            .map_err(|error| self.error(&error))
    }

    /// Runs one statement and returns how many rows it changed.
    async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let (client, statement) = self.prepared(sql).await?;
        client
            .execute(&statement, params)
            .await
            .map_err(|error| self.error(&error))
    }
}

/// A store's origin, unique among the stores of every process: the process id and a random number.
fn origin() -> std::sync::Arc<str> {
    let random = (crate::durable::random_fraction() * (1u64 << 52) as f64) as u64;
    format!("{}:{random:013x}", std::process::id()).into()
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("describe", &self.describe)
            .finish_non_exhaustive()
    }
}
