// `retries`, `backoff` and `retry_delay` configure a durable task's retries: without `durable`
// each one is an error on its key that says to add `durable`.
#[qbwi::background_task(retries = 3, backoff = "linear", retry_delay = "5s")]
async fn send_mail(email: String) {
    let _ = email;
}

fn main() {}
