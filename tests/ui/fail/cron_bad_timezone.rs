// The time zone is looked up in the time zone database at compile time; a misspelt one gets the
// nearest known name.
#[qbwi::background_task(cron = "0 3 * * *", timezone = "Europe/Pariss")]
async fn nightly_report() {}

fn main() {}
