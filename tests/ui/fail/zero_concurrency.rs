#[qbwi::background_task(concurrency = 0)]
async fn send_mail(email: String) {
    let _ = email;
}

fn main() {}
