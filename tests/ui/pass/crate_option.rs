//! `crate = "..."`: a framework re-exports qbwi, and its users' tasks name it through that path.

mod framework {
    pub use ::qbwi;
}

mod app {
    use crate::framework::qbwi::{self, CancellationToken};

    #[qbwi::background_task(crate = "crate::framework::qbwi")]
    pub async fn through_path(text: String, _token: CancellationToken) -> Result<(), String> {
        if text == "ok" { Ok(()) } else { Err(text) }
    }

    #[qbwi::background_task(crate = "::qbwi", timeout = "1s")]
    pub fn absolute(count: u32) {
        assert_eq!(count, 3);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let host = qbwi::Host::builder().build().unwrap();
    let handle = app::through_path::queue_on(&host, "ok".to_owned()).unwrap();
    assert_eq!(handle.outcome().await, qbwi::Outcome::Completed);
    let handle = app::absolute::queue_on(&host, 3).unwrap();
    assert_eq!(handle.outcome().await, qbwi::Outcome::Completed);
    host.shutdown().await;
}
