//! One task run: the [`Ticket`] that accounts for it, and the [`Run`] future that drives it.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::time::Sleep;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::counts::{End, Transition};
use crate::host::Inner;
use crate::outcome::{Outcome, TaskCell};
use crate::task::TaskError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Queued,
    Running,
    Ended,
}

/// One accepted task's accounting. Whatever happens to the task (it runs, it is dropped from the
/// queue at shutdown, the runtime drops it), its ticket ends exactly once: on drop at the latest.
pub(crate) struct Ticket {
    pub(crate) host: Arc<Inner>,
    pub(crate) cell: Arc<TaskCell>,
    pub(crate) span: tracing::Span,
    stage: Stage,
    /// Set by the scheduler when it lets a limited task start: the slots to give back at the end.
    pub(crate) holds_slot: bool,
}

impl Ticket {
    pub(crate) fn new(host: Arc<Inner>, cell: Arc<TaskCell>, span: tracing::Span) -> Self {
        Ticket {
            host,
            cell,
            span,
            stage: Stage::Queued,
            holds_slot: false,
        }
    }

    /// Moves the task from queued to running; `false` if it must not run (shutdown began).
    fn start(&mut self) -> bool {
        match self.host.counts.start() {
            Transition::Done => {
                self.stage = Stage::Running;
                tracing::debug!("started");
                true
            }
            Transition::Draining | Transition::Final => {
                self.end(Outcome::NotStarted);
                false
            }
        }
    }

    fn end(&mut self, outcome: Outcome) {
        let started = match self.stage {
            Stage::Queued => false,
            Stage::Running => true,
            Stage::Ended => return,
        };
        self.stage = Stage::Ended;
        let end = match &outcome {
            Outcome::Completed => End::Completed,
            Outcome::Failed(_) => End::Failed,
            Outcome::Panicked(_) => End::Panicked,
            Outcome::TimedOut => End::TimedOut,
            Outcome::Abandoned => End::Abandoned,
            Outcome::NotStarted => End::NotStarted,
        };
        let (transition, idle) = self.host.counts.end(started, end);
        // After the final count, the shutdown has already counted this task by its stage.
        let outcome = match transition {
            Transition::Final if started => Outcome::Abandoned,
            Transition::Final => Outcome::NotStarted,
            _ => outcome,
        };
        match &outcome {
            Outcome::Completed => tracing::debug!("completed"),
            Outcome::Failed(error) => tracing::warn!(%error, "failed"),
            Outcome::Panicked(panic) => tracing::error!(%panic, "panicked"),
            Outcome::TimedOut => tracing::warn!("timed out: token cancelled, run dropped"),
            Outcome::Abandoned => {
                tracing::warn!("abandoned: still running at the shutdown deadline")
            }
            Outcome::NotStarted => tracing::debug!("not started: shutdown began first"),
        }
        self.cell.set_outcome(outcome);
        if self.holds_slot {
            self.holds_slot = false;
            self.host.release_slot(self.cell.name);
        }
        if idle {
            self.host.idle.notify_waiters();
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.stage != Stage::Ended {
            let _entered = self.span.clone().entered();
            self.end(if self.stage == Stage::Queued {
                Outcome::NotStarted
            } else {
                Outcome::Abandoned
            });
        }
    }
}

pin_project_lite::pin_project! {
    /// Drives one task: starts it (or not, if shutdown began), polls it with panics caught,
    /// enforces its timeout, and drops it at the shutdown deadline.
    pub(crate) struct Run<F> {
        #[pin]
        future: F,
        ticket: Ticket,
        timeout: Option<Duration>,
        // The task's own token when it has a timeout (a child of the host's), to cancel on expiry.
        token: Option<CancellationToken>,
        deadline: Option<Pin<Box<Sleep>>>,
        kill: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    }
}

impl<F> Run<F> {
    pub(crate) fn new(
        future: F,
        ticket: Ticket,
        timeout: Option<Duration>,
        token: Option<CancellationToken>,
    ) -> Self {
        Run {
            future,
            ticket,
            timeout,
            token,
            deadline: None,
            kill: None,
        }
    }

    pub(crate) fn ticket_mut(&mut self) -> &mut Ticket {
        &mut self.ticket
    }

    pub(crate) fn task_id(&self) -> u64 {
        self.ticket.cell.id.0
    }
}

impl<F: Future<Output = Result<(), TaskError>>> Future for Run<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let ticket = this.ticket;
        let span = ticket.span.clone();
        let _entered = span.enter();

        if ticket.stage == Stage::Queued {
            if !ticket.start() {
                return Poll::Ready(());
            }
            if let Some(timeout) = *this.timeout {
                *this.deadline = Some(Box::pin(tokio::time::sleep(timeout)));
            }
        }
        if ticket.host.kill.is_cancelled() {
            ticket.end(Outcome::Abandoned);
            return Poll::Ready(());
        }
        match catch_unwind(AssertUnwindSafe(|| this.future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => {}
            Ok(Poll::Ready(Ok(()))) => {
                ticket.end(Outcome::Completed);
                return Poll::Ready(());
            }
            Ok(Poll::Ready(Err(error))) => {
                ticket.end(Outcome::Failed(error.into_message()));
                return Poll::Ready(());
            }
            Err(payload) => {
                ticket.end(Outcome::Panicked(panic_message(payload.as_ref())));
                return Poll::Ready(());
            }
        }
        if let Some(deadline) = this.deadline
            && deadline.as_mut().poll(cx).is_ready()
        {
            if let Some(token) = this.token {
                token.cancel();
            }
            ticket.end(Outcome::TimedOut);
            return Poll::Ready(());
        }
        let kill = this
            .kill
            .get_or_insert_with(|| Box::pin(ticket.host.kill.clone().cancelled_owned()));
        ready!(kill.as_mut().poll(cx));
        ticket.end(Outcome::Abandoned);
        Poll::Ready(())
    }
}

/// The text of a panic payload: the `&str` or `String` given to `panic!`.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "the task panicked with a value that is not a string".to_owned()
    }
}

/// See [`crate::__private::run_blocking`].
pub(crate) async fn run_blocking<F>(body: F) -> Result<(), TaskError>
where
    F: FnOnce() -> Result<(), TaskError> + Send + 'static,
{
    {
        let span = tracing::Span::current();
        match tokio::task::spawn_blocking(move || span.in_scope(body)).await {
            Ok(result) => result,
            Err(error) => match error.try_into_panic() {
                // Resumed here, caught and counted by `Run::poll`.
                Ok(payload) => std::panic::resume_unwind(payload),
                Err(_) => Err(TaskError::new(
                    "the tokio runtime shut down before the blocking task ran",
                )),
            },
        }
    }
}
