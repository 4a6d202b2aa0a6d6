use qbwi::CancellationToken;

#[qbwi::background_task]
async fn sync_all(user_id: u64, token: &CancellationToken) {
    let _ = (user_id, token);
}

fn main() {}
