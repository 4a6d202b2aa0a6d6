//! Wake-ups: one connection outside the pool that `LISTEN`s for the `NOTIFY` that adding jobs
//! sends, and turns notifications into [`Backend::notified`](crate::store::Backend::notified)
//! wake-ups; it reconnects with backoff, and stops when the store is dropped.

use std::future::{pending, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;

use super::CREATE_TIMEOUT;
use super::errors::reason;
use crate::reconnect::Reconnect;

/// The channel that adding jobs notifies.
pub(super) const CHANNEL: &str = "qbwi_jobs";

/// Wakes idle workers when other processes add jobs: a connection outside the pool that
/// `LISTEN`s, opened on the first [`Listener::notified`] and closed when the store is dropped.
pub(super) struct Listener {
    /// How to open the listening connection; `None` with a caller's pool (then workers poll).
    config: Option<tokio_postgres::Config>,
    /// Whether the listening task has been started.
    started: AtomicBool,
    /// Counts notifications (and reconnections, after which jobs may have been missed).
    generation: Arc<watch::Sender<u64>>,
    /// The generation the last resolved [`Listener::notified`] saw: a notification that arrives
    /// while no one waits resolves the next call at once instead of being lost.
    seen: AtomicU64,
    /// Stops the listening task.
    stop: CancellationToken,
    /// The store's own notifications say this: left out (the store wakes its process itself).
    origin: Arc<str>,
}

impl Listener {
    pub(super) fn new(config: Option<tokio_postgres::Config>, origin: Arc<str>) -> Listener {
        Listener {
            origin,
            config,
            started: AtomicBool::new(false),
            generation: Arc::new(watch::Sender::new(0)),
            seen: AtomicU64::new(0),
            stop: CancellationToken::new(),
        }
    }

    /// Resolves at the next notification, or at once if one arrived since the last call resolved.
    /// Never resolves without a listening connection.
    pub(super) async fn notified(&self, store: &str) {
        let Some(config) = &self.config else {
            return pending().await;
        };
        let seen = self.seen.load(Ordering::Acquire);
        let mut changes = self.generation.subscribe();
        if !self.started.swap(true, Ordering::AcqRel) {
            let stop = self.stop.clone();
            let listening = listen(
                config.clone(),
                self.generation.clone(),
                self.origin.clone(),
                store.to_owned(),
            );
            tokio::spawn(async move {
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = listening => {}
                }
            });
        }
        loop {
            let current = *changes.borrow_and_update();
            if current > seen {
                self.seen.fetch_max(current, Ordering::AcqRel);
                return;
            }
            if changes.changed().await.is_err() {
                return pending().await;
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The listening connection's settings: TCP keepalives that notice a dead server within about a
/// minute (the connection only reads, so nothing else would).
pub(super) fn listen_config(mut config: tokio_postgres::Config) -> tokio_postgres::Config {
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        .keepalives_interval(Duration::from_secs(10))
        .keepalives_retries(3);
    config
}

/// Listens for notifications for ever, reconnecting with backoff; each (re)connection counts as a
/// notification, since jobs may have been added while it was down.
async fn listen(
    config: tokio_postgres::Config,
    generation: Arc<watch::Sender<u64>>,
    origin: Arc<str>,
    store: String,
) {
    let mut reconnect = Reconnect::STORE;
    loop {
        let reason = listen_once(&config, &generation, &origin, &mut reconnect).await;
        let backoff = reconnect.next();
        tracing::warn!(
            store = %store,
            %reason,
            retry_in = ?backoff,
            "lost the connection that listens for new jobs; idle workers poll until it is back"
        );
        tokio::time::sleep(backoff).await;
    }
}

/// Connects, `LISTEN`s and forwards notifications until the connection fails; returns why.
async fn listen_once(
    config: &tokio_postgres::Config,
    generation: &watch::Sender<u64>,
    origin: &str,
    reconnect: &mut Reconnect,
) -> String {
    let (client, mut connection) =
        match tokio::time::timeout(CREATE_TIMEOUT, config.connect(NoTls)).await {
            Ok(Ok(connected)) => connected,
            Ok(Err(error)) => return reason(&error),
            Err(_) => return format!("connecting took more than {CREATE_TIMEOUT:?}"),
        };
    // The connection must be driven for the LISTEN to complete.
    let mut listen = pin!(client.batch_execute("LISTEN qbwi_jobs"));
    loop {
        tokio::select! {
            listened = &mut listen => match listened {
                Ok(()) => break,
                Err(error) => return reason(&error),
            },
            message = poll_fn(|cx| connection.poll_message(cx)) => match message {
                Some(Ok(_)) => {}
                Some(Err(error)) => return reason(&error),
                None => return "the server closed the connection".to_owned(),
            },
        }
    }
    reconnect.reset();
    generation.send_modify(|generation| *generation += 1);
    loop {
        match poll_fn(|cx| connection.poll_message(cx)).await {
            // The store's own inserts wake its process without this round trip.
            Some(Ok(AsyncMessage::Notification(notification)))
                if notification.channel() == CHANNEL && notification.payload() != origin =>
            {
                generation.send_modify(|generation| *generation += 1);
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => return reason(&error),
            None => return "the server closed the connection".to_owned(),
        }
    }
}
