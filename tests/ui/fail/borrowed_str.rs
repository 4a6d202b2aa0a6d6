use qbwi::background_task;

#[background_task]
async fn send_mail(email: &str) {
    let _ = email;
}

fn main() {}
