#[qbwi::background_task]
async fn process(item: String)
where
    String: Clone,
{
    let _ = item;
}

fn main() {}
