//! What each URL does. Every request goes through [`guard`] (access, then the security headers);
//! pages set the CSRF cookie when the browser has none; writes check the token; `/api/..` answers
//! the same as JSON.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Path, Query, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
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
        .route("/api/tasks", get(api_tasks))
        .route("/api/nodes", get(api_nodes))
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

/// What a page handler takes from the request: the CSRF cookie, where the dashboard is mounted
/// and what access [`guard`] granted. Rendered, it sets the CSRF cookie if the browser had none.
struct Page {
    headers: HeaderMap,
    base: String,
    access: Access,
}

impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Page, Refusal> {
        Ok(Page {
            headers: parts.headers.clone(),
            base: mount(parts),
            access: allowed(parts)?,
        })
    }
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
        let frame = Frame {
            base: &self.base,
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

/// Where the dashboard is mounted, for this request (see [`base`]).
fn mount(parts: &Parts) -> String {
    match parts.extensions.get::<OriginalUri>() {
        Some(original) => base(&original.0, &parts.uri),
        None => base(&parts.uri, &parts.uri),
    }
}

/// The access [`guard`] granted this request.
fn allowed(parts: &Parts) -> Result<Access, Refusal> {
    match parts.extensions.get::<Allowed>() {
        Some(Allowed(access)) => Ok(*access),
        None => Err(Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the dashboard's access check did not run: mount `Dashboard::router()` as it is",
        )),
    }
}

/// A write the dashboard accepts: it proved it came from a dashboard page (its CSRF token, in
/// header `x-qbwi-csrf` or form field `csrf`, matches the page's cookie), and there is a store to
/// act on. [`guard`] has already refused writes to read-only access.
struct Write {
    store: Store,
    /// Where the dashboard is mounted: the redirect after the write goes under it.
    base: String,
}

impl FromRequest<Shared> for Write {
    type Rejection = Refusal;

    async fn from_request(request: Request, settings: &Shared) -> Result<Write, Refusal> {
        let (parts, body) = request.into_parts();
        let base = mount(&parts);
        let headers = parts.headers.clone();
        let body = Bytes::from_request(Request::from_parts(parts, body), settings)
            .await
            .map_err(|rejection| Refusal(Box::new(rejection.into_response())))?;
        if !csrf::verified(&headers, form_token(&body)) {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "this write does not carry the dashboard page's CSRF token: reload the page and \
                 try again",
            ));
        }
        Ok(Write {
            store: store(settings)?.clone(),
            base,
        })
    }
}

/// Why a handler answers with an error instead of its page: boxed, so that handlers' results
/// stay small.
struct Refusal(Box<Response>);

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal(Box::new((status, message.into()).into_response()))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// A store error: the store is unreachable or broken, for now.
impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Refusal {
        Refusal::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
    }
}

/// What a handler answers.
type Answer = Result<Response, Refusal>;

/// The store, or the answer that says there is none.
fn store(settings: &Settings) -> Result<&Store, Refusal> {
    settings.store.as_ref().ok_or_else(|| {
        Refusal::new(
            StatusCode::NOT_FOUND,
            "this host has no store: durable jobs need `HostBuilder::store`",
        )
    })
}

/// 404 for an action the route does not know.
fn no_such_action(known: &str) -> Refusal {
    Refusal::new(StatusCode::NOT_FOUND, format!("no such action: {known}"))
}

/// The job query of `?state=..&task=..&before=..&limit=..`.
fn query_of(params: &HashMap<String, String>) -> Result<JobQuery, Refusal> {
    let mut query = JobQuery::new();
    if let Some(state) = params.get("state").filter(|state| !state.is_empty()) {
        let state: JobState = state.parse().map_err(|error: crate::ParseJobStateError| {
            Refusal::new(StatusCode::BAD_REQUEST, error.to_string())
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

async fn overview(State(settings): State<Shared>, page: Page) -> Answer {
    let (counts, minutes) = match &settings.store {
        Some(store) => {
            let read = settings.counts.of(store).await?;
            (Some(read.counts), read.minutes)
        }
        None => (None, Vec::new()),
    };
    let stats = settings.host.as_ref().map(crate::Host::stats);
    Ok(page.render("Overview", "/", |frame| {
        pages::overview(frame, counts.as_ref(), &minutes, stats)
    }))
}

async fn jobs(
    State(settings): State<Shared>,
    Query(params): Query<HashMap<String, String>>,
    page: Page,
) -> Answer {
    let query = query_of(&params)?;
    let jobs = store(&settings)?.jobs(&query).await?;
    Ok(page.render("Jobs", "/jobs", |frame| pages::jobs(frame, &query, &jobs)))
}

async fn job(State(settings): State<Shared>, Path(id): Path<i64>, page: Page) -> Answer {
    let job = store(&settings)?
        .job(JobId::from_i64(id))
        .await?
        .ok_or_else(|| Refusal::new(StatusCode::NOT_FOUND, format!("no job {id}")))?;
    Ok(page.render(&format!("Job {id}"), "/jobs", |frame| {
        pages::job(frame, &job, settings.show_arguments)
    }))
}

async fn tasks(State(settings): State<Shared>, page: Page) -> Answer {
    let paused = match &settings.store {
        Some(store) => store.paused_tasks().await?,
        None => Vec::new(),
    };
    let last_ticks = last_ticks(&settings).await?;
    Ok(page.render("Tasks", "/tasks", |frame| {
        pages::tasks(frame, &paused, &last_ticks)
    }))
}

async fn nodes(State(settings): State<Shared>, page: Page) -> Answer {
    let nodes = store(&settings)?.nodes().await?;
    Ok(page.render("Nodes", "/nodes", |_| pages::nodes(&nodes)))
}

/// The `csrf` field of a write's form (`application/x-www-form-urlencoded`); the token is hex, so
/// it needs no decoding.
fn form_token(body: &[u8]) -> Option<&str> {
    std::str::from_utf8(body)
        .ok()?
        .split('&')
        .find_map(|field| field.strip_prefix("csrf="))
}

/// After a write, to the page `to`, as browsers expect after a form.
fn see(to: String) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to)]).into_response()
}

async fn act(Path((id, action)): Path<(i64, String)>, write: Write) -> Answer {
    let store = &write.store;
    let id = JobId::from_i64(id);
    match action.as_str() {
        "retry" => store.retry(id).await?,
        "delete" => store.delete(id).await?,
        "cancel" => store.cancel(id).await?,
        _ => return Err(no_such_action("retry, delete or cancel")),
    };
    let base = write.base;
    Ok(if action == "delete" {
        see(format!("{base}/jobs"))
    } else {
        see(format!("{base}/jobs/{id}"))
    })
}

async fn act_on_all(
    Path(action): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    write: Write,
) -> Answer {
    let store = &write.store;
    let query = query_of(&params)?;
    match action.as_str() {
        "retry" => store.retry_all(&query).await?,
        "delete" => store.delete_all(&query).await?,
        "cancel" => store.cancel_all(&query).await?,
        _ => return Err(no_such_action("retry, delete or cancel")),
    };
    Ok(see(format!(
        "{}/jobs",
        write.base.trim_end_matches("/jobs/bulk")
    )))
}

async fn pause(Path((name, action)): Path<(String, String)>, write: Write) -> Answer {
    let store = &write.store;
    match action.as_str() {
        "pause" => store.pause(&name).await?,
        "resume" => store.resume(&name).await?,
        _ => return Err(no_such_action("pause or resume")),
    };
    Ok(see(format!("{}/tasks", write.base)))
}

/// A time as milliseconds since the Unix epoch, for scripts.
fn millis(at: std::time::SystemTime) -> i64 {
    crate::store::millis(at)
}

async fn api_overview(State(settings): State<Shared>) -> Answer {
    let mut overview = json!({});
    if let Some(host) = &settings.host {
        let stats = host.stats();
        overview["host"] = json!({
            "queued": stats.queued, "running": stats.running, "completed": stats.completed,
            "failed": stats.failed, "panicked": stats.panicked, "timed_out": stats.timed_out,
        });
    }
    if let Some(store) = &settings.store {
        let read = settings.counts.of(store).await?;
        overview["jobs"] = by_state(&read.counts);
        overview["per_minute"] = read
            .minutes
            .iter()
            .map(|minute| {
                json!({
                    "minute_ms": millis(minute.minute),
                    "completed": minute.completed, "failed": minute.failed,
                })
            })
            .collect();
    }
    Ok(axum::Json(overview).into_response())
}

/// Counts by state, as a JSON object keyed by the states' names.
fn by_state(counts: &crate::JobCounts) -> Value {
    JobState::ALL
        .into_iter()
        .map(|state| (state.to_string(), json!(counts.get(state))))
        .collect::<serde_json::Map<String, Value>>()
        .into()
}

/// A job of a listing, as JSON.
fn summary(job: &crate::JobSummary) -> Value {
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
) -> Answer {
    let query = query_of(&params)?;
    let jobs = store(&settings)?.jobs(&query).await?;
    Ok(axum::Json(jobs.iter().map(summary).collect::<Vec<_>>()).into_response())
}

async fn api_job(State(settings): State<Shared>, Path(id): Path<i64>) -> Answer {
    let job = store(&settings)?
        .job(JobId::from_i64(id))
        .await?
        .ok_or_else(|| Refusal::new(StatusCode::NOT_FOUND, format!("no job {id}")))?;
    let mut value = summary(&job.summary);
    value["started_at_ms"] = json!(job.started_at.map(millis));
    value["node"] = json!(job.node);
    value["lease_until_ms"] = json!(job.lease_until.map(millis));
    value["cancel_requested"] = json!(job.cancel_requested);
    if settings.show_arguments {
        value["arguments"] =
            serde_json::from_str(&job.arguments).unwrap_or(Value::String(job.arguments.clone()));
    }
    Ok(axum::Json(value).into_response())
}

/// When each scheduled durable task's last tick was due, of those that fired (the store keeps
/// them; an in-memory schedule's ticks are each process's own).
async fn last_ticks(
    settings: &Settings,
) -> Result<Vec<(&'static str, std::time::SystemTime)>, Refusal> {
    let Some(store) = &settings.store else {
        return Ok(Vec::new());
    };
    let mut ticks = Vec::new();
    for task in crate::registry().filter(|task| task.durable && task.schedule().is_some()) {
        if let Some(last) = store.last_tick(task.name).await? {
            ticks.push((task.name, last));
        }
    }
    Ok(ticks)
}

/// The registry's tasks, each with its place in the source and whether it is paused.
async fn api_tasks(State(settings): State<Shared>) -> Answer {
    let paused = match &settings.store {
        Some(store) => store.paused_tasks().await?,
        None => Vec::new(),
    };
    let counts = match &settings.store {
        Some(store) => store.counts_by_task().await?,
        None => Vec::new(),
    };
    let last_ticks = last_ticks(&settings).await?;
    let now = std::time::SystemTime::now();
    let mut tasks: Vec<&crate::TaskInfo> = crate::registry().collect();
    tasks.sort_by_key(|task| task.name);
    let tasks: Vec<Value> = tasks
        .into_iter()
        .map(|task| {
            let mut value = json!({
                "name": task.name, "file": task.file, "line": task.line,
                "durable": task.durable, "blocking": task.blocking,
                "paused": paused.iter().any(|name| name == task.name),
                "timeout_ms": task.options().timeout.map(|timeout| timeout.as_millis() as u64),
                "concurrency": task.options().concurrency,
                "retries": task.retry_policy().map(|policy| policy.retries()),
                "options": pages::options(task),
            });
            if let Some(schedule) = task.schedule() {
                let last = last_ticks.iter().find(|(name, _)| *name == task.name);
                value["schedule"] = json!({
                    "expression": schedule.expression, "timezone": schedule.timezone,
                    "backfill_ms": schedule.backfill.map(|window| window.as_millis() as u64),
                    "last_tick_ms": last.map(|(_, at)| millis(*at)),
                    "next_tick_ms": schedule.next_after(now).map(millis),
                });
            }
            if let Some(counts) = counts.iter().find(|counts| counts.task == task.name) {
                value["jobs"] = by_state(&counts.counts);
            }
            value
        })
        .collect();
    Ok(axum::Json(tasks).into_response())
}

/// The hosts running the store's jobs.
async fn api_nodes(State(settings): State<Shared>) -> Answer {
    let nodes: Vec<Value> = store(&settings)?
        .nodes()
        .await?
        .iter()
        .map(|node| {
            json!({
                "id": node.id, "hostname": node.hostname, "pid": node.pid,
                "started_at_ms": millis(node.started_at),
                "heartbeat_at_ms": millis(node.heartbeat_at),
                "tasks": node.tasks, "running": node.running,
            })
        })
        .collect();
    Ok(axum::Json(nodes).into_response())
}
