//! QBWI's two overloads as closures: `queue_work_item` (async) and `queue_blocking_work_item`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use qbwi::{Host, Outcome};

#[tokio::test]
async fn async_closure_runs_with_a_live_token_and_reports_its_result() {
    let host = Host::builder().build().unwrap();
    let ok = host
        .queue_work_item(|token| async move {
            assert!(!token.is_cancelled());
        })
        .unwrap();
    let failed = host
        .queue_work_item(|_| async { Err::<u8, _>("disk full") })
        .unwrap();
    let value = host
        .queue_work_item(|_| async { Ok::<_, String>(42) })
        .unwrap();

    assert_eq!(ok.outcome().await, Outcome::Completed);
    assert_eq!(failed.outcome().await, Outcome::Failed("disk full".into()));
    assert_eq!(value.outcome().await, Outcome::Completed);
    assert!(
        ok.name().contains("closure"),
        "closure tasks are named after their type: {}",
        ok.name()
    );
    assert_ne!(ok.id(), failed.id());

    let report = host.shutdown().await;
    assert_eq!((report.completed, report.failed, report.total()), (2, 1, 3));
}

#[tokio::test]
async fn blocking_closure_runs_off_the_runtime_threads() {
    let host = Host::builder().build().unwrap();
    let runtime_thread = std::thread::current().id();
    let handle = host
        .queue_blocking_work_item(move |token| {
            assert!(!token.is_cancelled());
            // tokio's blocking pool, not the (current-thread) runtime's own thread.
            assert_ne!(std::thread::current().id(), runtime_thread);
            std::thread::sleep(Duration::from_millis(5));
            Err::<(), _>(std::io::Error::other("printer on fire"))
        })
        .unwrap();
    assert_eq!(
        handle.outcome().await,
        Outcome::Failed("printer on fire".into())
    );
    assert_eq!(host.shutdown().await.failed, 1);
}

#[tokio::test]
async fn the_closure_runs_when_the_task_starts_not_when_it_is_queued() {
    let host = Host::builder().max_concurrency(1).build().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let (release, gate) = tokio::sync::oneshot::channel::<()>();
    let first = host
        .queue_work_item(|_| async move {
            gate.await.unwrap();
        })
        .unwrap();
    let counter = calls.clone();
    let second = host
        .queue_work_item(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            async {}
        })
        .unwrap();
    tokio::task::yield_now().await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "second task must wait for the first's slot"
    );
    assert_eq!(host.stats().queued, 1);
    assert_eq!(host.stats().running, 1);

    release.send(()).unwrap();
    assert_eq!(first.outcome().await, Outcome::Completed);
    assert_eq!(second.outcome().await, Outcome::Completed);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    host.shutdown().await;
}
