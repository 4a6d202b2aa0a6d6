//! Counting every task's fate: [`Stats`] while the host runs, [`ShutdownReport`] at the end.

use std::fmt;
use std::time::Duration;

/// A snapshot of a host's counters, from [`Host::stats`](crate::Host::stats).
///
/// `queued + running` plus the outcome counters add up to the number of tasks the host accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Accepted and not started yet.
    pub queued: u64,
    /// Started and not ended yet.
    pub running: u64,
    /// Ended with `()` or `Ok`.
    pub completed: u64,
    /// Ended with `Err`.
    pub failed: u64,
    /// Ended by panicking.
    pub panicked: u64,
    /// Ended by their per-run `timeout`.
    pub timed_out: u64,
    /// Still running at the shutdown deadline.
    pub abandoned: u64,
    /// Still queued when shutdown began.
    pub not_started: u64,
}

impl Stats {
    /// Every task the host has accepted so far.
    pub fn accepted(&self) -> u64 {
        self.queued + self.running + self.ended()
    }

    /// Tasks that have ended, in any way.
    pub fn ended(&self) -> u64 {
        self.completed
            + self.failed
            + self.panicked
            + self.timed_out
            + self.abandoned
            + self.not_started
    }
}

/// What [`Host::shutdown`](crate::Host::shutdown) did: how every task the host ever accepted
/// ended, and how long the shutdown took.
///
/// The counts add up to the number of successful queue calls ([`ShutdownReport::total`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Ended with `()` or `Ok`.
    pub completed: u64,
    /// Ended with `Err`.
    pub failed: u64,
    /// Ended by panicking.
    pub panicked: u64,
    /// Ended by their per-run `timeout`.
    pub timed_out: u64,
    /// Still running at the deadline: async futures dropped, blocking threads detached.
    pub abandoned: u64,
    /// Queued but not started when shutdown began; never run.
    pub not_started: u64,
    /// Durable jobs handed back to the store: claimed but not started, still running at the
    /// deadline, or ended by the shutdown's cancellation. They run again (on any host), their
    /// attempt given back: nothing is lost.
    pub requeued: u64,
    /// From the call to `shutdown` until it returned.
    pub elapsed: Duration,
}

impl ShutdownReport {
    /// Every task the host accepted.
    pub fn total(&self) -> u64 {
        self.completed
            + self.failed
            + self.panicked
            + self.timed_out
            + self.abandoned
            + self.not_started
            + self.requeued
    }

    /// `true` when every accepted task completed.
    pub fn all_completed(&self) -> bool {
        self.completed == self.total()
    }

    pub(crate) fn from_stats(stats: Stats, elapsed: Duration) -> Self {
        debug_assert_eq!(stats.queued + stats.running, 0);
        ShutdownReport {
            completed: stats.completed,
            failed: stats.failed,
            panicked: stats.panicked,
            timed_out: stats.timed_out,
            abandoned: stats.abandoned,
            not_started: stats.not_started,
            requeued: 0,
            elapsed,
        }
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} tasks: {} completed, {} failed, {} panicked, {} timed out, {} abandoned, {} not \
             started, {} requeued; shutdown took {:?}",
            self.total(),
            self.completed,
            self.failed,
            self.panicked,
            self.timed_out,
            self.abandoned,
            self.not_started,
            self.requeued,
            self.elapsed
        )
    }
}
