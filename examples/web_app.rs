//! A sign-up endpoint that answers at once and sends the welcome mail in the background: the
//! use QBWI was made for, with axum, lettre and qbwi.
//!
//! ```text
//! cargo run --example web_app
//! curl -i localhost:3000/signup -H 'content-type: application/json' -d '{"email": "ada@example.com"}'
//! curl -i localhost:3000/signup -d email=grace@example.com
//! curl -i localhost:3000/signup -d email=not-an-address      # 422
//! curl localhost:3000/stats
//! ls outbox/                                                  # one .eml file per mail
//! ```
//!
//! Press Ctrl-C (or send SIGTERM): the server stops accepting requests, the background mails get
//! up to 10 s to finish on their own (then they are cancelled, and given 5 s more to stop), and
//! the host's shutdown report is logged. A crash loses the mails not
//! sent yet: the `durable` example is the same app with the mails stored in a database.
//!
//! Environment:
//! - `PORT`: the port to listen on, on 127.0.0.1 (default 3000; 0 picks a free one);
//! - `OUTBOX_DIR`: where mails are written as `.eml` files (default `./outbox`);
//! - `SMTP_URL`: send over SMTP instead, e.g. `smtp://127.0.0.1:2525` (plain SMTP: this example
//!   is built without TLS);
//! - `RUST_LOG`: what is logged (default `info`; `info,qbwi=debug` also shows each task queued,
//!   started and ended; `warn` only problems).
//!
//! The mail and the request handling it shares with `durable` are in `common/`.

use std::process::ExitCode;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use lettre::Address;
use qbwi::{CancellationToken, Host, QueueError, State, background_task};
use serde_json::{Value, json};

#[path = "common/mod.rs"]
mod common;

use common::mail::{MailError, Mailer};
use common::web::{ApiError, Signup};
use common::{AppError, port_from_env, shutdown_signal};

/// How long the background mails get to finish on their own once the server has stopped.
const CANCEL_AFTER: Duration = Duration::from_secs(10);

/// How long the shutdown waits in all: the mails still sending at `CANCEL_AFTER` are cancelled,
/// and abandoned at this deadline.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

/// The port to listen on when `PORT` is not set.
const DEFAULT_PORT: u16 = 3000;

fn main() -> ExitCode {
    common::main(run)
}

/// Starts the host and the server, serves until Ctrl-C or SIGTERM, then drains the host.
#[tokio::main]
async fn run() -> Result<(), AppError> {
    let port = port_from_env(DEFAULT_PORT)?;
    let mailer = Mailer::from_env().await?;
    // Listening for the signals before serving makes a failure to do so a startup error.
    let signal = shutdown_signal()?;

    // The host shares the mailer with every `send_mail` run (its `qbwi::State<Mailer>`).
    let host = Host::builder()
        .state(mailer)
        .cancel_after(CANCEL_AFTER)
        .shutdown_timeout(SHUTDOWN_TIMEOUT)
        .start()?;

    let app = Router::new()
        .route("/", get(usage))
        .route("/signup", post(signup))
        .route("/stats", get(common::web::stats))
        .with_state(host.clone());
    // On the signal, the server stops accepting and lets the requests in flight finish: the mails
    // they queue are drained below with the others.
    let served = common::web::serve(app, port, signal).await;

    tracing::info!(
        cancel_after = ?CANCEL_AFTER,
        timeout = ?SHUTDOWN_TIMEOUT,
        "server stopped: draining the background tasks"
    );
    let report = host.shutdown().await;
    if report.all_completed() {
        tracing::info!(%report, "shutdown report");
    } else {
        tracing::warn!(%report, "shutdown report: not every welcome mail was sent");
    }
    served
}

/// Sends the welcome mail to `to`: QBWI's classic background work.
///
/// The address is an owned value, parsed in the request and moved into the task; the mailer is
/// the host's, passed when the run starts (`send_mail::queue` takes the address only). A mail
/// being sent when the shutdown begins gets `CANCEL_AFTER` to finish; then `ct` is cancelled,
/// which stops the send.
#[background_task(timeout = "60s")]
async fn send_mail(
    to: Address,
    mailer: State<Mailer>,
    ct: CancellationToken,
) -> Result<(), MailError> {
    mailer.send_welcome_mail(to, &ct).await
}

/// `GET /`: how to use the app.
async fn usage() -> &'static str {
    "POST /signup with {\"email\": \"...\"} (JSON) or email=... (form); GET /stats\n"
}

/// `POST /signup`: validates the address, queues the welcome mail and answers `202 Accepted`
/// with the task's id, before the mail is sent.
async fn signup(signup: Signup) -> Result<(StatusCode, Json<Value>), ApiError> {
    let to = signup.address()?;
    // The request's data is copied into the task; nothing else of the request goes with it.
    let handle = send_mail::queue(to).map_err(|error| {
        let status = match error {
            QueueError::ShuttingDown | QueueError::Full => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, error.to_string())
    })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "task_id": handle.id().as_u64() })),
    ))
}
