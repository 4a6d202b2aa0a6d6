//! The paths a task takes when things go wrong around it: a destructor that panics, a runtime
//! that is dropped with work still queued or running. Every handle still learns how its task
//! ended, and the host keeps running the rest.

use std::time::Duration;

use qbwi::{CancellationToken, Host, Outcome, background_task};

struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("a destructor that panics");
        }
    }
}

/// Holds a value whose destructor panics, and never finishes: its timeout drops it.
#[background_task(timeout = "10ms")]
async fn stuck_with_a_bad_destructor(ct: CancellationToken) {
    let _guard = PanicsOnDrop;
    ct.cancelled().await;
    std::future::pending::<()>().await;
}

/// A future that panics while being dropped (here, at its timeout) must not take its dispatcher
/// (and every task queued behind it on that lane) down with it.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_destructor_that_panics_does_not_stop_the_tasks_behind_it() {
    let host = Host::builder().build().unwrap();
    let stuck = stuck_with_a_bad_destructor::queue_on(&host).unwrap();
    assert_eq!(stuck.outcome().await, Outcome::TimedOut);
    let after: Vec<_> = (0..10)
        .map(|_| host.queue_work_item(|_| async {}).unwrap())
        .collect();
    for handle in after {
        assert_eq!(handle.outcome().await, Outcome::Completed);
    }
    let report = host.shutdown().await;
    assert_eq!((report.timed_out, report.completed), (1, 10));
}

/// Dropping the runtime drops the host's dispatchers and spawned tasks: the handles still get an
/// outcome (not started for the queued, abandoned for the running), nobody waits forever.
#[test]
fn dropping_the_runtime_ends_every_task_it_held() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (host, running, waiting, limited) = runtime.block_on(async {
        let host = Host::builder().build().unwrap();
        let limited_host = Host::builder().max_concurrency(1).build().unwrap();
        let running = host
            .queue_work_item(|_| async { tokio::time::sleep(Duration::from_secs(3600)).await })
            .unwrap();
        let blocker = limited_host
            .queue_work_item(|_| async { tokio::time::sleep(Duration::from_secs(3600)).await })
            .unwrap();
        let limited = limited_host.queue_work_item(|_| async {}).unwrap(); // waits for the slot
        tokio::task::yield_now().await; // the first of each starts and waits
        drop(blocker);
        let waiting = host.queue_work_item(|_| async {}).unwrap(); // never polled
        (host, running, waiting, limited)
    });
    drop(runtime);

    assert_eq!(running.try_outcome(), Some(Outcome::Abandoned));
    assert_eq!(waiting.try_outcome(), Some(Outcome::NotStarted));
    let stats = host.stats();
    assert_eq!((stats.queued, stats.running), (0, 0), "{stats:?}");
    assert_eq!((stats.abandoned, stats.not_started), (1, 1), "{stats:?}");
    // It waited in the scheduler; the running task's end gave it the slot, but its lane is gone.
    assert_eq!(limited.try_outcome(), Some(Outcome::NotStarted));
}
