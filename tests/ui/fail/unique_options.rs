// Unique jobs are the store's (durable only), keyed on every argument (`unique`) or the named ones
// (`unique_by`, checked against the fn's stored arguments); `unique_for` and `on_conflict` qualify
// a key.
use qbwi::{CancellationToken, State};

struct Pool;

#[qbwi::background_task(durable, unique_by = [usr_id, pool])]
async fn rebuild_feed(user_id: u64, pool: State<Pool>, ct: CancellationToken) {
    let _ = (user_id, pool, ct);
}

#[qbwi::background_task(unique)]
async fn in_memory(user_id: u64) {
    let _ = user_id;
}

#[qbwi::background_task(durable, unique, unique_by = [user_id])]
async fn both(user_id: u64) {
    let _ = user_id;
}

#[qbwi::background_task(durable, unique_for = "1h", on_conflict = "replace")]
async fn no_key(user_id: u64) {
    let _ = user_id;
}

#[qbwi::background_task(durable, unique, on_conflict = "overwrite")]
async fn bad_conflict(user_id: u64) {
    let _ = user_id;
}

#[qbwi::background_task(durable, unique_by = [])]
async fn empty_key(user_id: u64) {
    let _ = user_id;
}

fn main() {}
