// A task's name is stored with its durable jobs, and PostgreSQL cannot store a NUL byte in text.
#[qbwi::background_task(name = "mail::send\0welcome")]
async fn send_mail(email: String) {
    let _ = email;
}

fn main() {}
