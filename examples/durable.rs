//! The `web_app` example's sign-up with the welcome mail made durable: the job is stored before
//! the request is answered, so killing the process (a crash, an OOM kill, `kill -9`) loses no
//! mail. The next start, or another instance on the same database, sends what was left.
//!
//! The jobs are kept in SQLite (`./qbwi.db`) by default, in PostgreSQL when `DATABASE_URL` is set.
//! Mails go to `./outbox/` as `.eml` files, or to `SMTP_URL`, as in `web_app`.
//!
//! ```text
//! cargo run --example durable
//! curl -i localhost:3001/signup -H 'content-type: application/json' -d '{"email": "ada@example.com"}'
//! curl -i localhost:3001/signup -d email=grace@example.com     # 202 {"job_id": 2}: stored
//! curl localhost:3001/stats          # the host's counters, and the store's jobs by state
//! ls outbox/
//! ```
//!
//! # Kill it mid-send, start it again: every mail arrives
//!
//! Make each send slow (`SEND_DELAY_MS`) so that the kill lands while mails are on their way, and
//! the lease short (`QBWI_LEASE_MS`) so that the restart takes over the dead process's jobs after
//! 3 s instead of qbwi's default 30 s. `kill -9 $!` hits the app itself: on Unix, `cargo run`
//! replaces its own process with the program it built, so `$!` is the app's process id.
//!
//! ```text
//! cargo build --example durable                                # compile first, not in the race
//! rm -rf qbwi.db* outbox/                                      # a clean slate
//! SEND_DELAY_MS=2000 QBWI_LEASE_MS=3000 cargo run -q --example durable &
//! until curl -s localhost:3001/ >/dev/null; do sleep 0.2; done # until it listens
//! for i in $(seq 1 20); do curl -s localhost:3001/signup -d email=user$i@example.com; echo; done
//! sleep 3; kill -9 $!             # no shutdown, no report: 4 mails sent, 4 mid-send, 12 waiting
//! ls outbox/ | wc -l              # 4 (or so)
//! SEND_DELAY_MS=2000 QBWI_LEASE_MS=3000 cargo run -q --example durable
//! #   "jobs left by an earlier run" ready=0 running=16: claimed by the dead process; they run
//! #   again once its leases expire, 3 s after the kill
//! ls outbox/ | wc -l              # 20 after about 10 s (21 if a mail was written just before
//!                                 # the kill, but not yet marked done: at least once)
//! ```
//!
//! Ctrl-C (or SIGTERM) instead of `kill -9` is the graceful path: the server stops, the mails in
//! flight are cancelled and handed back to the store at once (the report's `requeued` count),
//! without waiting for a lease, and without using one of their retries.
//!
//! With PostgreSQL, several instances share the jobs: start two on different ports with the same
//! `DATABASE_URL`, kill one, and the other sends its mails once their lease expires.
//!
//! ```text
//! export DATABASE_URL=postgres://user:password@localhost:5432/app
//! PORT=3001 cargo run --example durable &
//! PORT=3002 cargo run --example durable &
//! ```
//!
//! Environment:
//! - `PORT`: the port to listen on, on 127.0.0.1 (default 3001; 0 picks a free one);
//! - `DATABASE_URL`: keep the jobs in this PostgreSQL database (no TLS: `sslmode=disable`
//!   or `prefer`); else in SQLite at `QBWI_DB` (default `./qbwi.db`);
//! - `OUTBOX_DIR`, `SMTP_URL`: where mails go, as in `web_app`;
//! - `RUST_LOG`: what is logged, as in every example (default `info`; `info,qbwi=debug` also
//!   shows each run queued, started and ended);
//! - demo knobs: `SEND_DELAY_MS` (each mail waits this long before it is sent; default 0) and
//!   `QBWI_LEASE_MS` (how long a claimed job is held for a process that stopped renewing it;
//!   default 30 000).
//!
//! The mail and the request handling it shares with `web_app` are in `common/`.

use std::process::ExitCode;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use lettre::Address;
use qbwi::{CancellationToken, Host, ShutdownReport, State, Store, background_task};
use serde_json::{Value, json};

#[path = "common/mod.rs"]
mod common;

use common::mail::{MailError, Mailer};
use common::web::{ApiError, Signup};
use common::{AppError, env_var, port_from_env, shutdown_signal};

/// How long the mails in flight get to finish once the server has stopped; those still running
/// then go back to the store.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// The port to listen on when `PORT` is not set (`web_app` takes 3000).
const DEFAULT_PORT: u16 = 3001;

/// The SQLite file when neither `DATABASE_URL` nor `QBWI_DB` is set.
const DEFAULT_DB: &str = "qbwi.db";

/// `SEND_DELAY_MS`: how long each send waits before talking to the transport (a demo knob that
/// stands for a slow mail server). A type of its own, so that the host can share it as a state
/// (one value per type: a bare `Duration` would say nothing of what it is for).
struct SendDelay(Duration);

fn main() -> ExitCode {
    common::main(run)
}

/// Opens the store, starts the host and the server, serves until Ctrl-C or SIGTERM, then drains
/// the host, handing the unfinished mails back to the store.
#[tokio::main]
async fn run() -> Result<(), AppError> {
    let port = port_from_env(DEFAULT_PORT)?;
    let lease = millis_from_env("QBWI_LEASE_MS")?.unwrap_or(qbwi::DEFAULT_LEASE);
    let send_delay = millis_from_env("SEND_DELAY_MS")?.unwrap_or_default();
    let mailer = Mailer::from_env().await?;
    // Listening for the signals before serving makes a failure to do so a startup error.
    let signal = shutdown_signal()?;

    let store = open_store().await?;
    log_leftovers(&store).await;
    // Every `send_welcome` run gets these two from the host; its stored job holds the address only.
    let host = Host::builder()
        .state(mailer)
        .state(SendDelay(send_delay))
        .store(store)
        .lease(lease)
        .shutdown_timeout(SHUTDOWN_TIMEOUT)
        .start()?;
    tracing::info!(?lease, ?send_delay, "host started: sending stored mails");

    let app = Router::new()
        .route("/", get(usage))
        .route("/signup", post(signup))
        .route("/stats", get(common::web::stats))
        .with_state(host.clone());
    let served = common::web::serve(app, port, signal).await;

    tracing::info!(timeout = ?SHUTDOWN_TIMEOUT, "server stopped: draining the background tasks");
    log_report(&host.shutdown().await);
    served
}

/// Sends the welcome mail to `to`, at least once: stored by `enqueue`, run by whichever host
/// claims it, retried 5 times on failure (1 s, 2 s, 4 s, .. apart), at most 4 at once (one SMTP
/// conversation each).
///
/// `to` is stored as its text and parsed back when the job runs; the mailer and the delay are not
/// stored: the host that runs the job passes its own (`State`). A shutdown cancels `ct`: the mail is then not sent, and the job goes back to the
/// store.
#[background_task(
    durable,
    retries = 5,
    retry_delay = "1s",
    timeout = "60s",
    concurrency = 4
)]
async fn send_welcome(
    to: Address,
    mailer: State<Mailer>,
    send_delay: State<SendDelay>,
    ct: CancellationToken,
) -> Result<(), MailError> {
    let SendDelay(delay) = *send_delay;
    if !delay.is_zero() {
        tokio::select! {
            _ = ct.cancelled() => return Err(MailError::Cancelled),
            _ = tokio::time::sleep(delay) => {}
        }
    }
    mailer.send_welcome_mail(to, &ct).await?;
    // Inside the task's span, which names the task and its run; the address is not logged.
    tracing::info!("welcome mail sent");
    Ok(())
}

/// `GET /`: how to use the app.
async fn usage() -> &'static str {
    "POST /signup with {\"email\": \"...\"} (JSON) or email=... (form); GET /stats\n"
}

/// `POST /signup`: validates the address, stores the welcome mail's job and answers
/// `202 Accepted` with the job's id once it is committed, before the mail is sent. If the store
/// cannot take it, the answer is `503 Service Unavailable` with the reason: the client knows that
/// nothing was stored and may try again.
async fn signup(signup: Signup) -> Result<(StatusCode, Json<Value>), ApiError> {
    let to = signup.address()?;
    let job = send_welcome::enqueue(to)
        .await
        .map_err(|error| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string()))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "job_id": job.as_i64() })),
    ))
}

/// PostgreSQL at `DATABASE_URL` if it is set, else SQLite at `QBWI_DB` (default `./qbwi.db`);
/// either way created or migrated as needed.
async fn open_store() -> Result<Store, AppError> {
    let store = match env_var("DATABASE_URL")? {
        Some(url) => Store::postgres(&url).await?,
        None => {
            let path = env_var("QBWI_DB")?.unwrap_or_else(|| DEFAULT_DB.to_owned());
            Store::sqlite(&path)?
        }
    };
    tracing::info!(store = %store.describe(), "durable jobs are kept in the store");
    Ok(store)
}

/// Logs the jobs an earlier run left in the store: the mails this start will send.
async fn log_leftovers(store: &Store) {
    match store.counts().await {
        Ok(counts) if counts.ready + counts.scheduled + counts.running > 0 => tracing::info!(
            ready = counts.ready,
            scheduled = counts.scheduled,
            running = counts.running,
            "jobs left by an earlier run: ready and scheduled ones are sent now or when due; \
             running ones were claimed by a process that may have died, and are sent once its \
             lease expires"
        ),
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "cannot count the jobs in the store"),
    }
}

/// Logs how the host's runs ended.
fn log_report(report: &ShutdownReport) {
    if report.all_completed() {
        tracing::info!(%report, "shutdown report");
    } else if report.requeued > 0 {
        tracing::info!(
            %report,
            "shutdown report: {} welcome mails went back to the store; the next start sends them",
            report.requeued
        );
    } else {
        tracing::warn!(
            %report,
            "shutdown report: some sends failed; the store retries them, or keeps them as dead"
        );
    }
}

/// An environment variable holding milliseconds, `None` when unset.
fn millis_from_env(name: &str) -> Result<Option<Duration>, AppError> {
    let Some(value) = env_var(name)? else {
        return Ok(None);
    };
    let millis = value.trim().parse::<u64>().map_err(|error| {
        format!("{name} must be a number of milliseconds, got `{value}`: {error}")
    })?;
    Ok(Some(Duration::from_millis(millis)))
}
