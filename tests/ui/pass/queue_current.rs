//! `queue` uses the current host: `NoHost` before one starts, then works from the runtime and
//! from a plain thread, and returns `ShuttingDown` once shutdown began. (One binary per test
//! case, so this case owns the process's current host.)

use qbwi::{CancellationToken, Host, Outcome, QueueError, background_task};

/// Sends the welcome mail.
#[background_task]
async fn send_mail(email: String, token: CancellationToken) -> Result<(), String> {
    if token.is_cancelled() {
        Err(email)
    } else {
        Ok(())
    }
}

#[background_task]
fn resize(width: u32) {
    assert_eq!(width, 640);
}

#[tokio::main]
async fn main() {
    assert_eq!(
        send_mail::queue("a@example.com".to_owned()).unwrap_err(),
        QueueError::NoHost
    );

    let host = Host::builder().start().unwrap();
    let handle = send_mail::queue("a@example.com".to_owned()).unwrap();
    assert_eq!(handle.outcome().await, Outcome::Completed);

    let from_thread = std::thread::spawn(|| resize::queue(640))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(from_thread.outcome().await, Outcome::Completed);

    let report = host.shutdown().await;
    assert_eq!(report.completed, 2);
    assert_eq!(resize::queue(640).unwrap_err(), QueueError::ShuttingDown);
}
