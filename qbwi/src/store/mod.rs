//! Durable jobs (issue 5, in progress): the stores that keep queued work across crashes.
//!
//! This first step is the SQLite store's schema and job state machine, tested on its own; the
//! host does not use it yet (hence the `dead_code` allowance outside tests). A job is `ready`
//! (waiting for `run_at`), `running` (claimed by a worker, under a lease that expires), or `dead`
//! (out of attempts, kept with its last error); a completed job is deleted.

#![cfg_attr(not(test), allow(dead_code))]

pub(crate) mod sqlite;

/// A job to add to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewJob {
    /// The task's registered name.
    pub(crate) task: String,
    /// The task's arguments, serialized (JSON).
    pub(crate) payload: String,
    /// Not to start before this (milliseconds since the Unix epoch).
    pub(crate) run_at: i64,
    /// Runs at most this many times (1 + retries).
    pub(crate) max_attempts: u32,
}

/// A job a worker claimed: it holds the lease until it completes, fails, releases or dies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClaimedJob {
    pub(crate) id: i64,
    pub(crate) task: String,
    pub(crate) payload: String,
    /// This run's number, from 1.
    pub(crate) attempt: u32,
    pub(crate) max_attempts: u32,
}

/// A job that ran out of attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeadJob {
    pub(crate) id: i64,
    pub(crate) task: String,
    pub(crate) payload: String,
    pub(crate) attempts: u32,
    pub(crate) last_error: String,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[cfg(feature = "sqlite")]
    #[error(
        "cannot open the SQLite store at {path}: {source}; check that the directory exists and is writable"
    )]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the SQLite store failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "the store's schema is at version {found}, newer than this qbwi knows ({known}): upgrade qbwi"
    )]
    NewerSchema { found: i64, known: i64 },
}
