//! qbwi: `#[background_task] async fn`s queued with `::queue` on a host made current by
//! `start()`, drained with `wait_idle()`, shut down before the next measurement.

use std::time::{Duration, Instant};

use qbwi::{CancellationToken, Host, background_task};
use tokio::runtime::Runtime;

use crate::contender::{Contender, Latencies, Measured, PendingMemory};
use crate::work;

/// The throughput task: just the body.
#[background_task]
async fn hello(n: u64) {
    work::body(n);
}

/// The latency task: records how long it waited since `queued_at`, then the body.
#[background_task]
async fn hello_timed(n: u64, queued_at: Instant) {
    work::timed_body(n, queued_at);
}

/// The memory task: number 0 blocks at the gate (holding the only slot), the rest wait behind it.
#[background_task]
async fn gated(n: u64) {
    if n == 0 {
        work::wait_at_gate().await;
    }
    work::body(n);
}

/// The busy-shutdown task: runs until the host cancels its token, then the body.
#[background_task]
async fn held(n: u64, token: CancellationToken) {
    work::parked();
    token.cancelled().await;
    work::body(n);
}

/// The qbwi contender.
#[derive(Debug)]
pub struct Qbwi;

/// Starts a host (the process's current one) with the given concurrency limit.
fn start(max_concurrency: Option<usize>) -> Host {
    let builder = Host::builder();
    let builder = match max_concurrency {
        Some(limit) => builder.max_concurrency(limit),
        None => builder,
    };
    builder
        .start()
        .expect("start: the previous host was shut down")
}

/// Shuts `host` down and checks that it completed exactly `expected` tasks, and nothing else.
async fn finish(host: &Host, expected: u64) {
    let report = host.shutdown().await;
    assert_eq!(report.completed, expected, "qbwi: {report:?}");
    assert_eq!(report.total(), expected, "qbwi: {report:?}");
    work::check_ran("qbwi", expected);
}

impl Contender for Qbwi {
    fn name(&self) -> &'static str {
        "qbwi"
    }

    fn throughput(&self, rt: &Runtime, tasks: u64) -> Measured<Duration> {
        rt.block_on(async {
            let host = start(None);
            let began = Instant::now();
            for n in 0..tasks {
                drop(hello::queue(n).expect("queue"));
            }
            host.wait_idle().await;
            let elapsed = began.elapsed();
            finish(&host, tasks).await;
            Ok(elapsed)
        })
    }

    fn two_producers(&self, rt: &Runtime, per_producer: u64) -> Measured<Duration> {
        let host = rt.block_on(async { start(None) });
        let began = Instant::now();
        std::thread::scope(|scope| {
            for producer in 0..2 {
                scope.spawn(move || {
                    for n in producer * per_producer..(producer + 1) * per_producer {
                        drop(hello::queue(n).expect("queue"));
                    }
                });
            }
        });
        rt.block_on(host.wait_idle());
        let elapsed = began.elapsed();
        rt.block_on(finish(&host, 2 * per_producer));
        Ok(elapsed)
    }

    fn latency(&self, rt: &Runtime, calls: u64) -> Measured<Latencies> {
        rt.block_on(async {
            let host = start(None);
            let mut queue_call = Vec::with_capacity(calls as usize);
            for n in 0..calls {
                let queued_at = Instant::now();
                let handle = hello_timed::queue(n, queued_at);
                queue_call.push(queued_at.elapsed().as_nanos() as u64);
                drop(handle.expect("queue"));
                work::pace(n);
            }
            host.wait_idle().await;
            finish(&host, calls).await;
            Ok(Latencies {
                queue_call,
                queued_to_started: work::queued_to_started(calls),
            })
        })
    }

    fn pending_memory(&self, rt: &Runtime, tasks: u64) -> Measured<PendingMemory> {
        rt.block_on(async {
            let host = start(Some(1));
            let gate = work::close_gate();
            drop(gated::queue(0).expect("queue"));
            work::wait_parked(1);
            crate::alloc::start();
            let before = crate::alloc::live();
            for n in 1..=tasks {
                drop(gated::queue(n).expect("queue"));
            }
            assert_eq!(host.stats().queued, tasks, "qbwi: all but one wait");
            let heap_growth = crate::alloc::live() - before;
            crate::alloc::stop();
            gate.cancel();
            host.wait_idle().await;
            finish(&host, tasks + 1).await;
            Ok(PendingMemory {
                heap_growth,
                argument_size: size_of::<gated>(),
            })
        })
    }

    fn idle_shutdown(&self, rt: &Runtime) -> Measured<Duration> {
        rt.block_on(async {
            let host = start(None);
            let began = Instant::now();
            let report = host.shutdown().await;
            let elapsed = began.elapsed();
            assert_eq!(report.total(), 0, "qbwi: {report:?}");
            Ok(elapsed)
        })
    }

    fn busy_shutdown(&self, rt: &Runtime, tasks: u64) -> Measured<Duration> {
        rt.block_on(async {
            let host = start(None);
            for n in 0..tasks {
                drop(held::queue(n).expect("queue"));
            }
            work::wait_parked(tasks);
            let began = Instant::now();
            let report = host.shutdown().await;
            let elapsed = began.elapsed();
            assert_eq!(report.completed, tasks, "qbwi: {report:?}");
            work::check_ran("qbwi", tasks);
            Ok(elapsed)
        })
    }
}
