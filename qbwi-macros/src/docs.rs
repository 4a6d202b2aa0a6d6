//! The doc comments of the generated items, so that `cargo doc` explains the task to its users.
//!
//! They must hold no code blocks: rustdoc would run them as the user's doctests.

use syn::Ident;
use syn::ext::IdentExt;

/// The paragraph added to the struct's docs (after the fn's own docs, if any).
pub(crate) fn task_struct(fn_ident: &Ident, has_docs: bool) -> String {
    let gap = if has_docs { "\n\n" } else { "" };
    let name = fn_ident.unraw();
    format!(
        "{gap} The background task made by `#[background_task]` from the fn \
         [`{name}`](fn@{name}); its fields are the fn's arguments. Queue a run with \
         [`{name}::queue`](Self::queue) or [`{name}::queue_on`](Self::queue_on)."
    )
}

/// The docs of one field.
pub(crate) fn field(fn_ident: &Ident, field: &Ident) -> String {
    let (name, field) = (fn_ident.unraw(), field.unraw());
    format!(" The `{field}` argument of [`{name}`](fn@{name}).")
}

/// The docs of `queue` (`host: None`) and `queue_on` (`host: Some(its host parameter)`).
pub(crate) fn queue(fn_ident: &Ident, krate: &str, host: Option<&Ident>) -> String {
    let name = fn_ident.unraw();
    let (on, from_anywhere, no_host) = match host {
        None => (
            format!(
                "the current host (the last one started with \
                 [`HostBuilder::start`]({krate}::HostBuilder::start))"
            ),
            " It works from any thread, inside the runtime or not.",
            format!(
                "\n - [`QueueError::NoHost`]({krate}::QueueError::NoHost): no host was ever \
                 started in this process;"
            ),
        ),
        Some(host) => (format!("`{host}`"), "", String::new()),
    };
    format!(
        " Queues a run of [`{name}`](fn@{name}) on {on} and returns at once.\n\n \
         This never blocks and never awaits: the arguments are moved into the task, and the \
         host runs it in the background.{from_anywhere} The returned \
         [`TaskHandle`]({krate}::TaskHandle) can await the run's outcome; nobody has to.\n\n \
         # Errors\n\n \
         The task is not queued, and its arguments are dropped, when:\n{no_host}\n \
         - [`QueueError::ShuttingDown`]({krate}::QueueError::ShuttingDown): the host has begun \
         shutting down;\n \
         - [`QueueError::Full`]({krate}::QueueError::Full): the host's `queue_capacity` tasks \
         are already waiting to start."
    )
}
