//! The durable worker of a host with a store: it claims due jobs of the tasks this binary knows
//! (as many as the host has room for), runs each as an ordinary task of the host, reports how each
//! run ended (completed: deleted; failed: retried after a backoff, or dead; interrupted by
//! shutdown: released without using an attempt), and renews the leases of the jobs it runs.
//!
//! Two tokio tasks per host: the claim loop, and the report loop (which also sends the heartbeats).
//! They hold the host weakly and stop when it shuts down or is dropped. The store being
//! unreachable never stops them: they log, wait (100 ms doubling up to 30 s, with jitter) and try
//! again, while the host's in-memory tasks run on.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::DurableEntry;
use super::writer::Writer;
use crate::host::{Host, Inner, wait_until};
use crate::outcome::Outcome;
use crate::report::ShutdownReport;
use crate::store::{ClaimRequest, ClaimedJob, Finished, JobId, Store, now_millis};

/// At most this many jobs per claim.
const CLAIM_BATCH: usize = 128;

/// Without `max_concurrency`, a host holds at most this many durable jobs at once.
const DEFAULT_IN_FLIGHT: usize = 1024;

/// How a host works with its store; from the builder.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) store: Store,
    pub(crate) lease: Duration,
    pub(crate) poll_interval: Duration,
}

/// What the host keeps of its durable side.
pub(crate) struct Durable {
    pub(crate) shared: Arc<Shared>,
    pub(crate) writer: Writer,
    /// Stops the loops when the host goes away without shutting down.
    _stop: DropGuard,
}

/// What the host and its two loops share.
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) lease: Duration,
    poll_interval: Duration,
    /// This host's name in the store's `worker` column: `hostname:pid:random`.
    pub(crate) worker: Arc<str>,
    /// The durable tasks this binary registered, by name.
    entries: HashMap<&'static str, DurableEntry>,
    tasks: Arc<[&'static str]>,
    /// Jobs this host claimed and has not reported yet.
    in_flight: Mutex<HashSet<JobId>>,
    /// Wakes shutdown when `in_flight` empties.
    all_reported: Notify,
    /// Wakes the claim loop when a run ends (room for another).
    pub(crate) room: Notify,
    reports: mpsc::UnboundedSender<Report>,
    /// Runs interrupted by shutdown and released, by how their run ended.
    requeued: Requeued,
    stop: CancellationToken,
}

#[derive(Default)]
struct Requeued {
    failed: AtomicU64,
    panicked: AtomicU64,
    abandoned: AtomicU64,
    not_started: AtomicU64,
}

/// A claimed job's end, for the report loop.
struct Report {
    job: ClaimedJob,
    end: End,
}

/// How a claimed job ended on this host.
enum End {
    /// It ran (or was dropped at shutdown before it could) and ended so.
    Ran(Outcome),
    /// Its payload cannot be decoded: dead at once with this error (retries would fail the same
    /// way).
    Undecodable(String),
    /// The host did not take it (shutting down, or its queue is full): released, and not in the
    /// host's counts.
    Refused,
}

impl Durable {
    /// Starts the worker's loops (and the writer) for a host being built.
    pub(crate) fn start(config: Config, host: &Arc<Inner>) -> Durable {
        let entries: HashMap<&'static str, DurableEntry> = crate::registry()
            .filter_map(|task| task.durable_entry().map(|entry| (task.name, entry)))
            .collect();
        let tasks: Arc<[&'static str]> = entries.keys().copied().collect();
        let (reports, received) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let shared = Arc::new(Shared {
            store: config.store.clone(),
            lease: config.lease,
            poll_interval: config.poll_interval,
            worker: worker_name().into(),
            entries,
            tasks,
            in_flight: Mutex::default(),
            all_reported: Notify::new(),
            room: Notify::new(),
            reports,
            requeued: Requeued::default(),
            stop: stop.clone(),
        });
        if !shared.tasks.is_empty() {
            tokio::spawn(claim_loop(Arc::downgrade(host), shared.clone()));
            tokio::spawn(report_loop(shared.clone(), received, host.token.clone()));
        }
        tracing::info!(
            store = config.store.describe(),
            worker = &*shared.worker,
            tasks = shared.tasks.len(),
            lease = ?config.lease,
            "durable worker started"
        );
        Durable {
            writer: Writer::spawn(config.store, host.kill.clone()),
            shared,
            _stop: stop.drop_guard(),
        }
    }

    /// At shutdown, after the final count: waits (up to `until`) for the writer to store what was
    /// queued and for every claimed job to be reported, then moves the released runs from the
    /// counts where the host put them to `requeued`, and stops the loops.
    pub(crate) async fn finish_shutdown(
        &self,
        report: &mut ShutdownReport,
        until: tokio::time::Instant,
    ) {
        let settled = async {
            self.writer.flushed().await;
            self.shared.reported().await;
        };
        if tokio::time::timeout_at(until, settled).await.is_err() {
            tracing::warn!(
                unreported = self.shared.in_flight().len(),
                "shutdown: the store did not take every report in time; those jobs run again once \
                 their lease expires"
            );
        }
        let requeued = &self.shared.requeued;
        let mut take = |count: &mut u64, from: &AtomicU64| {
            let moved = from.load(Relaxed).min(*count);
            *count -= moved;
            report.requeued += moved;
        };
        take(&mut report.failed, &requeued.failed);
        take(&mut report.panicked, &requeued.panicked);
        take(&mut report.abandoned, &requeued.abandoned);
        take(&mut report.not_started, &requeued.not_started);
        self.shared.stop.cancel();
    }
}

impl Shared {
    fn in_flight(&self) -> MutexGuard<'_, HashSet<JobId>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until every job this host claimed is reported to the store.
    pub(crate) async fn reported(&self) {
        wait_until(&self.all_reported, || self.in_flight().is_empty()).await;
    }

    /// Whether jobs of this binary's tasks are due now and unclaimed (a store error counts as
    /// no: it cannot be known).
    pub(crate) async fn has_due_jobs(&self) -> bool {
        if self.tasks.is_empty() {
            return false;
        }
        matches!(
            self.store.backend().next_due(self.tasks.clone()).await,
            Ok(Some(due)) if due.is_zero()
        )
    }

    /// How many more jobs the host has room for now.
    fn room_for(&self, host: &Inner) -> usize {
        let room = match host.max_concurrency() {
            Some(limit) => {
                let stats = host.counts.stats();
                limit.saturating_sub((stats.queued + stats.running) as usize)
            }
            None => DEFAULT_IN_FLIGHT.saturating_sub(self.in_flight().len()),
        };
        room.min(CLAIM_BATCH)
    }

    /// Runs a claimed job as a task of `host`, or reports at once why it cannot run.
    fn start(self: &Arc<Self>, host: &Arc<Inner>, job: ClaimedJob) {
        let Some(entry) = self.entries.get(job.task.as_str()) else {
            // Only known names are claimed; a store that returns others is answered anyway.
            let error = format!("no task named `{}` is registered in this binary", job.task);
            return self.report(job, End::Ran(Outcome::Failed(error)));
        };
        // A row the store could not read is dead at once, like a payload that does not decode.
        let started = match &job.payload {
            Ok(payload) => (entry.start)(&Host::from_inner(host.clone()), payload)
                .map_err(|error| error.to_string()),
            Err(unreadable) => Err(unreadable.clone()),
        };
        match started {
            Ok(Ok(handle)) => {
                let shared = self.clone();
                tokio::spawn(async move {
                    let outcome = handle.outcome().await;
                    shared.report(job, End::Ran(outcome));
                });
            }
            // Shutting down, or the queue is full: back to the store.
            Ok(Err(_)) => self.report(job, End::Refused),
            Err(error) => {
                tracing::error!(task = %job.task, job = %job.id, %error, "stored job cannot be decoded: dead");
                self.report(job, End::Undecodable(error));
            }
        }
    }

    fn report(&self, job: ClaimedJob, end: End) {
        let _ = self.reports.send(Report { job, end });
    }
}

/// Claims what the host has room for, starts it, and waits for more work.
async fn claim_loop(host: Weak<Inner>, shared: Arc<Shared>) {
    let mut backoff = Retry::default();
    loop {
        let Some(inner) = host.upgrade() else { return };
        if inner.token.is_cancelled() || shared.stop.is_cancelled() {
            return;
        }
        let token = inner.token.clone();
        let store = shared.store.clone();
        // Registered before claiming, so that a job added meanwhile is not missed.
        let added = store.inner.added.notified();
        tokio::pin!(added);
        added.as_mut().enable();
        let room = shared.room_for(&inner);
        let mut more = false;
        if room > 0 {
            let request = ClaimRequest {
                tasks: shared.tasks.clone(),
                limit: room,
                worker: shared.worker.clone(),
                lease: shared.lease,
            };
            let claimed = tokio::select! {
                claimed = store.backend().claim(request) => claimed,
                () = token.cancelled() => return,
            };
            match claimed {
                Ok(jobs) => {
                    backoff.reset();
                    more = jobs.len() == room;
                    shared.in_flight().extend(jobs.iter().map(|job| job.id));
                    for job in jobs {
                        shared.start(&inner, job);
                    }
                }
                Err(error) => {
                    let wait = backoff.next();
                    tracing::warn!(%error, retry_in = ?wait, "cannot claim durable jobs");
                    drop(inner);
                    tokio::select! {
                        () = tokio::time::sleep(wait) => continue,
                        () = token.cancelled() => return,
                    }
                }
            }
        }
        if more {
            continue;
        }
        // Nothing more to do now: wait for a job to be added or to come due, or for room.
        let wait = if room == 0 {
            shared.poll_interval
        } else {
            match store.backend().next_due(shared.tasks.clone()).await {
                Ok(Some(due)) => due.min(shared.poll_interval),
                Ok(None) => shared.poll_interval,
                Err(_) => shared.poll_interval, // the claim will say what is wrong
            }
        };
        drop(inner);
        if wait.is_zero() {
            continue;
        }
        tokio::select! {
            () = &mut added => {}
            () = store.backend().notified() => {}
            () = shared.room.notified(), if room == 0 => {}
            () = tokio::time::sleep(wait) => {}
            () = token.cancelled() => return,
        }
    }
}

/// Records how runs ended (in batches) and renews the leases of the jobs still running.
async fn report_loop(
    shared: Arc<Shared>,
    mut received: mpsc::UnboundedReceiver<Report>,
    shutdown: CancellationToken,
) {
    let mut heartbeat = tokio::time::interval(shared.lease / 3);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reports = Vec::new();
    let mut pending: Vec<Finished> = Vec::new();
    let mut backoff = Retry::default();
    let mut retry_in = None;
    loop {
        tokio::select! {
            received = received.recv_many(&mut reports, 1024) => {
                if received == 0 {
                    return;
                }
                let draining = shutdown.is_cancelled();
                pending.extend(reports.drain(..).map(|report| shared.finished(report, draining)));
            }
            _ = heartbeat.tick() => {
                let ids: Vec<JobId> = shared.in_flight().iter().copied().collect();
                if !ids.is_empty() {
                    match shared.store.backend().heartbeat(shared.worker.clone(), ids, shared.lease).await {
                        Ok(lost) if !lost.is_empty() => tracing::warn!(
                            jobs = ?lost,
                            "lost the lease of running durable jobs (the store was out of reach \
                             longer than the lease): another worker may run them too"
                        ),
                        Ok(_) => {}
                        Err(error) => tracing::warn!(%error, "cannot renew durable jobs' leases"),
                    }
                }
                continue;
            }
            () = tokio::time::sleep(retry_in.unwrap_or_default()), if retry_in.is_some() => {}
            () = shared.stop.cancelled() => return,
        }
        if pending.is_empty() {
            continue;
        }
        match shared
            .store
            .backend()
            .finish(shared.worker.clone(), pending.clone())
            .await
        {
            Ok(()) => {
                backoff.reset();
                retry_in = None;
                let mut in_flight = shared.in_flight();
                for finished in pending.drain(..) {
                    in_flight.remove(&finished.id());
                }
                let empty = in_flight.is_empty();
                drop(in_flight);
                shared.room.notify_one();
                if empty {
                    shared.all_reported.notify_waiters();
                }
            }
            Err(error) => {
                let wait = backoff.next();
                tracing::warn!(%error, jobs = pending.len(), retry_in = ?wait, "cannot record durable jobs' ends");
                retry_in = Some(wait);
            }
        }
    }
}

impl Shared {
    /// What the store should do with a job whose run ended so.
    fn finished(&self, report: Report, draining: bool) -> Finished {
        let Report { job, end } = report;
        let outcome = match end {
            End::Ran(outcome) => outcome,
            End::Refused => return Finished::Released(job.id),
            End::Undecodable(error) => {
                return Finished::Failed {
                    id: job.id,
                    error,
                    retry_at: None,
                };
            }
        };
        let requeue = |count: &AtomicU64| {
            count.fetch_add(1, Relaxed);
            Finished::Released(job.id)
        };
        match outcome {
            Outcome::Completed => Finished::Completed(job.id),
            Outcome::Abandoned => requeue(&self.requeued.abandoned),
            Outcome::NotStarted => requeue(&self.requeued.not_started),
            // Most likely the shutdown's cancellation: the job runs again elsewhere, its attempt
            // given back.
            Outcome::Failed(_) if draining => requeue(&self.requeued.failed),
            Outcome::Panicked(_) if draining => requeue(&self.requeued.panicked),
            outcome => {
                let policy = self
                    .entries
                    .get(job.task.as_str())
                    .map_or(super::RetryPolicy::DEFAULT, |entry| entry.retry);
                let wait = policy.jittered_wait_before(job.attempt);
                let error = match outcome {
                    Outcome::Failed(error) => error,
                    outcome => outcome.to_string(),
                };
                let retry_at = now_millis().saturating_add(wait.as_millis() as i64);
                if job.attempt < job.max_attempts {
                    tracing::warn!(task = %job.task, job = %job.id, attempt = job.attempt, %error, retry_in = ?wait, "durable job failed: will retry");
                } else {
                    tracing::error!(task = %job.task, job = %job.id, attempts = job.attempt, %error, "durable job failed for the last time: dead");
                }
                Finished::Failed {
                    id: job.id,
                    error,
                    retry_at: Some(retry_at),
                }
            }
        }
    }
}

impl Finished {
    fn id(&self) -> JobId {
        match self {
            Finished::Completed(id) | Finished::Released(id) => *id,
            Finished::Failed { id, .. } => *id,
        }
    }
}

/// Waits between attempts to reach the store: 100 ms doubling up to 30 s, with jitter.
#[derive(Default)]
struct Retry {
    failures: u32,
}

impl Retry {
    fn next(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let wait =
            super::RetryPolicy::new(0, super::Backoff::Exponential, Duration::from_millis(100))
                .wait_before(self.failures)
                .min(Duration::from_secs(30));
        wait / 2 + (wait / 2).mul_f64(super::random_fraction())
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

/// `hostname:pid:random`, unique per host.
fn worker_name() -> String {
    let machine = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    let random = (super::random_fraction() * (1u64 << 32) as f64) as u64;
    format!("{machine}:{}:{random:08x}", std::process::id())
}
