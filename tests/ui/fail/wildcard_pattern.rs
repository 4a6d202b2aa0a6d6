#[qbwi::background_task]
async fn ping(_: u64) {}

fn main() {}
