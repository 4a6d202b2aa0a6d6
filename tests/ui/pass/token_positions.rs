//! The token may come first, in the middle, last, or not at all, in async and blocking tasks;
//! the fn gets it at the position it declared, and every other argument in order.

use qbwi::{CancellationToken, Host, Outcome, background_task};

fn check(a: u32, b: &str, token: &CancellationToken) -> Result<(), String> {
    if token.is_cancelled() {
        return Err("the token is cancelled".to_owned());
    }
    if (a, b) != (1, "two") {
        return Err(format!("arguments out of order: {a} {b}"));
    }
    Ok(())
}

#[background_task]
async fn first(token: CancellationToken, a: u32, b: String) -> Result<(), String> {
    check(a, &b, &token)
}

#[background_task]
async fn middle(a: u32, token: CancellationToken, b: String) -> Result<(), String> {
    check(a, &b, &token)
}

#[background_task]
async fn last(a: u32, b: String, token: CancellationToken) -> Result<(), String> {
    check(a, &b, &token)
}

#[background_task]
async fn absent(a: u32, b: String) -> Result<(), String> {
    check(a, &b, &CancellationToken::new())
}

#[background_task]
fn blocking_first(token: CancellationToken, a: u32, b: String) -> Result<(), String> {
    check(a, &b, &token)
}

#[background_task]
fn blocking_middle(a: u32, _token: CancellationToken, b: String) -> Result<(), String> {
    check(a, &b, &CancellationToken::new())
}

#[background_task]
fn blocking_absent(a: u32, b: String) -> Result<(), String> {
    check(a, &b, &CancellationToken::new())
}

/// Only the token: the task's struct has no fields and `queue_on` takes just the host.
#[background_task]
async fn only_token(token: qbwi::CancellationToken) {
    assert!(!token.is_cancelled());
}

/// No arguments at all.
#[background_task]
fn nothing() {}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let host = Host::builder().build().unwrap();
    let two = || "two".to_owned();
    let handles = [
        first::queue_on(&host, 1, two()),
        middle::queue_on(&host, 1, two()),
        last::queue_on(&host, 1, two()),
        absent::queue_on(&host, 1, two()),
        blocking_first::queue_on(&host, 1, two()),
        blocking_middle::queue_on(&host, 1, two()),
        blocking_absent::queue_on(&host, 1, two()),
        only_token::queue_on(&host),
        nothing::queue_on(&host),
    ];
    for handle in handles {
        let handle = handle.unwrap();
        assert_eq!(
            handle.outcome().await,
            Outcome::Completed,
            "{}",
            handle.name()
        );
    }
    // The generated struct can also be built by hand and queued with `Host::queue`.
    let handle = host.queue(middle { a: 1, b: two() }).unwrap();
    assert_eq!(handle.outcome().await, Outcome::Completed);
    assert_eq!(host.shutdown().await.completed, 10);
}
