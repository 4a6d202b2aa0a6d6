//! The jobs' life on the server: enqueue and claim in order, only the known and due tasks,
//! leases that expire or are kept by heartbeats, failures, retries, releases, and claims that
//! race.

use std::sync::Arc;
use std::time::Duration;

use super::{LEASE, TestDatabase, claim, finish, ids_of, job, one, payloads_of, request};
use crate::store::{Backend, ClaimedJob, Finished, JobCounts, JobId, now_millis};

pub(super) async fn enqueue_then_claim_in_order_once_per_lease(db: TestDatabase) {
    let store = db.store().await;
    let ids = store
        .enqueue(vec![
            job("mail", r#"{"to":1}"#, None, 3),
            job("mail", r#"{"to":2}"#, None, 3),
        ])
        .await
        .unwrap();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] < ids[1]);

    let claimed = claim(&store, &["mail"], "a", LEASE).await;
    assert_eq!(ids_of(&claimed), ids);
    assert_eq!(claimed[0].payload.as_deref(), Ok(r#"{"to":1}"#));
    assert_eq!(claimed[0].task, "mail");
    assert_eq!((claimed[0].attempt, claimed[0].max_attempts), (1, 3));
    // Leased: nobody else gets them while the lease holds.
    assert!(claim(&store, &["mail"], "b", LEASE).await.is_empty());

    // A large batch keeps its order, and a claim takes at most its limit.
    let payloads: Vec<String> = (0..500).map(|n| n.to_string()).collect();
    let ids = store
        .enqueue(
            payloads
                .iter()
                .map(|payload| job("bulk", payload, None, 1))
                .collect(),
        )
        .await
        .unwrap();
    let first = store
        .claim(request(&["bulk"], 200, "a", LEASE))
        .await
        .unwrap();
    let rest = store
        .claim(request(&["bulk"], 1000, "b", LEASE))
        .await
        .unwrap();
    assert_eq!(first.len(), 200);
    let claimed: Vec<ClaimedJob> = first.into_iter().chain(rest).collect();
    assert_eq!(ids_of(&claimed), ids);
    assert_eq!(payloads_of(&claimed), payloads);
    assert!(store.enqueue(Vec::new()).await.unwrap().is_empty());
    assert!(
        store
            .claim(request(&["bulk"], 0, "a", LEASE))
            .await
            .unwrap()
            .is_empty()
    );
}

pub(super) async fn a_worker_claims_only_the_tasks_it_knows_and_only_when_due(db: TestDatabase) {
    let store = db.store().await;
    let due_at = now_millis() + 1_500;
    store
        .enqueue(vec![
            job("mail", "1", None, 1),
            job("resize", "2", None, 1),
            job("mail", "3", Some(due_at), 1),
        ])
        .await
        .unwrap();
    let claimed = claim(&store, &["resize", "pdf"], "a", LEASE).await;
    assert_eq!(payloads_of(&claimed), ["2"]);
    let claimed = claim(&store, &["mail"], "a", LEASE).await;
    assert_eq!(payloads_of(&claimed), ["1"]);
    assert!(claim(&store, &["mail"], "a", LEASE).await.is_empty());
    assert_eq!(
        store.counts().await.unwrap(),
        JobCounts {
            ready: 0,
            scheduled: 1,
            running: 2,
            dead: 0
        }
    );

    let next = store.next_due(["mail"].into()).await.unwrap().unwrap();
    assert!(
        next > Duration::from_millis(500) && next <= Duration::from_millis(1_500),
        "{next:?}"
    );
    assert_eq!(store.next_due(["pdf"].into()).await.unwrap(), None);
    assert_eq!(store.next_due([].into()).await.unwrap(), None);

    tokio::time::sleep(next + Duration::from_millis(100)).await;
    assert_eq!(
        store.next_due(["mail"].into()).await.unwrap(),
        Some(Duration::ZERO)
    );
    assert_eq!(
        payloads_of(&claim(&store, &["mail"], "a", LEASE).await),
        ["3"]
    );
    assert!(claim(&store, &[], "a", LEASE).await.is_empty());
}

pub(super) async fn an_expired_lease_lets_another_worker_claim_and_the_old_one_loses_it(
    db: TestDatabase,
) {
    let store = db.store().await;
    let id = one(&store, job("mail", "x", None, 5)).await;
    let short = Duration::from_millis(300);
    assert_eq!(
        claim(&store, &["mail"], "dead-worker", short).await.len(),
        1
    );
    assert!(
        claim(&store, &["mail"], "b", LEASE).await.is_empty(),
        "lease still valid"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let reclaimed = claim(&store, &["mail"], "b", LEASE).await;
    assert_eq!((reclaimed[0].id, reclaimed[0].attempt), (id, 2));

    finish(&store, "dead-worker", vec![Finished::Completed(id)]).await;
    assert_eq!(
        store.counts().await.unwrap().running,
        1,
        "the old worker's lease is gone: its report is dropped"
    );
    finish(&store, "b", vec![Finished::Completed(id)]).await;
    assert_eq!(store.counts().await.unwrap(), JobCounts::default());
}

pub(super) async fn a_heartbeat_keeps_the_lease(db: TestDatabase) {
    let store = db.store().await;
    let id = one(&store, job("mail", "x", None, 5)).await;
    claim(&store, &["mail"], "a", Duration::from_millis(400)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let extend = Duration::from_secs(2);
    assert!(
        store
            .heartbeat("a".into(), vec![id], extend)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .heartbeat("intruder".into(), vec![id, JobId(id.0 + 1000)], extend)
            .await
            .unwrap(),
        [id, JobId(id.0 + 1000)]
    );
    assert!(
        store
            .heartbeat("a".into(), Vec::new(), extend)
            .await
            .unwrap()
            .is_empty()
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        claim(&store, &["mail"], "b", LEASE).await.is_empty(),
        "past the first lease, within the renewed one"
    );
    let next = store.next_due(["mail"].into()).await.unwrap().unwrap();
    assert!(next > Duration::from_secs(1) && next <= extend, "{next:?}");
}

pub(super) async fn failures_retry_until_the_job_is_dead_then_it_can_be_retried_or_deleted(
    db: TestDatabase,
) {
    let store = db.store().await;
    let id = one(&store, job("mail", "x", None, 2)).await;
    claim(&store, &["mail"], "a", LEASE).await;
    let failed = |error: &str, retry_at| Finished::Failed {
        id,
        error: error.into(),
        retry_at,
    };
    finish(
        &store,
        "a",
        vec![failed("smtp 451", Some(now_millis() + 500))],
    )
    .await;
    assert!(
        claim(&store, &["mail"], "a", LEASE).await.is_empty(),
        "backing off"
    );
    assert_eq!(store.counts().await.unwrap().scheduled, 1);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let second = claim(&store, &["mail"], "a", LEASE).await;
    assert_eq!(second[0].attempt, 2);
    finish(&store, "a", vec![failed("smtp 550", Some(now_millis()))]).await;
    // Out of attempts: dead, with the last error, whatever the retry time said.
    assert!(claim(&store, &["mail"], "a", LEASE).await.is_empty());
    let dead = store.dead_jobs(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (
            dead[0].id,
            dead[0].task.as_str(),
            dead[0].payload.as_str(),
            dead[0].attempts,
            dead[0].last_error.as_str()
        ),
        (id, "mail", "x", 2, "smtp 550")
    );
    assert_eq!(store.counts().await.unwrap().dead, 1);

    assert!(store.retry_dead(id).await.unwrap());
    assert!(!store.retry_dead(id).await.unwrap(), "no longer dead");
    assert!(store.dead_jobs(10).await.unwrap().is_empty());
    let again = claim(&store, &["mail"], "a", LEASE).await;
    assert_eq!(
        again[0].attempt, 1,
        "a retried dead job gets its attempts back"
    );
    finish(&store, "a", vec![failed("corrupt\0payload", None)]).await;
    let dead = store.dead_jobs(10).await.unwrap();
    assert_eq!(
        (dead[0].attempts, dead[0].last_error.as_str()),
        (1, "corrupt\u{fffd}payload"),
        "None: dead at once"
    );
    assert!(!store.delete_dead(JobId(id.0 + 1000)).await.unwrap());
    assert!(store.delete_dead(id).await.unwrap());
    assert!(!store.delete_dead(id).await.unwrap());
    assert!(store.dead_jobs(10).await.unwrap().is_empty());
}

pub(super) async fn a_released_job_runs_again_without_losing_an_attempt(db: TestDatabase) {
    let store = db.store().await;
    let id = one(&store, job("mail", "x", None, 1)).await;
    claim(&store, &["mail"], "a", LEASE).await;
    finish(&store, "b", vec![Finished::Released(id)]).await;
    assert_eq!(
        store.counts().await.unwrap().running,
        1,
        "only the lease holder releases"
    );
    finish(&store, "a", vec![Finished::Released(id)]).await;
    let again = claim(&store, &["mail"], "b", LEASE).await;
    assert_eq!((again[0].id, again[0].attempt), (id, 1));
}

pub(super) async fn one_finish_records_every_kind_of_report_together(db: TestDatabase) {
    let store = db.store().await;
    let ids = store
        .enqueue((0..4).map(|_| job("mail", "x", None, 3)).collect())
        .await
        .unwrap();
    claim(&store, &["mail"], "a", LEASE).await;
    finish(
        &store,
        "a",
        vec![
            Finished::Completed(ids[0]),
            Finished::Failed {
                id: ids[1],
                error: "bad".into(),
                retry_at: None,
            },
            Finished::Released(ids[2]),
            Finished::Failed {
                id: ids[3],
                error: "later".into(),
                retry_at: Some(now_millis() + 60_000),
            },
        ],
    )
    .await;
    assert_eq!(
        store.counts().await.unwrap(),
        JobCounts {
            ready: 1,
            scheduled: 1,
            running: 0,
            dead: 1
        }
    );
}

pub(super) async fn workers_claiming_at_once_never_get_the_same_job(db: TestDatabase) {
    let store = Arc::new(db.store().await);
    let ids = store
        .enqueue((0..400).map(|_| job("mail", "x", None, 1)).collect())
        .await
        .unwrap();
    let workers: Vec<_> = (0..8)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let worker = format!("w{n}");
                let mut mine = Vec::new();
                loop {
                    let claimed = store
                        .claim(request(&["mail"], 7, &worker, LEASE))
                        .await
                        .unwrap();
                    if claimed.is_empty() {
                        return mine;
                    }
                    mine.extend(ids_of(&claimed));
                }
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for worker in workers {
        claimed.extend(worker.await.unwrap());
    }
    claimed.sort_unstable();
    assert_eq!(claimed, ids, "each job claimed exactly once");
}
