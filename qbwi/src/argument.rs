//! The compile-time contracts that `#[background_task]` checks a task's signature against: each
//! argument, each shared state, the return type and the future, held to what a host needs of it.
//!
//! Each contract is a trait that names the task (`Task` is the struct the macro generates), so
//! that a type that breaks it gets an error on the type the user wrote, in a sentence that names
//! the task and says what to write instead, rather than the trait solver's account of a bound
//! deep inside generated code. The traits are implemented by qbwi alone (blanket impls marked
//! `#[diagnostic::do_not_recommend]`, so that the error speaks of the contract, not of its
//! parts); a user never implements one, and seldom names one.
//!
//! The macro checks each contract once, through a hidden associated item
//! (`<T as TaskArgument<send_mail>>::__CHECK`), and the generated impls assume what the checks
//! establish, so that one mistake is reported once, where it was made.

use std::fmt::Display;
use std::future::Future;

use crate::{JobDecoder, JobEncoder, PayloadError, State, TaskError};

/// An argument that can be moved into a background task: `Send + 'static`.
///
/// The caller's values are copied into the task when it is queued and used on whichever thread
/// runs it, later, after the request is gone; nothing the argument borrows or shares with the
/// request thread may come along. Every type that is `Send + 'static` is a `TaskArgument` of every
/// task; `#[background_task]` checks each argument's type against it, on the type.
///
/// ```standalone_crate
/// // A crate of its own: its tasks are registered in no other doctest's binary.
/// use qbwi::TaskArgument;
///
/// #[qbwi::background_task]
/// async fn send_mail(email: String, attachment: std::sync::Arc<[u8]>) {
///     let _ = (email, attachment);
/// }
///
/// fn takes<T: TaskArgument<send_mail>>() {}
/// takes::<String>();
/// takes::<std::sync::Arc<[u8]>>();
/// // takes::<std::rc::Rc<[u8]>>(); // error: `Rc<[u8]>` cannot be an argument of background
/// //                                // task `send_mail`: it is not `Send`
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an argument of background task `{Task}`: it is not `Send`",
    label = "not `Send`: the task runs later, on another thread",
    note = "take an owned, thread-safe value instead: `Arc<T>` for `Rc<T>`, `Mutex<T>` or an \
            atomic for `RefCell<T>` and `Cell<T>`, or the plain data the task needs (an id, a \
            `String`) in place of a handle that cannot leave the request's thread"
)]
pub trait TaskArgument<Task> {
    /// Evaluates to `()` where `Self: TaskArgument<Task>` holds: the macro's check.
    #[doc(hidden)]
    const __CHECK: () = ();
}

#[diagnostic::do_not_recommend]
impl<T: Send + 'static, Task> TaskArgument<Task> for T {}

/// An argument of a durable task (`#[background_task(durable)]`): serde writes it into the stored
/// job and reads it back when the job runs, maybe in another process.
///
/// Every type that is `Serialize` and `DeserializeOwned` is one. A type of your own derives both
/// through qbwi, which needs no serde dependency:
///
/// ```standalone_crate
/// // A crate of its own: its tasks are registered in no other doctest's binary.
/// use qbwi::DurableArgument;
///
/// #[derive(qbwi::serde::Serialize, qbwi::serde::Deserialize)]
/// #[serde(crate = "qbwi::serde")]
/// struct Attachment {
///     name: String,
///     bytes: Vec<u8>,
/// }
///
/// #[qbwi::background_task(durable)]
/// async fn send_mail(email: String, attachment: Attachment) {
///     let _ = (email, attachment.name, attachment.bytes);
/// }
///
/// fn takes<T: DurableArgument<send_mail>>() {}
/// takes::<Attachment>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an argument of durable background task `{Task}`: its jobs are \
               stored, so serde must write and read back every argument",
    label = "not `Serialize` and `Deserialize`",
    note = "for a type of your own, derive both through qbwi, which needs no serde dependency: \
            `#[derive(qbwi::serde::Serialize, qbwi::serde::Deserialize)]` with \
            `#[serde(crate = \"qbwi::serde\")]`",
    note = "for a type from another crate, check whether that crate has a `serde` feature"
)]
pub trait DurableArgument<Task>: Sized {
    /// Writes the argument into the job as the field `name`.
    #[doc(hidden)]
    fn __write(&self, encoder: &mut JobEncoder, name: &'static str) -> Result<(), PayloadError>;

    /// Reads the field `name` of a stored job back.
    #[doc(hidden)]
    fn __read(decoder: &mut JobDecoder, name: &'static str) -> Result<Self, PayloadError>;
}

#[diagnostic::do_not_recommend]
impl<T: serde::Serialize + serde::de::DeserializeOwned, Task> DurableArgument<Task> for T {
    #[inline]
    fn __write(&self, encoder: &mut JobEncoder, name: &'static str) -> Result<(), PayloadError> {
        encoder.field(name, self)
    }

    #[inline]
    fn __read(decoder: &mut JobDecoder, name: &'static str) -> Result<Self, PayloadError> {
        decoder.field(name)
    }
}

/// What a background task may return: `()`, or `Result<T, E>` whose error is a
/// [`TaskErrorDisplay`] (`E: Display`).
///
/// The result goes to the host, which counts it and logs a failure; there is no caller to hand a
/// value to. `Err(e)` makes the run [`Outcome::Failed`](crate::Outcome::Failed) with
/// `e.to_string()`; the `Ok` value is dropped.
///
/// ```standalone_crate
/// // A crate of its own: its tasks are registered in no other doctest's binary.
/// use qbwi::TaskReturn;
///
/// #[qbwi::background_task]
/// fn render_pdf(order: u64) -> std::io::Result<()> {
///     let _ = order;
///     Ok(())
/// }
///
/// fn returns<R: TaskReturn<render_pdf>>() {}
/// returns::<()>();
/// returns::<std::io::Result<()>>();
/// returns::<Result<u64, String>>();
/// // returns::<u64>(); // error: `u64` cannot be the return type of background task `render_pdf`
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the return type of background task `{Task}`",
    label = "return `()` or `Result<T, E>` where `E: Display` instead",
    note = "a background task's result goes to the host, which counts it and logs failures; \
            there is no caller to hand other values to"
)]
pub trait TaskReturn<Task> {
    /// The error the task may fail with: [`Infallible`](std::convert::Infallible) for `()`.
    type Error;

    /// The run's result; the macro's check is that this fn can be named.
    #[doc(hidden)]
    fn __into_result(self) -> Result<(), TaskError>;
}

impl<Task> TaskReturn<Task> for () {
    type Error = std::convert::Infallible;

    #[inline]
    fn __into_result(self) -> Result<(), TaskError> {
        Ok(())
    }
}

impl<T, E: TaskErrorDisplay<Task>, Task> TaskReturn<Task> for Result<T, E> {
    type Error = E;

    #[inline]
    fn __into_result(self) -> Result<(), TaskError> {
        self.map(drop).map_err(TaskError::new)
    }
}

/// The error type of a background task that returns `Result<T, E>`: `E` must be `Display`, since
/// a failed run is counted and logged with the error's text ([`Outcome::Failed`]).
///
/// [`Outcome::Failed`]: crate::Outcome::Failed
///
/// ```standalone_crate
/// // A crate of its own: its tasks are registered in no other doctest's binary.
/// use qbwi::TaskErrorDisplay;
///
/// #[qbwi::background_task]
/// async fn send_mail(email: String) -> Result<(), std::io::Error> {
///     let _ = email;
///     Ok(())
/// }
///
/// fn fails_with<E: TaskErrorDisplay<send_mail>>() {}
/// fails_with::<std::io::Error>();
/// fails_with::<String>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the error of background task `{Task}`: it is not `Display`",
    label = "`{Self}` has no `Display`",
    note = "a failed run is counted and logged with its error's text: implement \
            `std::fmt::Display` for `{Self}` (thiserror's `#[error(\"..\")]` does), or map the \
            error to one that has it, such as a `String`"
)]
pub trait TaskErrorDisplay<Task>: Display {}

#[diagnostic::do_not_recommend]
impl<E: Display, Task> TaskErrorDisplay<Task> for E {}

/// A shared-state argument: qbwi's [`State<T>`], which the host passes when the run starts.
///
/// `#[background_task]` takes every argument whose type is a path ending in `State<T>` for the
/// host's shared state; this trait is what it fetches such an argument through, so that another
/// crate's `State` (such as `axum::extract::State`) is reported on its type.
///
/// ```standalone_crate
/// // A crate of its own: its tasks are registered in no other doctest's binary.
/// use qbwi::{State, StateArgument};
///
/// struct Mailer;
///
/// #[qbwi::background_task]
/// async fn send_mail(email: String, mailer: State<Mailer>) {
///     let _ = (email, mailer);
/// }
///
/// fn fetched<S: StateArgument<send_mail>>() {}
/// fetched::<State<Mailer>>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `qbwi::State`, yet background task `{Task}` takes it for one",
    label = "not `qbwi::State<T>`",
    note = "`#[background_task]` takes every argument whose type is a path ending in `State<T>` \
            for the host's shared state, `qbwi::State<T>`, and passes it when the run starts",
    note = "if this is another crate's `State` (such as `axum::extract::State`), import it under \
            another name (`use axum::extract::State as AxumState;`), or write `qbwi::State<T>` \
            here"
)]
pub trait StateArgument<Task>: Sized {
    /// The host's state, as this type. `task` is the task's name, for the panic of a run called
    /// outside a host.
    #[doc(hidden)]
    fn __from_host(task: &'static str) -> Self;
}

impl<T: TaskState<Task>, Task> StateArgument<Task> for State<T> {
    #[track_caller]
    fn __from_host(task: &'static str) -> Self {
        match crate::state::from_scope::<T>() {
            Some(state) => state,
            // Only a `run` called outside a host gets here: a host checks at start that it has
            // every state its binary's tasks take.
            None => panic!(
                "the background task `{task}` takes a `State<{}>` and finds none: a task's state \
                 is passed by the host that runs it (give it with `HostBuilder::state(..)`), so \
                 queue the task on a host instead of calling its `run` directly",
                std::any::type_name::<T>()
            ),
        }
    }
}

/// What a [`State<T>`] may hold: the host shares one `T` between runs on many threads at once, so
/// it must be `Send + Sync + 'static`.
///
/// ```standalone_crate
/// // A crate of its own: its tasks are registered in no other doctest's binary.
/// use std::sync::Mutex;
/// use qbwi::TaskState;
///
/// #[qbwi::background_task]
/// async fn count(counter: qbwi::State<Mutex<u64>>) {
///     *counter.lock().unwrap() += 1;
/// }
///
/// fn shared<T: TaskState<count>>() {}
/// shared::<Mutex<u64>>();
/// // shared::<std::cell::Cell<u64>>(); // error: `Cell<u64>` cannot be the shared state of
/// //                                   // background task `count`: ..
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the shared state of background task `{Task}`: the host shares \
               one value between runs on many threads at once, so it must be `Send + Sync`",
    label = "not `Send + Sync`",
    note = "share what the runs change behind a `std::sync::Mutex` or an atomic (`Mutex<T>` in \
            place of `RefCell<T>` or `Cell<T>`, `Arc<T>` in place of `Rc<T>`)"
)]
pub trait TaskState<Task>: Send + Sync + 'static {}

#[diagnostic::do_not_recommend]
impl<T: Send + Sync + 'static, Task> TaskState<Task> for T {}

/// The future of a background task's run: `Send + 'static`, since the host runs it on tokio's
/// worker threads, which may move it from one to another at each `.await` (a blocking task's
/// body goes to tokio's blocking pool, another thread, too).
///
/// Every future that is `Send + 'static` is one. A future that holds a value that is not `Send`
/// across an `.await`, or a `State<T>` whose `T` is not `Sync`, is not: `#[background_task]`
/// reports it on the fn's name.
///
/// ```standalone_crate
/// // A crate of its own: its tasks are registered in no other doctest's binary.
/// use qbwi::TaskFuture;
///
/// #[qbwi::background_task]
/// async fn flush(label: String) {
///     let shared = std::sync::Arc::new(label); // an `Rc` here would not be `Send`
///     tokio::task::yield_now().await;
///     let _ = shared;
/// }
///
/// fn runs<F: TaskFuture<flush>>(_: F) {}
/// runs(flush("outbox".to_owned()));
/// ```
#[diagnostic::on_unimplemented(
    message = "the future of background task `{Task}` is not `Send`: the host runs it on tokio's \
               worker threads, which may move it to another thread at each `.await`",
    label = "not `Send`",
    note = "a value that is not `Send` and lives across an `.await` makes it so: end the value's \
            scope before the `.await` (a block, or `drop(value)`), or use a thread-safe type \
            (`Arc<T>` for `Rc<T>`, `tokio::sync::Mutex` for a `std::sync` guard held across the \
            `.await`); so does a `State<T>` whose `T` is not `Send + Sync`"
)]
pub trait TaskFuture<Task>: Future {
    /// Returns the future unchanged where `Self: TaskFuture<Task>` holds: the macro's check.
    #[doc(hidden)]
    #[inline]
    fn __checked(self) -> Self
    where
        Self: Sized,
    {
        self
    }
}

#[diagnostic::do_not_recommend]
impl<F: Future + Send + 'static, Task> TaskFuture<Task> for F {}
