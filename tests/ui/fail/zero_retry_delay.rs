#[qbwi::background_task(durable, retry_delay = "0s")]
async fn send_mail(email: String) {
    let _ = email;
}

fn main() {}
