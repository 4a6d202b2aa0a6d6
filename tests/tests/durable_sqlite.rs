//! The durable behaviour suite (`support/durable_suite.rs`) on SQLite: each case on a new file.

#[path = "support/durable_suite.rs"]
mod suite;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_suite_on_sqlite() {
    let root = std::env::temp_dir().join(format!("qbwi-durable-sqlite-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    suite::run_all(|case| {
        let dir = root.join(case);
        async move {
            std::fs::create_dir_all(&dir).unwrap();
            qbwi::Store::sqlite(dir.join("qbwi.db")).unwrap()
        }
    })
    .await;
    let _ = std::fs::remove_dir_all(&root);
}
