//! The durable behaviour suite: the same cases run against every store (`durable_sqlite.rs`,
//! `durable_postgres.rs`). Each case gets a fresh, empty store and builds its own hosts on it
//! (`build()`, never the process's current host), so cases do not see each other's jobs.
//!
//! Time: the stores keep wall-clock times, so these tests run in real time, with generous bounds
//! (`eventually` gives 20 s) and no assertion on how fast anything happened.

#![allow(dead_code)] // each test file uses the suite its own way

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, SystemTime};

use qbwi::{
    BackgroundTask, CancellationToken, DurableTask, Host, JobDecoder, JobEncoder, PayloadError,
    RetryPolicy, Store, TaskError, background_task,
};

#[path = "operations.rs"]
mod operations;

/// One case: an async fn of a fresh store.
pub type Case = (
    &'static str,
    fn(Store) -> Pin<Box<dyn Future<Output = ()> + Send>>,
);

/// Every case, in the order they run.
pub fn cases() -> Vec<Case> {
    vec![
        ("every_job_runs_once", |store| {
            Box::pin(every_job_runs_once(store))
        }),
        (
            "failures_retry_then_die_and_the_admin_api_handles_the_dead",
            |store| {
                Box::pin(failures_retry_then_die_and_the_admin_api_handles_the_dead(
                    store,
                ))
            },
        ),
        ("delayed_jobs_do_not_start_early", |store| {
            Box::pin(delayed_jobs_do_not_start_early(store))
        }),
        (
            "a_corrupt_payload_is_dead_at_once_and_blocks_nothing",
            |store| Box::pin(a_corrupt_payload_is_dead_at_once_and_blocks_nothing(store)),
        ),
        ("a_host_runs_only_the_tasks_it_knows", |store| {
            Box::pin(a_host_runs_only_the_tasks_it_knows(store))
        }),
        (
            "shutdown_requeues_what_still_runs_and_the_next_host_runs_it",
            |store| {
                Box::pin(shutdown_requeues_what_still_runs_and_the_next_host_runs_it(
                    store,
                ))
            },
        ),
        (
            "max_concurrency_bounds_durable_and_in_memory_tasks_together",
            |store| {
                Box::pin(max_concurrency_bounds_durable_and_in_memory_tasks_together(
                    store,
                ))
            },
        ),
        ("two_hosts_on_one_store_run_each_job_once", |store| {
            Box::pin(two_hosts_on_one_store_run_each_job_once(store))
        }),
        (
            "a_job_longer_than_its_lease_keeps_it_by_heartbeat",
            |store| Box::pin(a_job_longer_than_its_lease_keeps_it_by_heartbeat(store)),
        ),
        (
            "a_host_claims_no_more_jobs_of_a_task_than_its_concurrency",
            |store| {
                Box::pin(a_host_claims_no_more_jobs_of_a_task_than_its_concurrency(
                    store,
                ))
            },
        ),
        (
            "cancel_after_lets_runs_finish_and_claims_nothing_new",
            |store| Box::pin(cancel_after_lets_runs_finish_and_claims_nothing_new(store)),
        ),
        ("completed_jobs_are_kept_for_the_retention", |store| {
            Box::pin(operations::completed_jobs_are_kept_for_the_retention(store))
        }),
        ("an_operator_cancels_a_running_job", |store| {
            Box::pin(operations::an_operator_cancels_a_running_job(store))
        }),
        ("a_paused_task_waits_until_resumed", |store| {
            Box::pin(operations::a_paused_task_waits_until_resumed(store))
        }),
        ("a_host_is_a_node_while_it_runs", |store| {
            Box::pin(operations::a_host_is_a_node_while_it_runs(store))
        }),
    ]
}

// ---------------------------------------------------------------------------------------------
// What the tasks did, by key (each case uses keys of its own).

static RUNS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn record(key: impl Into<String>) {
    RUNS.lock().unwrap().push(key.into());
}

/// How many times each key with this prefix ran.
fn runs(prefix: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for key in RUNS
        .lock()
        .unwrap()
        .iter()
        .filter(|key| key.starts_with(prefix))
    {
        *counts.entry(key.clone()).or_default() += 1;
    }
    counts
}

fn total_runs(prefix: &str) -> usize {
    runs(prefix).values().sum()
}

/// Polls `done` until it holds, for at most 20 s.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A host on `store` that polls often (the default 1 s would only slow the tests).
fn host(store: &Store) -> Host {
    Host::builder()
        .store(store.clone())
        .poll_interval(Duration::from_millis(20))
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// The tasks.

/// Records its key.
#[background_task(durable, retries = 2, retry_delay = "10ms")]
async fn remember(key: String) {
    record(key);
}

/// Always fails: runs 1 + 2 times, then is dead.
#[background_task(durable, retries = 2, retry_delay = "10ms", backoff = "constant")]
async fn always_fails(key: String) -> Result<(), String> {
    record(key.clone());
    Err(format!("smtp refused {key}"))
}

/// Always panics: runs 1 + 1 times, then is dead.
#[background_task(durable, retries = 1, retry_delay = "10ms")]
async fn always_panics(key: String) {
    record(key);
    panic!("kaboom");
}

/// Records its key and count.
#[background_task(durable)]
async fn typed(key: String, count: u32) {
    record(format!("{key}:{count}"));
}

/// Records its key and when it ran.
#[background_task(durable)]
async fn when(key: String) {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    record(format!("{key}@{now}"));
}

/// The first run of a key never ends by itself (it ignores its token): shutdown must release it.
/// Later runs complete.
#[background_task(durable)]
async fn stubborn(key: String) {
    let first = total_runs(&key) == 0;
    record(key);
    if first {
        std::future::pending::<()>().await;
    }
}

static BUSY: AtomicUsize = AtomicUsize::new(0);
static MOST_BUSY: AtomicUsize = AtomicUsize::new(0);

async fn be_busy(key: String) {
    let now = BUSY.fetch_add(1, SeqCst) + 1;
    MOST_BUSY.fetch_max(now, SeqCst);
    tokio::time::sleep(Duration::from_millis(5)).await;
    BUSY.fetch_sub(1, SeqCst);
    record(key);
}

/// Counts how many runs overlap.
#[background_task(durable)]
async fn busy(key: String) {
    be_busy(key).await;
}

/// A job of `typed` as another build of the app might have stored it: `count` is text.
struct ForgedTyped {
    key: String,
}

impl BackgroundTask for ForgedTyped {
    const NAME: &'static str = <typed as BackgroundTask>::NAME;

    fn run(
        self,
        _token: &CancellationToken,
    ) -> impl Future<Output = Result<(), TaskError>> + Send + use<> {
        async { Ok(()) }
    }
}

impl DurableTask for ForgedTyped {
    const RETRY: RetryPolicy = RetryPolicy::DEFAULT;

    fn encode(&self, out: &mut JobEncoder) -> Result<(), PayloadError> {
        out.field("key", &self.key)?;
        out.field("count", "many")
    }

    fn decode(input: &mut JobDecoder) -> Result<Self, PayloadError> {
        Ok(ForgedTyped {
            key: input.field("key")?,
        })
    }
}

/// A task of another binary: this one never registered it.
struct Elsewhere;

impl BackgroundTask for Elsewhere {
    const NAME: &'static str = "another_binary::resize_image";

    fn run(
        self,
        _token: &CancellationToken,
    ) -> impl Future<Output = Result<(), TaskError>> + Send + use<> {
        async { Ok(()) }
    }
}

impl DurableTask for Elsewhere {
    const RETRY: RetryPolicy = RetryPolicy::DEFAULT;

    fn encode(&self, _out: &mut JobEncoder) -> Result<(), PayloadError> {
        Ok(())
    }

    fn decode(_input: &mut JobDecoder) -> Result<Self, PayloadError> {
        Ok(Elsewhere)
    }
}

// ---------------------------------------------------------------------------------------------
// The cases.

/// Jobs stored by `enqueue` (committed when it returns) and by `queue` (batched; the handle
/// awaits the commit) all run, each exactly once, and completed jobs leave the store.
pub async fn every_job_runs_once(store: Store) {
    let host = host(&store);
    for n in 0..40 {
        let id = host
            .enqueue(remember {
                key: format!("once-enqueued-{n}"),
            })
            .await
            .unwrap();
        assert!(id.as_i64() > 0);
    }
    let handles: Vec<_> = (0..40)
        .map(|n| remember::queue_on(&host, format!("once-queued-{n}")).unwrap())
        .collect();
    let mut ids = Vec::new();
    for handle in &handles {
        ids.push(handle.persisted().await.unwrap());
        assert!(handle.outcome().await.is_completed(), "stored");
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40, "one job id each");

    eventually("80 jobs ran", || total_runs("once-") >= 80).await;
    host.wait_idle().await;
    let runs = runs("once-");
    assert_eq!(runs.len(), 80);
    assert!(runs.values().all(|&count| count == 1), "{runs:?}");
    let counts = store.counts().await.unwrap();
    assert_eq!(
        (counts.ready, counts.running, counts.dead),
        (0, 0, 0),
        "{counts:?}"
    );

    let report = host.shutdown().await;
    assert_eq!(report.completed, 80, "{report}");
    assert_eq!(report.total(), 80, "{report}");
}

/// A failing job runs 1 + `retries` times, then is dead with its last error; a panic too. The
/// admin API lists the dead, retries one (fresh attempts) and deletes it.
pub async fn failures_retry_then_die_and_the_admin_api_handles_the_dead(store: Store) {
    let host = host(&store);
    host.enqueue(always_fails {
        key: "fails-a".into(),
    })
    .await
    .unwrap();
    let panicking = host
        .enqueue(always_panics {
            key: "fails-p".into(),
        })
        .await
        .unwrap();

    let dead = async || store.dead_jobs(10).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while dead().await.len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "both jobs die");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(total_runs("fails-a"), 3, "1 run + 2 retries");
    assert_eq!(total_runs("fails-p"), 2, "1 run + 1 retry");
    let dead = dead().await;
    let failed = dead
        .iter()
        .find(|job| job.task.ends_with("::always_fails"))
        .unwrap();
    assert_eq!(failed.attempts, 3);
    assert_eq!(failed.last_error, "smtp refused fails-a");
    assert!(failed.payload.contains("fails-a"), "{}", failed.payload);
    let panicked = dead.iter().find(|job| job.id == panicking).unwrap();
    assert_eq!(panicked.attempts, 2);
    assert!(
        panicked.last_error.contains("kaboom"),
        "{}",
        panicked.last_error
    );

    // Retried: three fresh attempts, then dead again.
    assert!(store.retry_dead(failed.id).await.unwrap());
    eventually("the retried job ran 3 more times", || {
        total_runs("fails-a") == 6
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while store.dead_jobs(10).await.unwrap().len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "dead again");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for job in store.dead_jobs(10).await.unwrap() {
        assert!(store.delete_dead(job.id).await.unwrap());
        assert!(!store.delete_dead(job.id).await.unwrap(), "deleted once");
    }
    assert!(store.dead_jobs(10).await.unwrap().is_empty());
    assert!(
        !store.retry_dead(failed.id).await.unwrap(),
        "nothing left to retry"
    );
    let report = host.shutdown().await;
    assert_eq!((report.failed, report.panicked), (6, 2), "{report}");
}

/// `enqueue_at` jobs do not start before their time (by the store's clock, to the millisecond).
pub async fn delayed_jobs_do_not_start_early(store: Store) {
    let host = host(&store);
    let at = SystemTime::now() + Duration::from_millis(500);
    host.enqueue_at(
        when {
            key: "delayed".into(),
        },
        at,
    )
    .await
    .unwrap();
    host.enqueue(when {
        key: "prompt".into(),
    })
    .await
    .unwrap();
    eventually("both ran", || {
        total_runs("delayed") + total_runs("prompt") == 2
    })
    .await;
    let ran_at = |prefix: &str| -> u128 {
        let key = runs(prefix).into_keys().next().unwrap();
        key.split('@').nth(1).unwrap().parse().unwrap()
    };
    let due = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    // The store's clock may be another machine's (PostgreSQL): allow it a little skew.
    assert!(
        ran_at("delayed") + 50 >= due,
        "ran {} ms early",
        due - ran_at("delayed")
    );
    assert!(
        ran_at("prompt") < ran_at("delayed"),
        "the delayed job did not hold up the other"
    );
    host.shutdown().await;
}

/// A stored job that no longer decodes is dead at once (no retries), with an error naming the
/// task and the argument; the jobs behind it run.
pub async fn a_corrupt_payload_is_dead_at_once_and_blocks_nothing(store: Store) {
    let host = host(&store);
    host.enqueue(ForgedTyped {
        key: "corrupt".into(),
    })
    .await
    .unwrap();
    host.enqueue(typed {
        key: "corrupt-good".into(),
        count: 7,
    })
    .await
    .unwrap();
    eventually("the good job ran", || total_runs("corrupt-good:7") == 1).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let dead = loop {
        let dead = store.dead_jobs(10).await.unwrap();
        if !dead.is_empty() {
            break dead;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the corrupt job dies"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(dead.len(), 1);
    assert_eq!(
        dead[0].attempts, 1,
        "no retries for a payload that cannot decode"
    );
    let error = &dead[0].last_error;
    assert!(error.contains(<typed as BackgroundTask>::NAME), "{error}");
    assert!(error.contains("`count`"), "{error}");
    assert_eq!(total_runs("corrupt:"), 0, "never ran");
    host.shutdown().await;
}

/// A job of a task this binary does not have stays in the store for a binary that has it; the
/// host runs its own jobs meanwhile.
pub async fn a_host_runs_only_the_tasks_it_knows(store: Store) {
    let host = host(&store);
    host.enqueue(Elsewhere).await.unwrap();
    host.enqueue(remember {
        key: "known".into(),
    })
    .await
    .unwrap();
    eventually("the known job ran", || total_runs("known") == 1).await;
    host.wait_idle().await;
    let counts = store.counts().await.unwrap();
    assert_eq!(
        (counts.ready, counts.running, counts.dead),
        (1, 0, 0),
        "{counts:?}"
    );
    let report = host.shutdown().await;
    assert_eq!(
        report.total(),
        1,
        "the other binary's job was never claimed: {report}"
    );
}

/// A durable job still running at the shutdown deadline goes back to the store (counted as
/// requeued, not abandoned), and the next host runs it.
pub async fn shutdown_requeues_what_still_runs_and_the_next_host_runs_it(store: Store) {
    let first = Host::builder()
        .store(store.clone())
        .poll_interval(Duration::from_millis(20))
        .shutdown_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    first
        .enqueue(stubborn {
            key: "requeue".into(),
        })
        .await
        .unwrap();
    eventually("the first run started", || total_runs("requeue") == 1).await;
    let report = first.shutdown().await;
    assert_eq!((report.requeued, report.abandoned), (1, 0), "{report}");
    assert_eq!(report.total(), 1, "{report}");
    let counts = store.counts().await.unwrap();
    assert_eq!(
        (counts.ready, counts.running),
        (1, 0),
        "back in the store: {counts:?}"
    );

    let second = host(&store);
    eventually("the next host ran it", || total_runs("requeue") == 2).await;
    second.wait_idle().await;
    let report = second.shutdown().await;
    assert_eq!((report.completed, report.requeued), (1, 0), "{report}");
    assert_eq!(store.counts().await.unwrap().ready, 0);
}

/// `max_concurrency` bounds durable jobs and in-memory tasks together.
pub async fn max_concurrency_bounds_durable_and_in_memory_tasks_together(store: Store) {
    MOST_BUSY.store(0, SeqCst);
    let host = Host::builder()
        .store(store.clone())
        .poll_interval(Duration::from_millis(20))
        .max_concurrency(3)
        .build()
        .unwrap();
    for n in 0..5 {
        host.queue_work_item(move |_token| be_busy(format!("bounded-memory-{n}")))
            .unwrap();
    }
    for n in 0..20 {
        host.enqueue(busy {
            key: format!("bounded-durable-{n}"),
        })
        .await
        .unwrap();
    }
    eventually("all 25 ran", || total_runs("bounded-") == 25).await;
    assert!(
        MOST_BUSY.load(SeqCst) <= 3,
        "{} at once",
        MOST_BUSY.load(SeqCst)
    );
    host.wait_idle().await;
    assert_eq!(host.shutdown().await.completed, 25);
}

/// Two hosts sharing one store split the jobs between them, and no job runs twice.
pub async fn two_hosts_on_one_store_run_each_job_once(store: Store) {
    let (a, b) = (host(&store), host(&store));
    for n in 0..100 {
        let host = if n % 2 == 0 { &a } else { &b };
        remember::queue_on(host, format!("shared-{n}")).unwrap();
    }
    eventually("100 jobs ran", || total_runs("shared-") >= 100).await;
    a.wait_idle().await;
    b.wait_idle().await;
    let runs = runs("shared-");
    assert_eq!(runs.len(), 100);
    assert!(runs.values().all(|&count| count == 1), "{runs:?}");
    let (a, b) = (a.shutdown().await, b.shutdown().await);
    assert_eq!(a.completed + b.completed, 100, "{a} / {b}");
}

/// Counts its runs and takes several leases' time.
#[background_task(durable)]
async fn slow(key: String) {
    record(key);
    tokio::time::sleep(Duration::from_millis(800)).await;
}

/// A run that outlasts the lease keeps its job by heartbeat: the other host never takes it.
pub async fn a_job_longer_than_its_lease_keeps_it_by_heartbeat(store: Store) {
    let short_lease = || {
        Host::builder()
            .store(store.clone())
            .lease(Duration::from_millis(150))
            .poll_interval(Duration::from_millis(10))
            .build()
            .unwrap()
    };
    let (a, b) = (short_lease(), short_lease());
    a.enqueue(slow {
        key: "lease".into(),
    })
    .await
    .unwrap();
    eventually("it started", || total_runs("lease") == 1).await;
    a.wait_idle().await;
    b.wait_idle().await;
    tokio::time::sleep(Duration::from_millis(300)).await; // two more leases' time
    assert_eq!(total_runs("lease"), 1, "ran once");
    let (a, b) = (a.shutdown().await, b.shutdown().await);
    assert_eq!(a.completed + b.completed, 1, "{a} / {b}");
}

static GATE_OPEN: AtomicBool = AtomicBool::new(false);

/// Records its key, then waits until the gate opens.
#[background_task(durable, concurrency = 4)]
async fn gated(key: String) {
    record(key);
    while !GATE_OPEN.load(SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A host claims no more jobs of a task than that task's free `concurrency`: the others stay
/// ready in the store (not leased to a host that cannot start them), so a second host takes them
/// at once.
pub async fn a_host_claims_no_more_jobs_of_a_task_than_its_concurrency(store: Store) {
    GATE_OPEN.store(false, SeqCst);
    let first = host(&store);
    for n in 0..16 {
        first
            .enqueue(gated {
                key: format!("gated-{n}"),
            })
            .await
            .unwrap();
    }
    eventually("four started", || total_runs("gated-") == 4).await;
    // Several claim passes' time (the poll interval is 20 ms): still only four leased.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let counts = store.counts().await.unwrap();
        assert_eq!(
            (counts.running, counts.ready),
            (4, 12),
            "only what the host can start is leased: {counts:?}"
        );
    }
    let second = host(&store);
    eventually("the second host started four more", || {
        total_runs("gated-") == 8
    })
    .await;
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.running, counts.ready), (8, 8), "{counts:?}");
    GATE_OPEN.store(true, SeqCst);
    eventually("all 16 ran", || total_runs("gated-") == 16).await;
    first.wait_idle().await;
    second.wait_idle().await;
    let runs = runs("gated-");
    assert!(runs.values().all(|&count| count == 1), "{runs:?}");
    let (a, b) = (first.shutdown().await, second.shutdown().await);
    assert_eq!(a.completed + b.completed, 16, "{a} / {b}");
}

/// Takes its time, and does not watch its token.
#[background_task(durable)]
async fn unhurried(key: String) {
    record(format!("{key}:started"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    record(format!("{key}:done"));
}

/// With `cancel_after`, a running durable job finishes during shutdown (completed, not
/// requeued), and the draining host claims no job added meanwhile: another host runs it.
pub async fn cancel_after_lets_runs_finish_and_claims_nothing_new(store: Store) {
    let draining = Host::builder()
        .store(store.clone())
        .poll_interval(Duration::from_millis(20))
        .cancel_after(Duration::from_secs(10))
        .shutdown_timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    draining
        .enqueue(unhurried {
            key: "grace-running".into(),
        })
        .await
        .unwrap();
    eventually("it started", || total_runs("grace-running:started") == 1).await;
    let shutdown = tokio::spawn({
        let draining = draining.clone();
        async move { draining.shutdown().await }
    });
    eventually("shutdown began", || !draining.is_accepting()).await;
    // Added while the first host drains: it must not claim it.
    let other = Host::builder()
        .store(store.clone())
        .poll_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    other
        .enqueue(unhurried {
            key: "grace-new".into(),
        })
        .await
        .unwrap();
    let report = shutdown.await.unwrap();
    assert_eq!(total_runs("grace-running:done"), 1, "finished on its own");
    assert_eq!(
        (report.completed, report.requeued, report.failed),
        (1, 0, 0),
        "{report}"
    );
    assert!(
        report.elapsed < Duration::from_secs(10),
        "shutdown ended when the run did, not at `cancel_after`: {report}"
    );
    eventually("the other host ran the new job", || {
        total_runs("grace-new:done") == 1
    })
    .await;
    other.wait_idle().await;
    assert_eq!(other.shutdown().await.completed, 1);
}

/// Runs every case on a fresh store from `fresh`, one after another, naming each.
pub async fn run_all<F, Fut>(mut fresh: F)
where
    F: FnMut(&'static str) -> Fut,
    Fut: Future<Output = Store>,
{
    for (name, case) in cases() {
        eprintln!("durable suite: {name}");
        let store = fresh(name).await;
        case(store).await;
    }
}
