//! QBWI's synchronous overload: blocking work runs on tokio's blocking pool and never stalls
//! async tasks, even on a single-threaded runtime.

use std::sync::mpsc;
use std::time::Duration;

use qbwi::{Host, Outcome};

/// The blocking task waits (blocked, on its thread) for a message that only an async task on the
/// runtime's single thread can send. If the blocking task stalled the runtime, the message would
/// never come and the wait would time out.
#[tokio::test(flavor = "current_thread")]
async fn a_sleeping_blocking_task_does_not_delay_async_tasks() {
    let host = Host::builder().build().unwrap();
    let (tx, rx) = mpsc::channel::<&'static str>();
    let blocking = host
        .queue_blocking_work_item(move |_| {
            std::thread::sleep(Duration::from_millis(50));
            rx.recv_timeout(Duration::from_secs(60))
                .map_err(|e| format!("async task never ran: {e}"))
        })
        .unwrap();
    let asynchronous = host
        .queue_work_item(move |_| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            tx.send("hello from the runtime thread")
                .map_err(|e| e.to_string())
        })
        .unwrap();

    assert_eq!(asynchronous.outcome().await, Outcome::Completed);
    assert_eq!(blocking.outcome().await, Outcome::Completed);
    host.shutdown().await;
}

/// Many blocking tasks at once do not starve async ones either.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn many_blocking_tasks_leave_the_runtime_free() {
    let host = Host::builder().build().unwrap();
    let (tx, rx) = crossbeam_free_barrier(8);
    let mut blocking = Vec::new();
    for rx in rx {
        blocking.push(
            host.queue_blocking_work_item(move |_| {
                rx.recv_timeout(Duration::from_secs(60))
                    .map_err(|e| format!("never released: {e}"))
            })
            .unwrap(),
        );
    }
    let releaser = host
        .queue_work_item(move |_| async move {
            for tx in tx {
                tx.send(()).map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(())
        })
        .unwrap();
    assert_eq!(releaser.outcome().await, Outcome::Completed);
    for handle in blocking {
        assert_eq!(handle.outcome().await, Outcome::Completed);
    }
    assert_eq!(host.shutdown().await.completed, 9);
}

fn crossbeam_free_barrier(n: usize) -> (Vec<mpsc::Sender<()>>, Vec<mpsc::Receiver<()>>) {
    (0..n).map(|_| mpsc::channel()).unzip()
}
