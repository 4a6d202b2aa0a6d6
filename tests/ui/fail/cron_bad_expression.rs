// A schedule is checked at compile time, by croner, the crate the host runs it with: each error
// is on the string and says what is wrong with which field.
#[qbwi::background_task(cron = "0 25 * * *")]
async fn hour_out_of_range() {}

#[qbwi::background_task(cron = "0 3 * *")]
async fn four_fields() {}

#[qbwi::background_task(cron = "0 0 30 2 *")]
async fn thirtieth_of_february() {}

#[qbwi::background_task(cron = "0 x * * *")]
async fn not_a_number() {}

#[qbwi::background_task(cron = "*/10 * * * * 9")]
async fn day_of_week_out_of_range() {}

fn main() {}
