// `timezone` and `backfill` qualify a schedule: without `cron` each is an error on its key, and
// `backfill` needs `durable` (an in-memory host keeps no record of missed ticks).
#[qbwi::background_task(timezone = "Europe/Paris", backfill = "6h")]
async fn no_schedule() {}

#[qbwi::background_task(cron = "0 3 * * *", backfill = "6h")]
async fn in_memory_backfill() {}

fn main() {}
