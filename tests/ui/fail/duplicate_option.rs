#[qbwi::background_task(timeout = "30s", concurrency = 2, timeout = "1m")]
async fn send_mail(email: String) {
    let _ = email;
}

fn main() {}
