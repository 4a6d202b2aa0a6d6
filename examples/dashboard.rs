//! The operator's dashboard on a working app: the `durable` example's sign-up, with two more
//! durable tasks that fail the way real ones do, and qbwi's dashboard nested at `/qbwi`.
//!
//! ```text
//! cargo run --example dashboard
//! open http://127.0.0.1:3002/qbwi      # the overview: jobs by state, runs per minute
//! curl -i localhost:3002/signup -d email=ada@example.com              # 202: mail + CRM sync
//! curl -i localhost:3002/signup -d email=bounce@example.invalid       # the CRM sync goes dead
//! curl localhost:3002/stats            # the host's counters, and the store's jobs by state
//! ```
//!
//! A fresh store gets a handful of demo jobs at start, so that every page has something to show:
//! four sign-ups (a welcome mail and a CRM sync each), an invoice to render, a search reindex that
//! runs for a minute, and a weekly digest due in an hour. Within ten seconds the overview counts
//! them completed, dead (after a few seconds of retrying), running and scheduled:
//!
//! - `sync_to_crm` pushes the new contact to a CRM (a fake one in this process): it answers
//!   `503` to the first call for an address at `example.net` (the job retries, then completes)
//!   and rejects every address at `example.invalid` (the job goes dead after its retries);
//! - `render_invoice` always fails, as a missing font does, and goes dead after 2 retries;
//! - `reindex_search` takes a minute (it stops at once on Ctrl-C, and goes back to the store);
//! - `send_digest` is scheduled an hour ahead.
//!
//! On the dashboard: filter the jobs by state (`dead`), open a dead job to read its error, and
//! press Retry (or Delete); pause a task on the Tasks page; see this process on the Nodes page.
//!
//! # Who may see it
//!
//! Without settings, the dashboard answers this machine only (loopback peers: the server hands
//! it each peer's address), with full access; the example listens on 127.0.0.1 anyway. Behind a
//! reverse proxy on the same machine every request comes from loopback, so give it credentials
//! before putting it behind one:
//!
//! ```text
//! DASHBOARD_PASSWORD=s3cret cargo run --example dashboard          # basic auth, user `admin`
//! DASHBOARD_TOKEN=t0ken cargo run --example dashboard              # Authorization: Bearer
//! curl -H 'authorization: Bearer t0ken' localhost:3002/qbwi/api/overview
//! ```
//!
//! Ctrl-C (or SIGTERM) stops the server and drains the host as `durable` does: the runs in flight
//! are cancelled and go back to the store, and the next start runs them.
//!
//! Environment:
//! - `PORT`: the port to listen on, on 127.0.0.1 (default 3002; 0 picks a free one);
//! - `QBWI_DB`: the SQLite file that keeps the jobs (default `./qbwi-dashboard.db`);
//! - `DASHBOARD_PASSWORD` (with `DASHBOARD_USER`, default `admin`): HTTP basic authentication;
//!   `DASHBOARD_TOKEN`: a bearer token instead (not both);
//! - `OUTBOX_DIR`, `SMTP_URL`: where the welcome mails go, as in `web_app`;
//! - `RUST_LOG`: what is logged, as in every example (default `info`).
//!
//! The mail and the request handling it shares with `web_app` and `durable` are in `common/`.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Redirect;
use axum::routing::{get, post};
use axum::{Json, Router};
use lettre::Address;
use qbwi::background_task;
use qbwi::dashboard::Dashboard;
use qbwi::{CancellationToken, Host, JobId, JobState, QueueError, ShutdownReport, State, Store};
use serde_json::{Value, json};

#[path = "common/mod.rs"]
mod common;

use common::mail::{MailError, Mailer};
use common::web::{ApiError, Signup};
use common::{AppError, env_var, port_from_env, shutdown_signal};

/// How long the runs in flight get to finish once the server has stopped; those still running
/// then go back to the store.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// The port to listen on when `PORT` is not set (`web_app` takes 3000, `durable` 3001).
const DEFAULT_PORT: u16 = 3002;

/// The SQLite file when `QBWI_DB` is not set.
const DEFAULT_DB: &str = "qbwi-dashboard.db";

/// Where the dashboard is mounted.
const MOUNT: &str = "/qbwi";

fn main() -> ExitCode {
    common::main(run)
}

/// Opens the store, starts the host, queues the demo jobs into a fresh store, serves the app and
/// its dashboard until Ctrl-C or SIGTERM, then drains the host.
#[tokio::main]
async fn run() -> Result<(), AppError> {
    let port = port_from_env(DEFAULT_PORT)?;
    let access = DashboardAccess::from_env()?;
    let mailer = Mailer::from_env().await?;
    // Listening for the signals before serving makes a failure to do so a startup error.
    let signal = shutdown_signal()?;

    let path = env_var("QBWI_DB")?.unwrap_or_else(|| DEFAULT_DB.to_owned());
    let store = Store::sqlite(&path)?;
    tracing::info!(store = %store.describe(), "durable jobs are kept in the store");
    let host = Host::builder()
        .state(mailer)
        .state(Crm::default())
        .store(store.clone())
        .shutdown_timeout(SHUTDOWN_TIMEOUT)
        .start()?;
    queue_demo_jobs(&store).await?;

    let dashboard = access.apply(Dashboard::new(&host));
    let app = Router::new()
        .route("/", get(usage))
        .route("/signup", post(signup))
        .route("/stats", get(common::web::stats))
        .with_state(host.clone())
        .nest(MOUNT, dashboard.router())
        // The overview is at `/qbwi` itself (axum's `nest`); send `/qbwi/` there too.
        .route(
            &format!("{MOUNT}/"),
            get(|| async { Redirect::permanent(MOUNT) }),
        );
    tracing::info!("the dashboard is at {MOUNT} ({})", access.describe());
    let served = common::web::serve(app, port, signal).await;

    tracing::info!(timeout = ?SHUTDOWN_TIMEOUT, "server stopped: draining the background tasks");
    log_report(&host.shutdown().await);
    served
}

/// Sends the welcome mail to `to`, as the `durable` example does.
#[background_task(durable, retries = 5, retry_delay = "1s", timeout = "60s")]
async fn send_welcome(
    to: Address,
    mailer: State<Mailer>,
    ct: CancellationToken,
) -> Result<(), MailError> {
    mailer.send_welcome_mail(to, &ct).await?;
    tracing::info!("welcome mail sent");
    Ok(())
}

/// Adds the new contact to the CRM; retried twice, 2 s and 4 s apart, then dead.
#[background_task(durable, retries = 2, retry_delay = "2s", timeout = "30s")]
async fn sync_to_crm(email: String, crm: State<Crm>) -> Result<(), CrmError> {
    crm.upsert_contact(&email)?;
    tracing::info!("contact synced to the CRM");
    Ok(())
}

/// Renders an order's invoice as a PDF. It always fails here, as it does on a server where the
/// template's font was never installed: dead after 2 retries.
#[background_task(durable, retries = 2, retry_delay = "1s")]
async fn render_invoice(order: u32) -> Result<(), String> {
    Err(format!(
        "cannot render invoice #{order}: the template invoice.html uses the font \
         `Inter-Regular.ttf`, which is not in assets/fonts/ (wkhtmltopdf exited with status 1)"
    ))
}

/// Rebuilds the search index, one batch a second: a job that stays running for a while. A
/// shutdown stops it between two batches; it then goes back to the store.
#[background_task(durable, retries = 1, timeout = "5m")]
async fn reindex_search(batches: u32, ct: CancellationToken) -> Result<(), String> {
    for batch in 1..=batches {
        tokio::select! {
            _ = ct.cancelled() => return Err(format!("stopped at batch {batch} of {batches}: shutting down")),
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    tracing::info!(batches, "search index rebuilt");
    Ok(())
}

/// Sends the weekly digest (queued an hour ahead: a scheduled job).
#[background_task(durable)]
async fn send_digest(audience: String) {
    tracing::info!(%audience, "weekly digest sent");
}

/// The sign-ups, invoice, reindex and digest that a fresh store starts with; nothing if the store
/// already has jobs (from an earlier run).
async fn queue_demo_jobs(store: &Store) -> Result<(), AppError> {
    let counts = store.counts().await?;
    let jobs: u64 = JobState::ALL
        .into_iter()
        .map(|state| counts.get(state))
        .sum();
    if jobs > 0 {
        tracing::info!(
            jobs,
            "the store has jobs from an earlier run: no demo jobs queued"
        );
        return Ok(());
    }
    for email in [
        "ada@example.com",
        "grace@example.com",
        "linus@example.net",
        "bounce@example.invalid",
    ] {
        let to: Address = email.parse()?;
        sign_up(to).await?;
    }
    render_invoice::enqueue(1042).await?;
    reindex_search::enqueue(60).await?;
    send_digest::enqueue_after(Duration::from_secs(3600), "subscribers".to_owned()).await?;
    tracing::info!("demo jobs queued: see them on the dashboard");
    Ok(())
}

/// Stores the welcome mail's job and the CRM sync's, each committed when this returns.
async fn sign_up(to: Address) -> Result<(JobId, JobId), QueueError> {
    let email = to.to_string();
    let mail = send_welcome::enqueue(to).await?;
    let crm = sync_to_crm::enqueue(email).await?;
    Ok((mail, crm))
}

/// `GET /`: how to use the app.
async fn usage() -> String {
    format!(
        "POST /signup with {{\"email\": \"...\"}} (JSON) or email=... (form); the dashboard is at \
         {MOUNT}\n"
    )
}

/// `POST /signup`: validates the address, stores the welcome mail's and the CRM sync's jobs and
/// answers `202 Accepted` with their ids (`503` with the reason if the store cannot take them).
async fn signup(signup: Signup) -> Result<(StatusCode, Json<Value>), ApiError> {
    let to = signup.address()?;
    let (mail, crm) = sign_up(to)
        .await
        .map_err(|error| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string()))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "job_id": mail.as_i64(), "crm_job_id": crm.as_i64() })),
    ))
}

/// A stand-in for a CRM's HTTP API, shared by the `sync_to_crm` runs (`State<Crm>`): it
/// counts the calls for each address to fail the way a real one does.
#[derive(Default)]
struct Crm {
    /// How many times each address was sent.
    calls: Mutex<HashMap<String, u32>>,
}

impl Crm {
    /// Adds or updates the contact `email`: `503` on the first call for an address at
    /// `example.net` (a busy server), `422` for every address at `example.invalid`.
    fn upsert_contact(&self, email: &str) -> Result<(), CrmError> {
        let calls = {
            let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
            let count = calls.entry(email.to_owned()).or_default();
            *count += 1;
            *count
        };
        let domain = email.rsplit('@').next().unwrap_or_default();
        match domain {
            "example.invalid" => Err(CrmError::Rejected {
                status: 422,
                body: format!(
                    r#"{{"error":"invalid_contact","detail":"the domain {domain} does not receive mail"}}"#
                ),
            }),
            "example.net" if calls == 1 => Err(CrmError::Unavailable { retry_after: 2 }),
            _ => Ok(()),
        }
    }
}

/// Why a contact did not reach the CRM.
#[derive(Debug, thiserror::Error)]
enum CrmError {
    /// The CRM refused the contact: retrying will not help.
    #[error("POST /v3/contacts: the CRM answered {status}: {body}")]
    Rejected { status: u16, body: String },
    /// The CRM is busy: a retry will get through.
    #[error(
        "POST /v3/contacts: the CRM answered 503 Service Unavailable (Retry-After: {retry_after})"
    )]
    Unavailable { retry_after: u32 },
}

/// Who may use the dashboard, from the environment.
enum DashboardAccess {
    /// Loopback peers only (no credentials configured).
    Loopback,
    /// HTTP basic authentication (`DASHBOARD_USER`, `DASHBOARD_PASSWORD`).
    Basic { user: String, password: String },
    /// `Authorization: Bearer` (`DASHBOARD_TOKEN`).
    Bearer(String),
}

impl DashboardAccess {
    /// `DASHBOARD_PASSWORD` (and `DASHBOARD_USER`), or `DASHBOARD_TOKEN`, or neither.
    fn from_env() -> Result<DashboardAccess, AppError> {
        match (env_var("DASHBOARD_PASSWORD")?, env_var("DASHBOARD_TOKEN")?) {
            (Some(_), Some(_)) => Err("set DASHBOARD_PASSWORD (basic auth) or DASHBOARD_TOKEN \
                                       (a bearer token), not both"
                .into()),
            (Some(password), None) => Ok(DashboardAccess::Basic {
                user: env_var("DASHBOARD_USER")?.unwrap_or_else(|| "admin".to_owned()),
                password,
            }),
            (None, Some(token)) => Ok(DashboardAccess::Bearer(token)),
            (None, None) => Ok(DashboardAccess::Loopback),
        }
    }

    /// `dashboard` with these credentials.
    fn apply(&self, dashboard: Dashboard) -> Dashboard {
        match self {
            DashboardAccess::Loopback => dashboard,
            DashboardAccess::Basic { user, password } => dashboard.basic_auth(user, password),
            DashboardAccess::Bearer(token) => dashboard.bearer_token(token),
        }
    }

    /// For the log (never the secret).
    fn describe(&self) -> String {
        match self {
            DashboardAccess::Loopback => {
                "no credentials configured: it answers this machine only".to_owned()
            }
            DashboardAccess::Basic { user, .. } => format!("basic auth as `{user}`"),
            DashboardAccess::Bearer(_) => "bearer token (DASHBOARD_TOKEN)".to_owned(),
        }
    }
}

/// Logs how the host's runs ended.
fn log_report(report: &ShutdownReport) {
    if report.requeued > 0 {
        tracing::info!(
            %report,
            "shutdown report: the jobs still running went back to the store; the next start \
             runs them"
        );
    } else {
        tracing::info!(%report, "shutdown report");
    }
}
