//! A registered task whose name has a NUL byte (which PostgreSQL cannot store in text) stops the
//! host from starting, naming where the task was declared. The macro refuses such a name (a
//! trybuild case), so this one is registered by hand, as a hand-written `TaskInfo` would be (own
//! test binary: it stops every host of the binary).

use qbwi::{Host, HostError};

qbwi::__private::inventory::submit! {
    qbwi::TaskInfo::__new("mail::send\0welcome", module_path!(), file!(), line!(), false)
}

#[tokio::test]
async fn a_task_name_with_a_nul_byte_stops_the_host_from_starting() {
    let error = Host::builder().build().unwrap_err();
    let HostError::NulInTaskName { name, location } = &error else {
        panic!("expected NulInTaskName, got {error:?}");
    };
    assert_eq!(*name, "mail::send\0welcome");
    assert!(location.contains("task_names.rs:"), "{location}");
    let message = error.to_string();
    assert!(
        message.contains(location.as_str()),
        "names the place: {message}"
    );
    assert!(message.contains("PostgreSQL"), "{message}");
    assert!(
        message.contains("remove the NUL byte"),
        "says what to do: {message}"
    );
    assert!(
        !message.contains('\0'),
        "the message shows the NUL escaped, not raw: {message:?}"
    );
    assert!(matches!(
        Host::builder().start(),
        Err(HostError::NulInTaskName { .. })
    ));
}
