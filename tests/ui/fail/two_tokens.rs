use qbwi::CancellationToken;

#[qbwi::background_task]
async fn sync_all(first: CancellationToken, user_id: u64, second: CancellationToken) {
    let _ = (first, user_id, second);
}

fn main() {}
