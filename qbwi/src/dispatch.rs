//! How a task gets from `queue` to a thread: one lane (a channel) per runtime worker, each drained
//! by a dispatcher task that polls every task once, inline. A task that finishes in that first
//! poll (most background work that is quick, or fails fast) never costs a tokio task; one that
//! has to wait is spawned as its own tokio task from there on.
//!
//! The price: while a task's first poll runs, the tasks behind it in its lane wait. An async task
//! that computes for long before its first `.await` delays them, as it would delay everything else
//! on its tokio worker; such work belongs in a plain-`fn` task, on the blocking pool.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use tokio::runtime::Handle;
use tokio::sync::mpsc::error::SendError;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::cell::RunRef;
use crate::host::HostInner;
use crate::run::Spawned;

pub(crate) struct Lanes {
    senders: Box<[UnboundedSender<RunRef>]>,
}

thread_local! {
    /// This thread's lane (modulo the number of lanes); `usize::MAX` until its first task.
    static LANE: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Deals lanes to threads in turn.
static NEXT_LANE: AtomicUsize = AtomicUsize::new(0);

impl Lanes {
    /// Opens one lane per worker thread of `runtime`; [`Dispatchers::spawn`] starts draining
    /// them once the host exists.
    pub(crate) fn open(runtime: &Handle) -> (Self, Dispatchers) {
        let lanes = runtime.metrics().num_workers().max(1);
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..lanes).map(|_| unbounded_channel()).unzip();
        (
            Lanes {
                senders: senders.into(),
            },
            Dispatchers { receivers },
        )
    }

    /// Hands a run to this thread's lane. If the runtime is gone, the run ends where it stands.
    ///
    /// A thread keeps to one lane: one producer then feeds one dispatcher, each on its own core,
    /// in the order it queued (measured faster than dealing its tasks to all lanes, which keeps
    /// every dispatcher waking up for a share); several producers spread over the lanes.
    pub(crate) fn send(&self, run: RunRef, host: &HostInner) {
        let lane = match self.senders.len() {
            1 => 0,
            lanes => LANE.with(|lane| {
                if lane.get() == usize::MAX {
                    lane.set(NEXT_LANE.fetch_add(1, Relaxed));
                }
                lane.get() % lanes
            }),
        };
        if let Err(SendError(mut run)) = self.senders[lane].send(run) {
            run.abandon(host);
        }
    }
}

/// The lanes' receiving ends, until the host they feed exists.
pub(crate) struct Dispatchers {
    receivers: Vec<UnboundedReceiver<RunRef>>,
}

impl Dispatchers {
    /// Spawns one dispatcher per lane on `runtime`.
    pub(crate) fn spawn(self, runtime: &Handle, host: &Arc<HostInner>) {
        for receiver in self.receivers {
            runtime.spawn(Dispatcher {
                receiver,
                host: Arc::downgrade(host),
            });
        }
    }
}

/// Drains one lane. tokio's cooperative budget makes it yield to the rest of the runtime every
/// so many tasks, so a full lane does not starve other work.
struct Dispatcher {
    receiver: UnboundedReceiver<RunRef>,
    /// Weak: the host owns the lanes, and a lane must not keep its host alive.
    host: Weak<HostInner>,
}

impl Future for Dispatcher {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(host) = self.host.upgrade() else {
            return Poll::Ready(());
        };
        loop {
            match self.receiver.poll_recv(cx) {
                Poll::Ready(Some(mut run)) => {
                    // The first poll runs here. If the task registers a waker, it is this
                    // dispatcher's; the spawned task re-registers its own on its next poll (every
                    // future must use the waker of its latest poll), and the stale one only
                    // costs this dispatcher a spurious wake.
                    if run.poll(&host, cx).is_pending() {
                        tokio::spawn(Spawned {
                            run,
                            host: host.clone(),
                        });
                    }
                }
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        // The runtime is shutting down: the tasks still in the lane will never run.
        self.receiver.close();
        let host = self.host.upgrade();
        while let Ok(mut run) = self.receiver.try_recv() {
            match &host {
                Some(host) => run.abandon(host),
                None => drop(run), // the handles still learn of it
            }
        }
    }
}
