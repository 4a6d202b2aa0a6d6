//! apalis 1.0 with its SQLite or PostgreSQL backend doing the durable bench's work: one run per
//! process, started by `cargo bench -p qbwi-bench --bench durable --features apalis`.
//!
//! ```text
//! apalis-durable <sqlite|postgres> <single|concurrent|batched> <jobs> <file|connection string>
//! ```
//!
//! The store must be empty (a new file, a new database). Prints one `measured ..` line (see
//! `workload.rs`, shared with the bench by path) or fails with a message on stderr.
//!
//! The setup is apalis's own, as its READMEs and examples show it, tuned where that is fair:
//!
//! - SQLite: the "event-driven worker" of apalis-sqlite's README (its update hook wakes the
//!   worker when a job is inserted), with a 100 ms poll as the fallback. The pool is built here
//!   rather than by `SqliteStorage::connect_with_callback` only to set `synchronous=NORMAL` on every
//!   connection, as qbwi does: apalis's `setup` sets `synchronous=OFF` on the one connection it runs
//!   on, and sqlx leaves the rest at SQLite's FULL (an fsync per commit). Set
//!   `APALIS_SQLITE_SYNCHRONOUS=FULL` (or `OFF`) to measure those. The busy timeout is qbwi's 30 s:
//!   with sqlx's 5 s, 64 concurrent pushers fail with "database is locked".
//! - PostgreSQL: `PostgresStorage` with its LISTEN/NOTIFY `Pubsub` waking the worker, also with a
//!   100 ms poll as the fallback; a pool of 16 connections, as qbwi's.
//! - Both: fetch 128 jobs at a time (qbwi claims up to 128), `lock_tasks(false)` as in apalis's
//!   own examples (it saves an UPDATE per job); jobs run concurrently in the worker's task.

#[path = "../../benches/durable/workload.rs"]
mod workload;

use std::fmt::Display;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use apalis::prelude::{Backend, BackendExt, Strategy, TaskSink, WorkerBuilder, WorkerContext};
use apalis_core::backend::finalize::Durable;
use apalis_postgres::{PgPool, PostgresStorage, Pubsub};
use apalis_sqlite::SqliteStorage;
use futures_util::StreamExt;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqliteOperation, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::Notify;

use workload::{BATCH, Measurement, Mode, PRODUCERS, Run};

/// What a failed run says.
type Failure = String;

/// The queue every run uses.
const QUEUE: &str = "bench";

/// Jobs per fetch: what qbwi claims at most at once.
const FETCH: usize = 128;

/// The poll behind the notifications, for a wake-up they miss.
const FALLBACK_POLL: Duration = Duration::from_millis(100);

/// The bench's job: records that it started.
async fn bench_job(n: u64) {
    workload::job_started(n);
}

/// A worker running on the runtime.
struct Running {
    /// Wakes the worker's `run_with_ctx` closure, which stops it.
    stop: Arc<Notify>,
    /// The worker's context, once it runs.
    context: Arc<Mutex<Option<WorkerContext>>>,
    worker: tokio::task::JoinHandle<Result<(), apalis::prelude::WorkerError>>,
}

impl Running {
    /// Waits until the worker has registered with the store and is ready for jobs.
    async fn ready(&self) {
        while !self
            .context
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(WorkerContext::is_ready)
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Stops the worker and waits until it has returned.
    async fn stop(self) -> Result<(), Failure> {
        self.stop.notify_one();
        self.worker.await.map_err(failed)?.map_err(failed)
    }
}

/// Builds a worker running [`bench_job`] on `backend` and spawns it. (A macro: each backend
/// shape is another type, with bounds that are long to spell.)
macro_rules! spawn_worker {
    ($backend:expr) => {{
        let stop = Arc::new(Notify::new());
        let context = Arc::new(Mutex::new(None));
        let on_start = {
            let (stop, context) = (stop.clone(), context.clone());
            move |worker: WorkerContext| {
                *context.lock().unwrap_or_else(PoisonError::into_inner) = Some(worker.clone());
                let stop = stop.clone();
                async move {
                    stop.notified().await;
                    worker.stop()
                }
            }
        };
        let worker = WorkerBuilder::new("bench")
            .backend($backend)
            .build(bench_job);
        Running {
            stop,
            context,
            worker: tokio::spawn(worker.run_with_ctx(on_start)),
        }
    }};
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store, mode, jobs, target] = args.as_slice() else {
        eprintln!(
            "usage: apalis-durable <sqlite|postgres> <single|concurrent|batched> <jobs> <target>"
        );
        return ExitCode::from(2);
    };
    let (Some(mode), Ok(jobs)) = (Mode::parse(mode), jobs.parse::<u64>()) else {
        eprintln!("apalis-durable: bad mode `{mode}` or job count `{jobs}`");
        return ExitCode::from(2);
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let result = runtime.block_on(async {
        match store.as_str() {
            "sqlite" => sqlite(target, mode, jobs).await,
            "postgres" => postgres(target, mode, jobs).await,
            other => Err(format!("unknown store `{other}`")),
        }
    });
    match result {
        Ok(measurement) => {
            println!("{}", measurement.to_line());
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("apalis-durable {store} {}: {failure}", mode.key());
            ExitCode::FAILURE
        }
    }
}

/// `Display` errors as the run's failure.
fn failed(error: impl Display) -> Failure {
    error.to_string()
}

/// The SQLite run.
async fn sqlite(path: &str, mode: Mode, jobs: u64) -> Result<Measurement, Failure> {
    let synchronous = match std::env::var("APALIS_SQLITE_SYNCHRONOUS") {
        Ok(value) => SqliteSynchronous::from_str(&value).map_err(failed)?,
        Err(_) => SqliteSynchronous::Normal,
    };
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .busy_timeout(Duration::from_secs(30));
    // As `SqliteStorage::connect_with_callback`: every connection reports its inserts into the
    // jobs table, which wakes the worker.
    let (inserted, insertions) = futures_channel::mpsc::unbounded::<()>();
    let pool = SqlitePoolOptions::new()
        .after_connect(move |connection, _| {
            let inserted = inserted.clone();
            Box::pin(async move {
                let mut handle = connection.lock_handle().await?;
                handle.set_update_hook(move |event| {
                    if event.operation == SqliteOperation::Insert && event.table == "Jobs" {
                        let _ = inserted.unbounded_send(());
                    }
                });
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(failed)?;
    SqliteStorage::setup(&pool).await.map_err(failed)?;
    let config = apalis_sqlite::Config::default()
        .queue(QUEUE)
        .batch_size(FETCH)
        .lock_tasks(false);
    let storage = SqliteStorage::<u64>::new(&pool).with_config(config);
    let strategy = Strategy::new()
        .stream(insertions.ready_chunks(FETCH))
        .interval(FALLBACK_POLL);
    let worker = spawn_worker!(storage.clone().poll_with_strategy(strategy));
    worker.ready().await;
    let measurement = measure(&storage, mode, jobs, async || {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM Jobs WHERE status = 'Done'")
            .fetch_one(&pool)
            .await
            .map(|done| done as u64)
            .map_err(failed)
    })
    .await;
    worker.stop().await?;
    measurement
}

/// The PostgreSQL run.
async fn postgres(url: &str, mode: Mode, jobs: u64) -> Result<Measurement, Failure> {
    let pool: PgPool = PgPoolOptions::new()
        .max_connections(16)
        .connect(url)
        .await
        .map_err(failed)?;
    PostgresStorage::setup(&pool).await.map_err(failed)?;
    let config = apalis_postgres::Config::default()
        .queue(QUEUE)
        .batch_size(FETCH)
        .lock_tasks(false);
    let storage = PostgresStorage::<u64>::new(&pool).with_config(config);
    // `with_pubsub()` with the fallback poll added.
    let strategy = Strategy::new()
        .stream(Pubsub::new(pool.clone(), QUEUE.to_owned()))
        .interval(FALLBACK_POLL);
    let worker = spawn_worker!(storage.clone().poll_with_strategy(strategy));
    worker.ready().await;
    let measurement = measure(&storage, mode, jobs, async || {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM apalis.jobs WHERE status = 'Done'")
            .fetch_one(&pool)
            .await
            .map(|done| done as u64)
            .map_err(failed)
    })
    .await;
    worker.stop().await?;
    measurement
}

/// Times one run: hands the jobs to `storage`, waits until every one started, then until `done`
/// counts them all.
async fn measure<S>(
    storage: &S,
    mode: Mode,
    jobs: u64,
    mut done: impl AsyncFnMut() -> Result<u64, Failure>,
) -> Result<Measurement, Failure>
where
    S: TaskSink<u64, Durable> + Clone + Send + Sync + 'static,
    <S as Backend>::Error: Display,
{
    let run = Run::begin(jobs);
    hand_over(storage, &run, mode, jobs).await?;
    run.all_enqueued();
    run.all_started().await;
    workload::until(async || Ok::<_, Failure>(done().await? >= jobs)).await?;
    let measurement = run.finish();
    let done = done().await?;
    if done != jobs {
        return Err(format!("{done} jobs done, {jobs} pushed"));
    }
    Ok(measurement)
}

/// Pushes the jobs; returns once every one is committed.
async fn hand_over<S>(storage: &S, run: &Arc<Run>, mode: Mode, jobs: u64) -> Result<(), Failure>
where
    S: TaskSink<u64, Durable> + Clone + Send + Sync + 'static,
    <S as Backend>::Error: Display,
{
    match mode {
        Mode::Single => {
            let mut storage = storage.clone();
            for n in 0..jobs {
                run.enqueued(n);
                storage.push(n).await.map_err(failed)?;
            }
        }
        Mode::Concurrent => {
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|producer| {
                    let (mut storage, run) = (storage.clone(), run.clone());
                    tokio::spawn(async move {
                        for n in Mode::share(producer, jobs) {
                            run.enqueued(n);
                            storage.push(n).await.map_err(failed)?;
                        }
                        Ok::<_, Failure>(())
                    })
                })
                .collect();
            for producer in producers {
                producer.await.map_err(failed)??;
            }
        }
        Mode::Batched => {
            let mut storage = storage.clone();
            let all: Vec<u64> = (0..jobs).collect();
            for batch in all.chunks(BATCH) {
                for &n in batch {
                    run.enqueued(n);
                }
                storage.push_bulk(batch.to_vec()).await.map_err(failed)?;
            }
        }
    }
    Ok(())
}
