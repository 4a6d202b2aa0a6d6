//! Waiting for the process to be asked to stop.

/// Resolves when the process receives Ctrl-C (SIGINT) or, on Unix, SIGTERM.
///
/// [`Host::run_until_signal`](crate::Host::run_until_signal) waits for this and then shuts down.
/// A web app that must first stop its server awaits it itself, then calls
/// [`Host::shutdown`](crate::Host::shutdown):
///
/// ```no_run
/// # async fn serve(_stop: impl std::future::Future<Output = ()>) {}
/// # #[tokio::main]
/// # async fn main() {
/// let host = qbwi::Host::builder().start().unwrap();
/// let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
/// let server = tokio::spawn(serve(async { stop_rx.await.ok(); })); // e.g. axum's graceful shutdown
/// qbwi::shutdown_signal().await;
/// stop_tx.send(()).ok();          // stop accepting requests...
/// server.await.unwrap();
/// let report = host.shutdown().await; // ...then drain the background work
/// println!("{report}");
/// # }
/// ```
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; waiting for Ctrl-C only")
            }
        }
    }
    if let Err(error) = tokio::signal::ctrl_c().await {
        tracing::error!(%error, "cannot listen for Ctrl-C; shutting down now");
    }
}
