//! What `#[background_task(durable, ..)]` generates, end to end on SQLite: the arguments are
//! stored under their names (a raw identifier without `r#`) and come back unchanged, token in
//! place, for async and blocking tasks; `retries`, `backoff` and `retry_delay` decide how often a
//! failing job runs; `enqueue_after` schedules. Each test has its own host (`build()` +
//! `queue_on`) and database, except the one that owns the process's current host (`enqueue`).

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use qbwi::{CancellationToken, Host, Outcome, Store, background_task};

/// A fresh SQLite store in its own directory, removed when the guard drops.
struct TempStore {
    dir: PathBuf,
    store: Store,
}

impl TempStore {
    fn new(test: &str) -> TempStore {
        let dir =
            std::env::temp_dir().join(format!("qbwi-durable-macro-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::sqlite(dir.join("qbwi.db")).unwrap();
        TempStore { dir, store }
    }

    fn host(&self) -> Host {
        Host::builder()
            .store(self.store.clone())
            .poll_interval(Duration::from_millis(5))
            .build()
            .unwrap()
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `done` until it holds, for at most 10 s.
async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[background_task(durable)]
async fn round_trip(
    email: String,
    token: CancellationToken,
    r#type: Option<String>,
    bytes: Vec<u8>,
    pair: (u16, bool),
) -> Result<(), String> {
    if token.is_cancelled() {
        return Err("cancelled".to_owned());
    }
    SEEN.lock().unwrap().push(format!(
        "{email} {kind:?} {bytes:?} {pair:?}",
        kind = r#type
    ));
    Ok(())
}

#[background_task(durable)]
fn blocking_round_trip(count: u64, _token: CancellationToken, label: String) {
    SEEN.lock().unwrap().push(format!("{label} {count}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_come_back_as_they_were_given() {
    let temp = TempStore::new("round-trip");
    let host = temp.host();
    let handles = [
        round_trip::queue_on(
            &host,
            "a@example.com".to_owned(),
            Some("welcome".to_owned()),
            vec![0, 255],
            (7, true),
        )
        .unwrap(),
        round_trip::queue_on(&host, String::new(), None, Vec::new(), (0, false)).unwrap(),
        blocking_round_trip::queue_on(&host, u64::MAX, "blocking".to_owned()).unwrap(),
    ];
    for handle in &handles {
        // Completed: committed to the store; `persisted` gives the job's id.
        assert_eq!(handle.outcome().await, Outcome::Completed);
        handle.persisted().await.unwrap();
    }
    let expected = [
        " None [] (0, false)",
        "a@example.com Some(\"welcome\") [0, 255] (7, true)",
        "blocking 18446744073709551615",
    ];
    eventually("the three jobs ran", async || {
        SEEN.lock().unwrap().len() == expected.len()
    })
    .await;
    let mut seen = SEEN.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, expected);
    host.shutdown().await;
}

#[background_task(durable, retries = 0)]
async fn rejected(r#type: String, count: u32, note: Option<String>) -> Result<(), String> {
    Err(format!("{kind} rejected {count} {note:?}", kind = r#type))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_are_stored_under_their_names() {
    let temp = TempStore::new("names");
    let host = temp.host();
    let handle = rejected::queue_on(&host, "mail".to_owned(), 3, None).unwrap();
    let id = handle.persisted().await.unwrap();
    let store = &temp.store;
    eventually("the job is dead", async || {
        store.counts().await.unwrap().dead == 1
    })
    .await;
    let dead = store.dead_jobs(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    let job = &dead[0];
    assert_eq!(job.id, id);
    assert!(job.task.ends_with("::rejected"), "{}", job.task);
    assert_eq!(job.attempts, 1, "`retries = 0` runs once");
    assert_eq!(job.last_error, "mail rejected 3 None");
    for member in ["\"type\":\"mail\"", "\"count\":3", "\"note\":null"] {
        assert!(job.payload.contains(member), "{member} in {}", job.payload);
    }
    assert!(!job.payload.contains("r#"), "{}", job.payload);
    host.shutdown().await;
}

static FLAKY_RUNS: AtomicU32 = AtomicU32::new(0);

#[background_task(durable, retries = 2, backoff = "constant", retry_delay = "1ms")]
async fn always_fails(attempt_label: String) -> Result<(), String> {
    let run = FLAKY_RUNS.fetch_add(1, SeqCst) + 1;
    Err(format!("{attempt_label} {run}"))
}

static SUCCEEDS_ON_SECOND: AtomicU32 = AtomicU32::new(0);

#[background_task(durable, retries = 5, backoff = "linear", retry_delay = "1ms")]
fn fails_once() -> Result<(), String> {
    match SUCCEEDS_ON_SECOND.fetch_add(1, SeqCst) {
        0 => Err("first run fails".to_owned()),
        _ => Ok(()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_follow_the_options() {
    let temp = TempStore::new("retries");
    let host = temp.host();
    always_fails::queue_on(&host, "run".to_owned()).unwrap();
    fails_once::queue_on(&host).unwrap();
    let store = &temp.store;
    eventually("`always_fails` is dead", async || {
        store.counts().await.unwrap().dead == 1
    })
    .await;
    let dead = store.dead_jobs(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 3, "the first run and `retries = 2`");
    assert_eq!(dead[0].last_error, "run 3");
    assert_eq!(FLAKY_RUNS.load(SeqCst), 3);
    eventually("`fails_once` ran twice", async || {
        SUCCEEDS_ON_SECOND.load(SeqCst) == 2
    })
    .await;
    eventually("nothing is left", async || {
        let counts = store.counts().await.unwrap();
        (counts.ready, counts.scheduled, counts.running) == (0, 0, 0)
    })
    .await;
    assert_eq!(store.counts().await.unwrap().dead, 1);
    host.shutdown().await;
}

static CURRENT_RUNS: AtomicU32 = AtomicU32::new(0);

#[background_task(durable)]
async fn on_current(step: u32) {
    CURRENT_RUNS.fetch_add(step, SeqCst);
}

/// The one test that owns the process's current host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_stores_through_the_current_host() {
    assert_eq!(on_current::enqueue(1).await, Err(qbwi::QueueError::NoHost));
    let temp = TempStore::new("current");
    let host = Host::builder()
        .store(temp.store.clone())
        .poll_interval(Duration::from_millis(5))
        .start()
        .unwrap();
    // (No check that the two ids differ: SQLite may reuse the id of a job that completed and was
    // deleted in between.)
    let _: qbwi::JobId = on_current::enqueue(1).await.unwrap();
    on_current::enqueue_at(std::time::SystemTime::now(), 10)
        .await
        .unwrap();
    on_current::enqueue_after(Duration::from_secs(3600), 100)
        .await
        .unwrap();
    eventually("the due jobs ran", async || CURRENT_RUNS.load(SeqCst) == 11).await;
    let counts = temp.store.counts().await.unwrap();
    assert_eq!(counts.scheduled, 1, "{counts:?}");
    host.shutdown().await;
    assert_eq!(CURRENT_RUNS.load(SeqCst), 11, "the delayed job did not run");
}
