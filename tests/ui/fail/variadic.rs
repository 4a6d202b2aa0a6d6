#[qbwi::background_task]
fn log_all(first: u32, ...) {
    let _ = first;
}

fn main() {}
