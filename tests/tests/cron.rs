//! In-memory scheduled tasks under tokio's paused clock: a host fires each schedule at its ticks,
//! with the tick the run was due at, and stops with the host. (A process's hosts all fire the
//! schedules of its binary; each test here runs its own host, one at a time.)

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use qbwi::{Host, State, Tick, background_task};

/// The ticks the schedules fired, by task (the test keeps a clone).
#[derive(Default, Clone)]
struct Seen {
    every_ten: Arc<Mutex<Vec<Tick>>>,
    every_minute: Arc<Mutex<Vec<Tick>>>,
}

/// Every 10 s (6 fields: seconds first).
#[background_task(cron = "*/10 * * * * *")]
async fn every_ten_seconds(tick: Tick, seen: State<Seen>) {
    seen.every_ten.lock().unwrap().push(tick);
}

/// At the start of every minute (5 fields), in a zone with whole-hour offsets.
#[background_task(cron = "* * * * *", timezone = "Europe/Paris")]
fn every_minute(seen: State<Seen>, tick: Tick) {
    seen.every_minute.lock().unwrap().push(tick);
}

/// Serializes the tests: every host in this binary runs both schedules.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A host with the tests' `Seen`, one at a time: every host in this binary runs both schedules.
async fn host() -> (Host, Seen, tokio::sync::MutexGuard<'static, ()>) {
    let one = ONE_AT_A_TIME.lock().await;
    let seen = Seen::default();
    let host = Host::builder()
        .state(seen.clone())
        .build()
        .expect("the host starts");
    (host, seen, one)
}

fn millis(tick: &Tick) -> u128 {
    tick.at().duration_since(UNIX_EPOCH).unwrap().as_millis()
}

#[tokio::test(start_paused = true)]
async fn a_schedule_fires_at_each_tick_with_its_time() {
    let (host, seen, _one) = host().await;
    let started = SystemTime::now();
    tokio::time::sleep(Duration::from_secs(125)).await;
    host.wait_idle().await;
    let ticks = seen.every_ten.lock().unwrap().clone();
    // 125 s hold 12 or 13 multiples of 10 s, whatever the second the test started at.
    assert!((12..=13).contains(&ticks.len()), "{} ticks", ticks.len());
    for tick in &ticks {
        assert_eq!(
            millis(tick) % 10_000,
            0,
            "a tick off the schedule: {tick:?}"
        );
        assert!(!tick.backfilled());
    }
    for pair in ticks.windows(2) {
        assert_eq!(
            millis(&pair[1]) - millis(&pair[0]),
            10_000,
            "a tick missed or doubled"
        );
    }
    // The first tick is the first multiple of 10 s after the host started: none skipped.
    let first = millis(&ticks[0]);
    let start = started.duration_since(UNIX_EPOCH).unwrap().as_millis();
    assert!(
        first > start - 1_000 && first <= start + 10_000,
        "{first} vs {start}"
    );
    let minutes = seen.every_minute.lock().unwrap().clone();
    assert!(
        (2..=3).contains(&minutes.len()),
        "{} minute ticks",
        minutes.len()
    );
    for tick in &minutes {
        assert_eq!(millis(tick) % 60_000, 0, "not on a minute: {tick:?}");
    }
    let report = host.shutdown().await;
    assert_eq!(report.completed as usize, ticks.len() + minutes.len());
}

#[tokio::test(start_paused = true)]
async fn a_host_that_shut_down_fires_no_more() {
    let (host, seen, _one) = host().await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    host.shutdown().await;
    let fired = seen.every_ten.lock().unwrap().len();
    assert!((2..=3).contains(&fired), "{fired} ticks in 30 s");
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        seen.every_ten.lock().unwrap().len(),
        fired,
        "fired after the shutdown"
    );
}

#[test]
fn the_registry_holds_each_schedule() {
    let schedule = |suffix: &str| {
        qbwi::registry()
            .find(|task| task.name.ends_with(suffix))
            .and_then(|task| task.schedule())
            .expect("a scheduled task")
    };
    assert_eq!(schedule("::every_ten_seconds").expression, "*/10 * * * * *");
    assert_eq!(schedule("::every_ten_seconds").timezone, "UTC");
    assert_eq!(schedule("::every_minute").timezone, "Europe/Paris");
    assert_eq!(schedule("::every_minute").backfill, None);
}
