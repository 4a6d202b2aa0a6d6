//! The doc comments of the generated items, so that `cargo doc` explains the task to its users.
//!
//! They must hold no code blocks: rustdoc would run them as the user's doctests.

use syn::Ident;
use syn::ext::IdentExt;

use crate::attr::{Backoff, Retry};
use crate::duration;

/// The paragraph added to the struct's docs (after the fn's own docs, if any).
pub(crate) fn task_struct(fn_ident: &Ident, has_docs: bool, durable: bool, states: bool) -> String {
    let gap = if has_docs { "\n\n" } else { "" };
    let name = fn_ident.unraw();
    let enqueue = if durable {
        format!(
            " The task is durable: each run is a job kept in the host's store until it ends, \
             so it survives a crash; store one and wait for the commit with \
             [`{name}::enqueue`](Self::enqueue) (or `enqueue_at`, `enqueue_after`, \
             `enqueue_in`)."
        )
    } else {
        String::new()
    };
    let states = if states {
        " Its `State` arguments are not fields: the host that runs the task passes its own."
    } else {
        ""
    };
    format!(
        "{gap} The background task made by `#[background_task]` from the fn \
         [`{name}`](fn@{name}); its fields are the fn's arguments.{states} Queue a run with \
         [`{name}::queue`](Self::queue) or [`{name}::queue_on`](Self::queue_on).{enqueue}"
    )
}

/// The docs of one field.
pub(crate) fn field(fn_ident: &Ident, field: &Ident) -> String {
    let (name, field) = (fn_ident.unraw(), field.unraw());
    format!(" The `{field}` argument of [`{name}`](fn@{name}).")
}

/// The docs of `queue` (`host: None`) and `queue_on` (`host: Some(its host parameter)`), of an
/// in-memory task or (`durable`) of a durable one.
pub(crate) fn queue(fn_ident: &Ident, krate: &str, host: Option<&Ident>, durable: bool) -> String {
    let name = fn_ident.unraw();
    let (on, from_anywhere, no_host) = match host {
        None => (
            format!(
                "the current host (the last one started with \
                 [`HostBuilder::start`]({krate}::HostBuilder::start))"
            ),
            " It works from any thread, inside the runtime or not.",
            format!(
                "\n - [`QueueError::NoHost`]({krate}::QueueError::NoHost): no host was ever \
                 started in this process;"
            ),
        ),
        Some(host) => (format!("`{host}`"), "", String::new()),
    };
    if durable {
        return format!(
            " Queues a job of [`{name}`](fn@{name}) on {on} and returns at once, without \
             waiting for the store.\n\n \
             This never blocks and never awaits: the arguments are serialized and the job is \
             handed to the host's batching writer, which commits it to the host's store \
             together with the jobs queued beside it.{from_anywhere} The returned \
             [`TaskHandle`]({krate}::TaskHandle)'s outcome is \
             [`Outcome::Completed`]({krate}::Outcome::Completed) once the job is committed \
             (`Failed` if the store refused it), and \
             [`TaskHandle::persisted`]({krate}::TaskHandle::persisted) gives its \
             [`JobId`]({krate}::JobId); nobody has to wait. The run itself happens afterwards, \
             on whichever host with this store claims the job. To return only once the job is \
             committed, use [`enqueue`](Self::enqueue).\n\n \
             # Errors\n\n \
             The job is not queued, and its arguments are dropped, when:\n{no_host}\n \
             - [`QueueError::NoStore`]({krate}::QueueError::NoStore): the host has no store;\n \
             - [`QueueError::ShuttingDown`]({krate}::QueueError::ShuttingDown): the host has \
             begun shutting down;\n \
             - [`QueueError::Payload`]({krate}::QueueError::Payload): an argument could not be \
             serialized."
        );
    }
    format!(
        " Queues a run of [`{name}`](fn@{name}) on {on} and returns at once.\n\n \
         This never blocks and never awaits: the arguments are moved into the task, and the \
         host runs it in the background.{from_anywhere} The returned \
         [`TaskHandle`]({krate}::TaskHandle) can await the run's outcome; nobody has to.\n\n \
         # Errors\n\n \
         The task is not queued, and its arguments are dropped, when:\n{no_host}\n \
         - [`QueueError::ShuttingDown`]({krate}::QueueError::ShuttingDown): the host has begun \
         shutting down;\n \
         - [`QueueError::Full`]({krate}::QueueError::Full): the host's `queue_capacity` tasks \
         are already waiting to start."
    )
}

/// Which `enqueue` fn, with its own parameter's name.
#[derive(Clone, Copy)]
pub(crate) enum Enqueue<'a> {
    Now,
    At(&'a Ident),
    After(&'a Ident),
    In(&'a Ident),
}

/// The docs of a durable task's `enqueue`, `enqueue_at`, `enqueue_after` and `enqueue_in`.
pub(crate) fn enqueue(fn_ident: &Ident, krate: &str, retry: Retry, kind: Enqueue) -> String {
    let name = fn_ident.unraw();
    let current = format!(
        "the current host's store (the host started last with \
         [`HostBuilder::start`]({krate}::HostBuilder::start))"
    );
    let (what, when) = match kind {
        Enqueue::Now => (
            format!("Stores a job of [`{name}`](fn@{name}) in {current}"),
            String::new(),
        ),
        Enqueue::At(at) => (
            format!("Stores a job of [`{name}`](fn@{name}) in {current}, not to run before `{at}`"),
            " A time in the past runs it as soon as a host claims it, as \
             [`enqueue`](Self::enqueue) does."
                .to_owned(),
        ),
        Enqueue::After(delay) => (
            format!(
                "Stores a job of [`{name}`](fn@{name}) in {current}, not to run until `{delay}` \
                 from now"
            ),
            String::new(),
        ),
        Enqueue::In(client) => {
            return format!(
                " Inserts a job of [`{name}`](fn@{name}) in the caller's own PostgreSQL \
                 transaction `{client}` and returns its [`JobId`]({krate}::JobId) once inserted: \
                 the job exists if and only if that transaction commits.\n\n \
                 Insert it in the transaction that writes what the job is about (the new \
                 user, the order), so that both commit or neither does: no mail for a \
                 rolled-back sign-up, no sign-up without its mail. `{client}` is a \
                 `tokio_postgres` (or `deadpool_postgres`) `Transaction` or `Client`, see \
                 [`EnqueueIn`]({krate}::EnqueueIn). No host is needed here: once the transaction \
                 commits, any host whose store is that database may claim the job, and runs \
                 it{retried}.\n\n \
                 # Errors\n\n \
                 The job is not inserted, and its arguments are dropped, when:\n \
                 - [`QueueError::Payload`]({krate}::QueueError::Payload): an argument could not \
                 be serialized;\n \
                 - [`QueueError::Store`]({krate}::QueueError::Store): the insert failed (after \
                 which PostgreSQL aborts the transaction, as after any failed statement).",
                retried = retried(retry),
            );
        }
    };
    format!(
        " {what}, and returns its [`JobId`]({krate}::JobId) once the job is committed.\n\n \
         From then on the job survives a crash: whichever host with that store claims it runs \
         it{retried}.{when} Unlike [`queue`](Self::queue), this waits for the commit (the \
         host's batching writer commits the jobs stored at the same time together).\n\n \
         # Errors\n\n \
         The job is not stored, and its arguments are dropped, when:\n \
         - [`QueueError::NoHost`]({krate}::QueueError::NoHost): no host was ever started in \
         this process;\n \
         - [`QueueError::NoStore`]({krate}::QueueError::NoStore): the host has no store;\n \
         - [`QueueError::Payload`]({krate}::QueueError::Payload): an argument could not be \
         serialized;\n \
         - [`QueueError::Store`]({krate}::QueueError::Store): the store refused the job or \
         could not be reached;\n \
         - [`QueueError::ShuttingDown`]({krate}::QueueError::ShuttingDown): the host stopped \
         before the job could be committed.",
        retried = retried(retry),
    )
}

/// How a job runs, as the end of a sentence: ", at least once; a failed run (..) is retried up to
/// 3 times, waiting up to 1s, 2s, 4s (doubling, with jitter)". Jitter only shortens a
/// wait (to between half of it and all of it), hence "up to".
fn retried(retry: Retry) -> String {
    let Retry {
        retries,
        backoff,
        delay_millis,
    } = retry;
    let times = match retries {
        0 => {
            return ", at least once; a failed run (an error, a panic, a timeout) is not retried"
                .to_owned();
        }
        1 => "once".to_owned(),
        n => format!("up to {n} times"),
    };
    // The first waits, before jitter; `RetryPolicy` caps each at a day.
    const DAY_MILLIS: u64 = 24 * 60 * 60 * 1000;
    let factor = |retry: u32| match backoff {
        Backoff::Exponential => 1u64.checked_shl(retry).unwrap_or(u64::MAX),
        Backoff::Linear => u64::from(retry) + 1,
        Backoff::Constant => 1,
    };
    let mut waits: Vec<String> = (0..retries.min(3))
        .map(|retry| {
            let wait = delay_millis.saturating_mul(factor(retry)).min(DAY_MILLIS);
            duration::format_millis(wait)
        })
        .collect();
    if retries > 3 {
        waits.push("..".to_owned());
    }
    let waits = match backoff {
        Backoff::Constant => format!("{} each time (with jitter)", waits[0]),
        Backoff::Exponential if retries > 1 => {
            format!("{} (doubling, with jitter)", waits.join(", "))
        }
        _ => format!("{} (with jitter)", waits.join(", ")),
    };
    format!(
        ", at least once; a failed run (an error, a panic, a timeout) is retried {times}, \
         waiting up to {waits}"
    )
}

#[cfg(test)]
mod tests {
    use super::retried;
    use crate::attr::{Backoff, Retry};

    fn text(retries: u32, backoff: Backoff, delay_millis: u64) -> String {
        let sentence = retried(Retry {
            retries,
            backoff,
            delay_millis,
        });
        let (_, end) = sentence.split_once("is ").unwrap();
        end.to_owned()
    }

    #[test]
    fn describes_the_retries() {
        use Backoff::*;
        assert_eq!(text(0, Linear, 1_000), "not retried");
        assert_eq!(
            text(1, Exponential, 1_000),
            "retried once, waiting up to 1s (with jitter)"
        );
        assert_eq!(
            text(3, Exponential, 1_000),
            "retried up to 3 times, waiting up to 1s, 2s, 4s (doubling, with jitter)"
        );
        assert_eq!(
            text(5, Linear, 90_000),
            "retried up to 5 times, waiting up to 1m30s, 3m, 4m30s, .. (with jitter)"
        );
        assert_eq!(
            text(2, Constant, 500),
            "retried up to 2 times, waiting up to 500ms each time (with jitter)"
        );
        assert_eq!(
            text(9, Exponential, 20 * 3_600_000),
            "retried up to 9 times, waiting up to 20h, 24h, 24h, .. (doubling, with jitter)"
        );
    }
}
