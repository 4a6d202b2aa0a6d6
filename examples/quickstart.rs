//! qbwi in one screen: queue background tasks, watch them end, shut down with a deadline.
//!
//! ```text
//! cargo run --example quickstart
//! RUST_LOG=info,qbwi=debug cargo run --example quickstart   # also each task queued, started, ended
//! ```
//!
//! Three welcome mails are queued (two are delivered, one fails), and a report that ignores
//! shutdown keeps rendering. The host is then shut down with a 2 s deadline: it cancels every
//! task's token, waits up to the deadline, abandons what is still running, and reports how each
//! task it accepted ended. The program exits by itself after about three seconds.

use std::time::Duration;

use qbwi::{CancellationToken, Host, TaskHandle, background_task};
use tokio::task::JoinSet;
use tokio::time::sleep;

#[path = "common/logging.rs"]
mod logging;

/// Why a (pretend) mail was not delivered.
#[derive(Debug, thiserror::Error)]
enum MailError {
    /// The (pretend) SMTP server refused the recipient. The error names the recipient's domain,
    /// not the address: errors are logged, and addresses are personal data.
    #[error("550 mailbox unavailable at {domain}")]
    Rejected {
        /// The part after the `@`.
        domain: String,
    },
    /// The host shut down before the mail went out.
    #[error("not sent: the host is shutting down")]
    Cancelled,
}

/// Sends a welcome mail; here the SMTP conversation is a short sleep.
///
/// Its arguments are owned values copied out of the request (nothing is borrowed from it), and it
/// listens to its token so that a shutdown stops it at once.
#[background_task]
async fn send_mail(email: String, ct: CancellationToken) -> Result<(), MailError> {
    tokio::select! {
        _ = ct.cancelled() => Err(MailError::Cancelled),
        // The pretend SMTP conversation takes longer for longer addresses.
        _ = sleep(Duration::from_millis(40 * email.len() as u64)) => {
            if email.ends_with(".invalid") {
                let domain = email.rsplit('@').next().unwrap_or_default().to_owned();
                Err(MailError::Rejected { domain })
            } else {
                Ok(())
            }
        }
    }
}

/// Renders a long report. It takes no token, so it cannot hear the shutdown: at the deadline the
/// host drops it and counts it as abandoned.
#[background_task]
async fn render_report(pages: u32) {
    for _page in 0..pages {
        sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::init(logging::Style::Demo)?; // `info`, or as `RUST_LOG` says

    // One host per process; `start()` makes it the current one that `send_mail::queue` uses.
    let host = Host::builder()
        .shutdown_timeout(Duration::from_secs(2))
        .start()?;

    // What a request handler does: copy what the work needs, queue it, answer at once.
    let queued: Vec<(String, TaskHandle)> = vec![
        (
            "mail to ada@example.com".into(),
            send_mail::queue("ada@example.com".into())?,
        ),
        (
            "mail to grace@example.com".into(),
            send_mail::queue("grace@example.com".into())?,
        ),
        (
            "mail to nobody@mail.invalid".into(),
            send_mail::queue("nobody@mail.invalid".into())?,
        ),
        (
            "report of 10 000 pages".into(),
            render_report::queue(10_000)?,
        ),
    ];
    println!(
        "queued {} tasks; the handles say how each one ends:",
        queued.len()
    );

    // Nobody has to wait for a background task; here we do, to print each outcome as it comes.
    let mut watchers = JoinSet::new();
    for (what, handle) in queued {
        watchers.spawn(async move {
            let outcome = handle.outcome().await;
            println!("  task {} ({what}): {outcome}", handle.id());
        });
    }
    // The three mails end on their own; the report would take over 16 minutes.
    for _ in 0..3 {
        watchers.join_next().await;
    }

    println!("shutting down: the report ignores its token, so it has 2 s before it is abandoned");
    let (report, ()) = tokio::join!(host.shutdown(), async {
        while watchers.join_next().await.is_some() {}
    });
    println!("shutdown report: {report}");
    Ok(())
}
