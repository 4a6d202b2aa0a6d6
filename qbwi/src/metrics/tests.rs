//! The handle cache and the per-thread buffers, with a recorder local to the test's thread (the
//! handles of a task registered under it stay with it). What a host records is tested end to end
//! in `tests/metrics.rs` (and over HTTP in the examples' `tests/metrics.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use ::metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};

use super::buffer::{self, CAPACITY, DURATION_ONLY, NO_DURATION, QUEUED, WAIT};
use super::task::{TaskMetrics, Word, new_recorder};

/// Counters and histograms, by metric name and `outcome` (labels other than those are ignored:
/// each test has a task of its own).
#[derive(Default)]
struct Kept {
    counters: Mutex<HashMap<(String, String), Arc<AtomicU64>>>,
    histograms: Mutex<HashMap<String, Arc<Samples>>>,
}

#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(value);
    }
}

fn outcome(key: &Key) -> String {
    key.labels()
        .find(|label| label.key() == "outcome")
        .map_or(String::new(), |label| label.value().to_owned())
}

impl Recorder for Kept {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut counters = self.counters.lock().unwrap();
        let id = (key.name().to_owned(), outcome(key));
        Counter::from_arc(counters.entry(id).or_default().clone())
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut histograms = self.histograms.lock().unwrap();
        Histogram::from_arc(histograms.entry(key.name().to_owned()).or_default().clone())
    }
}

impl Kept {
    fn counter(&self, name: &str, outcome: &str) -> u64 {
        let counters = self.counters.lock().unwrap();
        counters
            .get(&(name.to_owned(), outcome.to_owned()))
            .map_or(0, |count| count.load(SeqCst))
    }

    fn samples(&self, name: &str) -> Vec<f64> {
        let histograms = self.histograms.lock().unwrap();
        histograms
            .get(name)
            .map_or(Vec::new(), |samples| samples.0.lock().unwrap().clone())
    }
}

#[test]
fn a_task_finds_its_handles_again_until_a_recorder_is_installed() {
    let first = TaskMetrics::of("qbwi::metrics::tests::cached");
    assert!(std::ptr::eq(
        first,
        TaskMetrics::of("qbwi::metrics::tests::cached")
    ));
    let name = String::from("qbwi::metrics::tests::cached").leak();
    assert!(
        std::ptr::eq(first, TaskMetrics::of(name)),
        "the same name at another address: the same handles"
    );
    let other = TaskMetrics::of("qbwi::metrics::tests::another");
    assert!(!std::ptr::eq(first, other));
    let from_another_thread =
        std::thread::spawn(|| TaskMetrics::of("qbwi::metrics::tests::cached") as *const _ as usize)
            .join()
            .unwrap();
    assert_eq!(from_another_thread, first as *const _ as usize);

    new_recorder();
    let again = TaskMetrics::of("qbwi::metrics::tests::cached");
    assert!(
        !std::ptr::eq(first, again),
        "registered again with the new recorder"
    );
    assert!(std::ptr::eq(
        again,
        TaskMetrics::of("qbwi::metrics::tests::cached")
    ));
}

#[test]
fn the_outcome_words_are_snake_case_and_survive_the_buffer() {
    let words = [
        (Word::Completed, "completed"),
        (Word::Failed, "failed"),
        (Word::Panicked, "panicked"),
        (Word::TimedOut, "timed_out"),
        (Word::Abandoned, "abandoned"),
        (Word::NotStarted, "not_started"),
        (Word::Retried, "retried"),
        (Word::Dead, "dead"),
        (Word::Cancelled, "cancelled"),
        (Word::Released, "released"),
    ];
    for (word, text) in words {
        assert_eq!(word.as_str(), text);
        assert_eq!(Word::from_u8(word as u8), word);
        assert!((word as u8) < QUEUED, "below the entries' other kinds");
    }
}

#[test]
fn buffered_runs_reach_the_recorder_when_full_on_flush_and_when_their_thread_ends() {
    let kept: &'static Kept = Box::leak(Box::default());
    // The handles, and the counters of the ends this test pushes (registered at a task's first
    // end of each kind, which here could be in another test's flush, outside the local recorder).
    let task = ::metrics::with_local_recorder(kept, || {
        let task = TaskMetrics::of("qbwi::metrics::tests::buffered");
        for word in [Word::Completed, Word::NotStarted, Word::Failed] {
            let _ = task.finished(word);
        }
        task
    });

    // A buffer holds at most CAPACITY: the rest has been handed over when it was full, without a
    // flush.
    for _ in 0..3 * CAPACITY {
        buffer::push(task, WAIT, 250_000_000);
    }
    let before_flush = kept.samples("qbwi_task_wait_seconds").len();
    assert!(
        before_flush >= 2 * CAPACITY,
        "{before_flush} waits recorded before the flush"
    );
    buffer::flush();
    assert_eq!(kept.samples("qbwi_task_wait_seconds").len(), 3 * CAPACITY);

    // Ends are counted by word, once per batch; durations kept; a run that never started has a
    // count and no duration; a durable run's duration has no count here.
    for _ in 0..3 {
        buffer::push(task, QUEUED, 0);
        buffer::push(task, Word::Completed as u8, 500_000_000);
    }
    buffer::push(task, Word::NotStarted as u8, NO_DURATION);
    buffer::push(task, DURATION_ONLY, 750_000_000);
    buffer::flush();
    assert_eq!(kept.counter("qbwi_tasks_queued_total", ""), 3);
    assert_eq!(kept.counter("qbwi_tasks_finished_total", "completed"), 3);
    assert_eq!(kept.counter("qbwi_tasks_finished_total", "not_started"), 1);
    assert_eq!(
        kept.samples("qbwi_task_duration_seconds"),
        [0.5, 0.5, 0.5, 0.75]
    );

    // A thread that ends hands its buffer over, and the next thread reuses it.
    std::thread::spawn(move || buffer::push(task, Word::Failed as u8, 1_000_000_000))
        .join()
        .unwrap();
    assert_eq!(kept.counter("qbwi_tasks_finished_total", "failed"), 1);
    assert_eq!(kept.samples("qbwi_task_duration_seconds").len(), 5);
}
