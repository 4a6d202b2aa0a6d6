//! The PostgreSQL server the durable-store tests use starts, answers queries, hands out fresh
//! databases of their own, and a throwaway one is gone after it is dropped.

use std::process::{Command, Output};

use qbwi_tests::postgres::TempPostgres;

/// Runs one query with the server's `psql`.
fn psql(server: &TempPostgres, url: &str, sql: &str) -> Output {
    let output = Command::new(server.psql_path())
        .args(["-X", "-At", "-d", url, "-c", sql])
        .output()
        .expect("run psql");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn answer(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn a_server_starts_answers_hands_out_fresh_databases_and_stops() {
    let Some(server) = TempPostgres::start() else {
        return; // not installed, and not required here
    };
    assert_eq!(answer(&psql(&server, &server.url(), "select 40 + 2")), "42");

    let first = server.create_database("fresh test/1");
    let second = server.create_database("fresh test/1");
    assert_ne!(first, second, "each call makes a new database");
    for url in [&first, &second] {
        let database = answer(&psql(&server, url, "select current_database()"));
        assert!(
            database.starts_with("qbwi_test_fresh_test_1_"),
            "{database}"
        );
        assert_eq!(
            answer(&psql(
                &server,
                url,
                "select count(*) from pg_tables where schemaname = 'public'"
            )),
            "0",
            "empty"
        );
    }
    psql(&server, &first, "create table only_here (id int)");
    assert_eq!(
        answer(&psql(
            &server,
            &second,
            "select to_regclass('only_here') is null"
        )),
        "t",
        "the databases are separate"
    );

    // The developer's own server outlives the tests; only a throwaway one stops.
    let Some(port) = server.port() else {
        assert!(server.is_external());
        return;
    };
    drop(server);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the server still listens after drop"
    );
}
