#[qbwi::background_task(durable, retry_delay = "5 seconds")]
async fn send_mail(email: String) {
    let _ = email;
}

fn main() {}
