//! `wait_idle` on a host with a store waits for the jobs it can run: enqueue twice, then
//! `wait_idle`, and both jobs have run. Repeated on a fresh store each time, because the window
//! this closes (a claim the store has made but the host has not counted yet) is open for
//! microseconds.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Mutex;

use qbwi::{Host, Store, background_task};
use qbwi_tests::postgres::TempPostgres;

/// How many times the sequence runs on each store.
const ROUNDS: usize = 100;

static RAN: Mutex<Vec<(usize, u8)>> = Mutex::new(Vec::new());

#[background_task(durable)]
async fn note(round: usize, which: u8) {
    RAN.lock().unwrap().push((round, which));
}

fn ran_in(round: usize) -> HashSet<u8> {
    RAN.lock()
        .unwrap()
        .iter()
        .filter(|(r, _)| *r == round)
        .map(|(_, which)| *which)
        .collect()
}

/// One round: a new host on a fresh store, two enqueues, `wait_idle`; both must have run.
async fn round(round: usize, store: Store) {
    let host = Host::builder().store(store.clone()).build().unwrap();
    host.enqueue(note { round, which: 1 }).await.unwrap();
    host.enqueue(note { round, which: 2 }).await.unwrap();
    host.wait_idle().await;
    assert_eq!(
        ran_in(round),
        HashSet::from([1, 2]),
        "round {round}: wait_idle returned before both jobs ran"
    );
    let counts = store.counts().await.unwrap();
    assert_eq!(
        (counts.ready, counts.running, counts.dead),
        (0, 0, 0),
        "round {round}: the store's counts are settled: {counts:?}"
    );
    let report = host.shutdown().await;
    assert_eq!(report.completed, 2, "round {round}: {report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_idle_waits_for_enqueued_jobs_on_sqlite() {
    let root = std::env::temp_dir().join(format!("qbwi-wait-idle-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for n in 0..ROUNDS {
        let dir = root.join(n.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        round(n, Store::sqlite(dir.join("qbwi.db")).unwrap()).await;
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_idle_waits_for_enqueued_jobs_on_postgres() {
    let Some(server) = TempPostgres::start() else {
        eprintln!("skipped: PostgreSQL not found (set QBWI_REQUIRE_POSTGRES=1 to fail instead)");
        return;
    };
    for n in 0..ROUNDS {
        let url = server.create_database(&format!("wait_idle_{n}"));
        // Rounds of the SQLite test share `RAN`: keep the PostgreSQL rounds apart from them.
        round(ROUNDS + n, Store::postgres(&url).await.unwrap()).await;
    }
}

/// An awaited enqueue whose caller gives up (a request cancelled mid-way) leaves nothing for
/// `wait_idle` to wait for: the enqueue had counted a job its host was about to take.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueue_given_up_mid_way_does_not_keep_wait_idle_waiting() {
    let dir = std::env::temp_dir().join(format!("qbwi-given-up-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::sqlite(dir.join("qbwi.db")).unwrap();
    let host = Host::builder().store(store.clone()).build().unwrap();
    const ROUND: usize = 2 * ROUNDS + 1;
    for _ in 0..20 {
        // Polled once (the store has the job), then dropped.
        let mut given_up = Box::pin(host.enqueue(note {
            round: ROUND,
            which: 0,
        }));
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(
            given_up.as_mut().poll(&mut context).is_pending(),
            "an enqueue takes more than one poll"
        );
        drop(given_up);
    }
    host.enqueue(note {
        round: ROUND,
        which: 1,
    })
    .await
    .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(20), host.wait_idle())
        .await
        .expect("wait_idle returns");
    assert!(ran_in(ROUND).contains(&1));
    host.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
