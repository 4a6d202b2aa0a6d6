//! `queue` from any thread: runtime workers, `spawn_blocking`, and plain threads outside the
//! runtime, concurrently.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use qbwi::{Host, Outcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_queue_calls_from_many_threads_all_run() {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 5_000;
    let host = Host::builder().build().unwrap();
    let ran = Arc::new(AtomicU64::new(0));

    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (host, ran) = (host.clone(), ran.clone());
            std::thread::spawn(move || {
                for _ in 0..PER_THREAD {
                    let ran = ran.clone();
                    host.queue_work_item(move |_| async move {
                        ran.fetch_add(1, Ordering::Relaxed);
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    let from_blocking = {
        let (host, ran) = (host.clone(), ran.clone());
        tokio::task::spawn_blocking(move || {
            host.queue_work_item(move |_| async move {
                ran.fetch_add(1, Ordering::Relaxed);
            })
            .unwrap()
        })
    };
    for thread in threads {
        thread.join().unwrap();
    }
    let handle = from_blocking.await.unwrap();
    assert_eq!(handle.outcome().await, Outcome::Completed);

    host.wait_idle().await;
    assert_eq!(ran.load(Ordering::Relaxed), THREADS * PER_THREAD + 1);
    assert_eq!(host.shutdown().await.completed, THREADS * PER_THREAD + 1);
}

#[test]
fn a_thread_outside_the_runtime_can_queue_and_the_runtime_runs_it() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let host = runtime.block_on(async { Host::builder().build() }).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // This thread is not a runtime thread and has no runtime context.
    let handle = host
        .queue_work_item(move |_| async move {
            tx.send(std::thread::current().name().map(str::to_owned))
                .unwrap();
        })
        .unwrap();
    let ran_on = rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap();
    assert_ne!(ran_on.as_deref(), Some("main"));
    runtime.block_on(async {
        assert_eq!(handle.outcome().await, Outcome::Completed);
        assert_eq!(host.shutdown().await.completed, 1);
    });
}
