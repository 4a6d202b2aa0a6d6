//! The durable behaviour suite (`support/durable_suite.rs`) on PostgreSQL: one throwaway server
//! for the file, a new database for each case. Also: a server that cannot be reached is a clear
//! error at start, and a server that goes away mid-run does not stop the host.

use std::time::Duration;

use std::sync::Mutex;

use qbwi::{Host, HostError, QueueError, Store, StoreError, background_task};
use qbwi_tests::postgres::TempPostgres;

#[path = "support/durable_suite.rs"]
mod suite;

fn server() -> Option<TempPostgres> {
    let server = TempPostgres::start();
    if server.is_none() {
        eprintln!("skipped: PostgreSQL not found (set QBWI_REQUIRE_POSTGRES=1 to fail instead)");
    }
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_suite_on_postgres() {
    let Some(server) = server() else { return };
    suite::run_all(|case| {
        let url = server.create_database(case);
        async move { Store::postgres(&url).await.unwrap() }
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error_at_start() {
    // A port nobody listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://qbwi:secret@127.0.0.1:{port}/jobs");
    let error = Store::postgres(&url).await.unwrap_err();
    assert!(matches!(error, StoreError::Unreachable { .. }), "{error:?}");
    let host_error = HostError::from(error);
    let message = host_error.to_string();
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(message.contains("check"), "says what to check: {message}");
    assert!(
        !message.contains("secret"),
        "never prints the password: {message}"
    );
}

static PINGED: Mutex<Vec<u64>> = Mutex::new(Vec::new());

#[background_task(durable)]
async fn ping(n: u64) {
    PINGED.lock().unwrap().push(n);
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The database goes away mid-run: in-memory tasks carry on, `enqueue` says the store is
/// unreachable, `queue`d jobs wait in the writer, and once the database is back the host
/// reconnects by itself and runs them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_going_away_does_not_stop_the_host() {
    let Some(server) = server() else { return };
    if server.is_external() {
        eprintln!("skipped: the database-going-away test stops the server, and this one is yours");
        return;
    }
    let store = Store::postgres(server.create_database("goes_away"))
        .await
        .unwrap();
    let host = Host::builder()
        .store(store.clone())
        .poll_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    host.enqueue(ping { n: 1 }).await.unwrap();
    wait_until("the first job ran", || PINGED.lock().unwrap().contains(&1)).await;

    assert!(server.stop());
    let in_memory: Vec<_> = (0..10)
        .map(|_| host.queue_work_item(|_| tokio::task::yield_now()).unwrap())
        .collect();
    for handle in in_memory {
        assert!(
            handle.outcome().await.is_completed(),
            "in-memory work goes on"
        );
    }
    let error = host.enqueue(ping { n: 2 }).await.unwrap_err();
    assert!(
        matches!(error, QueueError::Store(StoreError::Unreachable { .. })),
        "{error:?}"
    );
    let queued = ping::queue_on(&host, 3).unwrap(); // waits in the writer
    tokio::time::sleep(Duration::from_millis(300)).await; // the worker fails a few claims
    assert!(
        queued.try_outcome().is_none(),
        "not stored while the database is away"
    );

    server.start_again();
    let id = queued
        .persisted()
        .await
        .expect("stored once the database is back");
    assert!(id.as_i64() > 0);
    wait_until("the queued job ran", || PINGED.lock().unwrap().contains(&3)).await;
    host.wait_idle().await;
    let report = host.shutdown().await;
    assert_eq!(report.completed, 12, "{report}");
    assert!(
        !PINGED.lock().unwrap().contains(&2),
        "the refused job was never stored"
    );
}

/// `enqueue_in(&transaction, ..)`: the job exists if and only if the caller's transaction commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_in_commits_and_rolls_back_with_the_callers_transaction() {
    use qbwi::tokio_postgres::{NoTls, connect};

    let Some(server) = server() else { return };
    let url = server.create_database("enqueue_in");
    let store = Store::postgres(&url).await.unwrap(); // creates the schema
    let (mut client, connection) = connect(&url, NoTls).await.unwrap();
    tokio::spawn(connection);

    let transaction = client.transaction().await.unwrap();
    ping::enqueue_in(&transaction, 100).await.unwrap();
    transaction.rollback().await.unwrap();

    let transaction = client.transaction().await.unwrap();
    let id = ping::enqueue_in(&transaction, 101).await.unwrap();
    let counts = store.counts().await.unwrap();
    assert_eq!(counts.ready, 0, "not visible before the commit: {counts:?}");
    transaction.commit().await.unwrap();
    assert_eq!(store.counts().await.unwrap().ready, 1);

    let host = Host::builder().store(store.clone()).build().unwrap();
    wait_until("the committed job ran", || {
        PINGED.lock().unwrap().contains(&101)
    })
    .await;
    host.wait_idle().await;
    assert!(
        !PINGED.lock().unwrap().contains(&100),
        "the rolled-back job never existed"
    );
    assert_eq!(host.shutdown().await.completed, 1);
    assert!(id.as_i64() > 0);
}
