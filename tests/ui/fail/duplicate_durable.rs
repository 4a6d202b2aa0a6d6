#[qbwi::background_task(durable, retries = 2, durable)]
async fn send_mail(email: String) {
    let _ = email;
}

fn main() {}
