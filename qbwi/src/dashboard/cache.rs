//! The overview's counts, read from the store at most so often, whoever asks.
//!
//! Counting jobs by state walks the store's indexes: well under a millisecond on a small store,
//! about 40 ms (SQLite) and 130 ms (PostgreSQL) with a million jobs kept. Every open overview
//! refreshes every few seconds, and an operator may open several; so the counts are read once and
//! served to everyone for a while that grows with what the read cost: twenty times as long as it
//! took, at least [`MIN_FRESH`] and at most [`MAX_FRESH`]. The store then spends at most about
//! 5 % of one connection on the dashboard, however many pages are open. Requests that arrive
//! during a read wait for it instead of starting their own.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::{JobCounts, MinuteCounts, Store, StoreError};

/// Counts are served this long at least after a read.
pub(crate) const MIN_FRESH: Duration = Duration::from_secs(1);

/// Counts are never older than this.
pub(crate) const MAX_FRESH: Duration = Duration::from_secs(60);

/// How many times a read's duration its result is served for.
const COST_FACTOR: u32 = 20;

/// The last counts read, and until when they are served.
#[derive(Default)]
pub(crate) struct Counts {
    last: Mutex<Option<Read>>,
}

/// One read of the counts.
#[derive(Clone)]
pub(crate) struct Read {
    /// Jobs by state.
    pub(crate) counts: JobCounts,
    /// Runs finished per minute, the last hour.
    pub(crate) minutes: Vec<MinuteCounts>,
    /// Served until then.
    fresh_until: Instant,
}

impl Counts {
    /// The store's counts: the last read while it is fresh, else a new one.
    pub(crate) async fn of(&self, store: &Store) -> Result<Read, StoreError> {
        let mut last = self.last.lock().await;
        if let Some(read) = last.as_ref()
            && Instant::now() < read.fresh_until
        {
            return Ok(read.clone());
        }
        let started = Instant::now();
        let counts = store.counts().await?;
        let minutes = store.finished_per_minute().await?;
        let cost = started.elapsed();
        let read = Read {
            counts,
            minutes,
            fresh_until: Instant::now() + (cost * COST_FACTOR).clamp(MIN_FRESH, MAX_FRESH),
        };
        *last = Some(read.clone());
        Ok(read)
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;
    use crate::store::conformance::job;

    /// A store with nothing to run: reading it sets no timers, so paused time moves only when the
    /// test says.
    #[tokio::test(start_paused = true)]
    async fn counts_are_read_once_while_fresh_then_again() {
        let dir = std::env::temp_dir().join(format!("qbwi-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::sqlite(dir.join("qbwi.db")).unwrap();
        let cache = Counts::default();

        assert_eq!(cache.of(&store).await.unwrap().counts.ready, 0);
        store
            .enqueue_ids(vec![job("t", "{}", None, 1)])
            .await
            .unwrap();
        assert_eq!(
            cache.of(&store).await.unwrap().counts.ready,
            0,
            "served from the last read"
        );
        tokio::time::advance(MIN_FRESH).await;
        let read = cache.of(&store).await.unwrap();
        assert_eq!(read.counts.ready, 1, "read again once stale");
        assert_eq!(read.minutes.len(), 60);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
