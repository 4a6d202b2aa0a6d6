//! qbwi with its metrics recorded (feature `metrics`): the `qbwi` contender's host and body, under
//! task names of their own, into the process's recorder, which routes each task's metrics:
//!
//! - `qbwi-metrics`: into a Prometheus recorder (`metrics-exporter-prometheus`'s, with qbwi's
//!   histogram buckets, no exporter), what `qbwi::metrics::install_prometheus` installs;
//! - `qbwi-metrics-atomic`: into a recorder that keeps counters and histogram buckets in atomics
//!   (a few relaxed additions a sample), what an aggregating recorder costs;
//!
//! and every other task's nowhere, so that `qbwi`, measured in the same run, is the same build
//! with no recorder for its task: the ratios are what recording costs. After each run (outside
//! the measured time) the recorder is read, as a scrape would, and checked to have counted every
//! task.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use qbwi::{BackgroundTask, Host, QueueError, TaskHandle, background_task};
use tokio::runtime::Runtime;

use crate::contender::{Contender, Latencies, Measured, NotApplicable, PendingMemory};
use crate::work;

/// The throughput task, recorded by Prometheus' recorder: the `qbwi` contender's body.
#[background_task]
async fn hello_prometheus(n: u64) {
    work::body(n);
}

/// The throughput task, recorded in atomics: the `qbwi` contender's body.
#[background_task]
async fn hello_atomic(n: u64) {
    work::body(n);
}

/// The buckets of `qbwi::metrics::BUCKETS` (seconds).
const BUCKETS: [f64; 13] = [
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0,
];

/// Counters and histograms in atomics: what an aggregating recorder does per sample.
#[derive(Default)]
struct Atomics {
    counters: Mutex<HashMap<Key, Arc<AtomicU64>>>,
    histograms: Mutex<HashMap<Key, Arc<Buckets>>>,
}

/// A histogram: a count per bucket (and one past the last), and the sum in nanoseconds.
#[derive(Default)]
struct Buckets {
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl HistogramFn for Buckets {
    fn record(&self, seconds: f64) {
        let bucket = BUCKETS.partition_point(|&bound| bound < seconds);
        self.counts[bucket].fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add((seconds * 1e9) as u64, Relaxed);
    }
}

impl Atomics {
    fn counter(&self, key: &Key) -> Counter {
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        Counter::from_arc(counters.entry(key.clone()).or_default().clone())
    }

    fn histogram(&self, key: &Key) -> Histogram {
        let mut histograms = self
            .histograms
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Histogram::from_arc(histograms.entry(key.clone()).or_default().clone())
    }

    /// `qbwi_tasks_finished_total{outcome="completed"}` of `task`.
    fn completed(&self, task: &str) -> u64 {
        let counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        counters
            .iter()
            .filter(|(key, _)| {
                key.name() == "qbwi_tasks_finished_total"
                    && key.labels().any(|l| l.key() == "task" && l.value() == task)
                    && key
                        .labels()
                        .any(|l| l.key() == "outcome" && l.value() == "completed")
            })
            .map(|(_, count)| count.load(Relaxed))
            .sum()
    }
}

/// Where a metric goes.
enum Route {
    Prometheus,
    Atomics,
    Nowhere,
}

/// The process's recorder: each metered task's metrics to its recorder, those without a task
/// (gauges, store errors) to Prometheus', every other task's nowhere.
struct Routed {
    prometheus: PrometheusRecorder,
    atomics: &'static Atomics,
}

fn route(key: &Key) -> Route {
    match key.labels().find(|label| label.key() == "task") {
        None => Route::Prometheus,
        Some(task) if task.value() == hello_prometheus::NAME => Route::Prometheus,
        Some(task) if task.value() == hello_atomic::NAME => Route::Atomics,
        Some(_) => Route::Nowhere,
    }
}

impl Recorder for Routed {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.prometheus.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.prometheus.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.prometheus.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        match route(key) {
            Route::Prometheus => self.prometheus.register_counter(key, metadata),
            Route::Atomics => self.atomics.counter(key),
            Route::Nowhere => Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        match route(key) {
            Route::Prometheus => self.prometheus.register_gauge(key, metadata),
            Route::Atomics | Route::Nowhere => Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        match route(key) {
            Route::Prometheus => self.prometheus.register_histogram(key, metadata),
            Route::Atomics => self.atomics.histogram(key),
            Route::Nowhere => Histogram::noop(),
        }
    }
}

/// The two recorders behind the process's, installed the first time.
fn recorders() -> &'static (PrometheusHandle, &'static Atomics) {
    static RECORDERS: OnceLock<(PrometheusHandle, &'static Atomics)> = OnceLock::new();
    RECORDERS.get_or_init(|| {
        let builder = ["qbwi_task_duration_seconds", "qbwi_task_wait_seconds"]
            .into_iter()
            .fold(PrometheusBuilder::new(), |builder, name| {
                builder
                    .set_buckets_for_metric(Matcher::Full(name.to_owned()), &BUCKETS)
                    .expect("buckets")
            });
        let prometheus = builder.build_recorder();
        let handle = prometheus.handle();
        let atomics: &'static Atomics = Box::leak(Box::default());
        metrics::set_global_recorder(Routed {
            prometheus,
            atomics,
        })
        .expect("the bench's only recorder");
        (handle, atomics)
    })
}

/// `qbwi_tasks_finished_total{outcome="completed"}` of the Prometheus task, from a scrape.
fn scraped_completed(handle: &PrometheusHandle) -> u64 {
    let series = format!(
        "qbwi_tasks_finished_total{{task=\"{}\",outcome=\"completed\"}} ",
        hello_prometheus::NAME
    );
    handle
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |count| count.parse().expect("a count"))
}

/// The qbwi contender, with its task's metrics recorded by one of the two recorders.
#[derive(Debug, Clone, Copy)]
pub struct QbwiMetered {
    name: &'static str,
    queue: fn(u64) -> Result<TaskHandle, QueueError>,
    /// Runs of its task counted as completed so far.
    completed: fn() -> u64,
}

impl QbwiMetered {
    /// Recorded by Prometheus' recorder.
    pub const PROMETHEUS: QbwiMetered = QbwiMetered {
        name: "qbwi-metrics",
        queue: hello_prometheus::queue,
        completed: || scraped_completed(&recorders().0),
    };

    /// Recorded in atomics.
    pub const ATOMIC: QbwiMetered = QbwiMetered {
        name: "qbwi-metrics-atomic",
        queue: hello_atomic::queue,
        completed: || recorders().1.completed(hello_atomic::NAME),
    };
}

/// What the scenarios other than throughput answer.
const ONLY: NotApplicable = NotApplicable("measured in throughput and producers only");

impl Contender for QbwiMetered {
    fn name(&self) -> &'static str {
        self.name
    }

    fn throughput(&self, rt: &Runtime, tasks: u64) -> Measured<Duration> {
        let before = (self.completed)();
        let elapsed = rt.block_on(async {
            let host = Host::builder().start().expect("start");
            let began = Instant::now();
            for n in 0..tasks {
                drop((self.queue)(n).expect("queue"));
            }
            host.wait_idle().await;
            let elapsed = began.elapsed();
            let report = host.shutdown().await;
            assert_eq!(report.completed, tasks, "{}: {report:?}", self.name);
            work::check_ran(self.name, tasks);
            elapsed
        });
        assert_eq!((self.completed)() - before, tasks, "every run recorded");
        Ok(elapsed)
    }

    fn two_producers(&self, rt: &Runtime, per_producer: u64) -> Measured<Duration> {
        let before = (self.completed)();
        let host = rt.block_on(async { Host::builder().start().expect("start") });
        let began = Instant::now();
        std::thread::scope(|scope| {
            for producer in 0..2 {
                scope.spawn(move || {
                    for n in producer * per_producer..(producer + 1) * per_producer {
                        drop((self.queue)(n).expect("queue"));
                    }
                });
            }
        });
        rt.block_on(host.wait_idle());
        let elapsed = began.elapsed();
        let report = rt.block_on(host.shutdown());
        assert_eq!(
            report.completed,
            2 * per_producer,
            "{}: {report:?}",
            self.name
        );
        work::check_ran(self.name, 2 * per_producer);
        assert_eq!(
            (self.completed)() - before,
            2 * per_producer,
            "every run recorded"
        );
        Ok(elapsed)
    }

    fn latency(&self, _rt: &Runtime, _calls: u64) -> Measured<Latencies> {
        Err(ONLY)
    }

    fn pending_memory(&self, _rt: &Runtime, _tasks: u64) -> Measured<PendingMemory> {
        Err(ONLY)
    }

    fn idle_shutdown(&self, _rt: &Runtime) -> Measured<Duration> {
        Err(ONLY)
    }

    fn busy_shutdown(&self, _rt: &Runtime, _tasks: u64) -> Measured<Duration> {
        Err(ONLY)
    }
}
