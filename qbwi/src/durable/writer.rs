//! The batching writer: durable jobs from `queue` and `enqueue` go into the store together, as
//! many as are waiting in one transaction (group commit), so that a burst of jobs costs a few
//! commits instead of one each.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Weak};

use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::worker::Worker;
use crate::QueueError;
use crate::host::HostInner;
use crate::outcome::Persisting;
use crate::reconnect::Reconnect;
use crate::store::{Enqueued, NewJob, Store, StoreError};
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
        tokio::spawn(run(store, receiver, pending.clone(), kill, taker));
        Writer { sender, pending }
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

/// An awaited job alone in its batch, of a task the host can start now: added already claimed by
/// the host, which runs it at once. Its one write is its insert: no claim after it, no wake-up of
/// the claim loop (an awaited enqueue's time, one after another, is what a web handler pays).
/// Anything else comes back, for [`write`].
async fn take(
    store: &Store,
    mut batch: Vec<(NewJob, Reply)>,
    taker: Option<&Taker>,
) -> Result<(), Vec<(NewJob, Reply)>> {
    let Some((host, worker)) = taker else {
        return Err(batch);
    };
    let ([(job, Reply::Enqueue(_))], Some(host)) = (batch.as_slice(), host.upgrade()) else {
        return Err(batch);
    };
    let Some(taking) = worker.try_take(&host, job.task) else {
        return Err(batch);
    };
    let Some((job, Reply::Enqueue(reply))) = batch.pop() else {
        worker.not_taken();
        return Ok(()); // matched above
    };
    let result = match store.enqueue_taking(job, taking).await {
        Ok((enqueued, Some(claimed))) => {
            worker.took(&host, claimed);
            Ok(enqueued)
        }
        Ok((enqueued, None)) => {
            worker.not_taken();
            Ok(enqueued)
        }
        Err(error) => {
            worker.not_taken();
            crate::metrics::store_error();
            Err(error)
        }
    };
    let _ = reply.send(result); // the caller may have given up
    Ok(())
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
