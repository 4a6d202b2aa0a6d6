//! apalis 1.0 with its in-memory backend (`MemoryStorage`): the same body as a job, pushed with
//! `TaskSink::push` while one worker runs.
//!
//! A `MemoryStorage` is not `Clone` and the worker owns it, so the bench builds the storage the
//! way `MemoryStorage::new` does (a `futures` unbounded channel behind a `MemorySink`), keeps a
//! clone of the channel's sender, and gives each producer a `MemoryStorage` of its own over that
//! sender (`MemoryStorage::new_with`): every push goes through apalis's own `push`. Producers do
//! not share one `MemorySink`: its `start_send` does `try_lock().unwrap()` on a lock that another
//! pusher's `poll_ready` may hold at that moment.
//!
//! The worker is apalis's default: it polls its jobs inside its own tokio task. With
//! `.parallelize(tokio::spawn)` (every job its own tokio task) apalis was slower in every
//! scenario at 100,000 tasks, and with 500,000 or more queued its worker spun in
//! `FuturesUnordered::poll` for minutes without finishing, so that shape is not measured.
//!
//! The worker has no drain that says "every job pushed so far is done", so each job also counts
//! itself on a [`Countdown`] (one atomic add) and the bench waits for it, then stops the worker.
//! Without `task-context` apalis gives jobs no cancellation token: in the shutdown scenario the
//! jobs honour a token of the bench's, cancelled together with `WorkerContext::stop`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use apalis::prelude::{
    MemorySink, MemoryStorage, MemoryStorageError, Task, TaskSink, WorkerBuilder, WorkerBuilderExt,
    WorkerContext, WorkerError,
};
use futures_util::{Sink, SinkExt, StreamExt};
use tokio::runtime::Runtime;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::contender::{Contender, Latencies, Measured, PendingMemory};
use crate::work;

/// Every apalis job counts itself here when it ends.
static DONE: Countdown = Countdown::new();

/// The throughput job: the body.
async fn job(n: u64) {
    work::body(n);
    DONE.hit();
}

/// The latency job: records how long it waited since it was pushed, then the body.
async fn timed_job((n, queued_at): (u64, Instant)) {
    work::timed_body(n, queued_at);
    DONE.hit();
}

/// The memory job: number 0 blocks at the gate (holding the only slot), the rest wait behind it.
async fn gated_job(n: u64) {
    if n == 0 {
        work::wait_at_gate().await;
    }
    work::body(n);
    DONE.hit();
}

/// The busy-shutdown job: runs until the bench's token (the gate) is cancelled, then the body.
async fn held_job(n: u64) {
    work::wait_at_gate().await;
    work::body(n);
    DONE.hit();
}

/// The apalis contender.
#[derive(Debug)]
pub struct Apalis;

/// A `MemoryStorage` channel: the worker's storage and, for each producer, one of its own.
struct Channel<Args> {
    /// The sending side every producer's storage clones.
    sender: futures_channel::mpsc::UnboundedSender<Task<Args>>,
}

/// The sink a `MemoryStorage` pushes through, as `MemoryStorage::new` builds it.
fn memory_sink<Args: Send + 'static>(
    sender: futures_channel::mpsc::UnboundedSender<Task<Args>>,
) -> MemorySink<Args> {
    let sink: Box<dyn Sink<Task<Args>, Error = MemoryStorageError> + Send + Sync + Unpin> =
        Box::new(sender.sink_map_err(MemoryStorageError::from));
    MemorySink::new(Arc::new(futures_util::lock::Mutex::new(sink)))
}

impl<Args: Send + 'static> Channel<Args> {
    /// A new channel and the storage its worker consumes.
    fn new() -> (Self, MemoryStorage<Args>) {
        let (sender, receiver) = futures_channel::mpsc::unbounded();
        let storage = MemoryStorage::new_with(memory_sink(sender.clone()), receiver.boxed());
        (Channel { sender }, storage)
    }

    /// A storage for one producer: pushes land in the worker's channel.
    fn producer(&self) -> MemoryStorage<Args> {
        let nothing = futures_util::stream::empty().boxed();
        MemoryStorage::new_with(memory_sink(self.sender.clone()), nothing)
    }
}

/// A worker running on the runtime.
struct Running {
    /// Wakes the worker's `run_with_ctx` closure, which stops it.
    stop: Arc<Notify>,
    /// The worker's context, once it runs.
    context: Arc<Mutex<Option<WorkerContext>>>,
    /// The worker's `run_with_ctx` future.
    worker: JoinHandle<Result<(), WorkerError>>,
}

impl Running {
    /// Waits until the worker is running and ready for jobs.
    async fn started(&self) {
        while !self
            .context
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(WorkerContext::is_running)
        {
            tokio::task::yield_now().await;
        }
    }

    /// Stops the worker and waits until it has finished its jobs in flight and returned.
    async fn stop(self) {
        self.stop.notify_one();
        let result = self.worker.await.expect("the apalis worker panicked");
        result.expect("the apalis worker failed");
    }
}

/// Builds a worker for `storage` running `handler`, with `.concurrency(limit)` if given, spawns
/// it on the current runtime and waits until it runs. (A macro: each shape is another type.)
macro_rules! spawn_worker {
    ($storage:expr, $handler:expr, concurrency: $concurrency:expr) => {{
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
        let builder = WorkerBuilder::new("bench").backend($storage);
        let concurrency: Option<usize> = $concurrency;
        let worker = match concurrency {
            None => tokio::spawn(builder.build($handler).run_with_ctx(on_start)),
            Some(limit) => tokio::spawn(
                builder
                    .concurrency(limit)
                    .build($handler)
                    .run_with_ctx(on_start),
            ),
        };
        let running = Running {
            stop,
            context,
            worker,
        };
        running.started().await;
        running
    }};
}

impl Contender for Apalis {
    fn name(&self) -> &'static str {
        "apalis"
    }

    fn throughput(&self, rt: &Runtime, tasks: u64) -> Measured<Duration> {
        rt.block_on(async {
            let (channel, storage) = Channel::new();
            DONE.arm(tasks);
            let worker = spawn_worker!(storage, job, concurrency: None);
            let mut producer = channel.producer();
            let began = Instant::now();
            for n in 0..tasks {
                producer.push(n).await.expect("push");
            }
            DONE.reached().await;
            let elapsed = began.elapsed();
            worker.stop().await;
            work::check_ran("apalis", tasks);
            Ok(elapsed)
        })
    }

    fn two_producers(&self, rt: &Runtime, per_producer: u64) -> Measured<Duration> {
        let (channel, storage) = Channel::new();
        DONE.arm(2 * per_producer);
        let worker = rt.block_on(async { spawn_worker!(storage, job, concurrency: None) });
        let began = Instant::now();
        std::thread::scope(|scope| {
            for producer in 0..2 {
                let (mut storage, runtime) = (channel.producer(), rt.handle());
                scope.spawn(move || {
                    runtime.block_on(async {
                        for n in producer * per_producer..(producer + 1) * per_producer {
                            storage.push(n).await.expect("push");
                        }
                    })
                });
            }
        });
        rt.block_on(DONE.reached());
        let elapsed = began.elapsed();
        rt.block_on(worker.stop());
        work::check_ran("apalis", 2 * per_producer);
        Ok(elapsed)
    }

    fn latency(&self, rt: &Runtime, calls: u64) -> Measured<Latencies> {
        rt.block_on(async {
            let (channel, storage) = Channel::new();
            DONE.arm(calls);
            let worker = spawn_worker!(storage, timed_job, concurrency: None);
            let mut producer = channel.producer();
            let mut queue_call = Vec::with_capacity(calls as usize);
            for n in 0..calls {
                let queued_at = Instant::now();
                producer.push((n, queued_at)).await.expect("push");
                queue_call.push(queued_at.elapsed().as_nanos() as u64);
                work::pace(n);
            }
            DONE.reached().await;
            worker.stop().await;
            work::check_ran("apalis", calls);
            Ok(Latencies {
                queue_call,
                queued_to_started: work::queued_to_started(calls),
            })
        })
    }

    fn pending_memory(&self, rt: &Runtime, tasks: u64) -> Measured<PendingMemory> {
        rt.block_on(async {
            let (channel, storage) = Channel::new();
            DONE.arm(tasks + 1);
            let gate = work::close_gate();
            let worker = spawn_worker!(
                storage, gated_job, concurrency: Some(1)
            );
            let mut producer = channel.producer();
            producer.push(0).await.expect("push");
            work::wait_parked(1);
            crate::alloc::start();
            let before = crate::alloc::live();
            for n in 1..=tasks {
                producer.push(n).await.expect("push");
            }
            let heap_growth = crate::alloc::live() - before;
            crate::alloc::stop();
            gate.cancel();
            DONE.reached().await;
            worker.stop().await;
            work::check_ran("apalis", tasks + 1);
            Ok(PendingMemory {
                heap_growth,
                argument_size: size_of::<u64>(),
            })
        })
    }

    fn idle_shutdown(&self, rt: &Runtime) -> Measured<Duration> {
        rt.block_on(async {
            let (_channel, storage) = Channel::<u64>::new();
            let worker = spawn_worker!(storage, job, concurrency: None);
            let began = Instant::now();
            worker.stop().await;
            Ok(began.elapsed())
        })
    }

    fn busy_shutdown(&self, rt: &Runtime, tasks: u64) -> Measured<Duration> {
        rt.block_on(async {
            let (channel, storage) = Channel::new();
            let token = work::close_gate();
            let worker = spawn_worker!(storage, held_job, concurrency: None);
            let mut producer = channel.producer();
            for n in 0..tasks {
                producer.push(n).await.expect("push");
            }
            work::wait_parked(tasks);
            let began = Instant::now();
            token.cancel();
            worker.stop().await;
            let elapsed = began.elapsed();
            work::check_ran("apalis", tasks);
            Ok(elapsed)
        })
    }
}

/// Counts completions towards a target and wakes one waiter when it is reached: how the bench
/// learns that a contender with no drain of its own (apalis's worker) has run every task.
#[derive(Debug)]
pub struct Countdown {
    /// Completions since [`Countdown::arm`].
    done: AtomicU64,
    /// The completions to wait for.
    target: AtomicU64,
    /// Woken when `done` reaches `target`.
    reached: Notify,
}

impl Countdown {
    /// A countdown with no target yet.
    pub const fn new() -> Self {
        Countdown {
            done: AtomicU64::new(0),
            target: AtomicU64::new(u64::MAX),
            reached: Notify::const_new(),
        }
    }

    /// Starts counting from zero towards `target`.
    pub fn arm(&self, target: u64) {
        self.done.store(0, Ordering::Relaxed);
        self.target.store(target, Ordering::Release);
    }

    /// Counts one completion.
    #[inline]
    pub fn hit(&self) {
        if self.done.fetch_add(1, Ordering::AcqRel) + 1 == self.target.load(Ordering::Acquire) {
            self.reached.notify_one();
        }
    }

    /// Resolves once the target is reached.
    pub async fn reached(&self) {
        while self.done.load(Ordering::Acquire) < self.target.load(Ordering::Acquire) {
            self.reached.notified().await;
        }
    }
}
