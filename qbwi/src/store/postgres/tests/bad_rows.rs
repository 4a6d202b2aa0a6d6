//! Rows and names that PostgreSQL's store cannot read or send never stop the others: a payload
//! that is NULL (a `NOT NULL` dropped by hand) or not UTF-8 (a `SQL_ASCII` database keeps any
//! bytes as text) is claimed as a job that says why it cannot be read, and listed when dead; a
//! task name with a NUL byte is left out of the claim instead of failing it.

use super::TestDatabase;
use crate::store::conformance::{LEASE, claim, finish, ids_of, job, one, request};
use crate::store::postgres::PostgresStore;
use crate::store::{ClaimedJob, Finished, JobId, Store};

/// Inserts a ready job of `task` whose payload is the SQL expression `payload`.
async fn insert_raw(client: &tokio_postgres::Client, task: &str, payload: &str) -> JobId {
    let row = client
        .query_one(
            &format!(
                "INSERT INTO qbwi_jobs (task, payload, state, max_attempts, run_at)
                 VALUES ($1, {payload}, 'ready', 3, now()) RETURNING id"
            ),
            &[&task],
        )
        .await
        .unwrap();
    JobId(row.get(0))
}

/// Claims every due `mail` job, checks that `bad` is among them with an error that starts with
/// `error`, makes it dead as the worker does, and returns the claimed jobs.
async fn claim_around(store: &Store, bad: JobId, error: &str) -> Vec<ClaimedJob> {
    let claimed = claim(store, &["mail"], "a", LEASE).await;
    let unreadable = claimed
        .iter()
        .find(|job| job.id == bad)
        .unwrap_or_else(|| panic!("the bad row is claimed: {claimed:?}"));
    let message = unreadable.payload.as_ref().expect_err("cannot be read");
    assert!(message.starts_with(error), "{message}");
    assert!(!message.contains("secret"), "{message}");
    let reports = claimed
        .iter()
        .map(|job| match job.payload {
            Ok(_) => Finished::Completed(job.id),
            Err(ref error) => Finished::Failed {
                id: job.id,
                error: error.clone(),
                retry_at: None,
            },
        })
        .collect();
    finish(store, "a", reports).await;
    claimed
}

pub(super) async fn a_row_that_cannot_be_read_is_claimed_alone_and_listed_dead(db: TestDatabase) {
    // A NULL payload, once someone dropped the column's NOT NULL.
    let store = db.store().await;
    let good = store
        .enqueue_ids(vec![job("mail", "1", None, 3), job("mail", "2", None, 3)])
        .await
        .unwrap();
    let client = db.client().await;
    client
        .batch_execute("ALTER TABLE qbwi_jobs ALTER COLUMN payload DROP NOT NULL")
        .await
        .unwrap();
    let null = insert_raw(&client, "mail", "NULL").await;
    let later = store
        .enqueue_ids(vec![job("mail", "3", None, 3)])
        .await
        .unwrap();
    let claimed = claim_around(
        &store,
        null,
        "the stored job cannot be read: its payload is NULL",
    )
    .await;
    assert_eq!(ids_of(&claimed), [good[0], good[1], null, later[0]]);
    let dead = store.dead_jobs(10).await.unwrap();
    assert_eq!(
        dead.iter()
            .map(|job| (job.id, job.payload.as_str()))
            .collect::<Vec<_>>(),
        [(null, "(not text: NULL)")]
    );
    assert!(dead[0].last_error.contains("its payload is NULL"));

    // Bytes that are not UTF-8: a SQL_ASCII database keeps them as text.
    let name = format!("{}_ascii", db.name);
    db.admin
        .batch_execute(&format!(
            "CREATE DATABASE {name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' \
             TEMPLATE template0"
        ))
        .await
        .unwrap();
    let mut config = db.config.clone();
    config.dbname(&name);
    let store = Store::from_backend(
        PostgresStore::connect_with(config.clone())
            .await
            .expect("connects"),
    );
    let good = store
        .enqueue_ids(vec![job("mail", "1", None, 3)])
        .await
        .unwrap();
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let not_utf8 = insert_raw(&client, "mail", r"E'{\x22secret\x22: \xff}'").await;
    let claimed = claim_around(
        &store,
        not_utf8,
        "the stored job cannot be read: its payload is not valid UTF-8",
    )
    .await;
    assert_eq!(ids_of(&claimed), [good[0], not_utf8]);
    let dead = store.dead_jobs(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload, "{\"secret\": \u{fffd}}");
    drop((store, client));
    db.admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
}

pub(super) async fn a_task_name_postgresql_cannot_hold_does_not_break_the_claim(db: TestDatabase) {
    let store = db.store().await;
    let ids = store
        .enqueue_ids(vec![job("mail", "1", None, 3), job("resize", "2", None, 3)])
        .await
        .unwrap();
    let tasks = ["bad\0name", "mail", "resize"];
    assert_eq!(
        store.next_due(tasks.into()).await.unwrap(),
        Some(std::time::Duration::ZERO)
    );
    let claimed = store.claim(request(&tasks, 10, "a", LEASE)).await.unwrap();
    assert_eq!(ids_of(&claimed), ids);
    assert!(
        store
            .claim(request(&["only\0bad"], 10, "a", LEASE))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.next_due(["only\0bad"].into()).await.unwrap(), None);
}

pub(super) async fn an_error_with_a_nul_byte_is_kept_with_a_replacement(db: TestDatabase) {
    // PostgreSQL's text cannot hold NUL; an error message may.
    let store = db.store().await;
    let id = one(&store, job("mail", "x", None, 1)).await;
    claim(&store, &["mail"], "a", LEASE).await;
    finish(
        &store,
        "a",
        vec![Finished::Failed {
            id,
            error: "corrupt\0payload".into(),
            retry_at: None,
        }],
    )
    .await;
    let dead = store.dead_jobs(10).await.unwrap();
    assert_eq!(
        (dead[0].id, dead[0].last_error.as_str()),
        (id, "corrupt\u{fffd}payload")
    );
}
