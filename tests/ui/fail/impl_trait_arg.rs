use std::fmt::Display;

#[qbwi::background_task]
async fn log_later(message: impl Display) {
    println!("{message}");
}

fn main() {}
