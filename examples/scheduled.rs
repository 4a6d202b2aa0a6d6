//! Scheduled and unique durable tasks on a small blog: a nightly report declared with its
//! schedule on the task, and a debounced "rebuild the feed" job, one pending per author.
//!
//! ```text
//! cargo run --example scheduled
//! curl -i localhost:3003/posts -H 'content-type: application/json' -d '{"author": 42, "title": "Hello"}'
//! curl -i localhost:3003/posts -H 'content-type: application/json' -d '{"author": 42, "title": "Again"}'
//! curl localhost:3003/feeds/42         # 2 s later: rebuilt once, for "Again"
//! curl -i -X POST localhost:3003/reports   # run the nightly report now
//! curl localhost:3003/reports          # the reports written, and when the next one is due
//! ```
//!
//! - `nightly_report` runs at 03:00 Paris time (`cron = "0 0 3 * * *"`, `timezone =
//!   "Europe/Paris"`), on one node however many run this binary against the same store: each
//!   node tries the tick and the store lets the first one enqueue it. With `backfill = "6h"`, a
//!   node that starts after an outage runs the reports missed in the last six hours (their
//!   `Tick` says `backfilled`). It writes `reports/report-<date>.txt`.
//! - `rebuild_feed` is unique per author (`unique_by = [author]`) and replaces its pending job's
//!   arguments (`on_conflict = "replace"`): posts within the debounce window (`FEED_DEBOUNCE_MS`,
//!   default 2000) rebuild the author's feed once, for the last post. A post while the rebuild
//!   runs queues one more rebuild behind it.
//!
//! Environment:
//! - `PORT`: the port to listen on, on 127.0.0.1 (default 3003; 0 picks a free one);
//! - `QBWI_DB`: the SQLite file that keeps the jobs and the schedule (default
//!   `./qbwi-scheduled.db`);
//! - `REPORTS_DIR`: where reports go (default `./reports`);
//! - `FEED_DEBOUNCE_MS`: how long a rebuild waits for more posts (default 2000);
//! - `RUST_LOG`: what is logged, as in every example (default `info`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Path, State as Shared};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use qbwi::{CancellationToken, Host, State, Store, Tick, background_task};
use serde::Deserialize;
use serde_json::{Value, json};

// The sign-up parts of `common` are the other examples'.
#[allow(dead_code)]
#[path = "common/mod.rs"]
mod common;

use common::AppError;
use common::web::ApiError;

/// Every author's feed: how many times it was rebuilt, and why the last time. Shared by the
/// host (the tasks' `State<Feeds>`) and the HTTP handlers.
#[derive(Default, Clone)]
struct Feeds(Arc<Mutex<HashMap<u64, (u64, String)>>>);

impl Feeds {
    fn get(&self, author: u64) -> Option<(u64, String)> {
        let feeds = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        feeds.get(&author).cloned()
    }
}

/// Where reports go.
#[derive(Clone)]
struct Reports(PathBuf);

/// The night's report: how many feeds were rebuilt, written to `REPORTS_DIR`. On one node per
/// tick, whichever gets there first; missed ticks of the last six hours run when a node starts.
#[background_task(
    durable,
    cron = "0 0 3 * * *",
    timezone = "Europe/Paris",
    backfill = "6h",
    timeout = "5m"
)]
async fn nightly_report(
    tick: Tick,
    feeds: State<Feeds>,
    reports: State<Reports>,
    ct: CancellationToken,
) -> Result<(), ReportError> {
    if ct.is_cancelled() {
        return Err(ReportError::Stopped); // shutting down: retried on the next start
    }
    let rebuilds: u64 = {
        let feeds = feeds.0.lock().unwrap_or_else(PoisonError::into_inner);
        feeds.values().map(|(rebuilds, _)| rebuilds).sum()
    };
    let due = jiff::Timestamp::try_from(tick.at())
        .map_err(|error| ReportError::Time(error.to_string()))?;
    let text = format!(
        "report due {due}{}\nfeed rebuilds: {rebuilds}\n",
        if tick.backfilled() {
            " (backfilled: no node ran at the time)"
        } else {
            ""
        }
    );
    tokio::fs::create_dir_all(&reports.0).await?;
    let path = reports
        .0
        .join(format!("report-{}.txt", due.strftime("%Y-%m-%dT%H%M%S")));
    tokio::fs::write(&path, text).await?;
    tracing::info!(path = %path.display(), backfilled = tick.backfilled(), "report written");
    Ok(())
}

/// Why a report was not written.
#[derive(Debug, thiserror::Error)]
enum ReportError {
    #[error("cannot write the report: {0}")]
    Io(#[from] std::io::Error),
    #[error("the tick is out of range: {0}")]
    Time(String),
    #[error("stopped by the shutdown")]
    Stopped,
}

/// Rebuilds an author's feed, once for a burst of posts: the pending job takes the last post's
/// reason and run time.
#[background_task(durable, unique_by = [author], on_conflict = "replace", retries = 2)]
async fn rebuild_feed(author: u64, reason: String, feeds: State<Feeds>) {
    let mut feeds = feeds.0.lock().unwrap_or_else(PoisonError::into_inner);
    let feed = feeds.entry(author).or_default();
    feed.0 += 1;
    feed.1 = reason;
    tracing::info!(author, rebuilds = feed.0, reason = %feed.1, "feed rebuilt");
}

/// What the handlers share.
#[derive(Clone)]
struct App {
    host: Host,
    feeds: Feeds,
    reports: Reports,
    /// How long a rebuild waits for more posts by its author.
    debounce: Duration,
}

fn main() -> ExitCode {
    common::main(run)
}

#[tokio::main]
async fn run() -> Result<(), AppError> {
    let port = common::port_from_env(3003)?;
    let database = common::env_var("QBWI_DB")?.unwrap_or_else(|| "qbwi-scheduled.db".into());
    let reports = Reports(
        common::env_var("REPORTS_DIR")?
            .unwrap_or_else(|| "reports".into())
            .into(),
    );
    let debounce = match common::env_var("FEED_DEBOUNCE_MS")? {
        Some(ms) => Duration::from_millis(ms.parse().map_err(|error| {
            format!("FEED_DEBOUNCE_MS must be a number of milliseconds, got `{ms}`: {error}")
        })?),
        None => Duration::from_secs(2),
    };
    let store = Store::sqlite(&database)
        .map_err(|error| format!("cannot open the job store {database}: {error}"))?;
    let signal = common::shutdown_signal()?;
    let feeds = Feeds::default();
    let host = Host::builder()
        .store(store)
        .state(feeds.clone())
        .state(reports.clone())
        .start()?;
    let app = App {
        host: host.clone(),
        feeds,
        reports,
        debounce,
    };
    let router = Router::new()
        .route("/posts", post(new_post))
        .route("/feeds/{author}", get(feed))
        .route("/reports", post(run_report).get(list_reports))
        .with_state(app)
        .merge(
            Router::new()
                .route("/stats", get(common::web::stats))
                .with_state(host.clone()),
        );
    let served = common::web::serve(router, port, signal).await;
    let report = host.shutdown().await;
    tracing::info!(%report, "shutdown report (runs in flight went back to the store)");
    served
}

/// `POST /posts`'s body.
#[derive(Deserialize)]
struct Post {
    author: u64,
    title: String,
}

/// `POST /posts`: the author's feed is rebuilt after the debounce, once for all the posts that
/// came meanwhile. Answers `202` with the rebuild's job id (the same for a burst).
async fn new_post(
    Shared(app): Shared<App>,
    Json(post): Json<Post>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let reason = format!("new post: {}", post.title);
    let job = rebuild_feed::enqueue_after(app.debounce, post.author, reason)
        .await
        .map_err(unavailable)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "job_id": job.as_i64() })),
    ))
}

/// `GET /feeds/{author}`: how many times the feed was rebuilt, and why the last time.
async fn feed(Shared(app): Shared<App>, Path(author): Path<u64>) -> Result<Json<Value>, ApiError> {
    match app.feeds.get(author) {
        Some((rebuilds, reason)) => Ok(Json(json!({ "rebuilds": rebuilds, "reason": reason }))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no feed rebuilt for author {author} yet"),
        )),
    }
}

/// `POST /reports`: the nightly report now, as the schedule would run it.
async fn run_report(Shared(app): Shared<App>) -> Result<(StatusCode, Json<Value>), ApiError> {
    let job = app
        .host
        .enqueue(nightly_report { tick: Tick::now() })
        .await
        .map_err(unavailable)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "job_id": job.as_i64() })),
    ))
}

/// `GET /reports`: the reports written, the schedule, its last tick (any node's) and its next.
async fn list_reports(Shared(app): Shared<App>) -> Result<Json<Value>, ApiError> {
    let mut names = Vec::new();
    if let Ok(mut entries) = tokio::fs::read_dir(&app.reports.0).await {
        while let Ok(Some(entry)) = entries.next_entry().await {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    let name = <nightly_report as qbwi::BackgroundTask>::NAME;
    let schedule = qbwi::registry()
        .find(|task| task.name == name)
        .and_then(|task| task.schedule())
        .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "no schedule"))?;
    let last = match app.host.store() {
        Some(store) => store
            .last_tick(name)
            .await
            .map_err(|error| unavailable(error.into()))?,
        None => None,
    };
    let time =
        |at: std::time::SystemTime| jiff::Timestamp::try_from(at).ok().map(|at| at.to_string());
    Ok(Json(json!({
        "reports": names,
        "schedule": schedule.expression,
        "timezone": schedule.timezone,
        "last_tick": last.and_then(time),
        "next_tick": schedule.next_after(std::time::SystemTime::now()).and_then(time),
    })))
}

/// `503` with the store's error.
fn unavailable(error: qbwi::QueueError) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
}
