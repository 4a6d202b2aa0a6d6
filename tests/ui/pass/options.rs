//! The options: `name`, `timeout` (every unit and a combination), `concurrency`, all together
//! and with a trailing comma; they become `BackgroundTask::NAME` and `OPTIONS`.

use std::num::NonZeroUsize;
use std::time::Duration;

use qbwi::{BackgroundTask, CancellationToken, Host, Outcome, background_task};

#[background_task(name = "mail::send_welcome")]
async fn named() {}

#[background_task(timeout = "500ms")]
async fn millis() {}

#[background_task(timeout = "30s")]
async fn seconds() {}

#[background_task(timeout = "5m")]
fn minutes() {}

#[background_task(timeout = "1h")]
fn hours() {}

#[background_task(timeout = "1m30s")]
async fn combined() {}

#[background_task(concurrency = 1)]
async fn one_at_a_time() {}

#[background_task(name = "everything", timeout = "1h2m3s4ms", concurrency = 8)]
async fn everything() {}

/// Times out: the token is cancelled and the run ends as `TimedOut`.
#[background_task(timeout = "20ms")]
async fn too_slow(token: CancellationToken) {
    token.cancelled().await;
    std::future::pending::<()>().await;
}

fn options<T: BackgroundTask>() -> (Option<Duration>, Option<usize>) {
    (
        T::OPTIONS.timeout,
        T::OPTIONS.concurrency.map(NonZeroUsize::get),
    )
}

#[tokio::main]
async fn main() {
    assert_eq!(named::NAME, "mail::send_welcome");
    assert_eq!(everything::NAME, "everything");
    assert_eq!(millis::NAME, concat!(module_path!(), "::millis"));
    assert_eq!(options::<named>(), (None, None));
    assert_eq!(
        options::<millis>(),
        (Some(Duration::from_millis(500)), None)
    );
    assert_eq!(options::<seconds>(), (Some(Duration::from_secs(30)), None));
    assert_eq!(options::<minutes>(), (Some(Duration::from_secs(300)), None));
    assert_eq!(options::<hours>(), (Some(Duration::from_secs(3600)), None));
    assert_eq!(options::<combined>(), (Some(Duration::from_secs(90)), None));
    assert_eq!(options::<one_at_a_time>(), (None, Some(1)));
    assert_eq!(
        options::<everything>(),
        (Some(Duration::from_millis(3_723_004)), Some(8))
    );
    assert!(qbwi::registry().any(|task| task.name == "mail::send_welcome"));

    let host = Host::builder().build().unwrap();
    let handle = too_slow::queue_on(&host).unwrap();
    assert_eq!(handle.outcome().await, Outcome::TimedOut);
    let handle = named::queue_on(&host).unwrap();
    assert_eq!(handle.name(), "mail::send_welcome");
    assert_eq!(handle.outcome().await, Outcome::Completed);
    host.shutdown().await;
}
