//! The floor: the same boxed futures sent through plain unbounded channels into worker loops
//! that await them inline. No ids, no counts, no tokens, no outcome: what the hardware allows.
//!
//! One tokio `mpsc` channel per worker loop, the producer dealing futures round-robin: lock-free
//! on both ends, and faster here than one shared `Mutex<VecDeque>` + `Notify` (measured while
//! writing this bench). Drained by closing the channels and joining the loops.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;

use crate::contender::{Contender, Latencies, Measured, NotApplicable, PendingMemory};
use crate::work;

/// A task as the floor carries it.
type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The floor contender.
#[derive(Debug)]
pub struct Floor;

/// `loops` worker loops, each awaiting the futures of its own channel one after another.
#[derive(Debug)]
struct Loops {
    /// One sender per loop.
    senders: Vec<UnboundedSender<Job>>,
    /// The loops, ending when their channel is closed and empty.
    loops: Vec<JoinHandle<()>>,
}

impl Loops {
    /// Spawns the loops on the current runtime.
    fn spawn(loops: usize) -> Loops {
        let (senders, loops) = (0..loops)
            .map(|_| {
                let (sender, mut receiver) = unbounded_channel::<Job>();
                let worker = tokio::spawn(async move {
                    while let Some(job) = receiver.recv().await {
                        job.await;
                    }
                });
                (sender, worker)
            })
            .unzip();
        Loops { senders, loops }
    }

    /// Closes the channels and waits until the loops have run everything sent.
    async fn drain(self) {
        drop(self.senders);
        for worker in self.loops {
            worker.await.expect("a floor loop panicked");
        }
    }
}

/// Sends `job` to loop `n % senders.len()`.
#[inline]
fn send(senders: &[UnboundedSender<Job>], n: u64, job: Job) {
    let sender = &senders[n as usize % senders.len()];
    if sender.send(job).is_err() {
        panic!("floor: a loop ended early");
    }
}

impl Contender for Floor {
    fn name(&self) -> &'static str {
        "floor"
    }

    fn throughput(&self, rt: &Runtime, tasks: u64) -> Measured<Duration> {
        rt.block_on(async {
            let loops = Loops::spawn(2);
            let began = Instant::now();
            for n in 0..tasks {
                send(&loops.senders, n, Box::pin(async move { work::body(n) }));
            }
            loops.drain().await;
            let elapsed = began.elapsed();
            work::check_ran("floor", tasks);
            Ok(elapsed)
        })
    }

    fn two_producers(&self, rt: &Runtime, per_producer: u64) -> Measured<Duration> {
        let loops = rt.block_on(async { Loops::spawn(2) });
        let began = Instant::now();
        std::thread::scope(|scope| {
            for producer in 0..2 {
                let senders = loops.senders.clone();
                scope.spawn(move || {
                    for n in producer * per_producer..(producer + 1) * per_producer {
                        send(&senders, n, Box::pin(async move { work::body(n) }));
                    }
                });
            }
        });
        rt.block_on(loops.drain());
        let elapsed = began.elapsed();
        work::check_ran("floor", 2 * per_producer);
        Ok(elapsed)
    }

    fn latency(&self, rt: &Runtime, calls: u64) -> Measured<Latencies> {
        rt.block_on(async {
            let loops = Loops::spawn(2);
            let mut queue_call = Vec::with_capacity(calls as usize);
            for n in 0..calls {
                let queued_at = Instant::now();
                send(
                    &loops.senders,
                    n,
                    Box::pin(async move { work::timed_body(n, queued_at) }),
                );
                queue_call.push(queued_at.elapsed().as_nanos() as u64);
                work::wait_timed_done(n + 1);
            }
            loops.drain().await;
            work::check_ran("floor", calls);
            Ok(Latencies {
                queue_call,
                queued_to_started: work::queued_to_started(calls),
            })
        })
    }

    fn pending_memory(&self, rt: &Runtime, tasks: u64) -> Measured<PendingMemory> {
        rt.block_on(async {
            // One loop, as `max_concurrency(1)`: it is stuck in job 0 while the rest wait.
            let loops = Loops::spawn(1);
            let gate = work::close_gate();
            let blocker: Job = Box::pin(async move {
                work::wait_at_gate().await;
                work::body(0);
            });
            send(&loops.senders, 0, blocker);
            work::wait_parked(1);
            crate::alloc::start();
            let before = crate::alloc::live();
            for n in 1..=tasks {
                send(&loops.senders, n, Box::pin(async move { work::body(n) }));
            }
            let heap_growth = crate::alloc::live() - before;
            crate::alloc::stop();
            gate.cancel();
            loops.drain().await;
            work::check_ran("floor", tasks + 1);
            Ok(PendingMemory {
                heap_growth,
                argument_size: size_of::<u64>(),
            })
        })
    }

    fn idle_shutdown(&self, rt: &Runtime) -> Measured<Duration> {
        rt.block_on(async {
            let loops = Loops::spawn(2);
            let began = Instant::now();
            loops.drain().await;
            Ok(began.elapsed())
        })
    }

    fn busy_shutdown(&self, _rt: &Runtime, _tasks: u64) -> Measured<Duration> {
        Err(NotApplicable(
            "its loops await one future at a time and have no cancellation",
        ))
    }
}
