//! The [`Host`]: accepts tasks, runs them on tokio, tracks them, and drains them at shutdown.

use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst, fence};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{Notify, OnceCell};
use tokio_util::sync::CancellationToken;
use tracing::Span;

use crate::blocking::run_blocking;
use crate::cell::{Header, RunRef};
use crate::counts::{ACCEPTING, Counts, Refused};
use crate::dispatch::Lanes;
use crate::durable::worker::{Durable, WorkerConfig};
use crate::error::{HostError, QueueError};
use crate::metrics::RunMetrics;
use crate::outcome::{TaskHandle, TaskId};
use crate::report::{ShutdownReport, Stats};
use crate::run::{Run, Supervision, TaskKind, TaskType, WorkItem};
use crate::sched::Sched;
use crate::state::States;
use crate::store::Store;
use crate::task::{BackgroundTask, IntoTaskResult, TaskError};

/// How long [`Host::shutdown`] waits for running tasks unless told otherwise: ASP.NET's 30 s.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// After the deadline, how long the aborted runs get to drop their futures and report.
const ABORT_GRACE: Duration = Duration::from_millis(1);

/// How long a durable job's lease lasts unless told otherwise.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// How long finished durable jobs are kept unless told otherwise: a day.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// How often a host with a store looks for jobs that no notification announced (another process
/// on SQLite), unless told otherwise.
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// After the shutdown deadline, how long the store gets to take the released jobs back.
const STORE_GRACE: Duration = Duration::from_millis(500);

/// Runs background tasks: QBWI's hosting environment.
///
/// A `Host` is a cheap handle (`Clone` shares it). [`HostBuilder::start`] makes a host the
/// process's current one, which `Task::queue(..)` and [`queue_work_item`](crate::queue_work_item)
/// use; [`HostBuilder::build`] makes one that only `queue_on` / [`Host::queue`] reach.
///
/// ```
/// use std::time::Duration;
///
/// #[qbwi::background_task]
/// async fn send_mail(email: String) -> Result<(), std::io::Error> {
///     # let _ = email;
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let host = qbwi::Host::builder().shutdown_timeout(Duration::from_secs(10)).build()?;
/// let handle = send_mail::queue_on(&host, "a@example.com".into())?;
/// assert_eq!(handle.outcome().await, qbwi::Outcome::Completed);
///
/// let report = host.shutdown().await;
/// assert_eq!(report.completed, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Host {
    inner: Arc<HostInner>,
}

pub(crate) struct HostInner {
    lanes: Lanes,
    shutdown_timeout: Duration,
    max_concurrency: Option<NonZeroUsize>,
    queue_capacity: Option<usize>,
    /// Every task's token (or its parent): cancelled when shutdown begins, or `cancel_after`
    /// later.
    pub(crate) token: CancellationToken,
    /// Cancelled when shutdown begins: the durable worker claims no more jobs.
    draining: CancellationToken,
    /// How long shutdown lets running tasks finish before it cancels their tokens.
    cancel_after: Duration,
    /// Cancelled at the shutdown deadline: running tasks drop their futures.
    pub(crate) kill: CancellationToken,
    pub(crate) counts: Counts,
    /// Notified whenever nothing is queued or running any more, if anyone waits (`idle_waiters`).
    idle: Notify,
    idle_waiters: AtomicUsize,
    next_id: AtomicU64,
    sched: Mutex<Sched>,
    report: OnceCell<ShutdownReport>,
    /// The store's side, for a host with a store.
    durable: std::sync::OnceLock<Durable>,
    /// What `HostBuilder::state` gave: the runs' `State<T>` arguments.
    pub(crate) states: States,
}

/// Configures and starts a [`Host`]; from [`Host::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `start()` or `build()`"]
pub struct HostBuilder {
    shutdown_timeout: Duration,
    cancel_after: Duration,
    max_concurrency: Option<usize>,
    queue_capacity: Option<usize>,
    store: Option<Store>,
    lease: Duration,
    poll_interval: Duration,
    retention: Duration,
    /// Listed by their type names in `Debug`.
    states: States,
}

impl Default for HostBuilder {
    fn default() -> Self {
        HostBuilder {
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            cancel_after: Duration::ZERO,
            max_concurrency: None,
            queue_capacity: None,
            store: None,
            lease: DEFAULT_LEASE,
            poll_interval: DEFAULT_POLL_INTERVAL,
            retention: DEFAULT_RETENTION,
            states: States::default(),
        }
    }
}

impl HostBuilder {
    /// How long [`Host::shutdown`] waits for running tasks after cancelling their tokens before it
    /// abandons them. Default 30 s, like ASP.NET.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// How long shutdown lets running tasks finish on their own before it cancels their tokens.
    /// Default 0: tokens are cancelled as soon as shutdown begins, as QBWI does.
    ///
    /// With `cancel_after(d)`, [`Host::shutdown`] stops accepting work (queued tasks that have
    /// not started never will), waits up to `d` for the running tasks to end without being told
    /// to, then cancels their tokens and waits out the rest of `shutdown_timeout`. A mail that is
    /// half sent gets to finish; a loop that only stops when cancelled still stops. A `d` longer
    /// than `shutdown_timeout` never cancels: the deadline comes first.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let host = qbwi::Host::builder()
    ///     .cancel_after(Duration::from_secs(10))     // finish what you are sending ..
    ///     .shutdown_timeout(Duration::from_secs(30)) // .. but be gone within 30 s
    ///     .build()
    ///     .unwrap();
    /// let mail = host
    ///     .queue_work_item(|token| async move {
    ///         tokio::time::sleep(Duration::from_secs(2)).await; // not cancelled meanwhile
    ///         assert!(!token.is_cancelled());
    ///     })
    ///     .unwrap();
    /// # tokio::task::yield_now().await;
    /// let report = host.shutdown().await;
    /// assert_eq!(report.completed, 1);
    /// # assert!(mail.outcome().await.is_completed());
    /// # }
    /// ```
    pub fn cancel_after(mut self, grace: Duration) -> Self {
        self.cancel_after = grace;
        self
    }

    /// At most this many tasks run at once; the rest wait in the queue, in order. Default:
    /// unbounded, like QBWI.
    pub fn max_concurrency(mut self, limit: usize) -> Self {
        self.max_concurrency = Some(limit);
        self
    }

    /// At most this many tasks wait to start; queueing one more returns [`QueueError::Full`].
    /// Default: unbounded, like QBWI.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = Some(capacity);
        self
    }

    /// Where durable tasks (`#[background_task(durable)]`) keep their jobs. The host runs the
    /// stored jobs of every durable task this binary registered, alongside its in-memory tasks
    /// (`max_concurrency` bounds both together), and its durable `enqueue` / `queue` calls store
    /// jobs there. Without a store, those calls return [`QueueError::NoStore`].
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = std::env::temp_dir().join(format!("qbwi-doc-store-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let store = qbwi::Store::sqlite(dir.join("qbwi.db"))?;
    /// let host = qbwi::Host::builder()
    ///     .store(store)
    ///     .lease(std::time::Duration::from_secs(30))
    ///     .build()?;
    /// # host.shutdown().await;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "sqlite"))]
    /// # fn main() {}
    /// ```
    pub fn store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// How long a claimed durable job stays this host's without a heartbeat. The host renews the
    /// leases of its running jobs every third of it; if the host dies, its jobs run again elsewhere
    /// once their lease expires. Default 30 s.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How often the host checks the store for jobs nobody told it about: added by another process
    /// on SQLite (on PostgreSQL, LISTEN/NOTIFY announces them at once). Jobs added through this
    /// process, delayed jobs coming due and expired leases wake the host without it. Default 1 s.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How long finished durable jobs (completed, or cancelled by an operator) stay in the store,
    /// for the dashboard and [`Store::jobs`](crate::Store::jobs) to show, before a host deletes
    /// them. Every host with a store prunes, a thousand jobs per short transaction, once a minute.
    /// Dead jobs are kept until an operator retries or deletes them. Default 24 h
    /// ([`DEFAULT_RETENTION`]); `Duration::ZERO` deletes a job as soon as it completes.
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Shares `value` with every run of the tasks that take a [`State<T>`](crate::State)
    /// argument: a database pool, a mail transport, an HTTP client, which are not values to copy
    /// into each task (nor to store with a durable job).
    ///
    /// The host keeps one value per type, in an `Arc`; each run that takes a `State<T>` gets a
    /// clone of that `Arc`. Calling `state` again with a value of the same type replaces the
    /// first value. To keep two values of one type (two pools), wrap each in a type of its own
    /// (`struct ReportsDb(Pool);`). A builder cloned after this call shares the value, and so
    /// do the hosts built from the clones.
    ///
    /// [`start`](Self::start) and [`build`](Self::build) fail with
    /// [`HostError::MissingState`] when a task in the binary takes a state the builder was not
    /// given: the check is made once, at start, so no run ever lacks its state.
    ///
    /// ```standalone_crate
    /// use qbwi::{background_task, Host, State};
    ///
    /// /// Settings every run reads.
    /// struct Config {
    ///     sender: String,
    /// }
    ///
    /// #[background_task]
    /// fn log_signup(email: String, config: State<Config>) {
    ///     println!("{} welcomes {email}", config.sender);
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let host = Host::builder()
    ///     .state(Config { sender: "welcome@example.com".to_owned() })
    ///     .build()?;
    /// log_signup::queue_on(&host, "a@example.com".to_owned())?;
    /// # host.wait_idle().await;
    /// # host.shutdown().await;
    ///
    /// // Without it, the host does not start.
    /// let error = Host::builder().build().unwrap_err();
    /// assert!(matches!(error, qbwi::HostError::MissingState { .. }));
    /// # Ok(())
    /// # }
    /// ```
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.states.insert(value);
        self
    }

    /// Builds the host and installs it as the process's current host, which `Task::queue(..)`
    /// uses.
    ///
    /// Fails with [`HostError::AlreadyRunning`] while the current host still accepts work (once
    /// its shutdown has begun, a new host may start), and as [`build`](Self::build) does.
    pub fn start(self) -> Result<Host, HostError> {
        let host = self.build()?;
        crate::current::install(&host)?;
        tracing::info!(
            shutdown_timeout = ?host.inner.shutdown_timeout,
            cancel_after = ?host.inner.cancel_after,
            max_concurrency = ?host.inner.max_concurrency,
            queue_capacity = ?host.inner.queue_capacity,
            tasks = crate::registry().count(),
            "qbwi host started"
        );
        Ok(host)
    }

    /// Builds a host without making it current: for tests and for several hosts in one process.
    /// Queue on it with `Task::queue_on(&host, ..)` or [`Host::queue`].
    ///
    /// Fails outside a tokio runtime ([`HostError::NoRuntime`]), when two registered tasks share
    /// a name ([`HostError::DuplicateTask`]), when one's name has a NUL byte
    /// ([`HostError::NulInTaskName`]), when one takes a state the builder was not given
    /// ([`HostError::MissingState`]) or when a limit is zero ([`HostError::ZeroLimit`]).
    pub fn build(self) -> Result<Host, HostError> {
        let runtime = Handle::try_current().map_err(|_| HostError::NoRuntime)?;
        if let Some((first, second)) = crate::registry::find_duplicate() {
            return Err(HostError::DuplicateTask {
                name: first.name,
                first: first.location(),
                second: second.location(),
            });
        }
        if let Some(task) = crate::registry::find_nul_name() {
            return Err(HostError::NulInTaskName {
                name: task.name,
                location: task.location(),
            });
        }
        if let Some((task, type_name)) =
            crate::registry::find_missing_state(|id| self.states.contains(id))
        {
            return Err(HostError::MissingState {
                task: task.name,
                type_name,
            });
        }
        let max_concurrency = match self.max_concurrency {
            Some(limit) => Some(NonZeroUsize::new(limit).ok_or(HostError::ZeroLimit {
                option: "max_concurrency",
            })?),
            None => None,
        };
        if self.queue_capacity == Some(0) {
            return Err(HostError::ZeroLimit {
                option: "queue_capacity",
            });
        }
        if self.store.is_some() && self.lease < Duration::from_millis(30) {
            return Err(HostError::ZeroLimit { option: "lease" });
        }
        if self.store.is_some() && self.poll_interval.is_zero() {
            return Err(HostError::ZeroLimit {
                option: "poll_interval",
            });
        }
        if self.store.is_none() {
            warn_durable_without_store();
        }
        let schedules = crate::cron::schedules()
            .map_err(|(task, problem)| HostError::Schedule { task, problem })?;
        let (lanes, dispatchers) = Lanes::open(&runtime);
        let host = Host {
            inner: Arc::new(HostInner {
                lanes,
                shutdown_timeout: self.shutdown_timeout,
                cancel_after: self.cancel_after,
                max_concurrency,
                queue_capacity: self.queue_capacity,
                token: CancellationToken::new(),
                draining: CancellationToken::new(),
                kill: CancellationToken::new(),
                counts: Counts::default(),
                idle: Notify::new(),
                idle_waiters: AtomicUsize::new(0),
                next_id: AtomicU64::new(1),
                sched: Mutex::new(Sched::default()),
                report: OnceCell::new(),
                durable: std::sync::OnceLock::new(),
                states: self.states,
            }),
        };
        dispatchers.spawn(&runtime, &host.inner);
        crate::metrics::describe();
        crate::metrics::watch_host(&runtime, &host.inner);
        if let Some(store) = self.store {
            let config = WorkerConfig {
                store,
                lease: self.lease,
                poll_interval: self.poll_interval,
                retention: self.retention,
            };
            let _guard = runtime.enter();
            let durable = Durable::start(config, &host.inner);
            let _ = host.inner.durable.set(durable);
        }
        // After the store, which durable schedules fire into.
        crate::cron::spawn(&runtime, &host.inner, schedules);
        Ok(host)
    }
}

impl Host {
    /// A builder with the defaults: 30 s shutdown timeout, no concurrency limit, unbounded queue.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// The host [`HostBuilder::start`] installed last, also after it shut down (so a late
    /// `queue` gets [`QueueError::ShuttingDown`], not [`QueueError::NoHost`]). `None` if no host
    /// was ever started.
    pub fn current() -> Option<Host> {
        crate::current::get()
    }

    /// Queues a task value. `#[background_task]` generates `Task::queue_on(&host, args..)`, which
    /// calls this.
    ///
    /// Never blocks and never awaits: the task starts on the runtime as soon as its turn comes.
    pub fn queue<T: BackgroundTask>(&self, task: T) -> Result<TaskHandle, QueueError> {
        self.submit::<TaskType<T>, _, _>(move |token| task.run(token), None)
    }

    /// Queues an async closure: QBWI's `QueueBackgroundWorkItem(Func<CancellationToken, Task>)`.
    ///
    /// The closure runs when the task starts, with a token that is cancelled at shutdown. Its
    /// future may return `()` or `Result<T, E: Display>`. The task's name is the closure's type
    /// name.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let host = qbwi::Host::builder().build().unwrap();
    /// let user = String::from("a@example.com"); // copy what the work needs out of the request
    /// let handle = host
    ///     .queue_work_item(move |token| async move {
    ///         tokio::select! {
    ///             _ = token.cancelled() => Err(format!("mail to {user} not sent: shutting down")),
    ///             _ = tokio::task::yield_now() => Ok(()),
    ///         }
    ///     })
    ///     .unwrap();
    /// assert!(handle.outcome().await.is_completed());
    /// # }
    /// ```
    pub fn queue_work_item<F, Fut>(&self, work: F) -> Result<TaskHandle, QueueError>
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoTaskResult,
    {
        self.submit::<WorkItem<F>, _, _>(
            move |token| {
                let future = work(token.clone());
                async move { future.await.into_task_result() }
            },
            None,
        )
    }

    /// Queues a blocking closure on tokio's blocking pool: QBWI's
    /// `QueueBackgroundWorkItem(Action<CancellationToken>)`. It may block its thread without
    /// stalling async tasks; it should check its token between steps.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let host = qbwi::Host::builder().build().unwrap();
    /// let handle = host
    ///     .queue_blocking_work_item(|token| {
    ///         for _step in 0..3 {
    ///             if token.is_cancelled() {
    ///                 return Err("stopped: shutting down");
    ///             }
    ///             std::thread::sleep(std::time::Duration::from_millis(1));
    ///         }
    ///         Ok(())
    ///     })
    ///     .unwrap();
    /// assert!(handle.outcome().await.is_completed());
    /// # }
    /// ```
    pub fn queue_blocking_work_item<F, R>(&self, work: F) -> Result<TaskHandle, QueueError>
    where
        F: FnOnce(CancellationToken) -> R + Send + 'static,
        R: IntoTaskResult,
    {
        self.submit::<WorkItem<F>, _, _>(
            move |token| {
                let token = token.clone();
                run_blocking(move || work(token).into_task_result())
            },
            None,
        )
    }

    /// Accepts one task: counts it, then hands it to a lane, or to the scheduler when a limit
    /// applies. `make` builds the task's future when it starts. `claimed`: a durable job's span,
    /// token, and how long ago it was due; the durable worker logs how its run ended.
    pub(crate) fn submit<K, M, F>(
        &self,
        make: M,
        claimed: Option<(Span, CancellationToken, Duration)>,
    ) -> Result<TaskHandle, QueueError>
    where
        K: TaskKind,
        M: FnOnce(&CancellationToken) -> F + Send + 'static,
        F: Future<Output = Result<(), TaskError>> + Send + 'static,
    {
        let inner = &*self.inner;
        let name = K::name();
        if let Err(refused) = inner.counts.accept(inner.queue_capacity) {
            return Err(match refused {
                Refused::Full => {
                    tracing::warn!(task = name, "not queued: the queue is full");
                    QueueError::Full
                }
                Refused::ShuttingDown => {
                    tracing::warn!(task = name, "not queued: the host is shutting down");
                    QueueError::ShuttingDown
                }
            });
        }
        let id = inner.next_task_id();
        let metrics = match &claimed {
            Some((_, _, waited)) => RunMetrics::claimed(name, *waited),
            None => RunMetrics::queued(name),
        };
        let supervision = match claimed {
            Some((span, token, _)) => Some(Supervision::claimed(span, token)),
            None => {
                let span = tracing::info_span!("background_task", task = %name, id = id.0);
                if !span.is_disabled() {
                    span.in_scope(|| tracing::debug!("queued"));
                    Some(Supervision::new(span))
                } else if tracing::enabled!(tracing::Level::WARN) {
                    // No span, but the run's end event (with its duration) may be logged.
                    Some(Supervision::new(span))
                } else {
                    // Nothing would be logged: a run carries no span and no clock at all.
                    None
                }
            }
        };
        let (run, cell) = RunRef::new(
            Header::new(id),
            Run::<K, M, F>::new(make, supervision, metrics),
        );
        let handle = TaskHandle::new(cell, name);
        if !inner.is_limited(K::OPTIONS.concurrency) {
            inner.lanes.send(run, inner);
        } else {
            let admitted = inner.sched().admit(run, inner.max_concurrency);
            match admitted {
                Ok(Some(run)) => inner.lanes.send(run, inner),
                Ok(None) => {}
                Err(mut run) => run.abandon_waiting(inner),
            }
        }
        Ok(handle)
    }

    /// The durable side of a host with a store.
    pub(crate) fn durable(&self) -> Option<&Durable> {
        self.inner.durable.get()
    }

    /// The next task's id.
    pub(crate) fn next_task_id(&self) -> TaskId {
        self.inner.next_task_id()
    }

    pub(crate) fn from_inner(inner: Arc<HostInner>) -> Host {
        Host { inner }
    }

    /// The host's counters now.
    pub fn stats(&self) -> Stats {
        self.inner.counts.stats()
    }

    /// `false` once shutdown has begun.
    pub fn is_accepting(&self) -> bool {
        self.inner.counts.phase() == ACCEPTING
    }

    /// The token every task's token derives from: cancelled when shutdown begins. Useful for
    /// loops of your own that should stop with the host.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.inner.token.clone()
    }

    /// Waits until nothing is queued or running. Returns at once on an idle host; tasks queued
    /// meanwhile are waited for too.
    ///
    /// With a store, also waits until what `queue` handed the writer is stored, the jobs of this
    /// binary's durable tasks that are due now have run, and the store has recorded how every
    /// durable job this host ran ended (so the store's counts are settled). Jobs that other hosts
    /// hold, or that are due later (delayed, or waiting to be retried), are not waited for.
    pub async fn wait_idle(&self) {
        loop {
            self.inner.wait_idle().await;
            let settled = match self.inner.durable.get() {
                Some(durable) => durable.settle(&self.inner).await,
                None => true,
            };
            if settled {
                // The runs that ended, handed to the metrics recorder (feature `metrics`).
                crate::metrics::flush();
                return;
            }
        }
    }

    /// Shuts the host down and reports how every task it accepted ended.
    ///
    /// 1. Stops accepting: queue calls now return [`QueueError::ShuttingDown`].
    /// 2. Cancels every task's token. Queued tasks that have not started never will
    ///    ([`Outcome::NotStarted`](crate::Outcome::NotStarted)).
    /// 3. Waits for running tasks, up to `shutdown_timeout`.
    /// 4. At the deadline, drops the futures of async tasks still running and detaches blocking
    ///    ones ([`Outcome::Abandoned`](crate::Outcome::Abandoned)), and returns: within the
    ///    timeout plus a few milliseconds, whatever the tasks do.
    ///
    /// Calling it again (or concurrently) returns the same report.
    ///
    /// Do not await it inside one of this host's own tasks: that task is running, so the shutdown
    /// would wait for it (that is, for itself) until the deadline and then abandon it, and the
    /// shutdown with it. Spawn it instead (`tokio::spawn(async move { host.shutdown().await })`),
    /// or use [`shutdown_signal`](crate::shutdown_signal) in the app's `main`.
    pub async fn shutdown(&self) -> ShutdownReport {
        *self
            .inner
            .report
            .get_or_init(|| self.inner.run_shutdown())
            .await
    }

    /// Waits for Ctrl-C (SIGINT) or SIGTERM, then [`shutdown`](Self::shutdown)s.
    pub async fn run_until_signal(&self) -> ShutdownReport {
        crate::signal::shutdown_signal().await;
        tracing::info!("shutdown signal received");
        self.shutdown().await
    }
}

impl HostInner {
    /// The next task's id.
    pub(crate) fn next_task_id(&self) -> TaskId {
        TaskId(self.next_id.fetch_add(1, Relaxed))
    }

    /// The token every task's token derives from (cancelled at shutdown, or `cancel_after`
    /// later).
    pub(crate) fn tasks_token(&self) -> &CancellationToken {
        &self.token
    }

    /// Cancelled when shutdown begins.
    pub(crate) fn draining_token(&self) -> &CancellationToken {
        &self.draining
    }

    /// Cancelled at the shutdown deadline.
    pub(crate) fn kill_token(&self) -> &CancellationToken {
        &self.kill
    }

    /// Whether nothing is queued or running.
    pub(crate) fn is_idle(&self) -> bool {
        self.counts.is_idle()
    }

    /// `false` once shutdown has begun.
    pub(crate) fn is_accepting(&self) -> bool {
        self.counts.phase() == ACCEPTING
    }

    /// How many more tasks may start now under `max_concurrency`; `None` without it.
    pub(crate) fn free_slots(&self) -> Option<usize> {
        let limit = self.max_concurrency()?;
        let stats = self.counts.stats();
        Some(limit.saturating_sub((stats.queued + stats.running) as usize))
    }

    fn sched(&self) -> MutexGuard<'_, Sched> {
        // The scheduler's state stays consistent across a panic (none can happen while held).
        self.sched.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A limited task ended: start whatever its slots let through.
    pub(crate) fn release_slot(&self, name: &'static str) {
        let ready = self.sched().release(name, self.max_concurrency);
        for job in ready {
            self.lanes.send(job, self);
        }
        if let Some(durable) = self.durable.get() {
            durable.room_freed();
        }
    }

    pub(crate) fn max_concurrency(&self) -> Option<usize> {
        self.max_concurrency.map(NonZeroUsize::get)
    }

    /// Whether a task with this own `concurrency` goes through the scheduler (and then holds
    /// slots while it runs).
    pub(crate) fn is_limited(&self, concurrency: Option<NonZeroUsize>) -> bool {
        self.max_concurrency.is_some() || concurrency.is_some()
    }

    /// The shutdown deadline has passed: runs end as abandoned.
    pub(crate) fn is_killed(&self) -> bool {
        // The phase is on a line the run just touched; the token only matters once draining.
        self.counts.phase() != ACCEPTING && self.kill.is_cancelled()
    }

    /// Wakes `wait_idle` callers, if there are any (`notify_waiters` takes a lock, and most
    /// hosts go idle between bursts with nobody waiting).
    pub(crate) fn notify_idle(&self) {
        // Pairs with the fence in `wait_idle`: either it sees the host idle, or this sees it.
        fence(SeqCst);
        if self.idle_waiters.load(SeqCst) > 0 {
            self.idle.notify_waiters();
        }
    }

    async fn wait_idle(&self) {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, SeqCst);
            }
        }
        self.idle_waiters.fetch_add(1, SeqCst);
        let _waiting = Waiting(&self.idle_waiters);
        crate::wait::wait_until(&self.idle, || self.counts.is_idle()).await;
    }

    /// Every step is idempotent, so a shutdown whose caller gave up can be finished by the next.
    async fn run_shutdown(&self) -> ShutdownReport {
        let started = tokio::time::Instant::now();
        if self.counts.begin_drain() {
            let stats = self.counts.stats();
            if self.cancel_after.is_zero() {
                tracing::info!(
                    running = stats.running,
                    queued = stats.queued,
                    timeout = ?self.shutdown_timeout,
                    "shutting down: cancelling tasks and waiting for them to finish"
                );
            } else {
                tracing::info!(
                    running = stats.running,
                    queued = stats.queued,
                    cancel_after = ?self.cancel_after,
                    timeout = ?self.shutdown_timeout,
                    "shutting down: letting running tasks finish, then cancelling them"
                );
            }
        }
        self.draining.cancel();
        let deadline = started + self.shutdown_timeout;
        if self.cancel_after.is_zero() {
            self.token.cancel();
        }
        let waiting = self.sched().close();
        for mut run in waiting {
            run.abandon_waiting(self); // not started
        }
        let drained = async {
            self.wait_idle().await;
            if let Some(durable) = self.durable.get() {
                durable.flushed().await; // what `queue` handed the writer
            }
        };
        tokio::pin!(drained);
        let mut done = false;
        if !self.token.is_cancelled() {
            // Running tasks finish on their own for `cancel_after`; then they are told to stop.
            let grace = (started + self.cancel_after).min(deadline);
            done = tokio::time::timeout_at(grace, drained.as_mut())
                .await
                .is_ok();
            if !done {
                tracing::info!(
                    running = self.counts.stats().running,
                    "shutdown: cancelling the tasks still running after `cancel_after`"
                );
            }
            self.token.cancel();
        }
        if !done && tokio::time::timeout_at(deadline, drained).await.is_err() {
            tracing::warn!(
                running = self.counts.stats().running,
                "shutdown deadline reached: abandoning the tasks still running"
            );
            self.kill.cancel();
            let _ = tokio::time::timeout(ABORT_GRACE, self.wait_idle()).await;
        }
        let stats = self.counts.finalize().await;
        self.idle.notify_waiters();
        let mut report = ShutdownReport::from_stats(stats, Duration::ZERO);
        if let Some(durable) = self.durable.get() {
            let until = deadline.max(tokio::time::Instant::now()) + STORE_GRACE;
            durable.finish_shutdown(&mut report, until).await;
        }
        report.elapsed = started.elapsed();
        crate::metrics::flush();
        tracing::info!(%report, "qbwi host shut down");
        report
    }
}

/// A binary whose durable tasks have no store to go to: every `enqueue` of them would fail with
/// `NoStore`. Says so once, at start, naming them.
fn warn_durable_without_store() {
    let mut durable: Vec<&str> = crate::registry()
        .filter(|task| task.durable)
        .map(|task| task.name)
        .collect();
    if durable.is_empty() {
        return;
    }
    durable.sort_unstable();
    tracing::warn!(
        tasks = ?durable,
        "this binary has durable tasks, and the host has no store: their `enqueue` and `queue` \
         calls fail with `NoStore` until a host is built with `.store(qbwi::Store::sqlite(..)?)` \
         or `Store::postgres(..)`"
    );
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("accepting", &self.is_accepting())
            .field("shutdown_timeout", &self.inner.shutdown_timeout)
            .field("cancel_after", &self.inner.cancel_after)
            .field("max_concurrency", &self.inner.max_concurrency)
            .field("queue_capacity", &self.inner.queue_capacity)
            .field("stats", &self.stats())
            .finish()
    }
}
