#[qbwi::background_task(crate = "not a path")]
async fn send_mail(email: String) {
    let _ = email;
}

fn main() {}
