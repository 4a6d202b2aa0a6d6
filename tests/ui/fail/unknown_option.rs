#[qbwi::background_task(retries = 3)]
async fn send_mail(email: String) {
    let _ = email;
}

fn main() {}
