//! `State<T>` arguments: the host given a value with `HostBuilder::state` passes it to every run
//! that takes it, async, blocking and durable (SQLite), as one `Arc`; a durable job stores no
//! state, and runs with the state of the host that claims it; a host missing a state that a task
//! of its binary takes does not start.
//!
//! Its own test binary: every host built in a binary must have the states of all that binary's
//! tasks, so the other test files, whose hosts have none, must not link these tasks.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qbwi::{CancellationToken, Host, HostError, Outcome, State, Store, background_task};

/// Stands for a mail transport; `label` tells the hosts' values apart.
struct Mailer {
    label: &'static str,
}

/// Stands for a settings struct.
struct Config {
    retries_label: &'static str,
}

/// One run: which task, the mailer's label, and where the mailer lives.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    task: &'static str,
    label: &'static str,
    mailer_at: usize,
}

static RUNS: Mutex<Vec<Run>> = Mutex::new(Vec::new());

fn record(task: &'static str, mailer: State<Mailer>) {
    let label = mailer.label;
    let mailer_at = Arc::as_ptr(&State::into_arc(mailer)) as usize;
    RUNS.lock().unwrap().push(Run {
        task,
        label,
        mailer_at,
    });
}

/// The runs whose mailer has this label (each test uses labels of its own).
fn runs(label: &str) -> Vec<Run> {
    let mut runs: Vec<Run> = RUNS
        .lock()
        .unwrap()
        .iter()
        .filter(|run| run.label == label)
        .cloned()
        .collect();
    runs.sort_by_key(|run| run.task);
    runs
}

#[background_task]
async fn async_task(mailer: State<Mailer>, token: CancellationToken) {
    assert!(!token.is_cancelled());
    record("async", mailer);
}

#[background_task]
fn blocking_task(email: String, mailer: State<Mailer>) {
    assert_eq!(email, "a@example.com");
    record("blocking", mailer);
}

#[background_task(durable)]
async fn durable_task(email: String, mailer: State<Mailer>, config: State<Config>) {
    assert_eq!(email, "b@example.com");
    assert_eq!(config.retries_label, "config");
    record("durable", mailer);
}

/// Fails at once and is dead: its stored job can be read back, and retried on another host.
#[background_task(durable, retries = 0)]
async fn durable_fails(email: String, mailer: State<Mailer>) -> Result<(), String> {
    record("durable_fails", mailer);
    Err(format!("{email}: refused"))
}

/// Polls `done` until it holds, for at most 20 s (the store keeps wall-clock times).
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn config() -> Config {
    Config {
        retries_label: "config",
    }
}

/// A fresh SQLite store in a directory of its own.
fn sqlite(case: &str) -> (Store, PathBuf) {
    let dir = std::env::temp_dir().join(format!("qbwi-state-{case}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    (Store::sqlite(dir.join("qbwi.db")).unwrap(), dir)
}

/// A host on `store` with a mailer labelled `label`, polling often.
fn host_with_store(store: &Store, label: &'static str) -> Host {
    Host::builder()
        .state(Mailer { label })
        .state(config())
        .store(store.clone())
        .poll_interval(Duration::from_millis(20))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_blocking_and_durable_runs_share_the_hosts_one_value() {
    let (store, dir) = sqlite("share");
    let host = host_with_store(&store, "share");
    let handles = [
        async_task::queue_on(&host).unwrap(),
        async_task::queue_on(&host).unwrap(),
        blocking_task::queue_on(&host, "a@example.com".to_owned()).unwrap(),
    ];
    for handle in handles {
        assert_eq!(handle.outcome().await, Outcome::Completed);
    }
    // The struct holds the argument only; the host passes the states.
    let task = durable_task {
        email: "b@example.com".to_owned(),
    };
    host.enqueue(task).await.unwrap();
    let committed = durable_task::queue_on(&host, "b@example.com".to_owned()).unwrap();
    assert_eq!(committed.outcome().await, Outcome::Completed);
    eventually("both durable jobs ran", || runs("share").len() == 5).await;
    host.wait_idle().await;

    let runs = runs("share");
    let tasks: Vec<&str> = runs.iter().map(|run| run.task).collect();
    assert_eq!(tasks, ["async", "async", "blocking", "durable", "durable"]);
    assert!(
        runs.iter().all(|run| run.mailer_at == runs[0].mailer_at),
        "one `Arc` for every run: {runs:#?}"
    );
    let report = host.shutdown().await;
    assert_eq!((report.failed, report.panicked), (0, 0), "{report}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_job_stores_no_state_and_runs_with_the_claiming_hosts_state() {
    let (store, dir) = sqlite("claim");
    let first = host_with_store(&store, "claim-first");
    durable_fails::queue_on(&first, "c@example.com".to_owned()).unwrap();
    eventually("the first host ran the job", || {
        !runs("claim-first").is_empty()
    })
    .await;
    first.wait_idle().await;
    first.shutdown().await;
    assert_eq!(runs("claim-first").len(), 1);

    // The stored job holds the argument only: no trace of the mailer.
    let dead = store.dead_jobs(10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:#?}");
    assert_eq!(dead[0].payload, r#"{"email":"c@example.com"}"#);
    assert_eq!(dead[0].last_error, "c@example.com: refused");

    // Retried on another host, it runs with that host's mailer.
    let second = host_with_store(&store, "claim-second");
    assert!(store.retry_dead(dead[0].id).await.unwrap());
    eventually("the second host ran the retried job", || {
        !runs("claim-second").is_empty()
    })
    .await;
    second.wait_idle().await;
    second.shutdown().await;
    assert_eq!(runs("claim-second").len(), 1);
    assert_eq!(runs("claim-first").len(), 1, "not run again by the first");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn each_host_passes_its_own_state() {
    let hosts = ["own-a", "own-b"].map(|label| {
        Host::builder()
            .state(Mailer { label })
            .state(config())
            .build()
            .unwrap()
    });
    for host in &hosts {
        for _ in 0..3 {
            let handle = async_task::queue_on(host).unwrap();
            assert_eq!(handle.outcome().await, Outcome::Completed);
        }
    }
    let (a, b) = (runs("own-a"), runs("own-b"));
    assert_eq!((a.len(), b.len()), (3, 3));
    assert!(a.iter().all(|run| run.mailer_at == a[0].mailer_at));
    assert!(b.iter().all(|run| run.mailer_at == b[0].mailer_at));
    assert_ne!(a[0].mailer_at, b[0].mailer_at);
    for host in &hosts {
        host.shutdown().await;
    }
}

#[tokio::test]
async fn a_second_state_of_one_type_replaces_the_first() {
    let host = Host::builder()
        .state(Mailer {
            label: "replaced-first",
        })
        .state(config())
        .state(Mailer {
            label: "replaced-second",
        })
        .build()
        .unwrap();
    let handle = async_task::queue_on(&host).unwrap();
    assert_eq!(handle.outcome().await, Outcome::Completed);
    assert_eq!(runs("replaced-first").len(), 0);
    assert_eq!(runs("replaced-second").len(), 1);
    host.shutdown().await;
}

#[tokio::test]
async fn a_missing_state_stops_the_host_naming_the_task_and_the_type() {
    // No `Config`: only `durable_task` takes one.
    let error = Host::builder()
        .state(Mailer { label: "missing" })
        .build()
        .unwrap_err();
    let HostError::MissingState { task, type_name } = &error else {
        panic!("expected MissingState, got {error:?}");
    };
    assert_eq!(*task, "state::durable_task");
    assert_eq!(*type_name, "state::Config");
    let message = error.to_string();
    for part in [
        "`state::durable_task`",
        "`State<state::Config>`",
        "HostBuilder::state",
    ] {
        assert!(message.contains(part), "{part} not in {message}");
    }

    // No `Mailer`: the first task by name that takes one.
    let error = Host::builder().state(config()).start().unwrap_err();
    assert_eq!(
        error,
        HostError::MissingState {
            task: "state::async_task",
            type_name: "state::Mailer",
        }
    );
    assert!(
        Host::current().is_none(),
        "a host that failed to start is not current"
    );
}

#[test]
fn the_builder_lists_its_states_by_type_not_by_value() {
    let builder = Host::builder().state(Mailer {
        label: "secret-label",
    });
    let text = format!("{:?}", builder.clone());
    assert!(text.contains("states: [\"state::Mailer\"]"), "{text}");
    assert!(!text.contains("secret-label"), "{text}");
}

#[test]
fn the_registry_lists_each_tasks_state_types() {
    let types = |name: &str| {
        let task = qbwi::registry()
            .find(|task| task.name == name)
            .unwrap_or_else(|| panic!("{name} is registered"));
        task.state_types().collect::<Vec<_>>()
    };
    assert_eq!(types("state::async_task"), ["state::Mailer"]);
    assert_eq!(
        types("state::durable_task"),
        ["state::Mailer", "state::Config"]
    );
}
