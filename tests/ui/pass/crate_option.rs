//! `crate = "..."`: a framework re-exports qbwi, and its users' tasks name it through that path,
//! durable ones too.

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

    #[qbwi::background_task(crate = "crate::framework::qbwi", durable, retries = 2)]
    pub async fn durable_through_path(text: String, _token: CancellationToken) {
        let _ = text;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let host = qbwi::Host::builder().build().unwrap();
    let handle = app::through_path::queue_on(&host, "ok".to_owned()).unwrap();
    assert_eq!(handle.outcome().await, qbwi::Outcome::Completed);
    let handle = app::absolute::queue_on(&host, 3).unwrap();
    assert_eq!(handle.outcome().await, qbwi::Outcome::Completed);
    // Without a store the durable task is refused, through the re-exported path's types.
    let refused = app::durable_through_path::queue_on(&host, "ok".to_owned()).unwrap_err();
    assert_eq!(refused, framework::qbwi::QueueError::NoStore);
    let retry = <app::durable_through_path as framework::qbwi::DurableTask>::RETRY;
    assert_eq!(retry.retries(), 2);
    let future = app::durable_through_path::enqueue("ok".to_owned());
    assert_eq!(future.await, Err(qbwi::QueueError::NoHost));
    host.shutdown().await;
}
