//! # qbwi
//!
//! Background work for Rust web services: ASP.NET's `QueueBackgroundWorkItem` (QBWI), done right.
//!
//! A request handler hands work to the [`Host`] and answers at once; the host runs the work on
//! tokio, tracks it, cancels it when the process is asked to stop, and waits for it up to a
//! deadline. Unlike QBWI, nothing is dropped silently: a queue call that cannot be honoured
//! returns a [`QueueError`], and every task's fate is counted in the [`ShutdownReport`].
//!
//! ```
//! use std::time::Duration;
//! use qbwi::{background_task, CancellationToken, Host};
//!
//! /// Sends the welcome mail.
//! #[background_task(timeout = "10s")]
//! async fn send_welcome(email: String, token: CancellationToken) -> Result<(), std::io::Error> {
//!     tokio::select! {
//!         _ = token.cancelled() => Err(std::io::Error::other("shutting down")),
//!         _ = tokio::time::sleep(Duration::from_millis(5)) => Ok(()), // talk to the SMTP server
//!     }
//!     # .map(|()| drop(email))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let host = Host::builder().shutdown_timeout(Duration::from_secs(30)).start()?;
//!
//!     // In a request handler: copy what the work needs, queue it, answer 202.
//!     let handle = send_welcome::queue("a@example.com".to_owned())?;
//!
//!     assert!(handle.outcome().await.is_completed()); // optional: nobody has to wait
//!     let report = host.shutdown().await;             // cancel, drain, bound, count
//!     assert_eq!(report.completed, 1);
//!     Ok(())
//! }
//! ```
//!
//! - [`background_task`] turns a fn into a task type with `queue(args)` and `queue_on(&host, args)`.
//! - [`Host::queue_work_item`] and [`Host::queue_blocking_work_item`] take closures, like QBWI's
//!   two overloads.
//! - [`Host::shutdown`] cancels, drains within `shutdown_timeout`, and reports.
//! - A [`State<T>`](State) argument reaches a value the host was given once with
//!   [`HostBuilder::state`] (a database pool, a mail transport, an HTTP client): the host passes
//!   it when the run starts, so it is neither copied into the task nor stored with a durable job,
//!   and a host missing one does not start.
//! - `#[background_task(durable)]` tasks survive crashes: their jobs are kept in a [`Store`]
//!   (SQLite with the `sqlite` feature, PostgreSQL with `postgres`), retried with backoff, and run
//!   at least once by whichever host claims them; see [`DurableTask`].
//! - With the `metrics` feature, hosts record what their tasks do (queued, finished by outcome,
//!   durations, waits, running, waiting, the store's jobs) through the `metrics` facade, for any
//!   recorder; with `prometheus`, the dashboard serves them at `GET /metrics`. The module
//!   `qbwi::metrics` lists them.

#![warn(missing_docs, missing_debug_implementations)]
// docs.rs (`[package.metadata.docs.rs]`): label each item that needs a feature with it.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod argument;
mod blocking;
mod cell;
mod counts;
mod cron;
mod current;
mod dispatch;
mod durable;
mod error;
mod host;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(not(feature = "metrics"))]
#[path = "metrics/off.rs"]
mod metrics;
mod outcome;
mod reconnect;
mod registry;
mod report;
mod run;
mod sched;
mod signal;
mod state;
mod store;
mod task;
mod wait;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
#[cfg(feature = "dashboard")]
pub mod dashboard;

pub use argument::{
    DurableArgument, StateArgument, TaskArgument, TaskErrorDisplay, TaskFuture, TaskReturn,
    TaskState,
};
pub use cron::{Schedule, Tick};
pub use current::{queue_blocking_work_item, queue_work_item};
/// The deadpool-postgres that [`Store::postgres`] takes a pool of and [`EnqueueIn`] is
/// implemented for: use it (or the same version) for the transactions you enqueue in.
#[cfg(feature = "postgres")]
pub use deadpool_postgres;
pub use durable::{Backoff, DurableTask, JobDecoder, JobEncoder, PayloadError, RetryPolicy};
pub use error::{HostError, QueueError};
pub use host::{DEFAULT_LEASE, DEFAULT_RETENTION, DEFAULT_SHUTDOWN_TIMEOUT, Host, HostBuilder};
pub use outcome::{Outcome, TaskHandle, TaskId};
pub use qbwi_macros::background_task;
pub use registry::{TaskInfo, registry};
pub use report::{ShutdownReport, Stats};
/// The serde qbwi stores durable tasks' arguments with, for argument types of your own:
/// `#[derive(qbwi::serde::Serialize, qbwi::serde::Deserialize)]` with
/// `#[serde(crate = "qbwi::serde")]` (or depend on serde yourself: it is the same crate).
pub use serde;
pub use signal::shutdown_signal;
pub use state::State;
#[cfg(feature = "postgres")]
pub use store::postgres::PostgresConfig;
pub use store::{
    DeadJob, EnqueueIn, Enqueued, JobCounts, JobDetail, JobId, JobQuery, JobState, JobSummary,
    MinuteCounts, Node, ParseJobStateError, Store, StoreError, TaskCounts,
};
pub use task::{BackgroundTask, IntoTaskResult, TaskError, TaskOptions};
/// The tokio-postgres whose clients and transactions implement [`EnqueueIn`].
#[cfg(feature = "postgres")]
pub use tokio_postgres;
/// The token each task gets: cancelled when the host shuts down or the run times out.
///
/// Re-exported from [`tokio_util`](https://docs.rs/tokio-util), so it is the same type tokio code
/// already passes around.
pub use tokio_util::sync::CancellationToken;
