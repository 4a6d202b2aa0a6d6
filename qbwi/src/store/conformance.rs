//! What every backend must do, written once and run against each (SQLite in `sqlite/tests`,
//! PostgreSQL in `postgres/tests`): enqueue and claim in order, only the known and due tasks,
//! leases that expire or are kept by heartbeats, failures, retries, releases, the admin calls, and
//! claims that race. Each case gets a [`Store`] on a fresh, empty database, goes through the same
//! calls the host makes, and panics if something is wrong. Time is the store's own (PostgreSQL's
//! `now()`, the host's clock for SQLite), so the cases wait for it with short, generous sleeps.
//!
//! A store operation the host gains gets its case here, and so is tested on every backend.

use std::time::Duration;

use super::now_millis;
use super::{BoxFuture, ClaimRequest, ClaimedJob, Finished, JobCounts, JobId, NewJob, Store};

/// A lease no case outlives.
pub(crate) const LEASE: Duration = Duration::from_secs(30);

/// One case, on a store of its own.
pub(crate) type Case = fn(Store) -> BoxFuture<'static, ()>;

/// Calls the macro `$then` with the name of every case: `$then! { case_a, case_b, .. }`. A
/// backend's tests make one test of each (SQLite) or run them in turn on one server
/// (PostgreSQL, through [`CASES`]).
macro_rules! with_cases {
    ($then:ident) => {
        $then! {
            enqueue_then_claim_in_order_once_per_lease,
            a_worker_claims_only_the_tasks_it_knows_and_only_when_due,
            an_expired_lease_lets_another_worker_claim_and_the_old_one_loses_it,
            a_heartbeat_keeps_the_lease,
            failures_retry_until_the_job_is_dead_then_it_can_be_retried_or_deleted,
            a_released_job_runs_again_without_losing_an_attempt,
            one_finish_records_every_kind_of_report_together,
            workers_claiming_at_once_never_get_the_same_job,
            ids_are_never_reused,
        }
    };
}
#[cfg_attr(not(feature = "sqlite"), allow(unused_imports))]
pub(crate) use with_cases;

/// `(name, case)` for every case.
macro_rules! case_table {
    ($($case:ident),* $(,)?) => {
        /// Every case, by name.
        #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
        pub(crate) const CASES: &[(&str, Case)] =
            &[$((stringify!($case), (|store| Box::pin($case(store))) as Case)),*];
    };
}
with_cases!(case_table);

/// A job of `task` with `payload`, due at `run_at` (`None`: now).
pub(crate) fn job(
    task: &'static str,
    payload: &str,
    run_at: Option<i64>,
    max_attempts: u32,
) -> NewJob {
    NewJob {
        task,
        payload: payload.into(),
        run_at,
        max_attempts,
    }
}

/// A claim of up to `limit` jobs of `tasks`.
pub(crate) fn request(
    tasks: &[&'static str],
    limit: usize,
    worker: &str,
    lease: Duration,
) -> ClaimRequest {
    ClaimRequest {
        tasks: tasks.into(),
        limit,
        worker: worker.into(),
        lease,
    }
}

/// The claimed jobs' ids.
pub(crate) fn ids_of(jobs: &[ClaimedJob]) -> Vec<JobId> {
    jobs.iter().map(|job| job.id).collect()
}

/// The claimed jobs' payloads (a row that cannot be read shows as `<unreadable>`).
pub(crate) fn payloads_of(jobs: &[ClaimedJob]) -> Vec<&str> {
    jobs.iter()
        .map(|job| job.payload.as_deref().unwrap_or("<unreadable>"))
        .collect()
}

/// Claims up to 100 due jobs of `tasks` for `worker`.
pub(crate) async fn claim(
    store: &Store,
    tasks: &[&'static str],
    worker: &str,
    lease: Duration,
) -> Vec<ClaimedJob> {
    store
        .claim(request(tasks, 100, worker, lease))
        .await
        .unwrap()
}

/// Records `worker`'s reports.
pub(crate) async fn finish(store: &Store, worker: &str, finished: Vec<Finished>) {
    store.finish(worker.into(), finished).await.unwrap();
}

/// Adds one job; its id.
pub(crate) async fn one(store: &Store, job: NewJob) -> JobId {
    store.enqueue(vec![job]).await.unwrap()[0]
}

pub(crate) async fn enqueue_then_claim_in_order_once_per_lease(store: Store) {
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

pub(crate) async fn a_worker_claims_only_the_tasks_it_knows_and_only_when_due(store: Store) {
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

pub(crate) async fn an_expired_lease_lets_another_worker_claim_and_the_old_one_loses_it(
    store: Store,
) {
    let id = one(&store, job("mail", "x", None, 5)).await;
    let short = Duration::from_secs(1);
    assert_eq!(
        claim(&store, &["mail"], "dead-worker", short).await.len(),
        1
    );
    assert!(
        claim(&store, &["mail"], "b", LEASE).await.is_empty(),
        "lease still valid"
    );
    tokio::time::sleep(short + Duration::from_millis(200)).await;
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

pub(crate) async fn a_heartbeat_keeps_the_lease(store: Store) {
    let id = one(&store, job("mail", "x", None, 5)).await;
    claim(&store, &["mail"], "a", Duration::from_millis(400)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let extend = Duration::from_secs(3);
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

pub(crate) async fn failures_retry_until_the_job_is_dead_then_it_can_be_retried_or_deleted(
    store: Store,
) {
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
    finish(&store, "a", vec![failed("corrupt payload", None)]).await;
    let dead = store.dead_jobs(10).await.unwrap();
    assert_eq!(
        (dead[0].attempts, dead[0].last_error.as_str()),
        (1, "corrupt payload"),
        "None: dead at once"
    );
    assert!(!store.delete_dead(JobId(id.0 + 1000)).await.unwrap());
    assert!(store.delete_dead(id).await.unwrap());
    assert!(!store.delete_dead(id).await.unwrap());
    assert!(store.dead_jobs(10).await.unwrap().is_empty());
}

pub(crate) async fn a_released_job_runs_again_without_losing_an_attempt(store: Store) {
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

pub(crate) async fn one_finish_records_every_kind_of_report_together(store: Store) {
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

pub(crate) async fn workers_claiming_at_once_never_get_the_same_job(store: Store) {
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

pub(crate) async fn ids_are_never_reused(store: Store) {
    let first = one(&store, job("mail", "1", None, 1)).await;
    claim(&store, &["mail"], "a", LEASE).await;
    finish(&store, "a", vec![Finished::Completed(first)]).await;
    assert_eq!(store.counts().await.unwrap(), JobCounts::default());
    let second = one(&store, job("mail", "2", None, 1)).await;
    assert!(
        second > first,
        "{second} after {first}: ids outlive jobs in logs"
    );
}
