//! The batching writer: durable jobs from `queue` and `enqueue` go into the store together, as
//! many as are waiting in one transaction (group commit), so that a burst of jobs costs a few
//! commits instead of one each. An awaited job with nothing else waiting skips the writer's task
//! (stored from its caller's), and jobs the host can run at once are added already claimed by it.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Weak};

use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::worker::Worker;
use crate::QueueError;
use crate::host::HostInner;
use crate::outcome::Persisting;
use crate::reconnect::Reconnect;
use crate::store::{Enqueued, NewJob, Store, StoreError, Take};
use crate::wait::wait_until;

/// At most this many jobs per transaction.
const MAX_BATCH: usize = 1024;

/// Who waits for a job's write.
pub(crate) enum Reply {
    /// `enqueue(..).await`: the caller, who gets the error and decides.
    Enqueue(oneshot::Sender<Result<Enqueued, StoreError>>),
    /// `queue(..)`: the handle, which nobody may be watching, so transient errors are retried
    /// until the shutdown deadline.
    Queue(Persisting),
}

impl Reply {
    fn send(self, result: Result<Enqueued, StoreError>) {
        match self {
            Reply::Enqueue(sender) => {
                let _ = sender.send(result); // the caller may have given up
            }
            // `persisted()` gives the job's id, new or the duplicate's.
            Reply::Queue(persisting) => persisting.settle(
                result
                    .map(|enqueued| enqueued.id())
                    .map_err(QueueError::Store),
            ),
        }
    }
}

/// The sending side, kept by the host.
#[derive(Clone)]
pub(crate) struct Writer {
    sender: mpsc::UnboundedSender<(NewJob, Reply)>,
    store: Store,
    taker: Option<Taker>,
    /// Jobs sent and not written yet (or failed): shutdown waits for zero.
    pending: Arc<Pending>,
}

#[derive(Default)]
pub(crate) struct Pending {
    count: AtomicUsize,
    drained: Notify,
}

impl Writer {
    /// Starts the writer task on the current runtime. It stops when the `Writer` is dropped.
    pub(crate) fn spawn(store: Store, kill: CancellationToken, taker: Option<Taker>) -> Writer {
        let (sender, receiver) = mpsc::unbounded_channel();
        let pending = Arc::new(Pending::default());
        tokio::spawn(run(
            store.clone(),
            receiver,
            pending.clone(),
            kill,
            taker.clone(),
        ));
        Writer {
            sender,
            store,
            taker,
            pending,
        }
    }

    /// Stores an awaited job: from the caller's task when nothing else is waiting or being
    /// written (sparing it the hop to the writer's task and back), else with the rest of the
    /// writer's next batch.
    pub(crate) async fn enqueue(&self, job: NewJob) -> Result<Enqueued, QueueError> {
        let pending = &self.pending;
        if pending.count.compare_exchange(0, 1, SeqCst, SeqCst).is_ok() {
            let _written = Written(pending);
            return store_one(&self.store, job, self.taker.as_ref())
                .await
                .map_err(QueueError::Store);
        }
        let (sender, receiver) = oneshot::channel();
        self.send(job, Reply::Enqueue(sender));
        match receiver.await {
            Ok(result) => result.map_err(QueueError::Store),
            Err(_) => Err(QueueError::ShuttingDown),
        }
    }

    pub(crate) fn send(&self, job: NewJob, reply: Reply) {
        self.pending.count.fetch_add(1, SeqCst);
        if let Err(mpsc::error::SendError((_, reply))) = self.sender.send((job, reply)) {
            self.pending.done(1);
            reply.send(Err(StoreError::Database {
                store: "(stopped)".to_owned(),
                reason: "the host's store writer has stopped".to_owned(),
            }));
        }
    }

    /// Waits until every job sent so far is written (or failed).
    pub(crate) async fn flushed(&self) {
        let pending = &self.pending;
        wait_until(&pending.drained, || pending.count.load(SeqCst) == 0).await;
    }
}

/// A job stored from its caller's task is done (also if the caller gave up on it).
struct Written<'a>(&'a Pending);

impl Drop for Written<'_> {
    fn drop(&mut self) {
        self.0.done(1);
    }
}

impl Pending {
    fn done(&self, jobs: usize) {
        if self.count.fetch_sub(jobs, SeqCst) == jobs {
            self.drained.notify_waiters();
        }
    }
}

/// The host and its worker, for jobs the host can run as it adds them.
pub(crate) type Taker = (Weak<HostInner>, Arc<Worker>);

async fn run(
    store: Store,
    mut receiver: mpsc::UnboundedReceiver<(NewJob, Reply)>,
    pending: Arc<Pending>,
    kill: CancellationToken,
    taker: Option<Taker>,
) {
    let mut batch = Vec::new();
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs = batch.len();
        let batch = std::mem::take(&mut batch);
        match take(&store, batch, taker.as_ref()).await {
            Ok(()) => {}
            Err(batch) => write(&store, batch, &kill).await,
        }
        pending.done(jobs);
    }
}

/// A batch of jobs some of which the host can start now: stored with those added already claimed
/// by the host, which runs them at once (see [`Store::enqueue_taking`]). Anything else, and a
/// batch the store refused (for [`write`]'s retries), comes back.
async fn take(
    store: &Store,
    batch: Vec<(NewJob, Reply)>,
    taker: Option<&Taker>,
) -> Result<(), Vec<(NewJob, Reply)>> {
    let Some((host, worker)) = taker else {
        return Err(batch);
    };
    let Some(host) = host.upgrade() else {
        return Err(batch);
    };
    let Some(taking) = worker.try_take(&host, batch.len()) else {
        return Err(batch);
    };
    let jobs: Vec<NewJob> = batch.iter().map(|(job, _)| job.clone()).collect();
    match store.enqueue_taking(jobs, taking.clone()).await {
        Ok((enqueued, taken)) => {
            worker.took(&host, &taking, taken);
            for ((_, reply), enqueued) in batch.into_iter().zip(enqueued) {
                reply.send(Ok(enqueued));
            }
            Ok(())
        }
        Err(_) => {
            worker.not_taken(&taking);
            Err(batch) // nothing was stored: written again, with the retries that apply
        }
    }
}

/// Stores one awaited job: if its host can start it now, added already claimed by the host, which
/// runs it at once. Its one write is its insert: no claim after it, no wake-up of the claim loop
/// (an awaited enqueue's time, one after another, is what a web handler pays).
async fn store_one(
    store: &Store,
    job: NewJob,
    taker: Option<&Taker>,
) -> Result<Enqueued, StoreError> {
    let taking = taker.and_then(|(host, worker)| {
        let host = host.upgrade()?;
        let take = worker.try_take(&host, 1)?;
        Some((host, worker, take))
    });
    let Some((host, worker, take)) = taking else {
        return store.enqueue(vec![job]).await.map(|enqueued| enqueued[0]);
    };
    let guard = Taking(worker, &take);
    let result = store.enqueue_taking(vec![job], take.clone()).await;
    std::mem::forget(guard); // settled below, now that the store answered
    match result {
        Ok((enqueued, taken)) => {
            worker.took(&host, &take, taken);
            Ok(enqueued[0])
        }
        Err(error) => {
            worker.not_taken(&take);
            crate::metrics::store_error();
            Err(error)
        }
    }
}

/// A take whose caller gave up before the store answered: it is over (a job the store added
/// claimed runs again once its lease expires, as a dead worker's would).
struct Taking<'a>(&'a Worker, &'a Take);

impl Drop for Taking<'_> {
    fn drop(&mut self) {
        self.0.not_taken(self.1);
    }
}

/// Writes one batch; retries the `queue` jobs while the store is unreachable, until the shutdown
/// deadline.
async fn write(store: &Store, batch: Vec<(NewJob, Reply)>, kill: &CancellationToken) {
    let (mut jobs, mut replies): (Vec<NewJob>, Vec<Reply>) = batch.into_iter().unzip();
    let mut reconnect = Reconnect::WRITER;
    loop {
        let retryable = replies.iter().any(|reply| matches!(reply, Reply::Queue(_)));
        let attempt = if retryable {
            jobs.clone()
        } else {
            std::mem::take(&mut jobs)
        };
        let error = match store.enqueue(attempt).await {
            Ok(ids) => {
                for (reply, id) in replies.into_iter().zip(ids) {
                    reply.send(Ok(id));
                }
                return;
            }
            Err(error) => {
                crate::metrics::store_error();
                error
            }
        };
        // Awaited enqueues return the error at once: their callers decide.
        // (`jobs` is empty unless some are `queue` jobs, kept for a retry.)
        let mut remaining = jobs.into_iter();
        let mut kept_jobs = Vec::new();
        let mut kept_replies = Vec::new();
        for reply in replies {
            let job = remaining.next();
            match (reply, job) {
                (reply @ Reply::Queue(_), Some(job))
                    if matches!(error, StoreError::Unreachable { .. }) && !kill.is_cancelled() =>
                {
                    kept_jobs.push(job);
                    kept_replies.push(reply);
                }
                (reply, _) => reply.send(Err(error.clone())),
            }
        }
        if kept_replies.is_empty() {
            if !matches!(error, StoreError::Unreachable { .. }) || kill.is_cancelled() {
                tracing::error!(%error, "durable jobs not stored");
            }
            return;
        }
        let wait = reconnect.next();
        tracing::warn!(%error, jobs = kept_jobs.len(), retry_in = ?wait, "durable jobs not stored yet: retrying");
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = kill.cancelled() => {}
        }
        jobs = kept_jobs;
        replies = kept_replies;
    }
}
