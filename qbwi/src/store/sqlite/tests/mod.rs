//! The SQLite store on real files: the conformance suite (one test per case, each on a file of its
//! own), then what is SQLite's own: [`connections`] (opening, the schema, refusals) and
//! [`bad_rows`] (rows qbwi cannot read or decode never stop the others).

mod bad_rows;
mod connections;
mod plans;

use std::path::PathBuf;

use super::SqliteStore;
use crate::store::Store;
use crate::store::conformance;

/// A path for a new database file of `name`'s own, in a fresh directory.
fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qbwi-sqlite-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("qbwi.db")
}

/// A store on the file at `path`, as `Store::sqlite` opens it.
fn open(path: impl AsRef<std::path::Path>) -> Store {
    Store::from_backend(SqliteStore::open(path).expect("opens"))
}

/// One test of each conformance case, on a new file named after it.
macro_rules! conformance_tests {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                conformance::$case(open(temp_path(stringify!($case)))).await;
            }
        )*
    };
}
conformance::with_cases!(conformance_tests);

/// SQLite takes a batch's jobs (up to the room), not only one alone: the first `most` of them,
/// in order, and those after wait for a claim. A batch with a job that cannot be taken (here, a
/// delayed one) takes none after it, which would run before it otherwise.
#[tokio::test]
async fn a_batch_is_taken_up_to_the_room_in_order() {
    use crate::store::conformance::{LEASE, claim, job, payloads_of};
    let store = open(temp_path("batch-taken"));
    let take = |most| crate::store::Take {
        worker: "a".into(),
        lease: LEASE,
        tasks: std::sync::Arc::from(["mail"]),
        most,
    };
    let batch = |payloads: &[&str]| -> Vec<crate::store::NewJob> {
        payloads.iter().map(|p| job("mail", p, None, 3)).collect()
    };
    let (enqueued, taken) = store
        .enqueue_taking(batch(&["1", "2", "3"]), take(2))
        .await
        .unwrap();
    assert_eq!(enqueued.len(), 3);
    assert_eq!(payloads_of(&taken), ["1", "2"]);
    assert_eq!(
        payloads_of(&claim(&store, &["mail"], "b", LEASE).await),
        ["3"]
    );
    let mut jobs = batch(&["4"]);
    jobs.push(job(
        "mail",
        "5",
        Some(crate::store::now_millis() + 60_000),
        3,
    ));
    jobs.extend(batch(&["6"]));
    let (_, taken) = store.enqueue_taking(jobs, take(10)).await.unwrap();
    assert_eq!(payloads_of(&taken), ["4"]);
    assert_eq!(
        payloads_of(&claim(&store, &["mail"], "b", LEASE).await),
        ["6"]
    );
}
