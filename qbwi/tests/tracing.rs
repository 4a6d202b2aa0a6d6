//! Each run is inside a `background_task{task=.. id=..}` span with events for its life, and the
//! task's argument values never reach the logs.

use std::time::Duration;

use qbwi::{Host, Outcome, background_task};

#[path = "support/logs.rs"]
mod logs;
use logs::Captured;

#[background_task]
async fn send_mail(email: String, password: String) -> Result<(), String> {
    tracing::info!("connecting to smtp");
    if email.len() + password.len() > 0 {
        Err("connection refused".into())
    } else {
        Ok(())
    }
}

#[background_task(timeout = "1s")]
async fn slow(secret: String) {
    let _ = secret;
    tokio::time::sleep(Duration::from_secs(10)).await;
}

#[tokio::test(start_paused = true)]
async fn runs_are_spanned_and_logged_without_their_arguments() {
    let (captured, _default) = Captured::install();

    let host = Host::builder().build().unwrap();
    let mail = send_mail::queue_on(&host, "ada@example.com".into(), "hunter2".into()).unwrap();
    assert_eq!(
        mail.outcome().await,
        Outcome::Failed("connection refused".into())
    );
    let slow = slow::queue_on(&host, "top-secret-token".into()).unwrap();
    assert_eq!(slow.outcome().await, Outcome::TimedOut);
    host.shutdown().await;

    let logs = captured.text();
    let span = format!(
        "background_task{{task=tracing::send_mail id={}}}",
        mail.id()
    );
    for event in ["queued", "started", "connecting to smtp", "failed"] {
        assert!(
            logs.lines()
                .any(|line| line.contains(&span) && line.contains(event)),
            "no `{event}` event in span `{span}`:\n{logs}"
        );
    }
    assert!(
        logs.contains("connection refused"),
        "the error is logged:\n{logs}"
    );
    assert!(
        logs.contains("background_task{task=tracing::slow id=2}") && logs.contains("timed out"),
        "{logs}"
    );
    // Each run ends with one event, carrying how long it ran (paused time: the 1 s timeout).
    let ends: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("failed") || line.contains("timed out"))
        .filter(|line| line.contains("background_task{"))
        .collect();
    assert_eq!(ends.len(), 2, "one end event per run:\n{logs}");
    assert!(ends[0].contains("elapsed=0ns"), "{}", ends[0]);
    assert!(ends[1].contains("elapsed=1s"), "{}", ends[1]);
    assert!(logs.contains("qbwi host shut down"), "{logs}");
    for secret in ["ada@example.com", "hunter2", "top-secret-token"] {
        assert!(
            !logs.contains(secret),
            "argument value `{secret}` leaked into the logs:\n{logs}"
        );
    }
}
