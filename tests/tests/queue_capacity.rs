//! A bounded queue refuses work with `QueueError::Full` instead of growing or dropping it.

use qbwi::{Host, HostError, Outcome, QueueError};

#[tokio::test(start_paused = true)]
async fn a_full_queue_returns_full_and_accepts_again_once_drained() {
    let host = Host::builder()
        .max_concurrency(1)
        .queue_capacity(2)
        .build()
        .unwrap();
    let (release, gate) = tokio::sync::oneshot::channel::<()>();
    let running = host
        .queue_work_item(|_| async move { gate.await.map_err(|e| e.to_string()) })
        .unwrap();
    tokio::task::yield_now().await; // it starts: one running, none queued

    let waiting: Vec<_> = (0..2)
        .map(|_| host.queue_work_item(|_| async {}).unwrap())
        .collect();
    assert_eq!(
        host.queue_work_item(|_| async {}).unwrap_err(),
        QueueError::Full
    );
    assert_eq!(
        host.queue_blocking_work_item(|_| {}).unwrap_err(),
        QueueError::Full
    );
    let stats = host.stats();
    assert_eq!((stats.running, stats.queued, stats.accepted()), (1, 2, 3));

    release.send(()).unwrap();
    host.wait_idle().await;
    assert_eq!(running.outcome().await, Outcome::Completed);
    for handle in waiting {
        assert_eq!(handle.outcome().await, Outcome::Completed);
    }
    let again = host.queue_work_item(|_| async {}).unwrap();
    assert_eq!(again.outcome().await, Outcome::Completed);
    let report = host.shutdown().await;
    assert_eq!(report.total(), 4, "refused calls are not counted");
}

/// Without `max_concurrency`, tasks spawned but not yet polled are the queue.
#[tokio::test(flavor = "current_thread")]
async fn capacity_also_bounds_work_not_yet_started_on_an_unlimited_host() {
    let host = Host::builder().queue_capacity(3).build().unwrap();
    for _ in 0..3 {
        host.queue_work_item(|_| async {}).unwrap();
    }
    // Nothing has been polled yet on this single-threaded runtime.
    assert_eq!(
        host.queue_work_item(|_| async {}).unwrap_err(),
        QueueError::Full
    );
    host.wait_idle().await;
    let last = host.queue_work_item(|_| async {}).unwrap();
    assert_eq!(last.outcome().await, Outcome::Completed);
    assert_eq!(host.shutdown().await.completed, 4);
}

#[tokio::test]
async fn zero_limits_are_refused_with_a_clear_error() {
    let error = Host::builder().queue_capacity(0).build().unwrap_err();
    assert_eq!(
        error,
        HostError::ZeroLimit {
            option: "queue_capacity"
        }
    );
    let error = Host::builder().max_concurrency(0).build().unwrap_err();
    assert!(
        error
            .to_string()
            .contains("`max_concurrency` must be at least 1"),
        "{error}"
    );
}
