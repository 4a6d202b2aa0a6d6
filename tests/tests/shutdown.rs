//! `Host::shutdown`: cancel first, drain within the bound, abandon the rest, count everything.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use qbwi::{Host, Outcome, QueueError};

/// Tokens are cancelled the moment shutdown begins; tasks that honour them end within the bound
/// and count as completed or failed, not abandoned.
#[tokio::test(start_paused = true)]
async fn cancels_tokens_then_counts_tasks_that_finish_in_time() {
    let host = Host::builder()
        .shutdown_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let honours = host
        .queue_work_item(|token| async move {
            token.cancelled().await;
            // A little cleanup after the signal, well within the bound.
            tokio::time::sleep(Duration::from_secs(2)).await;
        })
        .unwrap();
    let reports_error = host
        .queue_work_item(|token| async move {
            token.cancelled().await;
            Err::<(), _>("interrupted")
        })
        .unwrap();
    tokio::task::yield_now().await;
    assert_eq!(host.stats().running, 2);

    let report = host.shutdown().await;
    assert_eq!(honours.outcome().await, Outcome::Completed);
    assert_eq!(
        reports_error.outcome().await,
        Outcome::Failed("interrupted".into())
    );
    assert_eq!(
        (report.completed, report.failed, report.abandoned),
        (1, 1, 0)
    );
    // Paused time: exactly the 2 s of cleanup, not the 30 s bound.
    assert_eq!(report.elapsed, Duration::from_secs(2));
}

/// An async task that ignores its token is dropped at the deadline: its future's destructor runs,
/// and shutdown returns at the deadline (plus the 1 ms abort grace at most).
#[tokio::test(start_paused = true)]
async fn abandons_async_tasks_that_ignore_their_token_at_the_deadline() {
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    let timeout = Duration::from_secs(5);
    let host = Host::builder().shutdown_timeout(timeout).build().unwrap();
    let dropped = Arc::new(AtomicBool::new(false));
    let guard = SetOnDrop(dropped.clone());
    let stubborn = host
        .queue_work_item(move |_token| async move {
            let _guard = guard;
            tokio::time::sleep(Duration::from_secs(3600)).await;
        })
        .unwrap();
    tokio::task::yield_now().await;

    let report = host.shutdown().await;
    assert_eq!(stubborn.outcome().await, Outcome::Abandoned);
    assert_eq!(report.abandoned, 1);
    assert!(
        report.elapsed >= timeout && report.elapsed <= timeout + Duration::from_millis(2),
        "{report:?}"
    );
    assert!(
        dropped.load(Ordering::SeqCst),
        "the abandoned future must be dropped"
    );
}

/// A blocking task that ignores its token is detached at the deadline; shutdown does not wait for
/// its thread. Real time here (a blocked thread stops paused time from advancing), with a
/// generous upper bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detaches_blocking_tasks_that_ignore_their_token() {
    let timeout = Duration::from_millis(200);
    let host = Host::builder().shutdown_timeout(timeout).build().unwrap();
    let release = Arc::new(AtomicBool::new(false));
    let released = release.clone();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let stubborn = host
        .queue_blocking_work_item(move |_token| {
            started_tx.send(()).unwrap();
            while !released.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
        })
        .unwrap();
    tokio::task::spawn_blocking(move || started_rx.recv_timeout(Duration::from_secs(60)).unwrap())
        .await
        .unwrap();

    let report = host.shutdown().await;
    assert_eq!(stubborn.outcome().await, Outcome::Abandoned);
    assert_eq!(report.abandoned, 1);
    assert!(report.elapsed >= timeout, "{report:?}");
    assert!(
        report.elapsed < timeout + Duration::from_secs(5),
        "shutdown waited for the thread: {report:?}"
    );
    release.store(true, Ordering::SeqCst); // let the detached thread end before the runtime drops
}

/// Tasks still waiting for a slot when shutdown begins never start.
#[tokio::test(start_paused = true)]
async fn queued_tasks_that_never_started_are_not_started() {
    let host = Host::builder().max_concurrency(1).build().unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let running = host
        .queue_work_item(|token| async move { token.cancelled().await })
        .unwrap();
    let flag = ran.clone();
    let waiting = host
        .queue_work_item(move |_| async move { flag.store(true, Ordering::SeqCst) })
        .unwrap();
    tokio::task::yield_now().await;
    assert_eq!((host.stats().running, host.stats().queued), (1, 1));

    let report = host.shutdown().await;
    assert_eq!(running.outcome().await, Outcome::Completed);
    assert_eq!(waiting.outcome().await, Outcome::NotStarted);
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(
        (report.completed, report.not_started, report.total()),
        (1, 1, 2)
    );
}

/// Spawned but not yet polled counts as queued: a task that had no chance to start before
/// shutdown does not start after it.
#[tokio::test(start_paused = true)]
async fn tasks_queued_just_before_shutdown_do_not_start_after_it() {
    let host = Host::builder().build().unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let handle = host
        .queue_work_item(move |_| async move { flag.store(true, Ordering::SeqCst) })
        .unwrap();
    // No yield: on this current-thread runtime the task has not been polled yet.
    let report = host.shutdown().await;
    assert_eq!(handle.outcome().await, Outcome::NotStarted);
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(report.not_started, 1);
}

#[tokio::test(start_paused = true)]
async fn queue_calls_during_and_after_shutdown_are_refused() {
    let host = Host::builder()
        .shutdown_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let slow = host
        .queue_work_item(|token| async move {
            token.cancelled().await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        })
        .unwrap();
    tokio::task::yield_now().await;

    let shutting_down = tokio::spawn({
        let host = host.clone();
        async move { host.shutdown().await }
    });
    tokio::task::yield_now().await;
    assert!(!host.is_accepting());
    assert_eq!(
        host.queue_work_item(|_| async {}).unwrap_err(),
        QueueError::ShuttingDown
    );
    assert_eq!(
        host.queue_blocking_work_item(|_| {}).unwrap_err(),
        QueueError::ShuttingDown
    );

    let report = shutting_down.await.unwrap();
    assert_eq!(slow.outcome().await, Outcome::Completed);
    assert_eq!(
        host.queue_work_item(|_| async {}).unwrap_err(),
        QueueError::ShuttingDown
    );
    assert_eq!(
        report.total(),
        1,
        "refused calls are not counted: {report:?}"
    );
}

#[tokio::test]
async fn an_idle_host_shuts_down_at_once_and_reports_nothing() {
    let host = Host::builder().build().unwrap();
    let report = host.shutdown().await;
    assert_eq!(report.total(), 0);
    assert_eq!(host.stats(), qbwi::Stats::default());
    // Generous: the target is well under a millisecond (see the bench); this only catches a wait.
    assert!(report.elapsed < Duration::from_millis(500), "{report:?}");
}

#[tokio::test(start_paused = true)]
async fn shutdown_twice_or_concurrently_returns_the_same_report() {
    let host = Host::builder()
        .shutdown_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    host.queue_work_item(|_| async { tokio::time::sleep(Duration::from_secs(60)).await })
        .unwrap();
    tokio::task::yield_now().await;
    let (a, b) = tokio::join!(host.shutdown(), host.shutdown());
    let c = host.shutdown().await;
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a.abandoned, 1);
}

#[tokio::test(start_paused = true)]
async fn wait_idle_returns_when_all_queued_work_is_done() {
    let host = Host::builder().max_concurrency(2).build().unwrap();
    for i in 0..10u64 {
        host.queue_work_item(move |_| async move {
            tokio::time::sleep(Duration::from_millis(10 * i)).await
        })
        .unwrap();
    }
    host.wait_idle().await;
    let stats = host.stats();
    assert_eq!((stats.queued, stats.running, stats.completed), (0, 0, 10));
    host.wait_idle().await; // idle already: returns at once
    assert_eq!(host.shutdown().await.completed, 10);
}
