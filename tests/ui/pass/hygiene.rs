//! The expansion uses absolute paths only: a module that shadows the prelude (`Result`, `Option`,
//! `Box`, `Send`, `Future`, `String`, `Ok`, ...), defines its own `qbwi`, `core` and `std`
//! modules and `line!`/`concat!` macros still gets a working task, durable ones included.

// The shadowing items are never used (that is the point): allow the lints that say so.
#![allow(dead_code, non_camel_case_types, non_upper_case_globals, unused_macros)]

mod shadowed {
    struct Result;
    struct Option;
    struct Box;
    struct Send;
    struct Sync;
    struct Future;
    struct String;
    struct Vec;
    struct Ok;
    struct Err;
    struct Some;
    struct None;
    struct Debug;
    struct Formatter;
    struct Sized;
    struct SystemTime;
    struct Duration;
    struct JobId;
    struct DurableTask;
    struct RetryPolicy;
    struct Backoff;
    struct JobEncoder;
    struct JobDecoder;
    struct PayloadError;
    struct EnqueueIn;
    struct DurableEntry;
    struct Serialize;
    struct Deserialize;
    struct State;
    struct StateType;
    struct TaskArgument;
    struct DurableArgument;
    struct TaskReturn;
    struct TaskErrorDisplay;
    struct StateArgument;
    struct TaskState;
    struct TaskFuture;
    struct RunFuture;
    struct Blocking;
    struct Arc;
    trait Fn {}
    trait FnOnce {}
    trait Drop {}
    trait Into<T> {}
    mod qbwi {}
    mod core {}
    mod std {}
    mod inventory {}
    mod __private {}
    macro_rules! line {
        () => {
            "not a line"
        };
    }
    macro_rules! concat {
        ($($t:tt)*) => {
            "not a concat"
        };
    }
    macro_rules! module_path {
        () => {
            "not a module path"
        };
    }
    // Lowercase value-namespace items that a generated binding could be mistaken for.
    const f: u8 = 0;
    const __QBWI_CODEC: u8 = 0;
    const __QBWI_STATES: u8 = 0;
    struct formatter;
    fn on_current() {}
    fn task_future() {}
    fn run_blocking() {}
    fn enqueue_current() {}
    fn enqueue_after() {}
    fn enqueue_in() {}
    fn field() {}
    fn state() {}
    fn __checked() {}
    fn __into_result() {}
    fn __from_host() {}

    #[::qbwi::background_task(timeout = "1s", concurrency = 2)]
    pub async fn send_mail(
        email: ::std::string::String,
        token: ::qbwi::CancellationToken,
    ) -> ::core::result::Result<(), ::std::string::String> {
        if token.is_cancelled() || email.is_empty() {
            return ::core::result::Result::Err(email);
        }
        ::core::result::Result::Ok(())
    }

    #[::qbwi::background_task]
    pub fn blocking(
        value: u8,
        __qbwi_token: u8,
        shared: ::qbwi::State<u16>,
        host: u8,
        __qbwi_state_0: u8,
    ) {
        ::std::assert_eq!((value, __qbwi_token, *shared, host), (1, 2, 7, 3));
        ::std::assert_eq!(__qbwi_state_0, 4);
    }

    #[::qbwi::background_task(durable, retries = 1, backoff = "constant", retry_delay = "1s")]
    pub async fn durable(
        email: ::std::string::String,
        token: ::qbwi::CancellationToken,
        __qbwi_encoder: u8,
        __qbwi_decoder: ::std::vec::Vec<u8>,
        __qbwi_task: u8,
        client: ::std::option::Option<u8>,
    ) {
        let _ = (
            email,
            token,
            __qbwi_encoder,
            __qbwi_decoder,
            __qbwi_task,
            client,
        );
    }

    #[::qbwi::background_task(durable)]
    pub fn durable_blocking(at: u8, delay: u8) {
        let _ = (at, delay);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let host = qbwi::Host::builder().state(7u16).build().unwrap();
    let handle = shadowed::send_mail::queue_on(&host, "a@example.com".to_owned()).unwrap();
    assert_eq!(handle.outcome().await, qbwi::Outcome::Completed);
    assert!(handle.name().ends_with("shadowed::send_mail"));
    let handle = shadowed::blocking::queue_on(&host, 1, 2, 3, 4).unwrap();
    assert_eq!(handle.outcome().await, qbwi::Outcome::Completed);
    let refused = shadowed::durable::queue_on(&host, "a".to_owned(), 1, vec![], 2, None);
    assert_eq!(refused.unwrap_err(), qbwi::QueueError::NoStore);
    let refused = shadowed::durable_blocking::queue_on(&host, 1, 2).unwrap_err();
    assert_eq!(refused, qbwi::QueueError::NoStore);
    let retry = <shadowed::durable as qbwi::DurableTask>::RETRY;
    assert_eq!(retry.backoff(), qbwi::Backoff::Constant);
    host.shutdown().await;
    let info = qbwi::registry()
        .find(|task| task.name.ends_with("::blocking"))
        .unwrap();
    assert!(info.line > 0 && info.file.ends_with("hygiene.rs"));
}
