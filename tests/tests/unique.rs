//! Unique durable tasks through the macro, on SQLite and PostgreSQL: `enqueue_unique` says new or
//! duplicate, 64 callers at once store one job, `enqueue` returns the existing job's id, and
//! `on_conflict = "replace"` under concurrency keeps the arguments of the last enqueue.

use std::sync::Arc;

use qbwi::{BackgroundTask, Enqueued, Host, State, Store, background_task};
use qbwi_tests::postgres::TempPostgres;
use tokio::sync::Mutex;

/// The runs, as (user, reason).
#[derive(Default, Clone)]
struct Runs(Arc<Mutex<Vec<(u64, String)>>>);

/// One pending sync per address: every argument is the key.
#[background_task(durable, unique)]
async fn sync_contact(email: String, runs: State<Runs>) {
    runs.0.lock().await.push((0, email));
}

/// A debounce: one pending rebuild per user, with the latest reason.
#[background_task(durable, unique_by = [user_id], on_conflict = "replace")]
async fn rebuild_feed(user_id: u64, reason: String, runs: State<Runs>) {
    runs.0.lock().await.push((user_id, reason));
}

async fn host_on(store: Store, runs: &Runs) -> Host {
    Host::builder()
        .store(store)
        .state(runs.clone())
        .build()
        .expect("the host starts")
}

/// 64 callers at once with one key store one job; the others get its id.
async fn one_job_for_many_callers(store: Store) {
    let runs = Runs::default();
    let host = host_on(store.clone(), &runs).await;
    store.pause(sync_contact::NAME).await.unwrap(); // keep it pending
    let barrier = Arc::new(tokio::sync::Barrier::new(64));
    let callers: Vec<_> = (0..64)
        .map(|_| {
            let (host, barrier) = (host.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                host.enqueue_unique(sync_contact {
                    email: "ada@example.com".into(),
                })
                .await
                .unwrap()
            })
        })
        .collect();
    let mut answers = Vec::new();
    for caller in callers {
        answers.push(caller.await.unwrap());
    }
    let new: Vec<&Enqueued> = answers.iter().filter(|answer| answer.is_new()).collect();
    assert_eq!(new.len(), 1, "{answers:?}");
    let id = new[0].id();
    assert!(
        answers
            .iter()
            .all(|answer| *answer == Enqueued::New(id) || *answer == Enqueued::Duplicate(id))
    );
    // `enqueue` gives the existing job's id; another address is another job.
    let again = host
        .enqueue(sync_contact {
            email: "ada@example.com".into(),
        })
        .await
        .unwrap();
    assert_eq!(again, id);
    let other = host
        .enqueue_unique(sync_contact {
            email: "grace@example.com".into(),
        })
        .await
        .unwrap();
    assert!(other.is_new() && other.id() != id);
    store.resume(sync_contact::NAME).await.unwrap();
    host.wait_idle().await;
    let mut ran = runs.0.lock().await.clone();
    ran.sort();
    assert_eq!(
        ran,
        [
            (0, "ada@example.com".into()),
            (0, "grace@example.com".into())
        ]
    );
    // Run and completed: the key is free again.
    let after = host
        .enqueue_unique(sync_contact {
            email: "ada@example.com".into(),
        })
        .await
        .unwrap();
    assert!(after.is_new(), "{after:?}");
    host.shutdown().await;
}

/// Rounds of concurrent replacing enqueues: after each round the pending job holds one of that
/// round's reasons, never an earlier one's; the one run has the last.
async fn replace_keeps_the_last_arguments(store: Store) {
    let runs = Runs::default();
    let host = host_on(store.clone(), &runs).await;
    store.pause(rebuild_feed::NAME).await.unwrap();
    let mut pending = None;
    for round in 0..4 {
        let callers: Vec<_> = (0..16)
            .map(|caller| {
                let host = host.clone();
                tokio::spawn(async move {
                    host.enqueue_unique(rebuild_feed {
                        user_id: 42,
                        reason: format!("round {round} caller {caller}"),
                    })
                    .await
                    .unwrap()
                })
            })
            .collect();
        for caller in callers {
            let answer = caller.await.unwrap();
            let id = *pending.get_or_insert(answer.id());
            assert_eq!(answer.id(), id, "one pending job for user 42");
        }
        let job = store.job(pending.unwrap()).await.unwrap().unwrap();
        let arguments: serde_json::Value = serde_json::from_str(&job.arguments).unwrap();
        let reason = arguments["reason"].as_str().unwrap();
        assert!(
            reason.starts_with(&format!("round {round} ")),
            "after round {round}: {reason}"
        );
    }
    // Another user is another job.
    assert!(
        host.enqueue_unique(rebuild_feed {
            user_id: 7,
            reason: "new post".into(),
        })
        .await
        .unwrap()
        .is_new()
    );
    store.resume(rebuild_feed::NAME).await.unwrap();
    host.wait_idle().await;
    let ran = runs.0.lock().await.clone();
    assert_eq!(ran.len(), 2, "{ran:?}");
    assert!(
        ran.iter()
            .any(|(user, reason)| *user == 42 && reason.starts_with("round 3 ")),
        "{ran:?}"
    );
    host.shutdown().await;
}

fn sqlite(name: &str) -> Store {
    let dir = std::env::temp_dir().join(format!("qbwi-unique-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.db"));
    let _ = std::fs::remove_file(&path);
    Store::sqlite(path).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_one_job_for_many_callers() {
    one_job_for_many_callers(sqlite("many")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_replace_keeps_the_last_arguments() {
    replace_keeps_the_last_arguments(sqlite("replace")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_one_job_for_many_callers() {
    let Some(server) = TempPostgres::start() else {
        return;
    };
    let url = server.create_database("unique_many");
    one_job_for_many_callers(Store::postgres(url.as_str()).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replace_keeps_the_last_arguments() {
    let Some(server) = TempPostgres::start() else {
        return;
    };
    let url = server.create_database("unique_replace");
    replace_keeps_the_last_arguments(Store::postgres(url.as_str()).await.unwrap()).await;
}
