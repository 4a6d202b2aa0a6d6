//! A durable task's generated fns name their own parameters (`host`, `at`, `delay`, `client`)
//! apart from the arguments: arguments with those names (and the fallbacks), a raw identifier,
//! one named like the fn, and a type named `C` all work, and the stored field names are the
//! arguments' names.

use std::time::{Duration, SystemTime};

use qbwi::{EnqueueIn, Host, JobId, QueueError, TaskHandle, background_task};

#[allow(clippy::upper_case_acronyms)]
type C = u16;

#[background_task(durable)]
#[allow(clippy::too_many_arguments)]
async fn named(
    at: u8,
    delay: u8,
    client: u8,
    host: u8,
    run_at: u8,
    run_after: u8,
    transaction: u8,
    on_host: u8,
    r#type: String,
    c: C,
) {
    let _ = (
        at,
        delay,
        client,
        host,
        run_at,
        run_after,
        transaction,
        on_host,
        r#type,
        c,
    );
}

#[background_task(durable)]
fn shadowed(shadowed: u32) {
    let _ = shadowed;
}

fn assert_send_static<F: Send + 'static>(future: F) -> F {
    future
}

fn assert_send<F: Send>(future: F) -> F {
    future
}

/// Every generated fn, called with all the arguments: compiles, and the futures are `Send`.
#[allow(dead_code)]
async fn all_forms<T: EnqueueIn>(host: &Host, transaction: &T) -> Result<Vec<JobId>, QueueError> {
    let args = || (1, 2, 3, 4, 5, 6, 7, 8, "t".to_owned(), 9);
    let (a, b, c, d, e, f, g, h, i, j) = args();
    let _: TaskHandle = named::queue(a, b, c, d, e, f, g, h, i.clone(), j)?;
    let _: TaskHandle = named::queue_on(host, a, b, c, d, e, f, g, h, i.clone(), j)?;
    let now = named::enqueue(a, b, c, d, e, f, g, h, i.clone(), j);
    let at = named::enqueue_at(SystemTime::now(), a, b, c, d, e, f, g, h, i.clone(), j);
    let after = named::enqueue_after(Duration::from_secs(1), a, b, c, d, e, f, g, h, i.clone(), j);
    let inside = named::enqueue_in(transaction, a, b, c, d, e, f, g, h, i, j);
    Ok(vec![
        assert_send_static(now).await?,
        assert_send_static(at).await?,
        assert_send_static(after).await?,
        assert_send(inside).await?,
        shadowed::enqueue(1).await?,
    ])
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // The struct's fields are the arguments, under their names.
    let task = named {
        at: 1,
        delay: 2,
        client: 3,
        host: 4,
        run_at: 5,
        run_after: 6,
        transaction: 7,
        on_host: 8,
        r#type: String::new(),
        c: 9,
    };
    assert_eq!(format!("{task:?}"), "named { .. }");
    // Without a host: the error, not a panic.
    assert_eq!(shadowed::enqueue(7).await, Err(QueueError::NoHost));
    assert_eq!(
        named::enqueue_after(Duration::ZERO, 1, 2, 3, 4, 5, 6, 7, 8, "t".to_owned(), 9).await,
        Err(QueueError::NoHost)
    );
}
