//! The schema: created and migrated by qbwi, versioned in `qbwi_schema`, in one transaction that
//! first takes a transaction-level advisory lock, so that hosts starting at the same moment against
//! an empty database create it once.

use deadpool_postgres::Object;

use super::StoreError;
use super::errors::store_error;

/// The schema migrations, in order: `qbwi_schema.version` counts how many have run.
const MIGRATIONS: [&str; 4] = [
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
    // 2: history and operations. Finished jobs stay (`completed`, `cancelled`) with their times;
    // a running job can be asked to stop; tasks can be paused; hosts register as nodes; runs
    // that ended are counted by minute. Listings walk the partial indexes by id (newest first),
    // and so does the pruning of finished jobs (oldest first).
    "ALTER TABLE qbwi_jobs DROP CONSTRAINT qbwi_jobs_state_check;
    ALTER TABLE qbwi_jobs ADD CONSTRAINT qbwi_jobs_state_check
        CHECK (state IN ('ready', 'running', 'dead', 'completed', 'cancelled'));
    ALTER TABLE qbwi_jobs
        ADD COLUMN started_at       timestamptz,
        ADD COLUMN finished_at      timestamptz,
        ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false;
    CREATE INDEX qbwi_jobs_live ON qbwi_jobs (id) WHERE state IN ('ready', 'running');
    CREATE INDEX qbwi_jobs_completed ON qbwi_jobs (id) WHERE state = 'completed';
    CREATE INDEX qbwi_jobs_cancelled ON qbwi_jobs (id) WHERE state = 'cancelled';
    CREATE INDEX qbwi_jobs_task ON qbwi_jobs (task, id);
    CREATE TABLE qbwi_paused (
        task      text        PRIMARY KEY,
        paused_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE qbwi_nodes (
        id           text        PRIMARY KEY,
        hostname     text        NOT NULL,
        pid          bigint      NOT NULL,
        started_at   timestamptz NOT NULL,
        heartbeat_at timestamptz NOT NULL,
        expires_at   timestamptz NOT NULL,
        tasks        text[]      NOT NULL,
        running      bigint      NOT NULL DEFAULT 0
    );
    CREATE TABLE qbwi_minutes (
        minute    timestamptz NOT NULL,
        task      text        NOT NULL,
        node      text        NOT NULL, -- a row per node: hosts never wait on each other's counts
        completed bigint      NOT NULL DEFAULT 0,
        failed    bigint      NOT NULL DEFAULT 0,
        PRIMARY KEY (minute, task, node)
    );",
    // 3: schedules. A row per scheduled durable task, holding the last tick any node fired: a
    // node fires a tick by moving it forward, in the transaction that adds the tick's job (a
    // second node's update waits for the first's commit, then finds the tick taken).
    "CREATE TABLE qbwi_schedules (
        name       text        PRIMARY KEY,
        expression text        NOT NULL,
        timezone   text        NOT NULL,
        last_tick  bigint      NOT NULL, -- ms since the epoch
        fired_at   timestamptz NOT NULL DEFAULT now()
    );",
    // 4: unique jobs. A unique task's job holds its key while it is live (and until
    // `unique_until` with `unique_for`), enforced by a unique index; a job enqueued behind a
    // running one of its key (`on_conflict = \"replace\"`) waits for it (`blocked_by`).
    "ALTER TABLE qbwi_jobs
        ADD COLUMN unique_key   text,
        ADD COLUMN unique_until timestamptz,
        ADD COLUMN blocked_by   bigint;
    CREATE UNIQUE INDEX qbwi_jobs_unique ON qbwi_jobs (unique_key) WHERE unique_key IS NOT NULL;",
];

/// The schema version this code writes and reads.
pub(super) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The advisory lock that serializes migrations: "qbwi.sch" as a big-endian 64-bit number.
const MIGRATION_LOCK: i64 = i64::from_be_bytes(*b"qbwi.sch");

/// Brings the schema up to date under the migration lock (held until the transaction ends).
pub(super) async fn migrate(client: &mut Object, store: &str) -> Result<(), StoreError> {
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
