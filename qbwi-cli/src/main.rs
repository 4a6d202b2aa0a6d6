//! `qbwi`: see and steer the durable jobs of a qbwi store, from a terminal or a script, without the
//! app that runs them.
//!
//! ```text
//! qbwi --store qbwi.db status
//! qbwi --store postgres://app@db/app jobs --state dead --task app::send_mail
//! qbwi --store qbwi.db retry 42
//! qbwi --store qbwi.db --json jobs --state ready
//! ```
//!
//! This file reads the command line ([`Cli`]) and runs it; [`store`] opens the store a locator
//! names, [`commands`] does what each command says, and [`table`] prints what fits a terminal.

mod commands;
mod store;
mod table;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// See and steer the durable jobs of a qbwi store.
#[derive(Debug, Parser)]
#[command(name = "qbwi", version, about)]
struct Cli {
    /// The store: a SQLite file's path (it must exist) or a PostgreSQL connection string
    /// (`postgres://user:password@host/db`, or `host=.. user=..`).
    #[arg(long, env = "QBWI_STORE", value_name = "PATH|URL")]
    store: String,
    /// Print JSON (one document) instead of tables, for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
enum Command {
    /// Jobs by state, by task, the paused tasks and the hosts running jobs.
    Status,
    /// List jobs, newest first.
    Jobs {
        /// Only jobs in this state: scheduled, ready, running, retrying, dead, completed,
        /// cancelled.
        #[arg(long)]
        state: Option<qbwi::JobState>,
        /// Only jobs of this task (its registered name, such as `app::send_mail`).
        #[arg(long)]
        task: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only jobs older than this id: the next page after it.
        #[arg(long, value_name = "ID")]
        before: Option<i64>,
    },
    /// Show one job, with its arguments.
    Job {
        /// The job's id.
        id: i64,
    },
    /// Run a dead, cancelled or retrying job again, now.
    Retry {
        /// The job's id.
        id: i64,
    },
    /// Delete a job that is not running.
    Delete {
        /// The job's id.
        id: i64,
    },
    /// Cancel a job (a running one stops at its host's next heartbeat).
    Cancel {
        /// The job's id.
        id: i64,
    },
    /// Stop every host from starting jobs of a task, until `resume`.
    Pause {
        /// The task's registered name.
        task: String,
    },
    /// Let every host start jobs of a task again.
    Resume {
        /// The task's registered name.
        task: String,
    },
    /// Serve the dashboard for this store, without the app: read-only, to this machine only,
    /// unless `--token` is given (then anyone with the token may act).
    Dashboard {
        /// Where to listen, such as `127.0.0.1:8080`.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Requests must carry `Authorization: Bearer <TOKEN>`, and may act.
        #[arg(long, env = "QBWI_DASHBOARD_TOKEN")]
        token: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let store = match store::open(&cli.store).await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("qbwi: {error}");
            return ExitCode::from(2);
        }
    };
    match commands::run(&store, cli.command, cli.json).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("qbwi: {error}");
            ExitCode::FAILURE
        }
    }
}
