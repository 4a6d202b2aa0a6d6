//! Why a store operation failed: [`StoreError`], one variant per thing an operator can act on.

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be opened or reached.
    #[error("cannot reach the store {store}: {reason}; {hint}")]
    Unreachable {
        /// Which store (its path, or its host and database).
        store: String,
        /// What the database said.
        reason: String,
        /// What to check.
        hint: &'static str,
    },
    /// The store would not keep its jobs: SQLite's temporary (empty path) and in-memory
    /// (`:memory:`, `mode=memory`) databases are gone when the process exits, so a job that
    /// `enqueue` confirmed would be lost. Refused when the store opens.
    #[error("the store {store} would not keep its jobs: {reason}; {instead}")]
    NotDurable {
        /// Which store.
        store: String,
        /// Why it would not keep them.
        reason: String,
        /// What to give instead.
        instead: &'static str,
    },
    /// The store refuses writes: a read-only file or database.
    #[error(
        "the store {store} is read-only: {reason}; give the process write access to the file and \
         its directory (SQLite writes a -wal and a -shm file beside it)"
    )]
    ReadOnly {
        /// Which store.
        store: String,
        /// What the database said.
        reason: String,
    },
    /// The disk (or the database's quota) is full.
    #[error("the store {store} is full: {reason}; free disk space, then retry")]
    Full {
        /// Which store.
        store: String,
        /// What the database said.
        reason: String,
    },
    /// The schema was written by a newer qbwi.
    #[error(
        "the store's schema is at version {found}, newer than this qbwi knows ({known}): upgrade \
         qbwi in this binary"
    )]
    NewerSchema {
        /// The version in the store.
        found: i64,
        /// The newest version this qbwi knows.
        known: i64,
    },
    /// A query failed.
    #[error("the store {store} failed: {reason}")]
    Database {
        /// Which store.
        store: String,
        /// What the database said.
        reason: String,
    },
}
