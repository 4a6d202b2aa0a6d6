// A `State` is taken by value (each run gets its own clone of the host's `Arc`).
use qbwi::State;

struct Mailer;

#[qbwi::background_task]
async fn send_mail(email: String, mailer: &State<Mailer>) {
    let _ = (email, mailer);
}

fn main() {}
