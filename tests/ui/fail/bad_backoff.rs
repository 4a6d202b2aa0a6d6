#[qbwi::background_task(durable, backoff = "fast")]
async fn send_mail(email: String) {
    let _ = email;
}

fn main() {}
