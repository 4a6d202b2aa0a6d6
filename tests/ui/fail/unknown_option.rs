#[qbwi::background_task(retry = 3)]
async fn send_mail(email: String) {
    let _ = email;
}

fn main() {}
