//! QBWI's classic demo: what a shutdown does to work in progress.
//!
//! ```text
//! cargo run --example cancellation
//! RUST_LOG=info,qbwi=debug cargo run --example cancellation   # also each task queued, started, ended
//! ```
//!
//! Two jobs each do five one-second steps. One is a blocking `fn` that never looks at its token;
//! the other is an `async fn` that checks its token between steps. After 2.5 s the host shuts
//! down with a 1 s deadline:
//!
//! - the async job sees its token cancelled after its current step and stops early (~3 s);
//! - the blocking job is still running at the deadline (3.5 s), so the host abandons it and
//!   returns its report. A thread cannot be killed: the job runs on, and the process exits when
//!   its last step is done (~5 s), because tokio waits for blocking threads when it stops;
//! - a job queued during the shutdown is refused with an error instead of being dropped silently.

use std::thread;
use std::time::Duration;

use qbwi::{CancellationToken, Host, Outcome, background_task};
use tokio::time::sleep;

#[path = "common/logging.rs"]
mod logging;

/// How many steps each job has.
const STEPS: u32 = 5;

/// How long one step takes.
const STEP: Duration = Duration::from_secs(1);

/// Why the async job stopped before its last step.
#[derive(Debug, thiserror::Error)]
#[error("stopped after {done} of {STEPS} steps: the host is shutting down")]
struct Stopped {
    /// The steps done before the token was seen cancelled.
    done: u32,
}

/// Five blocking steps on tokio's blocking pool (QBWI's `Action<CancellationToken>`). It takes
/// the token but never looks at it, so a shutdown cannot stop it.
#[background_task]
fn blocking_job(_token: CancellationToken) {
    for step in 1..=STEPS {
        thread::sleep(STEP);
        tracing::info!("blocking job: step {step}/{STEPS} done");
    }
}

/// Five async steps (QBWI's `Func<CancellationToken, Task>`). Between steps it checks the token
/// and stops early once the host is shutting down.
#[background_task]
async fn async_job(token: CancellationToken) -> Result<(), Stopped> {
    for step in 1..=STEPS {
        if token.is_cancelled() {
            tracing::info!("async job: token cancelled, stopping before step {step}");
            return Err(Stopped { done: step - 1 });
        }
        sleep(STEP).await;
        tracing::info!("async job: step {step}/{STEPS} done");
    }
    Ok(())
}

/// A job that is queued too late: it never runs.
#[background_task]
async fn late_job() {}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::init(logging::Style::Demo)?; // `info`, or as `RUST_LOG` says

    let host = Host::builder()
        .shutdown_timeout(Duration::from_secs(1))
        .start()?;
    let blocking = blocking_job::queue()?;
    let asynchronous = async_job::queue()?;

    sleep(Duration::from_millis(2500)).await;
    tracing::info!("shutting down in the middle of the jobs, with a 1 s deadline");
    let (report, late) = tokio::join!(host.shutdown(), async {
        // Queue once the shutdown has begun: QBWI would drop it silently; qbwi says no.
        while host.is_accepting() {
            tokio::task::yield_now().await;
        }
        late_job::queue()
    });

    println!();
    println!("async job:    {}", verdict(&asynchronous.outcome().await));
    println!("blocking job: {}", verdict(&blocking.outcome().await));
    match late {
        Ok(handle) => println!("late job:     queued as task {} (unexpected)", handle.id()),
        Err(error) => println!("late job:     not queued: {error}"),
    }
    println!("report:       {report}");
    println!();
    println!(
        "The abandoned blocking job's thread cannot be killed: it keeps running until its last \
         step, and the process exits once it is done (tokio waits for blocking threads)."
    );
    Ok(())
}

/// Says how a job ended, in the demo's words.
fn verdict(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Completed => "finished all its steps".to_owned(),
        Outcome::Failed(why) => format!("stopped early ({why})"),
        Outcome::Abandoned => "abandoned: still running at the shutdown deadline".to_owned(),
        other => other.to_string(),
    }
}
