//! The throwaway PostgreSQL server the durable-store tests use starts, answers queries on its
//! own port, and is gone after it is dropped.

use std::process::Command;

use qbwi_tests::postgres::TempPostgres;

#[test]
fn a_throwaway_server_starts_answers_and_stops() {
    let Some(server) = TempPostgres::start() else {
        return; // not installed, and not required here
    };
    let psql = server.bin_dir().join("psql");
    let psql = if psql.is_file() { psql } else { "psql".into() };
    let output = Command::new(&psql)
        .args([&server.url(), "-At", "-c", "select 40 + 2"])
        .output()
        .expect("run psql");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "42");

    let port = server.port();
    drop(server);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the server still listens after drop"
    );
}
