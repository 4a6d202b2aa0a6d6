//! qbwi with its metrics recorded (feature `metrics`): the `qbwi` contender's host and task, under
//! a name of its own, into a Prometheus recorder (`metrics-exporter-prometheus`'s, with qbwi's
//! histogram buckets, no exporter) installed as the process's recorder. That recorder leaves out
//! the metrics of every other task, so that `qbwi`, measured in the same run, is the same build
//! with no recorder for its task: the ratio of the two is what recording costs. After each run
//! (outside the measured time) the recorder is rendered, as a scrape would, and checked to have
//! counted every task.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use qbwi::{BackgroundTask, Host, background_task};
use tokio::runtime::Runtime;

use crate::contender::{Contender, Latencies, Measured, NotApplicable, PendingMemory};
use crate::work;

/// The throughput task, recorded: the `qbwi` contender's body.
#[background_task]
async fn hello_metered(n: u64) {
    work::body(n);
}

/// Records only the metered task's metrics (and those without a task: gauges, store errors).
struct OnlyMetered(PrometheusRecorder);

fn recorded(key: &Key) -> bool {
    key.labels()
        .all(|label| label.key() != "task" || label.value() == hello_metered::NAME)
}

impl Recorder for OnlyMetered {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        if recorded(key) {
            self.0.register_counter(key, metadata)
        } else {
            Counter::noop()
        }
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        if recorded(key) {
            self.0.register_gauge(key, metadata)
        } else {
            Gauge::noop()
        }
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        if recorded(key) {
            self.0.register_histogram(key, metadata)
        } else {
            Histogram::noop()
        }
    }
}

/// The process's recorder, installed the first time.
fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let buckets = [
            0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0,
        ];
        let builder = ["qbwi_task_duration_seconds", "qbwi_task_wait_seconds"]
            .into_iter()
            .fold(PrometheusBuilder::new(), |builder, name| {
                builder
                    .set_buckets_for_metric(Matcher::Full(name.to_owned()), &buckets)
                    .expect("buckets")
            });
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(OnlyMetered(recorder)).expect("the bench's only recorder");
        handle
    })
}

/// `qbwi_tasks_finished_total{outcome="completed"}` of the metered task, from a scrape.
fn completed(handle: &PrometheusHandle) -> u64 {
    let series = format!(
        "qbwi_tasks_finished_total{{task=\"{}\",outcome=\"completed\"}} ",
        hello_metered::NAME
    );
    handle
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |count| count.parse().expect("a count"))
}

/// The qbwi contender, with metrics recorded.
#[derive(Debug)]
pub struct QbwiMetered;

/// What the scenarios other than throughput answer.
const ONLY: NotApplicable = NotApplicable("measured in throughput and producers only");

impl Contender for QbwiMetered {
    fn name(&self) -> &'static str {
        "qbwi-metrics"
    }

    fn throughput(&self, rt: &Runtime, tasks: u64) -> Measured<Duration> {
        let handle = recorder();
        let before = completed(handle);
        let elapsed = rt.block_on(async {
            let host = Host::builder().start().expect("start");
            let began = Instant::now();
            for n in 0..tasks {
                drop(hello_metered::queue(n).expect("queue"));
            }
            host.wait_idle().await;
            let elapsed = began.elapsed();
            let report = host.shutdown().await;
            assert_eq!(report.completed, tasks, "qbwi-metrics: {report:?}");
            work::check_ran("qbwi-metrics", tasks);
            elapsed
        });
        assert_eq!(completed(handle) - before, tasks, "every run recorded");
        Ok(elapsed)
    }

    fn two_producers(&self, rt: &Runtime, per_producer: u64) -> Measured<Duration> {
        let handle = recorder();
        let before = completed(handle);
        let host = rt.block_on(async { Host::builder().start().expect("start") });
        let began = Instant::now();
        std::thread::scope(|scope| {
            for producer in 0..2 {
                scope.spawn(move || {
                    for n in producer * per_producer..(producer + 1) * per_producer {
                        drop(hello_metered::queue(n).expect("queue"));
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
            "qbwi-metrics: {report:?}"
        );
        work::check_ran("qbwi-metrics", 2 * per_producer);
        assert_eq!(
            completed(handle) - before,
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
