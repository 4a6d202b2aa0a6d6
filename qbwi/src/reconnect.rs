//! Waiting between attempts to reach the store: [`Reconnect`], the one backoff of the durable
//! worker's loops, the batching writer and PostgreSQL's listener.
//!
//! The wait doubles from a first one up to a ceiling, with "equal jitter" (somewhere between half
//! of it and all of it), so that the hosts of a deploy that lost their database together do not
//! come back at the same instant; a success starts it over. This is the store's own trouble, not
//! a task's: a user's retries are the task's [`RetryPolicy`](crate::RetryPolicy).

use std::time::Duration;

/// How long to wait before the next attempt to reach the store.
#[derive(Debug, Clone)]
pub(crate) struct Reconnect {
    first: Duration,
    ceiling: Duration,
    failures: u32,
}

impl Reconnect {
    /// The durable worker's and the listener's: 100 ms doubling up to 30 s.
    pub(crate) const STORE: Reconnect =
        Reconnect::new(Duration::from_millis(100), Duration::from_secs(30));

    /// The writer's: 50 ms doubling up to 5 s. Jobs handed to `queue` wait in memory meanwhile,
    /// so it comes back sooner.
    pub(crate) const WRITER: Reconnect =
        Reconnect::new(Duration::from_millis(50), Duration::from_secs(5));

    pub(crate) const fn new(first: Duration, ceiling: Duration) -> Reconnect {
        Reconnect {
            first,
            ceiling,
            failures: 0,
        }
    }

    /// Another attempt failed: how long to wait before the next.
    pub(crate) fn next(&mut self) -> Duration {
        let doublings = self.failures.min(31);
        self.failures = self.failures.saturating_add(1);
        let wait = self
            .first
            .checked_mul(1 << doublings)
            .unwrap_or(self.ceiling)
            .min(self.ceiling);
        wait / 2 + (wait / 2).mul_f64(crate::durable::random_fraction())
    }

    /// An attempt succeeded: the next failure waits the first wait again.
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_with_jitter_up_to_the_ceiling_and_start_over_after_a_success() {
        let ms = Duration::from_millis;
        let mut reconnect = Reconnect::new(ms(100), ms(1000));
        let waits: Vec<Duration> = (0..6).map(|_| reconnect.next()).collect();
        for (wait, full) in waits.iter().zip([100, 200, 400, 800, 1000, 1000]) {
            assert!(
                (ms(full / 2)..=ms(full)).contains(wait),
                "{wait:?} for {full} ms"
            );
        }
        reconnect.reset();
        assert!(reconnect.next() <= ms(100));
        let mut many = Reconnect::STORE;
        for _ in 0..100 {
            assert!(many.next() <= Duration::from_secs(30));
        }
    }
}
