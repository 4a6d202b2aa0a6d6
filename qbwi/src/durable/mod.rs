//! Durable tasks: [`DurableTask`] (what `#[background_task(durable)]` implements), its
//! [`RetryPolicy`], and the host's side of the store: the host's durable calls (`host.rs`:
//! `enqueue`, `queue_durable`), the batching writer behind them (`writer.rs`), and the worker
//! that claims, runs, reports and heartbeats jobs (`worker.rs`), which the host's core reaches
//! only through the verbs of its `Durable`.

use std::num::NonZeroUsize;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::Span;

use crate::outcome::TaskHandle;
use crate::store::{NewJob, UniqueKey};
use crate::task::BackgroundTask;
use crate::{Host, QueueError};

mod host;
mod payload;
pub(crate) mod worker;
pub(crate) mod writer;

pub use payload::{JobDecoder, JobEncoder, PayloadError};

/// A task whose runs survive crashes: its arguments are stored, and any host with a
/// [`Store`](crate::Store) that knows its name runs it, at least once.
///
/// `#[background_task(durable)]` implements it (with `retries = N`, `backoff = ".."` and
/// `retry_delay = ".."` for the [`RetryPolicy`]); there is no need to implement it by hand.
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
///
/// /// Sends the welcome mail; retried up to 5 times, 10 ms, 20 ms, 40 ms .. apart.
/// #[qbwi::background_task(durable, retries = 5, retry_delay = "10ms")]
/// async fn send_welcome(email: String) -> Result<(), std::io::Error> {
///     # let _ = email;
///     Ok(())
/// }
///
/// # let dir = std::env::temp_dir().join(format!("qbwi-doc-durable-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let store = qbwi::Store::sqlite(dir.join("qbwi.db"))?;
/// let host = qbwi::Host::builder().store(store).start()?;
///
/// let id: qbwi::JobId = send_welcome::enqueue("a@example.com".into()).await?; // committed
/// host.wait_idle().await;
/// let report = host.shutdown().await;
/// assert_eq!(report.completed, 1);
/// # let _ = id;
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "sqlite"))]
/// # fn main() {}
/// ```
pub trait DurableTask: BackgroundTask + Sized {
    /// How failed runs are retried.
    const RETRY: RetryPolicy;

    /// Writes the task's arguments.
    fn encode(&self, out: &mut JobEncoder) -> Result<(), PayloadError>;

    /// Reads the task's arguments back.
    fn decode(input: &mut JobDecoder) -> Result<Self, PayloadError>;

    /// A unique task's key (`unique`, `unique_by = [..]`): `None` for a task whose jobs are never
    /// duplicates.
    #[doc(hidden)]
    fn unique_key(&self) -> Result<Option<UniqueKey>, PayloadError> {
        Ok(None)
    }
}

/// The key of task `name`'s job whose key arguments are `arguments` (a tuple of references to
/// them), for `DurableTask::unique_key`.
#[doc(hidden)]
pub fn unique_key<A: serde::Serialize>(
    name: &'static str,
    arguments: &A,
    for_millis: Option<i64>,
    replace: bool,
) -> Result<Option<UniqueKey>, PayloadError> {
    let arguments = serde_json::to_string(arguments)
        .map_err(|error| PayloadError::write(name, "the unique key", error.to_string()))?;
    Ok(Some(UniqueKey {
        key: format!("{name}:{arguments}"),
        for_millis,
        replace,
    }))
}

/// How a durable task's failed runs (errors, panics, timeouts) are retried: up to `retries`
/// times, waiting longer each time (with jitter, so that jobs that failed together do not all
/// retry at the same moment); then the job is dead, kept with its last error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetryPolicy {
    retries: u32,
    backoff: Backoff,
    delay: Duration,
}

/// How the wait between retries grows; see [`RetryPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backoff {
    /// `delay`, `2 × delay`, `4 × delay`, ..: the default.
    Exponential,
    /// `delay`, `2 × delay`, `3 × delay`, ..
    Linear,
    /// `delay` every time.
    Constant,
}

/// No wait between retries grows past this.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(24 * 60 * 60);

impl RetryPolicy {
    /// The policy of `#[background_task(durable)]` without options: 3 retries, exponential from
    /// 1 s.
    pub const DEFAULT: RetryPolicy =
        RetryPolicy::new(3, Backoff::Exponential, Duration::from_secs(1));

    /// `retries` retries after the first run, the first one `delay` after the failure.
    pub const fn new(retries: u32, backoff: Backoff, delay: Duration) -> Self {
        RetryPolicy {
            retries,
            backoff,
            delay,
        }
    }

    /// How many times a failed run is retried.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// How the wait grows.
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// The wait before the first retry.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// Runs at most this many times: the first plus the retries.
    pub fn max_attempts(&self) -> u32 {
        self.retries.saturating_add(1)
    }

    /// The wait before retry number `retry` (from 1), before jitter; at most a day.
    pub fn wait_before(&self, retry: u32) -> Duration {
        let steps = retry.max(1) - 1;
        let wait = match self.backoff {
            Backoff::Exponential => 2u32
                .checked_pow(steps)
                .and_then(|factor| self.delay.checked_mul(factor)),
            Backoff::Linear => self.delay.checked_mul(steps + 1),
            Backoff::Constant => Some(self.delay),
        };
        wait.unwrap_or(MAX_RETRY_DELAY).min(MAX_RETRY_DELAY)
    }

    /// [`wait_before`](Self::wait_before) with "equal jitter": somewhere between half of it and
    /// all of it.
    pub(crate) fn jittered_wait_before(&self, retry: u32) -> Duration {
        let wait = self.wait_before(retry);
        let half = wait / 2;
        half + half.mul_f64(random_fraction())
    }
}

/// A number in `[0, 1)`, different on every call: enough randomness for jitter without a
/// dependency (std's `RandomState` keys are random per process and per call site).
pub(crate) fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Relaxed));
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// A durable task in the registry: how a host runs a stored job of it by name.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct DurableEntry {
    pub(crate) retry: RetryPolicy,
    /// The task's own `concurrency`: a host claims no more of its jobs than it has free slots.
    pub(crate) concurrency: Option<NonZeroUsize>,
    pub(crate) start: StartFn,
}

/// Decodes a stored job's payload and queues the task on the host, its run inside `span`, due
/// the given time ago.
pub(crate) type StartFn = fn(
    &Host,
    &str,
    Span,
    CancellationToken,
    Duration,
) -> Result<Result<TaskHandle, QueueError>, PayloadError>;

impl DurableEntry {
    /// The entry of task `T`.
    pub const fn of<T: DurableTask>() -> Self {
        DurableEntry {
            retry: T::RETRY,
            concurrency: T::OPTIONS.concurrency,
            start: start::<T>,
        }
    }
}

fn start<T: DurableTask>(
    host: &Host,
    payload: &str,
    span: Span,
    token: CancellationToken,
    waited: Duration,
) -> Result<Result<TaskHandle, QueueError>, PayloadError> {
    let mut input = JobDecoder::new(T::NAME, payload)?;
    let task = T::decode(&mut input)?;
    Ok(host.queue_claimed(task, span, token, waited))
}

impl PartialEq for DurableEntry {
    fn eq(&self, other: &Self) -> bool {
        // Entries of one task are equal; the fn pointer says nothing more.
        self.retry == other.retry && self.concurrency == other.concurrency
    }
}

impl Eq for DurableEntry {}

impl std::fmt::Debug for DurableEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableEntry")
            .field("retry", &self.retry)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

/// A task's job for the store: its name, its arguments written as the payload, and its attempts.
pub(crate) fn new_job<T: DurableTask>(
    task: &T,
    run_at: Option<i64>,
) -> Result<NewJob, PayloadError> {
    let mut out = JobEncoder::new(T::NAME);
    task.encode(&mut out)?;
    Ok(NewJob {
        task: T::NAME,
        payload: out.finish(),
        run_at,
        max_attempts: T::RETRY.max_attempts(),
        unique: task.unique_key()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_as_the_backoff_says_and_stop_at_a_day() {
        let ms = Duration::from_millis;
        let exponential = RetryPolicy::new(5, Backoff::Exponential, ms(100));
        let waits: Vec<_> = (1..=4).map(|n| exponential.wait_before(n)).collect();
        assert_eq!(waits, [ms(100), ms(200), ms(400), ms(800)]);
        let linear = RetryPolicy::new(5, Backoff::Linear, ms(100));
        assert_eq!(linear.wait_before(3), ms(300));
        let constant = RetryPolicy::new(5, Backoff::Constant, ms(100));
        assert_eq!(constant.wait_before(9), ms(100));
        assert_eq!(exponential.wait_before(40), MAX_RETRY_DELAY);
        assert_eq!(exponential.max_attempts(), 6);
        assert_eq!(
            RetryPolicy::new(u32::MAX, Backoff::Constant, ms(1)).max_attempts(),
            u32::MAX
        );
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_wait() {
        let policy = RetryPolicy::new(5, Backoff::Exponential, Duration::from_secs(8));
        let waits: Vec<_> = (0..200).map(|_| policy.jittered_wait_before(1)).collect();
        assert!(
            waits
                .iter()
                .all(|wait| (Duration::from_secs(4)..=Duration::from_secs(8)).contains(wait))
        );
        assert!(waits.iter().any(|wait| *wait != waits[0]), "jitter varies");
    }
}
