//! What each URL does. Every request goes through [`guard`] (access, then the security headers);
//! pages set the CSRF cookie when the browser has none; writes check the token; `/api/..` answers
//! the same as JSON.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{OriginalUri, Path, Query, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::Markup;
use serde_json::{Value, json};

use super::access::{self, Access};
use super::pages::{self, Frame};
use super::{Settings, assets, csrf};
use crate::{JobId, JobQuery, JobState, Store, StoreError};

type Shared = Arc<Settings>;

/// The dashboard's routes.
pub(super) fn router(settings: Shared) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/jobs", get(jobs))
        .route("/jobs/{id}", get(job))
        .route("/jobs/{id}/{action}", post(act))
        .route("/jobs/bulk/{action}", post(act_on_all))
        .route("/tasks", get(tasks))
        .route("/tasks/{name}/{action}", post(pause))
        .route("/nodes", get(nodes))
        .route("/api/overview", get(api_overview))
        .route("/api/jobs", get(api_jobs))
        .route("/api/jobs/{id}", get(api_job))
        .merge(super::prometheus::routes())
        .route(
            "/assets/qbwi.css",
            get(|| async { ([(CONTENT_TYPE, "text/css; charset=utf-8")], assets::CSS) }),
        )
        .route(
            "/assets/qbwi.js",
            get(|| async {
                (
                    [(CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    assets::JS,
                )
            }),
        )
        .layer(middleware::from_fn_with_state(settings.clone(), guard))
        .with_state(settings)
}

/// What a request was allowed, for the handlers.
#[derive(Debug, Clone, Copy)]
struct Allowed(Access);

/// Checks access (and refuses writes to read-only access), then adds the security headers to
/// whatever the answer is.
async fn guard(State(settings): State<Shared>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let mut response = match access::check(&settings, &parts) {
        Err(refused) => *refused,
        Ok(access) => {
            if parts.method != axum::http::Method::GET && access != Access::Full {
                (
                    StatusCode::FORBIDDEN,
                    "the qbwi dashboard is read-only here",
                )
                    .into_response()
            } else {
                let mut request = Request::from_parts(parts, body);
                request.extensions_mut().insert(Allowed(access));
                next.run(request).await
            }
        }
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; \
             form-action 'self'",
        ),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Where the dashboard is mounted (`/qbwi`, or empty at the root): the original path without the
/// part the router saw (its overview, at the mount point itself, is seen as `/`).
fn base(original: &Uri, seen: &Uri) -> String {
    let full = original.path();
    let base = match full.strip_suffix(seen.path()) {
        Some(base) => base,
        None if seen.path() == "/" => full,
        None => "",
    };
    base.trim_end_matches('/').to_owned()
}

/// A page, with the CSRF cookie set if the browser had none.
struct Page {
    headers: HeaderMap,
    original: Uri,
    seen: Uri,
    access: Access,
}

impl Page {
    fn render(
        self,
        title: &str,
        current: &str,
        body: impl FnOnce(&Frame<'_>) -> Markup,
    ) -> Response {
        let (token, fresh) = match csrf::of_request(&self.headers) {
            Some(token) => (token, false),
            None => (csrf::new_token(), true),
        };
        let base = base(&self.original, &self.seen);
        let frame = Frame {
            base: &base,
            csrf: &token,
            can_act: self.access == Access::Full,
        };
        let inner = body(&frame);
        let mut response = pages::page(&frame, title, current, inner).into_response();
        if fresh && let Ok(cookie) = HeaderValue::from_str(&csrf::cookie(&token)) {
            response.headers_mut().insert(SET_COOKIE, cookie);
        }
        response
    }
}

/// The parts every page handler takes.
macro_rules! page {
    ($headers:ident, $original:ident, $uri:ident, $allowed:ident) => {
        Page {
            headers: $headers,
            original: $original.0,
            seen: $uri,
            access: $allowed.0,
        }
    };
}

/// The store, or the answer that says there is none.
fn store(settings: &Settings) -> Result<&Store, Box<Response>> {
    settings.store.as_ref().ok_or_else(|| {
        Box::new(
            (
                StatusCode::NOT_FOUND,
                "this host has no store: durable jobs need `HostBuilder::store`",
            )
                .into_response(),
        )
    })
}

/// A store error as a response.
fn failed(error: StoreError) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response()
}

/// The job query of `?state=..&task=..&before=..&limit=..`.
fn query_of(params: &HashMap<String, String>) -> Result<JobQuery, Box<Response>> {
    let mut query = JobQuery::new();
    if let Some(state) = params.get("state").filter(|state| !state.is_empty()) {
        let state: JobState = state.parse().map_err(|error: crate::ParseJobStateError| {
            (StatusCode::BAD_REQUEST, error.to_string()).into_response()
        })?;
        query = query.state(state);
    }
    if let Some(task) = params.get("task").filter(|task| !task.is_empty()) {
        query = query.task(task.clone());
    }
    if let Some(before) = params.get("before").and_then(|before| before.parse().ok()) {
        query = query.before(JobId::from_i64(before));
    }
    if let Some(limit) = params.get("limit").and_then(|limit| limit.parse().ok()) {
        query = query.limit(limit);
    }
    Ok(query)
}

async fn overview(
    State(settings): State<Shared>,
    headers: HeaderMap,
    original: OriginalUri,
    uri: Uri,
    axum::Extension(allowed): axum::Extension<Allowed>,
) -> Response {
    let (counts, minutes) = match &settings.store {
        Some(store) => match (store.counts().await, store.finished_per_minute().await) {
            (Ok(counts), Ok(minutes)) => (Some(counts), minutes),
            (Err(error), _) | (_, Err(error)) => return failed(error),
        },
        None => (None, Vec::new()),
    };
    let stats = settings.host.as_ref().map(crate::Host::stats);
    page!(headers, original, uri, allowed).render("Overview", "/", |frame| {
        pages::overview(frame, counts.as_ref(), &minutes, stats)
    })
}

async fn jobs(
    State(settings): State<Shared>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    original: OriginalUri,
    uri: Uri,
    axum::Extension(allowed): axum::Extension<Allowed>,
) -> Response {
    let store = match store(&settings) {
        Ok(store) => store,
        Err(response) => return *response,
    };
    let query = match query_of(&params) {
        Ok(query) => query,
        Err(response) => return *response,
    };
    match store.jobs(&query).await {
        Ok(jobs) => page!(headers, original, uri, allowed)
            .render("Jobs", "/jobs", |frame| pages::jobs(frame, &query, &jobs)),
        Err(error) => failed(error),
    }
}

async fn job(
    State(settings): State<Shared>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    original: OriginalUri,
    uri: Uri,
    axum::Extension(allowed): axum::Extension<Allowed>,
) -> Response {
    let store = match store(&settings) {
        Ok(store) => store,
        Err(response) => return *response,
    };
    match store.job(JobId::from_i64(id)).await {
        Ok(Some(job)) => {
            page!(headers, original, uri, allowed).render(&format!("Job {id}"), "/jobs", |frame| {
                pages::job(frame, &job, settings.show_arguments)
            })
        }
        Ok(None) => (StatusCode::NOT_FOUND, format!("no job {id}")).into_response(),
        Err(error) => failed(error),
    }
}

async fn tasks(
    State(settings): State<Shared>,
    headers: HeaderMap,
    original: OriginalUri,
    uri: Uri,
    axum::Extension(allowed): axum::Extension<Allowed>,
) -> Response {
    let paused = match &settings.store {
        Some(store) => match store.paused_tasks().await {
            Ok(paused) => paused,
            Err(error) => return failed(error),
        },
        None => Vec::new(),
    };
    page!(headers, original, uri, allowed)
        .render("Tasks", "/tasks", |frame| pages::tasks(frame, &paused))
}

async fn nodes(
    State(settings): State<Shared>,
    headers: HeaderMap,
    original: OriginalUri,
    uri: Uri,
    axum::Extension(allowed): axum::Extension<Allowed>,
) -> Response {
    let store = match store(&settings) {
        Ok(store) => store,
        Err(response) => return *response,
    };
    match store.nodes().await {
        Ok(nodes) => page!(headers, original, uri, allowed)
            .render("Nodes", "/nodes", |_| pages::nodes(&nodes)),
        Err(error) => failed(error),
    }
}

/// The `csrf` field of a write's form (`application/x-www-form-urlencoded`); the token is hex, so
/// it needs no decoding.
fn form_token(body: &[u8]) -> Option<&str> {
    std::str::from_utf8(body)
        .ok()?
        .split('&')
        .find_map(|field| field.strip_prefix("csrf="))
}

/// Back to the page the write came from (or `to`), as browsers do after a form.
fn back(headers: &HeaderMap, to: String) -> Response {
    let _ = headers;
    (StatusCode::SEE_OTHER, [(LOCATION, to)]).into_response()
}

/// 403 for a write without the page's token.
fn forged() -> Response {
    (
        StatusCode::FORBIDDEN,
        "this write does not carry the dashboard page's CSRF token: reload the page and try again",
    )
        .into_response()
}

async fn act(
    State(settings): State<Shared>,
    Path((id, action)): Path<(i64, String)>,
    headers: HeaderMap,
    original: OriginalUri,
    uri: Uri,
    body: axum::body::Bytes,
) -> Response {
    if !csrf::verified(&headers, form_token(&body)) {
        return forged();
    }
    let store = match store(&settings) {
        Ok(store) => store,
        Err(response) => return *response,
    };
    let id = JobId::from_i64(id);
    let done = match action.as_str() {
        "retry" => store.retry(id).await,
        "delete" => store.delete(id).await,
        "cancel" => store.cancel(id).await,
        _ => {
            return (
                StatusCode::NOT_FOUND,
                "no such action: retry, delete or cancel",
            )
                .into_response();
        }
    };
    let base = base(&original.0, &uri);
    match done {
        Ok(_) if action == "delete" => back(&headers, format!("{base}/jobs")),
        Ok(_) => back(&headers, format!("{base}/jobs/{id}")),
        Err(error) => failed(error),
    }
}

async fn act_on_all(
    State(settings): State<Shared>,
    Path(action): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    original: OriginalUri,
    uri: Uri,
    body: axum::body::Bytes,
) -> Response {
    if !csrf::verified(&headers, form_token(&body)) {
        return forged();
    }
    let store = match store(&settings) {
        Ok(store) => store,
        Err(response) => return *response,
    };
    let query = match query_of(&params) {
        Ok(query) => query,
        Err(response) => return *response,
    };
    let done = match action.as_str() {
        "retry" => store.retry_all(&query).await,
        "delete" => store.delete_all(&query).await,
        "cancel" => store.cancel_all(&query).await,
        _ => {
            return (
                StatusCode::NOT_FOUND,
                "no such action: retry, delete or cancel",
            )
                .into_response();
        }
    };
    let base = base(&original.0, &uri)
        .trim_end_matches("/jobs/bulk")
        .to_owned();
    match done {
        Ok(_) => back(&headers, format!("{base}/jobs")),
        Err(error) => failed(error),
    }
}

async fn pause(
    State(settings): State<Shared>,
    Path((name, action)): Path<(String, String)>,
    headers: HeaderMap,
    original: OriginalUri,
    uri: Uri,
    body: axum::body::Bytes,
) -> Response {
    if !csrf::verified(&headers, form_token(&body)) {
        return forged();
    }
    let store = match store(&settings) {
        Ok(store) => store,
        Err(response) => return *response,
    };
    let done = match action.as_str() {
        "pause" => store.pause(&name).await,
        "resume" => store.resume(&name).await,
        _ => return (StatusCode::NOT_FOUND, "no such action: pause or resume").into_response(),
    };
    match done {
        Ok(_) => back(&headers, format!("{}/tasks", base(&original.0, &uri))),
        Err(error) => failed(error),
    }
}

async fn api_overview(State(settings): State<Shared>) -> Response {
    let mut overview = json!({});
    if let Some(host) = &settings.host {
        let stats = host.stats();
        overview["host"] = json!({
            "queued": stats.queued, "running": stats.running, "completed": stats.completed,
            "failed": stats.failed, "panicked": stats.panicked, "timed_out": stats.timed_out,
        });
    }
    if let Some(store) = &settings.store {
        match store.counts().await {
            Ok(counts) => {
                let states: serde_json::Map<String, Value> = JobState::ALL
                    .into_iter()
                    .map(|state| (state.to_string(), json!(counts.get(state))))
                    .collect();
                overview["jobs"] = Value::Object(states);
            }
            Err(error) => return failed(error),
        }
    }
    axum::Json(overview).into_response()
}

/// A job of a listing, as JSON.
fn summary(job: &crate::JobSummary) -> Value {
    let millis = |time| crate::store::millis(time);
    json!({
        "id": job.id.as_i64(), "task": job.task, "state": job.state.to_string(),
        "attempts": job.attempts, "max_attempts": job.max_attempts,
        "created_at_ms": millis(job.created_at), "run_at_ms": millis(job.run_at),
        "finished_at_ms": job.finished_at.map(millis), "last_error": job.last_error,
    })
}

async fn api_jobs(
    State(settings): State<Shared>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let store = match store(&settings) {
        Ok(store) => store,
        Err(response) => return *response,
    };
    let query = match query_of(&params) {
        Ok(query) => query,
        Err(response) => return *response,
    };
    match store.jobs(&query).await {
        Ok(jobs) => axum::Json(jobs.iter().map(summary).collect::<Vec<_>>()).into_response(),
        Err(error) => failed(error),
    }
}

async fn api_job(State(settings): State<Shared>, Path(id): Path<i64>) -> Response {
    let store = match store(&settings) {
        Ok(store) => store,
        Err(response) => return *response,
    };
    match store.job(JobId::from_i64(id)).await {
        Ok(Some(job)) => {
            let mut value = summary(&job.summary);
            value["node"] = json!(job.node);
            value["cancel_requested"] = json!(job.cancel_requested);
            if settings.show_arguments {
                value["arguments"] = serde_json::from_str(&job.arguments)
                    .unwrap_or(Value::String(job.arguments.clone()));
            }
            axum::Json(value).into_response()
        }
        Ok(None) => (StatusCode::NOT_FOUND, format!("no job {id}")).into_response(),
        Err(error) => failed(error),
    }
}
