//! The operator's listings on a store with a long history: how long a page of `Store::jobs` takes
//! with a million jobs in the store (90 % completed, the rest spread over the other states, two
//! tasks), for every filter, on the first page and on a page deep in the history.

use std::time::{Duration, Instant};

use qbwi::{JobId, JobQuery, JobState, Store};
use tokio::runtime::Runtime;

use crate::report::{Table, median, nanos, thousands};
use crate::stores::{Kind, Stores, Target};

/// How many times each page is read; the table shows the median.
const READS: usize = 15;

/// The rows, as SQL both stores understand, given the series `i` from 1 to the count and `now`.
const STATE: &str = "CASE WHEN i % 100 < 90 THEN 'completed'
                          WHEN i % 100 < 93 THEN 'ready'
                          WHEN i % 100 < 95 THEN 'running'
                          WHEN i % 100 < 98 THEN 'dead'
                          ELSE 'cancelled' END";

/// Fills `target`'s store (its schema made by `Store`) with `rows` jobs.
async fn fill(target: &Target, rows: u64) -> Result<(), String> {
    match target {
        Target::Sqlite(path) => {
            let connection = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
            let now = qbwi_now();
            connection
                .execute(
                    &format!(
                        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n
                                                  WHERE i < ?1)
                         INSERT INTO qbwi_jobs (task, payload, state, attempts, max_attempts,
                                                run_at, created_at, finished_at)
                         SELECT CASE i % 3 WHEN 0 THEN 'report' ELSE 'mail' END, '{{}}',
                                {STATE}, i % 2, 3, ?2 + (i % 7 - 3) * 60000, ?2, ?2
                           FROM n"
                    ),
                    [rows as i64, now],
                )
                .map_err(|e| e.to_string())?;
            connection
                .execute_batch("ANALYZE")
                .map_err(|e| e.to_string())?;
        }
        Target::Postgres(url) => {
            let (client, connection) =
                qbwi::tokio_postgres::connect(url, qbwi::tokio_postgres::NoTls)
                    .await
                    .map_err(|e| e.to_string())?;
            tokio::spawn(connection);
            client
                .batch_execute(&format!(
                    "INSERT INTO qbwi_jobs (task, payload, state, attempts, max_attempts, run_at,
                                            created_at, finished_at)
                     SELECT CASE i % 3 WHEN 0 THEN 'report' ELSE 'mail' END, '{{}}', {STATE},
                            i % 2, 3, now() + (i % 7 - 3) * interval '1 minute', now(), now()
                       FROM generate_series(1, {rows}) AS i"
                ))
                .await
                .map_err(|e| e.to_string())?;
            // As autovacuum would soon: the visibility map and the planner's statistics.
            client
                .batch_execute("VACUUM ANALYZE qbwi_jobs")
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn qbwi_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64)
}

/// The median time of `READS` calls of `call`.
async fn timed<T, E: std::fmt::Display>(
    mut call: impl AsyncFnMut() -> Result<T, E>,
) -> Result<Duration, String> {
    let mut times = Vec::with_capacity(READS);
    for _ in 0..READS {
        let began = Instant::now();
        call().await.map_err(|error| error.to_string())?;
        times.push(began.elapsed().as_secs_f64());
    }
    Ok(Duration::from_secs_f64(median(&times)))
}

/// Fills a fresh store of `kind` with `rows` jobs and prints how long each listing takes.
pub fn run(rt: &Runtime, stores: &mut Stores, kind: Kind, rows: u64) -> Result<(), String> {
    rt.block_on(async {
        let target = stores.fresh(kind, "listing")?;
        let store = match &target {
            Target::Sqlite(path) => Store::sqlite(path),
            Target::Postgres(url) => Store::postgres(url).await,
        }
        .map_err(|error| error.to_string())?;
        let began = Instant::now();
        fill(&target, rows).await?;
        eprintln!(
            "   {} listing: filled in {}",
            kind.key(),
            nanos(began.elapsed().as_nanos() as f64)
        );
        println!(
            "== {}, listings: a page of 50 from `Store::jobs` with {} jobs in the store (90 % \
             completed); median of {READS}",
            kind.name(),
            thousands(rows as f64)
        );
        println!();
        let mut table = Table::new(&["filter", "first page", "page at the middle"]);
        let middle = JobId::from_i64(rows as i64 / 2);
        let mut queries = vec![
            ("every job".to_owned(), JobQuery::new()),
            ("task".to_owned(), JobQuery::new().task("mail")),
        ];
        for state in JobState::ALL {
            queries.push((state.to_string(), JobQuery::new().state(state)));
            queries.push((
                format!("{state}, task"),
                JobQuery::new().state(state).task("report"),
            ));
        }
        for (name, query) in queries {
            let first = timed(async || store.jobs(&query).await).await?;
            let deep_query = query.clone().before(middle);
            let deep = timed(async || store.jobs(&deep_query).await).await?;
            table.row(vec![
                name,
                nanos(first.as_nanos() as f64),
                nanos(deep.as_nanos() as f64),
            ]);
        }
        let counts = timed(async || store.counts().await).await?;
        let by_task = timed(async || store.counts_by_task().await).await?;
        let minutes = timed(async || store.finished_per_minute().await).await?;
        table.row(vec![
            "counts by state".to_owned(),
            nanos(counts.as_nanos() as f64),
            "-".to_owned(),
        ]);
        table.row(vec![
            "counts by task".to_owned(),
            nanos(by_task.as_nanos() as f64),
            "-".to_owned(),
        ]);
        table.row(vec![
            "finished per minute".to_owned(),
            nanos(minutes.as_nanos() as f64),
            "-".to_owned(),
        ]);
        table.print();
        Ok(())
    })
}
