//! Opening a SQLite store: jobs and the schema outlive the connection, a schema from a newer qbwi
//! is refused, hosts that open a new file at once create the schema once, and names that keep no
//! file or places that cannot be written are refused with what to give instead.

use std::path::Path;

use rusqlite::Connection;

use super::super::errors::{DbError, store_error};
use super::super::schema::{MIGRATIONS, SCHEMA_VERSION};
use super::super::{Db, SqliteStore};
use super::{open, temp_path};
use crate::store::conformance::{LEASE, claim, ids_of, job, one, payloads_of};

#[tokio::test]
async fn jobs_and_schema_survive_reopening() {
    let path = temp_path("reopen");
    let id = one(&open(&path), job("mail", "kept", None, 1)).await;
    let store = open(&path);
    let claimed = claim(&store, &["mail"], "a", LEASE).await;
    assert_eq!(
        (ids_of(&claimed), payloads_of(&claimed)),
        (vec![id], vec!["kept"])
    );
    let version: i64 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn a_newer_schema_is_refused_with_a_clear_error() {
    let path = temp_path("newer");
    drop(SqliteStore::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let error = SqliteStore::open(&path).err().expect("refused");
    assert!(error.to_string().contains("version 99"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_opening_a_new_file_at_the_same_moment_create_the_schema_once() {
    let path = temp_path("race");
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let openers: Vec<_> = (0..8)
        .map(|n| {
            let (path, barrier) = (path.clone(), barrier.clone());
            let runtime = tokio::runtime::Handle::current();
            std::thread::spawn(move || {
                barrier.wait();
                let store = open(&path);
                runtime.block_on(one(&store, job("mail", &n.to_string(), None, 1)));
            })
        })
        .collect();
    for opener in openers {
        opener.join().unwrap();
    }
    assert_eq!(claim(&open(&path), &["mail"], "a", LEASE).await.len(), 8);
}

#[test]
fn what_sqlite_opens_as_a_temporary_or_in_memory_database_is_refused_too() {
    // Past `path::not_durable` (which refuses these names first), SQLite's own answer.
    for name in ["", ":memory:", "file:%3Amemory%3A"] {
        let error = Db::open(Path::new(name)).expect_err("refused");
        let DbError::NotDurable(reason) = &error else {
            panic!("{name:?}: {error:?}")
        };
        assert!(reason.contains("temporary or in-memory"), "{reason}");
        let error = store_error("SQLite at x", error);
        assert!(
            error
                .to_string()
                .contains("give the path of a database file"),
            "{error}"
        );
    }
}

#[test]
fn an_unwritable_place_is_a_clear_error() {
    let error = SqliteStore::open("/nonexistent-dir/qbwi.db")
        .err()
        .expect("refused");
    let text = error.to_string();
    assert!(
        text.contains("/nonexistent-dir/qbwi.db") && text.contains("writable"),
        "{text}"
    );
}

#[tokio::test]
async fn a_store_of_the_first_schema_keeps_its_jobs_and_ids_when_migrated() {
    let path = temp_path("migrate-v1");
    {
        let connection = Connection::open(&path).unwrap();
        connection.execute_batch(MIGRATIONS[0]).unwrap();
        connection
            .execute_batch(
                "INSERT INTO qbwi_jobs (id, task, payload, state, attempts, max_attempts, run_at)
                 VALUES (7, 'mail', '{\"to\":1}', 'ready', 0, 3, 1000),
                        (8, 'mail', '{\"to\":2}', 'dead', 3, 3, 1000);
                 UPDATE sqlite_sequence SET seq = 41 WHERE name = 'qbwi_jobs';
                 PRAGMA user_version = 1;",
            )
            .unwrap();
    }
    let store = open(&path);
    let jobs = store.jobs(&crate::JobQuery::new()).await.unwrap();
    assert_eq!(
        jobs.iter()
            .map(|job| (job.id.as_i64(), job.state))
            .collect::<Vec<_>>(),
        [(8, crate::JobState::Dead), (7, crate::JobState::Ready)]
    );
    let id = one(&store, job("mail", "new", None, 1)).await;
    assert_eq!(
        id.as_i64(),
        42,
        "the id sequence went on from the first schema's"
    );
}
