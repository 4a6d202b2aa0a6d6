//! The SQLite store: one file, WAL journal, schema versioned with `PRAGMA user_version`.
//!
//! Every operation runs on one connection, owned by a thread of the store's own that takes the
//! operations from a channel (rusqlite is synchronous; a trip through tokio's blocking pool per
//! operation cost a single enqueue 40 % of its rate) and commits the operations it finds waiting
//! together, each all or nothing in a savepoint of its own ([`thread`]). Opening migrates inside
//! `BEGIN IMMEDIATE`, which takes SQLite's write lock first, so hosts that start at the same moment against a new file create the schema exactly once (the
//! others wait up to the busy timeout, then see it done). SQLite has no notifications between
//! processes: jobs added by another process are found by the host's poll.
//!
//! This module opens the file and holds the connection. The rest, one idea each, in the files the
//! PostgreSQL store has for the same concerns: [`path`] (which names keep a file, as `config` is
//! for PostgreSQL), [`schema`] (the migrations), [`jobs`] (the statements behind each
//! [`Backend`](super::Backend) method), [`rows`] (how a column of a row reads) and [`errors`]
//! (what each failure is called, with what to check). Its `tests` run the conformance suite and
//! what is SQLite's own.

mod admin;
mod errors;
mod jobs;
mod path;
mod rows;
mod schema;
#[cfg(test)]
mod tests;
mod thread;

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode};

use super::{BoxFuture, StoreError};
use errors::{DbError, DbResult, open_error};
use schema::migrate;

/// How long an operation waits for another connection's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The SQLite backend: the connection, owned by a thread of its own that runs the operations sent
/// to it and commits those it finds waiting together ([`thread`]).
pub(crate) struct SqliteStore {
    describe: String,
    /// The connection thread's queue: it ends when the store (every clone of its sender) is gone.
    sender: std::sync::mpsc::Sender<Box<dyn thread::Operation>>,
}

/// The connection, inside the transaction of the batch being run: what the operations' statements
/// (in [`jobs`] and [`admin`]) run on.
struct Db<'c> {
    connection: &'c Connection,
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
        let connection = Db::open(path).map_err(|error| open_error(&describe, error))?;
        let sender =
            thread::spawn(connection, describe.clone()).map_err(|error| StoreError::Database {
                store: describe.clone(),
                reason: format!("cannot start the connection's thread: {error}"),
            })?;
        Ok(SqliteStore { describe, sender })
    }

    /// Runs `operation`, which only reads, on the connection's thread.
    fn read<T: Send + 'static>(
        &self,
        operation: impl FnOnce(&Db<'_>) -> DbResult<T> + Send + 'static,
    ) -> BoxFuture<'_, Result<T, StoreError>> {
        self.run(false, operation)
    }

    /// Runs `operation`, which writes, on the connection's thread.
    fn write<T: Send + 'static>(
        &self,
        operation: impl FnOnce(&Db<'_>) -> DbResult<T> + Send + 'static,
    ) -> BoxFuture<'_, Result<T, StoreError>> {
        self.run(true, operation)
    }

    /// Runs `operation` on the connection's thread: a channel send and a reply, once the batch it
    /// ran in has committed. A panic in it is the caller's.
    fn run<T: Send + 'static>(
        &self,
        writes: bool,
        operation: impl FnOnce(&Db<'_>) -> DbResult<T> + Send + 'static,
    ) -> BoxFuture<'_, Result<T, StoreError>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let sent = self
            .sender
            .send(Box::new(thread::Call::new(writes, operation, reply)));
        let describe = &self.describe;
        Box::pin(async move {
            let gone = || StoreError::Database {
                store: describe.clone(),
                reason: "the store's connection thread has stopped".to_owned(),
            };
            if sent.is_err() {
                return Err(gone());
            }
            match answer.await {
                Ok(Ok(result)) => result,
                Ok(Err(panic)) => std::panic::resume_unwind(panic),
                Err(_) => Err(gone()),
            }
        })
    }
}

impl Db<'_> {
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
        // Up to 64 MiB of pages in memory (SQLite's default is 2 MiB, taken as needed either way):
        // with the history kept, the jobs of the last day outgrow 2 MiB in seconds, and every
        // claim and completion then reads its pages back from the OS.
        connection.pragma_update(None, "cache_size", -65_536)?;
        // Every statement a host runs stays compiled: the claims (one per task with a
        // `concurrency`, and one for the rest), their next-due reads, the reports, the batches'
        // savepoints, the operator's pages. rusqlite keeps 16 by default, and a worker with a few
        // limited tasks compiled its claims again and again.
        connection.set_prepared_statement_cache_capacity(128);
        migrate(&mut connection)?;
        Ok(connection)
    }

    /// The connection, in the batch's transaction.
    fn connection(&self) -> &Connection {
        self.connection
    }
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}
