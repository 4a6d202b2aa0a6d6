//! Bad stores give errors that say what happened and what to do, and lose nothing: a file that is
//! not a database, a store opened read-only (refuses on `enqueue`, the caller keeps the job), and a
//! durable task on a host without a store.

use std::path::PathBuf;

use qbwi::{Host, QueueError, Store, StoreError, background_task};

#[background_task(durable)]
async fn note(text: String) {
    let _ = text;
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qbwi-errors-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_file_that_is_not_a_database_is_refused_at_open() {
    let dir = temp_dir("garbage");
    let path = dir.join("qbwi.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let error = Store::sqlite(&path).unwrap_err();
    assert!(matches!(error, StoreError::Unreachable { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("check"), "{message}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_store_refuses_enqueue_with_a_clear_error() {
    let dir = temp_dir("read-only");
    let path = dir.join("qbwi.db");
    // A writable store keeps the file (and its WAL) set up; a second one opens it read-only, as a
    // process without write access to the file would.
    let writable = Store::sqlite(&path).unwrap();
    let read_only = Store::sqlite(format!("file:{}?mode=ro", path.display())).unwrap();
    let host = Host::builder().store(read_only).build().unwrap();
    let error = host
        .enqueue(note {
            text: "kept by the caller".into(),
        })
        .await
        .unwrap_err();
    let QueueError::Store(StoreError::ReadOnly { .. }) = &error else {
        panic!("expected a read-only error, got {error:?}");
    };
    let message = error.to_string();
    assert!(
        message.contains("read-only") && message.contains("write access"),
        "{message}"
    );
    // `queue` reports it on the handle.
    let handle = note::queue_on(&host, "also refused".into()).unwrap();
    assert!(matches!(
        handle.persisted().await,
        Err(QueueError::Store(StoreError::ReadOnly { .. }))
    ));
    assert!(!handle.outcome().await.is_completed());
    host.shutdown().await;
    assert_eq!(
        writable.counts().await.unwrap().ready,
        0,
        "nothing half-written"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_durable_task_needs_a_store() {
    let host = Host::builder().build().unwrap();
    let error = note::queue_on(&host, "no store".into()).unwrap_err();
    assert_eq!(error, QueueError::NoStore);
    assert!(
        error.to_string().contains(".store("),
        "says what to do: {error}"
    );
    let error = host.enqueue(note { text: "x".into() }).await.unwrap_err();
    assert_eq!(error, QueueError::NoStore);
    let in_memory = host.queue_work_item(|_| async {}).unwrap();
    assert_eq!(in_memory.persisted().await, Err(QueueError::NotDurable));
}
