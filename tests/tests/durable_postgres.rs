//! The durable behaviour suite (`support/durable_suite.rs`) on PostgreSQL: one throwaway server
//! for the file, a new database for each case. Also: a server that cannot be reached is a clear
//! error at start, and a server that goes away mid-run does not stop the host.

use std::time::Duration;

use qbwi::{HostError, Store, StoreError};
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
    assert!(!message.contains("secret"), "never prints the password: {message}");
}
