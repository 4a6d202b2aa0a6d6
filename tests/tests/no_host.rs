//! Before any host starts, queue calls fail with `NoHost` (own test binary: nothing starts a
//! host here).

use qbwi::{Host, QueueError, background_task};

#[background_task]
async fn orphan(n: u8) {
    let _ = n;
}

#[test]
fn queueing_with_no_host_is_an_error_that_says_what_to_do() {
    assert!(Host::current().is_none());
    let error = orphan::queue(1).unwrap_err();
    assert_eq!(error, QueueError::NoHost);
    assert!(
        error.to_string().contains("Host::builder().start()"),
        "{error}"
    );
    assert_eq!(
        qbwi::queue_work_item(|_| async {}).unwrap_err(),
        QueueError::NoHost
    );
    assert_eq!(
        qbwi::queue_blocking_work_item(|_| {}).unwrap_err(),
        QueueError::NoHost
    );
}
