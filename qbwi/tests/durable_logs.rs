//! What a host with a store logs: each durable run ends with one event in the words of the
//! report (retried, dead, requeued), with its duration, inside a span that names the stored job
//! and the attempt; and a host without a store says at start which durable tasks it cannot serve.
#![cfg(feature = "sqlite")]

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use qbwi::{CancellationToken, Host, Store, background_task};

#[path = "support/logs.rs"]
mod logs;
use logs::Captured;

fn store(name: &str) -> Store {
    let dir = std::env::temp_dir().join(format!("qbwi-logs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Store::sqlite(dir.join("qbwi.db")).unwrap()
}

static FLAKY_RUNS: AtomicU32 = AtomicU32::new(0);

/// Fails its first run, then completes.
#[background_task(durable, retries = 1, retry_delay = "10ms")]
async fn flaky(address: String) -> Result<(), String> {
    let _ = address;
    tokio::time::sleep(Duration::from_millis(20)).await;
    if FLAKY_RUNS.fetch_add(1, SeqCst) == 0 {
        Err("smtp busy".into())
    } else {
        Ok(())
    }
}

/// Runs until the shutdown cancels it, then fails.
#[background_task(durable)]
async fn until_cancelled(ct: CancellationToken) -> Result<(), String> {
    ct.cancelled().await;
    Err("interrupted by the shutdown".into())
}

/// Polls `done` for at most 20 s.
async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn lines_in<'a>(logs: &'a str, span: &str) -> Vec<&'a str> {
    logs.lines().filter(|line| line.contains(span)).collect()
}

#[tokio::test]
async fn a_retried_run_logs_one_event_per_attempt_in_a_span_naming_job_and_attempt() {
    let (captured, _guard) = Captured::install();
    let store = store("retried");
    let host = Host::builder()
        .store(store.clone())
        .poll_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    let id = host
        .enqueue(flaky {
            address: "ada@example.com".into(),
        })
        .await
        .unwrap();
    eventually("the job completed", async || {
        let counts = store.counts().await.unwrap();
        FLAKY_RUNS.load(SeqCst) == 2 && counts.ready + counts.scheduled + counts.running == 0
    })
    .await;
    host.shutdown().await;

    let logs = captured.text();
    let first = format!("background_task{{task=durable_logs::flaky job={id} attempt=1}}");
    let second = format!("background_task{{task=durable_logs::flaky job={id} attempt=2}}");
    let ends = |span: &str| -> Vec<String> {
        lines_in(&logs, span)
            .into_iter()
            .filter(|line| {
                ["completed", "failed", "requeued", "dead", "timed out"]
                    .iter()
                    .any(|word| line.contains(word))
            })
            .map(str::to_owned)
            .collect()
    };
    let first_ends = ends(&first);
    assert_eq!(first_ends.len(), 1, "one end event for attempt 1:\n{logs}");
    let line = &first_ends[0];
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("failed: will retry"), "{line}");
    assert!(
        line.contains("smtp busy") && line.contains("retry_in="),
        "{line}"
    );
    assert!(line.contains("elapsed="), "carries its duration: {line}");
    let second_ends = ends(&second);
    assert_eq!(second_ends.len(), 1, "one end event for attempt 2:\n{logs}");
    assert!(second_ends[0].contains("completed"), "{}", second_ends[0]);
    assert!(second_ends[0].contains("elapsed="), "{}", second_ends[0]);
    assert!(
        lines_in(&logs, &second)
            .iter()
            .any(|line| line.contains("started")),
        "the run's own events are in its span:\n{logs}"
    );
    assert!(
        !logs.contains("ada@example.com"),
        "no argument values:\n{logs}"
    );
}

#[tokio::test]
async fn a_run_ended_by_the_shutdowns_cancellation_is_logged_as_requeued() {
    let (captured, _guard) = Captured::install();
    let store = store("requeued");
    let host = Host::builder()
        .store(store.clone())
        .poll_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    let id = host.enqueue(until_cancelled {}).await.unwrap();
    eventually("it started", async || host.stats().running == 1).await;
    let report = host.shutdown().await;
    assert_eq!((report.requeued, report.failed), (1, 0), "{report}");

    let logs = captured.text();
    let span = format!("background_task{{task=durable_logs::until_cancelled job={id} attempt=1}}");
    let lines = lines_in(&logs, &span);
    let ends: Vec<&&str> = lines
        .iter()
        .filter(|line| line.contains("failed") || line.contains("requeued"))
        .collect();
    assert_eq!(ends.len(), 1, "one end event:\n{logs}");
    assert!(
        ends[0].contains("requeued: ended by the shutdown's cancellation"),
        "its words match the report: {}",
        ends[0]
    );
    assert!(!ends[0].contains("WARN"), "not a warning: {}", ends[0]);
    assert!(ends[0].contains("elapsed="), "{}", ends[0]);
}

#[tokio::test]
async fn a_host_without_a_store_names_the_durable_tasks_it_cannot_serve() {
    let (captured, _guard) = Captured::install();
    let host = Host::builder().build().unwrap();
    host.shutdown().await;
    let logs = captured.text();
    let warning = logs
        .lines()
        .find(|line| line.contains("WARN") && line.contains("no store"))
        .unwrap_or_else(|| panic!("no warning at start:\n{logs}"));
    for task in ["durable_logs::flaky", "durable_logs::until_cancelled"] {
        assert!(warning.contains(task), "names `{task}`: {warning}");
    }
}
