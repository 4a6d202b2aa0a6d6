//! Durable schedules across processes: nodes (`src/bin/cron_node.rs`, a task scheduled every
//! second) on one SQLite file or one PostgreSQL database. Every tick is enqueued exactly once
//! while a node is up, whichever fires first, also when a node is killed with SIGKILL midway; a
//! node that starts after an outage enqueues the missed ticks as backfills. The ticks are read
//! back from the store's history: each job's arguments hold its `Tick`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use qbwi::{JobQuery, JobState, Store};
use qbwi_tests::postgres::TempPostgres;

/// A running `cron_node` on `target`.
struct Node(Child);

impl Node {
    /// Starts a node and waits until its host runs.
    fn start(target: &str) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cron_node"))
            .arg(target)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start cron_node");
        let stdout = child.stdout.take().expect("its stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read its first line");
        assert_eq!(line.trim(), "ready", "cron_node did not start");
        Node(child)
    }

    /// SIGKILL: the node dies at once, leases and all.
    fn kill(mut self) {
        self.0.kill().expect("SIGKILL");
        self.0.wait().expect("reap");
    }

    /// SIGTERM: the node shuts down, finishing or handing back its jobs.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let status = self.0.wait().expect("reap");
        assert!(status.success(), "cron_node ended with {status}");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One tick's job: its tick (ms), whether it was a backfill, and its state.
#[derive(Debug)]
struct Fired {
    backfilled: bool,
    state: JobState,
}

/// The jobs of the scheduled task, by tick; a tick enqueued twice fails here.
async fn fired(store: &Store) -> BTreeMap<i64, Fired> {
    let mut fired = BTreeMap::new();
    let mut query = JobQuery::new().limit(500);
    loop {
        let page = store.jobs(&query).await.expect("list the jobs");
        let Some(last) = page.last() else { break };
        query = query.before(last.id);
        for summary in &page {
            let job = store.job(summary.id).await.unwrap().unwrap();
            let arguments: serde_json::Value = serde_json::from_str(&job.arguments).unwrap();
            let tick = &arguments["tick"];
            let at = tick["at_ms"].as_i64().expect("a tick");
            let previous = fired.insert(
                at,
                Fired {
                    backfilled: tick["backfilled"].as_bool().unwrap(),
                    state: summary.state,
                },
            );
            assert!(previous.is_none(), "tick {at} enqueued twice");
        }
    }
    fired
}

/// Every second from the first tick to the last is there: none missed.
fn assert_contiguous(fired: &BTreeMap<i64, Fired>) {
    let ticks: Vec<i64> = fired.keys().copied().collect();
    for pair in ticks.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            1_000,
            "ticks missing between {} and {}",
            pair[0],
            pair[1]
        );
    }
}

/// Two nodes for 10 s, one of them killed at 5 s: every tick once, and every one run.
async fn two_nodes_one_killed(target: &str, store: Store) {
    let first = Node::start(target);
    let second = Node::start(target);
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    first.kill();
    // Its jobs run again once their 2 s lease runs out.
    tokio::time::sleep(Duration::from_millis(5_000)).await;
    second.stop();
    let fired = fired(&store).await;
    assert!(fired.len() >= 9, "{} ticks in 10 s: {fired:?}", fired.len());
    assert_contiguous(&fired);
    assert!(
        fired.values().all(|job| !job.backfilled),
        "no node started after an outage"
    );
    // The survivor ran every tick's job, the killed node's included; the last may have been
    // handed back at the shutdown.
    let done = fired
        .values()
        .filter(|job| job.state == JobState::Completed)
        .count();
    assert!(
        done + 1 >= fired.len(),
        "{done} of {} ticks ran: {fired:?}",
        fired.len()
    );
}

/// A node for 3 s, 5 s without any, then a node again: the outage's ticks come as backfills.
async fn an_outage_is_backfilled(target: &str, store: Store) {
    let first = Node::start(target);
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    first.kill();
    tokio::time::sleep(Duration::from_millis(5_000)).await;
    let second = Node::start(target);
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    second.stop();
    let fired = fired(&store).await;
    assert_contiguous(&fired);
    let backfilled = fired.values().filter(|job| job.backfilled).count();
    assert!(
        (4..=7).contains(&backfilled),
        "{backfilled} backfilled ticks after a 5 s outage: {fired:?}"
    );
    // Backfills are the outage's ticks: after the first node's, before the second's own.
    let flags: Vec<bool> = fired.values().map(|job| job.backfilled).collect();
    let first_backfill = flags.iter().position(|b| *b).unwrap();
    let last_backfill = flags.iter().rposition(|b| *b).unwrap();
    assert!(
        flags[first_backfill..=last_backfill].iter().all(|b| *b),
        "{fired:?}"
    );
    assert!(
        first_backfill > 0 && last_backfill + 1 < flags.len(),
        "{fired:?}"
    );
}

fn sqlite_path(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("qbwi-cron-nodes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}.db")).display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_nodes_one_killed() {
    let path = sqlite_path("killed");
    let store = Store::sqlite(&path).unwrap();
    two_nodes_one_killed(&path, store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_an_outage_is_backfilled() {
    let path = sqlite_path("outage");
    let store = Store::sqlite(&path).unwrap();
    an_outage_is_backfilled(&path, store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_nodes_one_killed() {
    let Some(server) = TempPostgres::start() else {
        return;
    };
    let url = server.create_database("cron_killed");
    let store = Store::postgres(url.as_str()).await.unwrap();
    two_nodes_one_killed(&url, store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_outage_is_backfilled() {
    let Some(server) = TempPostgres::start() else {
        return;
    };
    let url = server.create_database("cron_outage");
    let store = Store::postgres(url.as_str()).await.unwrap();
    an_outage_is_backfilled(&url, store).await;
}
