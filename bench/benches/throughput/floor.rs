//! The floor: the same boxed futures pushed into one plain unbounded queue that worker loops
//! pop and await inline. No ids, no counts, no tokens, no outcome: what the hardware allows.
//!
//! The queue is a `Mutex<VecDeque>` with a `Notify`: measured faster here than one tokio `mpsc`
//! channel per loop dealt round-robin (about 10 M against 7 M tasks/s from one producer, 5.8 M
//! against 3.6 M from two). Drained by closing the queue and joining the loops.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::contender::{Contender, Latencies, Measured, NotApplicable, PendingMemory};
use crate::work;

/// A task as the floor carries it.
type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The floor contender.
#[derive(Debug)]
pub struct Floor;

/// What the queue's lock guards.
#[derive(Default)]
struct Jobs {
    /// Sent and not taken yet, oldest first.
    waiting: VecDeque<Job>,
    /// No more will be sent: loops end once `waiting` is empty.
    closed: bool,
}

/// The queue the producers push into and the loops pop from.
#[derive(Default)]
struct Queue {
    /// The jobs.
    jobs: Mutex<Jobs>,
    /// Wakes a loop waiting for a job (or all of them, when closed).
    more: Notify,
}

/// What a loop found in the queue.
enum Next {
    /// A job to await.
    Run(Job),
    /// Nothing, and nothing more will come.
    Stop,
    /// Nothing yet.
    Wait,
}

impl Queue {
    /// The lock (nothing panics while it is held).
    fn lock(&self) -> MutexGuard<'_, Jobs> {
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Pushes a job and wakes a waiting loop.
    #[inline]
    fn send(&self, job: Job) {
        self.lock().waiting.push_back(job);
        self.more.notify_one();
    }

    /// Takes the next job, if any.
    fn next(&self) -> Next {
        let mut jobs = self.lock();
        match jobs.waiting.pop_front() {
            Some(job) => Next::Run(job),
            None if jobs.closed => Next::Stop,
            None => Next::Wait,
        }
    }

    /// A worker loop: await every job inline, in order, until closed and empty.
    async fn run(&self) {
        loop {
            match self.next() {
                Next::Run(job) => job.await,
                Next::Stop => return,
                Next::Wait => {
                    // Register for a wake-up before looking again, so none is lost.
                    let more = self.more.notified();
                    tokio::pin!(more);
                    more.as_mut().enable();
                    match self.next() {
                        Next::Run(job) => job.await,
                        Next::Stop => return,
                        Next::Wait => more.await,
                    }
                }
            }
        }
    }

    /// Sends nothing more; the loops end once they have run what was sent.
    fn close(&self) {
        self.lock().closed = true;
        self.more.notify_waiters();
    }
}

/// A queue and its worker loops.
struct Loops {
    /// Where jobs go.
    queue: Arc<Queue>,
    /// The loops, ending when the queue is closed and empty.
    loops: Vec<JoinHandle<()>>,
}

impl Loops {
    /// Spawns `loops` worker loops on the current runtime.
    fn spawn(loops: usize) -> Loops {
        let queue = Arc::new(Queue::default());
        let loops = (0..loops)
            .map(|_| {
                let queue = queue.clone();
                tokio::spawn(async move { queue.run().await })
            })
            .collect();
        Loops { queue, loops }
    }

    /// Closes the queue and waits until the loops have run everything sent.
    async fn drain(self) {
        self.queue.close();
        for worker in self.loops {
            worker.await.expect("a floor loop panicked");
        }
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
                loops.queue.send(Box::pin(async move { work::body(n) }));
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
                let queue = &loops.queue;
                scope.spawn(move || {
                    for n in producer * per_producer..(producer + 1) * per_producer {
                        queue.send(Box::pin(async move { work::body(n) }));
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
                let job: Job = Box::pin(async move { work::timed_body(n, queued_at) });
                loops.queue.send(job);
                queue_call.push(queued_at.elapsed().as_nanos() as u64);
                work::pace(n);
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
            loops.queue.send(Box::pin(async move {
                work::wait_at_gate().await;
                work::body(0);
            }));
            work::wait_parked(1);
            crate::alloc::start();
            let before = crate::alloc::live();
            for n in 1..=tasks {
                loops.queue.send(Box::pin(async move { work::body(n) }));
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
