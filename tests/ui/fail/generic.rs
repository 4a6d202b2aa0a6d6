#[qbwi::background_task]
async fn process<T: Send + 'static>(item: T) {
    let _ = item;
}

fn main() {}
