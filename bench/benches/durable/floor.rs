//! The floor: what the store itself does with the same jobs, inserted raw, so that every row can
//! say how far qbwi is from it. One single-row insert per job, each its own commit, on the settings
//! qbwi uses (SQLite: WAL, `synchronous=NORMAL`; PostgreSQL: the server's own, `fsync` on unless
//! the run says `fsync-off`), into a table shaped like qbwi's (an id, the task, the payload, the run
//! time). Nothing runs the jobs: the floor's time is the enqueue alone.
//!
//! - single: one producer, each insert committed before the next;
//! - concurrent: 64 producers; SQLite has one writer, so one connection takes them in turn; on
//!   PostgreSQL they share 8 connections (`tokio-postgres` pipelines a connection's statements);
//! - batched: 1,024 rows per statement, each its own commit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use qbwi::tokio_postgres::{self, NoTls};
use rusqlite::{Connection, params};
use tokio::runtime::Runtime;

use crate::stores::Target;
use crate::workload::{BATCH, Measurement, Mode, PRODUCERS};

/// PostgreSQL connections the concurrent floor's producers share.
const CONNECTIONS: usize = 8;

/// The table, in both stores' words.
const SQLITE_TABLE: &str = "CREATE TABLE floor_jobs (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        task    TEXT    NOT NULL,
        payload TEXT    NOT NULL,
        run_at  INTEGER NOT NULL
    )";
const POSTGRES_TABLE: &str = "CREATE TABLE floor_jobs (
        id      bigserial   PRIMARY KEY,
        task    text        NOT NULL,
        payload text        NOT NULL,
        run_at  timestamptz NOT NULL DEFAULT now()
    )";

/// Inserts `jobs` raw into `target`, as `mode` says; the time is the enqueue's.
pub fn run(rt: &Runtime, target: &Target, mode: Mode, jobs: u64) -> Result<Measurement, String> {
    let elapsed = match target {
        Target::Sqlite(path) => sqlite(path, mode, jobs).map_err(|error| error.to_string())?,
        Target::Postgres(url) => rt
            .block_on(postgres(url, mode, jobs))
            .map_err(|error| error.to_string())?,
    };
    Ok(Measurement {
        elapsed,
        enqueued: elapsed,
        started: [0, 0],
        repeats: 0,
    })
}

/// The payload of job `n`, as qbwi writes it.
fn payload(n: u64) -> String {
    format!("{{\"n\":{n}}}")
}

fn sqlite(path: &std::path::Path, mode: Mode, jobs: u64) -> rusqlite::Result<Duration> {
    let mut connection = Connection::open(path)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.execute_batch(SQLITE_TABLE)?;
    let insert = "INSERT INTO floor_jobs (task, payload, run_at) VALUES ('bench_job', ?1, ?2)";
    let began = Instant::now();
    match mode {
        // One writer: 64 producers commit one after another, as one does.
        Mode::Single | Mode::Concurrent => {
            let mut statement = connection.prepare_cached(insert)?;
            for n in 0..jobs {
                statement.execute(params![payload(n), n as i64])?;
            }
        }
        Mode::Batched => {
            for chunk in (0..jobs).collect::<Vec<_>>().chunks(BATCH) {
                let transaction = connection.transaction()?;
                {
                    let mut statement = transaction.prepare_cached(insert)?;
                    for &n in chunk {
                        statement.execute(params![payload(n), n as i64])?;
                    }
                }
                transaction.commit()?;
            }
        }
    }
    Ok(began.elapsed())
}

async fn postgres(url: &str, mode: Mode, jobs: u64) -> Result<Duration, tokio_postgres::Error> {
    let connections = match mode {
        Mode::Concurrent => CONNECTIONS,
        Mode::Single | Mode::Batched => 1,
    };
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
        tokio::spawn(connection);
        clients.push(Arc::new(client));
    }
    clients[0].batch_execute(POSTGRES_TABLE).await?;
    let insert = "INSERT INTO floor_jobs (task, payload) VALUES ('bench_job', $1) RETURNING id";
    let began = Instant::now();
    match mode {
        Mode::Single => {
            let statement = clients[0].prepare(insert).await?;
            for n in 0..jobs {
                clients[0].query_one(&statement, &[&payload(n)]).await?;
            }
        }
        Mode::Concurrent => {
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|producer| {
                    let client = clients[producer as usize % connections].clone();
                    tokio::spawn(async move {
                        let statement = client.prepare(insert).await?;
                        for n in Mode::share(producer, jobs) {
                            client.query_one(&statement, &[&payload(n)]).await?;
                        }
                        Ok::<_, tokio_postgres::Error>(())
                    })
                })
                .collect();
            for producer in producers {
                producer.await.expect("a producer panicked")?;
            }
        }
        Mode::Batched => {
            let statement = clients[0]
                .prepare(
                    "INSERT INTO floor_jobs (task, payload)
                     SELECT 'bench_job', unnest($1::text[]) RETURNING id",
                )
                .await?;
            for chunk in (0..jobs).collect::<Vec<_>>().chunks(BATCH) {
                let payloads: Vec<String> = chunk.iter().map(|n| payload(*n)).collect();
                clients[0].query(&statement, &[&payloads]).await?;
            }
        }
    }
    Ok(began.elapsed())
}
