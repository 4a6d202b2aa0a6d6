//! A blocking task's run: its body on tokio's blocking pool (QBWI's `Action<CancellationToken>`),
//! as a future of a type of its own, [`Blocking`].
//!
//! A type rather than an `async fn`, so that it is a `Future` only where the body is `Send`
//! (its `Future` impl has the bound, [`run_blocking`] does not): the generated `run` of a task
//! whose state is not `Sync` then fails once, on the state's type (`StateArgument`), and not a
//! second time on the blocking closure that captures it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::task::JoinHandle;
use tracing::Span;

use crate::task::TaskError;

/// Runs `body` on tokio's blocking pool when first polled.
///
/// Dropping the future detaches the thread: it runs on, but nobody waits for it. A panic on the
/// thread is resumed in the caller, where the host catches and counts it.
pub(crate) fn run_blocking<F>(body: F) -> Blocking<F> {
    Blocking {
        state: State::NotStarted(Some(body)),
    }
}

/// See [`run_blocking`].
#[must_use = "futures do nothing unless polled"]
pub struct Blocking<F> {
    state: State<F>,
}

enum State<F> {
    NotStarted(Option<F>),
    Running(JoinHandle<Result<(), TaskError>>),
}

// `F` is moved out before it is used and never pinned; the `JoinHandle` is `Unpin`.
impl<F> Unpin for Blocking<F> {}

impl<F> Future for Blocking<F>
where
    F: FnOnce() -> Result<(), TaskError> + Send + 'static,
{
    type Output = Result<(), TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let State::NotStarted(body) = &mut this.state {
            let body = body.take().expect("a blocking task's body is started once");
            // The span of the run, entered by whoever polls this future.
            let span = Span::current();
            this.state = State::Running(tokio::task::spawn_blocking(move || span.in_scope(body)));
        }
        let State::Running(handle) = &mut this.state else {
            unreachable!("started above")
        };
        Poll::Ready(match ready!(Pin::new(handle).poll(cx)) {
            Ok(result) => result,
            Err(error) => match error.try_into_panic() {
                // Resumed here, caught and counted by `Run::poll_run`.
                Ok(payload) => std::panic::resume_unwind(payload),
                Err(_) => Err(TaskError::new(
                    "the tokio runtime shut down before the blocking task ran",
                )),
            },
        })
    }
}

impl<F> std::fmt::Debug for Blocking<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let started = matches!(self.state, State::Running(_));
        f.debug_struct("Blocking")
            .field("started", &started)
            .finish()
    }
}
