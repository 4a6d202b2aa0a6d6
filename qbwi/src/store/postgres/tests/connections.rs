//! Around the connections: the schema at connect (created once by racing hosts, refused when
//! newer), the listening connection, jobs added through the caller's connections and pools, and
//! databases that refuse (read-only, missing).

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, Pool};
use tokio_postgres::NoTls;

use super::super::PostgresStore;
use super::super::errors::HINT_DATABASE;
use super::super::schema::SCHEMA_VERSION;
use super::TestDatabase;
use crate::store::conformance::{LEASE, claim, finish, ids_of, job, one, payloads_of};
use crate::store::{Backend, EnqueueIn, Finished, JobCounts, Store, StoreError};

pub(super) async fn hosts_starting_at_once_on_an_empty_database_create_the_schema_once(
    db: TestDatabase,
) {
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let hosts: Vec<_> = (0..8)
        .map(|n| {
            let (config, barrier) = (db.config.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let store = PostgresStore::connect_with(config).await.unwrap();
                store
                    .enqueue(vec![job("mail", &n.to_string(), None, 1)])
                    .await
                    .unwrap();
            })
        })
        .collect();
    for host in hosts {
        host.await.unwrap();
    }
    let client = db.client().await;
    let versions: Vec<i32> = client
        .query("SELECT version FROM qbwi_schema", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(versions, [i32::try_from(SCHEMA_VERSION).unwrap()]);
    let store = db.store().await;
    assert_eq!(claim(&store, &["mail"], "a", LEASE).await.len(), 8);
}

pub(super) async fn a_newer_schema_is_refused_with_a_clear_error(db: TestDatabase) {
    drop(db.store().await);
    let client = db.client().await;
    client
        .batch_execute("UPDATE qbwi_schema SET version = 99")
        .await
        .unwrap();
    let error = PostgresStore::connect_with(db.config.clone())
        .await
        .expect_err("refused");
    assert_eq!(
        error,
        StoreError::NewerSchema {
            found: 99,
            known: SCHEMA_VERSION
        }
    );
    assert!(error.to_string().contains("version 99"), "{error}");
}

pub(super) async fn a_notification_wakes_the_listener_and_is_kept_until_someone_waits(
    db: TestDatabase,
) {
    let store = db.store().await;
    let other = db.store().await;
    let within = Duration::from_secs(5);
    // The first call starts the listener; it resolves once listening (jobs may have been
    // added before).
    tokio::time::timeout(within, store.notified())
        .await
        .expect("resolves once listening");
    assert_eq!(db.listeners().await.len(), 1);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), store.notified())
            .await
            .is_err(),
        "nothing happened since"
    );

    // Someone waiting is woken by another process's enqueue.
    let (woken, ()) = tokio::join!(tokio::time::timeout(within, store.notified()), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        one(&other, job("mail", "x", None, 1)).await;
    });
    woken.expect("woken by the NOTIFY");

    // A notification that arrives while nobody waits resolves the next call at once.
    one(&other, job("mail", "y", None, 1)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::time::timeout(Duration::from_millis(50), store.notified())
        .await
        .expect("kept");

    // So do retried dead jobs and released ones.
    let id = one(&other, job("mail", "z", None, 1)).await;
    tokio::time::timeout(within, store.notified())
        .await
        .expect("kept");
    claim(&other, &["mail"], "a", LEASE).await;
    finish(
        &other,
        "a",
        vec![Finished::Failed {
            id,
            error: "x".into(),
            retry_at: None,
        }],
    )
    .await;
    let (woken, ()) = tokio::join!(tokio::time::timeout(within, store.notified()), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(other.retry_dead(id).await.unwrap());
    });
    woken.expect("woken by the retry");
    claim(&other, &["mail"], "a", LEASE).await;
    let (woken, ()) = tokio::join!(tokio::time::timeout(within, store.notified()), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        finish(&other, "a", vec![Finished::Released(id)]).await;
    });
    woken.expect("woken by the release");

    // Dropping the store closes its listening connection.
    drop(store);
    let deadline = tokio::time::Instant::now() + within;
    while !db.listeners().await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the listener outlived its store"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(super) async fn the_listener_reconnects_after_losing_its_connection(db: TestDatabase) {
    let store = db.store().await;
    let other = db.store().await;
    let within = Duration::from_secs(5);
    tokio::time::timeout(within, store.notified())
        .await
        .expect("listening");
    let [pid] = db.listeners().await[..] else {
        panic!("one listener")
    };
    db.admin
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    // After reconnecting it wakes the worker once: jobs may have been added meanwhile.
    tokio::time::timeout(within, store.notified())
        .await
        .expect("resolves after reconnecting");
    let listeners = db.listeners().await;
    assert_eq!(listeners.len(), 1);
    assert_ne!(listeners[0], pid, "a new connection");
    let (woken, ()) = tokio::join!(tokio::time::timeout(within, store.notified()), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        one(&other, job("mail", "x", None, 1)).await;
    });
    woken.expect("listening again");
}

pub(super) async fn jobs_enqueued_in_a_callers_transaction_exist_only_if_it_commits(
    db: TestDatabase,
) {
    let mut client = db.client().await;
    // Before any store created the schema: a clear error.
    let error = client
        .__insert(job("mail", "x", None, 1))
        .await
        .expect_err("no schema yet");
    assert!(
        error.to_string().contains("the qbwi schema is missing"),
        "{error}"
    );

    let store = db.store().await;
    let transaction = client.transaction().await.unwrap();
    transaction
        .__insert(job("mail", "rolled back", None, 1))
        .await
        .unwrap();
    transaction.rollback().await.unwrap();
    assert_eq!(store.counts().await.unwrap(), JobCounts::default());

    let transaction = client.transaction().await.unwrap();
    let committed = transaction
        .__insert(job("mail", "committed", None, 1))
        .await
        .unwrap();
    transaction.commit().await.unwrap();
    let plain = client
        .__insert(job("mail", "plain", None, 1))
        .await
        .unwrap();

    // Through deadpool-postgres' pooled client and transaction too.
    let pool = Pool::builder(Manager::new(db.config.clone(), NoTls))
        .max_size(1)
        .build()
        .unwrap();
    let mut pooled = pool.get().await.unwrap();
    let from_pool = pooled
        .__insert(job("mail", "pooled", None, 1))
        .await
        .unwrap();
    let transaction = pooled.transaction().await.unwrap();
    let from_pool_transaction = transaction
        .__insert(job("mail", "pooled transaction", None, 1))
        .await
        .unwrap();
    transaction.commit().await.unwrap();
    drop(pooled);

    let claimed = claim(&store, &["mail"], "a", LEASE).await;
    assert_eq!(
        ids_of(&claimed),
        [committed, plain, from_pool, from_pool_transaction].map(|enqueued| enqueued.id())
    );
    assert_eq!(
        payloads_of(&claimed),
        ["committed", "plain", "pooled", "pooled transaction"]
    );
}

pub(super) async fn a_callers_pool_works_without_a_listener(db: TestDatabase) {
    let pool = Pool::builder(Manager::new(db.config.clone(), NoTls))
        .max_size(2)
        .build()
        .unwrap();
    let store = Store::from_backend(PostgresStore::connect(pool.into()).await.unwrap());
    // The pool's settings are private: the store asks the server where it is.
    let describe = store.describe();
    assert!(
        describe.starts_with("PostgreSQL at ") && describe.ends_with(&format!("/{}", db.name)),
        "{describe}"
    );
    if db.throwaway {
        let port = db.config.get_ports().first().copied().unwrap_or(5432);
        assert_eq!(
            describe,
            format!("PostgreSQL at 127.0.0.1:{port}/{}", db.name)
        );
    }
    let id = one(&store, job("mail", "x", None, 1)).await;
    assert_eq!(ids_of(&claim(&store, &["mail"], "a", LEASE).await), [id]);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), store.notified())
            .await
            .is_err(),
        "no listener: workers poll"
    );
    assert!(db.listeners().await.is_empty());
}

pub(super) async fn a_read_only_database_is_reported_as_read_only(db: TestDatabase) {
    drop(db.store().await);
    db.admin
        .batch_execute(&format!(
            "ALTER DATABASE {} SET default_transaction_read_only = on",
            db.name
        ))
        .await
        .unwrap();
    // A migrated database opens read-only; writing is refused.
    let store = db.store().await;
    assert_eq!(store.counts().await.unwrap(), JobCounts::default());
    let error = store
        .enqueue_ids(vec![job("mail", "x", None, 1)])
        .await
        .expect_err("refused");
    assert!(matches!(error, StoreError::ReadOnly { .. }), "{error:?}");
}

pub(super) async fn a_missing_database_is_unreachable_with_a_hint(db: TestDatabase) {
    let mut config = db.config.clone();
    config.dbname("qbwi_no_such_database");
    let error = PostgresStore::connect_with(config)
        .await
        .expect_err("refused");
    let StoreError::Unreachable {
        store,
        reason,
        hint,
    } = &error
    else {
        panic!("{error:?}")
    };
    assert!(store.ends_with("/qbwi_no_such_database"), "{store}");
    assert!(reason.contains("does not exist"), "{reason}");
    assert_eq!(*hint, HINT_DATABASE);
}

pub(super) async fn a_unique_job_enqueued_in_a_callers_transaction_keeps_its_key(db: TestDatabase) {
    let store = db.store().await;
    let mut client = db.client().await;
    let unique = |payload: &str| crate::store::NewJob {
        unique: Some(crate::store::UniqueKey {
            key: "feed:[42]".into(),
            for_millis: None,
            replace: false,
        }),
        ..job("feed", payload, None, 1)
    };
    // In a transaction that rolls back: no job, and the key is free.
    let transaction = client.transaction().await.unwrap();
    assert!(
        transaction
            .__insert(unique("rolled back"))
            .await
            .unwrap()
            .is_new()
    );
    transaction.rollback().await.unwrap();
    // Committed, then a duplicate in another transaction, then one through the store.
    let transaction = client.transaction().await.unwrap();
    let first = transaction.__insert(unique("first")).await.unwrap();
    assert!(first.is_new());
    transaction.commit().await.unwrap();
    let transaction = client.transaction().await.unwrap();
    let again = transaction.__insert(unique("again")).await.unwrap();
    transaction.commit().await.unwrap();
    assert_eq!(again, crate::store::Enqueued::Duplicate(first.id()));
    let through_store = store.enqueue(vec![unique("store")]).await.unwrap();
    assert_eq!(
        through_store,
        [crate::store::Enqueued::Duplicate(first.id())]
    );
    let claimed = claim(&store, &["feed"], "a", LEASE).await;
    assert_eq!(payloads_of(&claimed), ["first"]);
}
