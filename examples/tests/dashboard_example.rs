//! End to end: the compiled `dashboard` example. On a fresh store it queues its demo jobs, which
//! end up in every state the example's docs promise; it serves the dashboard at `/qbwi` to this
//! machine without credentials (and asks for the token when `DASHBOARD_TOKEN` is set); a sign-up
//! is answered 202 and its jobs complete; SIGTERM drains the host, handing the running reindex
//! back to the store.
//!
//! Every wait polls against a generous bound.

#![cfg(unix)] // SIGTERM via `kill`

mod support;

use std::ffi::OsString;

use serde_json::Value;

use support::{App, PATIENCE, TempDir, example_binary, is_welcome_mail, poll, signup};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// The example's store in `dir`, its mails in `outbox`.
fn env(dir: &TempDir, outbox: &TempDir) -> Vec<(&'static str, OsString)> {
    vec![
        ("QBWI_DB", dir.path().join("qbwi.db").into()),
        ("OUTBOX_DIR", outbox.path().into()),
    ]
}

/// `GET path` as JSON.
async fn json(app: &App, path: &str) -> Value {
    client()
        .get(app.url(path))
        .send()
        .await
        .expect("the app answers")
        .json()
        .await
        .expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_jobs_fill_the_dashboard_and_a_signup_completes() {
    let dir = TempDir::new("dashboard-example");
    let outbox = TempDir::new("dashboard-example-outbox");
    let binary = example_binary("dashboard", &["durable", "dashboard"]);
    let app = App::start(&binary, &env(&dir, &outbox)).await;
    let client = client();

    let overview = client.get(app.url("/qbwi")).send().await.expect("GET");
    assert_eq!(overview.status(), 200, "loopback, no credentials");
    let page = overview.text().await.expect("a page");
    assert!(page.contains("<h1>Overview</h1>"), "{page}");
    let slash = client.get(app.url("/qbwi/")).send().await.expect("GET");
    assert_eq!(slash.status(), 308);
    assert_eq!(slash.headers()["location"], "/qbwi");

    // The CRM sync of bounce@example.invalid and the invoice go dead after their retries (about
    // 6 s); the reindex runs for a minute; the digest waits an hour.
    let settled = |jobs: &Value| {
        jobs["dead"] == 2
            && jobs["running"] == 1
            && jobs["scheduled"] == 1
            && jobs["completed"] == 7
    };
    let mut jobs = Value::Null;
    let done = poll_json(&app, "/qbwi/api/overview", |overview| {
        jobs = overview["jobs"].clone();
        settled(&jobs)
    })
    .await;
    assert!(
        done,
        "the demo jobs did not settle: {jobs}\n{}",
        app.output()
    );
    let dead = json(&app, "/qbwi/api/jobs?state=dead").await;
    let errors: Vec<&str> = dead
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|job| job["last_error"].as_str())
        .collect();
    assert!(
        errors
            .iter()
            .any(|error| error.contains("Inter-Regular.ttf"))
            && errors.iter().any(|error| error.contains("example.invalid")),
        "{errors:?}"
    );

    let (status, body) = signup(
        client
            .post(app.url("/signup"))
            .form(&[("email", "hedy@example.com")]),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    for id in [&body["job_id"], &body["crm_job_id"]] {
        let path = format!("/qbwi/api/jobs/{id}");
        let completed = poll_json(&app, &path, |job| job["state"] == "completed").await;
        assert!(completed, "job {id} did not complete:\n{}", app.output());
    }
    let mailed = poll(PATIENCE, || {
        let mails = outbox.mails();
        mails
            .iter()
            .any(|mail| is_welcome_mail(mail, "hedy@example.com"))
            .then_some(())
    })
    .await;
    assert!(
        mailed.is_some(),
        "no welcome mail in {}",
        outbox.path().display()
    );

    let (status, output) = app.terminate().await;
    assert!(status.success(), "{status}\n{output}");
    assert!(
        output.contains("1 requeued"),
        "the reindex goes back:\n{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_the_environment_is_asked_for() {
    let dir = TempDir::new("dashboard-example-token");
    let outbox = TempDir::new("dashboard-example-token-outbox");
    let binary = example_binary("dashboard", &["durable", "dashboard"]);
    let mut with_token = env(&dir, &outbox);
    with_token.push(("DASHBOARD_TOKEN", "t0ken".into()));
    let app = App::start(&binary, &with_token).await;
    let client = client();
    let refused = client.get(app.url("/qbwi")).send().await.expect("GET");
    assert_eq!(refused.status(), 401);
    let allowed = client
        .get(app.url("/qbwi/api/overview"))
        .bearer_auth("t0ken")
        .send()
        .await
        .expect("GET");
    assert_eq!(allowed.status(), 200);
    let (status, output) = app.terminate().await;
    assert!(status.success(), "{status}\n{output}");

    let mut both = env(&dir, &outbox);
    both.push(("DASHBOARD_TOKEN", "t0ken".into()));
    both.push(("DASHBOARD_PASSWORD", "s3cret".into()));
    let (status, output) = App::spawn(&binary, &both).exit().await;
    assert!(!status.success(), "{output}");
    assert!(output.contains("not both"), "{output}");
}

/// Polls `GET path` until `done` holds of its JSON, for at most `PATIENCE`.
async fn poll_json(app: &App, path: &str, mut done: impl FnMut(&Value) -> bool) -> bool {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        if done(&json(app, path).await) {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
