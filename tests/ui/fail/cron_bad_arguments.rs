// A scheduled task is fired with no arguments: it may take a token, a `Tick` and states only.
use qbwi::{CancellationToken, Tick};

#[qbwi::background_task(cron = "0 3 * * *")]
async fn with_an_email(email: String, ct: CancellationToken) {
    let _ = (email, ct);
}

#[qbwi::background_task(cron = "0 3 * * *")]
async fn two_ticks(first: Tick, second: Tick) {
    let _ = (first, second);
}

fn main() {}
