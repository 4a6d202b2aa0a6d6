//! What each command does: one call of the store's operator API, printed as a table or as JSON.

use std::time::SystemTime;

use qbwi::dashboard::relative_time as ago;
use qbwi::{JobId, JobQuery, JobState, JobSummary, Store, StoreError};
use serde_json::{Value, json};

use crate::Command;
use crate::table::{Table, terminal_width};

/// Why a command did not do what it was asked.
#[derive(Debug)]
pub enum CommandError {
    /// The store failed.
    Store(StoreError),
    /// The job or task was not in a state the command applies to.
    NotApplied(String),
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandError::Store(error) => write!(f, "{error}"),
            CommandError::NotApplied(why) => f.write_str(why),
        }
    }
}

impl From<StoreError> for CommandError {
    fn from(error: StoreError) -> Self {
        CommandError::Store(error)
    }
}

/// Runs `command` on `store`, printing tables, or JSON if `json`.
pub async fn run(store: &Store, command: Command, json: bool) -> Result<(), CommandError> {
    match command {
        Command::Status => status(store, json).await,
        Command::Jobs {
            state,
            task,
            limit,
            before,
        } => {
            let mut query = JobQuery::new().limit(limit);
            if let Some(state) = state {
                query = query.state(state);
            }
            if let Some(task) = task {
                query = query.task(task);
            }
            if let Some(before) = before {
                query = query.before(JobId::from_i64(before));
            }
            jobs(store, &query, json).await
        }
        Command::Job { id } => job(store, JobId::from_i64(id), json).await,
        Command::Retry { id } => {
            let done = store.retry(JobId::from_i64(id)).await?;
            applied(done, json, &format!("job {id} runs again now"), &|| {
                format!(
                    "job {id} is not dead, cancelled or retrying (or does not exist): not retried"
                )
            })
        }
        Command::Delete { id } => {
            let done = store.delete(JobId::from_i64(id)).await?;
            applied(done, json, &format!("job {id} deleted"), &|| {
                format!("job {id} is running (cancel it first) or does not exist: not deleted")
            })
        }
        Command::Cancel { id } => {
            let done = store.cancel(JobId::from_i64(id)).await?;
            applied(
                done,
                json,
                &format!("job {id} cancelled (a running one stops at its host's next heartbeat)"),
                &|| format!("job {id} has finished, is dead, or does not exist: not cancelled"),
            )
        }
        Command::Pause { task } => {
            let done = store.pause(&task).await?;
            applied(done, json, &format!("{task} paused on every host"), &|| {
                format!("{task} was paused already")
            })
        }
        Command::Dashboard { listen, token } => dashboard(store, listen, token).await,
        Command::Resume { task } => {
            let done = store.resume(&task).await?;
            applied(
                done,
                json,
                &format!("{task} resumed on every host"),
                &|| format!("{task} was not paused"),
            )
        }
    }
}

/// Serves the store's dashboard at `listen` until Ctrl-C.
async fn dashboard(
    store: &Store,
    listen: std::net::SocketAddr,
    token: Option<String>,
) -> Result<(), CommandError> {
    let mut dashboard = qbwi::dashboard::Dashboard::for_store(store.clone());
    dashboard = match &token {
        Some(token) => dashboard.bearer_token(token),
        None => dashboard.read_only(true),
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|error| CommandError::NotApplied(format!("cannot listen on {listen}: {error}")))?;
    let address = listener
        .local_addr()
        .map_err(|error| CommandError::NotApplied(error.to_string()))?;
    println!(
        "qbwi dashboard for {} on http://{address}/ ({})",
        store.describe(),
        if token.is_some() {
            "bearer token"
        } else {
            "read-only, this machine only"
        }
    );
    let app = axum::Router::new().merge(dashboard.router());
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|error| CommandError::NotApplied(format!("the dashboard stopped: {error}")))
}

/// Says what an action did, or fails saying why it did nothing.
fn applied(
    done: bool,
    json: bool,
    what: &str,
    why_not: &dyn Fn() -> String,
) -> Result<(), CommandError> {
    if !done {
        return Err(CommandError::NotApplied(why_not()));
    }
    if json {
        println!("{}", json!({ "ok": true, "message": what }));
    } else {
        println!("{what}");
    }
    Ok(())
}

async fn status(store: &Store, json: bool) -> Result<(), CommandError> {
    let counts = store.counts().await?;
    let by_task = store.counts_by_task().await?;
    let paused = store.paused_tasks().await?;
    let nodes = store.nodes().await?;
    if json {
        let states: serde_json::Map<String, Value> = JobState::ALL
            .into_iter()
            .map(|state| (state.to_string(), json!(counts.get(state))))
            .collect();
        let tasks: Vec<Value> = by_task
            .iter()
            .map(|task| {
                let counts: serde_json::Map<String, Value> = JobState::ALL
                    .into_iter()
                    .filter(|state| !state.is_finished())
                    .map(|state| (state.to_string(), json!(task.counts.get(state))))
                    .collect();
                json!({
                    "task": task.task,
                    "counts": counts,
                    "paused": paused.contains(&task.task),
                })
            })
            .collect();
        let nodes: Vec<Value> = nodes
            .iter()
            .map(|node| {
                json!({
                    "id": node.id,
                    "hostname": node.hostname,
                    "pid": node.pid,
                    "started_at": time(node.started_at),
                    "heartbeat_at": time(node.heartbeat_at),
                    "tasks": node.tasks,
                    "running": node.running,
                })
            })
            .collect();
        let status = json!({
            "store": store.describe(),
            "states": states,
            "tasks": tasks,
            "paused": paused,
            "nodes": nodes,
        });
        println!("{status}");
        return Ok(());
    }
    let width = terminal_width();
    println!("{}\n", store.describe());
    let mut states = Table::new(&["state", "jobs"]);
    for state in JobState::ALL {
        states.row(vec![state.to_string(), counts.get(state).to_string()]);
    }
    print!("{}", states.render(width));
    let mut tasks = Table::new(&[
        "task",
        "scheduled",
        "ready",
        "running",
        "retrying",
        "dead",
        "paused",
    ]);
    for task in &by_task {
        let count = |state| task.counts.get(state).to_string();
        tasks.row(vec![
            task.task.clone(),
            count(JobState::Scheduled),
            count(JobState::Ready),
            count(JobState::Running),
            count(JobState::Retrying),
            count(JobState::Dead),
            if paused.contains(&task.task) {
                "paused"
            } else {
                ""
            }
            .to_owned(),
        ]);
    }
    for task in paused
        .iter()
        .filter(|task| !by_task.iter().any(|t| &t.task == *task))
    {
        tasks.row(vec![
            task.clone(),
            "0".into(),
            "0".into(),
            "0".into(),
            "0".into(),
            "0".into(),
            "paused".into(),
        ]);
    }
    println!();
    print!("{}", tasks.render(width));
    let mut hosts = Table::new(&["node", "running", "last report", "tasks"]);
    for node in &nodes {
        hosts.row(vec![
            node.id.clone(),
            node.running.to_string(),
            ago(node.heartbeat_at),
            node.tasks.join(", "),
        ]);
    }
    println!();
    if nodes.is_empty() {
        println!("no host is running jobs from this store");
    } else {
        print!("{}", hosts.render(width));
    }
    Ok(())
}

async fn jobs(store: &Store, query: &JobQuery, json: bool) -> Result<(), CommandError> {
    let jobs = store.jobs(query).await?;
    if json {
        let jobs: Vec<Value> = jobs.iter().map(summary).collect();
        println!("{}", Value::Array(jobs));
        return Ok(());
    }
    let mut table = Table::new(&[
        "id",
        "task",
        "state",
        "attempts",
        "created",
        "runs",
        "last error",
    ]);
    for job in &jobs {
        table.row(vec![
            job.id.to_string(),
            job.task.clone(),
            job.state.to_string(),
            format!("{}/{}", job.attempts, job.max_attempts),
            ago(job.created_at),
            ago(job.run_at),
            job.last_error.clone().unwrap_or_default(),
        ]);
    }
    print!("{}", table.render(terminal_width()));
    if let Some(last) = jobs.last()
        && jobs.len() == query.get_limit()
    {
        println!("next page: --before {}", last.id);
    }
    Ok(())
}

async fn job(store: &Store, id: JobId, json: bool) -> Result<(), CommandError> {
    let Some(job) = store.job(id).await? else {
        return Err(CommandError::NotApplied(format!(
            "no job {id} (it completed and was not kept, or was deleted)"
        )));
    };
    if json {
        let mut value = summary(&job.summary);
        let fields = value.as_object_mut().expect("an object");
        fields.insert("started_at".into(), json!(job.started_at.map(time)));
        fields.insert("node".into(), json!(job.node));
        fields.insert("lease_until".into(), json!(job.lease_until.map(time)));
        fields.insert("cancel_requested".into(), json!(job.cancel_requested));
        let arguments: Value =
            serde_json::from_str(&job.arguments).unwrap_or(Value::String(job.arguments.clone()));
        fields.insert("arguments".into(), arguments);
        println!("{value}");
        return Ok(());
    }
    let s = &job.summary;
    let mut table = Table::new(&["", ""]);
    let mut row = |name: &str, value: String| table.row(vec![name.to_owned(), value]);
    row("id", s.id.to_string());
    row("task", s.task.clone());
    row("state", s.state.to_string());
    row("attempts", format!("{} of {}", s.attempts, s.max_attempts));
    row("created", ago(s.created_at));
    row("runs", ago(s.run_at));
    row("started", job.started_at.map(ago).unwrap_or_default());
    row("finished", s.finished_at.map(ago).unwrap_or_default());
    row("node", job.node.clone().unwrap_or_default());
    row(
        "cancel asked",
        if job.cancel_requested { "yes" } else { "" }.to_owned(),
    );
    row("last error", s.last_error.clone().unwrap_or_default());
    row("arguments", job.arguments.clone());
    print!("{}", table.render(terminal_width()));
    Ok(())
}

/// A job of a listing, as JSON.
fn summary(job: &JobSummary) -> Value {
    json!({
        "id": job.id.as_i64(),
        "task": job.task,
        "state": job.state.to_string(),
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "created_at": time(job.created_at),
        "run_at": time(job.run_at),
        "finished_at": job.finished_at.map(time),
        "last_error": job.last_error,
    })
}

/// A time as RFC 3339, for scripts.
fn time(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}
