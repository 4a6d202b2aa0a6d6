//! `durable` with its options, alone and with the others, in any order and with a trailing comma;
//! they become `DurableTask::RETRY` and the registry's `retry_policy`.

use std::time::Duration;

use qbwi::{BackgroundTask, Backoff, DurableTask, RetryPolicy, background_task};

#[background_task(durable)]
async fn defaults() {}

#[background_task(durable, retries = 0)]
async fn never_retried() {}

#[background_task(durable, retries = 5, backoff = "exponential", retry_delay = "500ms")]
async fn exponential() {}

#[background_task(backoff = "linear", durable, retry_delay = "1m30s")]
fn linear() {}

#[background_task(retry_delay = "2s", backoff = "constant", retries = 10, durable)]
async fn constant() {}

#[background_task(
    name = "reports::render",
    timeout = "1m",
    concurrency = 2,
    durable,
    retries = 7,
    backoff = "linear",
    retry_delay = "1h2m3s4ms",
    crate = "::qbwi"
)]
async fn everything() {}

fn policy(retries: u32, backoff: Backoff, delay: Duration) -> RetryPolicy {
    RetryPolicy::new(retries, backoff, delay)
}

fn main() {
    let secs = Duration::from_secs;
    assert_eq!(defaults::RETRY, policy(3, Backoff::Exponential, secs(1)));
    assert_eq!(
        never_retried::RETRY,
        policy(0, Backoff::Exponential, secs(1))
    );
    assert_eq!(never_retried::RETRY.max_attempts(), 1);
    assert_eq!(
        exponential::RETRY,
        policy(5, Backoff::Exponential, Duration::from_millis(500))
    );
    assert_eq!(linear::RETRY, policy(3, Backoff::Linear, secs(90)));
    assert_eq!(constant::RETRY, policy(10, Backoff::Constant, secs(2)));
    assert_eq!(
        <everything as DurableTask>::RETRY,
        policy(7, Backoff::Linear, Duration::from_millis(3_723_004))
    );
    assert_eq!(everything::NAME, "reports::render");
    assert_eq!(everything::OPTIONS.timeout, Some(secs(60)));
    assert_eq!(everything::OPTIONS.concurrency.map(|n| n.get()), Some(2));

    let info = qbwi::registry()
        .find(|task| task.name == "reports::render")
        .unwrap();
    assert!(info.durable && !info.blocking);
    assert_eq!(info.retry_policy(), Some(everything::RETRY));
    let info = qbwi::registry()
        .find(|task| task.name.ends_with("::linear"))
        .unwrap();
    assert!(info.durable && info.blocking);
    assert_eq!(info.retry_policy(), Some(linear::RETRY));
}
