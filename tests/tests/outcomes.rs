//! Every kind of `Outcome`, reached through `#[background_task]` types, and a report that adds up.

use std::time::Duration;

use qbwi::{CancellationToken, Host, Outcome, background_task};

#[derive(Debug)]
struct MailError(&'static str);

impl std::fmt::Display for MailError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "mail not sent: {}", self.0)
    }
}

/// Completes or fails depending on the address.
#[background_task]
async fn send_mail(email: String) -> Result<(), MailError> {
    if email.contains('@') {
        Ok(())
    } else {
        Err(MailError("no @ in address"))
    }
}

#[background_task]
async fn explode(reason: String) {
    if !reason.is_empty() {
        panic!("{reason}");
    }
}

#[background_task(timeout = "1s")]
async fn too_slow(ct: CancellationToken) {
    // Ignores its token: the timeout drops the run.
    let _ = ct;
    tokio::time::sleep(Duration::from_secs(60)).await;
}

#[background_task]
async fn ignores_token(seconds: u64) {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}

#[background_task]
fn blocking_ok(n: u32) -> std::io::Result<u32> {
    Ok(n * 2)
}

#[tokio::test(start_paused = true)]
async fn every_outcome_and_a_report_that_adds_up() {
    let host = Host::builder()
        .shutdown_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let completed = send_mail::queue_on(&host, "a@example.com".into()).unwrap();
    let failed = send_mail::queue_on(&host, "nobody".into()).unwrap();
    let panicked = explode::queue_on(&host, "out of ink".into()).unwrap();
    let timed_out = too_slow::queue_on(&host).unwrap();
    let blocking = blocking_ok::queue_on(&host, 21).unwrap();

    assert_eq!(completed.outcome().await, Outcome::Completed);
    assert_eq!(
        failed.outcome().await,
        Outcome::Failed("mail not sent: no @ in address".into())
    );
    assert_eq!(
        panicked.outcome().await,
        Outcome::Panicked("out of ink".into())
    );
    assert_eq!(timed_out.outcome().await, Outcome::TimedOut);
    assert_eq!(blocking.outcome().await, Outcome::Completed);
    assert!(
        completed.name().ends_with("outcomes::send_mail"),
        "{}",
        completed.name()
    );
    assert!(timed_out.name().ends_with("outcomes::too_slow"));

    let abandoned = ignores_token::queue_on(&host, 3600).unwrap();
    tokio::task::yield_now().await;

    let stats = host.stats();
    assert_eq!(
        (
            stats.completed,
            stats.failed,
            stats.panicked,
            stats.timed_out,
            stats.running
        ),
        (2, 1, 1, 1, 1)
    );

    let shutdown = tokio::spawn({
        let host = host.clone();
        async move { host.shutdown().await }
    });
    tokio::task::yield_now().await;
    // Queued while shutting down: refused, not counted.
    assert!(send_mail::queue_on(&host, "late@example.com".into()).is_err());
    let report = shutdown.await.unwrap();

    assert_eq!(abandoned.outcome().await, Outcome::Abandoned);
    assert_eq!(report.completed, 2);
    assert_eq!(report.failed, 1);
    assert_eq!(report.panicked, 1);
    assert_eq!(report.timed_out, 1);
    assert_eq!(report.abandoned, 1);
    assert_eq!(report.not_started, 0);
    assert_eq!(report.total(), 6, "one per successful queue call");
    // The 5 s bound, plus at most the 1 ms the aborted runs get to report.
    assert!(report.elapsed >= Duration::from_secs(5), "{report:?}");
    assert!(
        report.elapsed <= Duration::from_secs(5) + Duration::from_millis(1),
        "{report:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn not_started_through_the_macro() {
    let host = Host::builder().max_concurrency(1).build().unwrap();
    let first = ignores_token::queue_on(&host, 10).unwrap();
    let second = send_mail::queue_on(&host, "b@example.com".into()).unwrap();
    tokio::task::yield_now().await;
    let report = host.shutdown().await;
    assert_eq!(
        first.outcome().await,
        Outcome::Completed,
        "it finished within the 30 s default bound"
    );
    assert_eq!(second.outcome().await, Outcome::NotStarted);
    assert_eq!((report.completed, report.not_started), (1, 1));
    assert_eq!(report.elapsed, Duration::from_secs(10));
}

#[test]
fn outcomes_and_reports_read_well() {
    assert_eq!(
        Outcome::Failed("smtp 550".into()).to_string(),
        "failed: smtp 550"
    );
    assert_eq!(
        Outcome::Abandoned.to_string(),
        "abandoned at the shutdown deadline"
    );
    let text = qbwi::ShutdownReport::default().to_string();
    assert!(text.starts_with("0 tasks: 0 completed"), "{text}");
}
