//! Docs, `#[cfg]` and `#[deprecated]` carry over to the generated items; `pub`, `pub(crate)`,
//! `pub(super)` and private tasks are reachable exactly where the fn is. Compiled with strict
//! lints: the expansion must not add warnings to a crate that denies them.

#![deny(warnings, missing_docs, missing_debug_implementations, unreachable_pub)]
#![deny(unused_qualifications, elided_lifetimes_in_paths, unsafe_code)]

/// Tasks of every visibility.
pub mod tasks {
    use qbwi::background_task;

    /// Sends the welcome mail.
    ///
    /// A second paragraph.
    #[background_task]
    pub async fn public(email: String) {
        let _ = email;
    }

    #[background_task]
    pub(crate) fn crate_visible(id: u64) {
        let _ = id;
    }

    /// Inner tasks.
    pub mod inner {
        #[qbwi::background_task]
        pub(super) async fn for_parent(id: u64) {
            let _ = id;
        }

        #[qbwi::background_task]
        async fn private(id: u64) {
            let _ = id;
        }

        /// Queues the private task from its own module.
        pub fn queue_private(host: &qbwi::Host) -> Result<qbwi::TaskHandle, qbwi::QueueError> {
            private::queue_on(host, 1)
        }
    }

    /// Never queued in this binary, only registered: not dead code.
    mod registered_only {
        #[qbwi::background_task]
        async fn registered_only(id: u64) {
            let _ = id;
        }
    }

    /// Queues the `pub(super)` task from the parent module.
    pub fn queue_for_parent(host: &qbwi::Host) -> Result<qbwi::TaskHandle, qbwi::QueueError> {
        inner::for_parent::queue_on(host, 1)
    }

    /// A deprecated task: its struct is deprecated too, and the generated code does not warn.
    #[deprecated = "use `public`"]
    #[background_task]
    pub async fn deprecated(email: String) {
        let _ = email;
    }

    /// A durable task: its `enqueue` fns are documented and public like the fn.
    #[background_task(durable, retries = 1)]
    pub async fn durable(email: String) {
        let _ = email;
    }

    /// A durable task that only this crate sees.
    #[background_task(durable)]
    pub(crate) fn durable_crate_visible(id: u64) {
        let _ = id;
    }

    /// A durable task without arguments.
    #[background_task(durable, retries = 0)]
    pub fn durable_no_arguments() {}

    /// A durable task, compiled out with everything generated for it.
    #[cfg(any())]
    #[background_task(durable)]
    pub async fn durable_configured_out(value: DoesNotExist) {}

    /// Compiled in: `cfg(all())` is true.
    #[cfg(all())]
    #[background_task]
    pub async fn configured_in() {}

    /// Compiled out, with everything generated for it: `cfg(any())` is false.
    #[cfg(any())]
    #[background_task]
    pub async fn configured_out(value: DoesNotExist) {}

    /// A task after its `#[cfg]`: still compiled out, and so is every generated item.
    #[background_task]
    #[cfg(any())]
    pub async fn configured_out_after(value: DoesNotExist) {}
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let host = qbwi::Host::builder().build().unwrap();
    let handles = [
        tasks::public::queue_on(&host, "a@example.com".to_owned()),
        tasks::crate_visible::queue_on(&host, 1),
        tasks::queue_for_parent(&host),
        tasks::inner::queue_private(&host),
        tasks::configured_in::queue_on(&host),
    ];
    for handle in handles {
        assert!(handle.unwrap().outcome().await.is_completed());
    }
    host.shutdown().await;
    // Queued without a store: refused, and the generated `enqueue` fns are reachable here.
    let refused = tasks::durable::queue_on(&host, String::new()).unwrap_err();
    assert_eq!(refused, qbwi::QueueError::NoStore);
    let _ = tasks::durable::enqueue(String::new());
    let _ = tasks::durable_crate_visible::enqueue_after(std::time::Duration::ZERO, 1);
    let _ = tasks::durable_no_arguments::enqueue();

    let task = tasks::public {
        email: String::new(),
    };
    assert_eq!(format!("{task:?}"), "public { .. }");
    assert!(!qbwi::registry().any(|task| task.name.contains("configured_out")));
    assert!(qbwi::registry().any(|task| task.name.ends_with("::registered_only")));
}
