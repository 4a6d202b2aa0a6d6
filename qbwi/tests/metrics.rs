//! What a host records through the `metrics` facade (feature `metrics`), into a recorder that
//! keeps everything: every queue and every run's end counted by task and outcome, one duration
//! and one wait per run, the gauges of tasks running and waiting, durable jobs counted in the
//! words of what becomes of them, the store's jobs by state, and never an argument in a label.
//!
//! One process, one global recorder: the tests take turns (the gauges are the process's).
#![cfg(feature = "metrics")]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use qbwi::{BackgroundTask, CancellationToken, Host, TaskError, TaskOptions};

/// Every metric recorded, by key.
#[derive(Default)]
struct Recorded {
    counters: Mutex<HashMap<Key, Arc<AtomicU64>>>,
    gauges: Mutex<HashMap<Key, Arc<AtomicU64>>>,
    histograms: Mutex<HashMap<Key, Arc<Samples>>>,
    described: Mutex<Vec<(String, Option<Unit>)>>,
}

/// A histogram's samples, all of them.
#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(value);
    }
}

impl Recorder for Recorded {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.described
            .lock()
            .unwrap()
            .push((key.as_str().to_owned(), unit));
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe_counter(key, unit, SharedString::const_str(""));
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe_counter(key, unit, SharedString::const_str(""));
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut counters = self.counters.lock().unwrap();
        Counter::from_arc(counters.entry(key.clone()).or_default().clone())
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let mut gauges = self.gauges.lock().unwrap();
        Gauge::from_arc(gauges.entry(key.clone()).or_default().clone())
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut histograms = self.histograms.lock().unwrap();
        Histogram::from_arc(histograms.entry(key.clone()).or_default().clone())
    }
}

/// Whether `key` is `name` with exactly these labels.
fn is(key: &Key, name: &str, labels: &[(&str, &str)]) -> bool {
    key.name() == name
        && key.labels().count() == labels.len()
        && labels.iter().all(|(k, v)| {
            key.labels()
                .any(|label| label.key() == *k && label.value() == *v)
        })
}

impl Recorded {
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let counters = self.counters.lock().unwrap();
        counters
            .iter()
            .filter(|(key, _)| is(key, name, labels))
            .map(|(_, value)| value.load(SeqCst))
            .sum()
    }

    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let gauges = self.gauges.lock().unwrap();
        gauges
            .iter()
            .find(|(key, _)| is(key, name, labels))
            .map(|(_, value)| f64::from_bits(value.load(SeqCst)))
    }

    fn samples(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        let histograms = self.histograms.lock().unwrap();
        histograms
            .iter()
            .filter(|(key, _)| is(key, name, labels))
            .flat_map(|(_, samples)| samples.0.lock().unwrap().clone())
            .collect()
    }

    /// Every label value of every metric.
    fn label_values(&self) -> Vec<String> {
        let keys: Vec<Key> = (self.counters.lock().unwrap().keys().cloned())
            .chain(self.gauges.lock().unwrap().keys().cloned())
            .chain(self.histograms.lock().unwrap().keys().cloned())
            .collect();
        keys.iter()
            .flat_map(|key| key.labels().map(|label| label.value().to_owned()))
            .collect()
    }
}

/// The process's recorder, installed by the first test, and the turn of the test that holds it.
async fn recorder() -> (&'static Recorded, tokio::sync::MutexGuard<'static, ()>) {
    static RECORDER: OnceLock<&'static Recorded> = OnceLock::new();
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let recorded = *RECORDER.get_or_init(|| {
        let recorded: &'static Recorded = Box::leak(Box::default());
        metrics::set_global_recorder(recorded).expect("the only recorder of this process");
        recorded
    });
    (recorded, TURN.lock().await)
}

/// Polls `done` for at most 10 s.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An argument no label may show.
const SECRET: &str = "ada.lovelace@example.com";

/// Completes.
struct Sends(String);

impl BackgroundTask for Sends {
    const NAME: &'static str = "metrics::sends";
    fn run(
        self,
        _: &CancellationToken,
    ) -> impl Future<Output = Result<(), TaskError>> + Send + 'static + use<> {
        async move {
            drop(self.0);
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(())
        }
    }
}

/// Fails with its argument in the error.
struct Refused(String);

impl BackgroundTask for Refused {
    const NAME: &'static str = "metrics::refused";
    fn run(
        self,
        _: &CancellationToken,
    ) -> impl Future<Output = Result<(), TaskError>> + Send + 'static + use<> {
        async move { Err(TaskError::new(format!("mailbox {} is full", self.0))) }
    }
}

/// Panics with its argument in the message.
struct Crashes(String);

impl BackgroundTask for Crashes {
    const NAME: &'static str = "metrics::crashes";
    fn run(
        self,
        _: &CancellationToken,
    ) -> impl Future<Output = Result<(), TaskError>> + Send + 'static + use<> {
        async move { panic!("cannot parse {}", self.0) }
    }
}

/// Takes longer than its 20 ms timeout.
struct Stalls;

impl BackgroundTask for Stalls {
    const NAME: &'static str = "metrics::stalls";
    const OPTIONS: TaskOptions = TaskOptions::new().with_timeout(Duration::from_millis(20));
    fn run(
        self,
        _: &CancellationToken,
    ) -> impl Future<Output = Result<(), TaskError>> + Send + 'static + use<> {
        async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_run_is_counted_by_task_and_outcome_with_one_duration_and_one_wait() {
    let (recorded, _turn) = recorder().await;
    let host = Host::builder().build().unwrap();
    for _ in 0..3 {
        host.queue(Sends(SECRET.to_owned())).unwrap();
    }
    for _ in 0..2 {
        host.queue(Refused(SECRET.to_owned())).unwrap();
    }
    host.queue(Crashes(SECRET.to_owned())).unwrap();
    host.queue(Stalls).unwrap();
    host.wait_idle().await;
    let report = host.shutdown().await;
    assert_eq!(
        (
            report.completed,
            report.failed,
            report.panicked,
            report.timed_out
        ),
        (3, 2, 1, 1)
    );

    let task = |name| [("task", name)];
    let queued = |name| recorded.counter("qbwi_tasks_queued_total", &task(name));
    assert_eq!(
        [Sends::NAME, Refused::NAME, Crashes::NAME, Stalls::NAME].map(queued),
        [3, 2, 1, 1]
    );
    let finished = |name, outcome| {
        recorded.counter(
            "qbwi_tasks_finished_total",
            &[("task", name), ("outcome", outcome)],
        )
    };
    assert_eq!(finished(Sends::NAME, "completed"), 3);
    assert_eq!(finished(Refused::NAME, "failed"), 2);
    assert_eq!(finished(Crashes::NAME, "panicked"), 1);
    assert_eq!(finished(Stalls::NAME, "timed_out"), 1);
    // Each run counted once, under its own outcome only.
    assert_eq!(finished(Sends::NAME, "failed"), 0);
    assert_eq!(finished(Refused::NAME, "completed"), 0);

    for (name, runs) in [
        (Sends::NAME, 3),
        (Refused::NAME, 2),
        (Crashes::NAME, 1),
        (Stalls::NAME, 1),
    ] {
        let durations = recorded.samples("qbwi_task_duration_seconds", &task(name));
        let waits = recorded.samples("qbwi_task_wait_seconds", &task(name));
        assert_eq!(durations.len(), runs, "{name}: one duration per run");
        assert_eq!(waits.len(), runs, "{name}: one wait per run");
        assert!(
            waits
                .iter()
                .chain(&durations)
                .all(|s| (0.0..10.0).contains(s)),
            "{name}: seconds, and few of them: {waits:?} {durations:?}"
        );
    }
    let sends = recorded.samples("qbwi_task_duration_seconds", &task(Sends::NAME));
    assert!(
        sends.iter().all(|&s| s >= 0.005),
        "sends sleep 5 ms: {sends:?}"
    );
    let stalls = recorded.samples("qbwi_task_duration_seconds", &task(Stalls::NAME));
    assert!(
        (0.02..1.0).contains(&stalls[0]),
        "ran until its 20 ms timeout: {stalls:?}"
    );

    let values = recorded.label_values();
    assert!(
        values.iter().all(|value| !value.contains("ada")),
        "no argument, error or panic text in a label: {values:?}"
    );
    let described = recorded.described.lock().unwrap().clone();
    for name in [
        "qbwi_tasks_queued_total",
        "qbwi_tasks_finished_total",
        "qbwi_task_duration_seconds",
        "qbwi_task_wait_seconds",
        "qbwi_tasks_running",
        "qbwi_tasks_waiting",
        "qbwi_jobs",
        "qbwi_store_errors_total",
    ] {
        assert!(
            described.iter().any(|(described, _)| described == name),
            "{name} is described when a host is built"
        );
    }
    assert!(described.contains(&("qbwi_task_wait_seconds".to_owned(), Some(Unit::Seconds))));
}

/// Runs until the shutdown cancels it.
struct Holds;

impl BackgroundTask for Holds {
    const NAME: &'static str = "metrics::holds";
    fn run(
        self,
        token: &CancellationToken,
    ) -> impl Future<Output = Result<(), TaskError>> + Send + 'static + use<> {
        let token = token.clone();
        async move {
            token.cancelled().await;
            Ok(())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gauges_show_the_tasks_running_and_waiting_and_fall_to_zero_at_shutdown() {
    let (recorded, _turn) = recorder().await;
    let gauge = |name| recorded.gauge(name, &[]).unwrap_or(0.0);
    // Whatever an earlier test's host left is taken back within a second.
    eventually("no task running or waiting", || {
        gauge("qbwi_tasks_running") == 0.0 && gauge("qbwi_tasks_waiting") == 0.0
    })
    .await;

    let host = Host::builder().max_concurrency(2).build().unwrap();
    let handles: Vec<_> = (0..5).map(|_| host.queue(Holds).unwrap()).collect();
    eventually("2 running, 3 waiting", || {
        gauge("qbwi_tasks_running") == 2.0 && gauge("qbwi_tasks_waiting") == 3.0
    })
    .await;
    // A second host adds its own.
    let other = Host::builder().build().unwrap();
    other.queue(Holds).unwrap();
    eventually("3 running", || gauge("qbwi_tasks_running") == 3.0).await;
    other.shutdown().await;
    eventually("the other host's run taken back", || {
        gauge("qbwi_tasks_running") == 2.0
    })
    .await;

    let report = host.shutdown().await;
    assert_eq!((report.completed, report.not_started), (2, 3));
    eventually("nothing running or waiting", || {
        gauge("qbwi_tasks_running") == 0.0 && gauge("qbwi_tasks_waiting") == 0.0
    })
    .await;
    let not_started = recorded.counter(
        "qbwi_tasks_finished_total",
        &[("task", Holds::NAME), ("outcome", "not_started")],
    );
    assert_eq!(
        not_started, 3,
        "queued when shutdown began: counted as not started"
    );
    drop(handles);
}

#[cfg(feature = "sqlite")]
mod durable {
    use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
    use std::time::Duration;

    use qbwi::{BackgroundTask, Host, Store, background_task};

    use super::{SECRET, eventually, recorder};

    fn store(name: &str) -> Store {
        let dir = std::env::temp_dir().join(format!("qbwi-metrics-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Store::sqlite(dir.join("qbwi.db")).unwrap()
    }

    /// Completes.
    #[background_task(durable)]
    async fn delivered(address: String) {
        let _ = address;
    }

    static FLAKY_RUNS: AtomicU32 = AtomicU32::new(0);

    /// Fails its first run, then completes.
    #[background_task(durable, retries = 1, retry_delay = "10ms")]
    async fn flaky(address: String) -> Result<(), String> {
        if FLAKY_RUNS.fetch_add(1, SeqCst) == 0 {
            Err(format!("{address} busy"))
        } else {
            Ok(())
        }
    }

    /// Always fails: dead after its two attempts.
    #[background_task(durable, retries = 1, retry_delay = "10ms")]
    async fn doomed(address: String) -> Result<(), String> {
        Err(format!("no such mailbox {address}"))
    }

    /// Paused in the store: its jobs stay ready.
    #[background_task(durable)]
    async fn parked(address: String) {
        let _ = address;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn durable_jobs_are_counted_when_stored_and_by_what_becomes_of_them() {
        let (recorded, _turn) = recorder().await;
        let store = store("durable");
        store.pause(parked::NAME).await.unwrap();
        let host = Host::builder()
            .store(store.clone())
            .poll_interval(Duration::from_millis(10))
            .build()
            .unwrap();
        for _ in 0..2 {
            host.enqueue(delivered {
                address: SECRET.to_owned(),
            })
            .await
            .unwrap();
        }
        host.queue_durable(flaky {
            address: SECRET.to_owned(),
        })
        .unwrap();
        host.enqueue(doomed {
            address: SECRET.to_owned(),
        })
        .await
        .unwrap();
        for _ in 0..3 {
            host.enqueue(parked {
                address: SECRET.to_owned(),
            })
            .await
            .unwrap();
        }
        let parked_at = std::time::Instant::now();
        eventually("all but the parked jobs ran", || {
            FLAKY_RUNS.load(SeqCst) == 2
                && recorded.counter(
                    "qbwi_tasks_finished_total",
                    &[("task", doomed::NAME), ("outcome", "dead")],
                ) == 1
                && recorded.counter(
                    "qbwi_tasks_finished_total",
                    &[("task", delivered::NAME), ("outcome", "completed")],
                ) == 2
        })
        .await;
        host.wait_idle().await;

        let queued = |name| recorded.counter("qbwi_tasks_queued_total", &[("task", name)]);
        assert_eq!(
            [delivered::NAME, flaky::NAME, doomed::NAME, parked::NAME].map(queued),
            [2, 1, 1, 3],
            "counted once stored, retries not counted again"
        );
        let finished = |name, outcome| {
            recorded.counter(
                "qbwi_tasks_finished_total",
                &[("task", name), ("outcome", outcome)],
            )
        };
        assert_eq!(finished(flaky::NAME, "retried"), 1);
        assert_eq!(finished(flaky::NAME, "completed"), 1);
        assert_eq!(finished(doomed::NAME, "retried"), 1);
        assert_eq!(finished(doomed::NAME, "dead"), 1);
        assert_eq!(
            finished(flaky::NAME, "failed"),
            0,
            "durable runs say what becomes of the job"
        );
        let waits = recorded.samples("qbwi_task_wait_seconds", &[("task", flaky::NAME)]);
        assert_eq!(waits.len(), 2, "a wait per run: {waits:?}");
        assert!(
            waits.iter().all(|&wait| (0.0..5.0).contains(&wait)),
            "{waits:?}"
        );
        let durations = recorded.samples("qbwi_task_duration_seconds", &[("task", doomed::NAME)]);
        assert_eq!(durations.len(), 2);

        // The store's counts, read at a host's start and every 15 s.
        let reader = Host::builder().store(store.clone()).build().unwrap();
        let jobs = |task, state| recorded.gauge("qbwi_jobs", &[("task", task), ("state", state)]);
        eventually("the store's counts read", || {
            jobs(parked::NAME, "ready") == Some(3.0) && jobs(doomed::NAME, "dead") == Some(1.0)
        })
        .await;
        assert_eq!(jobs(parked::NAME, "running"), Some(0.0));
        assert_eq!(
            jobs(delivered::NAME, "ready").unwrap_or(0.0),
            0.0,
            "a task whose jobs all completed shows none (or is not shown)"
        );
        reader.shutdown().await;

        // A job's wait runs from when it was due, not from when a host claimed it.
        store.resume(parked::NAME).await.unwrap();
        let resumed = parked_at.elapsed().as_secs_f64();
        host.wait_idle().await;
        let waits = recorded.samples("qbwi_task_wait_seconds", &[("task", parked::NAME)]);
        assert_eq!(waits.len(), 3);
        assert!(
            waits.iter().all(|&wait| wait >= resumed - 0.002),
            "paused for {resumed} s: {waits:?}"
        );
        host.shutdown().await;
        let values = recorded.label_values();
        assert!(
            values.iter().all(|value| !value.contains("ada")),
            "{values:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn store_errors_are_counted() {
        let (recorded, _turn) = recorder().await;
        let errors = || recorded.counter("qbwi_store_errors_total", &[]);
        let before = errors();
        let dir = std::env::temp_dir().join(format!("qbwi-metrics-{}-errors", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::sqlite(dir.join("qbwi.db")).unwrap();
        // Another program breaks the store: the host's node reports fail from now on.
        let other = rusqlite::Connection::open(dir.join("qbwi.db")).unwrap();
        other.execute_batch("DROP TABLE qbwi_nodes").unwrap();
        let host = Host::builder()
            .store(store)
            .lease(Duration::from_millis(60))
            .build()
            .unwrap();
        eventually("a store error counted", || errors() >= before + 2).await;
        host.shutdown().await;
    }
}
