//! A host on a SQLite file that holds rows qbwi cannot read or decode (written by another program,
//! a bad migration or a damaged file): each becomes a dead job with an error that says what is
//! wrong with it, never quoting its bytes or its arguments (in the error or in the logs), and
//! every other job runs.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::Connection;

use crate::task::BackgroundTask;
use crate::{Host, JobCounts, Store};

/// What the tasks ran, in order.
static RAN: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn ran() -> Vec<String> {
    RAN.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// Records its name.
#[crate::background_task(crate = "crate", durable, retry_delay = "10ms")]
async fn greet(name: String) {
    RAN.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(format!("greet:{name}"));
}

/// Records its amount.
#[crate::background_task(crate = "crate", durable, retry_delay = "10ms")]
async fn charge(amount: u64) {
    RAN.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(format!("charge:{amount}"));
}

/// Where the logs go: everything the host writes, as text.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

/// Polls `done` (async) until it holds, for at most 20 s.
async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut done: impl FnMut() -> F,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A secret in an argument: it must never appear in an error or a log line.
const SECRET: &str = "jane.doe@secret.example";

// The current-thread runtime polls every task on this thread, so the thread's log subscriber sees
// the worker's events.
#[tokio::test(flavor = "current_thread")]
async fn unreadable_and_undecodable_rows_die_alone_and_every_other_job_runs() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);

    let dir = std::env::temp_dir().join(format!("qbwi-sqlite-bad-rows-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("qbwi.db");
    let store = Store::sqlite(&path).unwrap();

    // Rows another program wrote, ahead of the good jobs (so in the same claims).
    let raw = Connection::open(&path).unwrap();
    let insert = |payload_sql: &str, task: &str, max_attempts_sql: &str| -> i64 {
        raw.execute(
            &format!(
                "INSERT INTO qbwi_jobs (task, payload, state, max_attempts, run_at)
                 VALUES (?1, {payload_sql}, 'ready', {max_attempts_sql}, 0)"
            ),
            [task],
        )
        .unwrap();
        raw.last_insert_rowid()
    };
    let (greet_name, charge_name) = (
        <greet as BackgroundTask>::NAME,
        <charge as BackgroundTask>::NAME,
    );
    let blob = insert(
        &format!("CAST('{{\"name\":\"{SECRET}\"}}' AS BLOB)"),
        greet_name,
        "3",
    );
    let not_utf8 = insert("CAST(x'ff' AS TEXT)", charge_name, "3");
    let text_count = insert("'{\"name\":\"x\"}'", greet_name, "'many'");
    let secret_amount = insert(&format!("'{{\"amount\":\"{SECRET}\"}}'"), charge_name, "3");

    let host = Host::builder()
        .store(store.clone())
        .poll_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    for n in 0..5 {
        host.enqueue(greet {
            name: format!("g{n}"),
        })
        .await
        .unwrap();
        host.enqueue(charge { amount: n }).await.unwrap();
    }

    eventually("the ten good jobs ran", || async { ran().len() >= 10 }).await;
    eventually("the four bad rows are dead", || async {
        store.counts().await.unwrap().dead == 4
    })
    .await;
    host.wait_idle().await;
    let mut good = ran();
    good.sort();
    let mut expected: Vec<String> = (0..5)
        .flat_map(|n| [format!("greet:g{n}"), format!("charge:{n}")])
        .collect();
    expected.sort();
    assert_eq!(good, expected, "every good job ran once, and nothing else");
    assert_eq!(
        store.counts().await.unwrap(),
        JobCounts {
            dead: 4,
            completed: 10,
            ..JobCounts::default()
        },
        "the good jobs are kept, completed, for the retention"
    );

    let dead = store.dead_jobs(10).await.unwrap();
    let error_of = |id: i64| {
        let job = dead
            .iter()
            .find(|job| job.id.as_i64() == id)
            .unwrap_or_else(|| panic!("job {id} is dead: {dead:?}"));
        assert_eq!(job.attempts, 1, "dead at once: {job:?}");
        job.last_error.clone()
    };
    let error = error_of(blob);
    assert!(
        error.starts_with("the stored job cannot be read: its payload is a BLOB, not text"),
        "{error}"
    );
    let error = error_of(not_utf8);
    assert!(
        error.starts_with("the stored job cannot be read: its payload is not valid UTF-8"),
        "{error}"
    );
    let error = error_of(text_count);
    assert!(
        error
            .starts_with("the stored job cannot be read: its max_attempts is text, not an integer"),
        "{error}"
    );
    let error = error_of(secret_amount);
    assert!(
        error.contains(charge_name)
            && error.contains("argument `amount` of type `u64`")
            && error.contains("it holds a string"),
        "{error}"
    );
    // The dead are listed, showing what can be shown.
    let payload_of = |id: i64| {
        dead.iter()
            .find(|job| job.id.as_i64() == id)
            .map(|job| job.payload.clone())
    };
    assert_eq!(
        payload_of(blob).as_deref(),
        Some("(not text: a BLOB of 34 bytes)")
    );
    assert_eq!(payload_of(not_utf8).as_deref(), Some("\u{fffd}"));

    let report = host.shutdown().await;
    assert_eq!(report.completed, 10, "{report}");

    let logs = logs.text();
    assert!(
        logs.contains(charge_name) && logs.contains("argument `amount` of type `u64`"),
        "the log says which task and argument failed:\n{logs}"
    );
    assert!(logs.contains("its payload is a BLOB"), "{logs}");
    for job in &dead {
        assert!(!job.last_error.contains(SECRET), "{job:?}");
    }
    assert!(!logs.contains(SECRET), "an argument was logged:\n{logs}");
    let _ = std::fs::remove_dir_all(&dir);
}
