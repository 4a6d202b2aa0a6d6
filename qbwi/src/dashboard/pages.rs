//! The HTML, through maud, which escapes every value it is given: a task name, an error or an
//! argument from the store is text on the page, whatever it holds.

use std::time::SystemTime;

use maud::{DOCTYPE, Markup, html};

use super::relative_time as ago;
use crate::{JobDetail, JobQuery, JobState, JobSummary, MinuteCounts, Node, Stats};

/// What every page needs: where the dashboard is mounted, the CSRF token, whether it may act.
pub(super) struct Frame<'a> {
    pub(super) base: &'a str,
    pub(super) csrf: &'a str,
    pub(super) can_act: bool,
}

/// A page: the navigation, then `body` inside `<main>`.
pub(super) fn page(frame: &Frame<'_>, title: &str, current: &str, body: Markup) -> Markup {
    let base = frame.base;
    let link = |path: &str, name: &str| {
        // The overview is the mount point itself (`/qbwi`, or `/` at the root).
        let href = match (path, base) {
            ("/", "") => "/".to_owned(),
            ("/", base) => base.to_owned(),
            (path, base) => format!("{base}{path}"),
        };
        html! {
            @if current == path {
                a href=(href) aria-current="page" { (name) }
            } @else {
                a href=(href) { (name) }
            }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="qbwi-csrf" content=(frame.csrf);
                title { (title) " · qbwi" }
                link rel="stylesheet" href=(format!("{base}/assets/qbwi.css"));
                script src=(format!("{base}/assets/qbwi.js")) defer {}
            }
            body {
                header {
                    strong { "qbwi" }
                    (link("/", "Overview"))
                    (link("/jobs", "Jobs"))
                    (link("/tasks", "Tasks"))
                    (link("/nodes", "Nodes"))
                }
                main { (body) }
            }
        }
    }
}

/// A POST button for `action` at `path`, with the CSRF token.
pub(super) fn button(frame: &Frame<'_>, path: &str, label: &str, danger: bool) -> Markup {
    html! {
        form.inline method="post" action=(format!("{}{path}", frame.base)) {
            input type="hidden" name="csrf" value=(frame.csrf);
            @if danger {
                button.danger type="submit" { (label) }
            } @else {
                button type="submit" { (label) }
            }
        }
    }
}

/// The overview: jobs by state, the last hour's runs, and the host's in-memory counters.
pub(super) fn overview(
    frame: &Frame<'_>,
    counts: Option<&crate::JobCounts>,
    minutes: &[MinuteCounts],
    stats: Option<Stats>,
) -> Markup {
    let base = frame.base;
    html! {
        h1 { "Overview" }
        @if let Some(counts) = counts {
            h2 { "Durable jobs" }
            div.cards {
                @for state in JobState::ALL {
                    a.card href=(format!("{base}/jobs?state={state}")) {
                        b { (counts.get(state)) } span { (state) }
                    }
                }
            }
            h2 { "Runs per minute, last hour" }
            (chart(minutes))
        } @else {
            p.muted { "This host has no store: it runs in-memory tasks only." }
        }
        @if let Some(stats) = stats {
            h2 { "This host's tasks" }
            div.cards {
                @for (name, value) in [
                    ("queued", stats.queued), ("running", stats.running),
                    ("completed", stats.completed), ("failed", stats.failed),
                    ("panicked", stats.panicked), ("timed out", stats.timed_out),
                ] {
                    div.card { b { (value) } span { (name) } }
                }
            }
        }
    }
}

/// Completed (up) and failed (down) runs per minute, as an inline SVG drawn here.
fn chart(minutes: &[MinuteCounts]) -> Markup {
    // Bars above the line: completed; below: failed. Room at the right for the scale, below for
    // the time axis.
    let (bar, plot_height, axis, scale_room) = (12.0_f64, 160.0_f64, 18.0_f64, 56.0_f64);
    let plot_width = bar * minutes.len().max(1) as f64;
    let (width, height) = (plot_width + scale_room, plot_height + axis);
    let most = minutes
        .iter()
        .map(|minute| minute.completed.max(minute.failed))
        .max()
        .unwrap_or(0)
        .max(1);
    let half = plot_height / 2.0;
    let completed: u64 = minutes.iter().map(|minute| minute.completed).sum();
    let failed: u64 = minutes.iter().map(|minute| minute.failed).sum();
    html! {
        p.legend {
            span.completed { "■ " (completed) " completed" } " · "
            span.failed { "■ " (failed) " failed" } " in the last hour"
        }
        svg width=(width) height=(height) viewBox=(format!("0 0 {width} {height}"))
            role="img" aria-label=(format!("runs per minute, the last hour: {completed} completed, {failed} failed")) {
            @for (index, minute) in minutes.iter().enumerate() {
                @let x = index as f64 * bar;
                @let up = minute.completed as f64 / most as f64 * (half - 4.0);
                @let down = minute.failed as f64 / most as f64 * (half - 4.0);
                rect.completed x=(x) y=(half - up) width=(bar - 2.0) height=(up) {
                    title { (minute.completed) " completed, " (ago(minute.minute)) }
                }
                rect.failed x=(x) y=(half) width=(bar - 2.0) height=(down) {
                    title { (minute.failed) " failed, " (ago(minute.minute)) }
                }
            }
            line x1="0" y1=(half) x2=(plot_width) y2=(half) stroke="#dde2ea" {}
            text x=(plot_width + 6.0) y="12" font-size="11" fill="#5b6472" { (most) "/min" }
            text x=(plot_width + 6.0) y=(plot_height - 2.0) font-size="11" fill="#5b6472" { (most) "/min" }
            text x="0" y=(height - 4.0) font-size="11" fill="#5b6472" { "an hour ago" }
            text x=(plot_width) y=(height - 4.0) font-size="11" fill="#5b6472" text-anchor="end" { "now" }
        }
    }
}

/// A listing of jobs with its filter and the bulk actions over it.
pub(super) fn jobs(frame: &Frame<'_>, query: &JobQuery, jobs: &[JobSummary]) -> Markup {
    let base = frame.base;
    let state = query.get_state();
    let task = query.get_task().unwrap_or("");
    let filter = format!(
        "state={}&task={}",
        state.map(|state| state.as_str()).unwrap_or(""),
        encode(task)
    );
    html! {
        h1 { "Jobs" }
        form.filters method="get" action=(format!("{base}/jobs")) {
            select name="state" {
                option value="" { "every state" }
                @for option in JobState::ALL {
                    @if Some(option) == state {
                        option value=(option) selected { (option) }
                    } @else {
                        option value=(option) { (option) }
                    }
                }
            }
            input type="text" name="task" placeholder="task" value=(task);
            button type="submit" { "Filter" }
        }
        @if frame.can_act && (state.is_some() || !task.is_empty()) {
            // A div, not a p: a <form> start tag closes an open <p> (HTML's parsing rules), which
            // would leave the buttons outside it.
            div.bulk {
                "Every job of this filter: "
                (button(frame, &format!("/jobs/bulk/retry?{filter}"), "Retry all", false)) " "
                (button(frame, &format!("/jobs/bulk/cancel?{filter}"), "Cancel all", false)) " "
                (button(frame, &format!("/jobs/bulk/delete?{filter}"), "Delete all", true))
            }
        }
        table {
            thead { tr { th { "id" } th { "task" } th { "state" } th { "attempts" } th { "created" } th { "last error" } } }
            tbody {
                @for job in jobs {
                    tr {
                        td { a href=(format!("{base}/jobs/{}", job.id)) { (job.id) } }
                        td { (job.task) }
                        td { (job.state) }
                        td { (job.attempts) "/" (job.max_attempts) }
                        td { (ago(job.created_at)) }
                        td.error { (job.last_error.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
        @if jobs.is_empty() {
            p.muted { "No job." }
        }
        @if let Some(last) = jobs.last() {
            @if jobs.len() == query.get_limit() {
                p { a href=(format!("{base}/jobs?{filter}&before={}", last.id)) { "Older →" } }
            }
        }
    }
}

/// One job.
pub(super) fn job(frame: &Frame<'_>, job: &JobDetail, show_arguments: bool) -> Markup {
    let s = &job.summary;
    let id = s.id;
    let when = |time: Option<SystemTime>| time.map(ago).unwrap_or_default();
    html! {
        h1 { "Job " (id) }
        table {
            tr { th { "task" } td { (s.task) } }
            tr { th { "state" } td #state { (s.state) } }
            tr { th { "attempts" } td { (s.attempts) " of " (s.max_attempts) } }
            tr { th { "created" } td { (ago(s.created_at)) } }
            tr { th { "runs" } td { (ago(s.run_at)) } }
            tr { th { "started" } td { (when(job.started_at)) } }
            tr { th { "finished" } td { (when(s.finished_at)) } }
            tr { th { "node" } td { (job.node.as_deref().unwrap_or("")) } }
            tr { th { "last error" } td.error #error { (s.last_error.as_deref().unwrap_or("")) } }
            tr { th { "arguments" } td {
                @if show_arguments { pre { (job.arguments) } }
                @else { span.muted { "hidden (Dashboard::show_arguments)" } }
            } }
        }
        @if frame.can_act {
            // A div, not a p, as for the bulk actions: the forms must stay inside.
            div #actions {
                @if matches!(s.state, JobState::Dead | JobState::Cancelled | JobState::Retrying) {
                    (button(frame, &format!("/jobs/{id}/retry"), "Retry", false)) " "
                }
                @if matches!(s.state, JobState::Scheduled | JobState::Ready | JobState::Retrying | JobState::Running) && !job.cancel_requested {
                    (button(frame, &format!("/jobs/{id}/cancel"), "Cancel", false)) " "
                }
                @if s.state != JobState::Running {
                    (button(frame, &format!("/jobs/{id}/delete"), "Delete", true))
                }
            }
        }
    }
}

/// The registry: every task of this binary, where it is, and whether it is paused.
pub(super) fn tasks(
    frame: &Frame<'_>,
    paused: &[String],
    last_ticks: &[(&'static str, std::time::SystemTime)],
) -> Markup {
    let mut tasks: Vec<&crate::TaskInfo> = crate::registry().collect();
    tasks.sort_by_key(|task| task.name);
    let now = std::time::SystemTime::now();
    html! {
        h1 { "Tasks" }
        table {
            thead { tr { th { "task" } th { "defined at" } th { "kind" } th { "options" } th { "schedule" } th { "" } } }
            tbody {
                @for task in tasks {
                    @let is_paused = paused.iter().any(|name| name == task.name);
                    tr {
                        td { (task.name) }
                        td { (task.file) ":" (task.line) }
                        td { (if task.durable { "durable" } else { "in memory" }) (if task.blocking { ", blocking" } else { "" }) }
                        td { (options(task)) }
                        td {
                            @if let Some(schedule) = task.schedule() {
                                code { (schedule.expression) } " " (schedule.timezone)
                                @if let Some((_, last)) = last_ticks.iter().find(|(name, _)| *name == task.name) {
                                    br; "last tick " (super::relative_time(*last))
                                }
                                @if let Some(next) = schedule.next_after(now) {
                                    br; "next tick " (super::relative_time(next))
                                }
                            } @else { "-" }
                        }
                        td {
                            @if is_paused { "paused " }
                            @if frame.can_act && task.durable {
                                @if is_paused {
                                    (button(frame, &format!("/tasks/{}/resume", encode(task.name)), "Resume", false))
                                } @else {
                                    (button(frame, &format!("/tasks/{}/pause", encode(task.name)), "Pause", false))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A task's options as its attribute would say them: `timeout 30s, concurrency 4, retries 5
/// (exponential from 1s)`; `-` for none.
pub(super) fn options(task: &crate::TaskInfo) -> String {
    let options = task.options();
    let mut said = Vec::new();
    if let Some(timeout) = options.timeout {
        said.push(format!("timeout {timeout:?}"));
    }
    if let Some(limit) = options.concurrency {
        said.push(format!("concurrency {limit}"));
    }
    if let Some(policy) = task.retry_policy() {
        let backoff = match policy.backoff() {
            crate::Backoff::Linear => "linear",
            crate::Backoff::Constant => "constant",
            _ => "exponential",
        };
        said.push(match policy.retries() {
            0 => "no retries".to_owned(),
            retries => format!("retries {retries} ({backoff} from {:?})", policy.delay()),
        });
    }
    if said.is_empty() {
        "-".to_owned()
    } else {
        said.join(", ")
    }
}

/// The hosts running jobs from the store.
pub(super) fn nodes(nodes: &[Node]) -> Markup {
    html! {
        h1 { "Nodes" }
        table {
            thead { tr { th { "node" } th { "host" } th { "pid" } th { "running" } th { "started" } th { "last report" } th { "tasks" } } }
            tbody {
                @for node in nodes {
                    tr {
                        td { (node.id) } td { (node.hostname) } td { (node.pid) }
                        td { (node.running) } td { (ago(node.started_at)) }
                        td { (ago(node.heartbeat_at)) } td { (node.tasks.join(", ")) }
                    }
                }
            }
        }
        @if nodes.is_empty() { p.muted { "No host is running jobs from this store." } }
    }
}

/// `text` for a URL's query or path segment.
pub(super) fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
