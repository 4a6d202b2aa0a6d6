// A scheduled task: its schedule is in the registry, and it can be run by hand with a `Tick`.
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use qbwi::{CancellationToken, Host, State, Tick, background_task};

struct Runs(AtomicU32);

/// Every day at 03:30, Paris time.
#[background_task(cron = "0 30 3 * * *", timezone = "Europe/Paris", timeout = "1m")]
async fn nightly_report(runs: State<Runs>, tick: Tick, ct: CancellationToken) {
    assert!(!tick.backfilled());
    assert!(!ct.is_cancelled());
    runs.0.fetch_add(1, Ordering::SeqCst);
}

/// Every 15 minutes, UTC, without a tick.
#[background_task(cron = "*/15 * * * *")]
fn every_quarter() {}

#[tokio::main]
async fn main() {
    let host = Host::builder().state(Runs(AtomicU32::new(0))).start().unwrap();
    let report = qbwi::registry()
        .find(|task| task.name.ends_with("::nightly_report"))
        .and_then(|task| task.schedule())
        .unwrap();
    assert_eq!(report.expression, "0 30 3 * * *");
    assert_eq!(report.timezone, "Europe/Paris");
    let quarter = qbwi::registry()
        .find(|task| task.name.ends_with("::every_quarter"))
        .and_then(|task| task.schedule())
        .unwrap();
    assert_eq!(quarter.timezone, "UTC");
    let noon = SystemTime::UNIX_EPOCH + Duration::from_secs(12 * 3600);
    assert_eq!(
        quarter.next_after(noon),
        Some(noon + Duration::from_secs(15 * 60))
    );
    assert!(nightly_report::queue(Tick::now()).unwrap().outcome().await.is_completed());
    assert!(every_quarter::queue().unwrap().outcome().await.is_completed());
    host.shutdown().await;
}
