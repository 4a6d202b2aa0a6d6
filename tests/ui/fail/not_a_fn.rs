#[qbwi::background_task]
struct SendMail {
    email: String,
}

fn main() {}
