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
//! up to 10 s to finish, and the host's shutdown report is logged.
//!
//! Environment:
//! - `PORT`: the port to listen on, on 127.0.0.1 (default 3000; 0 picks a free one);
//! - `OUTBOX_DIR`: where mails are written as `.eml` files (default `./outbox`);
//! - `SMTP_URL`: send over SMTP instead, e.g. `smtp://127.0.0.1:2525` (plain SMTP: this example
//!   is built without TLS).

use std::env;
use std::error::Error;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{
    Address, AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use qbwi::{CancellationToken, Host, QueueError, background_task};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// Errors that stop the app from starting or serving, with what to do about them.
type AppError = Box<dyn Error + Send + Sync>;

/// How long the background mails get to finish once the server has stopped.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// The port to listen on when `PORT` is not set.
const DEFAULT_PORT: u16 = 3000;

/// The sender of every welcome mail.
const FROM: &str = "qbwi demo <welcome@example.com>";

/// The subject of every welcome mail.
const SUBJECT: &str = "Welcome to qbwi";

/// The mail transport, chosen once at startup. Background tasks cannot borrow from the request
/// (or from `main`), so the task reaches it through this `static`.
static MAILER: OnceLock<Mailer> = OnceLock::new();

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(std::io::stdout().is_terminal())
        .init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

/// Starts the host and the server, serves until Ctrl-C or SIGTERM, then drains the host.
#[tokio::main]
async fn run() -> Result<(), AppError> {
    let port = match env_var("PORT")? {
        Some(port) => port.trim().parse::<u16>().map_err(|error| {
            format!("PORT must be a port number from 0 to 65535, got `{port}`: {error}")
        })?,
        None => DEFAULT_PORT,
    };
    let mailer = Mailer::from_env().await?;
    tracing::info!(transport = %mailer.describe(), "mail transport chosen");
    if MAILER.set(mailer).is_err() {
        return Err("the mail transport was set up twice".into());
    }
    // Listening for the signals before serving makes a failure to do so a startup error.
    let signal = shutdown_signal()
        .map_err(|error| format!("cannot listen for Ctrl-C and SIGTERM: {error}"))?;

    let host = Host::builder().shutdown_timeout(SHUTDOWN_TIMEOUT).start()?;

    let app = Router::new()
        .route("/", get(usage))
        .route("/signup", post(signup))
        .route("/stats", get(stats))
        .with_state(host.clone());
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|error| {
            format!("cannot listen on 127.0.0.1:{port}: {error}; set PORT to a free port")
        })?;
    let address = listener.local_addr()?;
    tracing::info!("listening on http://{address}");

    // On the signal, stop accepting and let the requests in flight finish: the mails they queue
    // are drained below with the others.
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let which = signal.await;
            tracing::info!("{which} received: the server stops accepting requests");
        })
        .await;

    tracing::info!(timeout = ?SHUTDOWN_TIMEOUT, "server stopped: draining the background tasks");
    let report = host.shutdown().await;
    if report.all_completed() {
        tracing::info!(%report, "shutdown report");
    } else {
        tracing::warn!(%report, "shutdown report: not every welcome mail was sent");
    }
    served.map_err(|error| format!("the HTTP server failed: {error}"))?;
    Ok(())
}

/// Where the welcome mails go.
enum Mailer {
    /// `.eml` files in a directory.
    Outbox {
        /// The directory, for the log.
        dir: PathBuf,
        /// lettre's file transport on tokio.
        transport: AsyncFileTransport<Tokio1Executor>,
    },
    /// An SMTP server, without TLS.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl Mailer {
    /// SMTP when `SMTP_URL` is set, else the outbox directory (`OUTBOX_DIR` or `./outbox`),
    /// created if missing.
    async fn from_env() -> Result<Mailer, AppError> {
        if let Some(url) = env_var("SMTP_URL")? {
            return Ok(Mailer::Smtp(smtp_transport(&url)?));
        }
        let dir = PathBuf::from(env_var("OUTBOX_DIR")?.unwrap_or_else(|| "outbox".to_owned()));
        tokio::fs::create_dir_all(&dir).await.map_err(|error| {
            format!(
                "cannot create the outbox directory `{}`: {error}; set OUTBOX_DIR to a writable \
                 directory",
                dir.display()
            )
        })?;
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        Ok(Mailer::Outbox {
            transport: AsyncFileTransport::new(&dir),
            dir,
        })
    }

    /// For the log: where mails go.
    fn describe(&self) -> String {
        match self {
            Mailer::Outbox { dir, .. } => format!(".eml files in {}", dir.display()),
            Mailer::Smtp(_) => "SMTP (SMTP_URL)".to_owned(),
        }
    }

    /// Hands the message to the transport.
    async fn send(&self, message: Message) -> Result<(), MailError> {
        match self {
            Mailer::Outbox { transport, .. } => {
                transport.send(message).await.map_err(MailError::Outbox)?;
            }
            Mailer::Smtp(transport) => {
                transport.send(message).await.map_err(MailError::Smtp)?;
            }
        }
        Ok(())
    }
}

/// Why a welcome mail was not sent. The host logs and counts it as a failed task.
#[derive(Debug, thiserror::Error)]
enum MailError {
    /// `main` did not choose a transport before queueing.
    #[error("no mail transport was set up")]
    NoTransport,
    /// The message could not be put together.
    #[error("cannot build the welcome mail: {0}")]
    Build(String),
    /// Writing the `.eml` file failed.
    #[error("cannot write the mail to the outbox: {0}")]
    Outbox(lettre::transport::file::Error),
    /// The SMTP server could not be reached or refused the mail.
    #[error("cannot send the mail over SMTP: {0}")]
    Smtp(lettre::transport::smtp::Error),
    /// The host began shutting down before the mail went out.
    #[error("not sent: the host is shutting down")]
    Cancelled,
}

/// Sends the welcome mail to `to`: QBWI's classic background work.
///
/// The address is an owned value, parsed in the request and moved into the task; the transport
/// comes from [`MAILER`]. A shutdown cancels `ct`, which stops the send at once.
#[background_task(timeout = "60s")]
async fn send_mail(to: Address, ct: CancellationToken) -> Result<(), MailError> {
    let mailer = MAILER.get().ok_or(MailError::NoTransport)?;
    let message = welcome_mail(to)?;
    tokio::select! {
        _ = ct.cancelled() => Err(MailError::Cancelled),
        sent = mailer.send(message) => sent,
    }
}

/// The welcome mail: a short text and a generated `welcome.txt` attachment.
fn welcome_mail(to: Address) -> Result<Message, MailError> {
    let from: Mailbox = FROM
        .parse()
        .map_err(|error| MailError::Build(format!("bad sender `{FROM}`: {error}")))?;
    let signed_up = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let card = format!(
        "Welcome aboard, {to}!\n\n\
         Your account was created at {signed_up} (seconds since 1970).\n\
         This file was generated by a qbwi background task after the sign-up request had \
         already been answered.\n"
    );
    Message::builder()
        .from(from)
        .to(Mailbox::new(None, to))
        .subject(SUBJECT)
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(
                    "Thanks for signing up! Your welcome card is attached.\n".to_owned(),
                ))
                .singlepart(
                    Attachment::new("welcome.txt".to_owned()).body(card, ContentType::TEXT_PLAIN),
                ),
        )
        .map_err(|error| MailError::Build(error.to_string()))
}

/// `GET /`: how to use the app.
async fn usage() -> &'static str {
    "POST /signup with {\"email\": \"...\"} (JSON) or email=... (form); GET /stats\n"
}

/// `POST /signup`: validates the address, queues the welcome mail and answers `202 Accepted`
/// with the task's id, before the mail is sent.
async fn signup(Signup(form): Signup) -> Result<(StatusCode, Json<Value>), ApiError> {
    let email = form.email.trim();
    let to: Address = email.parse().map_err(|error| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("`{email}` is not a valid e-mail address: {error}"),
        )
    })?;
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

/// `GET /stats`: the host's counters.
async fn stats(State(host): State<Host>) -> Json<Value> {
    let stats = host.stats();
    Json(json!({
        "accepting": host.is_accepting(),
        "queued": stats.queued,
        "running": stats.running,
        "completed": stats.completed,
        "failed": stats.failed,
        "panicked": stats.panicked,
        "timed_out": stats.timed_out,
        "abandoned": stats.abandoned,
        "not_started": stats.not_started,
    }))
}

/// The body of `POST /signup`.
#[derive(Debug, Deserialize)]
struct SignupForm {
    /// The address to send the welcome mail to.
    email: String,
}

/// A [`SignupForm`] read as JSON or as a form, whichever the `Content-Type` says.
struct Signup(SignupForm);

impl<S: Send + Sync> FromRequest<S> for Signup {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if mime == "application/json" || mime.ends_with("+json") {
            let Json(form) = Json::<SignupForm>::from_request(request, state)
                .await
                .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
            Ok(Signup(form))
        } else if mime == "application/x-www-form-urlencoded" {
            let Form(form) = Form::<SignupForm>::from_request(request, state)
                .await
                .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
            Ok(Signup(form))
        } else {
            Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "send `email` as JSON (Content-Type: application/json) or as a form \
                     (Content-Type: application/x-www-form-urlencoded), not as `{content_type}`"
                ),
            ))
        }
    }
}

/// An error answer: its status and `{"error": "..."}`.
#[derive(Debug)]
struct ApiError {
    /// The HTTP status.
    status: StatusCode,
    /// What went wrong, for the client.
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

/// A plain-SMTP transport for `smtp://host[:port]` (port 25 by default).
///
/// lettre's own `from_url` needs one of its TLS features, which this example leaves out to build
/// fast; a URL that asks for TLS or credentials (which must not cross the network in clear text)
/// is refused with a message that says so. The URL is not repeated in errors: it may hold a
/// password.
fn smtp_transport(url: &str) -> Result<AsyncSmtpTransport<Tokio1Executor>, AppError> {
    let usage = "SMTP_URL must look like `smtp://host:port`";
    let rest = url.trim().strip_prefix("smtp://").ok_or_else(|| {
        format!("{usage}: other schemes (such as smtps://) need TLS, which this example is built without")
    })?;
    let authority = rest.trim_end_matches('/');
    if authority.contains(['@', '?', '/']) {
        return Err(format!(
            "{usage}: credentials, paths and parameters such as `?tls=` are not supported over \
             plain SMTP"
        )
        .into());
    }
    let (host, port) = match authority.rsplit_once(':') {
        // An IPv6 address without a port, such as `[::1]`, has colons but ends with `]`.
        Some((host, port)) if !port.ends_with(']') => {
            let port = port
                .parse::<u16>()
                .map_err(|error| format!("{usage}: bad port `{port}`: {error}"))?;
            (host, port)
        }
        _ => (authority, lettre::transport::smtp::SMTP_PORT),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("{usage}: the host is missing").into());
    }
    Ok(
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(Duration::from_secs(20)))
            .build(),
    )
}

/// An environment variable, `None` when unset or empty, an error when not UTF-8.
fn env_var(name: &str) -> Result<Option<String>, AppError> {
    match env::var(name) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(env::VarError::NotPresent) => Ok(None),
        Err(env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8").into()),
    }
}

/// Resolves when Ctrl-C (SIGINT) or SIGTERM arrives, with the signal's name.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl Future<Output = &'static str> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => "Ctrl-C (SIGINT)",
            _ = terminate.recv() => "SIGTERM",
        }
    })
}

/// Resolves when Ctrl-C arrives.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl Future<Output = &'static str> + Send + 'static> {
    Ok(async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "Ctrl-C",
            Err(error) => {
                tracing::error!(%error, "cannot listen for Ctrl-C; stop the process another way");
                std::future::pending().await
            }
        }
    })
}
