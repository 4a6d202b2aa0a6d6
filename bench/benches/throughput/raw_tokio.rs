//! Raw tokio, the baseline: every task spawned on a `TaskTracker` with a child of a root
//! `CancellationToken`; drained with `close()` + `wait()`, shut down by cancelling the root.

use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::contender::{Contender, Latencies, Measured, PendingMemory};
use crate::work;

/// The raw tokio contender.
#[derive(Debug)]
pub struct RawTokio;

/// Spawns one task of the throughput shape on `tracker`, from inside the runtime.
#[inline]
fn spawn(tracker: &TaskTracker, root: &CancellationToken, n: u64) {
    let token = root.child_token();
    tracker.spawn(async move {
        let _token = token; // passed in, as a task that honours cancellation would hold it
        work::body(n);
    });
}

/// Closes `tracker`, waits for its tasks, and checks that `expected` bodies ran.
async fn drain(tracker: &TaskTracker, expected: u64) {
    tracker.close();
    tracker.wait().await;
    work::check_ran("tokio", expected);
}

impl Contender for RawTokio {
    fn name(&self) -> &'static str {
        "tokio"
    }

    fn throughput(&self, rt: &Runtime, tasks: u64) -> Measured<Duration> {
        rt.block_on(async {
            let (root, tracker) = (CancellationToken::new(), TaskTracker::new());
            let began = Instant::now();
            for n in 0..tasks {
                spawn(&tracker, &root, n);
            }
            tracker.close();
            tracker.wait().await;
            let elapsed = began.elapsed();
            work::check_ran("tokio", tasks);
            Ok(elapsed)
        })
    }

    fn two_producers(&self, rt: &Runtime, per_producer: u64) -> Measured<Duration> {
        let (root, tracker) = (CancellationToken::new(), TaskTracker::new());
        let began = Instant::now();
        std::thread::scope(|scope| {
            for producer in 0..2 {
                let (root, tracker, runtime) = (&root, &tracker, rt.handle());
                scope.spawn(move || {
                    for n in producer * per_producer..(producer + 1) * per_producer {
                        let token = root.child_token();
                        tracker.spawn_on(
                            async move {
                                let _token = token;
                                work::body(n);
                            },
                            runtime,
                        );
                    }
                });
            }
        });
        rt.block_on(async {
            tracker.close();
            tracker.wait().await;
        });
        let elapsed = began.elapsed();
        work::check_ran("tokio", 2 * per_producer);
        Ok(elapsed)
    }

    fn latency(&self, rt: &Runtime, calls: u64) -> Measured<Latencies> {
        rt.block_on(async {
            let (root, tracker) = (CancellationToken::new(), TaskTracker::new());
            let mut queue_call = Vec::with_capacity(calls as usize);
            for n in 0..calls {
                let queued_at = Instant::now();
                let token = root.child_token();
                tracker.spawn(async move {
                    let _token = token;
                    work::timed_body(n, queued_at);
                });
                queue_call.push(queued_at.elapsed().as_nanos() as u64);
                work::pace(n);
            }
            drain(&tracker, calls).await;
            Ok(Latencies {
                queue_call,
                queued_to_started: work::queued_to_started(calls),
            })
        })
    }

    fn pending_memory(&self, rt: &Runtime, tasks: u64) -> Measured<PendingMemory> {
        rt.block_on(async {
            let (root, tracker) = (CancellationToken::new(), TaskTracker::new());
            let gate = work::close_gate();
            crate::alloc::start();
            let before = crate::alloc::live();
            for n in 0..tasks {
                let token = root.child_token();
                tracker.spawn(async move {
                    let _token = token;
                    work::wait_at_gate().await;
                    work::body(n);
                });
            }
            work::wait_parked(tasks);
            let heap_growth = crate::alloc::live() - before;
            crate::alloc::stop();
            gate.cancel();
            drain(&tracker, tasks).await;
            Ok(PendingMemory {
                heap_growth,
                argument_size: size_of::<u64>(),
            })
        })
    }

    fn idle_shutdown(&self, rt: &Runtime) -> Measured<Duration> {
        rt.block_on(async {
            let (root, tracker) = (CancellationToken::new(), TaskTracker::new());
            let began = Instant::now();
            root.cancel();
            tracker.close();
            tracker.wait().await;
            Ok(began.elapsed())
        })
    }

    fn busy_shutdown(&self, rt: &Runtime, tasks: u64) -> Measured<Duration> {
        rt.block_on(async {
            let (root, tracker) = (CancellationToken::new(), TaskTracker::new());
            for n in 0..tasks {
                let token = root.child_token();
                tracker.spawn(async move {
                    work::parked();
                    token.cancelled().await;
                    work::body(n);
                });
            }
            work::wait_parked(tasks);
            let began = Instant::now();
            root.cancel();
            tracker.close();
            tracker.wait().await;
            let elapsed = began.elapsed();
            work::check_ran("tokio", tasks);
            Ok(elapsed)
        })
    }
}
