//! Volume: 100,000 tasks all complete, and the counts add up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use qbwi::Host;

const TASKS: u64 = 100_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_tasks_all_complete_and_the_counts_add_up() {
    let host = Host::builder().build().unwrap();
    let sum = Arc::new(AtomicU64::new(0));
    let mut ids = Vec::with_capacity(TASKS as usize);
    for i in 0..TASKS {
        let sum = sum.clone();
        let handle = host
            .queue_work_item(move |_| async move {
                if i % 1000 == 0 {
                    tokio::task::yield_now().await; // some tasks really suspend
                }
                sum.fetch_add(i, Ordering::Relaxed);
            })
            .unwrap();
        ids.push(handle.id());
    }
    host.wait_idle().await;
    assert_eq!(
        sum.load(Ordering::Relaxed),
        TASKS * (TASKS - 1) / 2,
        "every task ran exactly once"
    );
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len() as u64, TASKS, "task ids are unique");

    let report = host.shutdown().await;
    assert_eq!(report.completed, TASKS);
    assert_eq!(report.total(), TASKS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_tasks_through_a_concurrency_limit() {
    let host = Host::builder().max_concurrency(8).build().unwrap();
    let done = Arc::new(AtomicU64::new(0));
    for _ in 0..TASKS {
        let done = done.clone();
        host.queue_work_item(move |_| async move {
            done.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
    }
    host.wait_idle().await;
    assert_eq!(done.load(Ordering::Relaxed), TASKS);
    let stats = host.stats();
    assert_eq!(
        (stats.completed, stats.queued, stats.running),
        (TASKS, 0, 0)
    );
    assert_eq!(host.shutdown().await.total(), TASKS);
}
