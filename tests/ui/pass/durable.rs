//! Durable tasks, async (with a token, anywhere in the list) and blocking, with arguments of
//! several std types: they are stored, claimed and run with the values they were given, through
//! `enqueue`, `enqueue_at`, `enqueue_after` and `queue`. The futures are `Send + 'static`, and the
//! registry marks the tasks durable.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use qbwi::{CancellationToken, DurableTask, Host, JobId, Outcome, RetryPolicy, background_task};

/// What the runs saw, in any order.
static RUNS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn record(run: String) {
    RUNS.lock().unwrap().push(run);
}

/// Sends the welcome mail.
#[background_task(durable)]
async fn send_mail(
    email: String,
    token: CancellationToken,
    reply_to: Option<String>,
    attachment: Vec<u8>,
    attempt: u64,
) -> Result<(), String> {
    if token.is_cancelled() {
        return Err("cancelled".to_owned());
    }
    record(format!("{email} {reply_to:?} {attachment:?} {attempt}"));
    Ok(())
}

/// Resizes an image, blocking its thread.
#[background_task(durable, retries = 1)]
fn resize(width: u32, height: u32) {
    record(format!("{width}x{height}"));
}

/// No arguments at all.
#[background_task(durable)]
async fn tick(_token: CancellationToken) {
    record("tick".to_owned());
}

fn assert_send_static<F: Send + 'static>(future: F) -> F {
    future
}

#[tokio::main]
async fn main() {
    assert_eq!(send_mail::RETRY, RetryPolicy::DEFAULT);
    assert_eq!(<resize as DurableTask>::RETRY.retries(), 1);
    for name in ["::send_mail", "::resize", "::tick"] {
        let info = qbwi::registry()
            .find(|task| task.name.ends_with(name))
            .unwrap();
        assert!(info.durable, "{name}");
    }

    let dir = std::env::temp_dir().join(format!("qbwi-ui-durable-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = qbwi::Store::sqlite(dir.join("qbwi.db")).unwrap();
    let host = Host::builder()
        .store(store)
        .poll_interval(Duration::from_millis(10))
        .start()
        .unwrap();

    let enqueued = send_mail::enqueue(
        "a@example.com".to_owned(),
        Some("b@example.com".to_owned()),
        vec![1, 2],
        1,
    );
    let _: JobId = assert_send_static(enqueued).await.unwrap();
    let at = send_mail::enqueue_at(
        SystemTime::now(),
        "c@example.com".to_owned(),
        None,
        vec![],
        2,
    );
    assert_send_static(at).await.unwrap();
    resize::enqueue_after(Duration::from_millis(1), 640, 480)
        .await
        .unwrap();
    tick::enqueue().await.unwrap();
    let handle = resize::queue(320, 240).unwrap();
    assert_eq!(handle.outcome().await, Outcome::Completed); // committed
    handle.persisted().await.unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while RUNS.lock().unwrap().len() < 5 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    host.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);

    let mut runs = RUNS.lock().unwrap().clone();
    runs.sort();
    assert_eq!(
        runs,
        [
            "320x240",
            "640x480",
            "a@example.com Some(\"b@example.com\") [1, 2] 1",
            "c@example.com None [] 2",
            "tick",
        ]
    );
}
