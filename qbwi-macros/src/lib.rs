//! Procedural macros for qbwi; use them through the `qbwi` crate, which re-exports them and whose
//! private interface (`qbwi::__private`) the generated code calls. The two crates are released
//! together at the same version.

use proc_macro::TokenStream;

mod arg_type;
mod attr;
mod contract;
mod docs;
mod durable;
mod duration;
mod errors;
mod expand;
mod schedule;
mod validate;

/// Turns a fn into a background task: a type that the host queues, runs, tracks and cancels.
///
/// ```
/// use qbwi::{background_task, CancellationToken, Host, Outcome};
///
/// /// Sends the welcome mail.
/// #[background_task(timeout = "30s")]
/// pub async fn send_mail(email: String, token: CancellationToken) -> Result<(), std::io::Error> {
///     tokio::select! {
///         _ = token.cancelled() => Err(std::io::Error::other("shutting down")),
///         _ = tokio::time::sleep(std::time::Duration::from_millis(1)) => Ok(()), // talk SMTP
///     }
///     # .map(|()| drop(email))
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let host = Host::builder().start()?;
///
///     // In a request handler: copy what the work needs, queue it, answer at once.
///     let handle = send_mail::queue("a@example.com".to_owned())?;
///
///     assert_eq!(handle.outcome().await, Outcome::Completed); // optional: nobody has to wait
///     assert_eq!(host.shutdown().await.completed, 1);
///     Ok(())
/// }
/// ```
///
/// The fn stays as it is, callable as before. Beside it the macro adds a struct with the fn's
/// name (in the type namespace, so the two do not clash), whose fields are the fn's arguments:
///
/// - `send_mail::queue(email)` queues a run on the current host (the one started last with
///   `HostBuilder::start`) and returns a `TaskHandle` at once. It never blocks and never awaits,
///   and works from any thread.
/// - `send_mail::queue_on(&host, email)` queues on the given host.
/// - Both return `Err(QueueError)` when the task cannot be queued: `NoHost` (`queue` only),
///   `ShuttingDown` or `Full`. Nothing is dropped silently.
/// - The struct implements `qbwi::BackgroundTask`, so `host.queue(send_mail { email })` works
///   too, and `Debug`, which prints `send_mail { .. }`: argument values are never printed, since
///   they are often personal data.
/// - `qbwi::registry()` lists the task, with no registration call.
///
/// # The fn
///
/// - An `async fn` runs on the tokio runtime the host was started on. Its future must be `Send`
///   (it may move between worker threads): a fn that holds an `Rc` or a `MutexGuard` across an
///   `.await` is an error on the fn's name.
/// - A plain `fn` runs on tokio's blocking pool (`spawn_blocking`), like QBWI's synchronous
///   overload: it may block its thread (file I/O, image processing, a blocking client) without
///   stalling async tasks. Put CPU-heavy work here, not in an `async fn`: an async task's first
///   poll runs inline on the host's dispatcher, so long work before its first `.await` delays
///   the tasks queued behind it.
/// - Either may be `pub`, `pub(crate)`, ...: the struct, its fields and `queue`/`queue_on` get the
///   same visibility. The fn's doc comments and `#[cfg]` attributes are copied onto the generated
///   items.
/// - It must be a free fn: not `const`, `unsafe`, `extern` or variadic, with no generic, lifetime
///   or const parameters and no `where` clause, and no `self`. The host stores and runs one
///   concrete type per task, and calls it as safe Rust.
///
/// # Arguments
///
/// - At most one argument of type `CancellationToken` (any path ending in `CancellationToken`),
///   anywhere in the list, taken by value. The host passes it; `queue` does not take it. It is
///   cancelled when the host shuts down or the run times out. Without one, the run cannot see
///   cancellation (an async run is still dropped at its timeout or the shutdown deadline).
/// - Any number of `State<T>` arguments (any path ending in `State` with one type argument, such
///   as `qbwi::State<Mailer>`), anywhere in the list: the host's shared values, given to it with
///   `HostBuilder::state`. The host passes them when the run starts, like the token: they are not
///   fields, `queue` and `enqueue` do not take them, and a durable job does not store them. See
///   [Shared state](#shared-state).
/// - Every other argument becomes a field, so it must be an owned `Send + 'static` value with a
///   plain name (`mut name` is fine): the task outlives the request that queued it, and runs on
///   another thread. So `&str` is an error that says "take `String`", `&[u8]` says "take
///   `Vec<u8>`", `&Path` says "take `PathBuf`", `Cow<'a, str>` says "take `Cow<'static, str>`".
///   `&'static str` and other `'static` borrows are fine. `impl Trait` (take the concrete type or
///   a `Box<dyn Trait + Send>`), `Self`, destructuring patterns (bind a name and destructure in
///   the body), `_` (name it `_unused`) and `ref` are errors too, and so is a type that is not
///   `Send`, such as `Rc<u8>`, reported on that type.
///
/// # Return type
///
/// `()` (or nothing), or `Result<T, E>` where `E: Display`, such as `std::io::Result<()>` or
/// `Result<(), Box<dyn Error + Send + Sync>>`. `Err(e)` makes the run `Outcome::Failed` with
/// `e.to_string()`; the `Ok` value is dropped, since nobody waits for it. Any other type is an
/// error on the type.
///
/// # Options
///
/// `#[background_task(name = "...", timeout = "...", concurrency = N, durable, retries = N,
/// backoff = "...", retry_delay = "...", cron = "...", timezone = "...", backfill = "...",
/// unique, unique_by = [..], unique_for = "...", on_conflict = "...", crate = "...")]`, in any
/// order, each at most once:
///
/// | Option | Meaning |
/// |--------|---------|
/// | `name = "mail::send"` | The task's name (`BackgroundTask::NAME`, in logs and the registry), instead of `"<module path>::<fn name>"`. Not empty and without a NUL byte (PostgreSQL cannot store one); unique in the binary (a duplicate makes the host fail to start). Keep it stable if the task is renamed: a durable task's stored jobs find it by this name. |
/// | `timeout = "30s"` | The longest one run may take. When it elapses the token is cancelled and the run ends as `Outcome::TimedOut`: an async future is dropped, a blocking run detached. Numbers with units `ms`, `s`, `m`, `h`, largest first: `"500ms"`, `"5m"`, `"1h"`, `"1m30s"`. Not zero. |
/// | `concurrency = 4` | At most this many runs of this task at once on one host; the others wait their turn. At least 1. |
/// | `durable` | The task's runs are jobs kept in the host's store (SQLite or PostgreSQL) until they end, so they survive a crash and run at least once, on any host with that store; failed runs are retried. No value. See [Durable tasks](#durable-tasks). |
/// | `retries = 5` | Durable tasks only: how many times a failed run (an error, a panic, a timeout) is retried before the job is dead. Default 3; `0` never retries. |
/// | `backoff = "linear"` | Durable tasks only: how the wait between retries grows. `"exponential"` (the default: `retry_delay`, then twice, four times it, ..), `"linear"` (`retry_delay`, then twice, three times it, ..) or `"constant"`. Each wait is jittered and at most a day. |
/// | `retry_delay = "10s"` | Durable tasks only: the wait before the first retry, in the format of `timeout`. Default `"1s"`; not zero. |
/// | `cron = "0 3 * * *"` | The task also runs on this schedule: 5 fields (`minute hour day-of-month month day-of-week`) or 6 (the second first), or a nickname (`"@daily"`). Checked at compile time by croner, the crate the host runs it with: `"0 25 * * *"` is an error on the string that says "hour 25 is out of range 0-23". See [Scheduled tasks](#scheduled-tasks). |
/// | `timezone = "Europe/Paris"` | The IANA time zone the schedule is read in (default `"UTC"`), looked up at compile time in the time zone database (a misspelt name gets the nearest known one). With `cron` only. |
/// | `backfill = "6h"` | Durable scheduled tasks: ticks missed while no host ran, within this long, are enqueued when a host starts. By default missed ticks are skipped. |
/// | `unique` | Durable tasks only: at most one live job (scheduled, ready, running or retrying) per value of every stored argument, enforced by a unique index in the store. `enqueue` returns the existing job's id for a duplicate; `enqueue_unique` says which it was (`Enqueued::New` / `Enqueued::Duplicate`). No value. See [Unique jobs](#unique-jobs). |
/// | `unique_by = [user_id]` | As `unique`, keyed on the stored arguments named (checked: a name that is not one is an error). |
/// | `unique_for = "1h"` | With `unique` or `unique_by`: the key stays taken this long after the enqueue, even once the job finished. |
/// | `on_conflict = "replace"` | With `unique` or `unique_by`: a duplicate's arguments and run time replace the pending job's (a debounce); a running job is left alone and the new one waits behind it. Default `"skip"`: the duplicate changes nothing. |
/// | `crate = "my_framework::qbwi"` | The path of the `qbwi` crate, for a crate that re-exports qbwi to users who do not depend on it. Default `::qbwi`. |
///
/// An unknown option lists the valid ones; a repeated one is an error on its second occurrence.
/// `retries`, `backoff` and `retry_delay` without `durable` are errors that say to add it.
///
/// # Durable tasks
///
/// With `durable`, a run is a job in the host's store (`HostBuilder::store`): its arguments are
/// serialized (as a JSON object, one member per argument under the argument's name, `r#type` as
/// `"type"`), and whichever host with that store claims the job runs it, at least once: a host
/// that dies mid-run leaves its jobs to the others once their lease runs out. So make the fn
/// idempotent (safe to run twice). Besides `queue` and `queue_on`, the struct gets:
///
/// - `send_mail::enqueue(email).await`: stores the job through the current host and returns its
///   `JobId` once the job is committed (the host's batching writer commits the jobs stored at the
///   same time together).
/// - `send_mail::enqueue_at(at, email)` (an `std::time::SystemTime`) and
///   `send_mail::enqueue_after(delay, email)` (a `Duration`): the same, not to run before then.
/// - `send_mail::enqueue_in(&transaction, email).await` (PostgreSQL): inserts the job in the
///   caller's own transaction, so the job exists if and only if that transaction commits, together
///   with the data it is about.
/// - `queue` and `queue_on` stay synchronous: they hand the job to the host's writer and return a
///   `TaskHandle` whose outcome is `Completed` once the job is committed; `handle.persisted().await`
///   gives its `JobId`. The run happens later, on whichever host claims the job.
///
/// Every argument but the token must then also be `serde::Serialize + serde::de::DeserializeOwned`
/// (`String`, numbers, `Vec<u8>`, `Option<T>`, a struct that derives both): any other type is an
/// error on that type, and so is a borrow, even a `'static` one (`&'static str`: take `String`),
/// since the value is read back from the store. Stored jobs outlive deploys, so treat the
/// arguments as a schema: a renamed argument or a changed type no longer reads (that job becomes
/// dead, with a message naming the argument), while a new `Option` argument reads as `None` from
/// older jobs.
///
/// ```
/// use qbwi::{background_task, CancellationToken, DurableTask, JobId, QueueError};
///
/// /// Sends the welcome mail; retried up to 5 times, 10 s, 20 s, 40 s, .. apart.
/// #[background_task(durable, retries = 5, retry_delay = "10s")]
/// async fn send_mail(email: String, token: CancellationToken) -> Result<(), std::io::Error> {
///     # let _ = (email, token);
///     Ok(()) // talk SMTP
/// }
///
/// // In a request handler, on a host built with `.store(qbwi::Store::sqlite("qbwi.db")?)`:
/// async fn sign_up(email: String) -> Result<JobId, QueueError> {
///     send_mail::enqueue(email).await // returns once the job is committed
/// }
///
/// assert_eq!(send_mail::RETRY.retries(), 5);
/// # let _ = sign_up;
/// ```
///
/// # Scheduled tasks
///
/// With `cron = ".."` and `durable`, every host with a store tries each tick and exactly one
/// enqueues it: the tick moves the schedule's row in the store forward in the transaction that
/// adds the job, so the first writer wins, with no leader to lose (any node can die), and nodes
/// whose clocks differ by a second or two try the same tick and one of them gets it. A node fires
/// every tick since the last it saw fired, so none is lost to a slow node or a store that was
/// briefly out of reach. With `backfill = "6h"`, a host that starts enqueues the ticks missed
/// within that window since the schedule last fired (`Tick::backfilled()` is `true` for them); by
/// default missed ticks are skipped. A changed expression takes effect with the deploy; a removed
/// schedule stops.
///
/// Without `durable`, every host in the process fires the task at each tick of its schedule (an
/// in-memory task has no store to agree on one run across processes: each process that runs a
/// host fires it). A scheduled task takes no arguments but an optional `CancellationToken`, an
/// optional [`qbwi::Tick`](../qbwi/struct.Tick.html) (when the run was due) and `State<_>`s;
/// anything else is a compile error. It can still be queued by hand: `queue(Tick::now())` (or
/// `queue()` if the fn takes no tick).
///
/// Daylight-saving changes: a tick at a wall-clock time that a change skips (03:30 on a day the
/// clocks jump from 03:00 to 04:00) fires once, at the first instant after the gap; one at a time
/// that happens twice fires once, at the first. A host whose machine slept through several ticks
/// fires the latest once.
///
/// ```
/// use qbwi::{CancellationToken, Tick, background_task};
///
/// /// The night's report, at 03:00 Paris time.
/// #[background_task(cron = "0 3 * * *", timezone = "Europe/Paris", timeout = "10m")]
/// async fn nightly_report(tick: Tick, ct: CancellationToken) {
///     let _ = (tick.at(), ct); // the run due at 03:00 knows it, even if it starts late
/// }
///
/// let schedule = qbwi::registry()
///     .find(|task| task.name.ends_with("::nightly_report"))
///     .and_then(|task| task.schedule())
///     .unwrap();
/// assert_eq!((schedule.expression, schedule.timezone), ("0 3 * * *", "Europe/Paris"));
/// ```
///
/// # Unique jobs
///
/// A durable task with `unique` (or `unique_by = [..]`) has at most one live job per key: the
/// task's name and the key arguments. The store's unique index enforces it, never a look before
/// the insert, so 64 callers enqueueing one key at once store one job, and the batching writer
/// behind `queue` and `enqueue_in(&transaction, ..)` keep it too.
///
/// ```
/// use qbwi::{Enqueued, background_task};
///
/// /// One pending rebuild per user, with the latest reason: a debounce.
/// #[background_task(durable, unique_by = [user_id], on_conflict = "replace")]
/// async fn rebuild_feed(user_id: u64, reason: String) {
///     let _ = (user_id, reason);
/// }
///
/// async fn on_new_post(author: u64) -> Result<(), qbwi::QueueError> {
///     match rebuild_feed::enqueue_unique(author, "new post".into()).await? {
///         Enqueued::New(id) => println!("rebuild {id} queued"),
///         Enqueued::Duplicate(id) => println!("rebuild {id} was pending: it takes this reason"),
///     }
///     Ok(())
/// }
/// # let _ = on_new_post;
/// ```
///
/// # Shared state
///
/// A database pool, a mail transport or an HTTP client cannot be an argument: it is not a value
/// to copy into each task, nor one serde can store with a durable job. Give it to the host once
/// with `HostBuilder::state(value)`, and take it as a `State<T>` argument, which derefs to `T`:
///
/// ```standalone_crate
/// use qbwi::{background_task, CancellationToken, Host, Outcome, State};
///
/// /// Stands for a mail transport, built once at startup.
/// struct Mailer {
///     from: String,
/// }
///
/// /// Sends the welcome mail, through the host's mailer.
/// #[background_task]
/// async fn send_mail(email: String, mailer: State<Mailer>, token: CancellationToken) {
///     if !token.is_cancelled() {
///         println!("{} -> {email}", mailer.from); // talk SMTP
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let host = Host::builder()
///     .state(Mailer { from: "welcome@example.com".to_owned() })
///     .build()?;
/// // No state and no token in the call: the host passes them when the run starts.
/// let task = send_mail { email: "a@example.com".to_owned() };
/// assert_eq!(host.queue(task)?.outcome().await, Outcome::Completed);
/// # host.shutdown().await;
/// # Ok(())
/// # }
/// ```
///
/// - The host keeps one value per type, in an `Arc`; each run gets a clone of it. `T` must be
///   `Send + Sync + 'static` (runs on many threads share it): `State<Cell<u8>>` is an error on
///   that argument's type that says so. `State<&Mailer>` is an error too: write `State<Mailer>`.
/// - A host whose binary has a task taking a `State<T>` that the host was not given does not
///   start (`HostError::MissingState`, naming the task and the type), so no run lacks its state.
/// - Any `State<T>` is taken for `qbwi::State`: in a fn that also sees another `State` (axum's
///   `axum::extract::State`, say), the error says the type is not `qbwi::State`; import the other
///   one under another name, or write `qbwi::State<T>`.
///
/// # What it expands to
///
/// The example at the top expands to this (formatted, generated docs shortened):
///
/// ```text
/// /// Sends the welcome mail.
/// pub async fn send_mail(email: String, token: CancellationToken) -> Result<(), std::io::Error> {
///     // unchanged
/// }
///
/// // First, so that a broken contract is the first error. One per argument, spanned on its type:
/// // `Rc<u8>` would be reported there, in the words of `qbwi::TaskArgument`.
/// const _: () = {
///     const _: () = <String as ::qbwi::TaskArgument<send_mail>>::__CHECK;
/// };
///
/// /// Sends the welcome mail.
/// ///
/// /// The background task made by `#[background_task]` from the fn [`send_mail`](fn@send_mail); ...
/// #[allow(non_camel_case_types)]
/// pub struct send_mail {
///     /// The `email` argument of [`send_mail`](fn@send_mail).
///     pub email: String,
/// }
///
/// impl send_mail {
///     /// Queues a run of [`send_mail`](fn@send_mail) on the current host ... # Errors ...
///     #[allow(clippy::too_many_arguments)]
///     pub fn queue(email: String) -> ::core::result::Result<::qbwi::TaskHandle, ::qbwi::QueueError> {
///         // Through the public method, so that a task that is not a `BackgroundTask` (an argument
///         // that is not `Send`) is reported once for `queue` and `queue_on`, in its words.
///         ::qbwi::__private::on_current(|__qbwi_host| ::qbwi::Host::queue(__qbwi_host, Self { email }))
///     }
///
///     /// Queues a run of [`send_mail`](fn@send_mail) on `host` ... # Errors ...
///     #[allow(clippy::too_many_arguments)]
///     pub fn queue_on(
///         host: &::qbwi::Host, // named otherwise if an argument is called `host`
///         email: String,
///     ) -> ::core::result::Result<::qbwi::TaskHandle, ::qbwi::QueueError> {
///         ::qbwi::Host::queue(host, Self { email })
///     }
/// }
///
/// const _: () = {
///     // Registered means used, even if this binary never queues it: no `dead_code` warning.
///     let _ = send_mail;
///
///     // The impl assumes what the check above checks (behind an unused `for<'__qbwi>`, which
///     // keeps rustc from checking the bound here), so that an argument that is not `Send` is not
///     // reported again by the struct, the future or a blocking closure. rustdoc gets the impl
///     // without the where clause (`#[cfg(doc)]`).
///     #[cfg(not(doc))]
///     impl ::qbwi::BackgroundTask for send_mail
///     where
///         for<'__qbwi> String: ::core::marker::Send,
///     {
///         const NAME: &'static str = ::core::concat!(::core::module_path!(), "::send_mail");
///         const OPTIONS: ::qbwi::TaskOptions = ::qbwi::TaskOptions::new()
///             .with_timeout(::core::time::Duration::from_millis(30000));
///
///         // Spanned on the fn's name: a future that is not `Send` is reported there.
///         fn run(
///             self,
///             __qbwi_token: &::qbwi::CancellationToken, // `_` when the fn takes no token
///         ) -> impl ::core::future::Future<
///             Output = ::core::result::Result<(), ::qbwi::TaskError>,
///         > + ::core::marker::Send + 'static + use<> {
///             // Only a fn that takes the token pays for a clone of it.
///             let __qbwi_token = ::core::clone::Clone::clone(__qbwi_token);
///             // The fn's own future, adapted, so a waiting run holds one copy of the arguments.
///             // Arguments go in the order the fn declares them.
///             ::qbwi::__private::task_future(
///                 // Spanned on the fn's name: a future that is not `Send` is reported there, in
///                 // the words of `qbwi::TaskFuture`.
///                 <_ as ::qbwi::TaskFuture<send_mail>>::__checked(send_mail(self.email, __qbwi_token)),
///                 // Spanned on the return type: a type that is not `()` or
///                 // `Result<T, E: Display>` is reported there (`TaskReturn`, `TaskErrorDisplay`).
///                 <Result<(), std::io::Error> as ::qbwi::TaskReturn<send_mail>>::__into_result,
///             )
///             // A plain `fn` gets instead:
///             // <_ as ::qbwi::TaskFuture<send_mail>>::__checked(
///             //     ::qbwi::__private::run_blocking(move || {
///             //         <Result<(), std::io::Error> as ::qbwi::TaskReturn<send_mail>>::__into_result(
///             //             send_mail(self.email, __qbwi_token),
///             //         )
///             //     }),
///             // )
///         }
///     }
///     #[cfg(doc)]
///     impl ::qbwi::BackgroundTask for send_mail { /* the same */ }
///
///     impl ::core::fmt::Debug for send_mail {
///         fn fmt(&self, __qbwi_formatter: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
///             __qbwi_formatter.debug_struct("send_mail").finish_non_exhaustive()
///         }
///     }
///
///     ::qbwi::__private::inventory::submit! {
///         ::qbwi::TaskInfo::__new(
///             ::core::concat!(::core::module_path!(), "::send_mail"), // or `name = "..."`
///             ::core::module_path!(),
///             ::core::file!(),
///             ::core::line!(),
///             false, // `true` for a plain `fn`
///         )
///         .__options(::qbwi::TaskOptions::new()) // the same options as `OPTIONS`
///     }
/// };
/// ```
///
/// With a `State<T>` argument (`mailer: State<Mailer>` after `email`), the struct, `queue` and
/// `queue_on` are the same (no `mailer`), and the expansion gains:
///
/// ```text
/// const _: () = {
///     // The registry lists the state types, so that a host checks at start that it has them.
///     const __QBWI_STATES: &[::qbwi::__private::StateType] =
///         &[::qbwi::__private::StateType::of::<Mailer>()];
///
///     impl ::qbwi::BackgroundTask for send_mail {
///         fn run(self, __qbwi_token: &::qbwi::CancellationToken) -> /* as above */ {
///             let __qbwi_token = ::core::clone::Clone::clone(__qbwi_token);
///             // One per `State` argument, before the future (or a blocking fn's closure) is
///             // built: the host calls `run` with its states in scope, and this is an `Arc`
///             // clone. Spanned on the argument's type: a `State` that is not qbwi's, or whose
///             // `T` is not `Send + Sync`, is reported there (`StateArgument`, `TaskState`).
///             let __qbwi_state_0 = <State<Mailer> as ::qbwi::StateArgument<send_mail>>::__from_host(
///                 <Self as ::qbwi::BackgroundTask>::NAME,
///             );
///             ::qbwi::__private::task_future(
///                 <_ as ::qbwi::TaskFuture<send_mail>>::__checked(
///                     send_mail(self.email, __qbwi_state_0, __qbwi_token),
///                 ),
///                 /* as above */
///             )
///         }
///     }
///
///     ::qbwi::__private::inventory::submit! {
///         ::qbwi::TaskInfo::__new(/* as above */).__states(__QBWI_STATES)
///     }
/// };
/// ```
///
/// With `durable` (`#[background_task(durable, retries = 5)]` on the same fn), `queue` and
/// `queue_on` call `Host::queue_durable` instead, and the expansion gains:
///
/// ```text
/// impl send_mail {
///     /// Stores a job of [`send_mail`](fn@send_mail) in the current host's store ... # Errors ...
///     #[allow(clippy::too_many_arguments)]
///     pub async fn enqueue(email: String) -> ::core::result::Result<::qbwi::JobId, ::qbwi::QueueError> {
///         ::qbwi::__private::enqueue_current(Self { email }, ::core::option::Option::None).await
///     }
///
///     pub async fn enqueue_at(
///         at: ::std::time::SystemTime, // like `host`, named otherwise if an argument is called `at`
///         email: String,
///     ) -> ::core::result::Result<::qbwi::JobId, ::qbwi::QueueError> {
///         ::qbwi::__private::enqueue_current(Self { email }, ::core::option::Option::Some(at)).await
///     }
///
///     pub async fn enqueue_after(
///         delay: ::core::time::Duration,
///         email: String,
///     ) -> ::core::result::Result<::qbwi::JobId, ::qbwi::QueueError> {
///         ::qbwi::__private::enqueue_after(Self { email }, delay).await
///     }
///
///     pub async fn enqueue_in(
///         // `impl Trait`, not a type parameter `C`, which could shadow an argument's type.
///         client: &(impl ::qbwi::EnqueueIn + ?::core::marker::Sized),
///         email: String,
///     ) -> ::core::result::Result<::qbwi::JobId, ::qbwi::QueueError> {
///         ::qbwi::__private::enqueue_in(client, Self { email }).await
///     }
/// }
///
/// const _: () = {
///     // ... as above, and:
///     // One body for both directions, so that a type serde cannot store is reported once, on
///     // the type (as separate fns, `encode` and `decode` would each report it again).
///     const __QBWI_CODEC: (
///         fn(&send_mail, &mut ::qbwi::JobEncoder) -> ::core::result::Result<(), ::qbwi::PayloadError>,
///         fn(&mut ::qbwi::JobDecoder) -> ::core::result::Result<send_mail, ::qbwi::PayloadError>,
///     ) = {
///         (
///             // Each argument under its name (`r#type` as "type"), in the fn's order, through
///             // `qbwi::DurableArgument`, spanned on its type: one that serde cannot store is
///             // reported there, in its words.
///             |__qbwi_task, __qbwi_encoder| {
///                 <String as ::qbwi::DurableArgument<send_mail>>::__write(
///                     &__qbwi_task.email,
///                     __qbwi_encoder,
///                     "email",
///                 )?;
///                 ::core::result::Result::Ok(())
///             },
///             |__qbwi_decoder| ::core::result::Result::Ok(send_mail {
///                 email: <String as ::qbwi::DurableArgument<send_mail>>::__read(__qbwi_decoder, "email")?,
///             }),
///         )
///     };
///
///     // With the same where clause as `BackgroundTask`, and the same twin for rustdoc.
///     impl ::qbwi::DurableTask for send_mail {
///         const RETRY: ::qbwi::RetryPolicy = ::qbwi::RetryPolicy::new(
///             5,
///             ::qbwi::Backoff::Exponential,
///             ::core::time::Duration::from_millis(1000),
///         );
///
///         fn encode(
///             &self,
///             __qbwi_encoder: &mut ::qbwi::JobEncoder,
///         ) -> ::core::result::Result<(), ::qbwi::PayloadError> {
///             (__QBWI_CODEC.0)(self, __qbwi_encoder)
///         }
///
///         fn decode(
///             __qbwi_decoder: &mut ::qbwi::JobDecoder,
///         ) -> ::core::result::Result<Self, ::qbwi::PayloadError> {
///             (__QBWI_CODEC.1)(__qbwi_decoder)
///         }
///     }
///
///     // The registry entry says how a host runs a stored job of this task by its name.
///     ::qbwi::__private::inventory::submit! {
///         ::qbwi::TaskInfo::__new(/* as above */)
///             .__durable(::qbwi::__private::DurableEntry::of::<send_mail>())
///     }
/// };
/// ```
///
/// Every path is absolute, so a module's own `Result`, `Option`, `Box`, `Send` or `mod qbwi`
/// cannot change what the code means. With `crate = "path"`, `path` replaces `::qbwi`. A fn
/// that breaks a rule is emitted unchanged beside the errors (every problem is reported at once),
/// so its callers do not fail too.
///
/// # More examples
///
/// A blocking task, queued on a host that is not the current one:
///
/// ```
/// use qbwi::{background_task, CancellationToken, Host, Outcome};
///
/// /// Shrinks an uploaded image; blocks its thread while it works.
/// #[background_task(concurrency = 2)]
/// fn make_thumbnail(image_id: u64, max_side: u32, token: CancellationToken) -> Result<(), String> {
///     if token.is_cancelled() {
///         return Err(format!("image {image_id} not resized: shutting down"));
///     }
///     let _ = max_side; // decode, resize, store
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let host = Host::builder().build()?;
/// let handle = make_thumbnail::queue_on(&host, 42, 256)?;
/// assert_eq!(handle.outcome().await, Outcome::Completed);
///
/// let info = qbwi::registry().find(|task| task.name.ends_with("::make_thumbnail")).unwrap();
/// assert!(info.blocking);
/// # host.shutdown().await;
/// # Ok(())
/// # }
/// ```
///
/// Options, and what they become:
///
/// ```
/// use std::time::Duration;
/// use qbwi::{background_task, BackgroundTask};
///
/// #[background_task(name = "reports::render_pdf", timeout = "1m30s", concurrency = 4)]
/// async fn render_pdf(report_id: u64) -> Result<(), std::io::Error> {
///     # let _ = report_id;
///     Ok(())
/// }
///
/// assert_eq!(render_pdf::NAME, "reports::render_pdf");
/// assert_eq!(render_pdf::OPTIONS.timeout, Some(Duration::from_secs(90)));
/// assert_eq!(render_pdf::OPTIONS.concurrency.map(|n| n.get()), Some(4));
/// ```
///
/// A framework that re-exports qbwi, so that its users need no `qbwi` dependency of their own:
///
/// ```
/// mod my_framework {
///     pub use ::qbwi;
/// }
///
/// use my_framework::qbwi::background_task;
///
/// #[background_task(crate = "my_framework::qbwi")]
/// async fn audit(event: String) {
///     println!("{event}");
/// }
/// # fn main() {}
/// ```
///
/// A borrowed argument does not compile; the error says "background tasks cannot borrow: `&str`
/// would outlive the request; take `String`":
///
/// ```compile_fail
/// #[qbwi::background_task]
/// async fn send_mail(email: &str) {}
/// # fn main() {}
/// ```
#[proc_macro_attribute]
pub fn background_task(args: TokenStream, item: TokenStream) -> TokenStream {
    match expand::background_task(args.into(), item.clone().into()) {
        Ok(tokens) => tokens.into(),
        // Emit the fn unchanged beside the errors, so that code calling it still compiles and
        // the user sees only the errors that matter.
        Err(errors) => {
            let mut tokens = item;
            tokens.extend(TokenStream::from(errors.into_compile_error()));
            tokens
        }
    }
}
