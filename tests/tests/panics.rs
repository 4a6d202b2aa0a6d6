//! A panicking task is caught, counted and reported; the host and other tasks carry on.

use std::time::Duration;

use qbwi::{Host, Outcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_is_isolated_counted_and_reported() {
    let host = Host::builder().build().unwrap();
    let before = host
        .queue_work_item(|_| async { tokio::time::sleep(Duration::from_millis(20)).await })
        .unwrap();
    let boom = host
        .queue_work_item(|_| async {
            if true {
                panic!("template missing: welcome.html")
            }
        })
        .unwrap();
    let formatted = host
        .queue_work_item(|_| async {
            let user = 7;
            if user > 0 {
                panic!("user {user} has no address");
            }
        })
        .unwrap();
    let blocking = host
        .queue_blocking_work_item(|_| {
            if true {
                panic!("PDF renderer crashed")
            }
        })
        .unwrap();

    assert_eq!(
        boom.outcome().await,
        Outcome::Panicked("template missing: welcome.html".into())
    );
    assert_eq!(
        formatted.outcome().await,
        Outcome::Panicked("user 7 has no address".into())
    );
    assert_eq!(
        blocking.outcome().await,
        Outcome::Panicked("PDF renderer crashed".into())
    );
    assert_eq!(before.outcome().await, Outcome::Completed);

    // The host still takes and runs work.
    let after = host.queue_work_item(|_| async {}).unwrap();
    assert_eq!(after.outcome().await, Outcome::Completed);

    let report = host.shutdown().await;
    assert_eq!(
        (report.panicked, report.completed, report.total()),
        (3, 2, 5)
    );
}

#[tokio::test]
async fn a_panic_with_a_non_string_payload_is_still_reported() {
    let host = Host::builder().build().unwrap();
    let handle = host
        .queue_work_item(|_| async {
            if true {
                std::panic::panic_any(42_u32)
            }
        })
        .unwrap();
    match handle.outcome().await {
        Outcome::Panicked(message) => assert!(message.contains("not a string"), "{message}"),
        other => panic!("expected a panic outcome, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_panic_frees_its_concurrency_slot() {
    let host = Host::builder().max_concurrency(1).build().unwrap();
    let first = host
        .queue_work_item(|_| async {
            if true {
                panic!("first")
            }
        })
        .unwrap();
    let second = host.queue_work_item(|_| async {}).unwrap();
    assert!(matches!(first.outcome().await, Outcome::Panicked(_)));
    assert_eq!(second.outcome().await, Outcome::Completed);
    assert_eq!(host.shutdown().await.total(), 2);
}
