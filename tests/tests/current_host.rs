//! The process's current host: `start()`, `Task::queue(..)`, `Host::current()`, and start /
//! shutdown / start again. Tests here share the one current host, so they take a lock.

use qbwi::{Host, HostError, Outcome, QueueError, background_task};

/// An async lock: held across `.await`s, for the whole test.
static ONE_HOST_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[background_task]
async fn greet(name: String) -> Result<(), String> {
    if name.is_empty() {
        Err("no name".into())
    } else {
        Ok(())
    }
}

#[tokio::test]
async fn start_shutdown_and_start_again() {
    let _lock = ONE_HOST_AT_A_TIME.lock().await;

    let first = Host::builder().start().unwrap();
    assert_eq!(
        Host::builder().start().unwrap_err(),
        HostError::AlreadyRunning
    );
    let handle = greet::queue("Ada".into()).unwrap();
    assert_eq!(handle.outcome().await, Outcome::Completed);
    assert_eq!(first.shutdown().await.completed, 1);

    // The stopped host stays current, so a late call says why it failed.
    assert!(Host::current().is_some());
    assert_eq!(
        greet::queue("late".into()).unwrap_err(),
        QueueError::ShuttingDown
    );
    assert_eq!(
        qbwi::queue_work_item(|_| async {}).unwrap_err(),
        QueueError::ShuttingDown
    );

    let second = Host::builder().start().unwrap();
    let handle = greet::queue(String::new()).unwrap();
    assert_eq!(handle.outcome().await, Outcome::Failed("no name".into()));
    let blocking = qbwi::queue_blocking_work_item(|_| Ok::<_, String>(())).unwrap();
    assert_eq!(blocking.outcome().await, Outcome::Completed);
    let report = second.shutdown().await;
    assert_eq!((report.failed, report.completed), (1, 1));
}

#[tokio::test]
async fn queue_and_queue_on_reach_different_hosts() {
    let _lock = ONE_HOST_AT_A_TIME.lock().await;

    let current = Host::builder().start().unwrap();
    let other = Host::builder().build().unwrap();
    greet::queue("on current".into()).unwrap().outcome().await;
    greet::queue_on(&other, "on other".into())
        .unwrap()
        .outcome()
        .await;
    greet::queue_on(&other, "on other".into())
        .unwrap()
        .outcome()
        .await;
    assert_eq!(current.shutdown().await.completed, 1);
    assert_eq!(other.shutdown().await.completed, 2);
}

#[test]
fn start_outside_a_runtime_is_a_clear_error() {
    let error = Host::builder().start().unwrap_err();
    assert_eq!(error, HostError::NoRuntime);
    assert!(error.to_string().contains("tokio runtime"), "{error}");
}
