//! End to end: the compiled `web_app` example, driven over real HTTP, writing real `.eml` files or
//! speaking real SMTP to a small server in this test, and stopped with a real SIGTERM.
//!
//! Every wait polls against a generous bound, so a slow machine makes a test slower, not flaky.

#![cfg(unix)] // SIGTERM via `kill`

mod support;

use std::ffi::OsString;
use std::path::Path;

use serde_json::Value;

use support::{App, FakeSmtp, PATIENCE, TempDir, is_welcome_mail, poll, signup};

/// Starts the `web_app` example, writing to `outbox`, or sending to `smtp_url` when given.
async fn start_web_app(outbox: &Path, smtp_url: Option<&str>) -> App {
    start_web_app_with(outbox, smtp_url, None).await
}

/// [`start_web_app`], with `RUST_LOG` set to `rust_log` when given.
async fn start_web_app_with(outbox: &Path, smtp_url: Option<&str>, rust_log: Option<&str>) -> App {
    let binary = support::example_binary("web_app", &[]);
    let mut env = vec![("OUTBOX_DIR", OsString::from(outbox))];
    if let Some(url) = smtp_url {
        env.push(("SMTP_URL", url.into()));
    }
    if let Some(filter) = rust_log {
        env.push(("RUST_LOG", filter.into()));
    }
    App::start(&binary, &env).await
}

/// Polls `GET /stats` until `completed` reaches `count`, and returns the stats.
async fn wait_for_completed(app: &App, count: u64) -> Value {
    let stats = app
        .wait_for_stats(|stats| stats["completed"].as_u64() >= Some(count))
        .await;
    assert_eq!(stats["completed"], count, "{stats}\n{}", app.output());
    stats
}

#[tokio::test]
async fn signups_are_answered_at_once_and_mailed_to_the_outbox() {
    let outbox = TempDir::new("outbox");
    let app = start_web_app(outbox.path(), None).await;
    let client = reqwest::Client::new();

    // JSON and form bodies are both accepted, answered with 202 and the task's id.
    let (status, json) = signup(
        client
            .post(app.url("/signup"))
            .json(&serde_json::json!({ "email": "ada@example.com" })),
    )
    .await;
    assert_eq!(status, 202, "{json}");
    let first = json["task_id"].as_u64().expect("task_id is a number");
    let (status, json) = signup(
        client
            .post(app.url("/signup"))
            .form(&[("email", "grace@example.com")]),
    )
    .await;
    assert_eq!(status, 202, "{json}");
    let second = json["task_id"].as_u64().expect("task_id is a number");
    assert_ne!(first, second, "each signup gets a task of its own");

    // A bad address is refused with 422 and says why; no task is queued for it.
    for bad in [
        client
            .post(app.url("/signup"))
            .json(&serde_json::json!({ "email": "not an address" })),
        client.post(app.url("/signup")).form(&[("email", "@")]),
    ] {
        let (status, json) = signup(bad).await;
        assert_eq!(status, 422, "{json}");
        let error = json["error"].as_str().expect("a JSON error message");
        assert!(error.contains("not a valid e-mail address"), "{error}");
    }
    // A body that is neither JSON nor a form is refused too.
    let (status, json) = signup(client.post(app.url("/signup")).body("ada@example.com")).await;
    assert_eq!(status, 415, "{json}");

    // The two mails arrive in the outbox, with subject and attachment.
    let mailed = poll(PATIENCE, || {
        let mails = outbox.mails();
        let both = ["ada@example.com", "grace@example.com"]
            .iter()
            .all(|to| mails.iter().any(|mail| is_welcome_mail(mail, to)));
        both.then_some(mails.len())
    })
    .await;
    assert_eq!(
        mailed,
        Some(2),
        "expected two welcome mails in the outbox, found {:?}\n{}",
        outbox.mails(),
        app.output()
    );

    // The tasks end right after writing the files; the counters agree.
    let stats = wait_for_completed(&app, 2).await;
    assert_eq!(stats["accepting"], true, "{stats}");
    assert_eq!(stats["failed"], 0, "{stats}");

    // SIGTERM: the server stops, the host drains, the report is logged, the exit is clean.
    let (status, output) = app.terminate().await;
    assert!(status.success(), "web_app exited with {status}:\n{output}");
    assert!(output.contains("SIGTERM received"), "{output}");
    assert!(output.contains("shutdown report"), "{output}");
    assert!(output.contains("2 completed"), "{output}");
    // Without `RUST_LOG`, the log stops at `info`.
    assert!(!output.contains("DEBUG"), "{output}");
}

#[tokio::test]
async fn rust_log_sets_what_is_logged() {
    let outbox = TempDir::new("rust-log-outbox");
    let app = start_web_app_with(outbox.path(), None, Some("info,qbwi=debug")).await;
    let (status, json) = signup(
        reqwest::Client::new()
            .post(app.url("/signup"))
            .form(&[("email", "ada@example.com")]),
    )
    .await;
    assert_eq!(status, 202, "{json}");
    wait_for_completed(&app, 1).await;
    let (status, output) = app.terminate().await;
    assert!(status.success(), "web_app exited with {status}:\n{output}");
    // qbwi's debug events (a run queued, started, completed), beside the app's info lines.
    let debug: Vec<&str> = output
        .lines()
        .filter(|line| line.contains("DEBUG") && line.contains("qbwi::"))
        .collect();
    assert!(
        debug.iter().any(|line| line.contains("completed")),
        "no qbwi debug line says the run completed:\n{output}"
    );
    assert!(output.contains("shutdown report"), "{output}");
}

#[tokio::test]
async fn an_unreadable_rust_log_stops_the_example_saying_how_to_write_one() {
    let binary = support::example_binary("web_app", &[]);
    let app = App::spawn(&binary, &[("RUST_LOG", "qbwi=loud".into())]);
    let (status, output) = app.exit().await;
    assert!(!status.success(), "{output}");
    assert!(
        output.contains("RUST_LOG=`qbwi=loud` is not a log filter"),
        "{output}"
    );
    assert!(
        output.contains("info,qbwi=debug"),
        "says how to write one: {output}"
    );
    assert!(
        !output.contains("listening on"),
        "it did not serve: {output}"
    );
}

#[tokio::test]
async fn with_smtp_url_the_mail_goes_to_the_smtp_server() {
    let smtp = FakeSmtp::start().await;
    let outbox = TempDir::new("smtp-outbox");
    let app = start_web_app(outbox.path(), Some(&smtp.url())).await;
    let client = reqwest::Client::new();
    let (status, json) = signup(
        client
            .post(app.url("/signup"))
            .json(&serde_json::json!({ "email": "lin@example.com" })),
    )
    .await;
    assert_eq!(status, 202, "{json}");

    let received = poll(PATIENCE, || smtp.accepted().into_iter().next()).await;
    let Some(mail) = received else {
        panic!("the fake SMTP server got no mail:\n{}", app.output());
    };
    assert!(mail.welcomes("lin@example.com"), "{mail:?}");
    assert!(
        outbox.mails().is_empty(),
        "SMTP_URL must replace the outbox"
    );
    wait_for_completed(&app, 1).await;
    assert_eq!(smtp.accepted().len(), 1, "one signup, one mail");

    let (status, output) = app.terminate().await;
    assert!(status.success(), "web_app exited with {status}:\n{output}");
    assert!(output.contains("shutdown report"), "{output}");
    assert!(output.contains("1 completed"), "{output}");
}

/// A mail being sent when SIGTERM comes gets to finish (the host's `cancel_after`): the slow SMTP
/// server answers a second later, and the mail counts as completed, not cancelled.
#[tokio::test]
async fn a_mail_being_sent_at_sigterm_gets_to_finish() {
    let smtp = FakeSmtp::start().await;
    smtp.answer_after(std::time::Duration::from_secs(1));
    let outbox = TempDir::new("slow-smtp-outbox");
    let app = start_web_app(outbox.path(), Some(&smtp.url())).await;
    let (status, json) = signup(
        reqwest::Client::new()
            .post(app.url("/signup"))
            .json(&serde_json::json!({ "email": "mid@example.com" })),
    )
    .await;
    assert_eq!(status, 202, "{json}");
    // The message is on the wire, its answer a second away: stop the app now.
    let sent = poll(PATIENCE, || (smtp.received() == 1).then_some(())).await;
    assert!(sent.is_some(), "the mail was not sent:\n{}", app.output());

    let (status, output) = app.terminate().await;
    assert!(status.success(), "web_app exited with {status}:\n{output}");
    assert!(output.contains("1 completed"), "{output}");
    assert!(output.contains("0 failed"), "{output}");
    assert_eq!(smtp.accepted().len(), 1, "the mail was delivered");
    assert!(smtp.accepted()[0].welcomes("mid@example.com"));
}
