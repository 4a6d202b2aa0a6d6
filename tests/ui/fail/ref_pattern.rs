#[qbwi::background_task]
async fn greet(ref name: String) {
    let _ = name;
}

fn main() {}
