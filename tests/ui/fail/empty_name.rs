#[qbwi::background_task(name = "")]
async fn send_mail(email: String) {
    let _ = email;
}

fn main() {}
