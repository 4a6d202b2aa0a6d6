//! Every accepted return type: none, `()`, `Result<T, E>` with any `T` and a `Display` `E`,
//! `std::io::Result<()>`, boxed errors; `Err` makes the run `Failed` with the error's text.

use std::fmt;

use qbwi::{Host, Outcome, background_task};

#[derive(Debug)]
struct MailError;

impl fmt::Display for MailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("mail server said no")
    }
}

#[background_task]
async fn no_return() {}

#[background_task]
#[allow(clippy::unused_unit)]
async fn unit() -> () {}

#[background_task]
async fn with_value() -> Result<u64, MailError> {
    Ok(42)
}

#[background_task]
async fn failing() -> Result<(), MailError> {
    Err(MailError)
}

#[background_task]
fn io_result() -> std::io::Result<()> {
    Err(std::io::Error::other("disk full"))
}

#[background_task]
fn boxed() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Ok(())
}

#[background_task]
async fn string_error() -> Result<Vec<u8>, String> {
    Err("no".to_owned())
}

#[tokio::main]
async fn main() {
    let host = Host::builder().build().unwrap();
    let outcomes = [
        (no_return::queue_on(&host), Outcome::Completed),
        (unit::queue_on(&host), Outcome::Completed),
        (with_value::queue_on(&host), Outcome::Completed),
        (
            failing::queue_on(&host),
            Outcome::Failed("mail server said no".to_owned()),
        ),
        (
            io_result::queue_on(&host),
            Outcome::Failed("disk full".to_owned()),
        ),
        (boxed::queue_on(&host), Outcome::Completed),
        (
            string_error::queue_on(&host),
            Outcome::Failed("no".to_owned()),
        ),
    ];
    for (handle, expected) in outcomes {
        let handle = handle.unwrap();
        assert_eq!(handle.outcome().await, expected, "{}", handle.name());
    }
    host.shutdown().await;
}
