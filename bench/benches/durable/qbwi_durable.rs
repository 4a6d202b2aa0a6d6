//! qbwi: a `#[background_task(durable)]` job, enqueued on a host with a store that also runs it.

use std::time::Duration;

use qbwi::{Host, Store, background_task};
use tokio::runtime::Runtime;

use crate::stores::Target;
use crate::workload::{self, Measurement, Mode, PRODUCERS, Run};

/// The bench's job: records that it started.
#[background_task(durable)]
async fn bench_job(n: u64) {
    workload::job_started(n);
}

/// Runs `jobs` jobs through a fresh qbwi host on `target`, handed over as `mode` says; with the
/// default retention unless `retention` says otherwise.
pub fn run(
    rt: &Runtime,
    target: &Target,
    mode: Mode,
    jobs: u64,
    retention: Option<Duration>,
) -> Result<Measurement, String> {
    rt.block_on(async {
        let store = match target {
            Target::Sqlite(path) => Store::sqlite(path),
            Target::Postgres(url) => Store::postgres(url).await,
        }
        .map_err(|error| error.to_string())?;
        let mut builder = Host::builder().store(store.clone());
        if let Some(retention) = retention {
            builder = builder.retention(retention);
        }
        let host = builder.build().map_err(|error| error.to_string())?;
        let run = Run::begin(jobs);
        hand_over(&host, &run, mode, jobs).await?;
        run.all_enqueued();
        run.all_started().await;
        // Returns once the store has recorded every run's end (polling `counts` instead would
        // take the store from the runs, the more so as the history grows).
        host.wait_idle().await;
        let measurement = run.finish();
        let report = host.shutdown().await;
        let counts = store.counts().await.map_err(|error| error.to_string())?;
        if report.completed != jobs || report.total() != jobs || counts.dead != 0 {
            return Err(format!(
                "not every job completed once: {report}; {counts:?}"
            ));
        }
        Ok(measurement)
    })
}

/// Hands the jobs over; returns once every one is committed.
async fn hand_over(
    host: &Host,
    run: &std::sync::Arc<Run>,
    mode: Mode,
    jobs: u64,
) -> Result<(), String> {
    let failed = |error: qbwi::QueueError| error.to_string();
    match mode {
        Mode::Single => {
            for n in 0..jobs {
                run.enqueued(n);
                host.enqueue(bench_job { n }).await.map_err(failed)?;
            }
        }
        Mode::Concurrent => {
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|producer| {
                    let (host, run) = (host.clone(), run.clone());
                    tokio::spawn(async move {
                        for n in Mode::share(producer, jobs) {
                            run.enqueued(n);
                            host.enqueue(bench_job { n }).await?;
                        }
                        Ok::<_, qbwi::QueueError>(())
                    })
                })
                .collect();
            for producer in producers {
                producer
                    .await
                    .map_err(|error| error.to_string())?
                    .map_err(failed)?;
            }
        }
        Mode::Batched => {
            let handles = (0..jobs)
                .map(|n| {
                    run.enqueued(n);
                    host.queue_durable(bench_job { n })
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(failed)?;
            for handle in &handles {
                handle.persisted().await.map_err(failed)?;
            }
        }
    }
    Ok(())
}
