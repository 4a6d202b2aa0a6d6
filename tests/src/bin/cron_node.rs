//! A node for the scheduling tests (`tests/cron_nodes.rs`): a host on the store given as its one
//! argument (a SQLite path, or a `postgres://` URL) that runs a durable task scheduled every
//! second, with a backfill of a minute, until SIGTERM. It prints `ready` once its host runs.

use std::process::ExitCode;
use std::time::Duration;

use qbwi::{Host, Store, Tick, background_task};

/// Every second; ticks missed while no node ran, up to a minute back, run when one starts.
#[background_task(durable, cron = "* * * * * *", backfill = "1m", retries = 0)]
async fn every_second(tick: Tick) {
    let _ = tick;
}

#[tokio::main]
async fn main() -> ExitCode {
    let Some(target) = std::env::args().nth(1) else {
        eprintln!("usage: cron_node <sqlite path | postgres:// url>");
        return ExitCode::FAILURE;
    };
    let store = if target.starts_with("postgres") {
        Store::postgres(target.as_str()).await
    } else {
        Store::sqlite(&target)
    };
    let store = match store {
        Ok(store) => store,
        Err(error) => {
            eprintln!("cron_node: {error}");
            return ExitCode::FAILURE;
        }
    };
    // A short lease, so that the jobs of a node killed mid-run run again within the test.
    let host = match Host::builder()
        .store(store)
        .lease(Duration::from_secs(2))
        .start()
    {
        Ok(host) => host,
        Err(error) => {
            eprintln!("cron_node: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("ready");
    host.run_until_signal().await;
    ExitCode::SUCCESS
}
