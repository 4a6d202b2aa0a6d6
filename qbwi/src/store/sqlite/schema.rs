//! The schema and its migrations, versioned with `PRAGMA user_version` and applied under SQLite's
//! write lock, so hosts that open a new file at once create it once.

use rusqlite::{Connection, TransactionBehavior};

use super::errors::{DbError, DbResult};

/// The schema version this code writes and reads.
pub(super) const SCHEMA_VERSION: i64 = 1;

const MIGRATIONS: [&str; 1] = [
    // 1: jobs, with the index the claim query walks. AUTOINCREMENT: completed jobs are deleted,
    // and a new job must not take the id of one that just finished.
    "CREATE TABLE qbwi_jobs (
        id           INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: ids outlive jobs in logs
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

/// Applies the migrations the file has not seen, under SQLite's write lock.
pub(super) fn migrate(connection: &mut Connection) -> DbResult<()> {
    // Up to date: nothing to write (so a read-only store opens, and refuses writes when they come).
    let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = transaction.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(DbError::NewerSchema { found: version });
    }
    for migration in &MIGRATIONS[version as usize..] {
        transaction.execute_batch(migration)?;
    }
    transaction.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    transaction.commit()?;
    Ok(())
}
