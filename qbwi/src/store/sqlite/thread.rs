//! The connection's thread: it owns the connection and runs the operations sent to it, and commits
//! what it finds waiting together (group commit).
//!
//! Each operation still gets the all-or-nothing of a transaction of its own: it runs inside a
//! savepoint of the batch's transaction, rolled back alone if it fails. Its caller hears back only
//! once the batch has committed, so an answer still means "stored". A batch with a write in it
//! takes SQLite's write lock first (`BEGIN IMMEDIATE`), as a claim always has: two processes never
//! lease one row, and a batch never has to upgrade a read lock another writer blocks.
//!
//! Why: with WAL and `synchronous=NORMAL` a commit waits for no disk, but it still writes every
//! page the transaction changed to the WAL, takes and drops the WAL's locks (`fcntl`), and now and
//! then checkpoints. A host's enqueue, the claim that follows it and the run's completion touch the
//! same few pages (the table's last leaf, the indexes' last leaves): committed together they write
//! those pages once instead of once each.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender};
use std::thread;

use rusqlite::Connection;

use super::Db;
use super::errors::{DbResult, store_error};
use crate::store::StoreError;

/// At most this many operations share one commit: enough that a burst of callers shares a
/// handful of commits, few enough that none waits long behind the others.
const MOST_PER_COMMIT: usize = 256;

/// What a caller hears back: the operation's result, or its panic (resumed in the caller).
pub(super) type Answer<T> = thread::Result<Result<T, StoreError>>;

/// One operation for the connection's thread.
pub(super) trait Operation: Send {
    /// Whether it may write (then its batch takes the write lock first).
    fn writes(&self) -> bool;
    /// Runs it; `false` if it failed or panicked (its changes are then rolled back).
    fn run(&mut self, db: &Db<'_>) -> bool;
    /// Answers the caller once the batch is over: `stored` is the commit's result (an error also
    /// when the operation never ran).
    fn answer(self: Box<Self>, describe: &str, stored: Result<(), &StoreError>);
}

/// An operation made of a closure, its result kept until the batch commits.
pub(super) struct Call<F, T> {
    writes: bool,
    work: Option<F>,
    done: Option<thread::Result<DbResult<T>>>,
    reply: tokio::sync::oneshot::Sender<Answer<T>>,
}

impl<F, T> Call<F, T> {
    pub(super) fn new(
        writes: bool,
        work: F,
        reply: tokio::sync::oneshot::Sender<Answer<T>>,
    ) -> Self {
        Call {
            writes,
            work: Some(work),
            done: None,
            reply,
        }
    }
}

impl<F, T> Operation for Call<F, T>
where
    F: FnOnce(&Db<'_>) -> DbResult<T> + Send,
    T: Send,
{
    fn writes(&self) -> bool {
        self.writes
    }

    fn run(&mut self, db: &Db<'_>) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let done = catch_unwind(AssertUnwindSafe(|| work(db)));
        let succeeded = matches!(done, Ok(Ok(_)));
        self.done = Some(done);
        succeeded
    }

    fn answer(self: Box<Self>, describe: &str, stored: Result<(), &StoreError>) {
        let answer = match (self.done, stored) {
            (Some(Err(panic)), _) => Err(panic),
            (Some(Ok(Err(error))), _) => Ok(Err(store_error(describe, error))),
            (Some(Ok(Ok(value))), Ok(())) => Ok(Ok(value)),
            (_, Err(error)) => Ok(Err(error.clone())),
            (None, Ok(())) => Ok(Err(StoreError::Database {
                store: describe.to_owned(),
                reason: "the operation was not run".to_owned(),
            })),
        };
        let _ = self.reply.send(answer); // the caller may have given up
    }
}

/// Starts the thread that owns `connection`; it ends when every sender is gone.
pub(super) fn spawn(
    connection: Connection,
    describe: String,
) -> std::io::Result<Sender<Box<dyn Operation>>> {
    let (sender, receiver) = std::sync::mpsc::channel::<Box<dyn Operation>>();
    thread::Builder::new()
        .name("qbwi-sqlite".to_owned())
        .spawn(move || serve(&connection, &receiver, &describe))?;
    Ok(sender)
}

/// Takes every operation waiting, runs them in one transaction, answers them; again.
fn serve(connection: &Connection, receiver: &Receiver<Box<dyn Operation>>, describe: &str) {
    let db = Db { connection };
    let mut batch: Vec<Box<dyn Operation>> = Vec::new();
    while let Ok(first) = receiver.recv() {
        batch.push(first);
        while batch.len() < MOST_PER_COMMIT {
            match receiver.try_recv() {
                Ok(operation) => batch.push(operation),
                Err(_) => break,
            }
        }
        run_batch(&db, &mut batch, describe);
    }
}

/// Runs `batch` in one transaction, each operation in a savepoint of its own when there are
/// several, then answers each with the commit's result.
fn run_batch(db: &Db<'_>, batch: &mut Vec<Box<dyn Operation>>, describe: &str) {
    let connection = db.connection;
    let writes = batch.iter().any(|operation| operation.writes());
    let begin = if writes { "BEGIN IMMEDIATE" } else { "BEGIN" };
    let stored = match connection
        .prepare_cached(begin)
        .and_then(|mut begin| begin.execute([]))
    {
        Ok(_) => run_in_transaction(db, batch),
        Err(error) => Err(error),
    }
    .map_err(|error| store_error(describe, error.into()));
    if stored.is_err() && !connection.is_autocommit() {
        let _ = connection.execute_batch("ROLLBACK");
    }
    for operation in batch.drain(..) {
        operation.answer(describe, stored.as_ref().map(|_| ()));
    }
}

/// The inside of [`run_batch`]'s transaction, committed at the end. An operation that fails is
/// rolled back on its own; an error that ends the transaction (SQLite rolls some back by itself:
/// a full disk, an I/O error) fails the whole batch.
fn run_in_transaction(db: &Db<'_>, batch: &mut [Box<dyn Operation>]) -> rusqlite::Result<()> {
    let connection = db.connection;
    if let [operation] = batch {
        // Alone: its transaction is the batch's.
        if !operation.run(db) {
            if !connection.is_autocommit() {
                connection.prepare_cached("ROLLBACK")?.execute([])?;
            }
            return Ok(());
        }
    } else {
        for operation in batch.iter_mut() {
            connection
                .prepare_cached("SAVEPOINT qbwi_operation")?
                .execute([])?;
            if !operation.run(db) {
                if connection.is_autocommit() {
                    return Err(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                        Some("an operation's error rolled the whole transaction back".to_owned()),
                    ));
                }
                connection
                    .prepare_cached("ROLLBACK TO qbwi_operation")?
                    .execute([])?;
            }
            connection
                .prepare_cached("RELEASE qbwi_operation")?
                .execute([])?;
        }
    }
    if !connection.is_autocommit() {
        connection.prepare_cached("COMMIT")?.execute([])?;
    }
    Ok(())
}
