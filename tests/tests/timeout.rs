//! `#[background_task(timeout = "..")]`: the token is cancelled, the run ends as `TimedOut`, an
//! async future is dropped and a blocking run detached. Other tasks keep their own tokens.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use qbwi::{CancellationToken, Host, Outcome, background_task};

static SAW_CANCEL: AtomicBool = AtomicBool::new(false);

/// Honours its token: observes the cancellation (the run has already ended by then).
#[background_task(timeout = "2s")]
async fn watches_token(ct: CancellationToken) {
    let watcher = ct.clone();
    tokio::spawn(async move {
        watcher.cancelled().await;
        SAW_CANCEL.store(true, Ordering::SeqCst);
    });
    tokio::time::sleep(Duration::from_secs(600)).await;
}

#[background_task(timeout = "1m30s")]
async fn quick(ct: CancellationToken) -> Result<(), String> {
    tokio::time::sleep(Duration::from_secs(80)).await;
    if ct.is_cancelled() {
        Err("cancelled".into())
    } else {
        Ok(())
    }
}

#[background_task(timeout = "500ms")]
async fn drops_guard(flag: Arc<AtomicBool>) {
    struct Guard(Arc<AtomicBool>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let _guard = Guard(flag);
    std::future::pending::<()>().await;
}

#[tokio::test(start_paused = true)]
async fn a_timeout_cancels_the_token_and_ends_the_run() {
    let host = Host::builder().build().unwrap();
    let started = tokio::time::Instant::now();
    let handle = watches_token::queue_on(&host).unwrap();
    assert_eq!(handle.outcome().await, Outcome::TimedOut);
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    tokio::task::yield_now().await;
    assert!(
        SAW_CANCEL.load(Ordering::SeqCst),
        "the task's token was cancelled"
    );
    assert!(
        host.is_accepting(),
        "only the task's own token, not the host's"
    );
    assert!(!host.shutdown_token().is_cancelled());
    assert_eq!(host.shutdown().await.timed_out, 1);
}

#[tokio::test(start_paused = true)]
async fn a_run_within_its_timeout_completes_with_a_live_token() {
    let host = Host::builder().build().unwrap();
    assert_eq!(
        quick::queue_on(&host).unwrap().outcome().await,
        Outcome::Completed
    );
    assert_eq!(host.shutdown().await.completed, 1);
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_future_is_dropped() {
    let host = Host::builder().build().unwrap();
    let dropped = Arc::new(AtomicBool::new(false));
    let handle = drops_guard::queue_on(&host, dropped.clone()).unwrap();
    assert_eq!(handle.outcome().await, Outcome::TimedOut);
    tokio::task::yield_now().await;
    assert!(dropped.load(Ordering::SeqCst));
    host.shutdown().await;
}

static RELEASE: AtomicBool = AtomicBool::new(false);

#[background_task(timeout = "100ms")]
fn blocking_too_long(ct: CancellationToken) {
    // Ignores the token; the run is detached at the timeout.
    while !RELEASE.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(ct);
}

/// Real time: a blocked thread keeps paused time from advancing. Generous upper bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_run_is_detached_at_its_timeout() {
    let host = Host::builder().build().unwrap();
    let started = std::time::Instant::now();
    let handle = blocking_too_long::queue_on(&host).unwrap();
    assert_eq!(handle.outcome().await, Outcome::TimedOut);
    let waited = started.elapsed();
    RELEASE.store(true, Ordering::SeqCst);
    assert!(waited >= Duration::from_millis(100), "{waited:?}");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    assert_eq!(host.shutdown().await.timed_out, 1);
}
