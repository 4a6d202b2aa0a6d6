//! The operator's side of the durable suite: what a host does with the store's history and an
//! operator's actions (retention, a cancelled running job, a paused task, the node it registers).

use std::time::Duration;

use qbwi::{BackgroundTask, CancellationToken, Host, JobState, Store, background_task};

use super::{eventually, host, record, remember, total_runs};

/// Records its key, then waits for its token and fails: it ends only when cancelled.
#[background_task(durable, retries = 3, retry_delay = "10ms")]
async fn until_cancelled(key: String, ct: CancellationToken) -> Result<(), String> {
    record(key);
    ct.cancelled().await;
    Err("stopped by its token".to_owned())
}

/// The state of job `id` now (`None`: gone).
async fn state_of(store: &Store, id: qbwi::JobId) -> Option<JobState> {
    store.job(id).await.unwrap().map(|job| job.summary.state)
}

/// Waits until job `id` is in `state`.
async fn until_state(store: &Store, id: qbwi::JobId, state: JobState) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = state_of(store, id).await;
        if now == Some(state) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} never became {state}: it is {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A completed job is kept (by default for a day) and shown as completed; with a retention of
/// zero it is deleted when it completes.
pub async fn completed_jobs_are_kept_for_the_retention(store: Store) {
    let host = host(&store);
    let id = host
        .enqueue(remember {
            key: "kept-1".into(),
        })
        .await
        .unwrap();
    until_state(&store, id, JobState::Completed).await;
    let job = store.job(id).await.unwrap().unwrap();
    assert!(job.summary.finished_at.is_some() && job.started_at.is_some());
    assert_eq!(job.summary.attempts, 1);
    host.shutdown().await;

    let forgetful = Host::builder()
        .store(store.clone())
        .poll_interval(Duration::from_millis(20))
        .retention(Duration::ZERO)
        .build()
        .unwrap();
    let id = forgetful
        .enqueue(remember {
            key: "kept-2".into(),
        })
        .await
        .unwrap();
    eventually("kept-2 ran", || total_runs("kept-2") == 1).await;
    forgetful.wait_idle().await;
    assert_eq!(state_of(&store, id).await, None, "deleted at once");
    forgetful.shutdown().await;
}

/// An operator cancels a running job: its host cancels the run's token at its next heartbeat and
/// the job ends cancelled, not retried.
pub async fn an_operator_cancels_a_running_job(store: Store) {
    let host = Host::builder()
        .store(store.clone())
        .poll_interval(Duration::from_millis(20))
        .lease(Duration::from_millis(300)) // a heartbeat every 100 ms
        .build()
        .unwrap();
    let id = host
        .enqueue(until_cancelled {
            key: "cancel-me".into(),
        })
        .await
        .unwrap();
    eventually("it started", || total_runs("cancel-me") == 1).await;
    assert!(store.cancel(id).await.unwrap());
    until_state(&store, id, JobState::Cancelled).await;
    host.wait_idle().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(total_runs("cancel-me"), 1, "not retried");
    let report = host.shutdown().await;
    assert_eq!(
        report.failed, 1,
        "the run itself failed once cancelled: {report:?}"
    );
}

/// A paused task's jobs wait, on every host, until it is resumed.
pub async fn a_paused_task_waits_until_resumed(store: Store) {
    let name = <remember as BackgroundTask>::NAME;
    assert!(store.pause(name).await.unwrap());
    let host = host(&store);
    let id = host
        .enqueue(remember {
            key: "paused-1".into(),
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(total_runs("paused-1"), 0, "paused");
    assert_eq!(state_of(&store, id).await, Some(JobState::Ready));
    assert!(store.resume(name).await.unwrap());
    eventually("it ran once resumed", || total_runs("paused-1") == 1).await;
    host.shutdown().await;
}

/// A host registers itself as a node while it runs, with the tasks it runs, and leaves at
/// shutdown.
pub async fn a_host_is_a_node_while_it_runs(store: Store) {
    let host = host(&store);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let node = loop {
        if let Some(node) = store.nodes().await.unwrap().into_iter().next() {
            break node;
        }
        assert!(tokio::time::Instant::now() < deadline, "never registered");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(node.pid, std::process::id());
    assert!(
        node.tasks
            .iter()
            .any(|task| task == <remember as BackgroundTask>::NAME),
        "{node:?}"
    );
    host.shutdown().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !store.nodes().await.unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still a node after shutdown"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
