//! The durable worker of a host with a store: it claims due jobs of the tasks this binary knows
//! (no more than the host can start now: its free `max_concurrency`, and each task's free
//! `concurrency`), runs each as an ordinary task of the host, reports how each run ended
//! (completed: deleted; failed: retried after a backoff, or dead; interrupted by shutdown:
//! released without using an attempt), and renews the leases of the jobs it runs.
//!
//! Jobs this host enqueues while it has room may be added already claimed by it (see
//! [`Worker::try_take`], used by the writer): they run as claimed ones, without a claim.
//!
//! Each run ends with one log event, inside the run's `background_task{task=.. job=.. attempt=..}`
//! span, whose words say what the store will do with the job (and what the report counts it as).
//!
//! An operator may cancel a running job in the store: the heartbeat learns of it, the worker cancels
//! the run's token, and the run's end is reported as cancelled (not retried).
//!
//! Three tokio tasks per host: the claim loop, the report loop (which also sends the heartbeats),
//! and the node loop (which registers the host in the store, reports it every third of the lease,
//! and prunes the finished jobs past the retention). They hold the host weakly and stop when it
//! shuts down or is dropped. The store being
//! unreachable never stops them: they log, wait (100 ms doubling up to 30 s, with jitter) and try
//! again, while the host's in-memory tasks run on.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::Span;

use super::DurableEntry;
use super::writer::Writer;
use crate::host::{Host, HostInner};
use crate::metrics::DurableEnd;
use crate::outcome::Outcome;
use crate::reconnect::Reconnect;
use crate::report::ShutdownReport;
use crate::store::{
    ClaimRequest, ClaimedJob, Finished, JobId, MinuteTally, NodeReport, Store, Take, now_millis,
};
use crate::wait::wait_until;

/// At most this many runs' ends per write to the store.
const MOST_REPORTS: usize = 1024;

/// How long the first run's end to report waits for others to share its write: one write for
/// every run that ends within it, instead of one each (the store's connection thread, or a round
/// trip, per job). A run's end reaches the store this much later; only `wait_idle`, shutdown and a
/// task's `concurrency` wait for it (a job of a task at its limit is claimed once the end of one
/// before it is stored; the host's `max_concurrency` frees its slot when the run ends).
const GATHER_REPORTS: Duration = Duration::from_millis(1);

/// Without `max_concurrency`, a host holds at most this many durable jobs at once.
const DEFAULT_IN_FLIGHT: usize = 1024;

/// How often a host prunes the finished jobs past the retention.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// How many finished jobs one prune transaction deletes at most.
const PRUNE_BATCH: usize = 1_000;

/// How often a host adds the runs that ended to the store's per-minute counts: counted here and
/// written together, they cost the runs nothing.
const TALLY_EVERY: Duration = Duration::from_secs(5);

/// How a host works with its store; from the builder.
#[derive(Debug, Clone)]
pub(crate) struct WorkerConfig {
    pub(crate) store: Store,
    pub(crate) lease: Duration,
    pub(crate) poll_interval: Duration,
    /// How long finished jobs are kept (zero: completed jobs are deleted at once).
    pub(crate) retention: Duration,
}

/// What the host keeps of its durable side.
pub(crate) struct Durable {
    worker: Arc<Worker>,
    pub(crate) writer: Writer,
    /// Stops the loops when the host goes away without shutting down.
    _stop: DropGuard,
}

/// What the host and its two loops share.
pub(crate) struct Worker {
    pub(crate) store: Store,
    pub(crate) lease: Duration,
    poll_interval: Duration,
    retention: Duration,
    /// When the host started (ms since the epoch), for its node.
    started_at: i64,
    /// This host's name in the store's `worker` column and its node's id: `hostname:pid:random`.
    pub(crate) name: Arc<str>,
    /// The durable tasks this binary registered, by name.
    entries: HashMap<&'static str, DurableEntry>,
    tasks: Arc<[&'static str]>,
    /// The tasks without a `concurrency` of their own: claimed together.
    unlimited: Arc<[&'static str]>,
    /// The tasks with a `concurrency`: each claimed on its own, at most its free slots.
    limited: Vec<(&'static str, NonZeroUsize)>,
    /// Jobs this host claimed and has not reported yet.
    in_flight: Mutex<InFlight>,
    /// Claims sent to the store whose jobs are not in `in_flight` yet: while one is out, the
    /// store may show its jobs as running although this host has not counted them.
    claiming: AtomicUsize,
    /// Room that takes ([`Worker::try_take`]) have reserved for jobs being stored: the claim loop
    /// leaves it to them.
    reserved: AtomicUsize,
    /// Wakes `wait_idle` when a claim has counted its jobs.
    claimed: Notify,
    /// Wakes shutdown when `in_flight` empties.
    all_reported: Notify,
    /// Wakes the claim loop when a run ends (room for another).
    pub(crate) room: Notify,
    reports: mpsc::UnboundedSender<Finished>,
    /// Runs interrupted by shutdown and released, by how their run ended.
    requeued: Requeued,
    /// Runs that ended, by minute (ms since the epoch) and task: (completed, failed), not yet
    /// added to the store's counts.
    tallies: Mutex<Tallies>,
    /// The host's tasks' token: a run that fails once it is cancelled was most likely cut short by
    /// the shutdown, and goes back to the store.
    cancelled: CancellationToken,
    stop: CancellationToken,
}

/// Runs that ended, by (minute, task): (completed, failed).
type Tallies = HashMap<(i64, &'static str), (u64, u64)>;

/// The jobs a host holds, and how many of each task.
#[derive(Default)]
struct InFlight {
    jobs: HashMap<JobId, Held>,
    by_task: HashMap<&'static str, usize>,
}

/// A job this host holds.
struct Held {
    task: &'static str,
    /// The run's token: cancelled when an operator cancels the job.
    token: CancellationToken,
    /// Whether an operator cancelled it.
    cancelled: bool,
}

impl InFlight {
    fn insert(&mut self, id: JobId, task: &'static str, token: CancellationToken) {
        let held = Held {
            task,
            token,
            cancelled: false,
        };
        if self.jobs.insert(id, held).is_none() {
            *self.by_task.entry(task).or_default() += 1;
        }
    }

    fn remove(&mut self, id: JobId) {
        if let Some(held) = self.jobs.remove(&id)
            && let Some(count) = self.by_task.get_mut(held.task)
        {
            *count -= 1;
        }
    }

    /// An operator cancelled job `id`: cancels its run's token. `false` if this host does not
    /// hold it.
    fn cancel(&mut self, id: JobId) -> bool {
        match self.jobs.get_mut(&id) {
            Some(held) => {
                held.cancelled = true;
                held.token.cancel();
                true
            }
            None => false,
        }
    }

    /// Whether an operator cancelled job `id`.
    fn was_cancelled(&self, id: JobId) -> bool {
        self.jobs.get(&id).is_some_and(|held| held.cancelled)
    }

    fn of_task(&self, task: &str) -> usize {
        self.by_task.get(task).copied().unwrap_or(0)
    }

    fn len(&self) -> usize {
        self.jobs.len()
    }

    fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }
}

#[derive(Default)]
struct Requeued {
    failed: AtomicU64,
    panicked: AtomicU64,
    abandoned: AtomicU64,
    not_started: AtomicU64,
}

/// How a claimed job ended on this host.
enum RunEnd {
    /// It ran (or was dropped at shutdown before it could) and ended so.
    Ran(Outcome),
    /// Its row cannot be read or its payload cannot be decoded: dead at once with this error
    /// (retries would fail the same way).
    Undecodable(String),
    /// The host did not take it (shutting down, or its queue is full): released, and not in the
    /// host's counts.
    Refused,
}

impl Durable {
    /// Starts the worker's loops (and the writer) for a host being built.
    pub(crate) fn start(config: WorkerConfig, host: &Arc<HostInner>) -> Durable {
        let entries: HashMap<&'static str, DurableEntry> = crate::registry()
            .filter_map(|task| task.durable_entry().map(|entry| (task.name, entry)))
            .collect();
        let tasks: Arc<[&'static str]> = entries.keys().copied().collect();
        let unlimited = entries
            .iter()
            .filter(|(_, entry)| entry.concurrency.is_none())
            .map(|(name, _)| *name)
            .collect();
        let mut limited: Vec<(&'static str, NonZeroUsize)> = entries
            .iter()
            .filter_map(|(name, entry)| entry.concurrency.map(|limit| (*name, limit)))
            .collect();
        limited.sort();
        let (reports, received) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let worker = Arc::new(Worker {
            store: config.store.clone(),
            lease: config.lease,
            poll_interval: config.poll_interval,
            retention: config.retention,
            started_at: now_millis(),
            name: worker_name().into(),
            entries,
            tasks,
            unlimited,
            limited,
            in_flight: Mutex::default(),
            claiming: AtomicUsize::new(0),
            reserved: AtomicUsize::new(0),
            claimed: Notify::new(),
            all_reported: Notify::new(),
            room: Notify::new(),
            reports,
            requeued: Requeued::default(),
            tallies: Mutex::default(),
            cancelled: host.tasks_token().clone(),
            stop: stop.clone(),
        });
        if !worker.tasks.is_empty() {
            tokio::spawn(claim_loop(Arc::downgrade(host), worker.clone()));
            tokio::spawn(report_loop(worker.clone(), received));
        }
        tokio::spawn(node_loop(worker.clone()));
        tracing::info!(
            store = config.store.describe(),
            worker = &*worker.name,
            tasks = worker.tasks.len(),
            lease = ?config.lease,
            "durable worker started"
        );
        // The writer adds an awaited job already claimed when this host can run it at once.
        let taker = (!worker.unlimited.is_empty()).then(|| (Arc::downgrade(host), worker.clone()));
        Durable {
            writer: Writer::spawn(config.store, host.kill_token().clone(), taker),
            worker,
            _stop: stop.drop_guard(),
        }
    }

    /// The store.
    pub(crate) fn store(&self) -> &Store {
        &self.worker.store
    }

    /// A run of the host ended: there may be room for another durable job.
    pub(crate) fn room_freed(&self) {
        self.worker.room.notify_one();
    }

    /// Waits until everything `queue` handed the writer is stored (or failed).
    pub(crate) async fn flushed(&self) {
        self.writer.flushed().await;
    }

    /// `wait_idle`'s durable part, once the host's own tasks are idle: waits until the writer has
    /// stored what it was handed and the store has recorded how every claimed job ended; then
    /// `true` if nothing is left that this host would run now, `false` if the host has work again
    /// (a due job to claim, a claim whose jobs are not counted yet, a task started meanwhile).
    pub(crate) async fn settle(&self, host: &HostInner) -> bool {
        self.writer.flushed().await;
        self.worker.reported().await;
        if !host.is_idle() {
            return false;
        }
        if !host.is_accepting() {
            return true; // shutting down: the host claims no more jobs
        }
        // Stored jobs nobody has claimed yet: the claim loop takes them.
        if self.worker.has_due_jobs().await {
            self.worker.store.announce_added();
            tokio::time::sleep(Duration::from_millis(5)).await;
            return false;
        }
        // None due: but a claim may have taken them just before the store was asked, and not be
        // counted yet (neither reported nor running). Idle only if no claim is out and nothing
        // started meanwhile.
        if !self.worker.is_busy() && host.is_idle() {
            return true;
        }
        self.worker.claims_settled().await;
        false
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
            self.worker.reported().await;
        };
        if tokio::time::timeout_at(until, settled).await.is_err() {
            tracing::warn!(
                unreported = self.worker.in_flight().len(),
                "shutdown: the store did not take every report in time; those jobs run again once \
                 their lease expires"
            );
        }
        let requeued = &self.worker.requeued;
        let mut take = |count: &mut u64, from: &AtomicU64| {
            let moved = from.load(Relaxed).min(*count);
            *count -= moved;
            report.requeued += moved;
        };
        take(&mut report.failed, &requeued.failed);
        take(&mut report.panicked, &requeued.panicked);
        take(&mut report.abandoned, &requeued.abandoned);
        take(&mut report.not_started, &requeued.not_started);
        self.worker.stop.cancel();
    }
}

impl Worker {
    fn in_flight(&self) -> MutexGuard<'_, InFlight> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until every job this host claimed is reported to the store.
    pub(crate) async fn reported(&self) {
        wait_until(&self.all_reported, || self.in_flight().is_empty()).await;
    }

    /// Whether this host holds durable jobs it has not reported, or has a claim out whose jobs it
    /// has not counted yet.
    pub(crate) fn is_busy(&self) -> bool {
        // `claiming` first: a claim counts its jobs into `in_flight` before it stops counting
        // itself, so one of the two loads sees it.
        self.claiming.load(SeqCst) > 0 || !self.in_flight().is_empty()
    }

    /// Waits until no claim is out.
    pub(crate) async fn claims_settled(&self) {
        wait_until(&self.claimed, || self.claiming.load(SeqCst) == 0).await;
    }

    /// One claim is back, its jobs counted in `in_flight` (or it failed).
    fn claim_settled(&self) {
        if self.claiming.fetch_sub(1, SeqCst) == 1 {
            self.claimed.notify_waiters();
        }
    }

    /// Whether jobs of this binary's tasks are due now and unclaimed (a store error counts as
    /// no: it cannot be known).
    pub(crate) async fn has_due_jobs(&self) -> bool {
        if self.tasks.is_empty() {
            return false;
        }
        matches!(
            self.store.next_due(self.tasks.clone()).await,
            Ok(Some(due)) if due.is_zero()
        )
    }

    /// What to claim now: the host's free room (its `max_concurrency`, or the in-flight bound),
    /// split into the tasks with a `concurrency` of their own (each at most its free slots, so
    /// that a job is never leased to a host that cannot start it) and the rest.
    fn plan(&self, host: &HostInner) -> ClaimPlan {
        let room = self.room(host);
        let in_flight = self.in_flight();
        let mut plan = ClaimPlan {
            room: room.min(self.store.most_per_claim()),
            groups: Vec::new(),
            full: room == 0,
        };
        if plan.room == 0 {
            return plan;
        }
        for &(task, limit) in &self.limited {
            let free = limit.get().saturating_sub(in_flight.of_task(task));
            if free == 0 {
                plan.full = true;
            } else {
                plan.groups.push((Arc::from([task]), free));
            }
        }
        if !self.unlimited.is_empty() {
            plan.groups.push((self.unlimited.clone(), plan.room));
        }
        plan
    }

    /// Runs a claimed job as a task of `host` with `token` as its run's token, or reports at
    /// once why it cannot run.
    /// How many of `jobs` jobs being enqueued this host could start now, as they are stored (a
    /// host with tasks of no `concurrency` of their own, room under its limits, not shutting
    /// down): then what the store needs to add them already claimed. The room is reserved, and
    /// the take counted as a claim out, until [`Worker::took`] or [`Worker::not_taken`].
    pub(crate) fn try_take(&self, host: &HostInner, jobs: usize) -> Option<Take> {
        if jobs == 0 || !host.is_accepting() || self.unlimited.is_empty() {
            return None;
        }
        let room = self.room(host);
        let most = room.min(jobs);
        if most == 0 {
            return None;
        }
        self.reserved.fetch_add(most, SeqCst);
        self.claiming.fetch_add(1, SeqCst);
        Some(Take {
            worker: self.name.clone(),
            lease: self.lease,
            tasks: self.unlimited.clone(),
            most,
        })
    }

    /// How many more durable jobs this host may hold now: its free `max_concurrency` (or the
    /// in-flight bound), less the room takes have reserved.
    fn room(&self, host: &HostInner) -> usize {
        let room = host
            .free_slots()
            .unwrap_or_else(|| DEFAULT_IN_FLIGHT.saturating_sub(self.in_flight().len()));
        room.saturating_sub(self.reserved.load(SeqCst))
    }

    /// The store added `jobs` already claimed by this host, for `take` ([`Worker::try_take`]):
    /// runs them, as claimed ones.
    pub(crate) fn took(
        self: &Arc<Self>,
        host: &Arc<HostInner>,
        take: &Take,
        jobs: Vec<ClaimedJob>,
    ) {
        let tokens = self.hold(&jobs);
        self.not_taken(take);
        for (job, token) in jobs.into_iter().zip(tokens) {
            self.start(host, job, token);
        }
    }

    /// Counts claimed `jobs` as this host's, each with a token of its own: the tokens, in order.
    fn hold(&self, jobs: &[ClaimedJob]) -> Vec<CancellationToken> {
        let mut in_flight = self.in_flight();
        jobs.iter()
            .map(|job| {
                let token = self.cancelled.child_token();
                let task = self.entries.get_key_value(job.task.as_str());
                in_flight.insert(job.id, task.map_or("", |(name, _)| *name), token.clone());
                token
            })
            .collect()
    }

    /// `take` ([`Worker::try_take`]) is over: its room is free again (what it took is counted in
    /// `in_flight` by now).
    pub(crate) fn not_taken(&self, take: &Take) {
        self.reserved.fetch_sub(take.most, SeqCst);
        self.claim_settled();
    }

    fn start(self: &Arc<Self>, host: &Arc<HostInner>, job: ClaimedJob, token: CancellationToken) {
        let span = tracing::info_span!(
            "background_task",
            task = %job.task,
            job = job.id.0,
            attempt = job.attempt
        );
        let Some(entry) = self.entries.get(job.task.as_str()) else {
            // Only known names are claimed; a store that returns others is answered anyway.
            let error = format!("no task named `{}` is registered in this binary", job.task);
            let ended = EndedRun::now(job, span, RunEnd::Ran(Outcome::Failed(error)));
            return self.report(ended);
        };
        let started_at = tokio::time::Instant::now();
        // A row the store could not read is dead at once, like a payload that does not decode.
        let started = match &job.payload {
            Ok(payload) => (entry.start)(
                &Host::from_inner(host.clone()),
                payload,
                span.clone(),
                token,
                job.waited,
            )
            .map_err(|error| error.to_string()),
            Err(unreadable) => Err(unreadable.clone()),
        };
        match started {
            Ok(Ok(handle)) => {
                let worker = self.clone();
                tokio::spawn(async move {
                    let outcome = handle.outcome().await;
                    let ended = EndedRun {
                        job,
                        span,
                        elapsed: started_at.elapsed(),
                        end: RunEnd::Ran(outcome),
                    };
                    worker.report(ended);
                });
            }
            // Shutting down, or the queue is full: back to the store.
            Ok(Err(_)) => self.report(EndedRun::now(job, span, RunEnd::Refused)),
            Err(error) => self.report(EndedRun::now(job, span, RunEnd::Undecodable(error))),
        }
    }

    /// Decides what the store does with a job that ended, says so in one event, and hands it to
    /// the report loop.
    fn report(&self, ended: EndedRun) {
        let finished = self.finished(ended);
        let _ = self.reports.send(finished);
    }
}

/// What one claim pass takes: `(tasks, at most)` per group, all together at most `room`.
struct ClaimPlan {
    room: usize,
    groups: Vec<(Arc<[&'static str]>, usize)>,
    /// Some due jobs may be left for lack of room: wake when room frees up.
    full: bool,
}

/// A claimed job's end on this host, with what the event about it needs.
struct EndedRun {
    job: ClaimedJob,
    span: Span,
    elapsed: Duration,
    end: RunEnd,
}

impl EndedRun {
    /// A job that ended without running.
    fn now(job: ClaimedJob, span: Span, end: RunEnd) -> EndedRun {
        EndedRun {
            job,
            span,
            elapsed: Duration::ZERO,
            end,
        }
    }
}

/// Claims what the host can start now, starts it, and waits for more work.
async fn claim_loop(host: Weak<HostInner>, worker: Arc<Worker>) {
    let mut backoff = Reconnect::STORE;
    loop {
        let Some(inner) = host.upgrade() else { return };
        // Once shutdown begins, claim no more (even while running tasks still finish).
        let draining = inner.draining_token().clone();
        if draining.is_cancelled() || worker.stop.is_cancelled() {
            return;
        }
        let store = worker.store.clone();
        // Registered before claiming, so that a job added meanwhile is not missed.
        let added = store.added();
        tokio::pin!(added);
        added.as_mut().enable();
        let plan = worker.plan(&inner);
        let mut room = plan.room;
        let mut more = false;
        let mut failed = None;
        // When the next job of the tasks claimed is due, as the claims read it.
        let mut next_due: Option<Duration> = None;
        for (tasks, most) in plan.groups {
            if room == 0 {
                break;
            }
            let limit = most.min(room);
            let request = ClaimRequest {
                tasks,
                limit,
                worker: worker.name.clone(),
                lease: worker.lease,
            };
            worker.claiming.fetch_add(1, SeqCst);
            let claimed = tokio::select! {
                claimed = store.claim_and_next_due(request) => claimed,
                () = draining.cancelled() => {
                    // Whatever this claim leased goes back when its lease expires.
                    worker.claim_settled();
                    return;
                }
            };
            match claimed {
                Ok(claimed) => {
                    backoff.reset();
                    let jobs = claimed.jobs;
                    more |= jobs.len() == limit;
                    if let Some(due) = claimed.next_due {
                        next_due = Some(next_due.map_or(due, |earlier| earlier.min(due)));
                    }
                    room -= jobs.len().min(room);
                    let tokens = worker.hold(&jobs);
                    worker.claim_settled();
                    for (job, token) in jobs.into_iter().zip(tokens) {
                        worker.start(&inner, job, token);
                    }
                }
                Err(error) => {
                    worker.claim_settled();
                    crate::metrics::store_error();
                    let wait = backoff.next();
                    tracing::warn!(%error, retry_in = ?wait, "cannot claim durable jobs");
                    failed = Some(wait);
                    break;
                }
            }
        }
        if let Some(wait) = failed {
            drop(inner);
            tokio::select! {
                () = tokio::time::sleep(wait) => continue,
                () = draining.cancelled() => return,
            }
        }
        if more {
            continue;
        }
        // Nothing more to do now: wait for a job to be added or to come due (of a task that has
        // room), or for room.
        let full = plan.full || room == 0;
        let wait = next_due.map_or(worker.poll_interval, |due| due.min(worker.poll_interval));
        drop(inner);
        if wait.is_zero() {
            continue;
        }
        tokio::select! {
            () = &mut added => {}
            () = store.notified() => {}
            () = worker.room.notified(), if full => {}
            () = tokio::time::sleep(wait) => {}
            () = draining.cancelled() => return,
        }
    }
}

/// Records how runs ended (in batches) and renews the leases of the jobs still running.
async fn report_loop(worker: Arc<Worker>, mut received: mpsc::UnboundedReceiver<Finished>) {
    let mut heartbeat = tokio::time::interval(worker.lease / 3);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pending: Vec<Finished> = Vec::new();
    let mut backoff = Reconnect::STORE;
    let mut retry_in = None;
    loop {
        tokio::select! {
            count = received.recv_many(&mut pending, MOST_REPORTS) => {
                if count == 0 {
                    return;
                }
                // Runs that end within a moment of this one share its write.
                let until = tokio::time::Instant::now() + GATHER_REPORTS;
                while pending.len() < MOST_REPORTS {
                    let room = MOST_REPORTS - pending.len();
                    match tokio::time::timeout_at(until, received.recv_many(&mut pending, room)).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            }
            _ = heartbeat.tick() => {
                let ids: Vec<JobId> = worker.in_flight().jobs.keys().copied().collect();
                if !ids.is_empty() {
                    match worker.store.heartbeat(worker.name.clone(), ids, worker.lease).await {
                        Ok(leases) => {
                            if !leases.lost.is_empty() {
                                tracing::warn!(
                                    jobs = ?leases.lost,
                                    "lost the lease of running durable jobs (the store was out of \
                                     reach longer than the lease): another worker may run them too"
                                );
                            }
                            let mut in_flight = worker.in_flight();
                            for id in leases.cancel {
                                if in_flight.cancel(id) {
                                    tracing::info!(job = id.0, "cancelling a running durable job, as an operator asked");
                                }
                            }
                        }
                        Err(error) => {
                            crate::metrics::store_error();
                            tracing::warn!(%error, "cannot renew durable jobs' leases");
                        }
                    }
                }
                continue;
            }
            () = tokio::time::sleep(retry_in.unwrap_or_default()), if retry_in.is_some() => {}
            () = worker.stop.cancelled() => return,
        }
        if pending.is_empty() {
            continue;
        }
        match worker
            .store
            .finish(
                worker.name.clone(),
                pending.clone(),
                !worker.retention.is_zero(),
            )
            .await
        {
            Ok(()) => {
                backoff.reset();
                retry_in = None;
                let mut in_flight = worker.in_flight();
                for finished in pending.drain(..) {
                    in_flight.remove(finished.id());
                }
                let empty = in_flight.is_empty();
                drop(in_flight);
                worker.room.notify_one();
                if empty {
                    worker.all_reported.notify_waiters();
                }
            }
            Err(error) => {
                crate::metrics::store_error();
                let wait = backoff.next();
                tracing::warn!(%error, jobs = pending.len(), retry_in = ?wait, "cannot record durable jobs' ends");
                retry_in = Some(wait);
            }
        }
    }
}

impl Worker {
    /// What the store should do with a job whose run ended so; logs the run's one end event,
    /// inside its span, in the words of the report, and counts it in the metrics.
    fn finished(&self, ended: EndedRun) -> Finished {
        let task = self.entries.get_key_value(ended.job.task.as_str());
        let task = task.map(|(&name, _)| name);
        let attempts_left = ended.job.attempt < ended.job.max_attempts;
        let finished = self.decide(ended);
        if let Some(name) = task {
            let end = match &finished {
                Finished::Completed(_) => DurableEnd::Completed,
                Finished::Failed {
                    retry_at: Some(_), ..
                } if attempts_left => DurableEnd::Retried,
                Finished::Failed { .. } => DurableEnd::Dead,
                Finished::Released(_) => DurableEnd::Released,
                Finished::Cancelled(_) => DurableEnd::Cancelled,
            };
            crate::metrics::durable_ended(name, end);
        }
        finished
    }

    /// What [`finished`](Self::finished) decides, and the event it logs.
    fn decide(&self, ended: EndedRun) -> Finished {
        let EndedRun {
            job,
            span,
            elapsed,
            end,
        } = ended;
        let _entered = span.enter();
        let outcome = match end {
            RunEnd::Ran(outcome) => outcome,
            RunEnd::Refused => {
                tracing::debug!("not started: the host is shutting down; back to the store");
                return Finished::Released(job.id);
            }
            RunEnd::Undecodable(error) => {
                tracing::error!(%error, "dead at once: the stored job cannot be run");
                self.tally(&job.task, false);
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
        // Cancelled by an operator: it ends so, unless it completed all the same.
        if self.in_flight().was_cancelled(job.id) && !outcome.is_completed() {
            tracing::info!(?elapsed, "cancelled by an operator");
            return Finished::Cancelled(job.id);
        }
        // A run that fails once the tasks' token is cancelled was most likely cut short by the
        // shutdown: it runs again elsewhere, its attempt given back.
        let cancelled = self.cancelled.is_cancelled();
        match outcome {
            Outcome::Completed => {
                tracing::debug!(?elapsed, "completed");
                self.tally(&job.task, true);
                Finished::Completed(job.id)
            }
            Outcome::Abandoned => {
                tracing::warn!(
                    ?elapsed,
                    "requeued: still running at the shutdown deadline (dropped here; runs again)"
                );
                requeue(&self.requeued.abandoned)
            }
            Outcome::NotStarted => {
                tracing::info!("requeued: not started before shutdown");
                requeue(&self.requeued.not_started)
            }
            Outcome::Failed(error) if cancelled => {
                tracing::info!(?elapsed, %error, "requeued: ended by the shutdown's cancellation");
                requeue(&self.requeued.failed)
            }
            Outcome::Panicked(panic) if cancelled => {
                tracing::info!(?elapsed, %panic, "requeued: panicked after the shutdown's cancellation");
                requeue(&self.requeued.panicked)
            }
            outcome => {
                let policy = self
                    .entries
                    .get(job.task.as_str())
                    .map_or(super::RetryPolicy::DEFAULT, |entry| entry.retry);
                let wait = policy.jittered_wait_before(job.attempt);
                let (what, error) = match outcome {
                    Outcome::Failed(error) => ("failed", error),
                    Outcome::Panicked(panic) => ("panicked", format!("panicked: {panic}")),
                    outcome => ("timed out", outcome.to_string()),
                };
                let retry_at = now_millis().saturating_add(wait.as_millis() as i64);
                self.tally(&job.task, false);
                if job.attempt < job.max_attempts {
                    tracing::warn!(?elapsed, %error, retry_in = ?wait, "{what}: will retry");
                } else {
                    tracing::error!(?elapsed, %error, attempts = job.attempt, "{what} for the last time: dead");
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

impl Worker {
    /// Counts a run of `task` that ended, in this minute.
    fn tally(&self, task: &str, completed: bool) {
        let Some((&task, _)) = self.entries.get_key_value(task) else {
            return;
        };
        let minute = now_millis().div_euclid(60_000) * 60_000;
        let mut tallies = self.tallies.lock().unwrap_or_else(PoisonError::into_inner);
        let counts = tallies.entry((minute, task)).or_default();
        if completed {
            counts.0 += 1;
        } else {
            counts.1 += 1;
        }
    }

    /// Adds the tallies to the store's per-minute counts; keeps them for the next time if the
    /// store cannot take them.
    async fn write_tallies(&self) {
        let taken =
            std::mem::take(&mut *self.tallies.lock().unwrap_or_else(PoisonError::into_inner));
        if taken.is_empty() {
            return;
        }
        let tallies: Vec<MinuteTally> = taken
            .iter()
            .map(|(&(minute, task), &(completed, failed))| MinuteTally {
                minute,
                task,
                completed,
                failed,
            })
            .collect();
        if let Err(error) = self.store.count_minutes(self.name.clone(), tallies).await {
            crate::metrics::store_error();
            tracing::debug!(%error, "cannot add the runs that ended to the store's counts yet");
            let mut tallies = self.tallies.lock().unwrap_or_else(PoisonError::into_inner);
            for (key, (completed, failed)) in taken {
                let counts = tallies.entry(key).or_default();
                counts.0 += completed;
                counts.1 += failed;
            }
        }
    }
}

impl Finished {
    fn id(&self) -> JobId {
        match self {
            Finished::Completed(id) | Finished::Released(id) | Finished::Cancelled(id) => *id,
            Finished::Failed { id, .. } => *id,
        }
    }
}

/// Registers the host as a node of the store, reports it every third of the lease (with how many
/// durable jobs it runs), adds the runs that ended to the per-minute counts every few seconds,
/// prunes the jobs finished past the retention every minute, reads the store's counts into the
/// `qbwi_jobs` gauges every 15 s (feature `metrics`), and removes the node when the host stops.
/// The store being unreachable is logged and tried again at the next tick.
async fn node_loop(worker: Arc<Worker>) {
    let mut report = tokio::time::interval(worker.lease / 3);
    report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first prune soon after the start, at a moment of its own for each host.
    let first = Duration::from_secs_f64(super::random_fraction() * 10.0);
    let mut prune = tokio::time::interval_at(tokio::time::Instant::now() + first, PRUNE_EVERY);
    prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tally = tokio::time::interval(TALLY_EVERY);
    tally.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // `qbwi_jobs`, with feature `metrics` (without it, never due).
    let mut job_gauges = crate::metrics::JobGauges::new();
    let hostname = hostname();
    loop {
        tokio::select! {
            _ = tally.tick() => worker.write_tallies().await,
            () = job_gauges.due() => job_gauges.update(&worker.store).await,
            _ = report.tick() => {
                let node = NodeReport {
                    id: worker.name.clone(),
                    hostname: hostname.clone(),
                    pid: std::process::id(),
                    started_at: worker.started_at,
                    tasks: worker.tasks.clone(),
                    running: worker.in_flight().len() as u64,
                    lease: worker.lease,
                };
                if let Err(error) = worker.store.report_node(node).await {
                    crate::metrics::store_error();
                    tracing::warn!(%error, "cannot report this host to the store");
                }
            }
            _ = prune.tick() => {
                match worker.store.prune(worker.retention, PRUNE_BATCH).await {
                    Ok(0) => {}
                    Ok(pruned) => tracing::debug!(pruned, retention = ?worker.retention, "pruned finished durable jobs"),
                    Err(error) => {
                        crate::metrics::store_error();
                        tracing::warn!(%error, "cannot prune finished durable jobs");
                    }
                }
            }
            () = worker.stop.cancelled() => break,
        }
    }
    worker.write_tallies().await;
    if let Err(error) = worker.store.remove_node(worker.name.clone()).await {
        crate::metrics::store_error();
        tracing::debug!(%error, "cannot remove this host's node from the store");
    }
}

/// This machine's name: `HOSTNAME`, else `/etc/hostname`, else `host`.
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "host".to_owned())
}

/// `hostname:pid:random`, unique per host.
fn worker_name() -> String {
    let machine = hostname();
    let random = (super::random_fraction() * (1u64 << 32) as f64) as u64;
    format!("{machine}:{}:{random:08x}", std::process::id())
}
