//! Bad stores give errors that say what happened and what to do, and lose nothing: a file that is
//! not a database, a name SQLite keeps in no file (an empty path, `:memory:`: refused, since every
//! job would vanish at exit), a store opened read-only (refuses on `enqueue`, the caller keeps the
//! job), and a durable task on a host without a store.

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
    assert!(
        message.contains("the file is not a SQLite database")
            && message.contains("check the path")
            && message.contains("a file of its own"),
        "says what is wrong and what to do: {message}"
    );
    assert!(
        !message.contains("directory exists"),
        "the directory is fine: {message}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        vec![b'x'; 4096],
        "the file is left as it was"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_empty_path_is_refused_since_its_jobs_would_vanish_at_exit() {
    let error = Store::sqlite("").unwrap_err();
    assert!(matches!(error, StoreError::NotDurable { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("SQLite at an empty path")
            && message.contains("would not keep its jobs")
            && message.contains("private temporary database"),
        "says why: {message}"
    );
    assert!(
        message.contains("give the path of a database file instead, such as `qbwi.db`"),
        "says what to give instead: {message}"
    );
}

#[test]
fn in_memory_databases_are_refused_since_their_jobs_would_vanish_at_exit() {
    let dir = temp_dir("in-memory");
    let file = dir.join("qbwi.db");
    for name in [
        ":memory:".to_owned(),
        "file::memory:".to_owned(),
        "file::memory:?cache=shared".to_owned(),
        format!("file:{}?mode=memory", file.display()),
        format!("file:{}?cache=shared&mode=memory", file.display()),
        "file:".to_owned(),
    ] {
        let error = Store::sqlite(&name).unwrap_err();
        assert!(
            matches!(error, StoreError::NotDurable { .. }),
            "{name}: {error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains("would not keep its jobs")
                && (message.contains("in-memory database")
                    || message.contains("temporary database"))
                && message.contains("give the path of a database file"),
            "{name}: {message}"
        );
    }
    assert!(!file.exists(), "nothing was created");
    // The same file, as a file, is a store.
    drop(Store::sqlite(format!("file:{}", file.display())).unwrap());
    assert!(file.exists());
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
