//! One task: the [`Run`] that starts it, polls it, times it out, abandons it at the deadline and
//! accounts for how it ended; and the type-erased [`Runnable`] the lanes and the scheduler carry.
//!
//! A waiting run lives inside its task's one allocation (see `cell.rs`) and holds only the task's
//! arguments; its future is boxed when it starts. Everything a plain task does not need (a tracing
//! span and a clock, a timeout, a child token, a registration for the shutdown deadline) lives in
//! its [`Supervision`], allocated only for the runs that need it.

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tracing::Span;

use crate::cell::{Header, RunRef};
use crate::counts::{Fate, Step};
use crate::host::HostInner;
use crate::metrics::RunMetrics;
use crate::outcome::Outcome;
use crate::task::{BackgroundTask, TaskError, TaskOptions};

/// A task's run, of any type; reached only through its [`RunRef`].
pub(crate) trait Runnable: Send {
    /// Runs the task until it ends (`Ready`) or waits (`Pending`).
    fn poll_run(
        self: Pin<&mut Self>,
        header: &Header,
        host: &HostInner,
        cx: &mut Context<'_>,
    ) -> Poll<()>;
    /// Ends the task where it stands, if it has not ended: not started if it never ran, else
    /// abandoned (without a host, because it is gone, only the handles learn of it). `admitted`:
    /// the scheduler let it go (a limited task then holds slots to give back).
    fn abandon(self: Pin<&mut Self>, header: &Header, host: Option<&HostInner>, admitted: bool);
    /// The task's own `concurrency` limit.
    fn concurrency(&self) -> Option<NonZeroUsize>;
    fn name(&self) -> &'static str;
}

/// Where a run's name and options come from, at compile time (no bytes per task).
pub(crate) trait TaskKind: Send + 'static {
    const OPTIONS: TaskOptions;
    fn name() -> &'static str;
}

/// A `BackgroundTask`.
pub(crate) struct TaskType<T>(PhantomData<fn() -> T>);

impl<T: BackgroundTask> TaskKind for TaskType<T> {
    const OPTIONS: TaskOptions = T::OPTIONS;
    fn name() -> &'static str {
        T::NAME
    }
}

/// A closure `C` queued with `queue_work_item`: named after its type, no options.
pub(crate) struct WorkItem<C>(PhantomData<fn() -> C>);

impl<C: 'static> TaskKind for WorkItem<C> {
    const OPTIONS: TaskOptions = TaskOptions::new();
    fn name() -> &'static str {
        std::any::type_name::<C>()
    }
}

/// Ends a run that has not ended: drops its future, counts it, tells its handles, logs how it
/// ended (one event, with how long it ran), and gives back its scheduler slots if it holds any
/// (`admitted`).
fn finish<M, F>(
    state: &mut State<M, F>,
    supervision: Option<&Supervision>,
    metrics: &RunMetrics,
    header: &Header,
    host: &HostInner,
    (name, admitted): (&'static str, bool),
    outcome: Outcome,
) {
    let started = match state {
        State::Queued { .. } => false,
        State::Starting | State::Running { .. } => true,
        State::Done => return,
    };
    // The future (and the arguments in it) goes first, so that whoever sees the outcome also
    // sees its resources released. Its destructor is user code: a panic there must not take
    // down the dispatcher that holds this run.
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| *state = State::Done)) {
        tracing::error!(panic = %panic_message(payload.as_ref()), "a task's destructor panicked");
    }
    let (step, idle) = host.counts.end(started, Fate::of(&outcome));
    // After the final count, the shutdown has already counted this task by its stage.
    let outcome = match step {
        Step::Final if started => Outcome::Abandoned,
        Step::Final => Outcome::NotStarted,
        _ => outcome,
    };
    // A durable job's run is logged (and counted) by the durable worker, which knows what
    // becomes of the job (retried, dead, requeued).
    let claimed = supervision.is_some_and(|supervision| supervision.claimed);
    metrics.ended(&outcome, started, claimed);
    if !claimed {
        let elapsed = supervision
            .and_then(|supervision| supervision.started)
            .map(|at| at.elapsed());
        let elapsed = tracing::field::debug(elapsed.unwrap_or_default());
        match &outcome {
            Outcome::Completed => tracing::debug!(elapsed, "completed"),
            Outcome::Failed(error) => tracing::warn!(elapsed, %error, "failed"),
            Outcome::Panicked(panic) => tracing::error!(elapsed, %panic, "panicked"),
            Outcome::TimedOut => {
                tracing::warn!(elapsed, "timed out: token cancelled, run dropped")
            }
            Outcome::Abandoned => {
                tracing::warn!(elapsed, "abandoned: still running at the shutdown deadline")
            }
            Outcome::NotStarted => tracing::debug!("not started: shutdown began first"),
        }
    }
    header.set_outcome(outcome);
    if admitted {
        host.release_slot(name);
    }
    if idle {
        host.notify_idle();
    }
}

pin_project_lite::pin_project! {
    /// How a run is watched, for the runs that need it: its span and clock (for its log events),
    /// its timeout, and the shutdown deadline.
    pub(crate) struct Supervision {
        // The run's `background_task` span, when a subscriber wants it.
        span: Span,
        // When the run started, for the duration its end event carries.
        started: Option<Instant>,
        // A durable job's run: the durable worker logs its end.
        claimed: bool,
        // The run's own token (a child of the host's) when it has a timeout, to cancel on expiry,
        // or is a durable job's, which an operator may cancel.
        token: Option<CancellationToken>,
        #[pin]
        deadline: Option<Sleep>,
        // Wakes the run at the shutdown deadline; registered once the run has to wait.
        #[pin]
        kill: Option<WaitForCancellationFutureOwned>,
    }
}

impl Supervision {
    pub(crate) fn new(span: Span) -> Pin<Box<Self>> {
        Box::pin(Supervision {
            span,
            started: None,
            claimed: false,
            token: None,
            deadline: None,
            kill: None,
        })
    }

    /// A durable job's run, in the span the durable worker made for it, with the token the
    /// worker cancels if an operator cancels the job (a child of the host's).
    pub(crate) fn claimed(span: Span, token: CancellationToken) -> Pin<Box<Self>> {
        let mut supervision = Supervision::new(span);
        let fields = supervision.as_mut().project();
        *fields.claimed = true;
        *fields.token = Some(token);
        supervision
    }
}

/// A run's stage, and what it holds at that stage.
enum State<M, F> {
    /// `make` builds the future when the run starts, so a waiting task holds its arguments only
    /// (not its future, which may be much larger); `None` once taken.
    Queued { make: Option<M> },
    /// Counted as running, building its future.
    Starting,
    /// The future lives in a box of its own, allocated and freed by the thread that runs it.
    Running { future: Pin<Box<F>> },
    /// Ended: the future is dropped as soon as the run ends, even while handles keep the task's
    /// allocation.
    Done,
}

pin_project_lite::pin_project! {
    /// Drives one task: starts it (or not, if shutdown began), polls it with panics caught,
    /// enforces its timeout, and drops it at the shutdown deadline.
    pub(crate) struct Run<K, M, F> {
        state: State<M, F>,
        supervision: Option<Pin<Box<Supervision>>>,
        // Its task's metric handles and clock (nothing without feature `metrics`).
        metrics: RunMetrics,
        kind: PhantomData<K>,
    }
}

impl<K, M, F> Run<K, M, F> {
    pub(crate) fn new(
        make: M,
        supervision: Option<Pin<Box<Supervision>>>,
        metrics: RunMetrics,
    ) -> Self {
        Run {
            state: State::Queued { make: Some(make) },
            supervision,
            metrics,
            kind: PhantomData,
        }
    }
}

impl<K, M, F> Runnable for Run<K, M, F>
where
    K: TaskKind,
    M: FnOnce(&CancellationToken) -> F + Send + 'static,
    F: Future<Output = Result<(), TaskError>> + Send + 'static,
{
    fn poll_run(
        self: Pin<&mut Self>,
        header: &Header,
        host: &HostInner,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let this = self.project();
        let span = this
            .supervision
            .as_ref()
            .map(|supervision| supervision.span.clone());
        let _entered = span.as_ref().map(Span::enter);
        // Whether the run holds scheduler slots: every limited run that reaches a poll does.
        let slots = (K::name(), host.is_limited(K::OPTIONS.concurrency));
        macro_rules! finish {
            ($outcome:expr) => {{
                finish(
                    this.state,
                    this.supervision.as_deref(),
                    this.metrics,
                    header,
                    host,
                    slots,
                    $outcome,
                );
                return Poll::Ready(());
            }};
        }

        if let State::Queued { make } = this.state {
            if host.counts.start() != Step::Done {
                finish!(Outcome::NotStarted);
            }
            this.metrics.started();
            if let Some(supervision) = this.supervision.as_mut() {
                tracing::debug!("started");
                *supervision.as_mut().project().started = Some(Instant::now());
            }
            let make = make.take().expect("a run starts once");
            *this.state = State::Starting;
            let own_token = this
                .supervision
                .as_ref()
                .and_then(|supervision| supervision.token.clone())
                .or_else(|| K::OPTIONS.timeout.map(|_| host.token.child_token()));
            let token = own_token.as_ref().unwrap_or(&host.token);
            // A hand-written `BackgroundTask::run` or a work item's closure may panic here.
            // `State<T>` arguments are fetched from the host's states during this call.
            let start = || crate::state::scope(&host.states, || make(token));
            let future = match catch_unwind(AssertUnwindSafe(start)) {
                Ok(future) => future,
                Err(payload) => finish!(Outcome::Panicked(panic_message(payload.as_ref()))),
            };
            *this.state = State::Running {
                future: Box::pin(future),
            };
            if let Some(timeout) = K::OPTIONS.timeout {
                let supervision = this
                    .supervision
                    .get_or_insert_with(|| Supervision::new(Span::none()));
                let mut supervision = supervision.as_mut().project();
                *supervision.token = own_token;
                supervision.deadline.set(Some(tokio::time::sleep(timeout)));
            }
        }
        if host.is_killed() {
            finish!(Outcome::Abandoned);
        }
        let State::Running { future } = this.state else {
            unreachable!("a started run holds its future")
        };
        match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => {}
            Ok(Poll::Ready(Ok(()))) => {
                finish!(Outcome::Completed);
            }
            Ok(Poll::Ready(Err(error))) => {
                finish!(Outcome::Failed(error.into_message()));
            }
            Err(payload) => {
                finish!(Outcome::Panicked(panic_message(payload.as_ref())));
            }
        }
        // The run waits: watch its timeout and the shutdown deadline.
        let supervision = this
            .supervision
            .get_or_insert_with(|| Supervision::new(Span::none()));
        let mut supervision = supervision.as_mut().project();
        if let Some(deadline) = supervision.deadline.as_mut().as_pin_mut()
            && deadline.poll(cx).is_ready()
        {
            if let Some(token) = supervision.token {
                token.cancel();
            }
            finish!(Outcome::TimedOut);
        }
        if supervision.kill.is_none() {
            supervision
                .kill
                .set(Some(host.kill.clone().cancelled_owned()));
        }
        let kill = supervision.kill.as_pin_mut().expect("registered above");
        if kill.poll(cx).is_ready() {
            finish!(Outcome::Abandoned);
        }
        Poll::Pending
    }

    fn abandon(self: Pin<&mut Self>, header: &Header, host: Option<&HostInner>, admitted: bool) {
        let this = self.project();
        let lost = match this.state {
            State::Queued { .. } => Outcome::NotStarted,
            State::Starting | State::Running { .. } => Outcome::Abandoned,
            State::Done => Outcome::Completed, // already ended: nothing happens below
        };
        let supervision = this.supervision.take();
        let span = supervision
            .as_ref()
            .map(|supervision| supervision.span.clone());
        let _entered = span.as_ref().map(Span::enter);
        match host {
            Some(host) => {
                let slots = (
                    K::name(),
                    admitted && host.is_limited(K::OPTIONS.concurrency),
                );
                finish(
                    this.state,
                    supervision.as_deref(),
                    this.metrics,
                    header,
                    host,
                    slots,
                    lost,
                );
            }
            None if !matches!(this.state, State::Done) => {
                // The host is gone: nothing to count, but the handles must not wait forever.
                let _ = catch_unwind(AssertUnwindSafe(|| *this.state = State::Done));
                header.set_outcome(lost);
            }
            None => {}
        }
    }

    fn concurrency(&self) -> Option<NonZeroUsize> {
        K::OPTIONS.concurrency
    }

    fn name(&self) -> &'static str {
        K::name()
    }
}

/// A run that had to wait, as a tokio task of its own.
pub(crate) struct Spawned {
    pub(crate) run: RunRef,
    pub(crate) host: Arc<HostInner>,
}

impl Future for Spawned {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.run.poll(&this.host, cx)
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // The runtime is dropping the task (it shuts down): the run is abandoned.
        self.run.abandon(&self.host);
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
