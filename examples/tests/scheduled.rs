//! End to end: the compiled `scheduled` example. A burst of posts by one author rebuilds the
//! author's feed once, for the last post (a debounce: a unique job whose pending run takes the
//! new arguments); the nightly report runs on demand and writes its file; the schedule, its zone
//! and its next tick (03:00 in Paris) are served; SIGTERM drains the host.
//!
//! Every wait polls against a generous bound.

#![cfg(unix)] // SIGTERM via `kill`

mod support;

use std::ffi::OsString;
use std::time::Duration;

use serde_json::{Value, json};

use support::{App, PATIENCE, TempDir, example_binary, poll};

/// `GET path`: its status and JSON.
async fn get(app: &App, path: &str) -> (u16, Value) {
    let response = reqwest::get(app.url(path)).await.expect("the app answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

/// `POST path` with `body`: its status and JSON.
async fn post(app: &App, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(app.url(path))
        .json(&body)
        .send()
        .await
        .expect("the app answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_rebuild_a_feed_once_and_the_report_runs() {
    let dir = TempDir::new("scheduled-example");
    let env: Vec<(&str, OsString)> = vec![
        ("QBWI_DB", dir.path().join("qbwi.db").into()),
        ("REPORTS_DIR", dir.path().join("reports").into()),
        ("FEED_DEBOUNCE_MS", "1500".into()),
    ];
    let app = App::start(&example_binary("scheduled", &["durable"]), &env).await;

    // A burst of five posts: one rebuild job, which takes each post's title in turn.
    let mut jobs = Vec::new();
    for n in 0..5 {
        let (status, answer) = post(
            &app,
            "/posts",
            json!({"author": 42, "title": format!("post {n}")}),
        )
        .await;
        assert_eq!(status, 202, "{answer}");
        jobs.push(answer["job_id"].as_i64().expect("a job id"));
    }
    assert!(
        jobs.iter().all(|job| *job == jobs[0]),
        "one job for the burst: {jobs:?}"
    );
    let (status, _) = get(&app, "/feeds/42").await;
    assert_eq!(status, 404, "not before the debounce");

    let mut rebuilt = None;
    for _ in 0..(PATIENCE.as_millis() / 100) {
        let (status, feed) = get(&app, "/feeds/42").await;
        if status == 200 {
            rebuilt = Some(feed);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let feed = rebuilt.unwrap_or_else(|| panic!("the feed was not rebuilt:\n{}", app.output()));
    assert_eq!(feed, json!({"rebuilds": 1, "reason": "new post: post 4"}));
    // And not again: the other four posts were folded into that one run.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert_eq!(get(&app, "/feeds/42").await.1["rebuilds"], 1);

    // The report, run by hand, writes its file; the schedule is served with its next tick.
    let (status, _) = post(&app, "/reports", json!({})).await;
    assert_eq!(status, 202);
    let reports = poll(PATIENCE, || {
        std::fs::read_dir(dir.path().join("reports"))
            .ok()
            .and_then(|mut entries| entries.next())
            .and_then(Result::ok)
            .map(|entry| entry.path())
    })
    .await
    .unwrap_or_else(|| panic!("no report written:\n{}", app.output()));
    let text = poll(PATIENCE, || {
        std::fs::read_to_string(&reports)
            .ok()
            .filter(|text| text.contains("feed rebuilds"))
    })
    .await
    .expect("the report's text");
    assert!(text.contains("feed rebuilds: 1"), "{text}");
    let (_, listed) = get(&app, "/reports").await;
    assert_eq!(listed["schedule"], "0 0 3 * * *");
    assert_eq!(listed["timezone"], "Europe/Paris");
    assert_eq!(
        listed["reports"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    let next = listed["next_tick"].as_str().expect("a next tick");
    // 03:00 in Paris is 02:00 UTC in winter, 01:00 in summer.
    assert!(
        next.ends_with("T02:00:00Z") || next.ends_with("T01:00:00Z"),
        "{next}"
    );

    let (status, output) = app.terminate().await;
    assert!(status.success(), "{output}");
}
