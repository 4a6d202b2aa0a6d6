//! `HostBuilder::cancel_after`: shutdown stops accepting, lets running tasks finish on their own
//! for a while, then cancels their tokens, all within `shutdown_timeout`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

use qbwi::{Host, Outcome, QueueError};

/// A run that ends on its own within `cancel_after` never sees its token cancelled, and the
/// shutdown ends when it does.
#[tokio::test(start_paused = true)]
async fn runs_that_end_on_their_own_are_not_cancelled() {
    let host = Host::builder()
        .cancel_after(Duration::from_secs(10))
        .shutdown_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let saw_cancel = Arc::new(AtomicBool::new(false));
    let mail = host
        .queue_work_item({
            let saw_cancel = saw_cancel.clone();
            move |token| async move {
                // Sending a mail for 3 s, checking the token as it goes.
                for _ in 0..30 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    saw_cancel.fetch_or(token.is_cancelled(), SeqCst);
                }
            }
        })
        .unwrap();
    tokio::task::yield_now().await;

    let report = host.shutdown().await;
    assert_eq!(mail.outcome().await, Outcome::Completed);
    assert!(!saw_cancel.load(SeqCst), "the token stayed uncancelled");
    assert_eq!((report.completed, report.abandoned), (1, 0), "{report}");
    // Paused time: the 3 s the mail took, not `cancel_after`.
    assert_eq!(report.elapsed, Duration::from_secs(3));
}

/// A run that only stops when told to is told at `cancel_after`, and then has the rest of
/// `shutdown_timeout` to wind down.
#[tokio::test(start_paused = true)]
async fn runs_still_going_at_cancel_after_are_cancelled_then() {
    let host = Host::builder()
        .cancel_after(Duration::from_secs(2))
        .shutdown_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let worker = host
        .queue_work_item(move |token| async move {
            token.cancelled().await;
            let cancelled_at = started.elapsed();
            tokio::time::sleep(Duration::from_secs(1)).await; // cleanup
            Err::<(), _>(format!("stopped after {cancelled_at:?}"))
        })
        .unwrap();
    tokio::task::yield_now().await;

    let report = host.shutdown().await;
    assert_eq!(
        worker.outcome().await,
        Outcome::Failed("stopped after 2s".into())
    );
    assert_eq!((report.failed, report.abandoned), (1, 0), "{report}");
    assert_eq!(report.elapsed, Duration::from_secs(3));
}

/// The shutdown deadline bounds everything: a `cancel_after` past it never cancels, and what still
/// runs at the deadline is abandoned on time. Queue calls are refused from the start, and what
/// was queued but not started never starts.
#[tokio::test(start_paused = true)]
async fn the_deadline_still_bounds_the_shutdown() {
    let host = Host::builder()
        .cancel_after(Duration::from_secs(60))
        .shutdown_timeout(Duration::from_secs(5))
        .max_concurrency(1)
        .build()
        .unwrap();
    let stubborn = host
        .queue_work_item(|token| async move {
            std::future::pending::<()>().await;
            drop(token);
        })
        .unwrap();
    let waiting = host.queue_work_item(|_token| async {}).unwrap();
    tokio::task::yield_now().await;

    let shutdown = tokio::spawn({
        let host = host.clone();
        async move { host.shutdown().await }
    });
    tokio::task::yield_now().await;
    assert_eq!(
        host.queue_work_item(|_token| async {}).unwrap_err(),
        QueueError::ShuttingDown,
        "no new work once shutdown began, even while tasks may still finish"
    );
    let token = host.shutdown_token();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(!token.is_cancelled(), "not cancelled before `cancel_after`");

    let report = shutdown.await.unwrap();
    assert_eq!(stubborn.outcome().await, Outcome::Abandoned);
    assert_eq!(waiting.outcome().await, Outcome::NotStarted);
    assert_eq!((report.abandoned, report.not_started), (1, 1), "{report}");
    assert!(
        report.elapsed >= Duration::from_secs(5) && report.elapsed < Duration::from_millis(5010),
        "{report}"
    );
}

/// Without `cancel_after` (the default, QBWI's behaviour) tokens are cancelled at once.
#[tokio::test(start_paused = true)]
async fn by_default_tokens_are_cancelled_at_once() {
    let host = Host::builder().build().unwrap();
    let token = host.shutdown_token();
    let shutdown = tokio::spawn({
        let host = host.clone();
        async move { host.shutdown().await }
    });
    shutdown.await.unwrap();
    assert!(token.is_cancelled());
}
