//! The schema and its migrations, versioned with `PRAGMA user_version` and applied under SQLite's
//! write lock, so hosts that open a new file at once create it once.

use rusqlite::{Connection, TransactionBehavior};

use super::errors::{DbError, DbResult};

/// The schema migrations, in order: `PRAGMA user_version` counts how many have run.
pub(super) const MIGRATIONS: [&str; 5] = [
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
    // 2: history and operations. Finished jobs stay (`completed`, `cancelled`) with their times;
    // a running job can be asked to stop; tasks can be paused; hosts register as nodes; runs
    // that ended are counted by minute. SQLite cannot change a CHECK constraint, so the jobs
    // table is made anew and its rows copied, ids and the id sequence kept (a new job must not
    // take the id of one deleted before the migration).
    "CREATE TABLE qbwi_jobs_v2 (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        task             TEXT    NOT NULL,
        payload          TEXT    NOT NULL,
        state            TEXT    NOT NULL
                         CHECK (state IN ('ready', 'running', 'dead', 'completed', 'cancelled')),
        attempts         INTEGER NOT NULL DEFAULT 0,
        max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
        run_at           INTEGER NOT NULL,
        lease_until      INTEGER,
        worker           TEXT,
        last_error       TEXT,
        created_at       INTEGER NOT NULL -- ms since the epoch, for rows another program adds
                         DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
        started_at       INTEGER,
        finished_at      INTEGER,
        cancel_requested INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO qbwi_jobs_v2 (id, task, payload, state, attempts, max_attempts, run_at,
                              lease_until, worker, last_error, created_at)
         SELECT id, task, payload, state, attempts, max_attempts, run_at, lease_until, worker,
                last_error, run_at
           FROM qbwi_jobs;
    INSERT INTO sqlite_sequence (name, seq)
         SELECT 'qbwi_jobs_v2', 0
          WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'qbwi_jobs_v2');
    UPDATE sqlite_sequence
       SET seq = max(seq, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'qbwi_jobs'), 0))
     WHERE name = 'qbwi_jobs_v2';
    DROP TABLE qbwi_jobs;
    ALTER TABLE qbwi_jobs_v2 RENAME TO qbwi_jobs;
    CREATE INDEX qbwi_jobs_due ON qbwi_jobs (state, run_at, id);
    CREATE INDEX qbwi_jobs_state ON qbwi_jobs (state, id);
    CREATE INDEX qbwi_jobs_task ON qbwi_jobs (task, id);
    CREATE TABLE qbwi_paused (
        task      TEXT    PRIMARY KEY,
        paused_at INTEGER NOT NULL
    );
    CREATE TABLE qbwi_nodes (
        id           TEXT    PRIMARY KEY,
        hostname     TEXT    NOT NULL,
        pid          INTEGER NOT NULL,
        started_at   INTEGER NOT NULL,
        heartbeat_at INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        tasks        TEXT    NOT NULL, -- a JSON array of names
        running      INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE qbwi_minutes (
        minute    INTEGER NOT NULL, -- its start, in ms since the epoch
        task      TEXT    NOT NULL,
        node      TEXT    NOT NULL, -- a row per node: hosts never wait for each other's counts
        completed INTEGER NOT NULL DEFAULT 0,
        failed    INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (minute, task, node)
    ) WITHOUT ROWID;",
    // 3: the due index holds the live jobs only, as two partial indexes: the ready ones by run
    // time, the running ones by lease expiry. The finished jobs kept for the retention no longer
    // weigh on it (a completion took an entry out and put one in; now it only takes one out), and
    // the claim finds expired leases without reading every running row.
    "DROP INDEX qbwi_jobs_due;
    CREATE INDEX qbwi_jobs_ready ON qbwi_jobs (run_at, id) WHERE state = 'ready';
    CREATE INDEX qbwi_jobs_leased ON qbwi_jobs (lease_until) WHERE state = 'running';",
    // 4: schedules. A row per scheduled durable task, holding the last tick any node fired: a
    // node fires a tick by moving it forward, in the transaction that adds the tick's job.
    "CREATE TABLE qbwi_schedules (
        name       TEXT    PRIMARY KEY,
        expression TEXT    NOT NULL,
        timezone   TEXT    NOT NULL,
        last_tick  INTEGER NOT NULL, -- ms since the epoch
        fired_at   INTEGER NOT NULL  -- when a node fired it, by that node's clock
    );",
    // 5: unique jobs. A unique task's job holds its key while it is live (and until
    // `unique_until` with `unique_for`), enforced by a unique index; a job enqueued behind a
    // running one of its key (`on_conflict = \"replace\"`) waits for it (`blocked_by`).
    "ALTER TABLE qbwi_jobs ADD COLUMN unique_key TEXT;
    ALTER TABLE qbwi_jobs ADD COLUMN unique_until INTEGER;
    ALTER TABLE qbwi_jobs ADD COLUMN blocked_by INTEGER;
    CREATE UNIQUE INDEX qbwi_jobs_unique ON qbwi_jobs (unique_key) WHERE unique_key IS NOT NULL;",
];

/// The schema version this code writes and reads.
pub(super) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

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
