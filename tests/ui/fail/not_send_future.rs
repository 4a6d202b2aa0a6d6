use std::rc::Rc;

async fn flush() {}

#[qbwi::background_task]
async fn count(label: String) {
    let shared = Rc::new(label);
    flush().await;
    let _ = shared;
}

fn main() {}
