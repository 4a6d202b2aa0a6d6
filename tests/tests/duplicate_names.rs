//! Two tasks with one name make the host refuse to start, naming both places (own test binary).

use qbwi::{Host, HostError, background_task};

mod billing {
    #[qbwi::background_task(name = "send_invoice")]
    pub async fn send(id: u64) {
        let _ = id;
    }
}

#[background_task(name = "send_invoice")]
async fn send_invoice(id: u64) {
    let _ = id;
}

#[tokio::test]
async fn duplicate_task_names_stop_the_host_from_starting() {
    let error = Host::builder().start().unwrap_err();
    let HostError::DuplicateTask {
        name,
        first,
        second,
    } = &error
    else {
        panic!("expected DuplicateTask, got {error:?}");
    };
    assert_eq!(*name, "send_invoice");
    assert!(
        first.contains("duplicate_names.rs:") && second.contains("duplicate_names.rs:"),
        "{error}"
    );
    assert_ne!(first, second);
    assert!(
        error.to_string().contains("name = "),
        "says how to fix it: {error}"
    );
    assert!(matches!(
        Host::builder().build(),
        Err(HostError::DuplicateTask { .. })
    ));
}
