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
use super::{
    BoxFuture, ClaimRequest, ClaimedJob, Enqueued, Finished, Fire, JobCounts, JobId, JobQuery,
    JobState, Leases, NewJob, NodeReport, Store, UniqueKey,
};

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
            a_job_its_host_can_run_now_is_added_claimed_unless_another_must_go_first,
            a_worker_claims_only_the_tasks_it_knows_and_only_when_due,
            an_expired_lease_lets_another_worker_claim_and_the_old_one_loses_it,
            a_heartbeat_keeps_the_lease,
            failures_retry_until_the_job_is_dead_then_it_can_be_retried_or_deleted,
            a_released_job_runs_again_without_losing_an_attempt,
            one_finish_records_every_kind_of_report_together,
            workers_claiming_at_once_never_get_the_same_job,
            ids_are_never_reused,
            finished_jobs_are_kept_with_their_times_until_pruned,
            listings_filter_by_each_state_and_task_and_page_by_id,
            actions_apply_only_to_the_jobs_they_make_sense_for,
            a_running_job_cancelled_by_an_operator_is_told_at_its_heartbeat,
            actions_over_a_filter_reach_every_matching_job_in_batches,
            a_paused_task_is_neither_claimed_nor_due_until_resumed,
            nodes_report_themselves_and_age_out,
            runs_that_ended_are_counted_by_minute_and_jobs_by_task,
            a_tick_is_fired_once_by_the_first_writer_only,
            nodes_firing_one_tick_at_once_enqueue_it_once,
            a_unique_job_holds_its_key_while_it_is_live,
            unique_for_keeps_the_key_after_the_job_finished,
            replace_takes_over_a_pending_job_and_waits_behind_a_running_one,
            enqueues_of_one_key_at_once_store_one_job,
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
        unique: None,
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

/// Records `worker`'s reports, completed jobs deleted at once (no retention).
pub(crate) async fn finish(store: &Store, worker: &str, finished: Vec<Finished>) {
    store.finish(worker.into(), finished, false).await.unwrap();
}

/// Records `worker`'s reports, completed jobs kept for the retention.
pub(crate) async fn finish_keeping(store: &Store, worker: &str, finished: Vec<Finished>) {
    store.finish(worker.into(), finished, true).await.unwrap();
}

/// Adds one job; its id.
pub(crate) async fn one(store: &Store, job: NewJob) -> JobId {
    store.enqueue_ids(vec![job]).await.unwrap()[0]
}

pub(crate) async fn enqueue_then_claim_in_order_once_per_lease(store: Store) {
    let ids = store
        .enqueue_ids(vec![
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
        .enqueue_ids(
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
    assert!(store.enqueue_ids(Vec::new()).await.unwrap().is_empty());
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
        .enqueue_ids(vec![
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
            ..JobCounts::default()
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
    let late = claim(&store, &["mail"], "a", LEASE).await;
    assert_eq!(payloads_of(&late), ["3"]);
    assert!(
        late[0].waited < Duration::from_secs(5),
        "claimed about 100 ms after it was due: {:?}",
        late[0].waited
    );
    assert!(claim(&store, &[], "a", LEASE).await.is_empty());

    // A claim says how long ago each job was due (the wait the metrics show).
    store
        .enqueue_ids(vec![job("report", "4", Some(now_millis() - 2_000), 1)])
        .await
        .unwrap();
    let overdue = claim(&store, &["report"], "a", LEASE).await;
    assert!(
        (Duration::from_secs(2)..Duration::from_secs(30)).contains(&overdue[0].waited),
        "due 2 s before it was added: {:?}",
        overdue[0].waited
    );
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
    assert!(store.heartbeat("a".into(), vec![id], extend).await.unwrap() == Leases::default());
    assert_eq!(
        store
            .heartbeat("intruder".into(), vec![id, JobId(id.0 + 1000)], extend)
            .await
            .unwrap()
            .lost,
        [id, JobId(id.0 + 1000)]
    );
    assert!(
        store
            .heartbeat("a".into(), Vec::new(), extend)
            .await
            .unwrap()
            == Leases::default()
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

pub(crate) async fn a_job_its_host_can_run_now_is_added_claimed_unless_another_must_go_first(
    store: Store,
) {
    let take = |most| crate::store::Take {
        worker: "a".into(),
        lease: LEASE,
        tasks: std::sync::Arc::from(["mail", "report"]),
        most,
    };
    let taking = |job| async {
        let (enqueued, taken) = store.enqueue_taking(vec![job], take(1)).await.unwrap();
        assert!(taken.len() <= 1);
        (enqueued[0], taken.into_iter().next())
    };
    // Nothing waits: added as "a"'s, its first attempt, which no other worker can claim.
    let (enqueued, taken) = taking(job("mail", "1", None, 3)).await;
    let taken = taken.expect("nothing waits: taken");
    assert!(enqueued.is_new());
    assert_eq!(
        (taken.id, taken.attempt, taken.max_attempts, taken.payload),
        (enqueued.id(), 1, 3, Ok("1".to_owned()))
    );
    let detail = store.job(taken.id).await.unwrap().expect("stored");
    assert_eq!(
        (detail.summary.state, detail.summary.attempts),
        (JobState::Running, 1)
    );
    assert!(detail.lease_until.is_some());
    assert!(claim(&store, &["mail"], "b", LEASE).await.is_empty());
    // Its end is recorded as a claimed job's is.
    finish(&store, "a", vec![Finished::Completed(taken.id)]).await;
    assert!(store.job(taken.id).await.unwrap().is_none());
    // A due job of these tasks waits: the new one goes behind it, ready (and the claim takes the
    // older first).
    let older = one(&store, job("report", "older", None, 3)).await;
    let (behind, taken) = taking(job("mail", "2", None, 3)).await;
    assert!(taken.is_none(), "{older:?} waits");
    assert_eq!(
        ids_of(&claim(&store, &["mail", "report"], "a", LEASE).await),
        vec![older, behind.id()]
    );
    // A paused task's job, a delayed job, a unique one, another task's and any beyond the room
    // are added as usual, for a claim.
    assert!(store.pause("mail").await.unwrap());
    assert!(taking(job("mail", "3", None, 3)).await.1.is_none());
    assert!(store.resume("mail").await.unwrap());
    let later = now_millis() + 60_000;
    assert!(taking(job("mail", "4", Some(later), 3)).await.1.is_none());
    assert!(taking(unique("u", "5", None, false)).await.1.is_none());
    assert!(taking(job("other", "6", None, 3)).await.1.is_none());
    let ready = claim(&store, &["mail", "other", "feed"], "b", LEASE).await;
    assert_eq!(payloads_of(&ready), vec!["3", "5", "6"], "the due ones");
    let (_, taken) = store
        .enqueue_taking(
            vec![job("mail", "7", None, 3), job("mail", "8", None, 3)],
            take(0),
        )
        .await
        .unwrap();
    assert!(taken.is_empty(), "no room");
    // Of a batch, at most `most`, in order (a store may take fewer).
    let (_, taken) = store
        .enqueue_taking(
            (9..12)
                .map(|n| job("report", &n.to_string(), None, 3))
                .collect(),
            take(2),
        )
        .await
        .unwrap();
    assert!(taken.len() <= 2);
    let left = claim(&store, &["mail", "report"], "c", LEASE).await;
    let mut all: Vec<&str> = payloads_of(&left)
        .into_iter()
        .chain(payloads_of(&taken))
        .collect();
    all.sort();
    assert_eq!(
        all,
        ["10", "11", "7", "8", "9"],
        "each job once, taken or claimed"
    );
}

pub(crate) async fn one_finish_records_every_kind_of_report_together(store: Store) {
    let ids = store
        .enqueue_ids((0..4).map(|_| job("mail", "x", None, 3)).collect())
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
            retrying: 1,
            dead: 1,
            ..JobCounts::default()
        }
    );
}

pub(crate) async fn workers_claiming_at_once_never_get_the_same_job(store: Store) {
    let ids = store
        .enqueue_ids((0..400).map(|_| job("mail", "x", None, 1)).collect())
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

/// Waits until the store's clock has passed the last write (SQLite keeps milliseconds).
async fn tick() {
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// Every job of the store, newest first.
async fn all_jobs(store: &Store) -> Vec<super::JobSummary> {
    store.jobs(&JobQuery::new().limit(1000)).await.unwrap()
}

pub(crate) async fn finished_jobs_are_kept_with_their_times_until_pruned(store: Store) {
    let before = std::time::SystemTime::now() - Duration::from_secs(5);
    let id = one(&store, job("mail", r#"{"to":"a@example.com"}"#, None, 3)).await;
    let detail = store.job(id).await.unwrap().expect("exists");
    assert_eq!(detail.summary.state, JobState::Ready);
    assert_eq!(detail.summary.task, "mail");
    assert!(detail.summary.created_at > before, "{detail:?}");
    assert_eq!(detail.arguments, r#"{"to":"a@example.com"}"#);
    assert_eq!((detail.started_at, detail.node.as_deref()), (None, None));

    claim(&store, &["mail"], "node-a", LEASE).await;
    let running = store.job(id).await.unwrap().expect("exists");
    assert_eq!(running.summary.state, JobState::Running);
    assert_eq!(running.node.as_deref(), Some("node-a"));
    assert!(running.started_at.is_some() && running.lease_until.is_some());
    assert_eq!(running.summary.attempts, 1);

    finish_keeping(&store, "node-a", vec![Finished::Completed(id)]).await;
    let done = store
        .job(id)
        .await
        .unwrap()
        .expect("kept for the retention");
    assert_eq!(done.summary.state, JobState::Completed);
    assert!(done.summary.finished_at.is_some(), "{done:?}");
    assert_eq!((done.node, done.lease_until), (None, None));
    assert_eq!(store.counts().await.unwrap().completed, 1);
    assert!(
        claim(&store, &["mail"], "node-b", LEASE).await.is_empty(),
        "a completed job never runs again"
    );

    // Pruned once past the retention, not before.
    assert_eq!(
        store.prune(Duration::from_secs(3600), 1000).await.unwrap(),
        0
    );
    tick().await;
    assert_eq!(store.prune(Duration::ZERO, 1000).await.unwrap(), 1);
    assert_eq!(store.job(id).await.unwrap(), None);
    assert_eq!(store.counts().await.unwrap(), JobCounts::default());
}

/// A store holding one job in each state; their ids, by state (in `JobState::ALL`'s order).
async fn one_of_each_state(store: &Store) -> Vec<(JobState, JobId)> {
    let later = now_millis() + 3_600_000;
    let scheduled = one(store, job("report", "s", Some(later), 3)).await;
    let [running, retrying, dead, completed, cancelled] = store
        .enqueue_ids((0..5).map(|_| job("mail", "m", None, 2)).collect())
        .await
        .unwrap()[..]
    else {
        unreachable!()
    };
    claim(store, &["mail"], "a", LEASE).await;
    let failed = |id, retry_at| Finished::Failed {
        id,
        error: format!("failed {id}"),
        retry_at,
    };
    finish_keeping(
        store,
        "a",
        vec![
            failed(retrying, Some(later)),
            failed(dead, None),
            Finished::Completed(completed),
            Finished::Cancelled(cancelled),
        ],
    )
    .await;
    let ready = one(store, job("report", "r", None, 3)).await;
    vec![
        (JobState::Scheduled, scheduled),
        (JobState::Ready, ready),
        (JobState::Running, running),
        (JobState::Retrying, retrying),
        (JobState::Dead, dead),
        (JobState::Completed, completed),
        (JobState::Cancelled, cancelled),
    ]
}

pub(crate) async fn listings_filter_by_each_state_and_task_and_page_by_id(store: Store) {
    let states = one_of_each_state(&store).await;
    for &(state, id) in &states {
        let listed = store.jobs(&JobQuery::new().state(state)).await.unwrap();
        assert_eq!(
            listed
                .iter()
                .map(|job| (job.state, job.id))
                .collect::<Vec<_>>(),
            [(state, id)],
            "{state}"
        );
    }
    let counts = store.counts().await.unwrap();
    for state in JobState::ALL {
        assert_eq!(counts.get(state), 1, "{state}: {counts:?}");
    }
    let dead = store
        .jobs(&JobQuery::new().state(JobState::Dead))
        .await
        .unwrap();
    assert_eq!(
        dead[0].last_error.as_deref(),
        Some(format!("failed {}", dead[0].id).as_str())
    );

    // Newest first, by task, a page at a time.
    let mut all: Vec<JobId> = states.iter().map(|&(_, id)| id).collect();
    all.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(
        all_jobs(&store)
            .await
            .iter()
            .map(|job| job.id)
            .collect::<Vec<_>>(),
        all
    );
    let mail = JobQuery::new().task("mail").limit(2);
    let first = store.jobs(&mail).await.unwrap();
    let second = store.jobs(&mail.clone().before(first[1].id)).await.unwrap();
    let third = store
        .jobs(&mail.clone().before(second[1].id))
        .await
        .unwrap();
    let paged: Vec<JobId> = first
        .iter()
        .chain(&second)
        .chain(&third)
        .map(|job| job.id)
        .collect();
    let mail_ids: Vec<JobId> = all_jobs(&store)
        .await
        .iter()
        .filter(|job| job.task == "mail")
        .map(|job| job.id)
        .collect();
    assert_eq!(paged, mail_ids);
    assert_eq!(third.len(), 1);
    let dead_mail = JobQuery::new().task("mail").state(JobState::Dead);
    assert_eq!(store.jobs(&dead_mail).await.unwrap().len(), 1);
    let dead_report = JobQuery::new().task("report").state(JobState::Dead);
    assert!(store.jobs(&dead_report).await.unwrap().is_empty());
    assert_eq!(store.job(JobId(i64::MAX)).await.unwrap(), None);
}

pub(crate) async fn actions_apply_only_to_the_jobs_they_make_sense_for(store: Store) {
    let states = one_of_each_state(&store).await;
    let id = |state| states.iter().find(|&&(s, _)| s == state).unwrap().1;
    let state_of = async |id| store.job(id).await.unwrap().map(|job| job.summary.state);

    // Retry: dead, cancelled and retrying jobs run now; the others are left as they are.
    for state in [
        JobState::Scheduled,
        JobState::Ready,
        JobState::Running,
        JobState::Completed,
    ] {
        assert!(!store.retry(id(state)).await.unwrap(), "{state}");
        assert_eq!(state_of(id(state)).await, Some(state));
    }
    assert!(store.retry(id(JobState::Retrying)).await.unwrap());
    let retried = store.job(id(JobState::Retrying)).await.unwrap().unwrap();
    assert_eq!(
        (retried.summary.state, retried.summary.attempts),
        (JobState::Ready, 1),
        "a retrying job keeps its attempts"
    );
    assert!(store.retry(id(JobState::Dead)).await.unwrap());
    let revived = store.job(id(JobState::Dead)).await.unwrap().unwrap();
    assert_eq!(
        (revived.summary.state, revived.summary.attempts),
        (JobState::Ready, 0),
        "a dead job gets a fresh set of attempts"
    );
    assert_eq!(revived.summary.finished_at, None);
    assert!(store.retry(id(JobState::Cancelled)).await.unwrap());
    assert_eq!(
        state_of(id(JobState::Cancelled)).await,
        Some(JobState::Ready)
    );

    // Cancel: what has not run yet is cancelled; finished jobs are left.
    assert!(store.cancel(id(JobState::Scheduled)).await.unwrap());
    assert_eq!(
        state_of(id(JobState::Scheduled)).await,
        Some(JobState::Cancelled)
    );
    assert!(!store.cancel(id(JobState::Completed)).await.unwrap());
    assert!(
        claim(&store, &["report"], "b", LEASE)
            .await
            .iter()
            .all(|job| job.id != id(JobState::Scheduled)),
        "a cancelled job is not claimed"
    );

    // Delete: anything but a running job.
    assert!(!store.delete(id(JobState::Running)).await.unwrap());
    assert!(store.delete(id(JobState::Completed)).await.unwrap());
    assert!(
        !store.delete(id(JobState::Completed)).await.unwrap(),
        "gone"
    );
    assert_eq!(state_of(id(JobState::Completed)).await, None);

    // The dead-job calls keep to dead jobs.
    assert!(!store.retry_dead(id(JobState::Ready)).await.unwrap());
    assert!(!store.delete_dead(id(JobState::Ready)).await.unwrap());
}

pub(crate) async fn a_running_job_cancelled_by_an_operator_is_told_at_its_heartbeat(store: Store) {
    let [id, other] = store
        .enqueue_ids(vec![job("mail", "1", None, 3), job("mail", "2", None, 3)])
        .await
        .unwrap()[..]
    else {
        unreachable!()
    };
    claim(&store, &["mail"], "a", LEASE).await;
    assert!(store.cancel(id).await.unwrap());
    assert!(!store.cancel(id).await.unwrap(), "asked already");
    let asked = store.job(id).await.unwrap().unwrap();
    assert_eq!(
        (asked.summary.state, asked.cancel_requested),
        (JobState::Running, true)
    );
    let leases = store
        .heartbeat("a".into(), vec![id, other], LEASE)
        .await
        .unwrap();
    assert_eq!(
        leases,
        Leases {
            lost: vec![],
            cancel: vec![id]
        }
    );
    finish(
        &store,
        "a",
        vec![Finished::Cancelled(id), Finished::Completed(other)],
    )
    .await;
    let cancelled = store.job(id).await.unwrap().unwrap();
    assert_eq!(cancelled.summary.state, JobState::Cancelled);
    assert!(cancelled.summary.finished_at.is_some());
    assert!(
        claim(&store, &["mail"], "b", LEASE).await.is_empty(),
        "not retried"
    );
}

pub(crate) async fn actions_over_a_filter_reach_every_matching_job_in_batches(store: Store) {
    // More than one batch of dead `mail` jobs, and a few of another task.
    let count = super::admin::BATCH + 200;
    store
        .enqueue_ids((0..count).map(|_| job("mail", "m", None, 1)).collect())
        .await
        .unwrap();
    store
        .enqueue_ids((0..3).map(|_| job("report", "r", None, 1)).collect())
        .await
        .unwrap();
    let claimed = store
        .claim(request(&["mail", "report"], count + 3, "a", LEASE))
        .await
        .unwrap();
    let dead = claimed
        .iter()
        .map(|job| Finished::Failed {
            id: job.id,
            error: "smtp 550".into(),
            retry_at: None,
        })
        .collect();
    finish(&store, "a", dead).await;
    assert_eq!(store.counts().await.unwrap().dead, count as u64 + 3);

    let dead_mail = JobQuery::new().state(JobState::Dead).task("mail");
    assert_eq!(store.retry_all(&dead_mail).await.unwrap(), count as u64);
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.ready, counts.dead), (count as u64, 3));
    let ready = JobQuery::new().state(JobState::Ready);
    assert_eq!(store.cancel_all(&ready).await.unwrap(), count as u64);
    assert_eq!(store.counts().await.unwrap().cancelled, count as u64);
    assert_eq!(
        store.delete_all(&JobQuery::new()).await.unwrap(),
        count as u64 + 3
    );
    assert_eq!(store.counts().await.unwrap(), JobCounts::default());
}

pub(crate) async fn a_paused_task_is_neither_claimed_nor_due_until_resumed(store: Store) {
    store
        .enqueue_ids(vec![job("mail", "1", None, 1), job("resize", "2", None, 1)])
        .await
        .unwrap();
    assert!(store.pause("mail").await.unwrap());
    assert!(!store.pause("mail").await.unwrap(), "paused already");
    assert_eq!(store.paused_tasks().await.unwrap(), ["mail"]);
    assert_eq!(store.next_due(["mail"].into()).await.unwrap(), None);
    assert_eq!(
        payloads_of(&claim(&store, &["mail", "resize"], "a", LEASE).await),
        ["2"]
    );
    assert!(store.resume("mail").await.unwrap());
    assert!(!store.resume("mail").await.unwrap(), "not paused");
    assert!(store.paused_tasks().await.unwrap().is_empty());
    assert_eq!(
        store.next_due(["mail"].into()).await.unwrap(),
        Some(Duration::ZERO)
    );
    assert_eq!(
        payloads_of(&claim(&store, &["mail"], "a", LEASE).await),
        ["1"]
    );
}

pub(crate) async fn nodes_report_themselves_and_age_out(store: Store) {
    let started_at = now_millis() - 1_000;
    let node = |id: &str, lease| NodeReport {
        id: id.into(),
        hostname: "web-1".into(),
        pid: 4242,
        started_at,
        tasks: ["mail", "resize"].into(),
        running: 3,
        lease,
    };
    store
        .report_node(node("web-1:4242:aa", LEASE))
        .await
        .unwrap();
    store
        .report_node(node("web-1:4243:bb", Duration::from_millis(300)))
        .await
        .unwrap();
    let nodes = store.nodes().await.unwrap();
    assert_eq!(
        nodes
            .iter()
            .map(|node| node.id.as_str())
            .collect::<Vec<_>>(),
        ["web-1:4242:aa", "web-1:4243:bb"]
    );
    let first = &nodes[0];
    assert_eq!(
        (first.hostname.as_str(), first.pid, first.running),
        ("web-1", 4242, 3)
    );
    assert_eq!(first.tasks, ["mail", "resize"]);
    assert_eq!(super::millis(first.started_at), started_at);
    assert!(first.heartbeat_at >= first.started_at);

    // Reporting again updates it; one that stops reporting ages out.
    let mut busier = node("web-1:4242:aa", LEASE);
    busier.running = 5;
    store.report_node(busier).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let nodes = store.nodes().await.unwrap();
    assert_eq!(
        nodes
            .iter()
            .map(|node| (node.id.as_str(), node.running))
            .collect::<Vec<_>>(),
        [("web-1:4242:aa", 5)]
    );
    store.prune(LEASE, 1000).await.unwrap();
    store.remove_node("web-1:4242:aa".into()).await.unwrap();
    assert!(store.nodes().await.unwrap().is_empty());
}

pub(crate) async fn runs_that_ended_are_counted_by_minute_and_jobs_by_task(store: Store) {
    let ids = store
        .enqueue_ids((0..4).map(|_| job("mail", "m", None, 2)).collect())
        .await
        .unwrap();
    one(&store, job("report", "r", None, 1)).await;
    claim(&store, &["mail"], "a", LEASE).await;
    let failed = |id, retry_at| Finished::Failed {
        id,
        error: "x".into(),
        retry_at,
    };
    finish(
        &store,
        "a",
        vec![
            Finished::Completed(ids[0]),
            Finished::Completed(ids[1]),
            failed(ids[2], Some(now_millis() + 60_000)),
            failed(ids[3], None),
        ],
    )
    .await;

    // Two nodes' tallies, of this minute and of two hours ago (past what is shown), added twice.
    let minute = now_millis().div_euclid(60_000) * 60_000;
    let tally = |minute, task, completed, failed| super::MinuteTally {
        minute,
        task,
        completed,
        failed,
    };
    for node in ["a", "b"] {
        for _ in 0..2 {
            store
                .count_minutes(
                    node.into(),
                    vec![
                        tally(minute, "mail", 2, 1),
                        tally(minute, "report", 1, 0),
                        tally(minute - 7_200_000, "mail", 100, 100),
                    ],
                )
                .await
                .unwrap();
        }
    }
    let minutes = store.finished_per_minute().await.unwrap();
    assert_eq!(minutes.len(), 60);
    assert!(
        minutes
            .windows(2)
            .all(|pair| pair[0].minute < pair[1].minute)
    );
    assert_eq!(super::millis(minutes[59].minute), minute);
    assert_eq!((minutes[59].completed, minutes[59].failed), (12, 4));
    assert!(
        minutes[..59]
            .iter()
            .all(|counts| counts.completed == 0 && counts.failed == 0)
    );
    // Pruning drops the minutes older than the hour shown.
    store.prune(LEASE, 1000).await.unwrap();
    store
        .count_minutes("a".into(), vec![tally(minute - 7_200_000, "mail", 0, 0)])
        .await
        .unwrap();

    let by_task = store.counts_by_task().await.unwrap();
    assert_eq!(
        by_task
            .iter()
            .map(|task| (task.task.as_str(), task.counts))
            .collect::<Vec<_>>(),
        [
            (
                "mail",
                JobCounts {
                    scheduled: 1,
                    retrying: 1,
                    dead: 1,
                    ..JobCounts::default()
                }
            ),
            (
                "report",
                JobCounts {
                    ready: 1,
                    ..JobCounts::default()
                }
            ),
        ]
    );
}

/// Ticks `ticks` of schedule `report`, each job's payload naming its tick.
fn fire_of(ticks: &[i64]) -> Fire {
    Fire {
        name: "report",
        expression: "* * * * * *",
        timezone: "UTC",
        ticks: ticks
            .iter()
            .map(|tick| {
                (
                    *tick,
                    job("report", &format!("{{\"tick\":{tick}}}"), None, 1),
                )
            })
            .collect(),
    }
}

/// The payloads of every job, oldest first.
async fn payloads(store: &Store) -> Vec<String> {
    let mut jobs = all_jobs(store).await;
    jobs.reverse();
    let mut payloads = Vec::new();
    for summary in jobs {
        let detail = store.job(summary.id).await.unwrap().unwrap();
        payloads.push(detail.arguments);
    }
    payloads
}

pub(crate) async fn a_tick_is_fired_once_by_the_first_writer_only(store: Store) {
    assert_eq!(store.last_tick_millis("report").await.unwrap(), None);
    assert!(
        store.fire(fire_of(&[1_000])).await.unwrap(),
        "the first tick"
    );
    assert!(
        !store.fire(fire_of(&[1_000])).await.unwrap(),
        "the same tick again"
    );
    assert_eq!(store.last_tick_millis("report").await.unwrap(), Some(1_000));
    // Two ticks at once (a backfill): both or neither.
    assert!(store.fire(fire_of(&[2_000, 3_000])).await.unwrap());
    assert!(
        !store.fire(fire_of(&[2_000])).await.unwrap(),
        "an earlier tick"
    );
    assert!(
        !store.fire(fire_of(&[3_000, 4_000])).await.unwrap(),
        "overlapping a fired one"
    );
    assert_eq!(store.last_tick_millis("report").await.unwrap(), Some(3_000));
    assert_eq!(
        payloads(&store).await,
        [r#"{"tick":1000}"#, r#"{"tick":2000}"#, r#"{"tick":3000}"#]
    );
    assert_eq!(
        store.last_tick_millis("other").await.unwrap(),
        None,
        "schedules are apart"
    );
}

pub(crate) async fn nodes_firing_one_tick_at_once_enqueue_it_once(store: Store) {
    for tick in [10_000, 11_000, 12_000] {
        let nodes: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.fire(fire_of(&[tick])).await.unwrap() })
            })
            .collect();
        let mut won = 0;
        for node in nodes {
            won += usize::from(node.await.unwrap());
        }
        assert_eq!(won, 1, "tick {tick}: one node fires it");
    }
    assert_eq!(payloads(&store).await.len(), 3, "a job per tick");
}

/// A job of task `feed` with `payload`, unique by key `key`.
fn unique(key: &str, payload: &str, for_millis: Option<i64>, replace: bool) -> NewJob {
    NewJob {
        unique: Some(UniqueKey {
            key: key.into(),
            for_millis,
            replace,
        }),
        ..job("feed", payload, None, 2)
    }
}

/// Enqueues one job.
async fn enqueue_one(store: &Store, job: NewJob) -> Enqueued {
    store.enqueue(vec![job]).await.unwrap()[0]
}

/// The stored arguments of job `id`.
async fn payload_of(store: &Store, id: JobId) -> String {
    store.job(id).await.unwrap().unwrap().arguments
}

pub(crate) async fn a_unique_job_holds_its_key_while_it_is_live(store: Store) {
    let Enqueued::New(first) = enqueue_one(&store, unique("k", "1", None, false)).await else {
        panic!("the first job of a key is new");
    };
    assert_eq!(
        enqueue_one(&store, unique("k", "2", None, false)).await,
        Enqueued::Duplicate(first)
    );
    assert_eq!(
        payload_of(&store, first).await,
        "1",
        "a duplicate changes nothing"
    );
    assert!(
        enqueue_one(&store, unique("other", "3", None, false))
            .await
            .is_new()
    );
    // A batch with a duplicate in it: each job's own answer, in order.
    let batch = store
        .enqueue(vec![
            job("feed", "plain", None, 1),
            unique("k", "4", None, false),
        ])
        .await
        .unwrap();
    assert!(batch[0].is_new());
    assert_eq!(batch[1], Enqueued::Duplicate(first));
    // Retrying keeps the key; dead lets it go.
    let mine = store
        .claim(request(&["feed"], 1, "a", LEASE))
        .await
        .unwrap();
    assert_eq!(ids_of(&mine), [first]);
    let retry_at = Some(now_millis());
    let failed = |id| Finished::Failed {
        id,
        error: "no".into(),
        retry_at,
    };
    finish(&store, "a", vec![failed(first)]).await;
    assert_eq!(
        enqueue_one(&store, unique("k", "5", None, false)).await,
        Enqueued::Duplicate(first),
        "a retrying job holds its key"
    );
    tick().await;
    let again = store
        .claim(request(&["feed"], 10, "a", LEASE))
        .await
        .unwrap();
    assert!(ids_of(&again).contains(&first));
    finish(&store, "a", vec![failed(first)]).await; // its second and last attempt: dead
    assert!(
        enqueue_one(&store, unique("k", "6", None, false))
            .await
            .is_new(),
        "a dead job lets its key go"
    );
}

pub(crate) async fn unique_for_keeps_the_key_after_the_job_finished(store: Store) {
    // Long enough for the steps before the first check on a loaded machine (300 ms was not,
    // beside a build on two cores).
    const UNIQUE_FOR: i64 = 3_000;
    let first = enqueue_one(&store, unique("k", "1", Some(UNIQUE_FOR), false))
        .await
        .id();
    claim(&store, &["feed"], "a", LEASE).await;
    finish_keeping(&store, "a", vec![Finished::Completed(first)]).await;
    assert_eq!(
        enqueue_one(&store, unique("k", "2", Some(UNIQUE_FOR), false)).await,
        Enqueued::Duplicate(first),
        "completed, but within unique_for"
    );
    // Pruning leaves a finished job whose key is still taken (once the store's clock has
    // passed its finish, so that a retention of zero would take it otherwise).
    tick().await;
    assert_eq!(store.prune(Duration::ZERO, 1000).await.unwrap(), 0);
    assert!(store.job(first).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(UNIQUE_FOR as u64 + 100)).await;
    let second = enqueue_one(&store, unique("k", "3", Some(UNIQUE_FOR), false)).await;
    assert!(second.is_new(), "unique_for is over: {second:?}");
    // Without unique_for, a completed job lets its key go at once.
    let third = enqueue_one(&store, unique("j", "1", None, false))
        .await
        .id();
    claim(&store, &["feed"], "a", LEASE).await;
    finish_keeping(&store, "a", vec![Finished::Completed(third)]).await;
    assert!(
        enqueue_one(&store, unique("j", "2", None, false))
            .await
            .is_new()
    );
}

pub(crate) async fn replace_takes_over_a_pending_job_and_waits_behind_a_running_one(store: Store) {
    let first = enqueue_one(&store, unique("k", "1", None, true)).await.id();
    assert_eq!(
        enqueue_one(&store, unique("k", "2", None, true)).await,
        Enqueued::Duplicate(first)
    );
    assert_eq!(
        payload_of(&store, first).await,
        "2",
        "the pending job took the new arguments"
    );
    assert_eq!(ids_of(&claim(&store, &["feed"], "a", LEASE).await), [first]);
    // Running: it is left alone, and the new job waits behind it.
    let Enqueued::New(second) = enqueue_one(&store, unique("k", "3", None, true)).await else {
        panic!("a job behind the running one");
    };
    assert_eq!(
        payload_of(&store, first).await,
        "2",
        "the running job is left alone"
    );
    assert!(
        claim(&store, &["feed"], "b", LEASE).await.is_empty(),
        "it waits while the first runs"
    );
    // A further enqueue replaces the waiting one's arguments.
    assert_eq!(
        enqueue_one(&store, unique("k", "4", None, true)).await,
        Enqueued::Duplicate(second)
    );
    finish_keeping(&store, "a", vec![Finished::Completed(first)]).await;
    let next = claim(&store, &["feed"], "b", LEASE).await;
    assert_eq!(ids_of(&next), [second]);
    assert_eq!(payloads_of(&next), ["4"]);
}

pub(crate) async fn enqueues_of_one_key_at_once_store_one_job(store: Store) {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(64));
    let callers: Vec<_> = (0..64)
        .map(|n| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                enqueue_one(&store, unique("k", &n.to_string(), None, false)).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for caller in callers {
        answers.push(caller.await.unwrap());
    }
    assert_eq!(
        answers.iter().filter(|answer| answer.is_new()).count(),
        1,
        "{answers:?}"
    );
    let id = answers[0].id();
    assert!(
        answers.iter().all(|answer| answer.id() == id),
        "{answers:?}"
    );
    assert_eq!(all_jobs(&store).await.len(), 1);
}
