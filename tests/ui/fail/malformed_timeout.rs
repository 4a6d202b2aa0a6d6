#[qbwi::background_task(timeout = "30 seconds")]
async fn send_mail(email: String) {
    let _ = email;
}

fn main() {}
