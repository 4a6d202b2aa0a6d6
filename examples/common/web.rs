//! The HTTP side: the body of `POST /signup` (JSON or form) and its address check, error answers
//! as `{"error": ".."}`, the host's counters for `GET /stats`, and serving until a signal.

use std::net::SocketAddr;

use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json, Router};
use lettre::Address;
use qbwi::{Host, JobState};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::AppError;

/// Serves `app` on `127.0.0.1:port` until `signal` resolves, then lets the requests in flight
/// finish (the work they queue is drained with the rest by the caller).
///
/// Each request carries its peer's address (axum's `ConnectInfo<SocketAddr>`): the `dashboard`
/// example's dashboard reads it to answer loopback peers only.
///
/// Logs `listening on http://ADDRESS` once bound (`PORT=0` picks a free port; the end-to-end
/// tests read the address from this line).
pub async fn serve(
    app: Router,
    port: u16,
    signal: impl Future<Output = &'static str> + Send + 'static,
) -> Result<(), AppError> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|error| {
            format!("cannot listen on 127.0.0.1:{port}: {error}; set PORT to a free port")
        })?;
    let address = listener.local_addr()?;
    tracing::info!("listening on http://{address}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let which = signal.await;
        tracing::info!("{which} received: the server stops accepting requests");
    })
    .await
    .map_err(|error| format!("the HTTP server failed: {error}").into())
}

/// `GET /stats`: the host's counters and, if it has a store, the store's jobs by state under
/// `store` (`503` if the store cannot be reached).
pub async fn stats(State(host): State<Host>) -> Result<Json<Value>, ApiError> {
    let mut stats = host_stats(&host);
    if let Some(store) = host.store() {
        let counts = store
            .counts()
            .await
            .map_err(|error| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string()))?;
        stats["store"] = JobState::ALL
            .into_iter()
            .map(|state| (state.to_string(), json!(counts.get(state))))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    Ok(Json(stats))
}

/// The host's counters, as a JSON object.
fn host_stats(host: &Host) -> Value {
    let stats = host.stats();
    json!({
        "accepting": host.is_accepting(),
        "queued": stats.queued,
        "running": stats.running,
        "completed": stats.completed,
        "failed": stats.failed,
        "panicked": stats.panicked,
        "timed_out": stats.timed_out,
        "abandoned": stats.abandoned,
        "not_started": stats.not_started,
    })
}

/// The body of `POST /signup`.
#[derive(Debug, Deserialize)]
struct SignupForm {
    /// The address to send the welcome mail to.
    email: String,
}

/// `POST /signup`'s body, read as JSON or as a form, whichever the `Content-Type` says.
pub struct Signup(SignupForm);

impl Signup {
    /// The address to welcome; `422 Unprocessable Entity`, saying why, when it is not one.
    pub fn address(&self) -> Result<Address, ApiError> {
        let email = self.0.email.trim();
        email.parse().map_err(|error| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("`{email}` is not a valid e-mail address: {error}"),
            )
        })
    }
}

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
pub struct ApiError {
    /// The HTTP status.
    status: StatusCode,
    /// What went wrong, for the client.
    message: String,
}

impl ApiError {
    /// An answer with `status` and `{"error": message}`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
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
