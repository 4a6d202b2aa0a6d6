//! Crashes lose nothing. The test binary runs itself as the worker processes (the `worker` test,
//! which does nothing unless `QBWI_CRASH_ROLE` is set), kills them with SIGKILL in the middle of
//! their work, and checks what the journal file says: every job ran at least once, and a job ran
//! twice only when the process running it died before its completion was stored (never while its
//! lease was valid).
//!
//! - SQLite: one worker enqueues and runs N jobs and is killed; a new host in this process
//!   finishes them.
//! - PostgreSQL: two workers share the database; one is killed; the other finishes.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::time::Duration;

use qbwi::{Host, Store, background_task};

const JOBS: u64 = 120;

/// The lease the workers use: short, so that the dead worker's jobs come back quickly.
const LEASE: Duration = Duration::from_millis(1500);

/// Writes `start <n> <pid>`, works a little, writes `end <n> <pid>`.
#[background_task(durable)]
async fn crash_job(n: u64) -> Result<(), std::io::Error> {
    journal(&format!("start {n}"))?;
    tokio::time::sleep(Duration::from_millis(15)).await;
    journal(&format!("end {n}"))
}

/// Where the jobs of this process write: set once, by the worker from its environment or by the
/// test whose host finishes the jobs.
static JOURNAL: OnceLock<PathBuf> = OnceLock::new();

fn journal(line: &str) -> Result<(), std::io::Error> {
    let path = JOURNAL
        .get()
        .ok_or_else(|| std::io::Error::other("no journal"))?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // One `write` per line: appends of a few bytes are not interleaved.
    file.write_all(format!("{line} {}\n", std::process::id()).as_bytes())
}

async fn open(store: &str) -> Store {
    match store.strip_prefix("sqlite:") {
        Some(path) => Store::sqlite(path).unwrap(),
        None => Store::postgres(store).await.unwrap(),
    }
}

fn host(store: Store) -> Host {
    Host::builder()
        .store(store)
        .lease(LEASE)
        .poll_interval(Duration::from_millis(20))
        .max_concurrency(8)
        .build()
        .unwrap()
}

/// The worker process: enqueues the jobs if asked, then runs jobs until it is killed.
#[test]
fn worker() {
    let Ok(role) = std::env::var("QBWI_CRASH_ROLE") else {
        return; // a normal test run: nothing to do
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    JOURNAL
        .set(std::env::var_os("QBWI_CRASH_JOURNAL").unwrap().into())
        .unwrap();
    runtime.block_on(async {
        let store = open(&std::env::var("QBWI_CRASH_STORE").unwrap()).await;
        let host = host(store);
        if role == "enqueue" {
            for n in 0..JOBS {
                host.enqueue(crash_job { n }).await.unwrap();
            }
        }
        journal("ready").unwrap();
        std::future::pending::<()>().await;
    });
}

/// Starts this test binary as a worker process.
fn spawn_worker(role: &str, store: &str, journal: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["worker", "--exact", "--nocapture", "--test-threads=1"])
        .env("QBWI_CRASH_ROLE", role)
        .env("QBWI_CRASH_STORE", store)
        .env("QBWI_CRASH_JOURNAL", journal)
        .spawn()
        .unwrap()
}

/// Each job's runs: `(pid, ended)`.
fn read_journal(path: &Path) -> HashMap<u64, Vec<(u32, bool)>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut runs: HashMap<u64, Vec<(u32, bool)>> = HashMap::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        if let ["start", n, pid] = parts[..] {
            runs.entry(n.parse().unwrap())
                .or_default()
                .push((pid.parse().unwrap(), false));
        }
    }
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        if let ["end", n, pid] = parts[..] {
            let pid: u32 = pid.parse().unwrap();
            let run = runs
                .get_mut(&n.parse().unwrap())
                .and_then(|runs| runs.iter_mut().find(|(by, ended)| *by == pid && !ended))
                .expect("an end has a start");
            run.1 = true;
        }
    }
    runs
}

fn count_lines(path: &Path, prefix: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|line| line.starts_with(prefix))
        .count()
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether every job has a run that ended.
fn all_completed(journal: &Path) -> bool {
    let runs = read_journal(journal);
    (0..JOBS).all(|n| {
        runs.get(&n)
            .is_some_and(|runs| runs.iter().any(|run| run.1))
    })
}

/// Every job ran and completed, and a job ran more than once only if the killed process ran it.
fn check(journal: &Path, killed: u32) {
    let runs = read_journal(journal);
    let missing: Vec<u64> = (0..JOBS).filter(|n| !runs.contains_key(n)).collect();
    assert!(missing.is_empty(), "jobs lost: {missing:?}");
    for (n, runs) in &runs {
        assert!(
            runs.iter().any(|&(_, ended)| ended),
            "job {n} never completed: {runs:?}"
        );
        if runs.len() > 1 {
            // The killed process ran it (maybe to its end, but its completion was not stored
            // yet): then, and only then, another host runs it again.
            let by_killed = runs.iter().filter(|&&(pid, _)| pid == killed).count();
            assert!(
                by_killed >= runs.len() - 1,
                "job {n} ran again while its lease was valid: {runs:?}"
            );
        }
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qbwi-crash-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_sqlite_host_loses_nothing() {
    let dir = temp_dir("sqlite");
    let (db, journal) = (dir.join("qbwi.db"), dir.join("journal"));
    let store = format!("sqlite:{}", db.display());
    let mut child = spawn_worker("enqueue", &store, &journal);
    wait_for("every job is stored", || {
        count_lines(&journal, "ready") == 1
    })
    .await;
    wait_for("a third of the jobs ran", || {
        count_lines(&journal, "end") >= JOBS as usize / 3
    })
    .await;
    child.kill().unwrap(); // SIGKILL: no shutdown, no release
    child.wait().unwrap();
    let killed = child.id();
    assert!(
        count_lines(&journal, "end") < JOBS as usize,
        "killed mid-run"
    );

    JOURNAL.set(journal.clone()).unwrap();
    let host = host(Store::sqlite(&db).unwrap());
    wait_for("every job completed", || all_completed(&journal)).await;
    host.wait_idle().await;
    host.shutdown().await;
    check(&journal, killed);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_hosts_share_the_work_and_a_killed_one_loses_nothing() {
    let Some(server) = qbwi_tests::postgres::TempPostgres::start() else {
        eprintln!("skipped: PostgreSQL not found (set QBWI_REQUIRE_POSTGRES=1 to fail instead)");
        return;
    };
    let dir = temp_dir("postgres");
    let journal = dir.join("journal");
    let url = server.create_database("crash");
    // The store exists before either worker starts, so both see the schema.
    drop(Store::postgres(&url).await.unwrap());
    let mut doomed = spawn_worker("enqueue", &url, &journal);
    let mut survivor = spawn_worker("run", &url, &journal);
    wait_for("both workers are up", || {
        count_lines(&journal, "ready") == 2
    })
    .await;
    wait_for("a third of the jobs ran", || {
        count_lines(&journal, "end") >= JOBS as usize / 3
    })
    .await;
    doomed.kill().unwrap();
    doomed.wait().unwrap();
    let killed = doomed.id();
    wait_for("every job completed", || all_completed(&journal)).await;
    survivor.kill().unwrap();
    survivor.wait().unwrap();
    let runs = read_journal(&journal);
    let by = |pid: u32| runs.values().flatten().filter(|run| run.0 == pid).count();
    assert!(by(survivor.id()) > 0, "both hosts took jobs");
    check(&journal, killed);
    let _ = std::fs::remove_dir_all(&dir);
}
